#!/usr/bin/env python3
"""Render zook.conf from the service table, for local mode and tests.

The containers get the same file from Ansible (roles/zoobar_app); this script
renders the very same template with plain Jinja2 so that local mode cannot
drift from what is deployed. In local mode each service listens on its own
loopback address, 127.<net>.<lxcbr>.4, so that the RPC servers can still tell
callers apart by source address, and main listens on 127.0.0.1 (or --main-host).

    python -m zoolab.render_conf --local [--net 1] [--main-port 8080] [-o zook.conf]
    python -m zoolab.render_conf           # container addresses, to stdout
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import jinja2
import jinja2.meta
import yaml

from zoolab import ROOT
from zoolab.table import TableError, service_rows

TEMPLATE = ROOT / "roles/zoobar_app/templates/zook.conf.j2"


def load_group_vars(overrides: dict | None = None) -> dict:
    """Merge group_vars/all/*.yml and resolve Jinja expressions in values.

    A value may refer to variables that are expressions themselves
    (``zoolab_db_dir`` -> ``zoolab_app_dir`` -> ``zoolab_home`` -> the
    edition's row): each is resolved, once, before the value using it, as
    Ansible's lazy templating does."""
    data: dict = {}
    for path in sorted((ROOT / "group_vars/all").glob("*.yml")):
        data.update(yaml.safe_load(path.read_text()) or {})
    # What Ansible itself provides to group_vars expressions (magic variable, filters).
    data = {"playbook_dir": str(ROOT / "playbooks"), **data, **(overrides or {})}
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    env.filters.update(dirname=os.path.dirname, basename=os.path.basename)
    done: dict = {}

    def variable(name: str, using: tuple[str, ...]):
        if name not in done:
            if name in using:
                raise ValueError(f"group_vars: {' -> '.join((*using, name))} refers to itself")
            done[name] = resolve(data[name], (*using, name))
        return done[name]

    def resolve(value, using: tuple[str, ...]):
        if isinstance(value, str) and "{{" in value:
            names = jinja2.meta.find_undeclared_variables(env.parse(value))
            known = {n: variable(n, using) for n in names if n in data}
            return yaml.safe_load(env.from_string(value).render(**known))
        if isinstance(value, list):
            return [resolve(v, using) for v in value]
        if isinstance(value, dict):
            return {k: resolve(v, using) for k, v in value.items()}
        return value

    return {k: variable(k, ()) for k in data}


def local_overrides(rows: list[dict], net: int, main_host: str, main_port: int,
                    app_root: Path) -> list[dict]:
    """Loopback addresses and local paths instead of the containers' ones."""
    out = []
    for row in rows:
        row = dict(row)
        row["host"] = f"127.{net}.{row['lxcbr']}.4"
        if row["cmd"] == "zookd2":
            row["host"] = main_host
            row["port"] = main_port
        if "dir" in row:
            row["dir"] = str(app_root)
        out.append(row)
    return out


def render(local: bool = False, net: int = 1, main_host: str = "127.0.0.1",
           main_port: int = 8080, overrides: dict | None = None,
           app_root: Path = ROOT) -> str:
    gv = load_group_vars(overrides)
    rows = service_rows(gv["zoolab_services"], gv["zoolab_net_prefix"],
                        gv["zoolab_service_host_octet"])
    if local:
        rows = local_overrides(rows, net, main_host, main_port, app_root)
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATE.parent)),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    return env.get_template(TEMPLATE.name).render(zoolab_rows=rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--local", action="store_true", help="loopback addresses and paths")
    ap.add_argument("--net", type=int, default=1, help="second octet of local addresses")
    ap.add_argument("--main-host", default="127.0.0.1")
    ap.add_argument("--main-port", type=int, default=8080)
    ap.add_argument("--frontend", choices=["gunicorn", "cgi"], help="override the front end mode")
    ap.add_argument("-o", "--output", help="write here instead of stdout")
    args = ap.parse_args(argv)
    if not 2 <= args.net <= 254 and args.net != 1:
        ap.error("--net must be 1..254")
    overrides = {"zoolab_frontend_server": args.frontend} if args.frontend else None
    try:
        text = render(args.local, args.net, args.main_host, args.main_port, overrides)
    except TableError as err:
        print(f"render_conf: service table: {err}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
