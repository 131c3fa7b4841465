#!/usr/bin/env python3
"""Grade a running zoolab site the way the course's grader does.

Prints one PASS:/FAIL:/SKIP: line per exercise and a final "N passed, N failed"
line; exits 1 if any exercise failed, 2 on bad usage.

    python -m zoolab.grade                                   # the deployed site on this host
    python -m zoolab.grade --url http://vm7:8888 --runner 'ssh root@vm7 lxc-attach -n {container} -- {cmd}'
    python -m zoolab.grade --local --data-dir DIR --url http://127.0.0.1:PORT
    python -m zoolab.grade --only firewall --only hashing    # exercises whose id starts so
    python -m zoolab.grade --edition 2026                    # as that edition's grader

The exercises are the edition's (DESIGN.md §3a; group_vars/all/editions.yml):
by default the one this host runs (its record, /var/lib/zoolab/site.json),
else 2022. Fresh-state editions restart containers with lxc-stop/lxc-start on
the host (--host-runner 'ssh root@vm7 {cmd}' for a remote one).

Container-side checks run through the runner (default `lxc-attach -n {container} --`).
With --local (a stack started by zoolab.local) they run on this machine
against the stack's data directory; checks that need containers (the firewall,
which container holds a database) are skipped with the reason.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from zoolab import ROOT, editions
from zoolab.grader.exercises import Context, exercises, run
from zoolab.table import site_rows
from zoolab.grader.site import DEFAULT_RUNNER, Runner


def local_rows(conf_path: Path) -> list[dict]:
    """The table's rows with the addresses the local stack's zook.conf gives them."""
    from zoobar import zookconf

    conf = zookconf.load(conf_path)
    rows = []
    for row in site_rows():
        if row["name"] in conf.names():
            row = dict(row)
            row["host"], row["port"] = conf.address(row["name"])
            rows.append(row)
    return rows


def build_context(args: argparse.Namespace) -> Context:
    edition = editions.load(editions.chosen(args.edition) if not args.local
                            else args.edition)
    if args.local:
        data = Path(args.data_dir).resolve()
        conf = Path(args.conf).resolve() if args.conf else data / "zook.conf"
        if not conf.is_file():
            raise SystemExit(f"grade: no zook.conf at {conf} (start the stack with "
                             "python -m zoolab.local --data-dir DIR, or give --conf)")
        return Context(base_url=args.url, runner=Runner(None), rows=local_rows(conf),
                       db_dir=str(data / "db"), zook_conf=str(conf), pythonpath=str(ROOT),
                       python=sys.executable, spec=edition.row)
    layout = edition.layout
    return Context(base_url=args.url, runner=Runner(args.runner), rows=site_rows(),
                   db_dir=args.container_db_dir or str(layout.db_dir), zook_conf=str(layout.zook_conf),
                   pythonpath=str(layout.home), spec=edition.row,
                   host=Runner(args.host_runner or None))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", default="http://localhost:8888", help="the site's base URL")
    ap.add_argument("--runner", default=DEFAULT_RUNNER,
                    help="command prefix that runs a command in {container}")
    ap.add_argument("--edition", help="grade as this edition (2022, 2023, 2024, 2026; default: "
                                      "what this host runs; local mode: 2022)")
    ap.add_argument("--host-runner", help="command prefix with {cmd} that runs a command on "
                                          "the site's host (default: this machine)")
    ap.add_argument("--container-db-dir", help="databases inside the containers "
                    "(default: zoolab_db_dir of group_vars)")
    ap.add_argument("--local", action="store_true", help="grade a local (no containers) stack")
    ap.add_argument("--data-dir", default=str(ROOT / "local"),
                    help="local mode: the stack's data directory (db/, zook.conf)")
    ap.add_argument("--conf", help="local mode: zook.conf (default DATA_DIR/zook.conf)")
    ap.add_argument("--only", action="append", metavar="ID",
                    help="grade only exercises whose id starts with ID (repeatable)")
    ap.add_argument("--list", action="store_true", help="list exercise ids and exit")
    args = ap.parse_args(argv)
    try:
        ctx = build_context(args)
    except editions.EditionError as err:
        ap.error(str(err))
    if args.list:
        for ident, title, _ in exercises(site_rows(), ctx.spec):
            print(f"{ident:24} {title}")
        return 0
    print(f"grading edition {ctx.spec['course']}", file=sys.stderr, flush=True)
    passed, failed, skipped = run(ctx, args.only)
    if passed + failed + skipped == 0:
        print(f"grade: no exercise matches {args.only}", file=sys.stderr)
        return 2
    tail = f", {skipped} skipped" if skipped else ""
    print(f"{passed} passed, {failed} failed{tail}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
