"""Ansible filters over the service table: thin wrappers over the zoolab package.

zoolab_validated, zoolab_service_rows, zoolab_container_rows  (zoolab.table)
zoolab_expected_pairs  the reachability matrix Molecule's isolation checks
                       expect (zoolab.table.expected_matrix, as the grader and the diagram)

Ansible loads this file by path, not as part of a package, so it puts the
repository (this file's parent's parent) on sys.path to import zoolab: the
one place outside the CGI entry point that does.
"""

import sys
from pathlib import Path

_REPO = str(Path(__file__).resolve().parent.parent)
if _REPO not in sys.path:
    sys.path.insert(0, _REPO)

from zoolab import table  # noqa: E402


def zoolab_expected_pairs(rows):
    """[{src, dst, icmp, tcp}] for every ordered pair of rows, sorted."""
    return [{"src": src, "dst": dst, **want}
            for (src, dst), want in sorted(table.expected_matrix(rows).items())]


def _ansible_errors(func):
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except table.TableError as err:
            from ansible.errors import AnsibleFilterError

            raise AnsibleFilterError(f"service table: {err}") from None

    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class FilterModule:
    """Ansible entry point."""

    def filters(self) -> dict:
        return {
            "zoolab_validated": _ansible_errors(table.validate),
            "zoolab_service_rows": _ansible_errors(table.service_rows),
            "zoolab_container_rows": _ansible_errors(table.container_rows),
            "zoolab_expected_pairs": zoolab_expected_pairs,
        }
