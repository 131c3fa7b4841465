"""The course's editions (group_vars/all/editions.yml) and which one a host runs.

One place for Python to learn what Ansible reads from the same table: the
edition's paths inside containers, its environment for the services, and what
its grader expects. A deploy writes the host's record (``zoolab_site_record``,
``/var/lib/zoolab/site.json``); ``./zookld.py``, ``make check`` and local
mode use ``chosen()`` so that, unless told otherwise, they act on the edition
the host runs.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from zoolab.layout import Layout, site_layout

# The host's record (group_vars `zoolab_site_record`; a test keeps the two
# equal). Read with the standard library only: ./zookld.py may run under a
# Python without the venv's packages.
RECORD = Path(os.environ.get("ZOOLAB_SITE_RECORD", "/var/lib/zoolab/site.json"))


class EditionError(ValueError):
    """An unknown edition or sandbox backend; the message lists the known ones."""


@dataclass(frozen=True)
class Edition:
    name: str            # "2022", "2023", ...
    row: dict            # the edition's row of zoolab_editions
    layout: Layout       # its paths inside containers and on the host
    env: dict[str, str]  # what every service gets (zoolab_edition_env)

    @property
    def fresh(self) -> bool:
        """Every container start begins with empty state."""
        return self.row["state"] == "fresh"


def _group_vars(overrides: dict | None = None) -> dict:
    from zoolab import group_vars  # needs jinja2 and yaml

    return group_vars.load(overrides)


def table() -> dict[str, dict]:
    return {str(k): v for k, v in _group_vars()["zoolab_editions"].items()}


def default() -> str:
    return str(_group_vars()["zoolab_edition"])


def deployed(path: Path | None = None) -> dict | None:
    """The host's record of what it runs, or None (nothing deployed, unreadable)."""
    try:
        record = json.loads((path or RECORD).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "edition" in record else None


def site_vars(edition: str | None = None, sandbox: str | None = None,
              record: Path | None = None) -> dict[str, str]:
    """Extra vars for a playbook run on this host: the requested edition and
    backend, else what the host runs (the backend only while the edition
    stays), else nothing (group_vars decide). Standard library only."""
    found = deployed(record) or {}
    out = {}
    if edition or found.get("edition"):
        out["zoolab_edition"] = str(edition or found["edition"])
    if sandbox:
        out["zoolab_sandbox_backend"] = sandbox
    elif found.get("sandbox_backend") and out.get("zoolab_edition") == str(found.get("edition")):
        out["zoolab_sandbox_backend"] = str(found["sandbox_backend"])
    return out


def chosen(requested: str | None = None, record: Path | None = None) -> str:
    """The edition to act on: the requested one, else the deployed one, else the default."""
    return site_vars(requested, record=record).get("zoolab_edition") or default()


def load(name: str | None = None, sandbox: str | None = None) -> Edition:
    """The edition's settings, resolved as Ansible resolves them."""
    name = str(name or default())
    known = table()
    if name not in known:
        raise EditionError(f"unknown edition {name!r}; choose one of {', '.join(known)}")
    overrides = {"zoolab_edition": name}
    if sandbox:
        overrides["zoolab_sandbox_backend"] = sandbox
    gv = _group_vars(overrides)
    if gv["zoolab_sandbox_backend"] not in gv["zoolab_sandbox_backends"]:
        raise EditionError(f"unknown sandbox backend {gv['zoolab_sandbox_backend']!r}; "
                           f"choose one of {', '.join(gv['zoolab_sandbox_backends'])}")
    return Edition(name=name, row=known[name], layout=site_layout(overrides),
                   env={k: str(v) for k, v in gv["zoolab_edition_env"].items()})
