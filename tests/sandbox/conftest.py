"""Fixtures for the sandbox tests.

``sandbox``: a Sandbox of its own (temporary root, no services) for the tests of
the confinement itself; its API handler is a plain function (helpers.echo_api).
``site``: a local stack with the services a profile run involves (auth, bank,
profile store, profile: real processes on loopback, tests/stack.py), driven
the way the front end drives it (RPC calls from the dynamic section's address).
(auth needs the honeychecker). All of it needs root (chroot, setuid, namespaces), as the profile service does.
"""

from __future__ import annotations

import os

import pytest

from tests.sandbox.helpers import Site
from tests.sandbox.wasm_helpers import BACKENDS, backend_env
from tests.stack import running_stack
from zoobar.sandbox import Limits, Sandbox

SECTIONS = ["auth", "honeychecker", "bank", "profilestore", "profile"]

if os.geteuid() != 0:
    pytest.skip("the sandbox needs root (chroot, setuid, namespaces)", allow_module_level=True)


@pytest.fixture
def sandbox(tmp_path) -> Sandbox:
    # Runs wait for their owner's turn up to 5 s, not the default 1 s: the tests
    # of turn-taking queue 1 s runs (test_profile_busy.py tests the default).
    sb = Sandbox(root=str(tmp_path / "sandbox"), limits=Limits(lock_wait=5.0))
    yield sb
    sb.close()


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request) -> str:
    """Each sandbox backend in turn (zoobar.sandbox.backends)."""
    return request.param


@pytest.fixture(scope="session")
def site(tmp_path_factory, backend) -> Site:
    with running_stack(tmp_path_factory.mktemp(f"sandbox-stack-{backend}"), sections=SECTIONS,
                       env=backend_env(backend)) as stack:
        s = Site(stack)
        s.backend = backend
        yield s
