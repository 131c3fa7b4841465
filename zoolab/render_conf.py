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
import sys
from pathlib import Path

import jinja2

from zoolab import ROOT
from zoolab.group_vars import GroupVarsError
from zoolab.table import TableError, site_rows

TEMPLATE = ROOT / "roles/zoobar_app/templates/zook.conf.j2"


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
    rows = site_rows(overrides)
    if local:
        rows = local_overrides(rows, net, main_host, main_port, app_root)
    return render_template(TEMPLATE, zoolab_rows=rows)


def render_template(template: Path, **variables) -> str:
    """A role's template rendered with plain Jinja2 the way Ansible renders it
    (trim_blocks; ``ansible_managed`` says who rendered it)."""
    env = jinja2.Environment(loader=jinja2.FileSystemLoader(str(template.parent)),
                             trim_blocks=True, lstrip_blocks=True,
                             undefined=jinja2.StrictUndefined, keep_trailing_newline=True)
    variables.setdefault("ansible_managed", "rendered by zoolab for local mode")
    return env.get_template(template.name).render(**variables)


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
    except GroupVarsError as err:
        print(f"render_conf: group_vars: {err}", file=sys.stderr)
        return 2
    if args.output:
        Path(args.output).write_text(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
