# rolloutd — build, test, install.  No autotools: GNU make and pkg-config.
#
# The build is driven by the tree itself (see HACKING.md):
#   common/*.c            -> $(B)/libcommon.a     (logging, atomic files, durations, YAML tree)
#   plugins/polkadot/*.c  -> $(B)/libpolkadot.a   (SS58, keys, SCALE, planck, chain presets)
#   flags/*.c             -> $(B)/libflags.a      (feature-flag store)
#   runner/*.c            -> $(B)/librunner.a     (everything but the two mains)
#   runner/rolloutd.c     -> $(B)/rolloutd
#   runner/rolloutctl.c   -> $(B)/rolloutctl
#   plugins/NAME/*.c      -> $(B)/plugins/NAME.so (NAME != polkadot)
#   tests/unit/test_X.c   -> $(B)/tests/test_X    (cmocka; run by `make check`)
#   tests/fakes/NAME/*.c  -> $(B)/tests/fakes/NAME (fake node, fake Subscan, simulated chain)
#   tests/plugins/X.c     -> $(B)/tests/plugins/X.so (test plugins)
#   tests/e2e/*.sh        -> run by `make check` after the unit tests
#
# `make check` builds and runs everything normally, then rebuilds in
# build-san/ with ASan+UBSan and runs the unit and end-to-end tests again.

PREFIX    ?= /usr/local
DESTDIR   ?=
BINDIR    ?= $(PREFIX)/bin
SBINDIR   ?= $(PREFIX)/sbin
LIBDIR    ?= $(PREFIX)/lib
PLUGINDIR ?= $(LIBDIR)/rolloutd
SHAREDIR  ?= $(PREFIX)/share/rolloutd
MANDIR    ?= $(PREFIX)/share/man

B        ?= build
SANITIZE ?= 0
CC       ?= cc

PKGS := yaml-0.1 libconfig libcurl libwebsockets libpcre2-8 jansson libsodium libxxhash
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

OPT      ?= -O2
CFLAGS_BASE := -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -g -fPIC \
	-fvisibility=hidden -pthread -Iinclude -Icommon -Iplugins/polkadot -Iflags -Irunner \
	-DPLUGINDIR='"$(PLUGINDIR)"' -DSHAREDIR='"$(SHAREDIR)"'
ifeq ($(SANITIZE),1)
OPT      := -O1
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
endif
ALL_CFLAGS  = $(CFLAGS_BASE) $(OPT) $(SANFLAGS) $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = -pthread $(SANFLAGS) -Wl,--as-needed $(LDFLAGS)
LDLIBS_ALL  = $(PKG_LIBS) -ldl -lm

# ---- sources --------------------------------------------------------------
COMMON_SRCS   := $(wildcard common/*.c)
POLKADOT_SRCS := $(wildcard plugins/polkadot/*.c)
FLAGS_SRCS    := $(wildcard flags/*.c)
MAIN_SRCS     := runner/rolloutd.c runner/rolloutctl.c
RUNNER_SRCS   := $(filter-out $(MAIN_SRCS),$(wildcard runner/*.c))
PLUGIN_NAMES  := $(filter-out polkadot,$(notdir $(patsubst %/,%,$(dir $(wildcard plugins/*/*.c)))))
PLUGIN_NAMES  := $(sort $(PLUGIN_NAMES))
UNIT_SRCS     := $(wildcard tests/unit/test_*.c)
UNIT_TESTS    := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
FAKE_NAMES    := $(sort $(notdir $(patsubst %/,%,$(dir $(wildcard tests/fakes/*/*.c)))))
FAKES         := $(addprefix $(B)/tests/fakes/,$(FAKE_NAMES))
TEST_PLUGINS  := $(patsubst tests/plugins/%.c,$(B)/tests/plugins/%.so,$(wildcard tests/plugins/*.c))
PLUGINS       := $(addprefix $(B)/plugins/,$(addsuffix .so,$(PLUGIN_NAMES)))
E2E_TESTS     := $(sort $(wildcard tests/e2e/*.sh))

obj = $(patsubst %.c,$(B)/obj/%.o,$(1))

LIBCOMMON   := $(B)/libcommon.a
LIBPOLKADOT := $(B)/libpolkadot.a
LIBFLAGS    := $(B)/libflags.a
LIBRUNNER   := $(B)/librunner.a
# Link order: most dependent first.
CORE_LIBS   := $(LIBRUNNER) $(LIBFLAGS) $(LIBPOLKADOT) $(LIBCOMMON)

BINS := $(B)/rolloutd $(B)/rolloutctl

.PHONY: all check unit e2e check-build check-san lint-man fuzz bench demo deps \
	install uninstall clean
.DEFAULT_GOAL := all

all: $(BINS) $(PLUGINS)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -MMD -MP -c -o $@ $<

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)

define static_lib
$(1): $(call obj,$(2))
	@mkdir -p $$(dir $$@)
	@rm -f $$@
	$$(AR) rcs $$@ $$^
endef
$(eval $(call static_lib,$(LIBCOMMON),$(COMMON_SRCS)))
$(eval $(call static_lib,$(LIBPOLKADOT),$(POLKADOT_SRCS)))
$(eval $(call static_lib,$(LIBFLAGS),$(FLAGS_SRCS)))
$(eval $(call static_lib,$(LIBRUNNER),$(RUNNER_SRCS)))

$(B)/rolloutd: $(call obj,runner/rolloutd.c) $(CORE_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

$(B)/rolloutctl: $(call obj,runner/rolloutctl.c) $(CORE_LIBS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

define plugin_rule
$(B)/plugins/$(1).so: $(call obj,$(wildcard plugins/$(1)/*.c)) $(LIBPOLKADOT) $(LIBCOMMON)
	@mkdir -p $$(dir $$@)
	$$(CC) -shared $(ALL_LDFLAGS) -o $$@ $$^ $(LDLIBS_ALL)
endef
$(foreach p,$(PLUGIN_NAMES),$(eval $(call plugin_rule,$(p))))

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(CORE_LIBS)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(CMOCKA_LIBS) $(LDLIBS_ALL)

# A fake may reuse other fakes' sources: NAME_EXTRA_SRCS.
simchain_EXTRA_SRCS := tests/fakes/fakenode/ledger.c tests/fakes/fakenode/noderpc.c \
	tests/fakes/fakescan/httpd.c tests/fakes/fakescan/scanapi.c
define fake_rule
$(B)/tests/fakes/$(1): $(call obj,$(wildcard tests/fakes/$(1)/*.c) $($(1)_EXTRA_SRCS)) $(CORE_LIBS)
	@mkdir -p $$(dir $$@)
	$$(CC) $(ALL_LDFLAGS) -o $$@ $$^ $(LDLIBS_ALL)
endef
$(foreach f,$(FAKE_NAMES),$(eval $(call fake_rule,$(f))))

$(B)/tests/plugins/%.so: $(B)/obj/tests/plugins/%.o $(LIBPOLKADOT) $(LIBCOMMON)
	@mkdir -p $(dir $@)
	$(CC) -shared $(ALL_LDFLAGS) -o $@ $^ $(LDLIBS_ALL)

# ---- tests ----------------------------------------------------------------
TESTBITS := $(BINS) $(PLUGINS) $(UNIT_TESTS) $(FAKES) $(TEST_PLUGINS)

check-build: $(TESTBITS)

# Unit tests run from the source root so they can read tests/ and ../shared/.
unit: check-build
	@fail=0; for t in $(UNIT_TESTS); do \
	  echo "== $$t"; $$t || { echo "FAILED: $$t"; fail=1; }; \
	done; exit $$fail

e2e: check-build
	@fail=0; for t in $(E2E_TESTS); do \
	  echo "== $$t"; s=$$(date +%s); \
	  B=$(B) SANITIZE=$(SANITIZE) bash $$t || { echo "FAILED: $$t"; fail=1; }; \
	  echo "   ($$t: $$(( $$(date +%s) - s )) s)"; \
	done; exit $$fail

lint-man:
	@for m in man/*.[0-9]; do [ -f $$m ] || continue; mandoc -Tlint -W warning $$m || exit 1; done; echo "man pages: lint clean"

check:
	$(MAKE) check-build
	$(MAKE) unit
	$(MAKE) e2e
	$(MAKE) lint-man
	$(MAKE) B=build-san SANITIZE=1 check-build
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) B=build-san SANITIZE=1 unit
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  $(MAKE) B=build-san SANITIZE=1 e2e
	@echo "make check: all tests passed"

# Fuzz harnesses (clang + libFuzzer).  FUZZ_SECONDS bounds each run.
FUZZ_SECONDS ?= 20
FUZZ_SRCS := $(wildcard tests/fuzz/fuzz_*.c)
fuzz:
	@mkdir -p build-fuzz
	@for f in $(FUZZ_SRCS); do n=$$(basename $$f .c); \
	  clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
	    -DPLUGINDIR='"$(PLUGINDIR)"' -DSHAREDIR='"$(SHAREDIR)"' -Iinclude -Icommon -Iplugins/polkadot -Iflags -Irunner $(PKG_CFLAGS) \
	    -o build-fuzz/$$n $$f $(COMMON_SRCS) $(POLKADOT_SRCS) $(FLAGS_SRCS) $(RUNNER_SRCS) \
	    $(LDLIBS_ALL) -pthread || exit 1; \
	  mkdir -p build-fuzz/corpus-$$n; \
	  ./build-fuzz/$$n -max_total_time=$(FUZZ_SECONDS) -max_len=65536 \
	    build-fuzz/corpus-$$n tests/fuzz/seeds-$$n 2>&1 | tail -n 3 || exit 1; \
	done

# Each bench/NAME/run.sh measures one thing and writes bench/NAME/RESULTS.md;
# BENCHMARKS.md collects the figures.
bench: all check-build
	@for b in bench/*/run.sh; do echo "== $$b"; B=$(B) bash $$b || exit 1; done

demo:
	bash tools/demo.sh

deps:
	bash tools/deps.sh

# ---- install --------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR) $(DESTDIR)$(PLUGINDIR) \
	  $(DESTDIR)$(SHAREDIR)/phases $(DESTDIR)$(SHAREDIR)/web \
	  $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man7 \
	  $(DESTDIR)$(MANDIR)/man8
	install -m 0755 $(B)/rolloutd $(DESTDIR)$(SBINDIR)/rolloutd
	install -m 0755 $(B)/rolloutctl $(DESTDIR)$(BINDIR)/rolloutctl
	for p in $(PLUGINS); do install -m 0755 $$p $(DESTDIR)$(PLUGINDIR)/ || exit 1; done
	install -m 0644 phases/*.yaml $(DESTDIR)$(SHAREDIR)/phases/
	install -m 0644 web/* $(DESTDIR)$(SHAREDIR)/web/
	for m in man/*.[0-9]; do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s && \
	  install -m 0644 $$m $(DESTDIR)$(MANDIR)/man$$s/ || exit 1; done

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/rolloutd $(DESTDIR)$(BINDIR)/rolloutctl
	rm -rf $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(SHAREDIR)
	for m in man/*.[0-9]; do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$$(basename $$m); done

clean:
	rm -rf build build-san build-fuzz
