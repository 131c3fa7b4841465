"""The layout paths zoolab.layout defines agree with what the roles, the
container's init script and the Makefile spell (they are not Python)."""

from __future__ import annotations

import re

import yaml

from tests.provision.helpers import ROOT
from zoolab import group_vars
from zoolab.layout import SV_ROOT, site_layout


def role_default(role: str, name: str):
    """A role default resolved against group_vars (only what it uses)."""
    raw = yaml.safe_load((ROOT / f"roles/{role}/defaults/main.yml").read_text())
    return group_vars.load(overrides=raw, names=[name])[name]


def test_the_roles_put_container_directories_where_the_layout_says():
    layout = site_layout()
    assert role_default("zoolab_service", "zoolab_service_ct_dir") == str(layout.ct_root)
    assert role_default("zoobar_app", "zoobar_app_ct_dir") == str(layout.ct_root)


def test_services_get_the_layouts_sandbox_root_and_zook_conf():
    env = role_default("zoolab_service", "zoolab_service_env")
    layout = site_layout()
    assert env["ZOOBAR_SANDBOX_ROOT"] == str(layout.sandbox_root)
    assert env["ZOOK_CONF"] == str(layout.zook_conf)
    assert env["ZOOBAR_DB_DIR"] == str(layout.db_dir)


def test_runit_service_directories_are_under_the_layouts_sv_root():
    init = (ROOT / "roles/zoolab_service/files/zoolab-init").read_text()
    assert f"sv={SV_ROOT}/$name" in init and f"runsvdir -P {SV_ROOT}" in init
    for handlers in ROOT.glob("roles/*/handlers/main.yml"):
        for path in re.findall(r"/run/zoolab/sv\S*", handlers.read_text()):
            assert path.startswith(f"{SV_ROOT}/"), handlers


def test_make_logs_reads_the_layouts_container_logs():
    makefile = (ROOT / "mk/50-provision.mk").read_text()
    ct_dir = re.search(r"^ZOOLAB_CT_DIR\s*:=\s*(\S+)", makefile, re.M).group(1)
    assert ct_dir == str(site_layout().ct_root)
    assert "$(ZOOLAB_CT_DIR)/$(or $(SERVICE),*)/log/current" in makefile
    assert str(site_layout().ct_log("auth")) == f"{ct_dir}/auth/log/current"
