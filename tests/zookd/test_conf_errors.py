"""A bad zook.conf or command line stops zookd2/zookfs with status 2 and a
message that names the file and the line."""

from __future__ import annotations

import subprocess

import pytest

from zookd_helpers import BINDIR


def run(binary: str, conf_text: str | None, section: str, tmp_path) -> subprocess.CompletedProcess:
    conf = tmp_path / "zook.conf"
    if conf_text is not None:
        conf.write_text(conf_text)
    return subprocess.run([str(BINDIR / binary), str(conf), section], capture_output=True,
                          text=True, timeout=20)


GOOD_MAIN = "[main]\nport = 1\nhttp_svcs = static\n"
GOOD_STATIC = "[static]\nhost = 127.0.0.1\nport = 2\nurl = /.*\ndir = /tmp\n"


@pytest.mark.parametrize("binary", ["zookd2", "zookfs"])
@pytest.mark.parametrize("text, line, words", [
    ("[main]\nport 8080\n", 2, "key = value"),
    ("port = 8080\n[main]\n", 1, "outside any [section]"),
    ("[main]\n[main]\n", 2, "section defined twice"),
    ("[main\nport = 1\n", 1, "section header"),
    ("# ok\n\n[main]\n  = 1\n", 4, "key must be"),
    ("[main]\nport = 1\nbad\x01 = 2\n", 3, "control character"),
])
def test_malformed_file_names_file_and_line_and_exits_2(binary, text, line, words, tmp_path):
    r = run(binary, text, "main", tmp_path)
    assert r.returncode == 2
    assert f"{tmp_path / 'zook.conf'}:{line}:" in r.stderr
    assert words in r.stderr


@pytest.mark.parametrize("binary", ["zookd2", "zookfs"])
def test_missing_section_is_named_and_exits_2(binary, tmp_path):
    r = run(binary, GOOD_STATIC, "nosuch", tmp_path)
    assert r.returncode == 2
    assert str(tmp_path / "zook.conf") in r.stderr and "no section [nosuch]" in r.stderr


@pytest.mark.parametrize("binary", ["zookd2", "zookfs"])
def test_unreadable_file_exits_2(binary, tmp_path):
    r = run(binary, None, "main", tmp_path)
    assert r.returncode == 2
    assert "cannot open" in r.stderr


@pytest.mark.parametrize("binary", ["zookd2", "zookfs"])
def test_wrong_argument_count_exits_2_with_usage(binary):
    r = subprocess.run([str(BINDIR / binary)], capture_output=True, text=True, timeout=20)
    assert r.returncode == 2 and "usage" in r.stderr


def test_bad_port_names_its_line(tmp_path):
    r = run("zookd2", "[main]\nhttp_svcs = static\nport = 99999\n" + GOOD_STATIC, "main",
            tmp_path)
    assert r.returncode == 2 and ":3:" in r.stderr and "not a TCP port" in r.stderr


def test_zookd2_without_http_svcs_names_the_section_line(tmp_path):
    r = run("zookd2", "# x\n[main]\nport = 1\n", "main", tmp_path)
    assert r.returncode == 2 and ":2:" in r.stderr and "http_svcs" in r.stderr


def test_http_svcs_naming_an_absent_section_is_an_error(tmp_path):
    r = run("zookd2", "[main]\nport = 1\nhttp_svcs = static, ghost\n" + GOOD_STATIC, "main",
            tmp_path)
    assert r.returncode == 2 and ":3:" in r.stderr and "[ghost]" in r.stderr


def test_invalid_url_regex_names_its_line(tmp_path):
    text = GOOD_MAIN + "[static]\nhost = 127.0.0.1\nport = 2\nurl = /(unclosed\n"
    r = run("zookd2", text, "main", tmp_path)
    assert r.returncode == 2 and ":7:" in r.stderr and "regex" in r.stderr


def test_service_without_url_is_an_error(tmp_path):
    r = run("zookd2", GOOD_MAIN + "[static]\nhost = 127.0.0.1\nport = 2\n", "main", tmp_path)
    assert r.returncode == 2 and "has no \"url\"" in r.stderr


def test_zookfs_without_dir_is_an_error(tmp_path):
    r = run("zookfs", "[static]\nport = 2\n", "static", tmp_path)
    assert r.returncode == 2 and ":1:" in r.stderr and "dir" in r.stderr


def test_zookfs_with_missing_dir_names_its_line(tmp_path):
    r = run("zookfs", f"[static]\nport = 2\ndir = {tmp_path}/nope\n", "static", tmp_path)
    assert r.returncode == 2 and ":3:" in r.stderr


@pytest.mark.parametrize("bad", ["zoobar/index.cgi", "/a/../b.cgi", "/a/", "/a%2eb", "/a?b"])
def test_zookfs_refuses_exec_paths_that_are_not_normalised(bad, tmp_path):
    r = run("zookfs", f"[dyn]\nport = 2\ndir = {tmp_path}\nexec = {bad}\n", "dyn", tmp_path)
    assert r.returncode == 2 and ":4:" in r.stderr and "exec" in r.stderr
