"""Fixtures for the end-to-end tests: the site under test.

By default a local stack (tests/stack.py, real processes on loopback). With
ZOOLAB_E2E_URL set (e.g. http://localhost:8888 from Molecule's verify) the
browser test drives that deployed site instead and no local stack is started.
"""

import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from tests.stack import local_stack  # noqa: E402,F401  (fixture)


@pytest.fixture(scope="session")
def site_url(request) -> str:
    """Base URL of the site the browser drives (no trailing slash)."""
    url = os.environ.get("ZOOLAB_E2E_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("local_stack").base
