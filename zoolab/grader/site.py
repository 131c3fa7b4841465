"""What the grader talks to: the web site over HTTP, and the containers.

``Browser`` is one logged-in user driving the course's URLs (zoolab.site's
client; its page parsers are re-exported here for the exercises).
``Runner`` runs a command in a container (``lxc-attach -n <c> --`` by default,
any prefix with ``{container}`` in it; ``{cmd}`` marks where a remote shell
gets the quoted command, e.g. ``ssh root@vm lxc-attach -n {container} -- {cmd}``),
or, in local mode, on this machine.
"""

from __future__ import annotations

import shlex
import subprocess
from dataclasses import dataclass

from zoolab.site import BUSY_TRIES, SiteClient, log_rows, page_text, zoobars_on_users_page

__all__ = ["DEFAULT_RUNNER", "Browser", "CheckFailed", "Runner", "Skipped", "log_rows", "page_text",
           "zoobars_on_users_page"]

HTTP_TIMEOUT = 20.0
DEFAULT_RUNNER = "lxc-attach -n {container} --"


class CheckFailed(Exception):
    """A grading check did not hold; the message says what was seen."""


class Skipped(Exception):
    """A check cannot be made in this mode; the message says why."""


class Browser(SiteClient):
    """One user's session on the site (zoolab.site.SiteClient, the grader's timeout).

    A registration answered 503 (auth busy) is tried again, up to
    zoolab.site.BUSY_TRIES times (SiteClient.REGISTER_TRIES)."""

    REGISTER_TRIES = BUSY_TRIES

    def __init__(self, base_url: str, timeout: float = HTTP_TIMEOUT):
        super().__init__(base_url, timeout)


@dataclass
class Runner:
    """Runs commands in a container (prefix template) or, with prefix None, locally."""

    prefix: str | None = DEFAULT_RUNNER

    @property
    def local(self) -> bool:
        return self.prefix is None

    def argv(self, container: str, argv: list[str]) -> list[str]:
        """The full command. A prefix with ``{cmd}`` gets the command shell-quoted
        in its place (for runners that pass a string to a remote shell, like ssh);
        otherwise the command's words are appended."""
        if self.prefix is None:
            return list(argv)
        template = self.prefix.replace("{container}", container)
        if "{cmd}" in template:
            quoted = shlex.join(argv)
            return [quoted if word == "{cmd}" else word for word in shlex.split(template)]
        return shlex.split(template) + list(argv)

    def run(self, container: str, argv: list[str], stdin: bytes | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess:
        full = self.argv(container, argv)
        try:
            return subprocess.run(full, input=stdin, capture_output=True, timeout=timeout,
                                  check=False)
        except FileNotFoundError as err:
            raise CheckFailed(f"cannot run {full[0]!r}: {err}") from None
        except subprocess.TimeoutExpired:
            raise CheckFailed(f"{' '.join(full)} did not finish in {timeout:.0f}s") from None

    def exists(self, container: str, path: str) -> bool:
        return self.run(container, ["test", "-e", path]).returncode == 0

    def read(self, container: str, path: str) -> bytes | None:
        """The file's bytes, or None if it is not there."""
        out = self.run(container, ["cat", path])
        return out.stdout if out.returncode == 0 else None
