# The GPU writer. `make GPU=1` builds FAISS 1.7.3 with GPU support
# (scripts/faiss.sh gpu, cached like the CPU build; about 13 minutes on 2
# cores the first time) and roost against it in build-gpu, with -DROOST_GPU
# and the CUDA runtime. Without GPU=1 nothing here needs CUDA.
#
#   make GPU=1            everything, GPU build, in build-gpu
#   make test-gpu         the GPU build's unit tests and tests/system/test_gpu.py
#                         (runs without a GPU: fallback and refusal paths)

# This file is read before the top-level `all` rule: keep `all` the default.
.DEFAULT_GOAL := all

CUDA_HOME ?= /usr/local/cuda

ifneq ($(GPU),)
CFLAGS   += -DROOST_GPU
FAISS_INC += -isystem $(CUDA_HOME)/include
# The writer calls the CUDA runtime itself (device count, free memory).
FAISS_LD += -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart
# The system tests pick the binaries and the cases of this build.
export BUILD
export ROOST_GPU_BUILD := 1
endif

# The budget logic needs no FAISS and no CUDA: its test links it alone.
$(BUILD)/tests/unit/test_gpumem.o: INC = $(INC_ALL) -Iwriter
$(BUILD)/tests/test_gpumem: $(BUILD)/tests/unit/test_gpumem.o $(BUILD)/writer/gpumem.o \
		$(LIBS_ALL)
	@mkdir -p $(@D)
	$(CC) $(LDFLAGS) $^ -o $@ -lcmocka $(SYS_LD)

# The writer's index path driven directly, GPU against CPU (bench/gpu-check.sh);
# a CPU-only build runs its CPU half.
GPU_WRITER_OBJ := $(patsubst %,$(BUILD)/writer/%.o,place vindex gpu gpumem)
GPU_BENCH := $(BUILD)/bench/roost-bench-gpu
BINS += $(GPU_BENCH)
$(BUILD)/bench/gpubench.o: INC = $(INC_ALL) $(FAISS_INC) -Iwriter -Iclient
$(GPU_BENCH): $(BUILD)/bench/gpubench.o $(BENCH_LIB_OBJ) $(GPU_WRITER_OBJ) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $^ -o $@ $(FAISS_LD) $(SYS_LD)

# The other process on the GPU, for the memory-pressure check.
ifneq ($(GPU),)
GPU_HOG := $(BUILD)/bench/roost-gpu-hog
BINS += $(GPU_HOG)
$(GPU_HOG): $(BUILD)/bench/gpuhog.o $(BENCH_LIB_OBJ) $(LIBS_ALL)
	$(CC) $(LDFLAGS) $^ -o $@ -L$(CUDA_HOME)/lib64 -Wl,-rpath,$(CUDA_HOME)/lib64 -lcudart \
		$(SYS_LD)
endif

.PHONY: test-gpu
ifneq ($(GPU),)
test-gpu: all
	$(PYTHON) tests/run.py --unit $(BUILD)/tests/test_gpumem --system tests/system/test_gpu.py
else
test-gpu:
	$(MAKE) GPU=1 test-gpu
endif
