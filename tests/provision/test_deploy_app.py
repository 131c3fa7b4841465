"""The deploy helper puts the code, zook.conf and data directories into a
container's home with the container's ids, changes nothing on a second run,
and never touches the service's data."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.provision.helpers import ROOT

HELPER = ROOT / "roles/zoobar_app/files/zoolab-deploy-app"
ROOT_ID, STUDENT_ID = 300000, 301000

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="chown to container ids needs root")


@pytest.fixture
def src(tmp_path) -> Path:
    src = tmp_path / "src"
    (src / "zoobar/media").mkdir(parents=True)
    (src / "zoobar/__init__.py").write_text("")
    (src / "zoobar/media/style.css").write_text("body {}\n")
    cgi = src / "zoobar/index.cgi"
    cgi.write_text("#!/usr/bin/env python3\n")
    cgi.chmod(0o755)
    (src / "zook.conf").write_text("[main]\n    cmd = zookd2\n")
    return src


def deploy(home: Path, src: Path, databases: str = "", sandbox: str = "0", check: bool = False) -> str:
    cmd = [str(HELPER)] + (["--check"] if check else []) + [
        str(home), str(src), str(ROOT_ID), str(STUDENT_ID), databases, sandbox]
    return subprocess.run(cmd, check=True, capture_output=True, text=True).stdout


def owner_mode(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_uid, st.st_gid, st.st_mode & 0o7777


def test_code_belongs_to_the_containers_root_and_is_read_only_to_others(tmp_path, src):
    home = tmp_path / "home"
    deploy(home, src)
    assert owner_mode(home / "zoobar/media/style.css") == (ROOT_ID, ROOT_ID, 0o644)
    assert owner_mode(home / "zoobar/index.cgi") == (ROOT_ID, ROOT_ID, 0o755)
    assert owner_mode(home / "zook.conf") == (ROOT_ID, ROOT_ID, 0o644)
    assert not (home / "zoobar/db").exists()


def test_second_run_changes_nothing(tmp_path, src):
    home = tmp_path / "home"
    assert deploy(home, src, "bank,transfer", "1") != ""
    assert deploy(home, src, "bank,transfer", "1") == ""


def test_databases_get_service_owned_directories_the_service_can_recreate(tmp_path, src):
    home = tmp_path / "home"
    deploy(home, src, "bank,transfer")
    for name in ("bank", "transfer"):
        assert owner_mode(home / "zoobar/db" / name) == (STUDENT_ID, STUDENT_ID, 0o700)
    # Group-writable for the service, sticky so it cannot replace the code.
    assert owner_mode(home / "zoobar") == (ROOT_ID, STUDENT_ID, 0o1775)


def test_redeploy_keeps_the_services_data(tmp_path, src):
    home = tmp_path / "home"
    deploy(home, src, "person")
    data = home / "zoobar/db/person/person.db"
    data.write_text("alice")
    (src / "zoobar/new.py").write_text("")
    assert "new.py" in deploy(home, src, "person")
    assert data.read_text() == "alice"


def test_check_mode_reports_without_changing(tmp_path, src):
    home = tmp_path / "home"
    deploy(home, src)
    (src / "zoobar/media/style.css").write_text("body { color: red }\n")
    assert "style.css" in deploy(home, src, check=True)
    assert (home / "zoobar/media/style.css").read_text() == "body {}\n"


def test_only_the_sandbox_service_gets_a_sandbox(tmp_path, src):
    home = tmp_path / "home"
    deploy(home, src, sandbox="1")
    assert owner_mode(home / "sandbox") == (ROOT_ID, ROOT_ID, 0o711)
    deploy(home, src, sandbox="0")
    assert not (home / "sandbox").exists()
