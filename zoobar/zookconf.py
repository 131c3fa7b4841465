"""Read zook.conf, the run-time truth about services and their addresses.

The format is the course's INI dialect: ``[section]`` headers, ``key = value``
lines, ``#`` comments, leading whitespace ignored, and keys that may repeat
(``fwrule``, ``exec``). Every value is kept as a list in file order; ``get``
returns the last one.

    conf = zookconf.load("/home/student/zook.conf")
    conf.address("bank")          # ("10.1.4.4", 8081)
    conf.section_for_host("10.1.1.4")   # "dynamic"
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_PATH = "/home/student/zook.conf"


class ConfError(ValueError):
    """zook.conf is missing, malformed, or lacks what was asked for."""


@dataclass
class ZookConf:
    path: str
    sections: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def names(self) -> list[str]:
        return list(self.sections)

    def section(self, name: str) -> dict[str, list[str]]:
        try:
            return self.sections[name]
        except KeyError:
            raise ConfError(f"{self.path}: no section [{name}]") from None

    def get(self, name: str, key: str, default: str | None = None) -> str | None:
        values = self.section(name).get(key)
        return values[-1] if values else default

    def getall(self, name: str, key: str) -> list[str]:
        return list(self.section(name).get(key, []))

    def require(self, name: str, key: str) -> str:
        value = self.get(name, key)
        if value is None:
            raise ConfError(f"{self.path}: section [{name}] has no {key!r}")
        return value

    def address(self, name: str) -> tuple[str, int]:
        """(host, port) the service listens on and is reached at."""
        host = self.require(name, "host")
        port = self.require(name, "port")
        try:
            number = int(port)
        except ValueError:
            raise ConfError(f"{self.path}: [{name}] port {port!r} is not a number") from None
        if not 1 <= number <= 65535:
            raise ConfError(f"{self.path}: [{name}] port {number} out of range")
        return host, number

    def section_for_host(self, host: str) -> str | None:
        """The section whose ``host`` is this address, or None."""
        for name, keys in self.sections.items():
            if host in keys.get("host", []):
                return name
        return None


MAX_FILE = 1024 * 1024        # bytes, as zookd/conf.h's CONF_MAX_FILE
NAME = re.compile(r"[A-Za-z0-9_.-]{1,64}")   # section and key names, as zookd/conf.c


def _trim(text: str) -> str:
    """Spaces and tabs around, and a CR before the line end (zookd/conf.c's trim)."""
    return text.lstrip(" \t").rstrip(" \t\r")


def _has_control(raw: str) -> bool:
    """A control character other than a tab, or a CR anywhere but at the line's end."""
    last = len(raw) - 1
    return any(ch < " " and ch != "\t" and not (ch == "\r" and i == last) for i, ch in enumerate(raw))


def parse(text: str, path: str = "<string>") -> ZookConf:
    """Parse zook.conf text; accepts and rejects exactly what zookd's C reader
    does (tests/zookd/test_conf_readers_agree.py), naming the same line."""
    if len(text.encode("utf-8", "surrogateescape")) > MAX_FILE:
        raise ConfError(f"{path}: file larger than 1 MiB")
    conf = ZookConf(path)
    current: dict[str, list[str]] | None = None
    for lineno, raw in enumerate(text.split("\n"), 1):
        if _has_control(raw):
            raise ConfError(f"{path}:{lineno}: control character in line")
        line = _trim(raw)
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 2:
                raise ConfError(f"{path}:{lineno}: bad section header {raw!r}")
            name = _trim(line[1:-1])
            if not NAME.fullmatch(name):
                raise ConfError(f"{path}:{lineno}: section name must be 1-64 of [A-Za-z0-9_.-]")
            if name in conf.sections:
                raise ConfError(f"{path}:{lineno}: section [{name}] appears twice")
            current = conf.sections[name] = {}
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ConfError(f"{path}:{lineno}: expected 'key = value', got {raw!r}")
        key = _trim(key)
        if not NAME.fullmatch(key):
            raise ConfError(f"{path}:{lineno}: key must be 1-64 of [A-Za-z0-9_.-], got {raw!r}")
        if current is None:
            raise ConfError(f"{path}:{lineno}: {key!r} outside any section")
        current.setdefault(key, []).append(_trim(value))
    return conf


def default_path() -> str:
    return os.environ.get("ZOOK_CONF", DEFAULT_PATH)


def load(path: str | os.PathLike | None = None) -> ZookConf:
    path = str(path or default_path())
    try:
        text = Path(path).read_bytes().decode("utf-8")
    except OSError as err:
        raise ConfError(f"cannot read zook.conf {path}: {err.strerror}") from None
    except UnicodeDecodeError as err:
        raise ConfError(f"{path}: not UTF-8 (byte {err.start})") from None
    return parse(text, path)
