"""Fixtures for the provisioning tests: the repository's playbooks, templates
and service table, exercised without containers (helpers: tests/provision/helpers.py)."""

from __future__ import annotations

import copy

import pytest

from zoolab import group_vars as zoolab_group_vars
from zoolab import table as zoolab_table


@pytest.fixture(scope="session")
def group_vars() -> dict:
    """Every group_vars variable, resolved (zoolab.group_vars, as local mode reads them)."""
    return zoolab_group_vars.load()


@pytest.fixture
def table(group_vars) -> list[dict]:
    """A private copy of the default service table, to break in a test."""
    return copy.deepcopy(group_vars["zoolab_services"])


@pytest.fixture(scope="session")
def containers(group_vars) -> list[dict]:
    gv = group_vars
    return zoolab_table.container_rows(zoolab_table.site_rows(), gv["zoolab_idmap_base"],
                                       gv["zoolab_idmap_size"], gv["zoolab_student_uid"],
                                       gv["zoolab_bridge_prefix"])
