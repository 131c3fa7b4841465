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


def parse(text: str, path: str = "<string>") -> ZookConf:
    conf = ZookConf(path)
    current: dict[str, list[str]] | None = None
    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("["):
            if not line.endswith("]") or len(line) < 3:
                raise ConfError(f"{path}:{lineno}: bad section header {raw!r}")
            name = line[1:-1].strip()
            if name in conf.sections:
                raise ConfError(f"{path}:{lineno}: section [{name}] appears twice")
            current = conf.sections[name] = {}
            continue
        key, sep, value = line.partition("=")
        if not sep or not key.strip():
            raise ConfError(f"{path}:{lineno}: expected 'key = value', got {raw!r}")
        if current is None:
            raise ConfError(f"{path}:{lineno}: {key.strip()!r} outside any section")
        current.setdefault(key.strip(), []).append(value.strip())
    return conf


def default_path() -> str:
    return os.environ.get("ZOOK_CONF", DEFAULT_PATH)


def load(path: str | os.PathLike | None = None) -> ZookConf:
    path = str(path or default_path())
    try:
        text = Path(path).read_text()
    except OSError as err:
        raise ConfError(f"cannot read zook.conf {path}: {err.strerror}") from None
    return parse(text, path)
