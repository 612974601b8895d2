# roost: top-level build. `make` installs what is missing and builds
# everything; `make test` runs every test; `make demo` runs the main job.

CC      ?= cc
CXX     ?= c++
GPU     ?=
# GPU=1 (mk/gpu.mk): FAISS with GPU support and a writer with --gpu, built
# apart so that its objects never mix with the CPU-only default.
BUILD   ?= $(if $(GPU),build-gpu,build)
SAN     ?=
PYTHON  ?= /usr/bin/python3

WARN    := -Wall -Wextra -Werror
CFLAGS  := -std=c11 -D_GNU_SOURCE -O2 -g $(WARN) -fPIC -MMD -MP $(SAN)
CXXFLAGS := -std=c++17 -O2 -g $(WARN) -fPIC -MMD -MP $(SAN)
LDFLAGS := $(SAN)

# Debian packages first, then FAISS (cached outside the checkout).
DEPS_STAMP := $(BUILD)/.deps
FAISS_VARIANT := $(if $(GPU),gpu,cpu)
FAISS_MK   := $(BUILD)/faiss-$(FAISS_VARIANT).mk
-include $(FAISS_MK)
# nng, the transport, with a fix Debian's binary lacks (scripts/nng.sh).
NNG_MK     := $(BUILD)/nng.mk
-include $(NNG_MK)

# The shared code is split by concern; each folder is a library, and each
# program compiles and links against only the folders it may use
# (docs/architecture.md, "Map of the code"):
#   base   errors, logging, instance naming and directories, reader state
#   shm    shared memory between processes: ring, control block, tail
#   store  durable storage: log, manifest, segments, checksums, file writes
#   proto  the wire protocol and its transport: protobuf, JSON, batches, nng
GEN      := -I$(BUILD)/gen
FAISS_INC := -isystem $(FAISS_PREFIX)/include
NNG_INC  := -isystem $(NNG_PREFIX)/include
INC_BASE  := -Ibase
INC_SHM   := $(INC_BASE) -Ishm -Istore -Iproto $(GEN)
INC_STORE := $(INC_BASE) -Istore
INC_PROTO := $(INC_BASE) -Iproto $(GEN) $(NNG_INC)
INC_ALL   := -Ibase -Ishm -Istore -Iproto $(GEN) $(NNG_INC)
INC      := $(INC_ALL)

# libfaiss_c carries its build tree's RUNPATH, so the binaries name libfaiss
# themselves (no-as-needed) and find both through their own rpath: the FAISS
# cache here, a folder beside the binary once installed (mk/install.mk).
FAISS_RPATH = $(FAISS_PREFIX)/lib
FAISS_LD = -L$(FAISS_PREFIX)/lib -Wl,-rpath,'$(FAISS_RPATH)' \
	    -Wl,--no-as-needed -lfaiss_c -lfaiss -Wl,--as-needed \
	    -lopenblas -lgomp -lstdc++ -lm
SYS_LD   := $(NNG_PREFIX)/lib/libnng.a -lprotobuf-c -lpthread -lrt -lm

PROTO    := proto/roost.proto
PROTO_C  := $(BUILD)/gen/roost.pb-c.c
lib_of    = $(BUILD)/lib$(1).a
objs_of   = $(patsubst %.c,$(BUILD)/%.o,$(wildcard $(1)/*.c))
LIB_BASE  := $(call lib_of,base)
LIB_SHM   := $(call lib_of,shm)
LIB_STORE := $(call lib_of,store)
LIB_PROTO := $(call lib_of,proto)
# Link order: a library before those it uses.
LIBS_ALL  := $(LIB_SHM) $(LIB_PROTO) $(LIB_STORE) $(LIB_BASE)

# libroost's ABI version is its SONAME's; the package version is
# ROOST_VERSION in client/roost.h. Programs link the development name.
LIBROOST_SONAME := libroost.so.1
LIBROOST_SO := $(BUILD)/lib/$(LIBROOST_SONAME)
LIBROOST := $(BUILD)/lib/libroost.so
# The writer and reader as `make install` copies them (mk/install.mk).
INSTALLED := $(BUILD)/installed
BINS := $(BUILD)/bin/roost-writer $(BUILD)/bin/roost-broker $(BUILD)/bin/roost-reader \
	$(LIBROOST) \
	$(BUILD)/tests/roost-agent $(BUILD)/tests/roost-dump
UNIT_SRC := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

# What each folder's sources may include.
$(BUILD)/base/%.o: INC = $(INC_BASE)
$(BUILD)/shm/%.o: INC = $(INC_SHM)
$(BUILD)/store/%.o: INC = $(INC_STORE)
$(BUILD)/proto/%.o: INC = $(INC_PROTO)
$(BUILD)/sup/%.o: INC = $(INC_BASE) -Ishm -Isup -Iclient
$(BUILD)/broker/%.o: INC = $(INC_BASE) -Ishm -Iproto $(GEN) $(NNG_INC) -Ibroker
$(BUILD)/writer/%.o: INC = $(INC_ALL) $(FAISS_INC) -Iwriter
$(BUILD)/reader/%.o: INC = $(INC_ALL) $(FAISS_INC) -Ireader
$(BUILD)/client/roost.o: INC = $(INC_PROTO) -Iclient
$(BUILD)/client/%.o: INC = $(INC_PROTO) -Ishm -Isup -Iclient
$(BUILD)/tests/%.o: INC = $(INC_ALL) -Iclient
$(BUILD)/bench/%.o: INC = $(INC_ALL) $(FAISS_INC) -Iclient
$(BUILD)/fuzz/%.o: INC = $(INC_ALL)
$(BUILD)/demo/%.o: INC = $(INC_BASE) -Iclient

# Each area adds its targets (and BINS) in mk/<area>.mk.
-include $(sort $(wildcard mk/*.mk))

# Keep intermediate objects: nothing is rebuilt needlessly, and make prints
# nothing after the test summary.
.SECONDARY:

.PHONY: all deps test unit system demo clean format
all: $(BINS) $(UNIT_BINS)

$(DEPS_STAMP): scripts/deps.sh
	@mkdir -p $(@D)
	scripts/deps.sh
	@touch $@

$(FAISS_MK): scripts/faiss.sh scripts/debsrc.sh | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@p=$$(scripts/faiss.sh $(FAISS_VARIANT)) && echo "FAISS_PREFIX := $$p" > $@

$(NNG_MK): scripts/nng.sh scripts/debsrc.sh | $(DEPS_STAMP)
	@mkdir -p $(@D)
	@p=$$(scripts/nng.sh) && echo "NNG_PREFIX := $$p" > $@

$(BUILD)/gen/roost.pb-c.c $(BUILD)/gen/roost.pb-c.h: $(PROTO) | $(DEPS_STAMP)
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=proto --c_out=$(BUILD)/gen $(PROTO)

$(BUILD)/gen/roost.pb-c.o: $(BUILD)/gen/roost.pb-c.c
	$(CC) -std=c11 -O2 -g -fPIC $(SAN) $(GEN) -c $< -o $@

$(BUILD)/%.o: %.c | $(BUILD)/gen/roost.pb-c.h $(FAISS_MK) $(NNG_MK)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC) -c $< -o $@

$(BUILD)/%.o: %.cpp | $(FAISS_MK)
	@mkdir -p $(@D)
	$(CXX) $(CXXFLAGS) $(INC) -c $< -o $@

$(LIB_BASE): $(call objs_of,base)
$(LIB_SHM): $(call objs_of,shm)
$(LIB_STORE): $(call objs_of,store)
$(LIB_PROTO): $(call objs_of,proto) $(BUILD)/gen/roost.pb-c.o
$(LIBS_ALL):
	@mkdir -p $(@D)
	@rm -f $@
	ar rcs $@ $^

# Each is linked twice: here, and for `make install` in $(INSTALLED) with
# the FAISS libraries' installed place as its rpath.
$(BUILD)/bin/roost-writer $(INSTALLED)/roost-writer: $(call objs_of,writer) $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(FAISS_LD) $(SYS_LD)

$(BUILD)/bin/roost-reader $(INSTALLED)/roost-reader: $(call objs_of,reader) \
		$(patsubst %.cpp,$(BUILD)/%.o,$(wildcard reader/*.cpp)) $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(FAISS_LD) $(SYS_LD)

$(BUILD)/bin/roost-broker: $(call objs_of,broker) $(LIB_SHM) $(LIB_PROTO) $(LIB_BASE)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(SYS_LD)

$(LIBROOST_SO): $(BUILD)/client/roost.o $(LIB_PROTO) $(LIB_BASE) client/libroost.map
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) -shared -Wl,-soname,$(LIBROOST_SONAME) \
		-Wl,--version-script=client/libroost.map $(filter-out %.map,$^) -o $@ $(SYS_LD)

$(LIBROOST): $(LIBROOST_SO)
	ln -sf $(LIBROOST_SONAME) $@

# Test tools link libroost the way users do.
$(BUILD)/tests/roost-agent: $(BUILD)/tests/tools/agent.o $(LIBROOST)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $< -o $@ -L$(BUILD)/lib -Wl,-rpath,'$$ORIGIN/../lib' -lroost

$(BUILD)/tests/roost-dump: $(BUILD)/tests/tools/dump.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ $(SYS_LD)

# The writer's idempotency keys need no FAISS: their test links them alone.
$(BUILD)/tests/unit/test_keys.o: INC = $(INC_ALL) -Iwriter
$(BUILD)/tests/test_keys: $(BUILD)/tests/unit/test_keys.o $(BUILD)/writer/keys.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# Nor does the writer's worker thread.
$(BUILD)/tests/unit/test_worker.o: INC = $(INC_ALL) -Iwriter
$(BUILD)/tests/test_worker: $(BUILD)/tests/unit/test_worker.o $(BUILD)/writer/worker.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# The readers' metadata index needs no FAISS either.
$(BUILD)/tests/unit/test_mindex.o: INC = $(INC_ALL) -Ireader
$(BUILD)/tests/test_mindex: $(BUILD)/tests/unit/test_mindex.o $(BUILD)/reader/mindex.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# Nor its retention horizon.
$(BUILD)/tests/unit/test_retain.o: INC = $(INC_ALL) -Iwriter
$(BUILD)/tests/test_retain: $(BUILD)/tests/unit/test_retain.o $(BUILD)/writer/retain.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# Nor the brokers' per-agent buckets.
$(BUILD)/tests/unit/test_fair.o: INC = $(INC_ALL) -Ibroker
$(BUILD)/tests/test_fair: $(BUILD)/tests/unit/test_fair.o $(BUILD)/broker/fair.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# The writer's segment index links FAISS (and the GPU stubs of a CPU build).
$(BUILD)/tests/unit/test_vindex.o: INC = $(INC_ALL) $(FAISS_INC) -Iwriter
$(BUILD)/tests/test_vindex: $(BUILD)/tests/unit/test_vindex.o $(BUILD)/tests/unit/tutil.o \
		$(BUILD)/writer/vindex.o $(BUILD)/writer/gpu.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(FAISS_LD) $(SYS_LD)

$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(BUILD)/tests/unit/tutil.o $(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

unit: $(UNIT_BINS)
	$(PYTHON) tests/run.py --unit $(UNIT_BINS)

test: all
	$(PYTHON) tests/run.py --unit $(UNIT_BINS) --system tests/system

demo: all
	$(PYTHON) scripts/demo.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h' '*.cpp')

clean:
	rm -rf $(BUILD)

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
