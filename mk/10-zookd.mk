# The C core (zookd/): zookd2, zookfs, their unit tests, fuzzers, benchmark.
#   make zookd          normal build (zookd/build/) - what ZOOLAB_BINDIR points at
#   make test-zookd     sanitizer build + C unit tests + pytest tests/zookd on it
#   make fuzz           every libFuzzer target for FUZZ_SECONDS (default 60)
#   make fuzz-smoke     what `make test` runs: every target >= 60 s, two at a time
#   make bench-static   zookd2->zookfs vs nginx on loopback (wrk), prints ratios

FUZZ_SECONDS ?= 60
FUZZ_JOBS    ?= 1

.PHONY: zookd zookd-san test-zookd fuzz fuzz-smoke bench-static
zookd:
	$(MAKE) -C zookd

zookd-san:
	$(MAKE) -C zookd SANITIZE=1 all unit

test-zookd: zookd-san
	ZOOLAB_BINDIR=$(CURDIR)/zookd/build-san $(PYTEST) -q tests/zookd

fuzz:
	$(MAKE) -C zookd fuzz-build
	zookd/fuzz/run.sh $(FUZZ_SECONDS) $(FUZZ_JOBS)

fuzz-smoke:
	$(MAKE) -C zookd fuzz-build
	zookd/fuzz/run.sh $$(( $(FUZZ_SECONDS) < 60 ? 60 : $(FUZZ_SECONDS) )) 2

bench-static: zookd
	$(PYTHON) bench/static

TEST_TARGETS += test-zookd fuzz-smoke
