"""zookfs with `exec`: CGI/1.1 for the listed paths only, nothing else."""

from __future__ import annotations

import json
import os
import socket
import time

import pytest

from zookd_helpers import get, parse_response, read_until_close, send_raw

SCRIPTS = {
    "env.cgi": """#!/usr/bin/env python3
import json, os, sys
body = sys.stdin.buffer.read().decode("latin-1")
print("Content-Type: application/json")
print()
print(json.dumps({"env": dict(os.environ), "stdin": body, "cwd": os.getcwd()}))
""",
    "status.cgi": "#!/bin/sh\nprintf 'Status: 404 Nope\\r\\nContent-Type: text/plain\\r\\n\\r\\nmissing'\n",
    "redirect.cgi": "#!/bin/sh\nprintf 'Location: /zoobar/index.cgi/\\n\\n'\n",
    "seeother.cgi": "#!/bin/sh\nprintf 'Status: 303 See Other\\nLocation: /x\\nContent-Type: text/html\\n\\n'\n",
    "cookies.cgi": "#!/bin/sh\nprintf 'Content-Type: text/plain\\nSet-Cookie: a=1\\nSet-Cookie: b=2\\n\\nok'\n",
    "slow.cgi": "#!/bin/sh\necho $$ > slow.pid\nsleep 30\necho 'Content-Type: text/plain'\necho\necho late\n",
    "garbage.cgi": "#!/bin/sh\necho 'this is not a CGI header'\n",
    "silent.cgi": "#!/bin/sh\nexit 3\n",
    "big.cgi": "#!/bin/sh\nprintf 'Content-Type: application/octet-stream\\n\\n'\nhead -c 3000000 /dev/zero\n",
}


@pytest.fixture
def cgi_root(tmp_path):
    root = tmp_path / "cgiroot"
    (root / "cgi").mkdir(parents=True)
    for name, text in SCRIPTS.items():
        p = root / "cgi" / name
        p.write_text(text)
        p.chmod(0o755)
    (root / "cgi" / "data.txt").write_text("a plain file")
    return root


@pytest.fixture
def cgi(site, cgi_root, tmp_path):
    # generous: a loaded machine may take seconds to start a Python script;
    # /usr/bin first so that `env python3` finds the system one (no pyenv shims)
    site.env = {"ZOOK_BACKEND_TIMEOUT_MS": "30000",
                "PATH": f"/opt/zoolab-test-bin:/usr/bin:{os.environ['PATH']}",
                "ZOOK_SECTION": "dynamic", "UNRELATED_SECRET": "s3cret"}
    site.section("dynamic", 1, cmd="zookfs", dir=cgi_root,
                 exec=[f"/cgi/{n}" for n in SCRIPTS], url="/cgi/.*")
    site.start("zookfs", "dynamic")
    return site


def env_of(addr, path="/cgi/env.cgi", **kw) -> dict:
    r = get(addr, path, **kw)
    assert r.status == 200, r.raw
    return json.loads(r.body)


def test_request_variables_follow_rfc3875(cgi):
    host, port = cgi.addr("dynamic")
    out = env_of(cgi.addr("dynamic"), "/cgi/env.cgi/users/x%20y?user=a%2Fb&z=1",
                 method="POST", body=b"k=v&w=1",
                 headers="Content-Type: application/x-www-form-urlencoded\r\n"
                         "X-Custom-Thing: yes\r\nHost: zoo.example:8888\r\n")
    env = out["env"]
    assert env["GATEWAY_INTERFACE"] == "CGI/1.1"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["REQUEST_METHOD"] == "POST"
    assert env["SCRIPT_NAME"] == "/cgi/env.cgi"
    assert env["PATH_INFO"] == "/users/x y"
    assert env["QUERY_STRING"] == "user=a%2Fb&z=1"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == "7"
    assert env["HTTP_X_CUSTOM_THING"] == "yes"
    assert env["SERVER_NAME"] == "zoo.example" and env["SERVER_PORT"] == "8888"
    assert out["stdin"] == "k=v&w=1"


def test_path_info_is_empty_for_the_script_itself(cgi):
    env = env_of(cgi.addr("dynamic"))["env"]
    assert env["PATH_INFO"] == "" and env["QUERY_STRING"] == ""
    assert "CONTENT_LENGTH" not in env


def test_server_name_falls_back_to_the_section(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/env.cgi", headers="")
    env = json.loads(r.body)["env"]
    # get() always sends "Host: test"
    assert env["SERVER_NAME"] == "test" and env["SERVER_PORT"] == "80"
    r, _ = parse_response(send_raw(cgi.addr("dynamic"), b"GET /cgi/env.cgi HTTP/1.0\r\n\r\n"))
    env = json.loads(r.body)["env"]
    assert env["SERVER_NAME"] == cgi.addr("dynamic")[0]
    assert env["SERVER_PORT"] == str(cgi.addr("dynamic")[1])
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"


def test_remote_addr_comes_from_x_forwarded_for(cgi):
    env = env_of(cgi.addr("dynamic"), headers="X-Forwarded-For: 10.1.0.77\r\n")["env"]
    assert env["REMOTE_ADDR"] == "10.1.0.77"


def test_remote_addr_is_the_peer_without_a_valid_x_forwarded_for(cgi):
    env = env_of(cgi.addr("dynamic"), headers="X-Forwarded-For: not-an-ip\r\n")["env"]
    assert env["REMOTE_ADDR"] == "127.0.0.1"


def test_proxy_header_never_becomes_http_proxy(cgi):
    env = env_of(cgi.addr("dynamic"), headers="Proxy: http://evil:1/\r\n")["env"]
    assert "HTTP_PROXY" not in env


def test_header_names_with_underscores_are_not_passed(cgi):
    env = env_of(cgi.addr("dynamic"), headers="X_Forwarded_User: root\r\n")["env"]
    assert "HTTP_X_FORWARDED_USER" not in env


def test_path_and_zoolab_variables_pass_through_but_nothing_else(cgi):
    out = env_of(cgi.addr("dynamic"))
    env = out["env"]
    assert "/opt/zoolab-test-bin" in env["PATH"].split(":")
    assert env["ZOOK_SECTION"] == "dynamic"
    assert "UNRELATED_SECRET" not in env


def test_script_runs_in_its_own_directory(cgi, cgi_root):
    assert env_of(cgi.addr("dynamic"))["cwd"] == str(cgi_root / "cgi")


def test_status_header_sets_the_status_line(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/status.cgi")
    assert (r.status, r.reason) == (404, "Nope")
    assert r.header("content-type") == "text/plain" and r.body == b"missing"
    assert r.header("status") is None


def test_location_alone_is_a_302(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/redirect.cgi")
    assert r.status == 302 and r.header("location") == "/zoobar/index.cgi/"


def test_status_with_location_keeps_the_status(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/seeother.cgi")
    assert r.status == 303 and r.header("location") == "/x"


def test_repeated_headers_are_kept(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/cookies.cgi")
    assert [v for k, v in r.headers if k.lower() == "set-cookie"] == ["a=1", "b=2"]


def test_head_request_gets_length_but_no_body(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/cookies.cgi", method="HEAD")
    assert r.status == 200 and r.header("content-length") == "2"
    assert r.raw.endswith(b"\r\n\r\n")


def test_large_output_is_relayed_whole(cgi):
    r = get(cgi.addr("dynamic"), "/cgi/big.cgi", timeout=20)
    assert r.status == 200 and r.body == bytes(3000000)


def test_script_running_too_long_is_killed_with_504(site, cgi_root):
    site.section("dynamic", 1, cmd="zookfs", dir=cgi_root, exec="/cgi/slow.cgi")
    site.start("zookfs", "dynamic", env={"ZOOK_BACKEND_TIMEOUT_MS": "1500"})
    start = time.monotonic()
    r = get(site.addr("dynamic"), "/cgi/slow.cgi", timeout=20)
    assert r.status == 504
    assert time.monotonic() - start < 10
    pid = int((cgi_root / "cgi" / "slow.pid").read_text())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{pid}") or \
        open(f"/proc/{pid}/stat").read().split()[2] == "Z"


def test_output_without_cgi_headers_is_500(cgi):
    assert get(cgi.addr("dynamic"), "/cgi/garbage.cgi").status == 500


def test_script_that_prints_nothing_is_500(cgi):
    assert get(cgi.addr("dynamic"), "/cgi/silent.cgi").status == 500


@pytest.mark.parametrize("path", ["/cgi/data.txt", "/cgi/", "/cgi/env.cgi.bak", "/cgi/env.cgiX",
                                  "/", "/cgi/status.cgi/../data.txt"])
def test_only_exec_paths_run_and_no_file_is_served(cgi, path):
    r = get(cgi.addr("dynamic"), path)
    assert r.status in (400, 404)
    assert b"a plain file" not in r.body


def test_cgi_responses_keep_the_connection_alive(cgi):
    raw = send_raw(cgi.addr("dynamic"),
                   b"GET /cgi/cookies.cgi HTTP/1.1\r\nHost: t\r\n\r\n"
                   b"POST /cgi/env.cgi HTTP/1.1\r\nHost: t\r\nContent-Length: 3\r\n\r\nabc"
                   b"GET /cgi/status.cgi HTTP/1.1\r\nConnection: close\r\n\r\n")
    first, raw = parse_response(raw)
    second, raw = parse_response(raw)
    third, raw = parse_response(raw)
    assert first.body == b"ok"
    assert json.loads(second.body)["stdin"] == "abc"
    assert third.status == 404 and raw == b""


def test_body_over_the_limit_is_413(site, cgi_root):
    site.section("dynamic", 1, cmd="zookfs", dir=cgi_root, exec="/cgi/env.cgi")
    site.start("zookfs", "dynamic", env={"ZOOK_MAX_BODY": "100"})
    assert get(site.addr("dynamic"), "/cgi/env.cgi", method="POST", body=b"x" * 101).status == 413
    assert json.loads(get(site.addr("dynamic"), "/cgi/env.cgi", method="POST",
                          body=b"x" * 100).body)["stdin"] == "x" * 100


def test_through_zookd2_remote_addr_is_the_real_client(cgi):
    cgi.section("main", 0, cmd="zookd2", http_svcs="dynamic")
    cgi.start("zookd2", "main")
    client_ip = cgi.host(7).rsplit(".", 1)[0] + ".9"
    with socket.create_connection(cgi.addr("main"), timeout=10,
                                  source_address=(client_ip, 0)) as s:
        s.sendall(b"GET /cgi/env.cgi/x?y=1 HTTP/1.1\r\nHost: zoo:8080\r\n"
                  b"X-Forwarded-For: 6.6.6.6\r\nConnection: close\r\n\r\n")
        r, _ = parse_response(read_until_close(s))
    env = json.loads(r.body)["env"]
    assert env["REMOTE_ADDR"] == client_ip
    assert env["PATH_INFO"] == "/x" and env["QUERY_STRING"] == "y=1"


def test_concurrent_cgi_requests_each_get_their_own_answer(site, cgi_root):
    import concurrent.futures
    site.section("dynamic", 1, cmd="zookfs", dir=cgi_root, exec="/cgi/env.cgi")
    site.start("zookfs", "dynamic", env={"ZOOK_BACKEND_TIMEOUT_MS": "20000"})

    def one(i):
        out = env_of(site.addr("dynamic"), f"/cgi/env.cgi/n{i}", method="POST",
                     body=f"body-{i}".encode(), timeout=30)
        return out["env"]["PATH_INFO"], out["stdin"]

    with concurrent.futures.ThreadPoolExecutor(10) as pool:
        results = list(pool.map(one, range(20)))
    assert results == [(f"/n{i}", f"body-{i}") for i in range(20)]
