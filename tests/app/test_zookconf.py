"""zoobar.zookconf reads the course's zook.conf dialect."""

import pytest

from zoobar import zookconf

SAMPLE = """
# a comment
[main]
    cmd = zookd2
    host = 127.0.0.1
    port = 8080
    http_svcs = dynamic, static

[dynamic]
  cmd=zookfs
  host = 10.1.1.4
  port = 8081
  exec = /zoobar/index.cgi
  exec = /other.cgi
  fwrule = -s main -j ACCEPT
  fwrule = -j REJECT
"""


def test_repeated_keys_are_kept_in_file_order():
    conf = zookconf.parse(SAMPLE)
    assert conf.getall("dynamic", "exec") == ["/zoobar/index.cgi", "/other.cgi"]
    assert conf.getall("dynamic", "fwrule") == ["-s main -j ACCEPT", "-j REJECT"]


def test_whitespace_and_comments_are_ignored():
    conf = zookconf.parse(SAMPLE)
    assert conf.names() == ["main", "dynamic"]
    assert conf.get("dynamic", "cmd") == "zookfs"
    assert conf.get("main", "http_svcs") == "dynamic, static"


def test_address_is_host_and_integer_port():
    assert zookconf.parse(SAMPLE).address("dynamic") == ("10.1.1.4", 8081)


def test_section_is_found_by_its_host_address():
    conf = zookconf.parse(SAMPLE)
    assert conf.section_for_host("10.1.1.4") == "dynamic"
    assert conf.section_for_host("10.9.9.9") is None


def test_missing_section_is_a_clear_error():
    with pytest.raises(zookconf.ConfError, match=r"no section \[bank\]"):
        zookconf.parse(SAMPLE).address("bank")


@pytest.mark.parametrize("text, message", [
    ("[main\ncmd = x\n", "bad section header"),
    ("cmd = x\n", "outside any section"),
    ("[a]\njust words\n", "expected 'key = value'"),
    ("[a]\n[a]\n", "appears twice"),
    ("[a]\nhost = h\nport = http\n", "not a number"),
])
def test_malformed_files_name_the_problem(text, message):
    with pytest.raises(zookconf.ConfError, match=message):
        zookconf.parse(text).address("a")


def test_unreadable_file_is_a_clear_error(tmp_path):
    with pytest.raises(zookconf.ConfError, match="cannot read zook.conf"):
        zookconf.load(tmp_path / "missing.conf")
