"""Who may reach whom, derived from the service table.

The one place the grader, the diagram and Molecule's isolation checks turn the
table into an expected reachability matrix. TCP follows
``zoolab.table.allowed_edges`` (``accept_from: [any]`` opens a row's port to
clients outside the container network and to the host, never to another
container); ICMP is allowed only from the callers a row names explicitly.
"""

from __future__ import annotations

from zoolab import ROOT
from zoolab.render_conf import load_group_vars
from zoolab.table import allowed_edges, service_rows

__all__ = ["ROOT", "allowed_edges", "expected_matrix", "site_rows"]


def site_rows(overrides: dict | None = None) -> list[dict]:
    """The service table from group_vars, with derived fields (host, callers, ...)."""
    gv = load_group_vars(overrides)
    return service_rows(gv["zoolab_services"], gv["zoolab_net_prefix"],
                        gv["zoolab_service_host_octet"])


def expected_matrix(rows: list[dict]) -> dict[tuple[str, str], dict[str, bool]]:
    """{(source, destination): {"icmp": bool, "tcp": bool}} for every ordered pair."""
    tcp = allowed_edges(rows)
    by_name = {r["name"]: r for r in rows}
    matrix = {}
    for src in by_name:
        for dst, row in by_name.items():
            if src == dst:
                continue
            callers = [c for c in row.get("accept_from", []) or [] if c != "any"]
            matrix[(src, dst)] = {"icmp": src in callers, "tcp": (src, dst) in tcp}
    return matrix
