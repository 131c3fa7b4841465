"""zookd2: routing, byte-for-byte forwarding, limits, failures of services
and of clients. Services are either zookfs or a scripted HTTP server on a
real socket (zookd_helpers.Backend) that records what it receives."""

from __future__ import annotations

import concurrent.futures
import os
import socket
import threading
import time

import pytest

from zookd_helpers import (Backend, client_from, exchange, fixed, get, parse_response,
                           read_until_close, send_raw)

OK = b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\n"


@pytest.fixture
def two(site):
    """main routes to `first` (/a/..., /both/x) then `second` (/both/...)."""
    first = site.section("first", 1, url="/a/[0-9]+|/both/x")
    second = site.section("second", 2, url="/both/.*")
    site.section("main", 0, cmd="zookd2", http_svcs="first, second")
    site.first = Backend(*first, fixed(OK + b"first"))
    site.second = Backend(*second, fixed(OK + b"secnd"))
    site.start("zookd2", "main", env={"ZOOK_BACKEND_TIMEOUT_MS": "1500",
                                      "ZOOK_HEAD_TIMEOUT_MS": "1000"})
    yield site
    site.first.close()
    site.second.close()


def behind_zookd2(site, handler, env: dict | None = None) -> Backend:
    """One scripted service for every path, and zookd2 in front of it."""
    svc = Backend(*site.section("svc", 1, url="/.*"), handler)
    site.section("main", 0, http_svcs="svc")
    site.start("zookd2", "main", env=env)
    return svc


def test_first_matching_service_wins(two):
    assert get(two.addr("main"), "/both/x").body == b"first"
    assert get(two.addr("main"), "/both/y").body == b"secnd"
    assert get(two.addr("main"), "/a/123").body == b"first"


@pytest.mark.parametrize("path", ["/a/12x", "/x/a/1", "/a/", "/both", "/", "/A/1"])
def test_url_regex_must_match_the_whole_path_else_404(two, path):
    r = get(two.addr("main"), path)
    assert r.status == 404
    assert not two.first.requests and not two.second.requests


def test_query_string_is_not_part_of_the_match(two):
    assert get(two.addr("main"), "/a/1?x=/both/y").body == b"first"


def test_request_is_forwarded_byte_for_byte_with_x_forwarded_for(two):
    body = bytes(range(256)) * 3
    head = (b"POST /a/7?q=%41 HTTP/1.1\r\nHost: zoo:8080\r\nx-lower:   spaced  value \r\n"
            b"Cookie: a=1; b=2\r\nX-Forwarded-For: 6.6.6.6\r\nConnection: keep-alive\r\n"
            b"Content-Length: 768\r\nX-Forwarded-For: 7.7.7.7\r\nAccept:*/*\r\n\r\n")
    s = client_from(two)
    s.sendall(head + body)
    r, _ = parse_response(s.recv(65536))
    s.close()
    assert r.body == b"first"
    ip = two.host(9).rsplit(".", 1)[0] + ".9"
    expected = (b"POST /a/7?q=%41 HTTP/1.1\r\nHost: zoo:8080\r\nx-lower:   spaced  value \r\n"
                b"Cookie: a=1; b=2\r\nContent-Length: 768\r\nAccept:*/*\r\n"
                + f"X-Forwarded-For: {ip}\r\nConnection: close\r\n\r\n".encode() + body)
    assert two.first.requests == [expected]


def test_x_forwarded_for_is_replaced_not_appended(two):
    get(two.addr("main"), "/a/1", headers="X-Forwarded-For: 10.1.3.4\r\n"
                                          "x-forwarded-for: 10.1.4.4, 1.1.1.1\r\n")
    raw = two.first.requests[0].lower()
    assert raw.count(b"x-forwarded-for") == 1
    assert b"x-forwarded-for: 127.0.0.1\r\n" in raw


def test_response_is_relayed_byte_for_byte(site):
    response = (b"HTTP/1.1 201 Made It\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\n"
                b"X-Odd:  keep  this \r\nContent-Length: 256\r\n\r\n" + bytes(range(256)))
    svc = behind_zookd2(site, fixed(response))
    with socket.create_connection(site.addr("main"), timeout=10) as s:
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = b""
        while len(raw) < len(response):
            raw += s.recv(65536)
    assert raw == response
    svc.close()


def test_chunked_response_is_relayed_and_ends_at_its_last_chunk(site):
    chunked = (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
               b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\n\r\n")

    def keep_open(conn, _raw):
        conn.sendall(chunked)
        time.sleep(3)  # a keep-alive backend does not close after the response

    svc = behind_zookd2(site, keep_open)
    with socket.create_connection(site.addr("main"), timeout=10) as s:
        start = time.monotonic()
        s.sendall(b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")
        raw = b""
        while not raw.endswith(b"0\r\n\r\n"):
            raw += s.recv(65536)
        assert raw == chunked
        assert time.monotonic() - start < 2
    svc.close()


def test_response_ending_at_close_is_relayed_with_connection_close(site):
    svc = behind_zookd2(site, fixed(b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\n"
                                    b"until the end"))
    r, _ = parse_response(send_raw(site.addr("main"), b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n"))
    assert r.body == b"until the end" and r.header("connection") == "close"
    svc.close()


def test_unreachable_service_is_502_and_zookd2_carries_on(two):
    two.second.close()
    assert get(two.addr("main"), "/both/y").status == 502
    assert get(two.addr("main"), "/a/1").body == b"first"


def test_service_dying_before_answering_is_502(site):
    def die(conn, _raw):
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-")

    svc = behind_zookd2(site, die)
    assert get(site.addr("main"), "/x").status == 502
    svc.close()


def test_service_dying_mid_body_closes_the_client_connection(site):
    svc = behind_zookd2(site, fixed(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n"
                                    b"only part"))
    raw = send_raw(site.addr("main"), b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n")  # zookd2 closed it
    assert raw.endswith(b"only part")
    assert site.procs[0].alive()
    svc.close()


@pytest.mark.parametrize("garbage", [b"HTTP/1.1 abc\r\n\r\n", b"not http at all\r\n\r\n",
                                     b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
                                     b"HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n"])
def test_malformed_service_response_is_502(site, garbage):
    svc = behind_zookd2(site, fixed(garbage))
    assert get(site.addr("main"), "/x").status == 502
    svc.close()


def test_protocol_switch_on_a_kept_service_connection_is_502(site):
    def then_switch(conn, _raw):
        conn.sendall(OK + b"first")
        conn.recv(65536)
        conn.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n")
        time.sleep(1)

    svc = behind_zookd2(site, then_switch)
    assert get(site.addr("main"), "/one").body == b"first"
    assert get(site.addr("main"), "/two").status == 502
    svc.close()


def test_slow_service_is_504(two):
    two.second.handler = lambda conn, raw: time.sleep(4)
    start = time.monotonic()
    assert get(two.addr("main"), "/both/y").status == 504
    assert time.monotonic() - start < 3.5


def test_slow_answer_on_a_kept_service_connection_is_504(site):
    def first_fast_then_slow(conn, _raw):
        conn.sendall(OK + b"quick")
        conn.recv(65536)  # the next request on the same, kept connection
        time.sleep(4)

    svc = behind_zookd2(site, first_fast_then_slow, env={"ZOOK_BACKEND_TIMEOUT_MS": "1000"})
    assert get(site.addr("main"), "/one").body == b"quick"
    start = time.monotonic()
    assert get(site.addr("main"), "/two").status == 504
    assert time.monotonic() - start < 3
    svc.close()


def test_kept_service_connection_closed_while_idle_is_replaced(site):
    def keep_alive_briefly(conn, raw):
        while True:  # answer on the same connection until idle for 0.3 s
            conn.sendall(OK + b"alive")
            conn.settimeout(0.3)
            try:
                if not conn.recv(65536):
                    return
            except OSError:
                return

    svc = behind_zookd2(site, keep_alive_briefly)
    for _ in range(3):
        assert get(site.addr("main"), "/x").body == b"alive"
        time.sleep(0.6)  # the service has closed the kept connection meanwhile
    assert len(svc.requests) == 3  # each found closed, replaced, not answered 502
    svc.close()


# ---- limits ----

def test_malformed_request_is_400(two):
    assert exchange(two.addr("main"), b"GARBAGE\r\n\r\n").status == 400
    assert exchange(two.addr("main"), b"GET /a/1 HTTP/1.1\r\nbad header\r\n\r\n").status == 400


def test_request_line_over_8k_is_414(two):
    r = exchange(two.addr("main"), b"GET /a/" + b"1" * 9000 + b" HTTP/1.1\r\n\r\n")
    assert r.status == 414


def test_request_line_just_under_8k_is_routed(two):
    path = b"/a/" + b"1" * (8192 - 17)
    r = exchange(two.addr("main"), b"GET " + path + b" HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert r.status == 200 and r.body == b"first"


def test_headers_over_64k_are_431(two):
    big = b"".join(b"X-%d: %s\r\n" % (i, b"v" * 1000) for i in range(70))
    assert exchange(two.addr("main"), b"GET /a/1 HTTP/1.1\r\n" + big + b"\r\n").status == 431


def test_more_than_100_header_fields_is_431(two):
    many = b"".join(b"X-%d: v\r\n" % i for i in range(101))
    assert exchange(two.addr("main"), b"GET /a/1 HTTP/1.1\r\n" + many + b"\r\n").status == 431


def test_exactly_100_header_fields_pass(two):
    many = b"".join(b"X-%d: v\r\n" % i for i in range(99)) + b"Connection: close\r\n"
    assert exchange(two.addr("main"), b"GET /a/1 HTTP/1.1\r\n" + many + b"\r\n").status == 200


def test_body_over_1mib_is_413_before_it_is_sent(two):
    r = exchange(two.addr("main"), b"POST /a/1 HTTP/1.1\r\nContent-Length: 1048577\r\n\r\n")
    assert r.status == 413 and not two.first.requests


def test_body_of_1mib_is_forwarded_intact(two):
    body = os.urandom(1024 * 1024)
    r = get(two.addr("main"), "/a/1", method="POST", body=body, timeout=20)
    assert r.status == 200
    assert two.first.requests[0].endswith(b"\r\n\r\n" + body)


def test_chunked_request_body_is_411(two):
    r = exchange(two.addr("main"), b"POST /a/1 HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"
                                   b"1\r\nx\r\n0\r\n\r\n")
    assert r.status == 411


def test_unknown_http_version_is_505(two):
    assert exchange(two.addr("main"), b"GET /a/1 HTTP/3.0\r\n\r\n").status == 505


def test_expect_100_continue_is_answered(two):
    with socket.create_connection(two.addr("main"), timeout=10) as s:
        s.sendall(b"POST /a/1 HTTP/1.1\r\nContent-Length: 4\r\nExpect: 100-continue\r\n"
                  b"Connection: close\r\n\r\n")
        assert s.recv(100) == b"HTTP/1.1 100 Continue\r\n\r\n"
        s.sendall(b"body")
        r, _ = parse_response(read_until_close(s))
    assert r.body == b"first"
    assert two.first.requests[0].endswith(b"\r\n\r\nbody")
    assert b"expect" not in two.first.requests[0].lower()


# ---- slow and silent clients ----

def test_silent_client_is_dropped_after_the_head_timeout(two):
    with socket.create_connection(two.addr("main"), timeout=10) as s:
        start = time.monotonic()
        assert read_until_close(s) == b""
        assert 0.8 < time.monotonic() - start < 5


def test_slow_head_gets_408_after_the_head_timeout(two):
    with socket.create_connection(two.addr("main"), timeout=10) as s:
        start = time.monotonic()
        s.sendall(b"GET /a/1 HTTP/1.1\r\n")
        for _ in range(3):  # a byte every 0.4 s would keep a per-read timeout happy
            time.sleep(0.4)
            try:
                s.sendall(b"X")
            except OSError:
                break
        r, _ = parse_response(read_until_close(s))
    assert r.status == 408
    assert time.monotonic() - start < 5


def test_slow_and_silent_clients_do_not_block_others(two):
    idle = [socket.create_connection(two.addr("main")) for _ in range(50)]
    for s in idle[:25]:
        s.sendall(b"GET /a/1 HTTP/1.1\r\nHost")  # half a head, then nothing
    start = time.monotonic()
    for _ in range(20):
        assert get(two.addr("main"), "/a/1").body == b"first"
    assert time.monotonic() - start < 5  # blocked, each would wait out the 1 s head timeout
    for s in idle:
        s.close()


# ---- connections ----

def test_keep_alive_and_pipelining_through_zookd2(fs_site):
    raw = send_raw(fs_site.addr("main"),
                   b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: t\r\n\r\n"
                   b"HEAD /zoobar/media/app.js HTTP/1.1\r\nHost: t\r\n\r\n"
                   b"GET /nope HTTP/1.1\r\nHost: t\r\n\r\n")
    a, raw = parse_response(raw)
    b, raw = parse_response(raw, head_request=True)
    c, raw = parse_response(raw)
    assert a.body == b"plain text\n"
    assert b.status == 200 and b.header("content-length") == "16"
    assert c.status == 404 and raw == b""


def test_one_connection_carries_many_requests(fs_site):
    with socket.create_connection(fs_site.addr("main"), timeout=10) as s:
        for _ in range(50):
            s.sendall(b"GET /zoobar/media/style.css HTTP/1.1\r\nHost: t\r\n\r\n")
            raw = b""
            while not raw.endswith(b"red }\n"):
                raw += s.recv(65536)
            assert parse_response(raw)[0].status == 200


def test_http_1_0_client_gets_connection_close(fs_site):
    with socket.create_connection(fs_site.addr("main"), timeout=10) as s:
        s.sendall(b"GET /zoobar/media/notes.txt HTTP/1.0\r\n\r\n")
        r, rest = parse_response(read_until_close(s))
    assert r.body == b"plain text\n" and r.header("connection") == "close"


def test_large_file_through_zookd2(fs_site, docroot):
    data = os.urandom(1024 * 1024)
    (docroot / "zoobar/media/big.bin").write_bytes(data)
    r = get(fs_site.addr("main"), "/zoobar/media/big.bin", timeout=20)
    assert r.status == 200 and r.body == data


def test_large_files_back_to_back_on_one_connection_keep_their_framing(fs_site, docroot):
    """Bodies past the first read are moved in the kernel (splice): each must
    end exactly where its Content-Length says, or the next answer breaks."""
    sizes = [70_000, 1024 * 1024, 3 * 1024 * 1024 + 17]
    files = {n: os.urandom(n) for n in sizes}
    for n, data in files.items():
        (docroot / f"zoobar/media/big{n}.bin").write_bytes(data)
    reqs = b"".join(b"GET /zoobar/media/big%d.bin HTTP/1.1\r\nHost: x\r\n\r\n" % n
                    for n in sizes + sizes)
    reqs += b"GET /zoobar/media/notes.txt HTTP/1.1\r\nConnection: close\r\n\r\n"
    rest = send_raw(fs_site.addr("main"), reqs, timeout=30)
    for n in sizes + sizes:
        r, rest = parse_response(rest)
        assert (r.status, len(r.body)) == (200, n) and r.body == files[n]
    assert parse_response(rest)[0].body == b"plain text\n"


def test_large_answer_ending_at_close_is_relayed_whole(site):
    body = os.urandom(3 * 1024 * 1024)
    svc = behind_zookd2(site, fixed(b"HTTP/1.1 200 OK\r\nContent-Type: a/b\r\n\r\n" + body))
    r, _ = parse_response(send_raw(site.addr("main"), b"GET /x HTTP/1.1\r\nHost: t\r\n\r\n",
                                   timeout=30))
    assert r.body == body
    svc.close()


def test_service_restart_does_not_break_kept_connections(site, docroot):
    site.section("static", 2, cmd="zookfs", dir=docroot, url="/zoobar/media/.*")
    site.section("main", 0, cmd="zookd2", http_svcs="static")
    fs = site.start("zookfs", "static")
    site.start("zookd2", "main")
    assert get(site.addr("main"), "/zoobar/media/notes.txt").status == 200
    fs.stop()
    site.procs.remove(fs)
    assert get(site.addr("main"), "/zoobar/media/notes.txt").status == 502
    site.start("zookfs", "static")
    assert get(site.addr("main"), "/zoobar/media/notes.txt").status == 200


def test_many_concurrent_clients(fs_site, docroot):
    expected = (docroot / "zoobar/media/style.css").read_bytes()

    def client(i):
        with socket.create_connection(fs_site.addr("main"), timeout=20) as s:
            for _ in range(5):
                s.sendall(b"GET /zoobar/media/style.css HTTP/1.1\r\nHost: t\r\n\r\n")
                raw = b""
                while not raw.endswith(expected):
                    chunk = s.recv(65536)
                    assert chunk
                    raw += chunk
                r, _ = parse_response(raw)
                assert r.status == 200 and r.body == expected
        return i

    with concurrent.futures.ThreadPoolExecutor(200) as pool:
        done = list(pool.map(client, range(400)))
    assert len(done) == 400


def test_abrupt_client_disconnects_do_not_hurt_zookd2(fs_site):
    for i in range(50):
        s = socket.create_connection(fs_site.addr("main"))
        s.sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\r\n"[: i % 30])
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
        s.close()  # RST
    assert get(fs_site.addr("main"), "/zoobar/media/notes.txt").status == 200


def test_concurrent_posts_reach_the_service_intact(two):
    bodies = [os.urandom(5000) for _ in range(40)]
    lock = threading.Lock()
    seen = []

    def record(conn, raw):
        with lock:
            seen.append(raw.split(b"\r\n\r\n", 1)[1])
        conn.sendall(OK + b"first")

    two.first.handler = record
    with concurrent.futures.ThreadPoolExecutor(20) as pool:
        results = list(pool.map(lambda b: get(two.addr("main"), "/a/1", method="POST", body=b),
                                bodies))
    assert all(r.status == 200 for r in results)
    assert sorted(seen) == sorted(bodies)


def pipelined_answers(s: socket.socket, n: int) -> int:
    """Send n pipelined GETs at once (from a thread: zookd2 answers while we
    send); the number of 200 answers once all n bodies are in."""
    req = b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: t\r\n\r\n"
    sender = threading.Thread(target=s.sendall, args=(req * n,))
    sender.start()
    raw = b""
    while raw.count(b"plain text\n") < n:
        chunk = s.recv(1 << 20)
        assert chunk
        raw += chunk
    sender.join()
    return raw.count(b"HTTP/1.1 200 OK\r\n")


def test_thousands_of_pipelined_requests_are_answered_in_order(fs_site):
    with socket.create_connection(fs_site.addr("main"), timeout=20) as s:
        assert pipelined_answers(s, 3000) == 3000
        assert pipelined_answers(s, 3000) == 3000  # now the file is in zookfs's cache


def test_thousands_of_pipelined_requests_straight_to_zookfs(fs_site):
    with socket.create_connection(fs_site.addr("static"), timeout=20) as s:
        assert pipelined_answers(s, 3000) == 3000


def test_connections_beyond_the_limit_get_503_and_others_carry_on(site, docroot):
    site.section("static", 2, cmd="zookfs", dir=docroot, url="/zoobar/media/.*")
    site.section("main", 0, cmd="zookd2", http_svcs="static")
    site.start("zookfs", "static")
    site.start("zookd2", "main", env={"ZOOK_MAX_CONNS": "5"})
    time.sleep(0.3)  # the start-up probe's connection is freed by the next sweep (100 ms)
    held = [socket.create_connection(site.addr("main"), timeout=10) for _ in range(5)]
    time.sleep(0.2)
    assert exchange(site.addr("main"), b"GET /zoobar/media/notes.txt HTTP/1.1\r\n\r\n").status == 503
    held[0].sendall(b"GET /zoobar/media/notes.txt HTTP/1.1\r\nConnection: close\r\n\r\n")
    assert parse_response(read_until_close(held[0]))[0].status == 200
    for s in held:
        s.close()
    time.sleep(0.3)
    assert get(site.addr("main"), "/zoobar/media/notes.txt").status == 200
