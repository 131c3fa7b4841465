"""The short soak (make test-soak): a local stack under a realistic mix stays correct."""

from __future__ import annotations

import collections
import copy
import os
import pytest

from tests.soak.soak import LocalSite, check_invariants, run_load, summary
from tests.stack import running_stack

USERS = int(os.environ.get("SOAK_USERS", "12"))
SECONDS = float(os.environ.get("SOAK_SECONDS", "20"))

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="profile views need the sandbox (root)")


@pytest.fixture(scope="module")
def soaked(tmp_path_factory):
    """A stack that has just been under load: (site, tally, names, processes before)."""
    with running_stack(tmp_path_factory.mktemp("soak")) as stack:
        site = LocalSite(stack)
        before = site.processes()
        tally, names, _ = run_load(stack.base, USERS, SECONDS)
        print(summary(tally, SECONDS))
        yield site, tally, names, before


def test_load_exercised_every_part_of_the_mix(soaked):
    _, tally, _, _ = soaked
    assert sum(tally.transfers.values()) > 0
    for action in ("register", "view_user", "transfer", "home", "login"):
        assert tally.actions[action] > 0, action


def test_every_invariant_holds_after_the_load(soaked):
    site, tally, names, before = soaked
    assert check_invariants(site, tally, names, before) == []


# The checker itself: each invariant, broken on purpose, is reported.

def test_a_minted_zoobar_is_reported(soaked):
    site, tally, names, before = soaked
    site.stack.query("bank", "UPDATE bank SET zoobars = zoobars + 1 WHERE username = ?",
                     (names[0],))
    try:
        problems = check_invariants(site, tally, names, before)
    finally:
        site.stack.query("bank", "UPDATE bank SET zoobars = zoobars - 1 WHERE username = ?",
                    (names[0],))
    assert any("zoobars; expected" in p for p in problems), problems


def test_a_transfer_missing_from_the_log_is_reported(soaked):
    site, tally, names, before = soaked
    claimed = copy.copy(tally)
    claimed.transfers = tally.transfers + collections.Counter({(names[0], names[1], 1): 1})
    problems = check_invariants(site, claimed, names, before)
    assert any("transfer log differs" in p for p in problems), problems


def test_a_replaced_service_process_is_reported(soaked):
    site, tally, names, before = soaked
    problems = check_invariants(site, tally, names, {**before, "bank": (-1, 0)})
    assert any("service processes changed" in p for p in problems), problems
