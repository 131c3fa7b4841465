# Executable profiles (issue 4): the sandbox, the profile service, the example
# profiles and the escape suite. Needs root (chroot, setuid, namespaces).

.PHONY: test-sandbox bench-profile

test-sandbox: zookd
	$(PYTEST) -q tests/sandbox

# p50/p99 of a profile view vs the plain home page, parallel owners vs one owner,
# and one sandbox run's wall time by phase.
bench-profile: zookd
	$(PYTHON) bench/profile

TEST_TARGETS += test-sandbox

# Hostile neighbour: bystanders' p50/p99 while one account floods slow views and
# registrations, vs the same bystanders on a quiet site (ratios in one run).
.PHONY: bench-hostile
bench-hostile: zookd
	$(PYTHON) bench/hostile
