# Proof that the site deploys, works and is isolated (issue 6): the reachability
# diagram, the course-style grader, the browser test and the Molecule scenarios.

HOST_LOCK     := flock /run/zoolab-host.lock
# The fleet's simulated VMs (molecule/fleet) have their own bridge, LXC
# directories and zoolab state; they share nothing with the host's site but
# the base image they copy when they start, so they take their own lock.
FLEET_LOCK    := flock /run/zoolab-fleet.lock
GRADE_ARGS    ?=
MOLECULE_LOG  := artifacts/molecule

.PHONY: diagram test-docs lint-molecule check test-e2e molecule test-molecule test-roles test-editions test-fleet

# docs/reachability.{dot,svg} from the service table (Graphviz from Debian).
diagram:
	$(PYTHON) -m zoolab.diagram

# Fails when the committed diagram no longer matches group_vars.
test-docs:
	$(PYTHON) -m zoolab.diagram --check
	$(PYTEST) -q tests/e2e/test_diagram.py

# The scenarios' YAML and their filter plugin.
lint-molecule:
	yamllint -s molecule
	$(VENV)/bin/ruff check molecule

# Grade the deployed site course-style, the deployed edition's exercises
# (EDITION=y grades as that edition; GRADE_ARGS='--only firewall', '--local ...').
check:
	$(HOST_LOCK) $(PYTHON) -m zoolab.grade $(EDITION_ARGS) $(GRADE_ARGS)

# Browser test and grader tests against a local stack (no containers).
test-e2e:
	$(PYTEST) -q tests/e2e

# molecule test -s default: destroy, syntax, create, converge, idempotence,
# verify, destroy; each step timed into $(MOLECULE_LOG)/default-timings.txt.
molecule test-molecule:
	$(HOST_LOCK) bash molecule/timed-test.sh default $(MOLECULE_LOG)

# Each role alone (roles/<role>/molecule/default: that role and its
# prerequisites, converge, idempotence, what the role promises, remove), one
# after the other, each under the host lock. ROLES=zoolab_host picks one,
# ROLES=all runs all five. By default (and in `make test`, after test-molecule,
# beside the fleet, which does not use the host's site) the four whose
# prerequisites are not the whole site: zoolab_service's own scenario converges
# every role, which is test-molecule's converge, and test-molecule runs its
# verify playbook and its remove (clean.yml) on that site.
MOLECULE_ROLES := zoolab_host zoolab_base zookws_build zoobar_app zoolab_service
ROLES ?= $(filter-out zoolab_service,$(MOLECULE_ROLES))
ROLES_RUN = $(if $(filter all,$(ROLES)),$(MOLECULE_ROLES),$(ROLES))
test-roles:
	@set -e; for role in $(ROLES_RUN); do \
	    $(HOST_LOCK) bash molecule/timed-test.sh default $(MOLECULE_LOG) $$role; \
	done

# The 2026 edition on this host (molecule/edition2026): converge, idempotence,
# that edition's exercises of the grader; after test-molecule (whose destroy
# keeps the base image).
test-editions:
	$(HOST_LOCK) bash molecule/timed-test.sh edition2026 $(MOLECULE_LOG)

# Three simulated course VMs (nested LXC) provisioned in one run. In `make
# test` it starts once test-molecule has passed (its destroy keeps the base
# image the VMs copy), beside test-roles: the VMs use nothing else of the host's.
test-fleet:
	$(FLEET_LOCK) bash molecule/timed-test.sh fleet $(MOLECULE_LOG)

# test-editions is not in `make test`: it passes (408 s, 2 Dec), but the fleet,
# which is, already deploys and grades 2026 and 2023 on their own VMs, and the
# host's LXC chain (default, then the roles beside the fleet) sets make test's
# duration.
TEST_TARGETS += lint-molecule test-docs test-e2e test-molecule test-roles test-fleet
HOST_TEST_TARGETS += test-molecule test-roles
VM_TEST_TARGETS += test-fleet
