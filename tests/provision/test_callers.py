"""The two access-control lists agree: each RPC method's ``callers=`` (in
zoobar/services/*.py, what the RPC library enforces, in local mode too) and the
service table's ``accept_from`` (what each container's firewall enforces).

- Every caller a method names is in its service's accept_from: otherwise the
  firewall silently refuses a call the code allows.
- Every accept_from edge of an RPC service is used by some method: otherwise
  the firewall opens a path no call needs (the table's edges are what a
  compromised caller can reach). Exceptions would be listed in
  UNUSED_EDGES_ALLOWED with the reason (a ping-only edge, say); today there
  are none.

Rows that run no RPC service (zookd2, zookfs, the front end) speak HTTP and
are not covered here: their accept_from is checked by the firewall tests.
"""

from __future__ import annotations

import copy
import importlib
import typing

from zoolab import table as zoolab_table

UNUSED_EDGES_ALLOWED: dict[tuple[str, str], str] = {}


def service_methods(cmd: str) -> dict[str, frozenset[str]]:
    """{method: callers} of the service class zoobar.services.<cmd>.make_service returns."""
    module = importlib.import_module(f"zoobar.services.{cmd}")
    cls = typing.get_type_hints(module.make_service)["return"]
    methods = {}
    for name in dir(cls):
        callers = getattr(getattr(cls, name, None), "_rpc_callers", None)
        if callers is not None:
            methods[name] = callers
    return methods


def rpc_rows(rows: list[dict]) -> list[dict]:
    return [r for r in rows if r["cmd"] in zoolab_table.PYTHON_CMDS - {zoolab_table.FRONTEND}]


def disagreements(rows: list[dict]) -> list[str]:
    problems = []
    for row in rpc_rows(rows):
        methods = service_methods(row["cmd"])
        accepted = set(row["accept_from"]) - {zoolab_table.ANY}
        for name, callers in sorted(methods.items()):
            for caller in sorted(callers - accepted):
                problems.append(f"{row['name']}.{name} accepts {caller}, the table does not")
        used = set().union(*methods.values()) if methods else set()
        for caller in sorted(accepted - used):
            if (caller, row["name"]) not in UNUSED_EDGES_ALLOWED:
                problems.append(f"{row['name']} accepts {caller} in the table, no method does")
    return problems


def test_every_rpc_service_row_has_methods():
    for row in rpc_rows(zoolab_table.site_rows()):
        assert service_methods(row["cmd"]), row["name"]


def test_methods_callers_and_the_tables_accept_from_agree():
    assert disagreements(zoolab_table.site_rows()) == []


def test_a_caller_the_table_refuses_is_reported():
    rows = copy.deepcopy(zoolab_table.site_rows())
    auth = next(r for r in rows if r["name"] == "auth")
    auth["accept_from"].remove("bank")
    assert any(p.startswith("auth.") and p.endswith("accepts bank, the table does not")
               for p in disagreements(rows))


def test_an_edge_no_method_uses_is_reported():
    rows = copy.deepcopy(zoolab_table.site_rows())
    echo = next(r for r in rows if r["name"] == "echo")
    echo["accept_from"].append("bank")
    assert disagreements(rows) == ["echo accepts bank in the table, no method does"]
