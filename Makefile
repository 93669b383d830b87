# lorascope — build, test, reproduce.
#
#   make              build build/liblorascope.a and build/lorascope (installs nothing;
#                     stops with the apt-get command if a library is missing)
#   make MPI=1        the same with build/lorascope built by mpicc -DLSC_MPI (Open MPI):
#                     `mpirun -np N build/lorascope train ...` trains data-parallel
#   make mpi-bin      the MPI variant build/mpi/lorascope beside the default program (make test,
#                     check, bench and asan build it when mpicc exists; the MPI tests use it)
#   make deps         the one dependency step: apt-get install whichever Debian
#                     packages are missing (DEPS=run: build + studies; DEPS=all: + tests)
#   make test         make deps, build, run every test
#   make reproduce    make deps, build, the LoRA paper's Section 7 studies (PROFILE=tiny|quick|paper)
#                     (ARCH=llama: the same studies on a Llama-family base;
#                     FORMAT=alpaca: the task as instruction tuning in the Alpaca template)
#   make asan         the whole test suite under -fsanitize=address,undefined,float-cast-overflow
#                     (and -fsanitize=integer with clang; LSC_WRAPS marks intentional wraps)
#   make asan-clang   the same with clang, -fsanitize=integer too and every report fatal
#                     (build/asan-clang/)
#   make fuzz         libFuzzer harnesses fuzz/fuzz_*.c (clang, build-fuzz/), each
#                     FUZZ_SECONDS (default 30); fails on any crash (build-fuzz/crashes/)
#   make soak         kill -9 a training run SOAK_KILLS times (default 50), resume, compare
#   make bench        benchmarks -> data/results/bench/bench.json (+ mpi.json: MPI scaling)
#   make data         fetch and extract the corpora (data/fetch.sh)
#   make install PREFIX=/usr/local   program, liblorascope.a, headers, lorascope.pc,
#                     man page and bash completion
#   make clean
# Knobs: CFLAGS="-O0 -g" (appended to the project's flags), OPENMP=0 (no OpenMP
# runtime), WERROR=1 (warnings are errors; on by default when CI=true), V=1,
# MPI=1 (build/lorascope with MPI; MPICC, default mpicc).

# ---- settings ----
# Every variable below can be set on the command line. CFLAGS, CPPFLAGS and
# LDFLAGS are the user's own and come last: `make CFLAGS="-O0 -g"` keeps
# the project's flags and overrides the optimisation level.
CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
PROFILE ?= quick
ARCH    ?=
FORMAT  ?=
OPT     ?= -O2
CFLAGS  ?=
# OpenMP is on when the compiler has it (test-compiled once), unless OPENMP=0.
# (exported, so the recursive makes of test/asan/reproduce do not probe again)
ifeq ($(origin OPENMP),undefined)
OPENMP  := $(shell echo 'int main(void){return 0;}' | $(CC) -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0)
export OPENMP
endif
SAN     ?=
MPI     ?= 0
MPICC   ?= mpicc
PYTHON  := /usr/bin/python3
VERSION := $(shell sed -n 's/^\#define LSC_VERSION "\(.*\)"/\1/p' lib/lsc_error.h)

# Warnings are errors in CI (CI=true, as .ci/run sets it) and with WERROR=1,
# never by default: a newer compiler's new warning must not stop a user's build.
ifeq ($(CI),true)
WERROR  ?= 1
endif
WARN    := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes $(if $(filter 1,$(WERROR)),-Werror)

# OpenMP: OPENMP=1 (default where available) threads the analyses and the optimiser;
# OPENMP=0 builds without the OpenMP runtime (the `omp simd` loops keep
# their vectorisation through -fopenmp-simd; everything runs serially).
ifeq ($(OPENMP),0)
OMP_FLAGS :=
OMP_CC    := -fopenmp-simd
else
OMP_FLAGS := -fopenmp
OMP_CC    := -fopenmp
endif

LSC_CFLAGS := -std=c11 $(OPT) $(WARN) -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE $(OMP_CC) -MMD -MP
LSC_LIBS   := $(OMP_FLAGS) -lm

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Debian packages the build, the tests and the studies need. `make deps`
# installs them; `make test`, `make reproduce`, `make bench` and `make asan`
# run it first. Nothing else ever runs apt-get.
# DEPS selects the set: run (build + the studies) or all (also the tests).
DEB_RUN   := build-essential libopenblas-dev liblapacke-dev libhdf5-dev libcjson-dev pkg-config \
             gnuplot-nox python3
DEB_TEST  := python3-numpy python3-h5py chromium
DEB_FUZZ  := clang libclang-rt-14-dev
DEB_MPI   := libopenmpi-dev openmpi-bin
DEPS      ?= all
DEB_WANT  := $(DEB_RUN) $(if $(filter all,$(DEPS)),$(DEB_TEST) $(DEB_FUZZ) $(DEB_MPI),$(if $(filter 1,$(MPI)),$(DEB_MPI)))

# ---- dependencies (pkg-config; probed only when compiling) ----
NOBUILD_GOALS := deps clean data help fuzz soak
ifneq ($(filter-out $(NOBUILD_GOALS),$(or $(MAKECMDGOALS),all)),)
HDF5_PC := $(shell pkg-config --exists hdf5 2>/dev/null && echo hdf5 || (pkg-config --exists hdf5-serial 2>/dev/null && echo hdf5-serial))
PKGS    := openblas lapacke libcjson $(HDF5_PC)
PKG_OK  := $(shell pkg-config --exists openblas lapacke libcjson $(HDF5_PC) 2>/dev/null && [ -n "$(HDF5_PC)" ] && echo yes)
ifeq ($(PKG_OK),yes)
LSC_CFLAGS += $(shell pkg-config --cflags $(PKGS))
# the HDF5 high-level library (dimension scales, H5DS): no .pc of its own
# on Debian; it sits beside libhdf5 (hdf5_hl; hdf5_serial_hl with hdf5-serial.pc)
HDF5_HL    := $(shell pkg-config --exists hdf5_hl 2>/dev/null && pkg-config --libs-only-l hdf5_hl)
HDF5_HL    := $(or $(HDF5_HL),$(if $(filter hdf5-serial,$(HDF5_PC)),-lhdf5_serial_hl,-lhdf5_hl))
LSC_LIBS   := $(HDF5_HL) $(shell pkg-config --libs $(PKGS)) $(LSC_LIBS)
endif
endif

ALL_CFLAGS := $(LSC_CFLAGS) $(CPPFLAGS) $(CFLAGS)
ALL_LIBS   := $(LDFLAGS) $(LSC_LIBS) $(LDLIBS)

LIB_SRC  := $(sort $(wildcard lib/*.c))
APP_SRC  := $(sort $(wildcard analysis/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIBA     := $(BUILD)/liblorascope.a
PROG     := $(BUILD)/lorascope

.SECONDARY:

.PHONY: all build test check asan asan-clang bench reproduce regress deps data clean install debug fuzz fuzz-bins soak \
        mpi-bin

all: build

# A plain build never installs anything: a missing library stops it with
# the command that installs it.
build: $(LIBA) $(PROG) $(TEST_BIN)
ifneq ($(PKG_OK),yes)
ifneq ($(filter all build install debug $(PROG) $(LIBA),$(or $(MAKECMDGOALS),all)),)
$(error lorascope: missing build dependencies (pkg-config: openblas lapacke libcjson hdf5). Run `make deps` as root, or: apt-get install $(DEB_RUN))
endif
endif

# The one dependency step: installs whichever of the Debian packages in
# DEB_WANT is missing (DEPS=run: build and studies; DEPS=all: also tests).
deps:
	$(Q)missing=""; for p in $(DEB_WANT); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	[ -z "$$missing" ] && exit 0; \
	if [ "$$(id -u)" != 0 ]; then echo "make deps: missing Debian packages:$$missing; run as root, or: sudo apt-get install$$missing"; exit 1; fi; \
	echo "make deps: installing Debian packages:$$missing"; \
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

# The program's compiler: $(CC), or with MPI=1 Open MPI's wrapper with -DLSC_MPI (analysis/dist.c;
# lib/ never calls MPI, so the library is compiled by $(CC) either way). The stamp file holds the
# switch, so flipping it rebuilds the program's objects.
ifeq ($(MPI),1)
APP_CC    := $(MPICC)
APP_FLAGS := -DLSC_MPI
else
APP_CC    := $(CC)
APP_FLAGS :=
endif
MPI_STAMP := $(BUILD)/mpi.txt
$(MPI_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(MPI)' | cmp -s - $@ 2>/dev/null || echo '$(MPI)' > $@

$(PROG): $(APP_OBJ) $(LIBA) $(MPI_STAMP)
	@mkdir -p $(@D)
	@echo "  LD   $@$(if $(filter 1,$(MPI)), (MPI))"
	$(Q)$(APP_CC) $(ALL_CFLAGS) $(SAN) -o $@ $(APP_OBJ) $(LIBA) $(ALL_LIBS) $(SAN)

$(APP_OBJ): $(MPI_STAMP)
$(APP_OBJ): $(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC   $<$(if $(filter 1,$(MPI)), (MPI))"
	$(Q)$(APP_CC) $(ALL_CFLAGS) $(APP_FLAGS) $(SAN) -Ilib -c -o $@ $<

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC   $<"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -Ilib -c -o $@ $<

# The MPI variant build/mpi/lorascope: the program's objects compiled again by $(MPICC) with
# -DLSC_MPI, linked with the same library. `make test` builds it when $(MPICC) exists, so the
# MPI tests (tests/test_mpi_*.sh: $LSC_MPI_BIN, else $(BUILD)/mpi/lorascope) always have it.
MPI_PROG := $(BUILD)/mpi/lorascope
MPI_OBJ  := $(APP_SRC:%.c=$(BUILD)/mpi/obj/%.o)

$(MPI_PROG): $(MPI_OBJ) $(LIBA)
	@mkdir -p $(@D)
	@echo "  LD   $@ (MPI)"
	$(Q)$(MPICC) $(ALL_CFLAGS) $(SAN) -o $@ $(MPI_OBJ) $(LIBA) $(ALL_LIBS) $(SAN)

$(BUILD)/mpi/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC   $< (MPI)"
	$(Q)$(MPICC) $(ALL_CFLAGS) -DLSC_MPI $(SAN) -Ilib -c -o $@ $<

# Builds $(MPI_PROG) when $(MPICC) is there; says so and builds nothing when it is not (the MPI
# tests then skip, or fail under CI=true, where make deps has installed Open MPI).
# (the library first, in this make: a parallel `make -j2 build mpi-bin` must not build it twice at once)
mpi-bin: $(LIBA)
	$(Q)if command -v $(MPICC) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory $(MPI_PROG); \
	else echo "make: $(MPICC) not found: $(MPI_PROG) not built (apt-get install $(DEB_MPI)); the MPI tests will skip"; fi

# The commit of the source tree being built, baked into analysis_common.o as LSC_GIT_COMMIT (the
# git_commit attribute of every result file and train log): `git rev-parse HEAD` of this directory
# (a worktree too), "+dirty" when tracked files differ from it, "" outside a checkout (the program then
# says "unknown"). The stamp file changes only when that string does, so only that object is rebuilt.
GIT_COMMIT := $(shell c=$$(git -C $(CURDIR) rev-parse HEAD 2>/dev/null) && { git -C $(CURDIR) diff --quiet HEAD -- 2>/dev/null || c="$$c+dirty"; } && echo $$c)
GIT_STAMP  := $(BUILD)/git_commit.txt
$(GIT_STAMP): FORCE
	@mkdir -p $(@D)
	@echo '$(GIT_COMMIT)' | cmp -s - $@ 2>/dev/null || echo '$(GIT_COMMIT)' > $@
$(BUILD)/obj/analysis/analysis_common.o $(BUILD)/mpi/obj/analysis/analysis_common.o: $(GIT_STAMP)
$(BUILD)/obj/analysis/analysis_common.o $(BUILD)/mpi/obj/analysis/analysis_common.o: \
    ALL_CFLAGS += -DLSC_GIT_COMMIT='"$(GIT_COMMIT)"'
.PHONY: FORCE
FORCE:

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBA)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(LIBA) $(ALL_LIBS) $(SAN)

# The failing-allocator build: lib/ compiled again with LSC_MALLOC & co.
# routed to tests/failalloc.c (with $(SAN), so `make asan` checks its error
# paths for leaks too); only test_oom links it.
OOM_OBJ  := $(LIB_SRC:%.c=$(BUILD)/oom/%.o) $(BUILD)/oom/tests/failalloc.o
OOM_LIBA := $(BUILD)/oom/liblorascope.a

$(OOM_LIBA): $(OOM_OBJ)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

$(BUILD)/oom/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC   $< (failing allocator)"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -Ilib -include tests/failalloc.h -c -o $@ $<

$(BUILD)/tests/test_oom: $(BUILD)/obj/tests/test_oom.o $(OOM_LIBA)
	@mkdir -p $(@D)
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -o $@ $< $(OOM_LIBA) $(ALL_LIBS) $(SAN)

test: deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)$(MAKE) --no-print-directory mpi-bin
	$(Q)BUILD=$(BUILD) sh tests/run.sh

check: deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)$(MAKE) --no-print-directory mpi-bin
	$(Q)BUILD=$(BUILD) LSC_QUICK=1 sh tests/run.sh

asan: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined,float-cast-overflow $(if $(findstring clang,$(shell $(CC) --version 2>/dev/null)),-fsanitize=integer) -fno-sanitize-recover=undefined" build
	$(Q)$(MAKE) --no-print-directory mpi-bin
	$(Q)BUILD=build/asan LSC_MPI_BIN=$(CURDIR)/$(BUILD)/mpi/lorascope LSC_ASAN=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh tests/run.sh

# The same suite built by clang with -fsanitize=integer as well, every report
# fatal (-fno-sanitize-recover=all; `make asan` lets integer reports pass).
# LSC_WRAPS marks the intentional wraps. intercept_tls_get_addr=0: LLVM 14's
# LeakSanitizer crashes scanning glibc's dynamic TLS ("Tracer caught signal 11",
# google/sanitizers#1267, fixed in LLVM 17).
ASAN_CLANG_SAN := -fsanitize=address,undefined,float-cast-overflow,integer -fno-sanitize-recover=all
asan-clang: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan-clang CC=clang \
	    OPENMP=$(shell echo 'int main(void){return 0;}' | clang -fopenmp -x c - -o /dev/null 2>/dev/null && echo 1 || echo 0) \
	    OPT="-O2 -g -fno-omit-frame-pointer -Wno-pass-failed" SAN="$(ASAN_CLANG_SAN)" build
	$(Q)$(MAKE) --no-print-directory mpi-bin
	$(Q)BUILD=build/asan-clang LSC_MPI_BIN=$(CURDIR)/$(BUILD)/mpi/lorascope LSC_ASAN=1 ASAN_OPTIONS=detect_leaks=1:intercept_tls_get_addr=0 \
	    UBSAN_OPTIONS=print_stacktrace=1 CC=clang OPT="-O2 -g -fno-omit-frame-pointer -Wno-pass-failed" \
	    SAN="$(ASAN_CLANG_SAN)" sh tests/run.sh

debug:
	$(Q)$(MAKE) --no-print-directory BUILD=build/debug OPT="-O0 -g" build

# ---- fuzzing: libFuzzer harnesses (fuzz/run.sh) and the crash-consistency soak ----
# The library (and, for the baseline harness, the subcommands) compiled again
# with clang and the sanitizers into build-fuzz/; fuzz/run.sh runs each harness
# FUZZ_SECONDS and fails on any crash, keeping the input in build-fuzz/crashes/.
FUZZ_SECONDS ?= 30
FUZZ_SAN     := -fsanitize=address,undefined,float-cast-overflow -fno-sanitize-recover=all
FUZZ_BIN     := $(patsubst fuzz/%.c,$(BUILD)/fuzz/%,$(sort $(wildcard fuzz/fuzz_*.c)))

fuzz: deps
	$(Q)$(MAKE) --no-print-directory BUILD=build-fuzz CC=clang OPENMP=0 WERROR=0 \
	    OPT="-O1 -g -fno-omit-frame-pointer -Wno-pass-failed" SAN="$(FUZZ_SAN) -fsanitize=fuzzer-no-link" fuzz-bins
	$(Q)$(MAKE) --no-print-directory build
	$(Q)FUZZ_BUILD=build-fuzz FUZZ_SECONDS=$(FUZZ_SECONDS) LSC_BIN=$(CURDIR)/$(BUILD)/lorascope sh fuzz/run.sh

fuzz-bins: $(FUZZ_BIN)

$(BUILD)/fuzz/fuzz_baseline: $(addprefix $(BUILD)/obj/analysis/,regress.o cli.o analysis_common.o \
    h5describe.o tidy.o progress.o layers_plot.o)

$(BUILD)/fuzz/%: $(BUILD)/obj/fuzz/%.o $(LIBA)
	@mkdir -p $(@D)
	@echo "  LD   $@"
	$(Q)$(CC) $(ALL_CFLAGS) $(SAN) -fsanitize=fuzzer -o $@ $(filter %.o,$^) $(LIBA) $(ALL_LIBS)

soak: deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)BUILD=$(BUILD) SOAK_KILLS=$(or $(SOAK_KILLS),50) sh tests/soak.sh

data:
	$(Q)sh data/fetch.sh

reproduce:
	$(Q)$(MAKE) --no-print-directory deps DEPS=run
	$(Q)$(MAKE) --no-print-directory build
	$(Q)PROFILE=$(PROFILE) ARCH=$(ARCH) FORMAT=$(FORMAT) BUILD=$(BUILD) sh experiments/reproduce.sh

regress:
	$(Q)$(MAKE) --no-print-directory deps DEPS=run
	$(Q)$(MAKE) --no-print-directory build
	$(Q)PROFILE=tiny BUILD=$(BUILD) sh experiments/reproduce.sh

bench: deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)$(MAKE) --no-print-directory mpi-bin
	$(Q)BUILD=$(BUILD) sh experiments/bench.sh
	$(Q)BUILD=$(BUILD) sh experiments/bench_mpi.sh

# ---- install: program, static library + headers + pkg-config file, man
# page and bash completion (both generated from the help texts) ----
INC_PUB := lib/lsc.h $(filter-out lib/lsc_internal.h,$(wildcard lib/lsc_*.h))
MAN     := $(BUILD)/lorascope.1
COMPL   := $(BUILD)/lorascope.bash

$(MAN): $(PROG) analysis/manpage.sh
	$(Q)sh analysis/manpage.sh $(PROG) $(VERSION) > $@.tmp && mv $@.tmp $@

$(COMPL): $(PROG) analysis/completion.sh
	$(Q)sh analysis/completion.sh $(PROG) > $@.tmp && mv $@.tmp $@

install: build $(MAN) $(COMPL)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig \
	  $(DESTDIR)$(PREFIX)/include/lorascope $(DESTDIR)$(PREFIX)/share/lorascope/plots \
	  $(DESTDIR)$(PREFIX)/share/man/man1 $(DESTDIR)$(PREFIX)/share/bash-completion/completions
	install -m 755 $(PROG) $(DESTDIR)$(PREFIX)/bin/lorascope
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/liblorascope.a
	@# lorascope.pc names PREFIX, so it is written here, not at build time. The
	@# library is static: its dependencies are public (Requires, Libs).
	$(Q)printf '%s\n' 'prefix=$(PREFIX)' 'libdir=$${prefix}/lib' 'includedir=$${prefix}/include' '' \
	  'Name: lorascope' 'Description: LoRA training and analysis (liblorascope, static)' \
	  'Version: $(VERSION)' 'Requires: $(PKGS)' 'Cflags: -I$${includedir}/lorascope' \
	  'Libs: -L$${libdir} -llorascope $(HDF5_HL) $(OMP_FLAGS) -lm' > $(DESTDIR)$(PREFIX)/lib/pkgconfig/lorascope.pc
	install -m 644 $(INC_PUB) $(DESTDIR)$(PREFIX)/include/lorascope/
	install -m 644 plots/*.gp $(DESTDIR)$(PREFIX)/share/lorascope/plots/
	install -m 644 $(MAN) $(DESTDIR)$(PREFIX)/share/man/man1/lorascope.1
	install -m 644 $(COMPL) $(DESTDIR)$(PREFIX)/share/bash-completion/completions/lorascope

clean:
	rm -rf build build-fuzz

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(MPI_OBJ:.o=.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d) $(OOM_OBJ:.o=.d) \
         $(FUZZ_BIN:$(BUILD)/fuzz/%=$(BUILD)/obj/fuzz/%.d)
