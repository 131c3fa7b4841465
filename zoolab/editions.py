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
from dataclasses import dataclass
from pathlib import Path

from zoolab.render_conf import load_group_vars


class EditionError(ValueError):
    """An unknown edition or sandbox backend; the message lists the known ones."""


@dataclass(frozen=True)
class Edition:
    name: str            # "2022", "2023", ...
    row: dict            # the edition's row of zoolab_editions
    root: str            # app root inside containers
    zook_conf: str
    db_dir: str
    sandbox_root: str
    env: dict[str, str]  # what every service gets (zoolab_edition_env)

    @property
    def fresh(self) -> bool:
        """Every container start begins with empty state."""
        return self.row["state"] == "fresh"


def table() -> dict[str, dict]:
    return {str(k): v for k, v in load_group_vars()["zoolab_editions"].items()}


def default() -> str:
    return str(load_group_vars()["zoolab_edition"])


def record_path() -> Path:
    return Path(load_group_vars()["zoolab_site_record"])


def deployed(path: Path | None = None) -> dict | None:
    """The host's record of what it runs, or None (nothing deployed, unreadable)."""
    try:
        record = json.loads((path or record_path()).read_text())
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) and "edition" in record else None


def chosen(requested: str | None = None, record: Path | None = None) -> str:
    """The edition to act on: the requested one, else the deployed one, else the default."""
    if requested:
        return str(requested)
    found = deployed(record)
    return str(found["edition"]) if found else default()


def load(name: str | None = None, sandbox: str | None = None) -> Edition:
    """The edition's settings, resolved as Ansible resolves them."""
    name = str(name or default())
    known = table()
    if name not in known:
        raise EditionError(f"unknown edition {name!r}; choose one of {', '.join(known)}")
    overrides = {"zoolab_edition": name}
    if sandbox:
        overrides["zoolab_sandbox_backend"] = sandbox
    gv = load_group_vars(overrides)
    if gv["zoolab_sandbox_backend"] not in gv["zoolab_sandbox_backends"]:
        raise EditionError(f"unknown sandbox backend {gv['zoolab_sandbox_backend']!r}; "
                           f"choose one of {', '.join(gv['zoolab_sandbox_backends'])}")
    return Edition(name=name, row=known[name], root=gv["zoolab_home"],
                   zook_conf=gv["zoolab_zookconf_path"], db_dir=gv["zoolab_db_dir"],
                   sandbox_root=gv["zoolab_sandbox_root"],
                   env={k: str(v) for k, v in gv["zoolab_edition_env"].items()})
