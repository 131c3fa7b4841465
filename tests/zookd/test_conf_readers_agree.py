"""zookd's C zook.conf reader (zookd/conf.c) and the Python one
(zoobar/zookconf.py) accept and reject the same files, read the same sections,
keys and values, and name the same line when they refuse one: on the fuzz seed
corpus of fuzz_conf and on the edge cases below. The C side reports what it
parsed through zookd/tests/test_conf_dump.c."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.stack import ROOT
from zoobar import zookconf
from zookd_helpers import BINDIR

CORPUS = ROOT / "zookd/fuzz/corpus/fuzz_conf"
EDGES = {
    "crlf": b"[a]\r\nk = v\r\n",
    "tabs-and-spaces": b"\t [ a ]\t\n\tk\t=\t v w \t\n",
    "repeated-keys-interleaved": b"[a]\nx = 1\ny = 2\nx = 3\n",
    "empty-value": b"[a]\nk =\n",
    "equals-in-value": b"[a]\nk = a=b = c\n",
    "no-final-newline": b"[a]\nk = v",
    "comment-after-indent": b"[a]\n   # not a key\nk = v\n",
    "unicode-value": "[a]\nk = café ☕\n".encode(),
    "empty-file": b"",
    "empty-section-name": b"[]\n",
    "spaces-only-section-name": b"[   ]\n",
    "bad-section-char": b"[a/b]\n",
    "section-name-65": b"[" + b"a" * 65 + b"]\n",
    "section-name-64": b"[" + b"a" * 64 + b"]\nk = v\n",
    "unclosed-section": b"[a\nk = v\n",
    "duplicate-section": b"[a]\n[b]\n[a]\n",
    "key-outside-section": b"k = v\n[a]\n",
    "bad-key-char": b"[a]\nk k = v\n",
    "empty-key": b"[a]\n = v\n",
    "no-equals": b"[a]\njust words\n",
    "nul-byte": b"[a]\nk = a\x00b\n",
    "cr-mid-line": b"[a]\nk = a\rb\n",
    "vertical-tab": b"[a]\n\x0bk = v\n",
    "form-feed-value": b"[a]\nk = v\x0c\n",
    "error-on-line-3": b"# one\n[a]\n%%%\n",
    "too-large": b"[a]\n" + b"k = " + b"v" * (1024 * 1024) + b"\n",
}


def dump_binary() -> Path:
    """zookd/<build dir>/test_conf_dump, built like the binaries under test."""
    target = BINDIR / "test_conf_dump"
    sanitize = ["SANITIZE=1"] if BINDIR.name == "build-san" else []
    subprocess.run(["make", "-s", "-C", str(ROOT / "zookd"), *sanitize,
                    f"{BINDIR.name}/test_conf_dump"], check=True, capture_output=True, timeout=300)
    return target


@pytest.fixture(scope="module")
def c_reader():
    if BINDIR.parent != ROOT / "zookd":
        pytest.skip(f"ZOOLAB_BINDIR {BINDIR} is not a zookd/ build directory")
    return dump_binary()


def c_reading(binary: Path, path: Path):
    """("ok", {section: {key: [values]}}) or ("error", line) from the C reader."""
    out = subprocess.run([str(binary), str(path)], capture_output=True, timeout=30)
    assert not out.stderr, out.stderr.decode(errors="replace")   # no sanitizer report
    lines = out.stdout.decode("utf-8").splitlines()
    if out.returncode == 1:
        return "error", int(re.match(r"X (\d+)\t", lines[0]).group(1))
    assert out.returncode == 0, out
    sections: dict[str, dict[str, list[str]]] = {}
    current = None
    for line in lines:
        kind, rest = line[0], line[2:]
        if kind == "S":
            current = sections[rest] = {}
        else:
            key, _, value = rest.partition("\t")
            current.setdefault(key, []).append(value)
    return "ok", sections


def python_reading(path: Path):
    try:
        conf = zookconf.load(path)
    except zookconf.ConfError as err:
        found = re.match(rf"{re.escape(str(path))}:(\d+):", str(err))
        return "error", int(found.group(1)) if found else 0
    return "ok", conf.sections


def cases():
    for seed in sorted(CORPUS.iterdir()):
        yield pytest.param(seed.read_bytes(), id=f"seed-{seed.name}")
    for name, data in EDGES.items():
        yield pytest.param(data, id=name)


@pytest.mark.parametrize("data", list(cases()))
def test_both_readers_read_the_file_the_same_way(c_reader, tmp_path, data):
    path = tmp_path / "zook.conf"
    path.write_bytes(data)
    c, py = c_reading(c_reader, path), python_reading(path)
    assert py == c
    assert list(py[1]) == list(c[1]) if py[0] == "ok" else True   # section order too


def test_the_corpus_has_accepted_and_rejected_seeds(c_reader, tmp_path):
    verdicts = {c_reading(c_reader, seed)[0] for seed in CORPUS.iterdir()}
    assert verdicts == {"ok", "error"}
