"""Editions (group_vars/all/editions.yml): one variable moves the app root,
the state lifecycle and the services' environment, per host of an inventory,
and the host's record makes later commands act on the deployed edition."""

from __future__ import annotations

import json
import os
import re
import subprocess

import pytest
import yaml

from tests.provision.helpers import ROOT, run_playbook
from zoolab import editions
from zoolab.local import forget_state, local_env
from zoolab.group_vars import GroupVarsError
from zoolab.group_vars import load as load_group_vars

EDITIONS = ["2022", "2023", "2024", "2026"]
RENDER = ROOT / "tests/provision/files/render-editions.yml"


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> dict[str, dict]:
    """One ansible-playbook run over an inventory with a host per edition (and
    one that overrides the sandbox backend), rendering the roles' templates."""
    tmp = tmp_path_factory.mktemp("editions")
    hosts = {f"ed{e}": {"ansible_connection": "local", "zoolab_edition": e} for e in EDITIONS}
    hosts["edwasm"] = {"ansible_connection": "local", "zoolab_edition": "2026",
                       "zoolab_sandbox_backend": "wasm"}
    for host in hosts.values():
        host["ansible_python_interpreter"] = "{{ ansible_playbook_python }}"
    (tmp / "inventory.yml").write_text(yaml.safe_dump({"zoolab_hosts": {"hosts": hosts}}))
    (tmp / "group_vars").symlink_to(ROOT / "group_vars")
    (tmp / "out").mkdir()
    env = dict(os.environ, ANSIBLE_CONFIG=str(ROOT / "ansible.cfg"), ANSIBLE_NOCOLOR="1",
               ANSIBLE_LOCAL_TEMP=str(tmp / "ansible-tmp"))
    out = subprocess.run([str(ROOT / ".venv/bin/ansible-playbook"), "-i", str(tmp / "inventory.yml"),
                          str(RENDER), "-e", f"zl_out={tmp / 'out'}"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    return {host: json.loads((tmp / "out" / f"{host}.json").read_text()) for host in hosts}


def mounts(config: str) -> dict[str, str]:
    """target -> 'source type options' of each lxc.mount.entry."""
    found = {}
    for line in config.splitlines():
        if line.startswith("lxc.mount.entry"):
            source, target, *rest = line.split("=", 1)[1].split()
            found[target] = " ".join([source, *rest])
    return found


def exports(script: str) -> dict[str, str]:
    return dict(re.findall(r"^export (\w+)=(\S*)$", script, re.M))


def test_every_edition_is_a_complete_row():
    table = editions.table()
    assert list(table) == EDITIONS
    keys = set(table["2022"])
    for name, row in table.items():
        assert set(row) == keys, name
        assert row["state"] in ("kept", "fresh") and row["grader_db_read"] in ("live", "copy")


@pytest.mark.parametrize("edition", EDITIONS)
def test_app_zook_conf_and_dirs_live_under_the_editions_root(rendered, edition):
    root = editions.table()[edition]["root"]
    out = rendered[f"ed{edition}"]
    dirs = re.findall(r"^\s*dir = (\S+)$", out["zook.conf"], re.M)
    assert dirs and set(dirs) == {root}
    for name, config in out["configs"].items():
        home = [t for t, m in mounts(config).items()
                if m.split()[0] == f"/var/lib/zoolab/ct/{name}/home"]
        assert home == [root.lstrip("/")], name
    run = exports(out["zoolab-run"])
    assert run["ZOOK_CONF"] == f"{root}/zook.conf" and run["PYTHONPATH"] == root
    assert run["ZOOBAR_DB_DIR"] == f"{root}/zoobar/db"
    assert run["ZOOBAR_SANDBOX_ROOT"] == f"{root}/sandbox"
    assert f"cd {root} || exit 1\n" in out["zoolab-run"]


@pytest.mark.parametrize("edition", EDITIONS)
def test_services_get_the_editions_variables(rendered, edition):
    row = editions.table()[edition]
    run = exports(rendered[f"ed{edition}"]["zoolab-run"])
    assert run["ZOOBAR_EDITION"] == edition
    assert run["ZOOBAR_TRANSFER_DELAY_MAX"] == str(row["transfer_delay_max"])
    assert run["ZOOBAR_SANDBOX_BACKEND"] == row["sandbox_backend"]
    assert (edition == "2022") == (run["ZOOBAR_TRANSFER_DELAY_MAX"] == "0")


def test_a_host_can_override_the_sandbox_backend(rendered):
    assert exports(rendered["edwasm"]["zoolab-run"])["ZOOBAR_SANDBOX_BACKEND"] == "wasm"
    assert json.loads(rendered["edwasm"]["site.json"])["sandbox_backend"] == "wasm"


@pytest.mark.parametrize("edition", EDITIONS)
def test_fresh_editions_mount_a_tmpfs_on_all_state_and_kept_ones_none(rendered, edition, containers):
    row = editions.table()[edition]
    root = row["root"].lstrip("/")
    for item in containers:
        got = {t: m for t, m in mounts(rendered[f"ed{edition}"]["configs"][item["name"]]).items()
               if m.startswith("tmpfs ") and t not in ("dev/shm", "run", "tmp")}
        want = set()
        if row["state"] == "fresh":
            want |= {f"{root}/zoobar/db"} if item["databases"] else set()
            want |= {f"{root}/sandbox"} if item["cmd"] == "profile" else set()
        assert set(got) == want, (edition, item["name"], got)
        for target, options in got.items():
            # the service's user owns the databases' tmpfs, root the sandbox's
            uid = "0" if target.endswith("sandbox") else "1000"
            assert f"uid={uid}," in options and "nosuid" in options and "size=" in options


@pytest.mark.parametrize("edition", EDITIONS)
def test_the_host_records_what_it_runs(rendered, edition, tmp_path):
    record = json.loads(rendered[f"ed{edition}"]["site.json"])
    row = editions.table()[edition]
    assert record["edition"] == edition and record["root"] == row["root"]
    assert record["state"] == row["state"] and record["db_dir"] == f"{row['root']}/zoobar/db"
    (tmp_path / "site.json").write_text(rendered[f"ed{edition}"]["site.json"])
    assert editions.deployed(tmp_path / "site.json") == record


def test_an_unknown_edition_is_refused_before_anything_changes(tmp_path):
    out = run_playbook("validate.yml", tmp_path, {"zoolab_edition": "2025"})
    assert out.returncode != 0
    assert "unknown edition; choose one of 2022, 2023, 2024, 2026" in out.stdout
    out = run_playbook("validate.yml", tmp_path, {"zoolab_sandbox_backend": "docker"})
    assert out.returncode != 0 and "unknown backend" in out.stdout
    with pytest.raises(editions.EditionError, match="choose one of 2022, 2023, 2024, 2026"):
        editions.load("2025")
    with pytest.raises(editions.EditionError, match="unknown sandbox backend"):
        editions.load("2026", sandbox="docker")


def test_the_record_path_is_the_one_ansible_writes():
    assert str(editions.RECORD) == load_group_vars()["zoolab_site_record"]


def test_commands_use_the_deployed_edition_unless_told_otherwise(tmp_path):
    record = tmp_path / "site.json"
    assert editions.site_vars(record=record) == {}
    assert editions.chosen(record=record) == "2022"
    record.write_text(json.dumps({"edition": "2026", "sandbox_backend": "wasm"}))
    assert editions.site_vars(record=record) == {"zoolab_edition": "2026",
                                                  "zoolab_sandbox_backend": "wasm"}
    # another edition takes its own default backend; an explicit one wins
    assert editions.site_vars("2023", record=record) == {"zoolab_edition": "2023"}
    assert editions.site_vars("2023", "layered", record) == {"zoolab_edition": "2023",
                                                             "zoolab_sandbox_backend": "layered"}
    assert editions.chosen(record=record) == "2026"
    record.write_text("{not json")
    assert editions.site_vars(record=record) == {}


def test_group_vars_resolve_chains_and_refuse_cycles(monkeypatch):
    gv = load_group_vars({"zoolab_edition": "2024"})
    assert gv["zoolab_db_dir"] == "/app/zoobar/db" and gv["zoolab_fresh_state"] is True
    with pytest.raises(GroupVarsError, match="cyclic reference"):
        load_group_vars({"zoolab_home": "{{ zoolab_db_dir }}"})


def test_local_mode_gets_the_editions_variables_and_forgets_state(tmp_path):
    env = local_env(tmp_path / "zook.conf", tmp_path, edition="2026")
    assert env["ZOOBAR_EDITION"] == "2026" and env["ZOOBAR_TRANSFER_DELAY_MAX"] == "10"
    assert env["ZOOBAR_DB_DIR"] == str(tmp_path / "db")
    assert local_env(tmp_path / "zook.conf", tmp_path)["ZOOBAR_TRANSFER_DELAY_MAX"] == "0"
    (tmp_path / "db/cred").mkdir(parents=True)
    (tmp_path / "db/cred/cred.db").write_text("x")
    (tmp_path / "sandbox/owners/1").mkdir(parents=True)
    (tmp_path / "zook.conf").write_text("kept")
    forget_state(tmp_path)
    assert not (tmp_path / "db").exists() and not (tmp_path / "sandbox").exists()
    assert (tmp_path / "zook.conf").read_text() == "kept"
