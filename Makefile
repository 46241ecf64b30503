# coffer: one non-recursive GNU Makefile.  "make help" lists targets.
PKGS	:= libsodium libzstd jansson libcurl
CC	?= cc
CFLAGS	?= -O2 -g
WFLAGS	:= -std=c11 -Wall -Wextra -Wshadow -Wstrict-prototypes \
	   -Wmissing-prototypes -Wformat=2 -Werror=implicit-function-declaration
CPPFLAGS += -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Iinclude -Ilib \
	    $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
# libzxcvbn (password strength, lib/pwquality) ships no .pc file.
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lzxcvbn -lm -lpthread
B	?= build

LIB_SRCS  := $(wildcard lib/*/*.c)
CLI_SRCS  := $(wildcard cli/*.c)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
HELP_SRCS := $(wildcard tests/integration/helpers/*.c)
LIB_OBJS  := $(patsubst %.c,$(B)/obj/%.o,$(LIB_SRCS))
CLI_OBJS  := $(patsubst %.c,$(B)/obj/%.o,$(CLI_SRCS))
UNIT_BINS := $(patsubst tests/unit/%.c,$(B)/tests/%,$(UNIT_SRCS))
HELP_BINS := $(patsubst tests/integration/helpers/%.c,$(B)/tests/%,$(HELP_SRCS))
# Fuzz targets: tests/fuzz/fuzz_<name>.c (fuzz_replay.c is the corpus driver).
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz_%.c,%,$(filter-out \
	      tests/fuzz/fuzz_replay.c,$(wildcard tests/fuzz/fuzz_*.c)))
FUZZ_OBJS := $(B)/obj/tests/fuzz/common.o $(B)/libcoffer.a
REPLAY_BINS := $(patsubst %,$(B)/tests/replay_%,$(FUZZ_NAMES))
FUZZ_TARGETS ?= $(FUZZ_NAMES)
FUZZ_SECONDS ?= 60

all: $(B)/coffer $(B)/libcoffer.a $(B)/cofferd	## build coffer, cofferd and the library

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(WFLAGS) $(CFLAGS) -MMD -MP -c -o $@ $<

$(B)/libcoffer.a: $(LIB_OBJS)
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^

# coffer(1) alone draws QR codes (escrow totp enable): libqrencode;
# mounts snapshots (coffer mount): fuse3; and finds a card's file system
# UUID (coffer card): blkid.
CLI_PKGS := libqrencode fuse3 blkid
$(CLI_OBJS): CPPFLAGS += $(shell pkg-config --cflags $(CLI_PKGS) 2>/dev/null)
$(B)/coffer: $(CLI_OBJS) $(B)/libcoffer.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ \
	    $(shell pkg-config --libs $(CLI_PKGS) 2>/dev/null) $(LDLIBS)

# cofferd, the escrow server: every server/*.c (docs/PROTOCOL.md).
# libqrencode: the console's TOTP QR code (server/console.c).
SRV_PKGS    := libmicrohttpd gnutls sqlite3 libpq jansson libsodium liboath libqrencode
SERVER_SRCS := $(wildcard server/*.c)
SERVER_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(SERVER_SRCS))
$(SERVER_OBJS): CPPFLAGS += $(shell pkg-config --cflags $(SRV_PKGS) 2>/dev/null)
$(B)/cofferd: $(SERVER_OBJS) $(B)/libcoffer.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ \
	    $(shell pkg-config --libs $(SRV_PKGS) 2>/dev/null) $(LDLIBS)
# fuzz_api / replay_api: server/api.c with the store and the key holder,
# without cofferd's main() and libmicrohttpd (tests/fuzz/fuzz_api.c).
API_FUZZ_OBJS := $(filter-out $(B)/obj/server/cofferd.o \
		 $(B)/obj/server/http.o,$(SERVER_OBJS))
API_FUZZ_LIBS := $(shell pkg-config --libs sqlite3 libpq jansson liboath \
		 libqrencode 2>/dev/null)
$(B)/obj/tests/fuzz/fuzz_api.o: CPPFLAGS += -Iserver
$(B)/tests/replay_api: $(B)/obj/tests/fuzz/fuzz_api.o \
	    $(B)/obj/tests/fuzz/fuzz_replay.o $(API_FUZZ_OBJS) $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(API_FUZZ_LIBS) $(LDLIBS)
$(B)/fuzz_api: $(B)/obj/tests/fuzz/fuzz_api.o $(API_FUZZ_OBJS) $(FUZZ_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ \
	    $(API_FUZZ_LIBS) $(LDLIBS)

$(B)/tests/test_%: $(B)/obj/tests/unit/test_%.o $(B)/obj/tests/unit/unit.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/%: $(B)/obj/tests/integration/helpers/%.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# replay_<name>: the target over corpus files, any compiler (70-fuzz-replay).
$(B)/tests/replay_%: $(B)/obj/tests/fuzz/fuzz_%.o \
	    $(B)/obj/tests/fuzz/fuzz_replay.o $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/tests/gen_corpus: $(B)/obj/tests/fuzz/gen_corpus.o $(FUZZ_OBJS)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# fuzz_<name>: the libFuzzer binary; only "make fuzz" builds these.
$(B)/fuzz_%: $(B)/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJS)
	$(CC) $(CFLAGS) $(LDFLAGS) -fsanitize=fuzzer -o $@ $^ $(LDLIBS)

$(B)/bench/bench_%: $(B)/obj/bench/bench_%.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# bench_idxstore: the index cache's table against LMDB (make bench-idxstore).
$(B)/bench/bench_idxstore: $(B)/obj/bench/bench_idxstore.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ -llmdb

# test_store: the store conformance test, server/store*.c without cofferd's
# main; run.sh runs it on SQLite, 82-store.sh on SQLite and PostgreSQL.
STORE_OBJS := $(patsubst %.c,$(B)/obj/%.o,$(wildcard server/store*.c))
STORE_LIBS := $(shell pkg-config --libs sqlite3 libpq 2>/dev/null)
$(B)/obj/tests/server/test_store.o: CPPFLAGS += \
	    $(shell pkg-config --cflags sqlite3 libpq 2>/dev/null)
$(B)/tests/test_store: $(B)/obj/tests/server/test_store.o \
	    $(B)/obj/tests/unit/unit.o $(STORE_OBJS) $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(STORE_LIBS) $(LDLIBS)

# test_html: the console's escaping (server/html.c).
$(B)/obj/tests/server/test_html.o: CPPFLAGS += -Iserver
$(B)/tests/test_html: $(B)/obj/tests/server/test_html.o \
	    $(B)/obj/tests/unit/unit.o $(B)/obj/server/html.o \
	    $(B)/obj/server/srv_crypto.o $(B)/libcoffer.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# pullfs: the power-loss file system (tests/harness/pullfs.c, issue 20).
$(B)/obj/tests/harness/pullfs.o: CPPFLAGS += \
	    $(shell pkg-config --cflags fuse3 2>/dev/null)
$(B)/tests/pullfs: $(B)/obj/tests/harness/pullfs.o
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ \
	    $(shell pkg-config --libs fuse3 2>/dev/null)

tests: $(UNIT_BINS) $(HELP_BINS) $(REPLAY_BINS) $(B)/tests/gen_corpus \
	    $(B)/tests/test_store $(B)/tests/test_html $(B)/tests/pullfs

fuzz-bins: $(patsubst %,$(B)/fuzz_%,$(FUZZ_TARGETS))

power-loss-long: all tests			## the card pulled mid-write: CASES (10000) cases, escrow too; POWER_LOSS_SECONDS=S stops early, POWER_LOSS_MODE=full fills the card
	POWER_LOSS_ESCROW=$${POWER_LOSS_ESCROW:-1} \
	    sh tests/harness/power-loss.sh $(B) $(or $(CASES),10000)

deps:						## install the Debian packages coffer needs (root)
	sh scripts/install-deps.sh

test: deps						## every test, plain and under ASan+UBSan
	sh tests/run-all.sh

test-quick: all tests				## unit + integration, this build only
	sh tests/run.sh $(B)

asan:						## build into build-asan with ASan+UBSan
	$(MAKE) B=build-asan CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" all tests

# The hard limits made small, so that tests cross them on small data
# (tests/integration/59-limits.sh): only coffer itself, at -O1.
SHRINK := -DINDEX_MAX=4096 -DCACHE_MAX=4096 -DTREE_SPLIT_BYTES=4096 \
	-DDEFER_ENTRIES=64 -DDROP_EVERY=16
shrunk:						## build-shrunk/coffer, its limits shrunk for the tests
	$(MAKE) B=build-shrunk CFLAGS="-O1 -g $(SHRINK)" build-shrunk/coffer

fuzz:						## libFuzzer+ASan+UBSan, each target FUZZ_SECONDS (60) on its corpus
	$(MAKE) B=build-fuzz CC=clang CFLAGS="-O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
	    LDFLAGS="-fsanitize=address,undefined" FUZZ_TARGETS="$(FUZZ_TARGETS)" fuzz-bins
	sh tests/fuzz/run.sh build-fuzz "$(FUZZ_SECONDS)" $(FUZZ_TARGETS)

fuzz-corpus: all $(B)/tests/gen_corpus		## regenerate the seed corpora from a fresh repository
	sh tests/fuzz/gen-corpus.sh $(B)

bench: all $(B)/bench/bench_primitives $(B)/bench/bench_chunker	## coffer against restic and borg; QUICK=1 for a short run
	QUICK="$(QUICK)" B="$(B)" sh bench/bench.sh

bench-prune: all $(B)/bench/bench_packlist	## prune: space freed against restic (FILES=100000), pack-file walk at 80,000 packs
	$(B)/bench/bench_packlist 80000
	B="$(B)" sh bench/prune-vs-restic.sh $(or $(FILES),100000)

bench-scale: all $(B)/bench/bench_scalegen	## memory and time at 0.1, 0.4, 1.6 million chunks (SCALE_MAX=N stops early; RESTIC=1)
	B="$(B)" sh bench/scale.sh

bench-idxstore: $(B)/bench/bench_idxstore	## the chunk index on the device: own table against LMDB (N=1600000)
	$(B)/bench/bench_idxstore table $(or $(N),1600000)
	$(B)/bench/bench_idxstore lmdb $(or $(N),1600000)
	$(B)/bench/bench_idxstore lmdb-wm $(or $(N),1600000)

bench-escrow: all $(B)/cofferd $(B)/bench/bench_escrow	## cofferd logins/deposits/releases per second, SQLite and PostgreSQL
	B="$(B)" sh bench/escrow-load.sh

bench-escrow-h2load: all $(B)/cofferd	## cofferd deposits/releases per second measured by h2load (HTTP/1.1, TLS)
	B="$(B)" sh bench/escrow-h2load.sh

bench-escrow-full: all $(B)/cofferd $(B)/bench/bench_escrow	## both escrow benches, SQLite and PostgreSQL, into bench/ESCROW-LOAD.md
	B="$(B)" sh bench/escrow-full.sh

demo: deps						## install, build, back up and restore
	$(MAKE) all
	sh scripts/demo.sh

PREFIX	?= /usr/local
install: $(B)/coffer $(B)/cofferd		## install coffer, cofferd, their man pages and completions in $(DESTDIR)$(PREFIX)
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/share/man/man1 \
	    $(DESTDIR)$(PREFIX)/sbin $(DESTDIR)$(PREFIX)/share/man/man8 \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions
	install -m 0755 $(B)/coffer $(DESTDIR)$(PREFIX)/bin/coffer
	install -m 0755 $(B)/cofferd $(DESTDIR)$(PREFIX)/sbin/cofferd
	install -m 0644 docs/man/cofferd.8 $(DESTDIR)$(PREFIX)/share/man/man8/cofferd.8
	install -m 0644 docs/man/coffer.1 $(DESTDIR)$(PREFIX)/share/man/man1/coffer.1
	install -m 0644 dist/completion/coffer.bash \
	    $(DESTDIR)$(PREFIX)/share/bash-completion/completions/coffer
	install -m 0644 dist/completion/_coffer \
	    $(DESTDIR)$(PREFIX)/share/zsh/site-functions/_coffer
.PHONY: install

clean:						## remove build outputs
	rm -rf build build-asan build-fuzz build-shrunk

help:						## list targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

.PHONY: all tests deps test test-quick asan shrunk fuzz fuzz-bins fuzz-corpus bench demo clean help
.PHONY: power-loss-long
.PHONY: bench-escrow bench-escrow-full bench-escrow-h2load bench-idxstore bench-prune bench-scale
-include $(shell find $(B) -name '*.d' 2>/dev/null)
