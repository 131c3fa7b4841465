"""Run `make test`'s stages: chains side by side, each chain's stages in order.

    python -m zoolab.stages --chain "test-zookd test-app" --chain "test-molecule test-roles" \
        --after test-molecule "test-fleet"

Each stage is a make target. A chain runs its stages one after the other and
stops at its first failure; the chains run at the same time (the stages that
deploy on this host's LXC form one chain, so they never overlap; everything
else forms another). `--after STAGE CHAIN` starts a chain once STAGE has
passed, beside whatever follows STAGE in its own chain (the fleet's simulated
VMs reuse the base image test-molecule leaves, and touch nothing the host's
stages use); if STAGE fails or never runs, neither does that chain. Each
stage's output goes to LOGDIR/<stage>.log; the terminal gets one line when a
stage starts and one when it ends, with its time, then a table of all stages
and the last lines of each failed stage's log. Exit status 1 if any stage
failed or did not run.

ZOOLAB_TEST_SERIAL=1 runs all chains as one, in order (a chain given with
--after right after its chain's stages), with the stages' output on the
terminal (what `make test` did before the chains).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from zoolab import ROOT

TAIL_LINES = 60


@dataclass
class Stage:
    name: str
    state: str = "not run"
    seconds: float = 0.0
    log: Path | None = None
    finished: threading.Event = field(default_factory=threading.Event)


@dataclass
class Report:
    """What every chain reports, guarded for the chains' threads."""

    start: float = field(default_factory=time.monotonic)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def say(self, text: str) -> None:
        with self.lock:
            stamp = time.monotonic() - self.start
            print(f"==> [{stamp // 60:3.0f}m{stamp % 60:02.0f}s] {text}", flush=True)


def make_argv(stage: str) -> list[str]:
    return [os.environ.get("MAKE", "make"), "--no-print-directory", stage]


def run_stage(stage: Stage, workdir: Path, logdir: Path | None, report: Report) -> bool:
    report.say(f"make {stage.name} ...")
    began = time.monotonic()
    if logdir is None:
        rc = subprocess.call(make_argv(stage.name), cwd=workdir)
    else:
        stage.log = logdir / f"{stage.name}.log"
        with stage.log.open("wb") as log:
            rc = subprocess.call(make_argv(stage.name), cwd=workdir, stdout=log,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    stage.seconds = time.monotonic() - began
    stage.state = "passed" if rc == 0 else f"FAILED (exit {rc})"
    where = f", log {stage.log}" if stage.log else ""
    report.say(f"make {stage.name} {stage.state} in {stage.seconds:.0f} s{where}")
    return rc == 0


def run_chain(chain: list[Stage], workdir: Path, logdir: Path | None, report: Report,
              after: Stage | None = None) -> None:
    try:
        if after is not None:
            after.finished.wait()
            if after.state != "passed":
                report.say(f"{' '.join(s.name for s in chain)}: not run ({after.name} did not pass)")
                return
        for stage in chain:
            passed = run_stage(stage, workdir, logdir, report)
            stage.finished.set()        # what waits for this stage starts now
            if not passed:
                return
    finally:                            # and learns of stages that never ran
        for stage in chain:
            stage.finished.set()


def tail(path: Path, lines: int = TAIL_LINES) -> str:
    with path.open("rb") as fh:
        return b"".join(fh.readlines()[-lines:]).decode("utf-8", "replace")


def summary(chains: list[list[Stage]], wall: float) -> str:
    rows = [f"{'stage':18} {'result':22} time"]
    for number, chain in enumerate(chains, 1):
        for stage in chain:
            took = f"{stage.seconds:6.0f} s" if stage.state != "not run" else ""
            rows.append(f"{stage.name:18} {stage.state:22} {took}  (chain {number})")
    rows.append(f"{'wall clock':18} {'':22} {wall:6.0f} s")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--chain", action="append", required=True, metavar="'STAGE ...'",
                    help="make targets run in order (repeatable; chains run side by side)")
    ap.add_argument("--logs", default=str(ROOT / "artifacts" / "test"),
                    help="directory for each stage's log (default artifacts/test)")
    ap.add_argument("--directory", default=str(ROOT), help="where make runs (default: the checkout)")
    ap.add_argument("--after", action="append", nargs=2, default=[], metavar=("STAGE", "'STAGE ...'"),
                    help="a chain started once STAGE (of another chain) has passed (repeatable)")
    args = ap.parse_args(argv)
    chains = [[Stage(name) for name in chain.split()] for chain in args.chain]
    chains = [chain for chain in chains if chain]
    if not chains:
        ap.error("no stages given")
    later = [(name, [Stage(s) for s in chain.split()]) for name, chain in args.after]
    later = [(name, chain) for name, chain in later if chain]
    names = [stage.name for chain in chains + [c for _, c in later] for stage in chain]
    if len(set(names)) != len(names):
        ap.error(f"a stage is named twice: {' '.join(names)}")
    by_name = {stage.name: stage for chain in chains for stage in chain}
    for name, _ in later:
        if name not in by_name:
            ap.error(f"--after {name}: no chain given with --chain has that stage")
    # Each started chain (first) with what it waits for; the table lists them in this order.
    started: list[tuple[list[Stage], Stage | None]] = [(chain, None) for chain in chains]
    started += [(chain, by_name[name]) for name, chain in later]

    report = Report()
    workdir = Path(args.directory)
    if os.environ.get("ZOOLAB_TEST_SERIAL") == "1":
        serial: list[Stage] = []
        for chain in chains:
            serial += chain
            for name, dependent in later:
                if any(stage.name == name for stage in chain):
                    serial += dependent
        run_chain(serial, workdir, None, report)
    else:
        logdir = Path(args.logs)
        logdir.mkdir(parents=True, exist_ok=True)
        threads = [threading.Thread(target=run_chain, args=(chain, workdir, logdir, report, after),
                                    daemon=True)
                   for chain, after in started]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    every = [chain for chain, _ in started]
    print(summary(every, time.monotonic() - report.start), flush=True)
    failed = [stage for chain in every for stage in chain if stage.state != "passed"]
    for stage in failed:
        if stage.log and stage.log.exists():
            print(f"\n---- last {TAIL_LINES} lines of {stage.log} ----\n{tail(stage.log)}", flush=True)
    if failed:
        print(f"==> make test: {len(failed)} stage(s) failed or did not run: "
              f"{' '.join(stage.name for stage in failed)}", flush=True)
        return 1
    print(f"==> make test: all {len(names)} stages passed", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
