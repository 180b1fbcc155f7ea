#!/bin/sh
# Meson wrapper: build-pki.sh MAKE_PKI OUTDIR STAMP — regenerates the test PKI into OUTDIR.
set -eu
rm -rf "$2"
"$1" "$2" >"$2.log" 2>&1 || { cat "$2.log" >&2; exit 1; }
touch "$3"
