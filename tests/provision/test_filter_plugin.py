"""filter_plugins/zoolab.py, loaded by path as Ansible loads it (the repository
not on sys.path), finds the zoolab package and offers the table's filters."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.provision.helpers import ROOT
from zoolab import table

LOAD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("zoolab_filters", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
filters = module.FilterModule().filters()
rows = json.loads(sys.stdin.read())
print(json.dumps({"names": sorted(filters), "pairs": filters["zoolab_expected_pairs"](rows)}))
"""


def test_the_shim_loads_without_the_repository_on_sys_path():
    rows = table.site_rows()
    # -I: no PYTHONPATH, no current directory, no user site: only the shim can add the repository
    out = subprocess.run([sys.executable, "-I", "-c", LOAD, str(ROOT / "filter_plugins/zoolab.py")],
                         input=json.dumps(rows), capture_output=True, text=True, timeout=60, cwd="/")
    assert out.returncode == 0, out.stderr
    got = json.loads(out.stdout)
    assert got["names"] == ["zoolab_container_rows", "zoolab_expected_pairs", "zoolab_service_rows",
                            "zoolab_validated"]
    want = [{"src": s, "dst": d, **v} for (s, d), v in sorted(table.expected_matrix(rows).items())]
    assert got["pairs"] == want
