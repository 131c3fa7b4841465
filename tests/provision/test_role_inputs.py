"""Every role's inputs are declared in its meta/argument_specs.yml.

A role reads only what it declares (its own defaults and the globals it
needs: the service table's rows, the layout paths, the id map, ...), declares
nothing it never reads, and keeps its own knobs in defaults/main.yml under
its own prefix. The variables a role reads are found by parsing every Jinja
expression in its tasks, handlers, templates and defaults.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jinja2
import jinja2.nodes
import pytest
import yaml

from zoolab import ROOT

ROLES = sorted(p.parent.parent for p in (ROOT / "roles").glob("*/meta/argument_specs.yml"))

# What Ansible and Jinja provide: magic variables, lookups, loop variables.
PROVIDED = {
    "item", "loop", "ansible_check_mode", "ansible_managed", "inventory_hostname",
    "playbook_dir", "hostvars", "groups", "omit", "ansible_playbook_python",
    "lookup", "query", "q", "range", "dict", "lipsum", "namespace", "true", "false",
}
# Task keys whose value is a bare Jinja expression (no braces).
BARE_KEYS = {"when", "that", "changed_when", "failed_when", "until"}

_ENV = jinja2.Environment()


def expression_names(text: str) -> set[str]:
    """Names a Jinja template string reads from its context (and does not set itself).

    Walks the parsed template instead of compiling it: Ansible's filters and
    tests are unknown to plain Jinja."""
    names = {"load": set(), "store": set()}
    for node in _ENV.parse(text).find_all(jinja2.nodes.Name):
        names["load" if node.ctx == "load" else "store"].add(node.name)
    return names["load"] - names["store"]


def strings(node: Any, key: str | None = None) -> Iterator[str]:
    """Every Jinja source in a YAML document; bare conditions get their braces."""
    if isinstance(node, dict):
        for k, v in node.items():
            yield from strings(v, k)
    elif isinstance(node, list):
        for v in node:
            yield from strings(v, key)
    elif isinstance(node, str):
        yield "{{ " + node + " }}" if key in BARE_KEYS else node
    elif isinstance(node, bool) or node is None:
        return


def tasks_of(doc: Any) -> Iterator[dict]:
    """Each task of a task file, blocks included."""
    for task in doc or []:
        if not isinstance(task, dict):
            continue
        yield task
        for section in ("block", "rescue", "always"):
            yield from tasks_of(task.get(section))


def defined_inside(role: Path) -> set[str]:
    """Names the role sets itself: registers, facts, task vars, loop vars, vars/."""
    names: set[str] = set()
    for path in [*role.glob("tasks/*.yml"), *role.glob("handlers/*.yml")]:
        for task in tasks_of(yaml.safe_load(path.read_text())):
            if "register" in task:
                names.add(task["register"])
            names.update((task.get("vars") or {}).keys())
            names.update((task.get("ansible.builtin.set_fact") or {}).keys())
            loop_var = (task.get("loop_control") or {}).get("loop_var")
            if loop_var:
                names.add(loop_var)
    names.update(load(role / "vars/main.yml").keys())
    return names


def load(path: Path) -> dict:
    return (yaml.safe_load(path.read_text()) or {}) if path.exists() else {}


def read_names(role: Path) -> dict[str, set[str]]:
    """Variable name -> the role files that read it."""
    found: dict[str, set[str]] = {}
    sources: list[tuple[Path, list[str]]] = []
    for path in [*role.glob("tasks/*.yml"), *role.glob("handlers/*.yml"), *role.glob("defaults/*.yml")]:
        sources.append((path, list(strings(yaml.safe_load(path.read_text())))))
    for path in sorted(p for p in (role / "templates").rglob("*") if p.is_file()):
        sources.append((path, [path.read_text()]))
    for path, texts in sources:
        for text in texts:
            for name in expression_names(text):
                found.setdefault(name, set()).add(str(path.relative_to(role)))
    return found


def declared(role: Path) -> dict[str, dict]:
    specs = load(role / "meta/argument_specs.yml")["argument_specs"]
    options: dict[str, dict] = {}
    for entry in specs.values():
        options.update(entry.get("options") or {})
    return options


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_variable_a_role_reads_is_declared(role):
    inputs = set(declared(role)) | set(load(role / "defaults/main.yml"))
    undeclared = {name: sorted(files) for name, files in read_names(role).items()
                  if name not in inputs | defined_inside(role) | PROVIDED}
    assert not undeclared, f"{role.name} reads variables its argument_specs do not declare: {undeclared}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_declared_input_is_read(role):
    read = set(read_names(role))
    unused = sorted(set(declared(role)) - read)
    assert not unused, f"{role.name} declares inputs it never reads: {unused}"


@pytest.mark.parametrize("role", ROLES, ids=lambda r: r.name)
def test_every_default_is_declared_and_prefixed_by_the_role(role):
    defaults = set(load(role / "defaults/main.yml"))
    missing = defaults - set(declared(role))
    assert not missing, f"{role.name}: defaults missing from argument_specs: {missing}"
    assert all(name.startswith(role.name + "_") for name in defaults), sorted(defaults)


def test_clean_removes_the_roles_in_reverse_of_site_order():
    site = yaml.safe_load((ROOT / "playbooks/site.yml").read_text())
    site_roles = [r["role"] for play in site if "roles" in play for r in play["roles"]]
    clean = yaml.safe_load((ROOT / "playbooks/clean.yml").read_text())[0]
    assert clean["vars"]["zoolab_clean_roles"] == site_roles
    assert all((ROOT / "roles" / r / "tasks/remove.yml").exists() for r in site_roles)


def test_the_scanner_sees_an_undeclared_variable(tmp_path):
    role = tmp_path / "demo_role"
    (role / "tasks").mkdir(parents=True)
    (role / "meta").mkdir()
    (role / "meta/argument_specs.yml").write_text(
        "argument_specs:\n  main:\n    options:\n      demo_role_dir: {type: path}\n")
    (role / "tasks/main.yml").write_text(
        "- name: x\n  ansible.builtin.file:\n    path: '{{ demo_role_dir }}/{{ zoolab_state_dir }}'\n"
        "  when: not zoolab_only_service\n  register: demo_role_out\n")
    names = set(read_names(role)) - defined_inside(role) - set(declared(role))
    assert names == {"zoolab_state_dir", "zoolab_only_service"}
