# Makefile: the front door; CMake does the work underneath in build/.
BUILD    ?= build
PREFIX   ?= /usr/local
JOBS     ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_FLAGS ?=
SAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan

.PHONY: all build run test check-quick install asan tsan clean fuzz lint valgrind

all: build

$(BUILD)/CMakeCache.txt:
	@command -v cmake >/dev/null || { echo "cmake not found: apt-get install cmake" >&2; exit 1; }
	cmake -S . -B $(BUILD) -DCMAKE_INSTALL_PREFIX=$(PREFIX) $(CMAKE_FLAGS)

build: $(BUILD)/CMakeCache.txt
	cmake --build $(BUILD) -j $(JOBS)

run: build
	./$(BUILD)/sockserv chat

# ctest in $(BUILD) with the arguments given, then one line counting the passed,
# skipped (each with its reason) and failed tests (tests/ctest_summary.py, from
# ctest's JUnit report: ctest 3.21 or later); the exit status is ctest's.
# CTEST_ARGS adds arguments, e.g. make test CTEST_ARGS="-R chat".
CTEST_ARGS ?=
SS_JUNIT = Testing/sockserv-junit.xml
define run_ctest
	@cd $(BUILD) && rm -f $(SS_JUNIT) && \
	if ctest --help | grep -q -- --output-junit; then report="--output-junit $(SS_JUNIT) --test-output-size-passed 1048576"; else report=; fi && \
	status=0 && { ctest --output-on-failure -j $(JOBS) $$report $(1) $(CTEST_ARGS) || status=$$?; } && \
	{ [ -z "$$report" ] || python3 $(CURDIR)/tests/ctest_summary.py $(SS_JUNIT) || true; } && exit $$status
endef

# The whole suite.
test: build
	$(call run_ctest,)

# The tests labelled quick (cmake/test_labels.cmake): about half a minute on 2 cores.
check-quick: build
	$(call run_ctest,-L quick)

install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# The side-by-side benchmark (docs/PERFORMANCE.md); options: make bench BENCH_ARGS="--quick".
BENCH_ARGS ?=
bench: build
	SOCKSERV_BENCH_VIA_MAKE=1 python3 bench/run.py --build-dir $(BUILD) $(BENCH_ARGS)

# The whole suite again under AddressSanitizer + UndefinedBehaviorSanitizer.
asan:
	$(MAKE) test BUILD=$(SAN_BUILD) CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=address,undefined $(CMAKE_FLAGS)"

# The library and program tests again under ThreadSanitizer (threads, pool, event).
tsan:
	$(MAKE) build BUILD=$(TSAN_BUILD) CMAKE_FLAGS="-DCMAKE_BUILD_TYPE=Debug -DSS_SANITIZE=thread $(CMAKE_FLAGS)"
	cd $(TSAN_BUILD) && ctest --output-on-failure -j $(JOBS) -R '^(unit|cli)\.'

# The libFuzzer targets (tests/fuzz/), built with clang + ASan + UBSan in FUZZ_BUILD, FUZZ_SECONDS each.
FUZZ_BUILD ?= build-fuzz
FUZZ_SECONDS ?= 60
fuzz:
	@tests/fuzz/run.sh --check
	cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DSS_FUZZ=ON -DSS_SANITIZE=address,undefined $(CMAKE_FLAGS)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target fuzz_targets
	tests/fuzz/run.sh $(FUZZ_BUILD) $(FUZZ_SECONDS)

# Static checks: cppcheck and clang-tidy (.clang-tidy) over the C sources; fails on any finding.
lint: build
	tools/check/lint.sh $(BUILD)

# A representative subset (unit tests of every strategy, the CLI) under valgrind memcheck: no error, no leak.
valgrind: build
	tools/check/valgrind.sh $(BUILD)

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(TSAN_BUILD) $(FUZZ_BUILD)
