# coffer: one non-recursive GNU Makefile.  "make help" lists targets.
PKGS	:= libsodium libzstd jansson
CC	?= cc
CFLAGS	?= -O2 -g
WFLAGS	:= -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Werror=implicit-function-declaration
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Ilib \
	    $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
B	?= build

LIB_SRCS  := $(wildcard lib/*/*.c)
CLI_SRCS  := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
HELP_SRCS := $(wildcard tests/integration/helpers/*.c)
LIB_OBJS  := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRCS))
CLI_OBJS  := $(patsubst %.c,$(B)/obj/%.o,$(CLI_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
HELP_BINS := $(patsubst tests/integration/helpers/%.c,$(B)/tests/%,$(HELP_SRCS))

all: $(B)/coffer $(B)/libcoffer.a			## build coffer and the library

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libcoffer.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

$(B)/coffer: $(CLI_OBJS) $(B)/libcoffer.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(B)/obj/tests/unit/unit.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/integration/helpers/%.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/bench/bench_%: $(B)/obj/bench/bench_%.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

tests: $(UNIT_BINS) $(HELP_BINS)

deps:						## install the Debian packages coffer needs (root)
	sh scripts/install-deps.sh

test: deps						## every test, plain and under ASan+UBSan
	sh tests/run-all.sh

test-quick: all tests				## unit + integration, this build only
	sh tests/run.sh $(B)

asan:						## build into build-asan with ASan+UBSan
	$(MAKE) B=build-asan CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" all tests

bench: all $(B)/bench/bench_primitives $(B)/bench/bench_chunker	## coffer against restic and borg; QUICK=1 for a short run
	QUICK="$(QUICK)" B="$(B)" sh bench/bench.sh

demo: deps						## install, build, back up and restore
	$(MAKE) all
	sh scripts/demo.sh

clean:						## remove build outputs
	rm -rf build build-asan

help:						## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

.PHONY: all tests deps test test-quick asan bench demo clean help
-include $(shell find $(B) -name '*.d' 2>/dev/null)
