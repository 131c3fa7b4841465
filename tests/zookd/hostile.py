#!/usr/bin/env python3
"""A hostile-client corpus: seeded mutations of real requests.

    python3 tests/zookd/hostile.py [--seed 11] [--count 2000] OUTDIR   # one file per case
    from hostile import corpus; for name, data in corpus(seed, count): ...

Deterministic: the same seed and count give the same bytes, so a failure
names a case that can be replayed (`nc -N host port < OUTDIR/<name>`).
Mutations are what sloppy and hostile clients do: flipped and inserted
bytes (CR, LF, NUL, space, colon, high bytes), deleted or duplicated
ranges, truncation, line ends swapped between CRLF and LF, pieces spliced
from another request, a range repeated until it exceeds the limits, and
length fields changed.
"""

from __future__ import annotations

import argparse
import random
import sys
from collections.abc import Iterator
from pathlib import Path

# Real requests, as browsers, curl and students send them.
SEEDS: list[bytes] = [
    b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: zoobar.local:8080\r\n"
    b"User-Agent: Mozilla/5.0 (X11; Linux x86_64) Firefox/128.0\r\n"
    b"Accept: text/css,*/*;q=0.1\r\nAccept-Encoding: gzip, deflate\r\n"
    b"Cookie: PyZoobarLogin=alice#0123456789abcdef\r\nConnection: keep-alive\r\n\r\n",
    b"POST /zoobar/media/page.html HTTP/1.1\r\nHost: localhost\r\n"
    b"Content-Type: application/x-www-form-urlencoded\r\nContent-Length: 41\r\n\r\n"
    b"login_username=bob&login_password=secret1",
    b"GET /zoobar/media/style.css HTTP/1.0\n\n",
    b"HEAD /zoobar/media/logo.png HTTP/1.1\r\nHost: x\r\n\r\n"
    b"GET /zoobar/media/app.js HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    b"POST /zoobar/media/x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
    b"Content-Length: 5\r\n\r\nhello",
    b"PUT /zoobar/media/y HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n0\r\n\r\n",
    b"GET /zoobar/media/%2e%2e/%2e%2e/etc/passwd?x=1 HTTP/1.1\r\nHost: x\r\n\r\n",
]

INSERTS = [b"\r", b"\n", b"\r\n", b"\x00", b" ", b":", b"\t", b"\xff", b"%", b"/../",
           b"\r\n\r\n", b"Content-Length: 7\r\n", b"Transfer-Encoding: chunked\r\n"]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.choice((1, 1, 2, 3, 5))):
        op = rng.randrange(10)
        i = rng.randrange(len(b) + 1)
        j = min(len(b), i + rng.randrange(1, 24))
        if op == 0 and b:  # flip a byte
            b[min(i, len(b) - 1)] = rng.randrange(256)
        elif op == 1:  # insert a troublesome byte or line
            b[i:i] = rng.choice(INSERTS)
        elif op == 2:  # delete a range
            del b[i:j]
        elif op == 3:  # duplicate a range
            b[i:i] = b[i:j]
        elif op == 4:  # cut off
            del b[i:]
        elif op == 5:  # CRLF <-> LF
            b = bytearray(b.replace(b"\r\n", b"\n") if rng.random() < 0.5
                          else b.replace(b"\n", b"\r\n"))
        elif op == 6:  # splice in a piece of another request
            other = rng.choice(SEEDS)
            k = rng.randrange(len(other))
            b[i:j] = other[k:k + rng.randrange(1, 40)]
        elif op == 7 and rng.random() < 0.2:  # blow a range up past the limits
            piece = bytes(b[i:j]) or b"A"
            b[i:j] = piece * (rng.choice((9000, 70000, 120000)) // len(piece) + 1)
        elif op == 8:  # a different length
            b = bytearray(bytes(b).replace(
                b"Content-Length: ", b"Content-Length: " + str(rng.choice(
                    (0, 1, 999, 10**7, 10**19, -1))).encode() + b" ", 1))
        elif op == 9:  # case and spacing games on a header name
            k = bytes(b).find(b":", i)
            if k > 0:
                b[k:k + 1] = rng.choice((b" :", b"::", b": ", b"\t:"))
    return bytes(b)


def corpus(seed: int = 11, count: int = 2000) -> Iterator[tuple[str, bytes]]:
    rng = random.Random(seed)
    for n in range(count):
        base = n % len(SEEDS)
        yield f"{n:05d}-seed{base}", mutate(rng, SEEDS[base])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seed", type=int, default=11)
    ap.add_argument("--count", type=int, default=2000)
    ap.add_argument("outdir", type=Path)
    args = ap.parse_args()
    args.outdir.mkdir(parents=True, exist_ok=True)
    for name, data in corpus(args.seed, args.count):
        (args.outdir / name).write_bytes(data)
    print(f"{args.count} cases in {args.outdir}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
