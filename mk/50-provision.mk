# Provisioning (issue 5): the site in unprivileged LXC containers on this
# machine, by Ansible (playbooks/, roles/). The course's command names do the
# same: ./zookld.py [service], ./zookstop.py, ./zookps.py, ./zookclean.py [service].
#   make up [EDITION=y] [SANDBOX=b]  bootstrap, then playbooks/site.yml under the host lock
#   make down / status      stop the containers / a table of them
#   make logs [SERVICE=x]   the services' logs, each line prefixed by its container
#   make clean              remove the containers, base image, bridges, rules
#   make lint-ansible       ansible-lint (production profile), yamllint, shellcheck
#   make test-provision     service-table validation tests (no containers)
# The containers' host directories, from group_vars (provision.yml).
ZOOLAB_CT_DIR    = $(shell $(PYTHON) -c 'from zoolab.group_vars import load; print(load()["zoolab_ct_dir"])')
LOG_LINES       ?= 50
PROVISION_LINT_PATHS := inventory playbooks roles group_vars

.PHONY: up down status logs clean lint-ansible test-provision
up: bootstrap
	$(PYTHON) zookld.py $(SITE_ARGS)
	@echo "zoolab: http://localhost:8888/zoobar/index.cgi/ (from elsewhere: http://$$(hostname -I | cut -d' ' -f1):8888/zoobar/index.cgi/)"

down:
	$(PYTHON) zookstop.py $(EDITION_ARGS)

status:
	$(PYTHON) zookps.py $(EDITION_ARGS)

logs:
	@set -e; for log in $(ZOOLAB_CT_DIR)/$(or $(SERVICE),*)/log/current; do \
	    [ -e "$$log" ] || { echo "no logs for $(or $(SERVICE),any service) (is the site up?)" >&2; exit 1; }; \
	    name=$$(basename "$$(dirname "$$(dirname "$$log")")"); \
	    tail -n $(LOG_LINES) "$$log" | sed "s/^/$$name | /"; \
	done | sort -s -t'|' -k2,2

clean:
	$(PYTHON) zookclean.py

# The bash that stays: these scripts here, and the rendered shell templates
# in tests/provision/test_shell_templates.py.
SHELL_SCRIPTS := scripts/bootstrap.sh scripts/molecule molecule/timed-test.sh \
                 molecule/fleet/files/fleet-vms.sh roles/zoolab_base/files/finish-image.sh

lint-ansible:
	ansible-lint --profile production $(PROVISION_LINT_PATHS)
	yamllint -s $(PROVISION_LINT_PATHS)
	shellcheck $(SHELL_SCRIPTS)

test-provision:
	$(PYTEST) -q tests/provision

TEST_TARGETS += lint-ansible test-provision
