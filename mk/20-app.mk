# The zoobar application (issue 3): lint, tests, and local mode.

.PHONY: lint-python test-app local

# ruff over all our Python (configuration in ruff.toml).
lint-python:
	$(VENV)/bin/ruff check zoobar zoolab tests filter_plugins bench zook*.py

# Unit and local-integration tests of the application; the HTTP contract tests
# go through zookd2/zookfs, so build them first.
test-app:
	$(MAKE) --no-print-directory -C zookd
	$(PYTEST) -q tests/app

# The whole stack as local processes on 127.0.0.1:8080 until Ctrl-C
# (LOCAL_ARGS="--frontend cgi" runs the front end as index.cgi under zookfs).
local:
	$(MAKE) --no-print-directory -C zookd
	$(PYTHON) -m zoolab.local --net 1 --main-port 8080 --data-dir build/local $(LOCAL_ARGS)

TEST_TARGETS += lint-python test-app
