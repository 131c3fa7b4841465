"""The service table as data: validation, derived fields, who may reach whom.

The one table-access layer: Ansible (through filter_plugins/zoolab.py, as the
filters ``zoolab_validated``, ``zoolab_service_rows``, ``zoolab_container_rows``
and ``zoolab_expected_pairs``), zoolab.render_conf (local mode), the grader, the
diagram and the tests all read the table through these functions, so they read
it the same way. The rows in group_vars/all/services.yml are plain data; the
front end's mode (``zoolab_frontend_server``) is a parameter applied here.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from pathlib import Path
from typing import Any

SERVICES_DIR = Path(__file__).resolve().parent.parent / "zoobar" / "services"
FRONTEND = "frontend"
BINARY_CMDS = frozenset({"zookd2", "zookfs"})
# zoolab_frontend_server -> the cmd a `cmd: frontend` row runs with: the Flask
# app under gunicorn, or zookfs executing index.cgi (the row's `exec`).
FRONTEND_SERVERS = {"gunicorn": FRONTEND, "cgi": "zookfs"}
ANY = "any"
MAX_BRIDGE = 9
DEFAULT_HOME = "/home/student"


def python_commands(services_dir: Path = SERVICES_DIR) -> frozenset[str]:
    """The Python commands zoobar.serve can start: every module of
    zoobar/services/ (an RPC service, by its module name) and the front end."""
    return frozenset({p.stem for p in services_dir.glob("*.py") if not p.stem.startswith("_")}
                     | {FRONTEND})


PYTHON_CMDS = python_commands()


class TableError(ValueError):
    """The service table is inconsistent; the message names the row."""


def _row_name(row: Any, index: int) -> str:
    if isinstance(row, dict) and isinstance(row.get("name"), str):
        return f"service {row['name']!r} (row {index + 1})"
    return f"row {index + 1}"


def _check_regex(pattern: str, where: str) -> None:
    # POSIX ERE is what zookd2 uses; Python's re accepts a superset of the
    # syntax we allow, so reject the Python-only constructs explicitly.
    if re.search(r"\(\?|\\[dDwWsSbB]|\*\?|\+\?|\?\?", pattern):
        raise TableError(f"{where}: url {pattern!r} uses syntax POSIX regex lacks")
    try:
        re.compile(pattern)
    except re.error as err:
        raise TableError(f"{where}: url {pattern!r} is not a valid regex: {err}") from None


def validate(services: Any) -> list[dict]:
    """Check the table; return it unchanged or raise TableError naming the row."""
    if not isinstance(services, list) or not services:
        raise TableError("the service table must be a non-empty list of rows")
    names: dict[str, str] = {}
    bridges: dict[int, str] = {}
    for i, row in enumerate(services):
        where = _row_name(row, i)
        if not isinstance(row, dict):
            raise TableError(f"{where}: must be a mapping")
        for key in ("name", "cmd", "lxcbr", "port"):
            if key not in row:
                raise TableError(f"{where}: missing key {key!r}")
        name = row["name"]
        if not isinstance(name, str) or not re.fullmatch(r"[a-z][a-z0-9]{0,30}", name):
            raise TableError(f"{where}: name must be lower-case letters and digits")
        if name in names:
            raise TableError(f"{where}: name {name!r} already used by {names[name]}")
        names[name] = where
        cmd = row["cmd"]
        if cmd not in PYTHON_CMDS | BINARY_CMDS:
            raise TableError(f"{where}: unknown cmd {cmd!r}")
        br = row["lxcbr"]
        if not isinstance(br, int) or isinstance(br, bool) or not 0 <= br <= MAX_BRIDGE:
            raise TableError(f"{where}: lxcbr must be an integer 0..{MAX_BRIDGE}")
        if br in bridges:
            raise TableError(f"{where}: bridge lxcbr{br} already used by {bridges[br]}")
        bridges[br] = where
        port = row["port"]
        if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
            raise TableError(f"{where}: port {port!r} out of range 1..65535")
        if "url" in row:
            if not isinstance(row["url"], str) or not row["url"]:
                raise TableError(f"{where}: url must be a non-empty string")
            _check_regex(row["url"], where)
        if "dir" in row and (not isinstance(row["dir"], str) or not row["dir"]
                             or ".." in row["dir"].split("/")):
            raise TableError(f"{where}: dir {row.get('dir')!r} must be a path without '..'")
        for path in row.get("exec", []) or []:
            if not isinstance(path, str) or not path.startswith("/") or ".." in path:
                raise TableError(f"{where}: exec path {path!r} must be absolute, no '..'")
        for db in row.get("databases", []) or []:
            if not isinstance(db, str) or not re.fullmatch(r"[a-z][a-z0-9_]*", db):
                raise TableError(f"{where}: database name {db!r} is not a plain name")
    for i, row in enumerate(services):
        where = _row_name(row, i)
        for svc in row.get("http_svcs", []) or []:
            if svc not in names:
                raise TableError(f"{where}: http_svcs names unknown service {svc!r}")
            target = next(r for r in services if r["name"] == svc)
            if "url" not in target:
                raise TableError(f"{where}: http_svcs service {svc!r} has no url")
        callers = row.get("accept_from", []) or []
        if not isinstance(callers, list):
            raise TableError(f"{where}: accept_from must be a list")
        for caller in callers:
            if caller != ANY and caller not in names:
                raise TableError(f"{where}: accept_from names unknown service {caller!r}")
            if caller == row["name"]:
                raise TableError(f"{where}: accept_from names the service itself")
    return services


def service_rows(services: list[dict], net_prefix: str = "10.1", host_octet: int = 4,
                 hosts: dict[str, str] | None = None, frontend: str = "gunicorn",
                 home: str = DEFAULT_HOME) -> list[dict]:
    """Validated rows with derived fields added.

    cmd      a ``frontend`` row's cmd follows ``frontend`` (FRONTEND_SERVERS)
    dir      a relative ``dir`` is taken from ``home`` (zoolab_home, the
             application's home in the containers): ``.`` is home itself

    host     the address the service listens on and is reached at
    subnet   its bridge's /24 (what other containers' rules accept)
    gateway  the bridge address on the host
    callers  accept_from without "any"; public: True when "any" is present
    network  the whole container network (every bridge's subnet); a public
             service still refuses it unless the caller is listed: "any"
             means clients outside the container network and the host
    """
    validate(services)
    if frontend not in FRONTEND_SERVERS:
        raise TableError(f"front end server {frontend!r} is not one of {', '.join(FRONTEND_SERVERS)}")
    rows = []
    for row in services:
        br = row["lxcbr"]
        out = dict(row)
        if row["cmd"] == FRONTEND:
            out["cmd"] = FRONTEND_SERVERS[frontend]
        if "dir" in row:
            out["dir"] = posixpath.normpath(posixpath.join(home, row["dir"]))
        out.setdefault("http_svcs", [])
        out.setdefault("exec", [])
        out.setdefault("databases", [])
        out.setdefault("accept_from", [])
        out["subnet"] = str(ipaddress.ip_network(f"{net_prefix}.{br}.0/24"))
        out["network"] = str(ipaddress.ip_network(f"{net_prefix}.0.0/16"))
        out["gateway"] = f"{net_prefix}.{br}.1"
        out["host"] = (hosts or {}).get(row["name"], row.get("host") or f"{net_prefix}.{br}.{host_octet}")
        out["public"] = ANY in out["accept_from"]
        out["callers"] = [c for c in out["accept_from"] if c != ANY]
        rows.append(out)
    return rows


def container_rows(rows: list[dict], idmap_base: int = 100000, idmap_size: int = 65536,
                   student_uid: int = 1000, bridge_prefix: str = "lxcbr") -> list[dict]:
    """Rows from service_rows() with what the row's LXC container needs.

    bridge         the host bridge it is attached to (lxcbr<N>)
    uid_base       first host id of its own id range: root inside maps to it;
                   ranges are keyed on the bridge number, which the table keeps
                   unique, so no two containers share one
    student_host   the host id of the service user inside it
    caller_subnets the subnets of accept_from (what its INPUT rules accept)
    """
    if not 0 <= student_uid < idmap_size:
        raise TableError(f"student uid {student_uid} does not fit an id range of {idmap_size}")
    subnets = {row["name"]: row["subnet"] for row in rows}
    out = []
    for row in rows:
        item = dict(row)
        item["bridge"] = f"{bridge_prefix}{row['lxcbr']}"
        item["uid_base"] = idmap_base + row["lxcbr"] * idmap_size
        item["student_host"] = item["uid_base"] + student_uid
        item["caller_subnets"] = [subnets[c] for c in row["callers"]]
        out.append(item)
    return out


def allowed_edges(services: list[dict]) -> set[tuple[str, str]]:
    """(source, destination) container pairs the policy allows, for tests and diagrams.

    "any" opens a service to clients outside the container network (browsers
    through the host's public port, the host itself), never to another
    container: a compromised container reaches only the rows that name it
    (DESIGN 4.1: a compromised static can reach no other container).
    """
    validate(services)
    edges = set()
    for row in services:
        for caller in row.get("accept_from", []) or []:
            if caller != ANY:
                edges.add((caller, row["name"]))
    return edges


def expected_matrix(rows: list[dict]) -> dict[tuple[str, str], dict[str, bool]]:
    """{(source, destination): {"icmp": bool, "tcp": bool}} for every ordered pair.

    TCP follows allowed_edges (``accept_from: [any]`` opens a row's port to
    clients outside the container network and to the host, never to another
    container); ICMP is allowed only from the callers a row names explicitly.
    What the grader's firewall exercise, the diagram and Molecule's isolation
    checks expect.
    """
    tcp = allowed_edges(rows)
    by_name = {r["name"]: r for r in rows}
    matrix = {}
    for src in by_name:
        for dst, row in by_name.items():
            if src == dst:
                continue
            callers = [c for c in row.get("accept_from", []) or [] if c != ANY]
            matrix[(src, dst)] = {"icmp": src in callers, "tcp": (src, dst) in tcp}
    return matrix


def site_rows(overrides: dict | None = None, hosts: dict[str, str] | None = None) -> list[dict]:
    """The site's table from group_vars (zoolab.group_vars), with derived fields,
    in the front-end mode group_vars (or ``overrides``) select."""
    from zoolab import group_vars

    gv = group_vars.load(overrides)
    return service_rows(gv["zoolab_services"], gv["zoolab_net_prefix"],
                        gv["zoolab_service_host_octet"], hosts, gv["zoolab_frontend_server"],
                        gv["zoolab_home"])
