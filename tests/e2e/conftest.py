"""Fixtures for the end-to-end tests: the site under test.

By default a local stack (tests/stack.py, real processes on loopback). With
ZOOLAB_E2E_URL set (e.g. http://localhost:8888 from Molecule's verify) the
browser test drives that deployed site instead and no local stack is started.
"""

import os

import pytest

from tests.stack import local_stack  # noqa: F401  (fixture)


@pytest.fixture(scope="session")
def site_url(request) -> str:
    """Base URL of the site the browser drives (no trailing slash)."""
    url = os.environ.get("ZOOLAB_E2E_URL")
    if url:
        return url.rstrip("/")
    return request.getfixturevalue("local_stack").base
