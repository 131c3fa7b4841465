"""The reachability picture and the expected matrix follow the service table."""

import copy
import re
from zoolab import diagram
from zoolab.table import expected_matrix, site_rows


def rows_without_caller(service: str, caller: str) -> list[dict]:
    rows = copy.deepcopy(site_rows())
    row = next(r for r in rows if r["name"] == service)
    row["accept_from"] = [c for c in row["accept_from"] if c != caller]
    row["callers"] = [c for c in row["callers"] if c != caller]
    return rows


def test_committed_diagram_matches_the_service_table():
    assert diagram.main(["--check"]) == 0


def test_every_named_caller_gets_an_arrow():
    dot = diagram.to_dot(site_rows())
    for row in site_rows():
        for caller in row["callers"]:
            assert f"  {caller} -> {row['name']} [" in dot


def test_removing_a_caller_from_the_table_removes_its_arrow():
    dot = diagram.to_dot(rows_without_caller("bank", "profile"))
    assert "  profile -> bank [" not in dot
    assert "  dynamic -> bank [" in dot


def test_a_public_service_is_drawn_once_from_anyone_not_from_every_container():
    dot = diagram.to_dot(site_rows())
    assert '  anyone -> main [label="tcp/8080 only"' in dot
    assert "  static -> main [" not in dot


def test_diagram_text_is_deterministic():
    assert diagram.to_dot(site_rows()) == diagram.to_dot(list(reversed(site_rows())))


def test_matrix_static_reaches_no_other_container():
    matrix = expected_matrix(site_rows())
    reached = {dst: m for (src, dst), m in matrix.items() if src == "static"}
    assert all(m == {"icmp": False, "tcp": False} for m in reached.values())


def test_matrix_profile_never_reaches_auth():
    assert expected_matrix(site_rows())[("profile", "auth")] == {"icmp": False, "tcp": False}


def test_matrix_main_reaches_dynamic_and_static_by_ping_and_tcp():
    matrix = expected_matrix(site_rows())
    assert matrix[("main", "dynamic")] == {"icmp": True, "tcp": True}
    assert matrix[("main", "static")] == {"icmp": True, "tcp": True}
    assert matrix[("main", "auth")] == {"icmp": False, "tcp": False}


def test_matrix_covers_every_ordered_pair_once():
    names = [r["name"] for r in site_rows()]
    assert len(expected_matrix(site_rows())) == len(names) * (len(names) - 1)


def test_architecture_table_has_one_line_per_service_with_its_callers():
    table = diagram.to_markdown(site_rows())
    for row in site_rows():
        line = next(x for x in table.splitlines() if x.startswith(f"| {row['name']} |"))
        for caller in row["callers"]:
            assert caller in re.split(r"(?<!\\)\|", line)[5]   # cells split on unescaped |


def test_stale_architecture_table_is_replaced_between_its_markers():
    doc = f"intro\n{diagram.TABLE_BEGIN}\nold table\n{diagram.TABLE_END}\noutro\n"
    new = diagram.with_table(doc, "| new |\n")
    assert new == f"intro\n{diagram.TABLE_BEGIN}\n| new |\n{diagram.TABLE_END}\noutro\n"
