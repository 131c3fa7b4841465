"""Sloppy and hostile clients: bare LF line ends, half-closes, oversized
heads, connection hogs, dribbled bodies, and a seeded corpus of mutated
requests. Each test performs the behaviour against the real binaries
(the sanitizer build under `make test-zookd`)."""

from __future__ import annotations

import concurrent.futures
import resource
import select
import socket
import time

import pytest

from hostile import corpus
from zookd_helpers import (Backend, client_from, exchange, fixed, get, parse_response,
                           read_until_close)

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nok"
NOTES = b"plain text\n"


def half_closed(addr, data: bytes, timeout: float = 10.0) -> tuple[bytes, float]:
    """Send data, shut down our write side, read until the server closes:
    (what was read, seconds from the half-close to the close)."""
    with socket.create_connection(addr, timeout=timeout) as s:
        s.sendall(data)
        s.shutdown(socket.SHUT_WR)
        t = time.monotonic()
        raw = read_until_close(s)
        return raw, time.monotonic() - t


def status_of(raw: bytes) -> int:
    return parse_response(raw)[0].status


def many_sockets(n: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < n:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, n), hard))
    if resource.getrlimit(resource.RLIMIT_NOFILE)[0] < n:
        pytest.skip(f"RLIMIT_NOFILE is below {n}")


# ---- line ends ----

@pytest.mark.parametrize("front", ["main", "static"])
def test_bare_lf_get_is_served(fs_site, front):
    raw, took = half_closed(fs_site.addr(front), b"GET /zoobar/media/notes.txt HTTP/1.0\n\n")
    r = parse_response(raw)[0]
    assert (r.status, r.body) == (200, NOTES)
    assert took < 1.0


def test_bare_lf_fields_and_mixed_line_ends_are_served(fs_site):
    with socket.create_connection(fs_site.addr("main"), timeout=10) as s:
        s.sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\nHost: x\r\nAccept: */*\n\n"
                  b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: x\nConnection: close\r\n\n")
        raw = read_until_close(s)
    first, rest = parse_response(raw)
    second, _ = parse_response(rest)
    assert (first.status, first.body, second.status, second.body) == (200, NOTES, 200, NOTES)


def test_empty_lines_before_a_request_are_ignored(fs_site):
    assert exchange(fs_site.addr("main"),
                    b"\r\n\n\r\nGET /zoobar/media/notes.txt HTTP/1.0\n\n").body == NOTES


def test_bare_lf_request_is_forwarded_with_crlf(site):
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK))
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main")
    assert exchange(site.addr("main"), b"GET /x HTTP/1.1\nHost: h\nConnection: close\n\n").body == b"ok"
    assert svc.requests[0].startswith(b"GET /x HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: ")
    assert b"\n" not in svc.requests[0].replace(b"\r\n", b"")
    svc.close()


@pytest.mark.parametrize("head", [
    b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: a\rb\r\n\r\n",  # CR inside a value
    b"GET /zoobar/media/notes.txt HTTP/1.1\r\r\nHost: a\r\n\r\n",  # CR CR LF
    b"f%ET /x HTTP a=b\r:\n\r\n",  # from a fuzz run: complete, invalid
])
def test_complete_but_invalid_head_is_400_at_once(fs_site, head):
    with socket.create_connection(fs_site.addr("main"), timeout=10) as s:
        s.sendall(head)  # no half-close: the answer must not wait for more bytes
        t = time.monotonic()
        raw = read_until_close(s)
    assert status_of(raw) == 400
    assert time.monotonic() - t < 1.0


def test_invalid_request_line_is_400_before_the_head_ends(fs_site):
    with socket.create_connection(fs_site.addr("main"), timeout=10) as s:
        s.sendall(b"GET /x HTTP/1.1 extra\r\nHost: still coming")
        t = time.monotonic()
        raw = read_until_close(s)
    assert status_of(raw) == 400
    assert time.monotonic() - t < 1.0


# ---- the client's EOF ----

@pytest.mark.parametrize("front", ["main", "static"])
@pytest.mark.parametrize("partial", [
    b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: x\r\n",
    b"GET /zoob",
    b"GET /zoobar/media/notes.txt HTTP/1.1\r\n\r\nGET /zoobar/media/notes.txt HTTP/1.1\r\nHo",
])
def test_half_close_after_a_partial_head_is_closed_within_a_second(fs_site, front, partial):
    raw, took = half_closed(fs_site.addr(front), partial)
    assert took < 1.0  # the head timeout is 10 s
    if partial.count(b"\r\n\r\n"):
        assert status_of(raw) == 200  # the complete request before it was answered
    else:
        assert raw == b""


def test_half_close_during_a_body_is_closed_within_a_second(site):
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK))
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main")
    raw, took = half_closed(site.addr("main"),
                            b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 100\r\n\r\nonly some")
    assert took < 1.0 and raw == b""
    svc.close()


# ---- error answers are read, not reset away ----

BIG_LINE = b"GET /" + b"a" * 100_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n"
BIG_HEADER = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 200_000 + b"\r\n\r\n"
UNREAD = b"x" * 300_000  # pipelined after the bad request: still unread when we answer

ERRORS = [  # request, status from zookd2, status from zookfs
    (BIG_LINE, 414, 414),
    (BIG_HEADER, 431, 431),
    (b"GET /x HTTP/1.1 junk\r\n\r\n" + UNREAD, 400, 400),
    (b"GET /x HTTP/2.0\r\nHost: x\r\n\r\n" + UNREAD, 505, 505),
    (b"GET /nowhere HTTP/1.1\r\nHost: x\r\n\r\n" + UNREAD, 404, 404),
    (b"POST /nowhere HTTP/1.1\r\nHost: x\r\nContent-Length: 300000\r\n\r\n" + UNREAD, 404, 405),
    (b"POST /zoobar/media/x HTTP/1.1\r\nContent-Length: 3000000\r\n\r\n" + UNREAD * 4, 413, 405),
    (b"POST /zoobar/media/x HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n" + UNREAD, 411, 405),
    (b"GET /zoobar/media/../x HTTP/1.1\r\n\r\n" + UNREAD, 400, 400),
]


@pytest.mark.parametrize("front", ["main", "static"])
@pytest.mark.parametrize("request_bytes,main_status,static_status", ERRORS,
                         ids=[f"{a}-{b}" for _, a, b in ERRORS])
def test_every_error_answer_is_readable(fs_site, front, request_bytes, main_status,
                                        static_status):
    with socket.create_connection(fs_site.addr(front), timeout=10) as s:
        # A reset while the client is still sending is what loses the answer:
        # clients (curl, browsers) give up on a failed send and never read it.
        # Half, a pause (the server answers meanwhile), the rest: as over a
        # real network, where the request is still on its way.
        half = len(request_bytes) // 2
        s.sendall(request_bytes[:half])
        time.sleep(0.2)
        s.sendall(request_bytes[half:])
        raw = read_until_close(s)
    assert raw, "connection reset before the answer could be read"
    assert status_of(raw) == (main_status if front == "main" else static_status)


def test_error_answer_to_a_405_with_a_body_on_zookfs_is_readable(fs_site):
    with socket.create_connection(fs_site.addr("static"), timeout=10) as s:
        s.sendall(b"PUT /zoobar/media/notes.txt HTTP/1.1\r\nContent-Length: 300000\r\n\r\n" + UNREAD)
        raw = read_until_close(s)
    assert status_of(raw) == 405


# ---- fair shares of the connection table ----

def hold_idle(site, n: int, count: int, path: bytes = b"/zoobar/media/style.css") -> list:
    """count keep-alive connections from 127.<net>.<n>.9, each after one request."""
    held = []
    req = b"GET " + path + b" HTTP/1.1\r\nHost: x\r\n\r\n"
    for _ in range(count):
        s = client_from(site, n)
        try:
            s.sendall(req)
            data = s.recv(65536)
        except OSError:
            data = b""
        held.append((s, data))
    return held


def closed_by_server(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(65536) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True
    finally:
        s.setblocking(True)


def closed_soon(s: socket.socket, seconds: float = 5.0) -> bool:
    """closed_by_server, polled: the server's sweep may run late on a loaded machine."""
    deadline = time.monotonic() + seconds
    while not closed_by_server(s):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_one_address_cannot_fill_the_table(fs_site):
    many_sockets(1200)
    held = hold_idle(fs_site, 9, 1030)
    try:
        other = client_from(fs_site, 10)
        other.sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
        r, _ = parse_response(read_until_close(other))
        other.close()
        assert (r.status, r.body) == (200, NOTES)
        time.sleep(0.3)
        still_open = sum(not closed_by_server(s) for s, _ in held)
        assert still_open <= 256  # the default max_conns_per_client
    finally:
        for s, _ in held:
            s.close()


def limited(site, docroot, per_client: int, env: dict | None = None):
    """zookd2 -> zookfs as fs_site, with max_conns_per_client set."""
    site.section("static", 2, cmd="zookfs", dir=docroot, url="/zoobar/media/.*")
    site.section("main", 0, cmd="zookd2", http_svcs="static", max_conns_per_client=per_client)
    site.start("zookfs", "static")
    site.start("zookd2", "main", env=env)


def test_an_address_at_its_limit_gives_up_its_oldest_idle_connection(site, docroot):
    limited(site, docroot, 5)
    held = hold_idle(site, 9, 5)
    assert all(b" 200 " in data for _, data in held)
    time.sleep(0.3)  # the loop notes idle connections within its 100 ms sweep
    newest = hold_idle(site, 9, 1)
    assert b" 200 " in newest[0][1]
    time.sleep(0.2)
    assert closed_soon(held[0][0])
    assert not any(closed_by_server(s) for s, _ in held[1:])
    for s, _ in held + newest:
        s.close()


def test_an_address_at_its_limit_with_nothing_idle_is_refused_readably(site, docroot):
    limited(site, docroot, 3)
    busy = [client_from(site, 9) for _ in range(3)]  # connected, nothing sent: not idle
    time.sleep(0.2)
    s = client_from(site, 9)
    s.sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\r\n\r\n")
    assert status_of(read_until_close(s)) == 503
    s.close()
    assert get(site.addr("main"), "/zoobar/media/notes.txt").status == 200  # other addresses
    for b in busy:
        b.close()


def test_a_full_table_closes_the_oldest_idle_connection_before_refusing(site, docroot):
    limited(site, docroot, 100, env={"ZOOK_MAX_CONNS": "20"})
    held = hold_idle(site, 9, 20)
    assert all(b" 200 " in data for _, data in held)
    time.sleep(0.3)
    r = client_from(site, 10)
    r.sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert parse_response(read_until_close(r))[0].body == NOTES
    r.close()
    time.sleep(0.2)
    assert closed_soon(held[0][0])
    for s, _ in held:
        s.close()


def test_bad_max_conns_per_client_stops_zookd2(site):
    site.section("svc", 1, url="/.*")
    site.section("main", 0, http_svcs="svc", max_conns_per_client="lots")
    p = site.start("zookd2", "main", wait=False)
    assert p.popen.wait(10) == 2
    p.expect_alive = False
    assert "max_conns_per_client = lots" in p.log_text()


# ---- whole-body deadline ----

def dribble(addr, head: bytes, chunks: int, every: float) -> tuple[bytes, float]:
    """Send head, then one body byte every `every` seconds; what came back
    and when (seconds from the start) the server closed."""
    with socket.create_connection(addr, timeout=15) as s:
        s.sendall(head)
        t = time.monotonic()
        for _ in range(chunks):
            if select.select([s], [], [], every)[0]:
                break  # answered: stop sending
            try:
                s.sendall(b"x")
            except OSError:
                break
        raw = read_until_close(s)
        return raw, time.monotonic() - t


def test_dribbled_body_to_zookd2_is_cut_off_by_the_deadline(site):
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK))
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main", env={"ZOOK_BODY_TIMEOUT_MS": "1000", "ZOOK_IO_TIMEOUT_MS": "30000"})
    raw, took = dribble(site.addr("main"),
                        b"POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n", 20, 0.25)
    assert status_of(raw) == 408
    assert took < 3.0  # each byte came well within the 30 s per-read timeout
    svc.close()


def test_dribbled_body_to_a_cgi_script_is_cut_off_by_the_deadline(site, tmp_path):
    root = tmp_path / "cgiroot"
    root.mkdir()
    script = root / "echo.cgi"
    script.write_text("#!/bin/sh\nprintf 'Content-Type: text/plain\\n\\nran'\n")
    script.chmod(0o755)
    site.section("dynamic", 1, cmd="zookfs", dir=root, exec="/echo.cgi")
    site.start("zookfs", "dynamic", env={"ZOOK_BODY_TIMEOUT_MS": "1000"})
    raw, took = dribble(site.addr("dynamic"),
                        b"POST /echo.cgi HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n",
                        20, 0.25)
    assert status_of(raw) == 408
    assert took < 3.0


def test_a_body_at_a_fair_rate_gets_through(site):
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK))
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main", env={"ZOOK_BODY_TIMEOUT_MS": "1000", "ZOOK_BODY_MIN_RATE": "100"})
    # 200 bytes at 100 bytes/s: 1 s + 2 s allowed; sent in about 1.5 s
    raw, _ = dribble(site.addr("main"),
                     b"POST /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 200\r\n\r\n"
                     + b"x" * 190, 10, 0.15)
    assert status_of(raw) == 200
    assert svc.requests[0].endswith(b"x" * 200)
    svc.close()


def test_a_slow_body_reaches_the_service_only_once_it_is_complete(site):
    """zookd2 reads a body whole before it connects, so a slow client never
    holds one of the service's workers (gunicorn sync workers, CGI runs)."""
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK))
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main")
    with socket.create_connection(site.addr("main"), timeout=10) as s:
        s.sendall(b"POST /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 6\r\n\r\n")
        for ch in b"abcdef":
            time.sleep(0.15)
            s.sendall(bytes([ch]))
        last_byte = time.monotonic()
        raw = read_until_close(s)
    assert status_of(raw) == 200
    assert svc.requests[0].endswith(b"\r\n\r\nabcdef")
    assert svc.accepted[0] >= last_byte - 0.05
    svc.close()


def test_dribbling_clients_do_not_starve_bystanders_of_a_one_worker_service(site):
    svc = Backend(*site.section("svc", 1, url="/.*"), fixed(OK), serial=True)
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main", env={"ZOOK_BODY_TIMEOUT_MS": "5000"})
    head = b"POST /slow HTTP/1.1\r\nHost: h\r\nConnection: close\r\nContent-Length: 100\r\n\r\n"
    with concurrent.futures.ThreadPoolExecutor(24) as pool:
        slow = [pool.submit(dribble, site.addr("main"), head, 100, 0.03) for _ in range(20)]
        time.sleep(0.5)  # all of them are mid-body now
        t = time.monotonic()
        assert get(site.addr("main"), "/bystander", timeout=10).body == b"ok"
        assert time.monotonic() - t < 1.0  # no dribbler holds the one worker
        assert all(status_of(f.result()[0]) == 200 for f in slow)
    svc.close()


# ---- the hostile corpus ----

def test_hostile_corpus_is_answered_or_closed_within_a_second(fs_site):
    """Each case is sent with a half-close; the server must answer or close
    within a second (the head timeout is 10 s), never reset the connection
    (an error answer is read, not lost), and be alive afterwards."""
    cases = list(corpus(seed=11, count=2000))
    addr = fs_site.addr("main")

    def one(case):
        name, data = case
        with socket.create_connection(addr, timeout=5) as s:
            try:
                s.sendall(data)
                s.shutdown(socket.SHUT_WR)
            except OSError:
                return name, 0.0, "reset while sending"
            t = time.monotonic()
            try:
                while s.recv(65536):
                    pass
            except TimeoutError:
                return name, 99.0, "no close"
            except ConnectionResetError:
                return name, time.monotonic() - t, "reset"
            return name, time.monotonic() - t, ""

    start = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        results = list(pool.map(one, cases))
    print(f"hostile corpus: {len(cases)} cases in {time.monotonic() - start:.1f} s")
    bad = [(name, round(t, 2), why) for name, t, why in results if t >= 1.0 or why]
    assert not bad, f"replay with tests/zookd/hostile.py: {bad[:20]}"
    assert get(addr, "/zoobar/media/notes.txt").body == NOTES
    assert all(p.alive() for p in fs_site.procs)
