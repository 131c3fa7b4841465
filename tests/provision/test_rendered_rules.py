"""The firewall rules are rendered from the service table: each container's
INPUT rules accept exactly its callers (and anyone on main's port), and the
host rules forward only between bridges and to the dispatcher, never NAT out."""

from __future__ import annotations

import ipaddress
import re

import pytest

from tests.provision.helpers import ROOT, render
from zoobar import zookconf
from zoolab import render_conf
from zoolab import table as zoolab_table

SERVICE_TEMPLATES = ROOT / "roles/zoolab_service/templates"
HOST_TEMPLATES = ROOT / "roles/zoolab_host/templates"


def container_rules(item: dict) -> list[str]:
    text = render(SERVICE_TEMPLATES / "etc/zoolab/iptables.rules.j2", item=item)
    return [line for line in text.splitlines() if line.startswith("-A INPUT")]


def accepted_sources(rules: list[str]) -> set[str]:
    return {m.group(1) for line in rules if (m := re.search(r"-s (\S+) .*-j ACCEPT", line))}


def test_each_container_accepts_exactly_its_callers_subnets(containers, group_vars):
    by_subnet = {c["subnet"]: c["name"] for c in containers}
    edges = zoolab_table.allowed_edges(group_vars["zoolab_services"])
    for item in containers:
        if item["public"]:
            continue
        callers = {by_subnet[s] for s in accepted_sources(container_rules(item))}
        assert callers == {src for src, dst in edges if dst == item["name"]}, item["name"]


def test_replies_are_accepted_first_and_everything_else_rejected_last(containers):
    for item in containers:
        rules = container_rules(item)
        assert "--ctstate ESTABLISHED,RELATED -j ACCEPT" in rules[0], item["name"]
        assert rules[-1] == "-A INPUT -j REJECT --reject-with icmp-port-unreachable"
        assert rules[-2] == "-A INPUT -p tcp -j REJECT --reject-with tcp-reset"


def test_only_the_public_service_accepts_its_port_from_anyone(containers):
    for item in containers:
        opens_port = any(f"--dport {item['port']}" in r and "ACCEPT" in r and "-s " not in r
                         for r in container_rules(item))
        assert opens_port == item["public"], item["name"]


def test_the_public_service_refuses_other_containers_before_opening_its_port(containers):
    for item in (c for c in containers if c["public"]):
        rules = container_rules(item)
        opened = next(i for i, r in enumerate(rules) if "-s " not in r and f"--dport {item['port']}" in r)
        refused = [i for i, r in enumerate(rules) if f"-s {item['network']}" in r and "REJECT" in r]
        assert refused and max(refused) < opened, item["name"]
        host = next(i for i, r in enumerate(rules) if f"-s {item['gateway']} " in r and "ACCEPT" in r)
        assert host < min(refused), "the host must still reach the dispatcher"


def test_container_ranges_are_distinct_and_unprivileged(containers, group_vars):
    size = group_vars["zoolab_idmap_size"]
    starts = [c["uid_base"] for c in containers]
    assert len(set(starts)) == len(starts)
    assert min(starts) > 0
    ranges = sorted((s, s + size) for s in starts)
    assert all(a[1] <= b[0] for a, b in zip(ranges, ranges[1:], strict=False)), "id ranges overlap"
    for c in containers:
        assert c["uid_base"] < c["student_host"] < c["uid_base"] + size


def test_student_uid_outside_the_range_is_refused(containers):
    with pytest.raises(zoolab_table.TableError, match="does not fit"):
        zoolab_table.container_rows(containers, 100000, 1000, 1000)


@pytest.fixture(scope="module")
def host_rules(containers, group_vars) -> str:
    main = next(c for c in containers if c["cmd"] == "zookd2")
    return render(HOST_TEMPLATES / "etc/zoolab/host-firewall.rules.j2", zoolab_main=main,
                  zoolab_bridge_prefix=group_vars["zoolab_bridge_prefix"],
                  zoolab_public_port=group_vars["zoolab_public_port"])


def test_host_rules_never_nat_container_traffic_out(host_rules):
    assert "MASQUERADE" not in host_rules
    snat = [r for r in host_rules.splitlines() if "-j SNAT" in r]
    # The one SNAT rewrites the host's own loopback source, towards main only.
    assert len(snat) == 1 and "-s 127.0.0.0/8" in snat[0] and "-o lxcbr0" in snat[0]


def test_host_guard_drops_whatever_leaves_or_enters_a_bridge_otherwise(host_rules):
    forward = [r for r in host_rules.splitlines() if r.startswith("-A ZOOLAB-FORWARD")]
    assert forward[0] == "-A ZOOLAB-FORWARD -i lxcbr+ -o lxcbr+ -j ACCEPT"
    assert forward[-2:] == ["-A ZOOLAB-FORWARD -i lxcbr+ -j DROP", "-A ZOOLAB-FORWARD -o lxcbr+ -j DROP"]


def test_public_port_goes_to_the_dispatcher_from_outside_and_localhost(host_rules, containers):
    main = next(c for c in containers if c["cmd"] == "zookd2")
    target = f"--to-destination {main['host']}:{main['port']}"
    assert any(r.startswith("-A ZOOLAB-PREROUTING") and target in r for r in host_rules.splitlines())
    assert any(r.startswith("-A ZOOLAB-OUTPUT") and target in r for r in host_rules.splitlines())


def test_host_rules_only_use_zoolab_chains(host_rules):
    chains = set(re.findall(r"^-A (\S+)", host_rules, re.M)) | set(re.findall(r"^:(\S+)", host_rules, re.M))
    assert chains and all(c.startswith("ZOOLAB-") for c in chains), chains


def test_every_container_address_is_in_its_bridge_subnet(containers):
    for c in containers:
        assert ipaddress.ip_address(c["host"]) in ipaddress.ip_network(c["subnet"])
        assert c["bridge"] == f"lxcbr{c['lxcbr']}"


def normalized_input_rules(rules: list[str]) -> list[str]:
    """A container's INPUT rules as zook.conf's fwrule lines say them: without
    the conntrack and loopback rules, comments, the REJECT flavour (tcp-reset and
    icmp-port-unreachable are one `-j REJECT`) and the `-p tcp` of a REJECT."""
    out = []
    for rule in rules:
        if "--ctstate" in rule or " -i lo " in rule:
            continue
        rule = re.sub(r' -m comment --comment "[^"]*"', "", rule.removeprefix("-A INPUT "))
        if "-j REJECT" in rule:
            rule = re.sub(r" --reject-with \S+", "", rule)
            rule = re.sub(r"(^| )-p tcp ", r"\1", rule)
        if not out or out[-1] != rule:
            out.append(rule)
    return out


def test_zook_conf_fwrules_say_what_each_containers_firewall_enforces(containers):
    conf = zookconf.parse(render_conf.render())
    subnets = {c["name"]: c["subnet"] for c in containers}
    for item in containers:
        said = [re.sub(r"-s ([a-z][a-z0-9]*) ", lambda m: f"-s {subnets[m.group(1)]} ", rule)
                for rule in conf.getall(item["name"], "fwrule")]
        assert said == normalized_input_rules(container_rules(item)), item["name"]
