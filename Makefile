# zoolab: two commands matter, `make up` (run the site on this machine) and
# `make test` (everything CI runs). Each area adds its own targets in mk/*.mk;
# this file only holds what they share.

SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV    := .venv
PYTHON  := $(VENV)/bin/python
PYTEST  := $(VENV)/bin/pytest
export PATH := $(CURDIR)/$(VENV)/bin:$(PATH)
# The checkout's packages (zoobar, zoolab, tests, bench) for every Python a target
# starts (the bench/ scripts, python -m zoolab.x); no code edits sys.path.
export PYTHONPATH := $(CURDIR)

# The course edition and the profile sandbox's backend `make up` deploys:
#   make up EDITION=2022|2023|2024|2026 SANDBOX=kernel|wasm|layered
# Unset: what this host runs already (its record, /var/lib/zoolab/site.json),
# else group_vars/all/editions.yml's defaults. `make check`, `make down` and
# `make status` act on the deployed edition unless EDITION= says otherwise.
EDITION ?=
SANDBOX ?=
EDITION_ARGS := $(if $(EDITION),--edition $(EDITION))
SITE_ARGS    := $(EDITION_ARGS) $(if $(SANDBOX),--sandbox $(SANDBOX))

# Each mk/*.mk appends the targets `make test` runs, in file-name order, and
# names in HOST_TEST_TARGETS those that deploy on this host's LXC, in
# VM_TEST_TARGETS those that deploy in the fleet's simulated VMs (nested LXC:
# they share nothing with the host's site but the base image they copy).
TEST_TARGETS :=
HOST_TEST_TARGETS :=
VM_TEST_TARGETS :=

.PHONY: help bootstrap test
help:
	@echo "make up      set up and run the site on this machine (http://<vm>:8888/zoobar/index.cgi/)"
	@echo "make test    all tests: lint, C core, application, sandbox, molecule"
	@echo "make local   run the whole stack as local processes (http://127.0.0.1:8080/zoobar/index.cgi/)"
	@echo "other targets: status down clean logs check fuzz bench soak (see README.md)"

# Debian packages and the Python venv; quick when nothing changed.
bootstrap:
	@bash scripts/bootstrap.sh

include $(sort $(wildcard mk/*.mk))

# Chains side by side (python -m zoolab.stages): the stages that deploy on
# this host's LXC, one after the other; beside them all the others; and once
# the host chain's first stage has passed (it leaves the base image the VMs
# copy), the VM stages beside the rest of the host chain. Each stage's output:
# artifacts/test/<stage>.log. ZOOLAB_TEST_SERIAL=1: one chain, output on the
# terminal.
HOST_CHAIN := $(filter $(HOST_TEST_TARGETS),$(TEST_TARGETS))
test: bootstrap
	@MAKE="$(MAKE)" $(PYTHON) -m zoolab.stages \
	    --chain "$(filter-out $(HOST_TEST_TARGETS) $(VM_TEST_TARGETS),$(TEST_TARGETS))" \
	    --chain "$(HOST_CHAIN)" \
	    --after $(firstword $(HOST_CHAIN)) "$(filter $(VM_TEST_TARGETS),$(TEST_TARGETS))"
