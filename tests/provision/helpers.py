"""Helpers for the provisioning tests: role templates rendered as Ansible would,
playbooks run on localhost with the repository's configuration."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import jinja2

from zoolab import ROOT

__all__ = ["ROOT", "render", "run_playbook"]


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
