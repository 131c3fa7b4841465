"""The service table is data: one group_vars loader resolves templated values to
any depth, the rows hold no Jinja, the front end's mode is a parameter of the
table code, and the Python commands are the modules of zoobar/services/."""

from __future__ import annotations

import copy

import pytest

from tests.provision.helpers import ROOT
from zoolab import group_vars
from zoolab import table as zoolab_table


def write_vars(tmp_path, text: str):
    (tmp_path / "all.yml").write_text(text)
    return tmp_path


def test_a_value_templated_two_levels_deep_resolves(tmp_path):
    d = write_vars(tmp_path, 'a: "{{ b }}/x"\nb: "{{ c }}/y"\nc: /base\n')
    assert group_vars.load(directory=d)["a"] == "/base/y/x"


def test_templated_values_inside_lists_and_rows_resolve_through_other_variables(tmp_path):
    d = write_vars(tmp_path, 'rows:\n  - {port: "{{ p }}"}\np: "{{ q }}"\nq: 8081\n')
    assert group_vars.load(directory=d)["rows"] == [{"port": 8081}]


def test_an_override_is_seen_by_the_expressions_that_use_it(tmp_path):
    d = write_vars(tmp_path, 'a: "{{ b }}"\nb: one\n')
    assert group_vars.load({"b": "two"}, directory=d)["a"] == "two"


def test_a_cycle_is_a_clear_error_naming_the_variables(tmp_path):
    d = write_vars(tmp_path, 'a: "{{ b }}"\nb: "{{ a }}"\n')
    with pytest.raises(group_vars.GroupVarsError, match=r"cyclic reference: a -> b -> a"):
        group_vars.load(directory=d)


def test_an_undefined_name_is_a_clear_error_naming_the_variable(tmp_path):
    d = write_vars(tmp_path, 'a: "{{ nowhere }}"\n')
    with pytest.raises(group_vars.GroupVarsError, match=r"^a: .*nowhere"):
        group_vars.load(directory=d)


def test_the_repository_group_vars_resolve_including_playbook_dir():
    gv = group_vars.load()
    assert gv["zoolab_repo_dir"] == str(ROOT)


def test_the_service_table_holds_no_jinja():
    text = (ROOT / "group_vars/all/services.yml").read_text()
    assert "{{" not in text and "{%" not in text


@pytest.mark.parametrize(("mode", "cmd"), [("gunicorn", "frontend"), ("cgi", "zookfs")])
def test_the_front_end_mode_decides_the_front_end_rows_cmd(mode, cmd):
    rows = zoolab_table.site_rows({"zoolab_frontend_server": mode})
    assert next(r for r in rows if r["name"] == "dynamic")["cmd"] == cmd
    assert next(r for r in rows if r["name"] == "static")["cmd"] == "zookfs"


def test_an_unknown_front_end_mode_is_refused(table):
    with pytest.raises(zoolab_table.TableError, match="front end server 'uwsgi'"):
        zoolab_table.service_rows(table, frontend="uwsgi")


def test_python_commands_are_the_modules_of_zoobar_services_and_the_front_end():
    modules = {p.stem for p in (ROOT / "zoobar/services").glob("*.py") if p.stem != "__init__"}
    assert zoolab_table.PYTHON_CMDS == modules | {"frontend"}


def test_a_new_service_module_is_a_known_command(tmp_path):
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "ledger.py").write_text("")
    assert zoolab_table.python_commands(tmp_path) == {"ledger", "frontend"}


def test_a_cmd_that_is_no_service_module_is_refused(table):
    rows = copy.deepcopy(table)
    rows[-1]["cmd"] = "ledger"
    with pytest.raises(zoolab_table.TableError, match="unknown cmd 'ledger'"):
        zoolab_table.service_rows(rows)


def test_a_relative_dir_is_taken_from_the_applications_home(table):
    rows = zoolab_table.service_rows(table, home="/srv/zoobar-2022")
    assert {r["name"]: r["dir"] for r in rows if "dir" in r} == {"dynamic": "/srv/zoobar-2022",
                                                                 "static": "/srv/zoobar-2022"}
    assert {r["dir"] for r in zoolab_table.site_rows() if "dir" in r} == {
        group_vars.load(names=["zoolab_home"])["zoolab_home"]}


def test_a_dir_climbing_out_is_refused(table):
    rows = copy.deepcopy(table)
    next(r for r in rows if r["name"] == "static")["dir"] = "../etc"
    with pytest.raises(zoolab_table.TableError, match="dir '../etc'"):
        zoolab_table.service_rows(rows)
