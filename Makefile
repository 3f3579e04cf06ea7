# libqwq build. `make` builds lib/libqwq.a, lib/libqwq.so, the examples and
# the tools; `make test` builds and runs every test; `make demo` generates a
# small random-weight model and runs the CLI on it; `make bench` builds the
# benchmarks; `make install PREFIX=...` installs header, libraries, qwq.pc.
#
# Options: OPENMP=1 (OpenMP thread pool), OPT=-O0 (debugging),
# SANITIZE=1 (address + undefined sanitizers for the tests), NATIVE=1
# (-march=native, never the default: the default build runs on any x86-64).

CC      ?= cc
AR      ?= ar
OBJCOPY ?= objcopy
PREFIX  ?= /usr/local
BUILD   ?= build
OPT     ?= -O2

VERSION := 0.1.0
ARCH    := $(shell $(CC) -dumpmachine | cut -d- -f1)

WARN    := -Wall -Wextra -Werror -Wshadow -Wvla -Wstrict-prototypes
CSTD    := -std=c11 -D_GNU_SOURCE
CFLAGS_COMMON := $(CSTD) $(OPT) -g $(WARN) -pthread -ffp-contract=off -Iinclude -Ilib
ifeq ($(NATIVE),1)
CFLAGS_COMMON += -march=native # only with NATIVE=1 (this branch)
endif
ifeq ($(OPENMP),1)
CFLAGS_COMMON += -fopenmp -DQWQ_OPENMP
LDLIBS_OMP := -fopenmp
endif
ifeq ($(SANITIZE),1)
CFLAGS_COMMON += -fsanitize=address,undefined -fno-omit-frame-pointer
LDLIBS_SAN := -fsanitize=address,undefined
endif
CFLAGS_LIB := $(CFLAGS_COMMON) -fPIC -fvisibility=hidden -DQWQ_BUILDING_LIBRARY
LDLIBS  := -lm -pthread $(LDLIBS_OMP) $(LDLIBS_SAN)

# Library sources: one folder per component; ISA-specific kernels live in
# lib/kernels/x86 and lib/kernels/arm and get their own -m flags.
LIB_SRC := $(wildcard lib/*.c) $(wildcard lib/*/*.c)
ifeq ($(ARCH),x86_64)
X86_SRC := $(wildcard lib/kernels/x86/*.c)
LIB_SRC += $(X86_SRC)
ifneq ($(filter %_avx2.c,$(X86_SRC)),)
CFLAGS_LIB += -DQWQ_HAVE_AVX2_KERNELS
endif
ifneq ($(filter %_avx512.c,$(X86_SRC)),)
CFLAGS_LIB += -DQWQ_HAVE_AVX512_KERNELS
endif
endif
ifeq ($(ARCH),aarch64)
ARM_SRC := $(wildcard lib/kernels/arm/*.c)
LIB_SRC += $(ARM_SRC)
ifneq ($(ARM_SRC),)
CFLAGS_LIB += -DQWQ_HAVE_ARM_KERNELS
endif
endif
LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
LIB_HDR := include/qwq.h $(wildcard lib/*/*.h) $(wildcard lib/kernels/*/*.h)

AVX2_ISA := -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avx2.o:   ISA := $(AVX2_ISA)
# AVX-VNNI where the compiler has it (gcc 11, clang 12); else the file builds empty
AVXVNNI_FLAG := $(shell echo 'int x;' | $(CC) -mavxvnni -x c -c -o /dev/null - 2>/dev/null && echo -mavxvnni)
$(BUILD)/obj/%_avxvnni.o: ISA := $(AVX2_ISA) $(AVXVNNI_FLAG)
$(BUILD)/obj/%_avx512.o: ISA := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c -mavx2
$(BUILD)/obj/%_dotprod.o: ISA := -march=armv8.2-a+dotprod

EXAMPLES := $(patsubst examples/%.c,$(BUILD)/bin/%,$(wildcard examples/*.c))
TOOLS    := $(patsubst bench/%.c,$(BUILD)/bin/%,$(wildcard bench/*.c))
TESTS    := $(patsubst tests/%.c,$(BUILD)/tests/%,$(wildcard tests/test_*.c))
TEST_SUPPORT := $(filter-out $(wildcard tests/test_*.c),$(wildcard tests/*.c))

.PHONY: all test test-valgrind fuzz bench demo install clean check-contract
all: lib/libqwq.a lib/libqwq.so $(EXAMPLES) $(TOOLS)

$(BUILD)/obj/%.o: %.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS_LIB) $(ISA) -c $< -o $@

# Tests link every internal function from this archive; the public archive
# below has only the qwq_* symbols global.
$(BUILD)/libqwq-internal.a: $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@ && $(AR) rcs $@ $^

# One relocatable object with the hidden symbols made local, so that the
# static library cannot clash with an application's own symbols.
lib/libqwq.a: $(LIB_OBJ)
	$(CC) -r -nostdlib -o $(BUILD)/libqwq-all.o $^
	$(OBJCOPY) --localize-hidden $(BUILD)/libqwq-all.o
	rm -f $@ && $(AR) rcs $@ $(BUILD)/libqwq-all.o

lib/libqwq.so: $(LIB_OBJ)
	$(CC) -shared -Wl,-soname,libqwq.so.0 -Wl,--no-undefined -o $@ $^ $(LDLIBS)
	ln -sf libqwq.so lib/libqwq.so.0

$(BUILD)/bin/%: examples/%.c lib/libqwq.a include/qwq.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $< -o $@ lib/libqwq.a $(LDLIBS)

# Tools in bench/ may use internal components (e.g. block formats).
$(BUILD)/bin/%: bench/%.c $(wildcard bench/*.h) $(BUILD)/libqwq-internal.a $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $< -o $@ $(BUILD)/libqwq-internal.a $(LDLIBS)

$(BUILD)/tests/%: tests/%.c $(TEST_SUPPORT) tests/harness.h $(BUILD)/libqwq-internal.a $(LIB_HDR)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS_COMMON) $< $(TEST_SUPPORT) -o $@ $(BUILD)/libqwq-internal.a $(LDLIBS)

check-contract:
	$(CC) -std=c11 -Wall -Werror -fsyntax-only -Iinclude ../shared/design/contract_check.c

# The AVX2 level as compilers without -mavxvnni build it (gemm_lane_avxvnni.c
# then compiles only its stub): compiled, not linked, by every `make test`,
# so that the branch this compiler does not use keeps building.
ifeq ($(ARCH),x86_64)
FALLBACK_OBJ := $(BUILD)/obj/fallback/gemm_lane_avxvnni.o
$(FALLBACK_OBJ): lib/kernels/x86/gemm_lane_avxvnni.c $(LIB_HDR)
	@mkdir -p $(dir $@)
	@echo "CC $< (without -mavxvnni)"
	@$(CC) $(CFLAGS_LIB) $(AVX2_ISA) -c $< -o $@
endif

test: all $(TESTS) cross-aarch64 $(FALLBACK_OBJ)
	@sh tests/run.sh $(BUILD)

# The aarch64 levels under emulation: the whole library and the kernel tests
# cross-built into $(BUILD)/aarch64; tests/run.sh runs them with qemu-aarch64
# as a second phase of `make test` (skipped, or failed under CI=true, when
# the cross compiler or qemu is missing); `make test-aarch64` runs only that
# phase. Nothing to do on an aarch64 host.
AARCH64_CC    ?= aarch64-linux-gnu-gcc
AARCH64_AR    ?= aarch64-linux-gnu-ar
AARCH64_TESTS := test_ops test_quant test_kernels_arm test_attn test_reference
.PHONY: cross-aarch64 test-aarch64
test-aarch64: cross-aarch64
	@sh tests/run.sh --aarch64-only $(BUILD)
cross-aarch64:
ifneq ($(ARCH),aarch64)
	@if command -v $(AARCH64_CC) >/dev/null 2>&1; then \
		$(MAKE) -s --no-print-directory CC=$(AARCH64_CC) AR=$(AARCH64_AR) BUILD=$(BUILD)/aarch64 NATIVE= SANITIZE= OPENMP= \
			$(AARCH64_TESTS:%=$(BUILD)/aarch64/tests/%); \
	else \
		echo "cross-aarch64: $(AARCH64_CC) not found: no aarch64 phase"; \
	fi
endif

# The loader and API tests under valgrind (slow; not part of `make test`).
test-valgrind: $(TESTS)
	QWQ_FUZZ_ITERATIONS=300 valgrind -q --error-exitcode=9 --leak-check=full $(BUILD)/tests/test_loader
	valgrind -q --error-exitcode=9 --leak-check=full $(BUILD)/tests/test_api
	valgrind -q --error-exitcode=9 --leak-check=full $(BUILD)/tests/test_attn

# libFuzzer targets (clang): build/fuzz/fuzz_gguf, fuzz_tokenize, fuzz_options.
# Run e.g. build/fuzz/fuzz_gguf -max_total_time=60 corpus_dir/
FUZZ_CC ?= clang
FUZZ_FLAGS := -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -ffp-contract=off -Iinclude -Ilib -pthread
# (portable sources only: the SIMD files need their own -m flags)
FUZZ_SRC := $(filter-out lib/kernels/x86/% lib/kernels/arm/%,$(LIB_SRC))
fuzz: $(wildcard tests/fuzz/*.c) $(FUZZ_SRC) $(LIB_HDR)
	@mkdir -p $(BUILD)/fuzz
	for f in tests/fuzz/*.c; do \
		$(FUZZ_CC) $(FUZZ_FLAGS) $$f $(FUZZ_SRC) -o $(BUILD)/fuzz/$$(basename $$f .c) -lm || exit 1; \
	done

bench: all

demo: all
	@sh examples/demo.sh $(BUILD)

qwq.pc: Makefile
	@printf 'prefix=%s\nlibdir=$${prefix}/lib\nincludedir=$${prefix}/include\n\nName: qwq\nDescription: Embeddable inference for Qwen reasoning models (GGUF)\nVersion: %s\nLibs: -L$${libdir} -lqwq\nLibs.private: -lm -pthread\nCflags: -I$${includedir}\n' '$(PREFIX)' '$(VERSION)' > $@

install: all qwq.pc
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/bin
	install -m 644 include/qwq.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 lib/libqwq.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 lib/libqwq.so $(DESTDIR)$(PREFIX)/lib/libqwq.so.$(VERSION)
	ln -sf libqwq.so.$(VERSION) $(DESTDIR)$(PREFIX)/lib/libqwq.so.0
	ln -sf libqwq.so.0 $(DESTDIR)$(PREFIX)/lib/libqwq.so
	install -m 644 qwq.pc $(DESTDIR)$(PREFIX)/lib/pkgconfig/
	install -m 755 $(EXAMPLES) $(DESTDIR)$(PREFIX)/bin/

clean:
	rm -rf $(BUILD) lib/libqwq.a lib/libqwq.so lib/libqwq.so.0 qwq.pc
