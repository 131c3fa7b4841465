"""The play refuses an inconsistent service table at once, naming the row,
before anything on the host changes (no containers needed)."""

from __future__ import annotations

import pytest

from tests.provision.helpers import run_playbook


def row(table, name):
    return next(r for r in table if r["name"] == name)


def broken_tables():
    """(what is wrong, how to break the default table, the row the message names)."""

    def same_bridge(t):
        row(t, "bank")["lxcbr"] = row(t, "auth")["lxcbr"]

    def unknown_http_svc(t):
        row(t, "main")["http_svcs"] = ["dynamic", "nosuch"]

    def unknown_caller(t):
        row(t, "auth")["accept_from"] = ["dynamic", "ghost"]

    def bad_url(t):
        row(t, "static")["url"] = "/zoobar/media/(.*"

    def port_out_of_range(t):
        row(t, "echo")["port"] = 70000

    return [
        ("two services on one bridge", same_bridge, "service 'bank'", "lxcbr3 already used"),
        ("unknown name in http_svcs", unknown_http_svc, "service 'main'", "'nosuch'"),
        ("unknown accepted caller", unknown_caller, "service 'auth'", "'ghost'"),
        ("bad url regex", bad_url, "service 'static'", "not a valid regex"),
        ("port out of range", port_out_of_range, "service 'echo'", "70000"),
    ]


@pytest.mark.parametrize("what,breaker,row_named,detail", broken_tables(),
                         ids=[case[0] for case in broken_tables()])
def test_validation_fails_naming_the_row(tmp_path, table, what, breaker, row_named, detail):
    breaker(table)
    result = run_playbook("validate.yml", tmp_path, {"zoolab_services": table})
    assert result.returncode != 0, f"{what}: the playbook accepted the table"
    assert row_named in result.stdout, result.stdout
    assert detail in result.stdout, result.stdout


def test_default_table_passes_validation(tmp_path):
    result = run_playbook("validate.yml", tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "failed=0" in result.stdout


def test_site_stops_at_the_table_before_touching_the_host(tmp_path, table):
    row(table, "profile")["accept_from"] = ["dynamic", "nobody"]
    result = run_playbook("site.yml", tmp_path, {"zoolab_services": table}, "--check")
    assert result.returncode != 0
    assert "service 'profile'" in result.stdout
    # No role ran: the first play (validation) ended the run.
    assert "zoolab_host" not in result.stdout, result.stdout
    assert "PLAY [Provision zoolab]" not in result.stdout


def test_unknown_service_name_is_refused(tmp_path):
    result = run_playbook("validate.yml", tmp_path, {"zoolab_only_service": "nosuch"})
    assert result.returncode != 0
    assert "no service named nosuch" in result.stdout
