"""Fixtures for the provisioning tests: the repository's playbooks, templates
and service table, exercised without containers (helpers: tests/provision/helpers.py)."""

from __future__ import annotations

import copy

import jinja2
import pytest
import yaml

from tests.provision.helpers import ROOT
from zoolab import table as zoolab_table


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
