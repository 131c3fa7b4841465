"""zookfs without `exec`: regular files under `dir`, nothing else."""

from __future__ import annotations

import os

import pytest

from zookd_helpers import get


@pytest.fixture
def fs(site, docroot):
    site.section("static", 2, cmd="zookfs", dir=docroot, url="/zoobar/media/.*")
    site.start("zookfs", "static")
    return site.addr("static")


@pytest.mark.parametrize("name, mime", [
    ("page.html", "text/html; charset=utf-8"), ("style.css", "text/css; charset=utf-8"),
    ("app.js", "text/javascript; charset=utf-8"), ("logo.png", "image/png"),
    ("photo.jpg", "image/jpeg"), ("anim.gif", "image/gif"), ("icon.svg", "image/svg+xml"),
    ("favicon.ico", "image/x-icon"), ("notes.txt", "text/plain; charset=utf-8"),
    ("blob.bin", "application/octet-stream"),
])
def test_file_is_served_with_its_mime_type_and_length(fs, docroot, name, mime):
    r = get(fs, f"/zoobar/media/{name}")
    data = (docroot / "zoobar/media" / name).read_bytes()
    assert r.status == 200
    assert r.header("content-type") == mime
    assert r.header("content-length") == str(len(data))
    assert r.body == data


def test_head_sends_headers_without_body(fs, docroot):
    r = get(fs, "/zoobar/media/style.css", method="HEAD")
    assert r.status == 200
    assert r.header("content-length") == str((docroot / "zoobar/media/style.css").stat().st_size)
    assert r.raw.endswith(b"\r\n\r\n")


def test_large_file_arrives_intact(fs, docroot):
    data = os.urandom(1024 * 1024 + 17)
    (docroot / "zoobar/media/big.bin").write_bytes(data)
    r = get(fs, "/zoobar/media/big.bin")
    assert r.status == 200 and r.body == data


def test_missing_file_is_404(fs):
    assert get(fs, "/zoobar/media/nope.css").status == 404


def test_path_below_a_file_is_404(fs):
    assert get(fs, "/zoobar/media/style.css/x").status == 404


@pytest.mark.parametrize("path", ["/", "/zoobar/", "/zoobar/media", "/zoobar/media/"])
def test_directory_is_403_without_listing(fs, path):
    r = get(fs, path)
    assert r.status == 403
    assert b"style.css" not in r.body


def test_symlink_leaving_the_root_is_403(fs, docroot):
    os.symlink(docroot.parent / "secret.txt", docroot / "zoobar/media/escape.txt")
    r = get(fs, "/zoobar/media/escape.txt")
    assert r.status == 403 and b"SECRET" not in r.body


def test_relative_symlink_climbing_out_is_403(fs, docroot):
    os.symlink("../../../secret.txt", docroot / "zoobar/media/up.txt")
    r = get(fs, "/zoobar/media/up.txt")
    assert r.status == 403 and b"SECRET" not in r.body


def test_symlinked_directory_leaving_the_root_is_403(fs, docroot):
    os.symlink(docroot.parent, docroot / "zoobar/media/outside")
    r = get(fs, "/zoobar/media/outside/secret.txt")
    assert r.status == 403 and b"SECRET" not in r.body


def test_symlink_inside_the_root_is_followed(fs, docroot):
    os.symlink("style.css", docroot / "zoobar/media/alias.css")
    r = get(fs, "/zoobar/media/alias.css")
    assert r.status == 200 and r.body == (docroot / "zoobar/media/style.css").read_bytes()


def test_unreadable_file_is_403(fs, docroot):
    if os.geteuid() == 0:
        pytest.skip("root reads any file; file permissions cannot be tested as root")
    p = docroot / "zoobar/media/private.txt"
    p.write_text("x")
    p.chmod(0)
    assert get(fs, "/zoobar/media/private.txt").status == 403


def test_fifo_is_403_and_does_not_block(fs, docroot):
    os.mkfifo(docroot / "zoobar/media/pipe.txt")
    assert get(fs, "/zoobar/media/pipe.txt", timeout=5).status == 403


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "OPTIONS"])
def test_methods_other_than_get_and_head_are_405(fs, method):
    assert get(fs, "/zoobar/media/style.css", method=method, body=b"x=1").status == 405


def test_executable_file_is_served_not_run(fs, docroot):
    script = docroot / "zoobar/media/run.cgi"
    script.write_text("#!/bin/sh\necho Content-Type: text/plain\necho\necho RAN\n")
    script.chmod(0o755)
    r = get(fs, "/zoobar/media/run.cgi")
    assert r.status == 200 and r.body == script.read_bytes()


def test_query_string_is_ignored_for_files(fs, docroot):
    r = get(fs, "/zoobar/media/notes.txt?x=../../secret")
    assert r.status == 200 and r.body == b"plain text\n"


def test_percent_encoded_name_is_decoded(fs, docroot):
    (docroot / "zoobar/media/a b.txt").write_text("spaced")
    r = get(fs, "/zoobar/media/a%20b.txt")
    assert r.status == 200 and r.body == b"spaced"


def test_keep_alive_serves_several_requests_on_one_connection(fs):
    import socket
    from zookd_helpers import parse_response, read_until_close
    with socket.create_connection(fs, timeout=5) as s:
        req = b"GET /zoobar/media/notes.txt HTTP/1.1\r\nHost: t\r\n\r\n"
        s.sendall(req * 3 + b"GET /zoobar/media/app.js HTTP/1.1\r\nConnection: close\r\n\r\n")
        raw = read_until_close(s)
    bodies = []
    while raw:
        r, raw = parse_response(raw)
        bodies.append(r.body)
    assert bodies == [b"plain text\n"] * 3 + [b"console.log(1);\n"]


def test_changed_file_is_served_fresh_after_being_cached(fs, docroot):
    p = docroot / "zoobar/media/notes.txt"
    assert get(fs, "/zoobar/media/notes.txt").body == b"plain text\n"
    p.write_text("changed, same len")
    assert get(fs, "/zoobar/media/notes.txt").body == b"changed, same len"
    p.write_text("plain TEXT\n")  # same size: mtime/ctime tell the difference
    assert get(fs, "/zoobar/media/notes.txt").body == b"plain TEXT\n"


def test_file_replaced_by_an_escaping_symlink_after_being_cached_is_refused(fs, docroot):
    p = docroot / "zoobar/media/notes.txt"
    assert get(fs, "/zoobar/media/notes.txt").status == 200
    p.unlink()
    os.symlink(docroot.parent / "secret.txt", p)
    r = get(fs, "/zoobar/media/notes.txt")
    assert r.status == 403 and b"SECRET" not in r.body


def test_deleted_file_is_404_after_being_cached(fs, docroot):
    assert get(fs, "/zoobar/media/app.js").status == 200
    (docroot / "zoobar/media/app.js").unlink()
    assert get(fs, "/zoobar/media/app.js").status == 404
