# Makefile - builds every program of the gateway, its tests and fuzzers.
#
#   make            all programs into build/bin
#   make deps       install the Debian packages (apt-get, as root; idempotent)
#   make test       build, then unit + system tests; ends "N passed, N failed"
#   make run        the whole stack on 127.0.0.1:$(API_PORT) behind a web server
#   make fuzz       each libFuzzer target for a bounded time
#   make asan       unit tests built and run with ASan + UBSan
#   make tsan-fcgi  fcgi-app built with ThreadSanitizer (tests/run.sh)
#
# Layout rule: in each program directory, the file(s) holding main() are
# listed in MAINS; every other .c there goes into that directory's library,
# which unit tests link.  New sources need no Makefile change.

CC	?= cc
BUILD	?= build
PKGS	 = libzmq json-c libjwt libsodium libprotobuf-c sqlite3 libcurl \
	   libqrencode libpng libwebsockets openssl zlib
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lfcgi -lm

WARN	 = -Wall -Wextra -Werror -Wno-unused-parameter -Wshadow \
	   -Wpointer-arith -Wstrict-prototypes -Wmissing-prototypes
CFLAGS	?= -O2 -g
ALL_CFLAGS = -std=c11 -D_GNU_SOURCE -fstack-protector-strong \
	   -D_FORTIFY_SOURCE=2 $(WARN) $(CFLAGS) $(EXTRA_CFLAGS) \
	   -I$(BUILD)/gen -Icommon $(PKG_CFLAGS) -MMD -MP
# --as-needed: a program records only the libraries it calls (gcc on Debian
# does this already, clang does not): waproc must not pull in libcurl,
# which it loads on first use (waproc/lazycurl.c).
LDFLAGS	+= -Wl,--as-needed $(EXTRA_LDFLAGS)

MAINS	 = fcgi-app/main.c devmgr/devmgr.c devmgr/wactl.c waproc/waproc.c \
	   wsrelay/wsrelay.c tests/fakewa/fakewa.c

PROTOS	 = common/ipc.proto $(wildcard waproc/proto/*.proto)
GEN_C	 = $(patsubst %.proto,$(BUILD)/gen/%.pb-c.c,$(notdir $(PROTOS)))
GEN_H	 = $(GEN_C:.c=.h)
GEN_C_common = $(BUILD)/gen/ipc.pb-c.c
GEN_C_wa     = $(filter-out $(GEN_C_common),$(GEN_C))

objs	 = $(patsubst %.c,$(BUILD)/obj/%.o,$(1))
libsrc	 = $(filter-out $(MAINS),$(wildcard $(1)/*.c))

LIB_common  = $(BUILD)/lib/libcommon.a
LIB_fcgi    = $(BUILD)/lib/libfcgiapp.a
LIB_devmgr  = $(BUILD)/lib/libdevmgr.a
LIB_wa      = $(BUILD)/lib/libwa.a
LIB_wsrelay = $(BUILD)/lib/libwsrelay.a
LIB_fakewa  = $(BUILD)/lib/libfakewa.a
ALL_LIBS    = $(LIB_fakewa) $(LIB_wsrelay) $(LIB_devmgr) $(LIB_fcgi) \
	      $(LIB_wa) $(LIB_common)

OBJ_common  = $(call objs,$(call libsrc,common)) $(GEN_C_common:.c=.o)
OBJ_fcgi    = $(call objs,$(call libsrc,fcgi-app))
OBJ_devmgr  = $(call objs,$(call libsrc,devmgr))
OBJ_wa      = $(call objs,$(call libsrc,waproc)) $(GEN_C_wa:.c=.o)
OBJ_wsrelay = $(call objs,$(call libsrc,wsrelay))
OBJ_fakewa  = $(call objs,$(call libsrc,tests/fakewa))

BIN	 = $(BUILD)/bin
PROGS	 = $(addprefix $(BIN)/,$(PROGNAMES))
PROGNAMES = $(if $(wildcard fcgi-app/main.c),fcgi-app) \
	    $(if $(wildcard devmgr/devmgr.c),devmgr) \
	    $(if $(wildcard devmgr/wactl.c),wactl) \
	    $(if $(wildcard waproc/waproc.c),waproc) \
	    $(if $(wildcard wsrelay/wsrelay.c),wsrelay) \
	    $(if $(wildcard tests/fakewa/fakewa.c),fakewa)

UNIT_SRC = $(wildcard tests/unit/test_*.c)
UNIT	 = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.SECONDARY:
.PHONY: all deps test unit run demo fuzz asan tsan-fcgi clean check-banned
all: $(PROGS) $(UNIT)

$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: common/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=common --c_out=$(BUILD)/gen $<
$(BUILD)/gen/%.pb-c.c $(BUILD)/gen/%.pb-c.h: waproc/proto/%.proto
	@mkdir -p $(BUILD)/gen
	protoc-c --proto_path=waproc/proto --c_out=$(BUILD)/gen $<

$(BUILD)/gen/%.pb-c.o: $(BUILD)/gen/%.pb-c.c
	$(CC) $(filter-out -Werror -Wmissing-prototypes -Wshadow,$(ALL_CFLAGS)) -c -o $@ $<

$(BUILD)/obj/%.o: %.c | $(GEN_H)
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c -o $@ $<

$(BUILD)/lib/lib%.a:
	@mkdir -p $(dir $@)
	rm -f $@
	$(AR) rcs $@ $^
$(LIB_common): $(OBJ_common)
$(LIB_fcgi): $(OBJ_fcgi)
$(LIB_devmgr): $(OBJ_devmgr)
$(LIB_wa): $(OBJ_wa)
$(LIB_wsrelay): $(OBJ_wsrelay)
$(LIB_fakewa): $(OBJ_fakewa)

link = @mkdir -p $(dir $@); $(CC) $(LDFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(PKG_LIBS)
$(BIN)/fcgi-app: $(BUILD)/obj/fcgi-app/main.o $(LIB_fcgi) $(LIB_common)
	$(link)
$(BIN)/devmgr: $(BUILD)/obj/devmgr/devmgr.o $(LIB_devmgr) $(LIB_common)
	$(link)
$(BIN)/wactl: $(BUILD)/obj/devmgr/wactl.o $(LIB_devmgr) $(LIB_common)
	$(link)
$(BIN)/waproc: $(BUILD)/obj/waproc/waproc.o $(LIB_wa) $(LIB_common)
	$(link)
$(BIN)/wsrelay: $(BUILD)/obj/wsrelay/wsrelay.o $(LIB_wsrelay) $(LIB_common)
	$(link)
$(BIN)/fakewa: $(BUILD)/obj/tests/fakewa/fakewa.o $(LIB_fakewa) $(LIB_wa) $(LIB_common)
	$(link)
$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(ALL_LIBS)
	$(link)

# Unit-test objects may include any program's private headers.
$(BUILD)/obj/tests/unit/%.o: ALL_CFLAGS += -Ifcgi-app -Idevmgr -Iwaproc -Iwsrelay -Itests/fakewa

deps:
	@sh tests/deps.sh

unit: $(UNIT)
	@sh tests/run.sh --unit-only

test: deps
	@sh tests/run.sh

run: deps all
	@sh webconf/run.sh

demo: deps all
	@DEMO=1 sh webconf/run.sh

asan:
	$(MAKE) BUILD=build-asan CC=clang \
	    EXTRA_CFLAGS="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined" \
	    CFLAGS="-O1 -g" build-asan-unit
build-asan-unit: $(UNIT) $(PROGS)

# fcgi-app with ThreadSanitizer (its request threads), for tests/run.sh's
# tsan stage (tests/system/test_fcgi_threads.py with TSAN_FCGI set).
tsan-fcgi:
	$(MAKE) BUILD=build-tsan CC=clang EXTRA_CFLAGS="-fsanitize=thread" \
	    CFLAGS="-O1 -g" build-tsan/bin/fcgi-app

fuzz:
	@sh tests/fuzz/run.sh

check-banned:
	@! grep -nE '\b(strcpy|strcat|sprintf|vsprintf|gets|atoi|atol|strtok|rand|system|popen)[[:space:]]*\(' \
	    common/*.[ch] fcgi-app/*.[ch] devmgr/*.[ch] waproc/*.[ch] wsrelay/*.[ch] 2>/dev/null \
	    || (echo "banned functions in product code (STYLE.md)"; false)

clean:
	rm -rf build build-asan build-tsan build-fuzz

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
