# lorascope — build, test, reproduce.
#
#   make              build build/liblorascope.a and build/lorascope
#   make test         build and run every test (installs missing Debian packages first)
#   make reproduce    the LoRA paper's Section 7 studies end to end (PROFILE=tiny|quick|paper)
#   make asan         the whole test suite under -fsanitize=address,undefined
#   make bench        benchmarks -> data/results/bench/bench.json
#   make deps         apt-get install whatever is missing
#   make data         fetch and extract the corpora (data/fetch.sh)
#   make install PREFIX=/usr/local,  make clean,  V=1 for verbose commands

# ---- settings ----
CC      ?= cc
PREFIX  ?= /usr/local
BUILD   ?= build
PROFILE ?= quick
OPT     ?= -O2
CFLAGS  ?=
CFLAGS  += -std=c11 $(OPT) -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -fopenmp -MMD -MP
LDLIBS  += -fopenmp -lm
SAN     ?=
PYTHON  := /usr/bin/python3

ifeq ($(V),1)
Q :=
else
Q := @
endif

# Debian packages the build, the tests and the studies need.
DEB_BUILD := libopenblas-dev liblapacke-dev libhdf5-dev libcjson-dev pkg-config gnuplot-nox
DEB_TEST  := python3-numpy python3-h5py chromium
DEB_ALL   := $(DEB_BUILD) $(DEB_TEST)

# ---- dependencies (pkg-config; probed only when building) ----
ifneq ($(filter deps ensure-deps clean data,$(MAKECMDGOALS)),$(MAKECMDGOALS))
HDF5_PC := $(shell pkg-config --exists hdf5 2>/dev/null && echo hdf5 || (pkg-config --exists hdf5-serial 2>/dev/null && echo hdf5-serial))
PKGS    := openblas lapacke libcjson $(HDF5_PC)
PKG_OK  := $(shell pkg-config --exists openblas lapacke libcjson $(HDF5_PC) 2>/dev/null && [ -n "$(HDF5_PC)" ] && echo yes)
ifeq ($(PKG_OK),yes)
CFLAGS  += $(shell pkg-config --cflags $(PKGS))
LDLIBS  := $(shell pkg-config --libs $(PKGS)) $(LDLIBS)
endif
endif

LIB_SRC  := $(sort $(wildcard lib/*.c))
APP_SRC  := $(sort $(wildcard analysis/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ  := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
TEST_BIN := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
LIBA     := $(BUILD)/liblorascope.a
PROG     := $(BUILD)/lorascope

.SECONDARY:

.PHONY: all build test check asan bench reproduce regress deps ensure-deps data clean install debug

all: ensure-deps
	$(Q)$(MAKE) --no-print-directory build

build: $(LIBA) $(PROG) $(TEST_BIN)

# A missing Debian package is installed (as root) before anything is built.
ensure-deps:
	$(Q)missing=""; for p in $(DEB_BUILD) $(if $(filter test asan check bench,$(MAKECMDGOALS)),$(DEB_TEST)); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'install ok installed' || missing="$$missing $$p"; \
	done; \
	if [ -n "$$missing" ]; then \
	  echo "lorascope: missing Debian packages:$$missing — installing them with apt-get"; \
	  $(MAKE) --no-print-directory deps PKGS_TO_INSTALL="$$missing" || exit 1; \
	fi

deps:
	$(Q)if [ "$$(id -u)" != 0 ]; then echo "make deps: run as root, or: sudo apt-get install $(or $(PKGS_TO_INSTALL),$(DEB_ALL))"; exit 1; fi
	apt-get update -qq
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(or $(PKGS_TO_INSTALL),$(DEB_ALL))

$(LIBA): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(Q)$(AR) rcs $@ $^

$(PROG): $(APP_OBJ) $(LIBA)
	@mkdir -p $(@D)
	@echo "  LD   $@"
	$(Q)$(CC) $(CFLAGS) $(SAN) -o $@ $(APP_OBJ) $(LIBA) $(LDLIBS) $(SAN)

$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@echo "  CC   $<"
	$(Q)$(CC) $(CFLAGS) $(SAN) -Ilib -c -o $@ $<

$(BUILD)/tests/%: $(BUILD)/obj/tests/%.o $(LIBA)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN) -o $@ $< $(LIBA) $(LDLIBS) $(SAN)

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
	$(Q)$(CC) $(CFLAGS) $(SAN) -Ilib -include tests/failalloc.h -c -o $@ $<

$(BUILD)/tests/test_oom: $(BUILD)/obj/tests/test_oom.o $(OOM_LIBA)
	@mkdir -p $(@D)
	$(Q)$(CC) $(CFLAGS) $(SAN) -o $@ $< $(OOM_LIBA) $(LDLIBS) $(SAN)

test: ensure-deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)BUILD=$(BUILD) sh tests/run.sh

check: ensure-deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)BUILD=$(BUILD) LSC_QUICK=1 sh tests/run.sh

asan: ensure-deps
	$(Q)$(MAKE) --no-print-directory BUILD=build/asan OPT="-O1 -g -fno-omit-frame-pointer" \
	    SAN="-fsanitize=address,undefined -fno-sanitize-recover=undefined" build
	$(Q)BUILD=build/asan LSC_ASAN=1 ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 sh tests/run.sh

debug:
	$(Q)$(MAKE) --no-print-directory BUILD=build/debug OPT="-O0 -g" build

data:
	$(Q)sh data/fetch.sh

reproduce: ensure-deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)PROFILE=$(PROFILE) BUILD=$(BUILD) sh experiments/reproduce.sh

regress: ensure-deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)PROFILE=tiny BUILD=$(BUILD) sh experiments/reproduce.sh

bench: ensure-deps
	$(Q)$(MAKE) --no-print-directory build
	$(Q)BUILD=$(BUILD) sh experiments/bench.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/share/lorascope/plots
	install -m 755 $(PROG) $(DESTDIR)$(PREFIX)/bin/lorascope
	install -m 644 $(LIBA) $(DESTDIR)$(PREFIX)/lib/liblorascope.a
	install -m 644 lib/lsc.h $(DESTDIR)$(PREFIX)/include/lsc.h
	install -m 644 plots/*.gp $(DESTDIR)$(PREFIX)/share/lorascope/plots/

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(APP_OBJ:.o=.d) $(TEST_SRC:tests/%.c=$(BUILD)/obj/tests/%.d) $(OOM_OBJ:.o=.d)
