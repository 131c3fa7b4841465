"""The shell scripts the roles render (host network and firewall, the
containers' init, run and log scripts) pass shellcheck as rendered from the
default service table; the plain scripts are checked by `make lint-ansible`."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import jinja2
import pytest

from zoolab import ROOT, table
from zoolab.group_vars import load, read_files

TEMPLATES = sorted(
    p for p in (ROOT / "roles").glob("*/templates/**/*.j2")
    if p.read_text().startswith(("#!/bin/sh", "#!/bin/bash", "#!/usr/bin/env bash"))
)


@pytest.fixture(scope="module")
def variables() -> dict:
    # group_vars with every role's defaults (which name group_vars), resolved together
    role_defaults: dict = {}
    for path in (ROOT / "roles").glob("*/defaults"):
        role_defaults.update(read_files(path))
    gv = load()
    rows = table.service_rows(gv["zoolab_services"], gv["zoolab_net_prefix"],
                              gv["zoolab_service_host_octet"], frontend=gv["zoolab_frontend_server"],
                              home=gv["zoolab_home"])
    containers = table.container_rows(rows, gv["zoolab_idmap_base"], gv["zoolab_idmap_size"],
                                      gv["zoolab_student_uid"], gv["zoolab_bridge_prefix"])
    gv = load(overrides={**role_defaults, "zoolab_containers": containers})
    main = next(r for r in containers if r["cmd"] == "zookd2")
    return {**gv, "zoolab_containers": containers, "zoolab_main": main,
            "zoolab_rows": rows, "ansible_managed": "test"}


def render(template: Path, variables: dict) -> str:
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             trim_blocks=True, undefined=jinja2.StrictUndefined)
    env.filters["quote"] = lambda value: shlex.quote(str(value))
    env.filters["combine"] = lambda *dicts: {k: v for d in dicts for k, v in d.items()}
    return env.get_template(template.name).render(**variables)


def test_the_roles_render_shell_scripts():
    names = {p.name for p in TEMPLATES}
    assert {"zoolab-hostnet.j2", "zoolab-hostfw.j2", "zoolab-init.j2", "zoolab-run.j2"} <= names


@pytest.mark.parametrize("template", TEMPLATES, ids=lambda p: str(p.relative_to(ROOT / "roles")))
def test_rendered_script_passes_shellcheck(template, variables, tmp_path):
    assert shutil.which("shellcheck"), "shellcheck is missing: make bootstrap (scripts/apt-packages.txt)"
    script = tmp_path / template.stem
    script.write_text(render(template, variables))
    result = subprocess.run(["shellcheck", str(script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
