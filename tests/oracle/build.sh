#!/bin/sh
# build.sh - build the libsignal-protocol-c interoperability oracle
# (tests/oracle/signal_oracle.c) against our waproc library.
# TEST ONLY: libsignal-protocol-c is GPL and never linked into the product.
#   sh tests/oracle/build.sh [OUTPUT]      (default build/oracle/signal_oracle)
# Exit status 2 when libsignal-protocol-c is not installed.
set -e
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
OUT=${1:-$BUILD/oracle/signal_oracle}
CC=${CC:-cc}
if [ ! -f /usr/include/signal/signal_protocol.h ]; then
	echo "libsignal-protocol-c-dev not installed" >&2
	exit 2
fi
make -s BUILD="$BUILD" "$BUILD/lib/libwa.a" "$BUILD/lib/libcommon.a"
mkdir -p "$(dirname "$OUT")"
# shellcheck disable=SC2046
$CC -std=c11 -D_GNU_SOURCE -O1 -g -Wall -Wextra -Wno-unused-parameter $EXTRA_CFLAGS \
    -I"$BUILD/gen" -Icommon -Iwaproc -I/usr/include/signal \
    $(pkg-config --cflags libprotobuf-c libsodium openssl) \
    -o "$OUT" tests/oracle/signal_oracle.c \
    "$BUILD/lib/libwa.a" "$BUILD/lib/libcommon.a" \
    -lsignal-protocol-c \
    $(pkg-config --libs libsodium openssl libprotobuf-c) -lm
