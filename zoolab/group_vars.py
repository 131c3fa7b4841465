"""The one loader of group_vars/all/*.yml outside Ansible.

Merges the files in name order (a later file's key wins, as Ansible's
group_vars directory does) and resolves Jinja expressions in values the way
Ansible would for what our group_vars use: a value may name other variables,
which may themselves be templated, to any depth; ``playbook_dir`` is the
repository's playbooks/ directory; the ``dirname``/``basename`` filters exist.
A rendered value is read as YAML (``"8080"`` -> 8080, ``"[a, b]"`` -> a list).

An undefined name or a cycle raises GroupVarsError naming the variable.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import jinja2
import jinja2.meta
import yaml

from zoolab import ROOT

GROUP_VARS = ROOT / "group_vars" / "all"
MAX_DEPTH = 20


class GroupVarsError(ValueError):
    """A group_vars value cannot be resolved; the message names it."""


def read_files(directory: Path = GROUP_VARS) -> dict:
    """The merged, unresolved variables of every *.yml in ``directory``."""
    data: dict = {}
    for path in sorted(directory.glob("*.yml")):
        try:
            loaded = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            raise GroupVarsError(f"{path.name}: not valid YAML: {err}") from None
        if not isinstance(loaded, dict):
            raise GroupVarsError(f"{path.name}: must be a mapping of variables")
        data.update(loaded)
    return data


class _Resolver:
    def __init__(self, raw: dict):
        self.raw = raw
        self.done: dict[str, Any] = {}
        self.active: list[str] = []
        self.env = jinja2.Environment(undefined=jinja2.StrictUndefined)
        self.env.filters.update(dirname=os.path.dirname, basename=os.path.basename)

    def variable(self, name: str) -> Any:
        if name in self.done:
            return self.done[name]
        if name in self.active:
            raise GroupVarsError(f"{self.active[0]}: cyclic reference: {' -> '.join([*self.active, name])}")
        if len(self.active) >= MAX_DEPTH:
            raise GroupVarsError(f"{self.active[0]}: templated more than {MAX_DEPTH} levels deep")
        self.active.append(name)
        try:
            value = self.value(self.raw[name], name)
        finally:
            self.active.pop()
        self.done[name] = value
        return value

    def value(self, value: Any, where: str) -> Any:
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self.render(value, where)
        if isinstance(value, list):
            return [self.value(v, where) for v in value]
        if isinstance(value, dict):
            return {k: self.value(v, where) for k, v in value.items()}
        return value

    def render(self, text: str, where: str) -> Any:
        try:
            template = self.env.from_string(text)
            names = jinja2.meta.find_undeclared_variables(self.env.parse(text))
            context = {n: self.variable(n) for n in names if n in self.raw}
            rendered = template.render(**context)
        except jinja2.UndefinedError as err:
            raise GroupVarsError(f"{where}: {err}") from None
        except jinja2.TemplateSyntaxError as err:
            raise GroupVarsError(f"{where}: bad template {text!r}: {err}") from None
        try:
            return yaml.safe_load(rendered)
        except yaml.YAMLError:
            return rendered


def load(overrides: dict | None = None, directory: Path = GROUP_VARS,
         names: list[str] | None = None) -> dict:
    """Every group_vars variable (or only ``names`` and what they use), resolved.
    ``overrides`` win over the files (as ``-e`` does) and are seen by the
    expressions that use them; with ``names``, variables that need what only a
    play provides (facts) may stay unresolved."""
    raw = {"playbook_dir": str(ROOT / "playbooks"), **read_files(directory), **(overrides or {})}
    resolver = _Resolver(raw)
    return {name: resolver.variable(name) for name in (raw if names is None else names)}
