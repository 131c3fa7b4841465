"""Fixtures for the application tests: a shared local stack and two logged-in users
(the HTTP helpers are in tests/app/helpers.py)."""

from __future__ import annotations

import pytest

from tests.app.helpers import register, unique
from tests.stack import local_stack  # noqa: F401  (pytest fixture)


@pytest.fixture
def two_users(local_stack):  # noqa: F811  (the imported fixture)
    """Two freshly registered users and their logged-in sessions."""
    a, b = unique("alice"), unique("bob")
    return (a, register(local_stack, a)), (b, register(local_stack, b))
