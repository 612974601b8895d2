# Hardening: the test suite under sanitizers, and libFuzzer
# targets for every decoder of bytes from another process or from disk.
#
#   make test-asan     ASan+UBSan build of everything in build-asan, then
#                      every unit and system test against it
#   make test-tsan     ThreadSanitizer build in build-tsan, the same tests
#                      (but test_ring, see tests/run_sanitized.py)
#   make fuzz          each fuzz target for FUZZ_SECONDS (default 60)
#   make fuzz-smoke    each for a few seconds, replaying fuzz/corpus first
#
# Each variant is a separate build directory made by a recursive make, so
# they never mix objects with the default build.

ASAN_BUILD ?= build-asan
TSAN_BUILD ?= build-tsan
FUZZ_BUILD ?= build-fuzz
ASAN_SAN := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
# gcc cannot model atomic_thread_fence under TSan and warns (-Wtsan); the
# fences in ring.c order the futex waiter handshake between processes,
# which TSan does not see anyway.
TSAN_SAN := -fsanitize=thread -Wno-tsan
FUZZ_SAN := -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: test-asan test-tsan fuzz fuzz-smoke fuzz-build fuzz-bins

# The Python binding's tests load the plain libroost (see run_sanitized.py).
test-asan: $(LIBROOST)
	$(MAKE) BUILD=$(ASAN_BUILD) SAN="$(ASAN_SAN)" all
	$(PYTHON) tests/run_sanitized.py asan $(ASAN_BUILD) $(LIBROOST)

test-tsan: $(LIBROOST)
	$(MAKE) BUILD=$(TSAN_BUILD) SAN="$(TSAN_SAN)" all
	$(PYTHON) tests/run_sanitized.py tsan $(TSAN_BUILD) $(LIBROOST)

# ---- fuzzing -----------------------------------------------------------
# The targets link only roost's own libraries (no FAISS): every decoder they
# exercise lives there.
FUZZ_NAMES := wire batch collrec wal manifest segment tail json meta metaq delrec tomb
FUZZ_BINS := $(FUZZ_NAMES:%=$(BUILD)/fuzz/fuzz_%)
FUZZ_SEEDER := $(BUILD)/fuzz/fuzz_seeds

# Static patterns: a plain $(BUILD)/fuzz/fuzz_% would also match the
# objects, with a shorter stem than the generic object rule.
$(FUZZ_BINS): $(BUILD)/fuzz/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/fuzz.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $^ -o $@ $(SYS_LD)

$(FUZZ_SEEDER): $(BUILD)/fuzz/seeds.o $(BUILD)/fuzz/fuzz.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(SYS_LD)

# Only meaningful with CC=clang and FUZZ_SAN; `make fuzz` sets both.
fuzz-bins: $(FUZZ_BINS) $(FUZZ_SEEDER)

fuzz-build:
	$(MAKE) BUILD=$(FUZZ_BUILD) CC=clang SAN="$(FUZZ_SAN)" fuzz-bins

fuzz: fuzz-build
	$(PYTHON) fuzz/run.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SECONDS) $(FUZZ_NAMES)

fuzz-smoke: fuzz-build
	$(PYTHON) fuzz/run.py --build $(FUZZ_BUILD) --seconds $(FUZZ_SMOKE_SECONDS) $(FUZZ_NAMES)
