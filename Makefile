# hms-worker -- the only build entry point. `make help` lists the targets.
#
# Variants build into separate directories: build/release, build/asan,
# build/tsan, build/fuzz.
SAN ?= release
BUILD := build/$(SAN)
CC ?= cc

PKGS := rdkafka libcurl libmicrohttpd jansson openssl avro-c
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

OPT_release := -O2 -g -fno-omit-frame-pointer -D_FORTIFY_SOURCE=2
OPT_asan := -O1 -g -fno-omit-frame-pointer \
            -fsanitize=address,undefined -fno-sanitize-recover=all
# libFuzzer (clang): product code instrumented, targets linked with it
OPT_fuzz := -O1 -g -fno-omit-frame-pointer \
            -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=all
# ThreadSanitizer (clang): our code instrumented, the libraries not (their
# false positives are in tests/tsan.supp, which tests/run.sh uses)
OPT_tsan := -O1 -g -fno-omit-frame-pointer -fsanitize=thread
ifneq ($(filter fuzz tsan,$(SAN)),)
CC := clang
endif
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
        -Wformat=2 -Wwrite-strings -Wcast-qual -Wvla -Wswitch-enum -Werror
HARDEN := -fstack-protector-strong -fPIE
CFLAGS := -std=c11 -D_POSIX_C_SOURCE=200809L $(WARN) $(HARDEN) \
          $(OPT_$(SAN)) -Iservice/src -Iservice/sim -Itests/unit -Ideps \
          $(PKG_CFLAGS) -MMD -MP
LDFLAGS := -pie -Wl,-z,relro,-z,now $(filter -fsanitize=%,$(OPT_$(SAN)))

# hiredis 1.4.1 with its TLS module (deps/hiredis, upstream's release as
# is; deps/README.md): Debian's 0.14.1 has no TLS. Built per variant with
# the variant's sanitizer flags and its own upstream warnings (not ours,
# not -Werror); included as <hiredis/hiredis.h>.
HIREDIS_SRC := deps/hiredis
HIREDIS_CFLAGS := -std=c99 -Wall -Wextra -Wstrict-prototypes \
                  -Wwrite-strings -Wno-missing-field-initializers \
                  $(HARDEN) $(OPT_$(SAN)) -MMD -MP
HIREDIS_O := $(patsubst %,$(BUILD)/hiredis/%.o,alloc net hiredis sds async \
               read sockcompat)
HIREDIS_A := $(BUILD)/hiredis/libhiredis_ssl.a $(BUILD)/hiredis/libhiredis.a
LDLIBS := $(HIREDIS_A) $(PKG_LIBS) -lpthread

# Modules shared by every program (service/src minus programs).
CORE := hw log secret buf heap smap whaccess jwt conf retry schema \
        prevalidate resolve event codec cachetls cache hms_client hms_reply \
        hookev offsets job rules hlswatch renew handler engine metrics \
        health kstats admin registry kafka producer pipeline worker webhook
SIM := sim_conf sim_whconf sim_fault sim_api sim_rooms sim_peers sim_live \
       sim_events sim_webhook sim_whcurl sim_admin \
       sim_http
UNIT_TESTS := test_jwt test_secret test_conf test_retry test_schema test_hw test_log \
              test_codec test_heap test_offsets test_smap test_rules \
              test_hms_reply test_kstats test_producer test_handler test_hookev \
              test_pipeline test_whaccess test_webhook test_renew \
              test_sim_fault test_sim_conf test_sim_api test_sim_live \
              test_sim_webhook

SCHEMAS := $(sort $(wildcard schemas/*.avsc))
CORE_O := $(CORE:%=$(BUILD)/src/%.o) $(BUILD)/gen/schemas_gen.o
SIM_O := $(SIM:%=$(BUILD)/sim/%.o)
# Programs and tests link the core (and the simulator) as archives, so each
# takes only the modules it uses, and a test's stubs stand in for modules
# it does not want (tests/unit/stubs.h).
LIB := $(BUILD)/libhmsworker.a
SIM_LIB := $(BUILD)/libhmssim.a
PROG_O :=
ifeq ($(SAN),tsan)
# librdkafka's threads made known to TSan (tests/tsan/c11_threads.c); not
# in the archive: only librdkafka calls it, so nothing would pull it in
PROG_O += $(BUILD)/tsan/c11_threads.o
endif
INTEGRATION_TESTS := test_stack test_cache test_hms_client test_worker_assign
FUZZ_TARGETS := fuzz_codec fuzz_conf fuzz_hms_reply fuzz_webhook
FUZZ_SECONDS ?= 60
PROGS := $(BUILD)/hms-worker $(BUILD)/hmsctl $(BUILD)/hms-sim \
         $(BUILD)/mktopics $(BUILD)/jwtcli $(BUILD)/bench-floor \
         $(BUILD)/bench-httpfloor
UNIT_BINS := $(UNIT_TESTS:%=$(BUILD)/tests/%)
INTEGRATION_BINS := $(INTEGRATION_TESTS:%=$(BUILD)/itests/%)

# Object files of test binaries are intermediates: keep them, or every run
# relinks. V=1 shows the full compiler command lines.
.SECONDARY:
Q := $(if $(V),,@)

.PHONY: all build deps test unit dev stack-up stack-down asan valgrind lint \
        clean help fuzz fuzz-build faults bench bench-webhooks bench-tls tsan \
        bench-peer
.DEFAULT_GOAL := all

all: build

build: $(PROGS) $(UNIT_BINS) $(INTEGRATION_BINS)

# One compile and one link recipe for every object and program.
define compile
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS) -c -o $@ $<
endef

# Every program depends on the hiredis archives, which LDLIBS names (after
# the objects that use them).
define link
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $(filter-out $(HIREDIS_A),$^) $(LDLIBS)
endef

# A fresh archive each time: a module taken out of CORE leaves no stale
# member behind.
define archive
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^
endef

$(BUILD)/src/%.o: service/src/%.c
	$(compile)
$(BUILD)/sim/%.o: service/sim/%.c
	$(compile)
$(BUILD)/tools/%.o: service/tools/%.c
	$(compile)
$(BUILD)/tests/%.o: tests/unit/%.c
	$(compile)
$(BUILD)/tests/%.o: tests/tools/%.c
	$(compile)
$(BUILD)/itests/%.o: tests/integration/%.c
	$(compile)
$(BUILD)/gen/%.o: $(BUILD)/gen/%.c
	$(compile)
$(BUILD)/fuzz/%.o: tests/fuzz/%.c
	$(compile)
$(BUILD)/bench/%.o: tests/bench/%.c
	$(compile)
$(BUILD)/tsan/%.o: tests/tsan/%.c
	$(compile)
$(BUILD)/hiredis/%.o: $(HIREDIS_SRC)/%.c
	@mkdir -p $(@D)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(HIREDIS_CFLAGS) -c -o $@ $<
$(BUILD)/hiredis/libhiredis.a: $(HIREDIS_O)
	$(archive)
$(BUILD)/hiredis/libhiredis_ssl.a: $(BUILD)/hiredis/ssl.o
	$(archive)

# The files in schemas/ are embedded verbatim: C never restates them.
$(BUILD)/gen/schemas_gen.c: $(SCHEMAS) service/tools/embed.sh
	@mkdir -p $(@D)
	$(Q)service/tools/embed.sh $(SCHEMAS) >$@.tmp && mv $@.tmp $@

$(LIB): $(CORE_O)
	$(archive)
# every program links the hiredis archives (LDLIBS): relinked when they change
$(PROGS) $(UNIT_BINS) $(INTEGRATION_BINS) $(FUZZ_TARGETS:%=$(BUILD)/%): \
        $(HIREDIS_A)
$(SIM_LIB): $(SIM_O)
	$(archive)

$(BUILD)/hms-worker: $(BUILD)/src/main.o $(PROG_O) $(LIB)
	$(link)
$(BUILD)/hms-sim: $(BUILD)/sim/sim_main.o $(PROG_O) $(SIM_LIB) $(LIB)
	$(link)
$(BUILD)/mktopics: $(BUILD)/tools/mktopics.o $(PROG_O) $(LIB)
	$(link)
$(BUILD)/hmsctl: $(BUILD)/tools/hmsctl.o $(BUILD)/tools/hmsctl_ops.o \
                 $(PROG_O) $(LIB)
	$(link)
$(BUILD)/jwtcli: $(BUILD)/tests/jwtcli.o $(PROG_O) $(LIB)
	$(link)
$(BUILD)/bench-floor: $(BUILD)/bench/floor.o $(PROG_O) $(LIB)
	$(link)
$(BUILD)/bench-httpfloor: $(BUILD)/bench/httpfloor.o $(PROG_O) $(LIB)
	$(link)
$(BUILD)/itests/test_%: $(BUILD)/itests/test_%.o $(PROG_O) $(LIB)
	$(link)
# a refused curl_multi_add_handle staged by the test (link-time wrap)
$(BUILD)/itests/test_hms_client: LDFLAGS += \
        -Wl,--wrap=curl_multi_add_handle
# an AUTH or SELECT hiredis does not queue, staged likewise
$(BUILD)/itests/test_cache: LDFLAGS += -Wl,--wrap=redisAsyncCommand
# a partition assignment librdkafka refuses, staged likewise
$(BUILD)/itests/test_worker_assign: LDFLAGS += -Wl,--wrap=rd_kafka_assign
# the handler against stubs of the 100ms client and the cache
$(BUILD)/tests/test_handler: $(BUILD)/tests/test_handler.o \
        $(BUILD)/tests/hms_client_stubs.o $(BUILD)/tests/cache_stubs.o \
        $(PROG_O) $(LIB)
	$(link)
# the pipeline against stubs of the engine and the producer
$(BUILD)/tests/test_pipeline: $(BUILD)/tests/test_pipeline.o \
        $(BUILD)/tests/engine_stubs.o $(BUILD)/tests/producer_stubs.o \
        $(PROG_O) $(LIB)
	$(link)
$(BUILD)/tests/test_%: $(BUILD)/tests/test_%.o $(PROG_O) $(SIM_LIB) $(LIB)
	$(link)
$(BUILD)/fuzz_%: $(BUILD)/fuzz/fuzz_%.o $(LIB)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -fsanitize=fuzzer -o $@ $(filter-out \
	    $(HIREDIS_A),$^) $(LDLIBS)

-include $(shell find build/$(SAN) -name '*.d' 2>/dev/null)

## deps: install Debian packages, Python test tools and Kafka jars (idempotent)
deps:
	@deploy/local/deps.sh

## test: install what is needed, build, run unit, fuzz (10 s each) and
## integration tests
test: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-build
	@SAN=$(SAN) FUZZ_SECONDS=10 tests/run.sh

## faults: the fault-injection scenarios at full size (tests/integration/
## fault_harness.py); the results table lands in the logs as faults.md
faults: deps
	@$(MAKE) --no-print-directory build
	@FAULT_SIZE=full PYTEST_PATHS=tests/integration/test_faults.py \
		SAN=$(SAN) tests/run.sh

## bench: throughput and latency on the local stack, paced rows at 10, 100
## and 1,000/s and a cold start beside the Node peer (tests/bench/bench.py;
## BENCH_SECTIONS=paced,cold for those only); table and plot in bench/results/
bench: deps
	@$(MAKE) --no-print-directory build
	@$(MAKE) --no-print-directory bench-peer
	@tests/bench/run.sh

## bench-peer: the Node.js peer make bench measures side by side
## (tests/bench/peer/): npm ci when its node_modules is missing or older
## than package-lock.json; without node and npm, a warning and no peer
PEER := tests/bench/peer
bench-peer:
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(MAKE) --no-print-directory -s $(PEER)/node_modules/.installed; \
	else \
		echo "bench-peer: no node/npm on PATH: make bench runs without the Node peer"; \
	fi

$(PEER)/node_modules/.installed: $(PEER)/package-lock.json $(PEER)/package.json
	@echo "  NPM     $(PEER)"
	$(Q)cd $(PEER) && npm ci --no-audit --no-fund --loglevel=error
	$(Q)touch $@

## bench-webhooks: webhooks/s one listener accepts with delivery confirmed
## (tests/bench/webhooks.py; concurrency 1, 16, 64), a table on stdout
bench-webhooks: deps
	@$(MAKE) --no-print-directory build
	@tests/bench/run.sh tests/bench/webhooks.py

## bench-tls: CPU per booking over HTTPS and over plain http side by side,
## and the TLS handshakes per 1,000 bookings (tests/bench/tls.py)
bench-tls: deps
	@$(MAKE) --no-print-directory build
	@tests/bench/run.sh tests/bench/tls.py

## fuzz: libFuzzer on every parser of untrusted bytes, FUZZ_SECONDS each
fuzz: deps
	@$(MAKE) --no-print-directory SAN=fuzz fuzz-build
	@tests/fuzz/run.sh $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_TARGETS:%=$(BUILD)/%)

## unit: build and run the unit tests only (no stack)
unit: build
	@SAN=$(SAN) tests/run.sh --unit

## dev: local Kafka 3.9 + Redis + hms-sim in the foreground; Ctrl-C stops all
dev: deps
	@$(MAKE) --no-print-directory build
	@SAN=$(SAN) deploy/local/dev.sh

## asan: the test suite built with AddressSanitizer and UBSan
asan:
	@$(MAKE) --no-print-directory SAN=asan test

## tsan: unit + integration tests with ThreadSanitizer (clang, build/tsan)
tsan: deps
	@$(MAKE) --no-print-directory SAN=tsan build
	@SAN=tsan tests/run.sh

## valgrind: the test suite with unit tests and hms-sim under valgrind
valgrind:
	@$(MAKE) --no-print-directory deps
	@$(MAKE) --no-print-directory build
	@VALGRIND=1 SAN=$(SAN) tests/run.sh

## lint: clang-format, banned functions, cppcheck, shellcheck, deploy files
## (compose schema, Kubernetes manifests, Dockerfile, systemd unit)
lint:
	@deploy/local/deps.sh --lint
	@tests/lint.sh

## clean: remove build outputs (the Maven cache in ~/.m2 stays)
clean:
	rm -rf build

## help: this list
help:
	@grep -h '^## ' $(MAKEFILE_LIST) | sed 's/^## /  make /'
