#!/bin/bash
# The whole test suite, as README and CI run it:
#   installs the Debian packages, builds with AddressSanitizer + UndefinedBehaviorSanitizer and
#   -Werror, starts a throwaway slapd (127.0.0.1) and Samba AD DC (127.0.0.2), runs unit, fuzz
#   replay, CLI and integration tests, stops the directories by PID, and ends with
#   "N passed, N failed".
# Usage: tests/run.sh [BUILDDIR]   (default: build-test)
# SMIMEPUB_SLAPD_PORT (default 3389) and SMIMEPUB_AD_IP (default 127.0.0.2) move the directories.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build-test}
cd "$ROOT"

"$ROOT/scripts/install-deps.sh" --tests

# -Dtorture=true: the fault injection of tests/integration/test_torture.py (lib/torture.h)
if [ ! -f "$BUILD/build.ninja" ]; then
	meson setup "$BUILD" --werror -Db_sanitize=address,undefined -Db_lundef=false \
		-Dbuildtype=debug -Dtorture=true >/dev/null
else
	meson configure "$BUILD" -Dtorture=true >/dev/null
fi
ninja -C "$BUILD"

# Short path: unix sockets of slapd and Samba live below it.
DIRS=$(mktemp -d /tmp/smp.XXXXXX)
cleanup() {
	"$ROOT/tests/dirs/slapd.sh" stop "$DIRS/sd" >/dev/null 2>&1 || true
	"$ROOT/tests/dirs/samba.sh" stop "$DIRS/ad" >/dev/null 2>&1 || true
	rm -rf "$DIRS"
}
trap cleanup EXIT

echo "starting slapd and Samba AD in $DIRS"
"$ROOT/tests/dirs/slapd.sh" start "$DIRS/sd" "${SMIMEPUB_SLAPD_PORT:-3389}" >"$DIRS/slapd.log" 2>&1 ||
	{ cat "$DIRS/slapd.log" >&2; echo "tests/run.sh: cannot start slapd" >&2; exit 1; }
"$ROOT/tests/dirs/samba.sh" start "$DIRS/ad" >"$DIRS/samba.log" 2>&1 ||
	{ cat "$DIRS/samba.log" >&2; echo "tests/run.sh: cannot start Samba AD" >&2; exit 1; }
export SMIMEPUB_SLAPD_ENV="$DIRS/sd/env"
export SMIMEPUB_AD_ENV="$DIRS/ad/env"

export ASAN_OPTIONS="detect_leaks=1:abort_on_error=0:halt_on_error=1:strict_string_checks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
if [ -f "$ROOT/tests/lsan.supp" ]; then
	export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
fi

status=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 || status=$?

python3 - "$BUILD/meson-logs/testlog.json" <<'PY'
# Counts test cases, not just test programs: each Python test prints "N passed, N failed",
# each cmocka runner "[  PASSED  ] N test(s)"; a program without either counts as one.
import json, re, sys
passed = failed = 0
with open(sys.argv[1]) as fp:
    for line in fp:
        r = json.loads(line)
        out = r.get("stdout") or ""
        ok = r["result"] in ("OK", "EXPECTEDFAIL", "SKIP")
        m = re.findall(r"^(\d+) passed, (\d+) failed", out, re.M)
        cm_p = re.findall(r"\[  PASSED  \] (\d+) test", out)
        cm_f = re.findall(r"\[  FAILED  \] (\d+) test", out)
        if m:
            p, f = int(m[-1][0]), int(m[-1][1])
        elif cm_p or cm_f:
            p, f = sum(map(int, cm_p)), sum(map(int, cm_f))
        else:
            p, f = (1, 0) if ok else (0, 1)
        if not ok and f == 0:
            f = 1
        if not ok:
            print("FAILED:", r["name"], r["result"])
        passed += p
        failed += f
print("%d passed, %d failed" % (passed, failed))
PY
exit $status
