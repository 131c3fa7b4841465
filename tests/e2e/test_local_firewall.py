"""Local mode enforces the service table's accept_from, not only each RPC
method's callers=: as root, every stack loads the containers' firewall rules
(the role's template, with its loopback addresses) into chains of its own net
(zoolab.localfw), and a connection from a service's address the table does not
allow is refused as a container would refuse it."""

from __future__ import annotations

import socket
import subprocess
import threading

import pytest

from tests.stack import running_stack
from zoobar import rpc
from zoolab import local as zooklocal
from zoolab import localfw, table
from zoolab.site import SiteClient, page_text

needs_root = pytest.mark.skipif(localfw.available() is not None,
                                reason=f"local firewall unavailable: {localfw.available()}")
LIGHT = ["auth", "bank", "echo"]      # three RPC services: cheap stacks for the concurrent test


@pytest.fixture(scope="module")
def walled(tmp_path_factory):
    """A whole local stack with the table's accept_from in force."""
    with running_stack(tmp_path_factory.mktemp("walled"), firewall=True) as stack:
        yield stack


def connects(stack, source: str | None, target: str) -> bool:
    """A TCP connection to ``target`` from ``source``'s address (None: the host's)."""
    with socket.socket() as sock:
        sock.settimeout(5)
        if source is not None:
            sock.bind((stack.sup.conf.require(source, "host"), 0))
        try:
            sock.connect(stack.address(target))
        except ConnectionRefusedError:
            return False
        return True


def check_matrix(stack, targets: list[str]) -> list[str]:
    """Every section's address to every running target, against the table:
    the pairs that behave otherwise."""
    expected = table.expected_matrix(localfw.local_rows(stack.net, stack.main_host,
                                                        stack.main_port))
    wrong = []
    for (src, dst), want in expected.items():
        if dst in targets and connects(stack, src, dst) != want["tcp"]:
            wrong.append(f"{src} -> {dst}: expected {'open' if want['tcp'] else 'refused'}")
    return wrong


def live_chains(net: int) -> list[str]:
    listing = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    return [line for line in listing.splitlines() if f"{localfw.stack_chain(net)}" in line]


@needs_root
def test_every_pair_of_the_whole_stack_behaves_as_the_table_says(walled):
    assert walled.firewall
    assert check_matrix(walled, walled.sup.names) == []
    assert connects(walled, None, "main"), "the host reaches the dispatcher"
    assert not connects(walled, None, "bank"), "the host is no caller of the bank"


@needs_root
def test_an_allowed_caller_is_answered_and_a_refused_one_gets_no_connection(walled):
    assert walled.client("echo", as_section="dynamic").call("echo", s="hi") == "hi"
    # profile never reaches auth (DESIGN 4.1): refused before any RPC is read
    with pytest.raises(rpc.RpcUnavailable, match="cannot reach auth"):
        walled.client("auth", as_section="profile").call("login", username="a", password="b")


@needs_root
def test_the_site_works_through_the_firewall(walled):
    """zookd2 reaches dynamic from main's address, dynamic reaches auth and bank,
    auth opens the account at the bank, the profile service reaches the bank."""
    alice, bob = SiteClient(walled.base, timeout=30), SiteClient(walled.base, timeout=30)
    assert alice.logged_in_as(alice.register("fwalice", "pw").text)
    assert bob.logged_in_as(bob.register("fwbob", "pw").text)
    assert "Sent 2 zoobars" in page_text(alice.transfer("fwbob", 2).text)
    alice.set_profile("#!python\nprint('balance', api.call('get_user_info', username='fwbob')['zoobars'])")
    assert "balance 12" in page_text(bob.users("fwalice").text)


@needs_root
def test_stacks_on_different_nets_enforce_their_own_rules_concurrently(tmp_path):
    stacks: dict[int, object] = {}
    release = threading.Event()
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            with running_stack(tmp_path / f"s{i}", sections=LIGHT, firewall=True) as stack:
                stacks[i] = stack
                release.wait(120)
        except BaseException as err:           # reported by the main thread
            errors.append(err)
            release.set()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(600):
            if len(stacks) == 3 or errors:
                break
            threading.Event().wait(0.2)
        assert not errors and len(stacks) == 3, errors
        a, b, c = stacks[0], stacks[1], stacks[2]
        assert len({a.net, b.net, c.net}) == 3 and a.firewall and b.firewall and c.firewall
        for stack in (a, b, c):
            assert check_matrix(stack, LIGHT) == [], stack.net
        # an allowed caller of one net is nobody on another net
        with socket.socket() as sock:
            sock.bind((a.sup.conf.require("dynamic", "host"), 0))
            with pytest.raises(ConnectionRefusedError):
                sock.connect(b.address("echo"))
    finally:
        release.set()
        for thread in threads:
            thread.join(60)
    assert not errors, errors
    for stack in (a, b, c):
        assert live_chains(stack.net) == [], "a stopped stack leaves no rules"


@needs_root
def test_a_crashed_stacks_chains_are_swept_when_a_stack_starts(tmp_path):
    claimed = localfw.claim_net(list(range(251, 255)))
    assert claimed is not None
    net, lock = claimed
    localfw.install(net, localfw.local_rows(net, f"127.{net}.0.4", 8080))
    assert live_chains(net)
    lock.close()                               # the stack "died": its lock is gone, its rules not
    with running_stack(tmp_path / "after", sections=["echo"], firewall=True) as stack:
        assert stack.firewall
        assert live_chains(net) == []
        assert live_chains(stack.net)


def test_each_services_local_rules_are_its_container_rules_with_loopback_addresses():
    rows = localfw.local_rows(42, "127.42.0.4", 8080)
    subnets = {r["name"]: r["subnet"] for r in rows}
    for row in rows:
        rules = localfw.service_rules(42, row)
        assert all(r.startswith(f"-A {localfw.service_chain(42, row)} ") for r in rules)
        accepted = {r.split("-s ")[1].split()[0] for r in rules if "-s " in r and "ACCEPT" in r}
        expected = {subnets[c] for c in row["callers"]} | {f"{row['host']}/32"}
        if row["public"]:
            expected.add(row["gateway"])
        assert accepted == expected, row["name"]
        assert not any("-i lo" in r for r in rules), "lo would accept every local caller"
        assert rules[-1].endswith("-j REJECT --reject-with icmp-port-unreachable")


def test_with_main_on_the_hosts_address_its_callers_know_it_by_that_address_alone():
    rows = {r["name"]: r for r in localfw.local_rows(1, "127.0.0.1", 8080)}
    dynamic = localfw.service_rules(1, rows["dynamic"])
    assert any("-s 127.0.0.1/32 " in r and r.endswith("-j ACCEPT") for r in dynamic)
    dispatch = [line for line in localfw.ruleset(1, list(rows.values())).splitlines()
                if line.startswith(f"-A {localfw.stack_chain(1)} -d 127.0.0.1/32")]
    assert dispatch == [f"-A zoolab-l1 -d 127.0.0.1/32 -p tcp --dport 8080 -j "
                        f"{localfw.service_chain(1, rows['main'])}"], "only main's port is main's"


def test_without_root_local_mode_says_accept_from_is_not_enforced(monkeypatch):
    monkeypatch.setattr(localfw, "available", lambda: "not running as root")
    said: list[str] = []
    with zooklocal.accept_from_enforced(42, "127.42.0.4", 8080, log=said.append) as enforced:
        assert enforced is False
    assert len(said) == 1 and "not running as root" in said[0] and "accept_from" in said[0]


def test_a_net_held_by_a_stack_cannot_be_claimed_twice(tmp_path):
    first = localfw.claim_net([7], lock_dir=tmp_path)
    assert first is not None
    assert localfw.claim_net([7], lock_dir=tmp_path) is None
    first[1].close()
    again = localfw.claim_net([7], lock_dir=tmp_path)
    assert again is not None
    again[1].close()

