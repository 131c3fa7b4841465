"""Local mode's firewall: the service table's ``accept_from`` enforced on loopback.

In containers each service's INPUT rules come from the role template
``roles/zoolab_service/templates/etc/zoolab/iptables.rules.j2``. Local mode
renders that same template for every row, with the stack's loopback addresses
(``127.<net>.<lxcbr>.4``, subnets ``127.<net>.<lxcbr>.0/24``, the container
network ``127.<net>.0.0/16``), and loads the rules into iptables chains of its
own, so that a connection from a service's address that the table does not
allow is refused exactly as a container would refuse it:

    zoolab-l<net>            jumped to from INPUT for loopback traffic; sends
                             each packet to the chain of the service it is for
    zoolab-l<net>-<lxcbr>    one service's INPUT rules from the template (its
                             ``-i lo`` rule, "the container itself", becomes
                             "from the service's own address")

Chains are per stack (per net), so stacks on different nets never touch each
other's rules. They are removed when the stack stops; a stack that crashed
leaves them behind, and ``sweep_stale`` (called on every start) removes the
chains of every net whose lock (``claim_net``) nobody holds. Needs root
(iptables); otherwise ``install`` warns and only each RPC method's
``callers=`` is enforced.
"""

from __future__ import annotations

import fcntl
import ipaddress
import os
import re
import shutil
import subprocess
from pathlib import Path

from zoolab import ROOT, render_conf, table

RULES_TEMPLATE = ROOT / "roles/zoolab_service/templates/etc/zoolab/iptables.rules.j2"
NET_LOCK_DIR = Path(os.environ.get("ZOOLAB_NET_LOCK_DIR", "/tmp/zoolab-nets"))
CHAIN_PREFIX = "zoolab-l"
_CHAIN_RE = re.compile(rf"^{CHAIN_PREFIX}(\d+)(?:-\d+)?$")
RESTORE_TRIES = 5


class FirewallError(RuntimeError):
    """iptables refused the local rules (the message has its answer)."""


def claim_net(candidates: list[int], lock_dir: Path = NET_LOCK_DIR):
    """The first free net of ``candidates`` and the open lock file that holds it
    (closing it frees the net), or None when all are taken."""
    lock_dir.mkdir(exist_ok=True)
    for net in candidates:
        handle = open(lock_dir / f"{net}.lock", "w")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.close()
            continue
        return net, handle
    return None


def stack_chain(net: int) -> str:
    return f"{CHAIN_PREFIX}{net}"


def service_chain(net: int, row: dict) -> str:
    return f"{CHAIN_PREFIX}{net}-{row['lxcbr']}"


def local_rows(net: int, main_host: str, main_port: int, frontend: str | None = None) -> list[dict]:
    """The table's rows with local mode's addresses and the fields the rule
    template reads (``callers``, ``caller_subnets``, ``subnet``, ``network``,
    ``gateway``, ``public``), as table.container_rows gives them to Ansible."""
    overrides = {"zoolab_net_prefix": f"127.{net}", "zoolab_service_host_octet": 4}
    if frontend:
        overrides["zoolab_frontend_server"] = frontend
    rows = table.site_rows(overrides)
    rows = render_conf.local_overrides(rows, net, main_host, main_port, ROOT)
    network = ipaddress.ip_network(f"127.{net}.0.0/16")
    for row in rows:
        # make local's main on 127.0.0.1: its callers know it by that address
        # alone (which the host's own clients share)
        if ipaddress.ip_address(row["host"]) not in network:
            row["subnet"] = f"{row['host']}/32"
    return table.container_rows(rows)


def service_rules(net: int, row: dict) -> list[str]:
    """One service's rules from the container template, for its own chain."""
    text = render_conf.render_template(RULES_TEMPLATE, item=row)
    chain = service_chain(net, row)
    rules = []
    for line in text.splitlines():
        if not line.startswith("-A INPUT "):
            continue
        spec = line[len("-A INPUT "):]
        # inside a container, lo carries only the container's own traffic
        spec = re.sub(r"(^|\s)-i lo(?=\s|$)", rf"\1-s {row['host']}/32", spec)
        rules.append(f"-A {chain} {spec}")
    return rules


def ruleset(net: int, rows: list[dict]) -> str:
    """The iptables-restore input (``--noflush``) that loads one stack's chains."""
    network = ipaddress.ip_network(f"127.{net}.0.0/16")
    top = stack_chain(net)
    lines = ["*filter", f":{top} - [0:0]"]
    lines += [f":{service_chain(net, row)} - [0:0]" for row in rows]
    for row in rows:
        # a service outside the stack's network (make local's main on
        # 127.0.0.1) shares its address with the host: only its port is its
        match = "" if ipaddress.ip_address(row["host"]) in network else f" -p tcp --dport {row['port']}"
        lines.append(f"-A {top} -d {row['host']}/32{match} -j {service_chain(net, row)}")
    for row in rows:
        lines += service_rules(net, row)
    lines += [f"-I INPUT 1 -i lo -j {top}", "COMMIT", ""]
    return "\n".join(lines)


def available() -> str | None:
    """None when this process can load rules, else why not."""
    if os.geteuid() != 0:
        return "not running as root"
    if not shutil.which("iptables") or not shutil.which("iptables-restore"):
        return "iptables is not installed"
    return None


def _iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    proc = subprocess.run(["iptables", "-w", *args], capture_output=True, text=True, timeout=60)
    if check and proc.returncode != 0:
        raise FirewallError(f"iptables {' '.join(args)}: {proc.stderr.strip()}")
    return proc


def _live() -> tuple[set[str], list[str]]:
    """Our chains in the filter table, and INPUT's rules that jump to one of them."""
    listing = _iptables("-S").stdout.splitlines()
    chains = {line.split()[1] for line in listing
              if line.startswith("-N ") and _CHAIN_RE.match(line.split()[1])}
    jumps = [line for line in listing
             if line.startswith("-A INPUT ") and re.search(rf"-j {CHAIN_PREFIX}\d+$", line)]
    return chains, jumps


def remove(nets: set[int]) -> set[str]:
    """Delete the chains (and INPUT's jumps to them) of ``nets``; the chains removed."""
    chains, jumps = _live()
    mine = {c for c in chains if int(_CHAIN_RE.match(c).group(1)) in nets}
    for jump in jumps:
        if jump.split()[-1] in mine:
            _iptables("-D", *jump.split()[1:], check=False)
    for chain in sorted(mine):
        _iptables("-F", chain, check=False)
    for chain in sorted(mine, key=len, reverse=True):    # service chains, then the stack's
        _iptables("-X", chain, check=False)
    return mine


def sweep_stale(lock_dir: Path = NET_LOCK_DIR) -> set[int]:
    """Remove the chains of nets nobody holds the lock of (stacks that died
    without stopping); the nets swept."""
    chains, _ = _live()
    stale = set()
    for net in sorted({int(_CHAIN_RE.match(c).group(1)) for c in chains}):
        claimed = claim_net([net], lock_dir)
        if claimed is None:
            continue                     # a running stack holds it
        try:
            remove({net})
            stale.add(net)
        finally:
            claimed[1].close()
    return stale


def install(net: int, rows: list[dict]) -> None:
    """Load one stack's chains (replacing any left on its net). The caller
    holds the net's lock."""
    remove({net})
    text = ruleset(net, rows)
    for _ in range(RESTORE_TRIES):
        proc = subprocess.run(["iptables-restore", "-w", "--noflush"], input=text,
                              capture_output=True, text=True, timeout=60)
        if proc.returncode == 0:
            return
        # another stack's transaction may have been committed in between
        remove({net})
    raise FirewallError(f"iptables-restore of net {net}'s rules: {proc.stderr.strip()}")
