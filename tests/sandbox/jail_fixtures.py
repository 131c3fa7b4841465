"""Fixtures of the jail's tests (import them into a test module to use them)."""

from __future__ import annotations

import pytest

from zoobar.sandbox import Sandbox


@pytest.fixture
def no_seccomp(tmp_path):
    """A Sandbox without the seccomp filter: to check that each other layer holds alone."""
    sb = Sandbox(root=str(tmp_path / "s"), seccomp=False)
    yield sb
    sb.close()
