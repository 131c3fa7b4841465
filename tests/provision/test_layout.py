"""The layout paths are defined once, in group_vars (provision.yml): zoolab.layout
reads them from there, and the roles, the containers' init script and the
Makefile name the variables instead of spelling the paths."""

from __future__ import annotations

import re

from tests.provision.helpers import ROOT
from zoolab import group_vars
from zoolab.layout import site_layout

SPELLED = re.compile(r"/var/lib/zoolab/ct|/run/zoolab/sv|zoolab_state_dir \}\}/(ct|bin|src)\b")


def test_the_layout_is_what_group_vars_define():
    gv, layout = group_vars.load(), site_layout()
    assert str(layout.ct_root) == gv["zoolab_ct_dir"]
    assert str(layout.sv_dir("auth")) == gv["zoolab_sv_dir"] + "/auth"
    assert str(layout.ct_log("auth")) == gv["zoolab_ct_dir"] + "/auth/log/current"


def test_services_get_the_layouts_sandbox_root_and_zook_conf():
    raw = group_vars.read_files(ROOT / "roles/zoolab_service/defaults")
    env = group_vars.load(overrides={**raw, "zoolab_containers": []})["zoolab_service_env"]
    layout = site_layout()
    assert env["ZOOBAR_SANDBOX_ROOT"] == str(layout.sandbox_root)
    assert env["ZOOK_CONF"] == str(layout.zook_conf)
    assert env["ZOOBAR_DB_DIR"] == str(layout.db_dir)


def test_no_role_playbook_or_makefile_spells_a_layout_path():
    files = [p for pattern in ("roles/**/*.yml", "roles/**/*.j2", "playbooks/**/*.yml", "mk/*.mk")
             for p in ROOT.glob(pattern) if "molecule" not in p.parts]
    spelled = {str(p.relative_to(ROOT)): m.group(0) for p in files if (m := SPELLED.search(p.read_text()))}
    assert not spelled
    init = (ROOT / "roles/zoolab_service/templates/opt/zoolab/bin/zoolab-init.j2").read_text()
    assert "sv={{ zoolab_sv_dir }}/$name" in init and "runsvdir -P {{ zoolab_sv_dir }}" in init
    assert '["zoolab_ct_dir"]' in (ROOT / "mk/50-provision.mk").read_text()
