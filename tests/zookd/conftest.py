"""Fixtures for the zookd2/zookfs tests (see zookd_helpers.py)."""

from __future__ import annotations

import pytest

from zookd_helpers import BINDIR, Site, claim_net


@pytest.fixture(scope="session")
def net():
    if not (BINDIR / "zookd2").exists() or not (BINDIR / "zookfs").exists():
        pytest.fail(f"no zookd2/zookfs in {BINDIR}: run `make -C zookd` (or set ZOOLAB_BINDIR)")
    number, lock = claim_net()
    yield number
    lock.close()


@pytest.fixture
def site(tmp_path, net):
    """An empty zook.conf in a temp dir; processes started from it are
    stopped afterwards, and the test fails if one died or a sanitizer spoke."""
    s = Site(tmp_path, net)
    yield s
    problems = s.check_and_stop()
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def docroot(tmp_path):
    """A document root with one file of each MIME type, a subdirectory, and
    a secret outside it."""
    root = tmp_path / "root"
    media = root / "zoobar" / "media"
    media.mkdir(parents=True)
    files = {
        "page.html": b"<html>hi</html>\n", "style.css": b"body { color: red }\n",
        "app.js": b"console.log(1);\n", "logo.png": b"\x89PNG\r\n\x1a\n" + bytes(range(256)),
        "photo.jpg": b"\xff\xd8\xff\xe0jpeg", "anim.gif": b"GIF89a...", "icon.svg": b"<svg/>",
        "favicon.ico": b"\x00\x00\x01\x00ico", "notes.txt": b"plain text\n",
        "blob.bin": b"\x00\x01\x02",
    }
    for name, data in files.items():
        (media / name).write_bytes(data)
    (tmp_path / "secret.txt").write_text("TOP SECRET outside the root\n")
    return root


@pytest.fixture
def fs_site(site, docroot):
    """zookfs serving docroot as [static], behind zookd2 as [main]."""
    site.section("static", 2, cmd="zookfs", dir=docroot, url="/zoobar/media/.*")
    site.section("main", 0, cmd="zookd2", http_svcs="static")
    site.start("zookfs", "static")
    site.start("zookd2", "main")
    return site
