# Benchmarks (bench/): load generators against libroost, in-process FAISS
# baselines, the ring benchmark, and the orchestrator bench/run.py that
# writes docs/benchmarks.md and docs/benchmarks.json.

# This file is read before the top-level `all` rule: keep `all` the default.
.DEFAULT_GOAL := all

BENCH_LIB_OBJ := $(BUILD)/bench/bdata.o $(BUILD)/bench/bstat.o $(BUILD)/bench/bargs.o
BENCH_BINS := $(BUILD)/bench/roost-bench-load $(BUILD)/bench/roost-bench-faiss \
	$(BUILD)/bench/roost-bench-ring $(BUILD)/bench/roost-bench-echo
BINS += $(BENCH_BINS)

# The load generator links libroost the way users do; the bench helpers
# it shares with the baselines use the internal libraries that libroost
# keeps to itself.
$(BUILD)/bench/roost-bench-load: $(BUILD)/bench/load.o $(BENCH_LIB_OBJ) $(LIBROOST) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $(BUILD)/bench/load.o $(BENCH_LIB_OBJ) -o $@ \
		-L$(BUILD)/lib -Wl,-rpath,'$$ORIGIN/../lib' -lroost $(LIBS_ALL) -lpthread -lm

# The baselines search with an IDSelector as readers do, through the
# reader's C shim over FAISS's C++ search parameters.
$(BUILD)/bench/base.o: INC = $(INC_ALL) $(FAISS_INC) -Iclient -Ireader
$(BUILD)/bench/roost-bench-faiss: $(BUILD)/bench/base.o $(BUILD)/reader/search_params_c.o \
		$(BENCH_LIB_OBJ) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $^ -o $@ $(FAISS_LD) $(SYS_LD)

$(BUILD)/bench/roost-bench-ring: $(BUILD)/bench/ringbench.o $(BENCH_LIB_OBJ) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $^ -o $@ $(SYS_LD)

$(BUILD)/bench/roost-bench-echo: $(BUILD)/bench/echo.o $(BENCH_LIB_OBJ) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $^ -o $@ $(SYS_LD)

# The Python baseline needs Debian's python3-faiss (it brings numpy), the
# charts python3-matplotlib.
BENCH_PKGS := python3-faiss python3-matplotlib
$(BUILD)/.bench-deps: mk/bench.mk
	@mkdir -p $(@D)
	@missing=$$(for p in $(BENCH_PKGS); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	  grep -q "ok installed" || echo $$p; done); [ -z "$$missing" ] || \
	{ [ "$$(id -u)" -eq 0 ] && DEBIAN_FRONTEND=noninteractive \
	  apt-get install -y --no-install-recommends $$missing >/dev/null; } || \
	{ echo "roost: bench needs $$missing: apt-get install $$missing" >&2; exit 1; }
	@touch $@

BENCH_RUN = $(PYTHON) bench/run.py --build $(BUILD)

.PHONY: bench bench-quick
bench: all $(BUILD)/.bench-deps
	$(BENCH_RUN) --command "make BUILD=$(BUILD) bench"

bench-quick: all $(BUILD)/.bench-deps
	$(BENCH_RUN) --quick --command "make BUILD=$(BUILD) bench-quick"

# What a collection costs (docs/benchmarks.md, "8. Collections"): prints a
# markdown section; it needs no bench dependencies beyond the build.
.PHONY: bench-collections
bench-collections: all
	BUILD=$(BUILD) $(PYTHON) bench/footprint.py
