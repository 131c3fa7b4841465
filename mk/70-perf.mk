# Performance and load (issue 7): benchmarks against baselines started in the
# same invocation, and the load-and-invariants soak test.
#   make bench        every bench/ script, then one table (ours, baseline, ratio, goal)
#                     (BENCH_ARGS='--only dynamic,transfer'; BENCH_PROVISION=1 lets
#                     bench/provision run make clean + make up twice)
#   make soak         SOAK_USERS (50) virtual users for SOAK_SECONDS (60) on a local stack,
#                     or on the deployed site with SOAK_URL=http://127.0.0.1:8888
#   make test-soak    the short soak of `make test` (12 users, 20 s)

SOAK_USERS   ?= 50
SOAK_SECONDS ?= 60
SOAK_URL     ?=
BENCH_ARGS   ?=

.PHONY: bench soak test-soak bench-dynamic bench-transfer bench-provision

bench: zookd
	$(PYTHON) bench/run-all $(BENCH_ARGS) $(if $(BENCH_PROVISION),--provision)

bench-dynamic: zookd
	$(PYTHON) bench/dynamic

bench-transfer: zookd
	$(PYTHON) bench/transfer

bench-provision:
	$(PYTHON) bench/provision $(if $(BENCH_PROVISION),--run)

soak: zookd
	$(PYTHON) -m tests.soak.soak --users $(SOAK_USERS) --seconds $(SOAK_SECONDS) \
	    $(if $(SOAK_URL),--url $(SOAK_URL))

test-soak: zookd
	$(PYTEST) -q tests/soak

TEST_TARGETS += test-soak
