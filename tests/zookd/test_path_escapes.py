"""Path-escape attempts, each sent to zookfs directly and through zookd2:
none may reveal a file outside the document root. The secret sits next to
the root (root/../secret.txt); the requests start in /zoobar/media/, three
levels below the root."""

from __future__ import annotations

import re

import pytest

from zookd_helpers import get

M = "/zoobar/media/"
ESCAPES = [
    M + "../../../secret.txt",
    M + "%2e%2e/%2e%2e/%2e%2e/secret.txt",
    M + "%2E%2E/%2E%2E/%2E%2E/secret.txt",
    M + ".%2e/.%2e/.%2e/secret.txt",
    M + "%2e./%2e./%2e./secret.txt",
    M + "..%2f..%2f..%2fsecret.txt",
    M + "..%2F..%2F..%2Fsecret.txt",
    M + "%2e%2e%2f%2e%2e%2f%2e%2e%2fsecret.txt",
    M + "..\\..\\..\\secret.txt",
    M + "..%5c..%5c..%5csecret.txt",
    M + "..%5C..%5C..%5Csecret.txt",
    M + "%2e%2e%5c%2e%2e%5c%2e%2e%5csecret.txt",
    M + "%252e%252e/%252e%252e/%252e%252e/secret.txt",
    M + "..%255c..%255c..%255csecret.txt",
    M + "..%00/..%00/..%00/secret.txt",
    M + "../../../secret.txt%00.css",
    M + "%c0%ae%c0%ae/%c0%ae%c0%ae/%c0%ae%c0%ae/secret.txt",
    M + "%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/%e0%80%ae%e0%80%ae/secret.txt",
    M + "..%c0%af..%c0%af..%c0%afsecret.txt",
    M + "%u002e%u002e/%u002e%u002e/%u002e%u002e/secret.txt",
    M + "....//....//....//secret.txt",
    M + "..;/..;/..;/secret.txt",
    M + "./../.././../secret.txt",
    M + "a/../../../../secret.txt",
    M + "..%0d%0a/..%0d%0a/..%0d%0a/secret.txt",
    M + "..%09/..%09/..%09/secret.txt",
    M + "%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/%2e%2e/etc/passwd",
    M + "..%2f..%2f..%2f..%2f..%2f..%2f..%2fetc%2fpasswd",
    M + "/etc/passwd",
    M + "%2fetc%2fpasswd",
    M + "..",
    M + "%2e%2e",
]
# the ones that spell ".." (or hide a separator, NUL or backslash) are refused outright
REFUSED_400 = [p for p in ESCAPES if re.search(r"(^|/)\.\.(/|$)", p) or any(
    s in p.lower() for s in ("%2e%2e", ".%2e", "%2e.", "%2f", "%5c", "\\", "%00", "%0d", "%09",
                             "%u00"))]


def test_there_are_at_least_twenty_distinct_escapes():
    assert len(set(ESCAPES)) >= 20 and len(REFUSED_400) >= 20


@pytest.mark.parametrize("path", ESCAPES)
@pytest.mark.parametrize("via", ["zookfs", "zookd2"])
def test_escape_never_reveals_a_file_outside_the_root(fs_site, path, via):
    addr = fs_site.addr("static" if via == "zookfs" else "main")
    r = get(addr, path)
    assert r.status in (400, 403, 404), (path, r.status)
    assert b"SECRET" not in r.body and b"root:" not in r.body


@pytest.mark.parametrize("path", REFUSED_400)
def test_dot_dot_and_hidden_separators_are_400(fs_site, path):
    assert get(fs_site.addr("static"), path).status == 400
    assert get(fs_site.addr("main"), path).status == 400


def test_dot_dot_cannot_hop_from_one_route_to_another(fs_site, docroot):
    # /zoobar/media/../x would match the static route's regex textually
    (docroot / "zoobar/x.txt").write_text("not media")
    for path in ("/zoobar/media/../x.txt", "/zoobar/media/%2e%2e/x.txt"):
        r = get(fs_site.addr("main"), path)
        assert r.status == 400 and b"not media" not in r.body


def test_plain_file_still_served_beside_the_attempts(fs_site):
    r = get(fs_site.addr("main"), M + "notes.txt")
    assert r.status == 200 and r.body == b"plain text\n"
