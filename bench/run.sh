#!/usr/bin/env bash
# smimepub benchmarks against the obvious alternatives, on a throwaway slapd (tests/dirs/slapd.sh).
#
#   bench/run.sh publish [N]   bulk publish of N certificates (default 10000)
#                              vs ldapmodify applying N blind replaces from a pre-built LDIF
#                              vs one `smimepub publish FILE` process per certificate
#                              (run on SUBSET files, extrapolated to N)
#   bench/run.sh audit [N]     audit of N certificates (default 10000)
#                              vs ldapsearch dumping the same entries and attributes
#                              vs ldapsearch plus one `openssl verify` per certificate
#                              (run on SUBSET files, extrapolated to N); peak RSS of the audit
#   bench/run.sh prune [N]     prune of N expired certificates (one per entry, judged a year on)
#                              vs ldapmodify applying N blind deletes from a pre-built LDIF
#   bench/run.sh wan [N]       the directory across a WAN: bulk publish of N certificates,
#                              prune of N and remove --all of N addresses (default 10000), each
#                              through bench/delayproxy.c at 0 ms
#                              and at WAN_RTT ms (default 10), default settings (no --jobs); the
#                              ratio 10 ms / 0 ms (target <= 1.5); ldapmodify's serial publish
#                              through both proxies (WAN_LDAPMODIFY_N records, default N; when
#                              fewer, its time is extrapolated to N and the output says so)
#   bench/run.sh all [N]       publish N, audit 10000 and audit 100000 (or N and 10*N when N is
#                              given), the audit's RSS growth between the two sizes, and wan N
#   bench/run.sh serve [N]     lookups per second and latency percentiles through serve's API
#                              against N entries (default 100000), next to one smimepub lookup
#                              process and one ldapsearch process per address
#   bench/run.sh profile [N]   perf record -g of an audit of N certificates (default 10000)
#   bench/run.sh callgrind [N] valgrind --tool=callgrind of an audit of N certificates (default
#                              2000): inclusive costs by function, readable without debug symbols
#
# Environment: SMIMEPUB (binary to test; default: a release build made in BENCH_WORK/build),
# BENCH_WORK (scratch, default /tmp/smimepub-bench), BENCH_PORT (default 3789; ldaps uses +1),
# REPEAT (timed runs per side, the best is reported; default 3), SUBSET (default 500),
# BENCH_JOBS (smimepub publish --jobs, default 8; empty: no --jobs, the adaptive default).
#
# Each side of a comparison runs against the same slapd, configuration and data; before every
# timed publish run the database is reset to the same snapshot (contacts without certificates).
# Figures are wall-clock seconds (date +%s.%N), best of REPEAT runs. Nothing is asserted: the
# script prints figures, ratios and the targets next to them.
set -euo pipefail

HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd -- "$HERE/.." && pwd)
SLAPD_SH=$ROOT/tests/dirs/slapd.sh
PATH=$PATH:/usr/sbin:/sbin

WORK=${BENCH_WORK:-/tmp/smimepub-bench}
PORT=${BENCH_PORT:-3789}
REPEAT=${REPEAT:-3}
SUBSET=${SUBSET:-500}
JOBS=${BENCH_JOBS-8}              # smimepub publish --jobs (empty: none)
AT=2026-06-01
SD=$WORK/sd                      # slapd instance (short: the ldapi socket lives there)
# What smimepub's audit reads (lib/dir/, rfc profile): the ldapsearch side asks for the same.
AUDIT_FILTER='(|(userCertificate=*)(userCertificate;binary=*)(userSMIMECertificate=*))'
AUDIT_ATTRS=(userCertificate 'userCertificate;binary' userSMIMECertificate
    'userSMIMECertificate;binary' mail proxyAddresses cn objectClass)

log() { printf 'bench: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

now() { date +%s.%N; }
# calc EXPR: floating-point arithmetic with awk.
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (b == "" || a < b) ? a : b }'; }

# ---------------------------------------------------------------------------------------------
# build

build() {
    mkdir -p "$WORK"
    if [[ -z ${SMIMEPUB:-} ]]; then
        local b=$WORK/build
        if [[ ! -f $b/build.ninja ]]; then
            meson setup "$b" "$ROOT" -Dbuildtype=release -Dtests=false >"$WORK/meson.log" 2>&1 ||
                { cat "$WORK/meson.log" >&2; die "meson setup failed"; }
        fi
        ninja -C "$b" smimepub >"$WORK/ninja.log" 2>&1 ||
            { cat "$WORK/ninja.log" >&2; die "build failed"; }
        SMIMEPUB=$b/smimepub
    fi
    [[ -x $SMIMEPUB ]] || die "SMIMEPUB=$SMIMEPUB is not executable"
    GEN=$WORK/gen
    if [[ ! -x $GEN || $HERE/gen.c -nt $GEN ]]; then
        # shellcheck disable=SC2046
        cc -O2 -Wall -Wextra -o "$GEN" "$HERE/gen.c" $(pkg-config --cflags --libs openssl) \
            -lpthread || die "cannot build bench/gen.c (needs libssl-dev, pkg-config)"
    fi
    for c in slapd slapadd ldapsearch ldapmodify openssl; do
        command -v "$c" >/dev/null || die "missing $c (packages slapd ldap-utils openssl)"
    done
    if [[ -x /usr/bin/time ]]; then TIMEV=/usr/bin/time; else TIMEV=; fi
    [[ -n $TIMEV ]] || log "/usr/bin/time missing (package time): RSS from /proc VmHWM polling"
}

# gen_data KIND N PEMS: generated once per (KIND, N) and reused; prints the directory.
gen_data() {
    local d=$WORK/data-$1-$2
    if [[ ! -f $d/.done ]]; then
        rm -rf -- "$d"
        log "generating $2 certificates into $d"
        "$GEN" -n "$2" -p "$3" -o "$d" >&2 || die "generator failed"
        touch "$d/.done"
    fi
    printf '%s\n' "$d"
}

# ---------------------------------------------------------------------------------------------
# slapd: created by tests/dirs/slapd.sh, loaded offline with slapadd, restarted with the
# command line slapd.sh uses (the configuration in $SD/slapd.d is not touched).

slapd_create() {
    "$SLAPD_SH" start "$SD" "$PORT" >"$WORK/slapd-sh.log" 2>&1 ||
        { cat "$WORK/slapd-sh.log" >&2; die "slapd.sh start failed"; }
    set -a
    # shellcheck disable=SC1091
    . "$SD/env"
    set +a
    printf '%s' "$SLAPD_ROOTPW" >"$WORK/pw"
    chmod 600 "$WORK/pw"
    slapd_stop
}

slapd_stop() { "$SLAPD_SH" stop "$SD" >>"$WORK/slapd-sh.log" 2>&1 || true; }

slapd_run() {
    local i
    setsid slapd -F "$SD/slapd.d" -h "$SLAPD_URI/ $SLAPD_LDAPS_URI/ $SLAPD_LDAPI_URI" -d none \
        </dev/null >>"$SD/slapd.log" 2>&1 &
    for ((i = 0; i < 300; i++)); do
        if ldapsearch -x -H "$SLAPD_URI" -o nettimeout=2 -s base -b '' -LLL 1.1 >/dev/null 2>&1 &&
            [[ -s $SD/slapd.pid ]]; then
            return 0
        fi
        sleep 0.1
    done
    die "slapd did not come back (log: $SD/slapd.log)"
}

# slapd_load LDIF: offline bulk load (slapd must be stopped).
slapd_load() {
    slapadd -F "$SD/slapd.d" -b "$SLAPD_BASE" -q -l "$1" >>"$WORK/slapadd.log" 2>&1 ||
        { tail -5 "$WORK/slapadd.log" >&2; die "slapadd of $1 failed"; }
}

snapshot_save() { cp --sparse=always -- "$SD/db/data.mdb" "$WORK/snapshot.mdb"; }

# Stop slapd, put the saved database back, start slapd: every run starts from the same state.
snapshot_restore() {
    slapd_stop
    rm -f -- "$SD/db/lock.mdb"
    cp --sparse=always -- "$WORK/snapshot.mdb" "$SD/db/data.mdb"
    slapd_run
}

cleanup() {
    proxy_stop
    if [[ -d $SD ]]; then slapd_stop; fi
}

count_certs() {
    ldapsearch -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -b "$SLAPD_BASE" -LLL \
        -E pr=1000/noprompt '(userCertificate=*)' 1.1 2>/dev/null | grep -c '^dn:' || true
}

# CPU seconds (user + system) that this script's finished children used so far, and that the
# running slapd used so far: /proc's cutime+cstime and utime+stime, in clock ticks. ($$, not
# $BASHPID: these run in the subshell of a command substitution.)
children_ticks() { awk '{ print $16 + $17 }' "/proc/$$/stat"; }
slapd_ticks() { awk '{ print $14 + $15 }' "/proc/$(cat "$SD/slapd.pid")/stat" 2>/dev/null || echo 0; }
TICK=$(getconf CLK_TCK)

# timed VAR CMD...: runs CMD, stores its wall-clock seconds in VAR; CMD's status in LAST_RC;
# the CPU seconds CMD (with its children) and slapd used meanwhile in LAST_CPU / LAST_SLAPD_CPU.
timed() {
    local var=$1 t0 t1 c0 c1 s0 s1
    shift
    c0=$(children_ticks)
    s0=$(slapd_ticks)
    t0=$(now)
    set +e
    "$@"
    LAST_RC=$?
    set -e
    t1=$(now)
    c1=$(children_ticks)
    s1=$(slapd_ticks)
    printf -v "$var" '%s' "$(calc "$t1 - $t0")"
    LAST_CPU=$(calc "($c1 - $c0) / $TICK")
    LAST_SLAPD_CPU=$(calc "($s1 - $s0) / $TICK")
}

# cpu_line LABEL CLIENT SLAPD WALL: where a run's CPU went, and what that means on these CPUs
# (client + slapd CPU over the number of CPUs is as fast as the run can be here).
cpu_line() {
    printf '  %-12s CPU: client %s s + slapd %s s = %s s over %s s wall (floor on %s CPUs: %s s)\n' \
        "$1" "$2" "$3" "$(calc "$2 + $3")" "$4" "$(nproc)" "$(calc "($2 + $3) / $(nproc)")"
}

# peak_rss_mb FILE: "Maximum resident set size (kbytes)" from /usr/bin/time -v, in MB.
peak_rss_mb() { awk -F': ' '/Maximum resident set size/ { printf "%.1f", $2 / 1024 }' "$1"; }

# Without /usr/bin/time: run CMD in the background and poll its VmHWM (kB) into RSS_FILE.
run_polling_rss() {
    local out=$1 pid hwm=0 v
    shift
    "$@" &
    pid=$!
    while kill -0 "$pid" 2>/dev/null; do
        v=$(awk '/VmHWM/ { print $2 }' "/proc/$pid/status" 2>/dev/null || true)
        [[ -n $v ]] && ((v > hwm)) && hwm=$v
        sleep 0.05
    done
    wait "$pid"
    local rc=$?
    printf 'Maximum resident set size (kbytes): %s\n' "$hwm" >"$out"
    return $rc
}


# alternate A_LABEL A_FN A_SAYS B_LABEL B_FN B_SAYS: REPEAT rounds, each running A_FN and then
# B_FN on the database snapshot (snapshot_restore first), timed; X_SAYS prints what a run
# left behind, for its log line. Sets BEST_A and BEST_B (seconds) and CPU_A and CPU_B (the
# best runs' cpu_line). A label's first word names it in cpu_line.
alternate() {
    local r t side label fn says best cpu
    BEST_A='' BEST_B='' CPU_A='' CPU_B=''
    for ((r = 1; r <= REPEAT; r++)); do
        for side in A B; do
            if [[ $side == A ]]; then label=$1 fn=$2 says=$3; else label=$4 fn=$5 says=$6; fi
            snapshot_restore
            timed t "$fn"
            log "  run $r: $label ${t}s (exit $LAST_RC, $("$says"); CPU ${LAST_CPU} s, slapd ${LAST_SLAPD_CPU} s)"
            ((LAST_RC == 0)) || log "  ($label failed: figures below are not comparable)"
            best=BEST_$side cpu=CPU_$side
            [[ $(min "$t" "${!best}") == "$t" ]] &&
                printf -v "$cpu" '%s' "$(cpu_line "${label%% *}" "$LAST_CPU" "$LAST_SLAPD_CPU" "$t")"
            printf -v "$best" '%s' "$(min "$t" "${!best}")"
        done
    done
}

# ---------------------------------------------------------------------------------------------
# publish

publish_smimepub() {
    rm -f -- "$WORK/journal.ldif"
    "$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" --ca-file "$DATA/root.pem" \
        --at "$AT" --journal "$WORK/journal.ldif" --format json ${JOBS:+--jobs "$JOBS"} publish "$DATA/certs" \
        >"$WORK/publish.out" 2>"$WORK/publish.err" || { local rc=$?; tail -3 "$WORK/publish.err" >&2; return $rc; }
}

publish_says() {
    printf '%s published, %s entries with a certificate' \
        "$(grep -c '"action": *"published"' "$WORK/publish.out" || true)" "$(count_certs)"
}

certs_says() { printf '%s entries with a certificate' "$(count_certs)"; }

publish_ldapmodify() {
    ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -f "$DATA/modify.ldif" \
        >/dev/null 2>"$WORK/ldapmodify.err"
}

publish_loop() {
    local i f
    for ((i = 1; i <= SUBSET; i++)); do
        f=$DATA/certs/user$i.pem
        "$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" --ca-file "$DATA/root.pem" \
            --at "$AT" --journal "$WORK/journal-loop.ldif" -q publish "$f" >/dev/null 2>&1 ||
            return 1
    done
}

bench_publish() {
    local n=$1 t_loop loop_n
    ((SUBSET <= n)) || SUBSET=$n
    DATA=$(gen_data pub "$n" "$n")
    log "publish: $n certificates; slapd on $PORT"
    slapd_create
    slapd_load "$DATA/contacts.ldif"
    snapshot_save
    alternate "smimepub publish" publish_smimepub publish_says \
        ldapmodify publish_ldapmodify certs_says
    snapshot_restore
    rm -f -- "$WORK/journal-loop.ldif"
    timed t_loop publish_loop
    ((LAST_RC == 0)) || log "  one-process loop failed"
    loop_n=$(calc "$t_loop * $n / $SUBSET")
    slapd_stop

    cat <<EOF

== publish: $n certificates (best of $REPEAT; --jobs ${JOBS:-default}; slapd $(slapd -VV 2>&1 | awk '/slapd/ { print $4; exit }'), olcDbNoSync) ==
smimepub publish DIR (one process, $n files)   ${BEST_A} s   $(calc "$n / $BEST_A") certs/s
ldapmodify -f modify.ldif ($n blind replaces)  ${BEST_B} s   $(calc "$n / $BEST_B") certs/s
one smimepub process per certificate           ${t_loop} s for $SUBSET (run once), extrapolated to $n: ${loop_n} s
ratio smimepub / ldapmodify                    $(calc "$BEST_A / $BEST_B")   (target <= 1.0)
speed-up vs one process per certificate        $(calc "$loop_n / $BEST_A")x   (target >= 20x; baseline extrapolated from $SUBSET)
where the CPU went in the best runs:
$CPU_A
$CPU_B
EOF
    printf 'publish %s smimepub=%s ldapmodify=%s loop=%s\n' "$n" "$BEST_A" "$BEST_B" "$loop_n" \
        >>"$WORK/results.txt"
}

# ---------------------------------------------------------------------------------------------
# audit

audit_ldapsearch() {
    ldapsearch -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -b "$SLAPD_BASE" -LLL \
        -E pr=500/noprompt "$AUDIT_FILTER" "${AUDIT_ATTRS[@]}" >/dev/null 2>"$WORK/ldapsearch.err"
}

# audit_setup N: the audit data of N certificates in a fresh slapd, started; sets DATA and
# AUDIT_CMD (the smimepub audit every audit benchmark runs).
audit_setup() {
    DATA=$(gen_data aud "$1" "$SUBSET")
    slapd_create
    slapd_load "$DATA/contacts-certs.ldif"
    slapd_run
    AUDIT_CMD=("$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw"
        --ca-file "$DATA/root.pem" --at "$AT" --format json audit)
}

audit_smimepub() {
    if [[ -n $TIMEV ]]; then
        "$TIMEV" -v -o "$WORK/audit.rss" "${AUDIT_CMD[@]}" >"$WORK/audit.out" 2>"$WORK/audit.err"
    else
        run_polling_rss "$WORK/audit.rss" "${AUDIT_CMD[@]}" >"$WORK/audit.out" 2>"$WORK/audit.err"
    fi
}

openssl_loop() {
    local i epoch
    epoch=$(date -u -d "$AT" +%s)
    for ((i = 1; i <= SUBSET; i++)); do
        openssl verify -CAfile "$DATA/root.pem" -attime "$epoch" -purpose smimesign \
            "$DATA/certs/user$i.pem" >/dev/null 2>&1 || return 1
    done
}

bench_audit() {
    local n=$1 r t best_a='' best_l='' rss='' t_ossl ossl_n status cpu_a='' cpu_l=''
    ((SUBSET <= n)) || SUBSET=$n
    log "audit: $n certificates; slapd on $PORT"
    audit_setup "$n"
    audit_ldapsearch   # warm-up: both sides then read from the same page cache
    for ((r = 1; r <= REPEAT; r++)); do
        timed t audit_ldapsearch
        log "  run $r: ldapsearch ${t}s (exit $LAST_RC; CPU ${LAST_CPU} s, slapd ${LAST_SLAPD_CPU} s)"
        [[ $(min "$t" "$best_l") == "$t" ]] && cpu_l=$(cpu_line ldapsearch "$LAST_CPU" "$LAST_SLAPD_CPU" "$t")
        best_l=$(min "$t" "$best_l")
        timed t audit_smimepub
        status=$LAST_RC
        log "  run $r: smimepub audit ${t}s (exit $status: $(grep -o '"message": *"[^"]*"' "$WORK/audit.out" | tail -1)), peak RSS $(peak_rss_mb "$WORK/audit.rss") MB; CPU ${LAST_CPU} s, slapd ${LAST_SLAPD_CPU} s"
        ((status <= 2)) || { tail -3 "$WORK/audit.err" >&2; log "  (audit incomplete: figures below are not comparable)"; }
        [[ $(min "$t" "$best_a") == "$t" ]] && cpu_a=$(cpu_line smimepub "$LAST_CPU" "$LAST_SLAPD_CPU" "$t")
        best_a=$(min "$t" "$best_a")
        rss=$(awk -v a="$(peak_rss_mb "$WORK/audit.rss")" -v b="$rss" 'BEGIN { print (b == "" || a > b) ? a : b }')
    done
    timed t_ossl openssl_loop
    ((LAST_RC == 0)) || log "  openssl verify loop failed"
    ossl_n=$(calc "$best_l + $t_ossl * $n / $SUBSET")
    slapd_stop

    cat <<EOF

== audit: $n certificates (best of $REPEAT; peak RSS: highest of the runs) ==
smimepub audit --format json >file             ${best_a} s   $(calc "$n / $best_a") certs/s   peak RSS ${rss} MB (target <= 64 MB)
ldapsearch, same filter/attributes >/dev/null  ${best_l} s
ldapsearch + openssl verify per certificate    ${best_l} s + ${t_ossl} s for $SUBSET (run once), extrapolated to $n: ${ossl_n} s
ratio smimepub / ldapsearch                    $(calc "$best_a / $best_l")   (target <= 2.0)
speed-up vs ldapsearch + openssl verify        $(calc "$ossl_n / $best_a")x   (target >= 10x; openssl part extrapolated from $SUBSET)
where the CPU went in the best runs:
$cpu_a
$cpu_l
EOF
    printf 'audit %s smimepub=%s ldapsearch=%s openssl=%s rss=%s\n' "$n" "$best_a" "$best_l" \
        "$ossl_n" "$rss" >>"$WORK/results.txt"
    LAST_RSS=$rss
}

# ---------------------------------------------------------------------------------------------
# prune

PRUNE_AT=2027-06-01  # a year after the data's certificates expired

prune_smimepub() {
    rm -f -- "$WORK/journal-prune.ldif"
    "$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" --ca-file "$DATA/root.pem" \
        --at "$PRUNE_AT" --journal "$WORK/journal-prune.ldif" --format json prune \
        >"$WORK/prune.out" 2>"$WORK/prune.err" || { local rc=$?; tail -3 "$WORK/prune.err" >&2; return $rc; }
}

prune_says() {
    printf '%s removed, %s entries with a certificate left' \
        "$(grep -c '"action": *"removed"' "$WORK/prune.out" || true)" "$(count_certs)"
}

prune_ldapmodify() {
    ldapmodify -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -f "$WORK/delete.ldif" \
        >/dev/null 2>"$WORK/ldapmodify.err"
}

bench_prune() {
    local n=$1
    DATA=$(gen_data aud "$n" "$SUBSET")
    log "prune: $n expired certificates (judged at $PRUNE_AT); slapd on $PORT"
    # the alternative: delete every entry's userCertificate blindly, no check, no journal
    awk 'BEGIN { RS = ""; FS = "\n" } /userCertificate/ {
            print $1; print "changetype: modify"; print "delete: userCertificate;binary"
            print "-"; print "" }' "$DATA/contacts-certs.ldif" >"$WORK/delete.ldif"
    slapd_create
    slapd_load "$DATA/contacts-certs.ldif"
    snapshot_save
    alternate "smimepub prune" prune_smimepub prune_says ldapmodify prune_ldapmodify certs_says
    slapd_stop

    cat <<EOF

== prune: $n expired certificates (best of $REPEAT; slapd olcDbNoSync) ==
smimepub prune (walk, check, journal, exact deletes)  ${BEST_A} s   $(calc "$n / $BEST_A") certs/s
ldapmodify -f delete.ldif ($n blind deletes)         ${BEST_B} s   $(calc "$n / $BEST_B") certs/s
ratio smimepub / ldapmodify                           $(calc "$BEST_A / $BEST_B")   (no target)
where the CPU went in the best runs:
$CPU_A
$CPU_B
EOF
    printf 'prune %s smimepub=%s ldapmodify=%s\n' "$n" "$BEST_A" "$BEST_B" >>"$WORK/results.txt"
}

# ---------------------------------------------------------------------------------------------
# wan: the same slapd behind bench/delayproxy.c, at 0 ms and at WAN_RTT ms

WAN_RTT=${WAN_RTT:-10}
PROXY_PIDS=()

# proxy_start PORT RTT_MS: a delay proxy on 127.0.0.1:PORT in front of slapd's port.
proxy_start() {
    local pidfile=$WORK/proxy-$1.pid i
    rm -f -- "$pidfile"
    "$PROXY" "$1" "$PORT" "$2" "$pidfile" 2>>"$WORK/proxy.log" &
    for ((i = 0; i < 100; i++)); do
        [[ -s $pidfile ]] && { PROXY_PIDS+=("$(cat "$pidfile")"); return 0; }
        sleep 0.05
    done
    die "delay proxy on port $1 did not start (log: $WORK/proxy.log)"
}

proxy_stop() {
    local p
    for p in "${PROXY_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    PROXY_PIDS=()
}

WAN0_URI='' WAN_URI=''
wan_publish0() { local SLAPD_URI=$WAN0_URI JOBS=''; publish_smimepub; }
wan_publish1() { local SLAPD_URI=$WAN_URI JOBS=''; publish_smimepub; }
wan_prune0() { local SLAPD_URI=$WAN0_URI; prune_smimepub; }
wan_prune1() { local SLAPD_URI=$WAN_URI; prune_smimepub; }
# remove --all of every address named on the command line: the pipeline's batched searches
REMOVE_TARGETS=()
remove_smimepub() {
    rm -f -- "$WORK/journal-remove.ldif"
    "$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" \
        --journal "$WORK/journal-remove.ldif" --format json remove --all "${REMOVE_TARGETS[@]}" \
        >"$WORK/remove.out" 2>"$WORK/remove.err" || { local rc=$?; tail -3 "$WORK/remove.err" >&2; return $rc; }
}
remove_says() {
    printf '%s removed, %s entries with a certificate left' \
        "$(grep -c '"action": *"removed"' "$WORK/remove.out" || true)" "$(count_certs)"
}
wan_remove0() { local SLAPD_URI=$WAN0_URI; remove_smimepub; }
wan_remove1() { local SLAPD_URI=$WAN_URI; remove_smimepub; }
wan_ldapmodify() {
    ldapmodify -x -H "$1" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -f "$WORK/modify-wan.ldif" \
        >/dev/null 2>"$WORK/ldapmodify.err"
}
wan_ldapmodify0() { wan_ldapmodify "$WAN0_URI"; }
wan_ldapmodify1() { wan_ldapmodify "$WAN_URI"; }

bench_wan() {
    local n=$1 lm_n=${WAN_LDAPMODIFY_N:-$1} pub0 pub1 prn0 prn1 cpu_p0 cpu_p1 cpu_r0 cpu_r1
    local lm0 lm1 lm0_n lm1_n lm_note="" lm_rc0 lm_rc1 rm0 rm1 i
    ((lm_n <= n)) || lm_n=$n
    PROXY=$WORK/delayproxy
    if [[ ! -x $PROXY || $HERE/delayproxy.c -nt $PROXY ]]; then
        cc -O2 -Wall -Wextra -o "$PROXY" "$HERE/delayproxy.c" || die "cannot build bench/delayproxy.c"
    fi
    WAN0_URI=ldap://127.0.0.1:$((PORT + 2))
    WAN_URI=ldap://127.0.0.1:$((PORT + 3))
    proxy_start $((PORT + 2)) 0
    proxy_start $((PORT + 3)) "$WAN_RTT"

    DATA=$(gen_data pub "$n" "$n")
    log "wan publish: $n certificates through the proxy at 0 ms and at $WAN_RTT ms; slapd on $PORT"
    slapd_create
    slapd_load "$DATA/contacts.ldif"
    snapshot_save
    alternate "smimepub-0ms publish" wan_publish0 publish_says \
        "smimepub-${WAN_RTT}ms publish" wan_publish1 publish_says
    pub0=$BEST_A pub1=$BEST_B cpu_p0=$CPU_A cpu_p1=$CPU_B
    # ldapmodify's serial replaces through both proxies, once each (at 10 ms it pays N x RTT)
    awk -v max="$lm_n" 'BEGIN { RS = ""; ORS = "\n\n" } NR <= max' "$DATA/modify.ldif" \
        >"$WORK/modify-wan.ldif"
    snapshot_restore
    timed lm0 wan_ldapmodify0
    lm_rc0=$LAST_RC
    log "  ldapmodify-0ms of $lm_n: ${lm0}s (exit $lm_rc0, $(certs_says))"
    snapshot_restore
    timed lm1 wan_ldapmodify1
    lm_rc1=$LAST_RC
    log "  ldapmodify-${WAN_RTT}ms of $lm_n: ${lm1}s (exit $lm_rc1, $(certs_says))"
    lm0_n=$(calc "$lm0 * $n / $lm_n")
    lm1_n=$(calc "$lm1 * $n / $lm_n")
    ((lm_n == n)) || lm_note="   EXTRAPOLATED to $n from a run of $lm_n (WAN_LDAPMODIFY_N)"
    slapd_stop

    DATA=$(gen_data aud "$n" "$SUBSET")
    log "wan prune: $n expired certificates through the proxy at 0 ms and at $WAN_RTT ms"
    slapd_create
    slapd_load "$DATA/contacts-certs.ldif"
    snapshot_save
    alternate "smimepub-0ms prune" wan_prune0 prune_says \
        "smimepub-${WAN_RTT}ms prune" wan_prune1 prune_says
    prn0=$BEST_A prn1=$BEST_B cpu_r0=$CPU_A cpu_r1=$CPU_B
    log "wan remove: remove --all of $n addresses through the proxy at 0 ms and at $WAN_RTT ms"
    REMOVE_TARGETS=()
    for ((i = 1; i <= n; i++)); do REMOVE_TARGETS+=("user$i@bench.example"); done
    alternate "smimepub-0ms remove" wan_remove0 remove_says \
        "smimepub-${WAN_RTT}ms remove" wan_remove1 remove_says
    rm0=$BEST_A rm1=$BEST_B
    slapd_stop
    proxy_stop

    cat <<EOF

== wan: $n certificates through bench/delayproxy at 0 ms and at $WAN_RTT ms RTT (best of $REPEAT; default settings, no --jobs) ==
smimepub publish, 0 ms                 ${pub0} s   $(calc "$n / $pub0") certs/s
smimepub publish, $WAN_RTT ms                ${pub1} s   $(calc "$n / $pub1") certs/s
ratio publish $WAN_RTT ms / 0 ms               $(calc "$pub1 / $pub0")   (target <= 1.5)
smimepub prune, 0 ms                   ${prn0} s   $(calc "$n / $prn0") certs/s
smimepub prune, $WAN_RTT ms                  ${prn1} s   $(calc "$n / $prn1") certs/s
ratio prune $WAN_RTT ms / 0 ms                 $(calc "$prn1 / $prn0")   (target <= 1.5)
smimepub remove --all, 0 ms            ${rm0} s   $(calc "$n / $rm0") entries/s
smimepub remove --all, $WAN_RTT ms           ${rm1} s   $(calc "$n / $rm1") entries/s
ratio remove $WAN_RTT ms / 0 ms                $(calc "$rm1 / $rm0")
ldapmodify (serial), 0 ms              ${lm0_n} s (run once, exit $lm_rc0)$lm_note
ldapmodify (serial), $WAN_RTT ms             ${lm1_n} s (run once, exit $lm_rc1)$lm_note
ratio ldapmodify $WAN_RTT ms / 0 ms            $(calc "$lm1_n / $lm0_n")   (it pays N x RTT = $(calc "$n * $WAN_RTT / 1000") s)
ldapmodify / smimepub publish, $WAN_RTT ms   $(calc "$lm1_n / $pub1")x
where the CPU went in the best runs:
$cpu_p0
$cpu_p1
$cpu_r0
$cpu_r1
EOF
    printf 'wan %s rtt=%s publish0=%s publish1=%s prune0=%s prune1=%s remove0=%s remove1=%s ldapmodify0=%s ldapmodify1=%s\n' \
        "$n" "$WAN_RTT" "$pub0" "$pub1" "$prn0" "$prn1" "$rm0" "$rm1" "$lm0_n" "$lm1_n" >>"$WORK/results.txt"
}

bench_profile() {
    local n=$1
    command -v perf >/dev/null || die "perf not installed (package linux-perf)"
    audit_setup "$n"
    perf record -g -o "$WORK/audit.perf" -- "${AUDIT_CMD[@]}" >/dev/null 2>"$WORK/perf.err" ||
        true
    slapd_stop
    perf report -i "$WORK/audit.perf" --no-children --sort dso,symbol --stdio 2>/dev/null |
        grep -E '^ +[0-9.]+%' | head -40
    log "full profile: perf report -i $WORK/audit.perf"
}

bench_callgrind() {
    local n=$1
    command -v valgrind >/dev/null || die "valgrind not installed"
    audit_setup "$n"
    valgrind --tool=callgrind --callgrind-out-file="$WORK/audit.callgrind" -- "${AUDIT_CMD[@]}" \
        >/dev/null 2>"$WORK/callgrind.err" || true
    slapd_stop
    callgrind_annotate --inclusive=yes "$WORK/audit.callgrind" 2>/dev/null |
        grep -E '^ *[0-9,]+ \( *[0-9.]+%\) ' | grep -v '???:0x' | head -45
    log "full profile: callgrind_annotate --inclusive=yes --tree=caller $WORK/audit.callgrind"
}

# serve N: lookups through `smimepub serve`'s API against N entries (default 100000), from
# SERVE_CLIENTS sessions at once (default 4) for SERVE_SECONDS (default 30): lookups per second
# and latency percentiles; next to them what a ticket system would do without the server,
# one `smimepub lookup` process per address and one ldapsearch process per address (SUBSET of
# each, per second), and the ratios.
bench_serve() {
    local n=$1 port=$((PORT + 7)) pid line t rate_cli rate_ls i k
    local clients=${SERVE_CLIENTS:-4} seconds=${SERVE_SECONDS:-30} sample=${SUBSET:-500}
    ((sample <= 200)) || sample=200
    log "serve: lookups against $n entries; $clients clients for $seconds s"
    audit_setup "$n"
    "$SMIMEPUB" -H "$SLAPD_URI" --ca-file "$DATA/root.pem" --at "$AT" serve \
        --listen "127.0.0.1:$port" 2>"$WORK/serve.err" &
    pid=$!
    for ((k = 0; k < 100; k++)); do
        grep -q 'serving on' "$WORK/serve.err" 2>/dev/null && break
        sleep 0.1
    done
    line=$(python3 "$HERE/serve_load.py" "http://127.0.0.1:$port/" "$SLAPD_ROOTDN" "$(cat "$WORK/pw")" \
        "$n" "$clients" "$seconds") || { kill "$pid"; die "serve load failed"; }
    kill -TERM "$pid"
    wait "$pid" || true
    echo "serve $n entries: $line"
    local rate_api
    rate_api=$(sed -E 's/.*: ([0-9]+)\/s.*/\1/' <<<"$line")
    t=$(now)
    for ((i = 1; i <= sample; i++)); do
        k=$(( (i * 7919) % n + 1 ))
        "$SMIMEPUB" -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" --ca-file "$DATA/root.pem" \
            --at "$AT" --format json lookup "user$k@bench.example" >/dev/null 2>&1 || true
    done
    rate_cli=$(calc "$sample / ($(now) - $t)")
    t=$(now)
    for ((i = 1; i <= sample; i++)); do
        k=$(( (i * 7919) % n + 1 ))
        ldapsearch -x -H "$SLAPD_URI" -D "$SLAPD_ROOTDN" -y "$WORK/pw" -b "$SLAPD_BASE" -LLL \
            "(|(mail=user$k@bench.example)(proxyAddresses=smtp:user$k@bench.example))" \
            userCertificate 'userCertificate;binary' userSMIMECertificate mail >/dev/null 2>&1 || true
    done
    rate_ls=$(calc "$sample / ($(now) - $t)")
    slapd_stop
    echo "  one smimepub lookup process per address: $rate_cli/s; API / that = $(calc "$rate_api / $rate_cli")"
    echo "  one ldapsearch process per address (no judgement): $rate_ls/s; API / that = $(calc "$rate_api / $rate_ls")"
}

main() {
    local what=${1:-all} n=${2:-} small big rss_small
    case $what in
        publish | audit | prune | wan | all | profile | callgrind | serve) ;;
        *) echo "usage: bench/run.sh [publish|audit|prune|wan|all|profile|callgrind|serve] [N]" >&2; exit 2 ;;
    esac
    if [[ -n $n && ! $n =~ ^[1-9][0-9]*$ ]]; then die "bad N: $n"; fi
    build
    trap cleanup EXIT
    log "$(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); smimepub $SMIMEPUB"
    case $what in
        publish) bench_publish "${n:-10000}" ;;
        audit) bench_audit "${n:-10000}" ;;
        prune) bench_prune "${n:-10000}" ;;
        wan) bench_wan "${n:-10000}" ;;
        profile) bench_profile "${n:-10000}" ;;
        callgrind) bench_callgrind "${n:-2000}" ;;
        serve) bench_serve "${n:-100000}" ;;
        all)
            bench_publish "${n:-10000}"
            small=${n:-10000}
            big=$((small * 10))
            bench_audit "$small"
            rss_small=$LAST_RSS
            bench_audit "$big"
            echo
            echo "audit peak RSS at $big / at $small: $LAST_RSS / $rss_small MB = $(calc "$LAST_RSS / $rss_small") (target <= 1.2)"
            bench_wan "$small"
            ;;
    esac
}

main "$@"
