"""Fixtures for the provisioning tests: the repository's playbooks, templates
and service table, exercised without containers."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
from pathlib import Path

import jinja2
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "filter_plugins"))
sys.path.insert(0, str(ROOT))

import zoolab_table  # noqa: E402


def load_group_vars() -> dict:
    data: dict = {}
    for path in sorted((ROOT / "group_vars/all").glob("*.yml")):
        data.update(yaml.safe_load(path.read_text()) or {})
    # The table's one templated value (the front end's cmd).
    for row in data["zoolab_services"]:
        if "{{" in str(row["cmd"]):
            row["cmd"] = jinja2.Template(row["cmd"]).render(**data)
    return data


@pytest.fixture(scope="session")
def group_vars() -> dict:
    return load_group_vars()


@pytest.fixture
def table(group_vars) -> list[dict]:
    """A private copy of the default service table, to break in a test."""
    return copy.deepcopy(group_vars["zoolab_services"])


@pytest.fixture(scope="session")
def containers(group_vars) -> list[dict]:
    gv = group_vars
    rows = zoolab_table.service_rows(gv["zoolab_services"], gv["zoolab_net_prefix"],
                                     gv["zoolab_service_host_octet"])
    return zoolab_table.container_rows(rows, gv["zoolab_idmap_base"], gv["zoolab_idmap_size"],
                                       gv["zoolab_student_uid"], gv["zoolab_bridge_prefix"])


def render(template: Path, **variables) -> str:
    """Render a role template with plain Jinja2, as Ansible would (trim_blocks)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    return env.get_template(template.name).render(ansible_managed="test", **variables)


def run_playbook(playbook: str, tmp_path: Path, extra: dict | None = None,
                 *args: str) -> subprocess.CompletedProcess:
    """ansible-playbook on localhost with the repository's config; extra vars from a file."""
    cmd = [str(ROOT / ".venv/bin/ansible-playbook"), f"playbooks/{playbook}", *args]
    if extra is not None:
        vars_file = tmp_path / "extra-vars.json"
        vars_file.write_text(json.dumps(extra))
        cmd += ["-e", f"@{vars_file}"]
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp_path / "ansible-tmp"))
    return subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
