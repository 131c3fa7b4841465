"""Ansible filter: the expected reachability matrix, for Molecule's isolation checks.

Thin wrapper over tools/grader/policy.py so that Molecule, the grader and the
diagram read the policy from one place.
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tools.grader.policy import expected_matrix  # noqa: E402


def zoolab_expected_pairs(rows):
    """[{src, dst, icmp, tcp}] for every ordered pair of rows, sorted."""
    return [{"src": src, "dst": dst, **want}
            for (src, dst), want in sorted(expected_matrix(rows).items())]


class FilterModule:
    def filters(self):
        return {"zoolab_expected_pairs": zoolab_expected_pairs}
