#!/usr/bin/env bash
# Start or stop a throwaway Samba Active Directory domain controller on 127.0.0.2 for tests,
# the demo and benchmarks.
#
#   tests/dirs/samba.sh start DIR   provision a fresh domain EXAMPLE.TEST in DIR (wiped first)
#   tests/dirs/samba.sh stop DIR    stop the DC running from DIR
#
# Listens on 127.0.0.2 only: LDAP 389 (StartTLS), LDAPS 636, GC 3268/3269, Kerberos 88/464.
# Writes DIR/env (sourceable). Must run as root. See tests/dirs/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

PROG=${0##*/}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MARKER=.smimepub-samba
IP=${SMIMEPUB_AD_IP:-127.0.0.2}   # another loopback address lets a second instance run beside
# A second instance beside the first needs only LDAP (SMIMEPUB_AD_SERVICES=ldap): no
# Kerberos ports to share. SMIMEPUB_AD_EXCHANGE=1 adds Exchange's recipient schema
# (samba-fixtures.py).
SERVICES=${SMIMEPUB_AD_SERVICES:-ldap cldap kdc}
REALM=EXAMPLE.TEST
DOMAIN=EXAMPLE
BASE='DC=example,DC=test'
ADMIN_DN="CN=Administrator,CN=Users,$BASE"
ADMIN_PW='Secret123!x'
WRITER_DN="CN=certwriter,CN=Users,$BASE"
WRITER_PW='Certwriter123!'
READER_DN="CN=reader,CN=Users,$BASE"
READER_PW='Reader123!x'
PARTNERS="OU=Partners,$BASE"
START_TIMEOUT=60

usage() {
    cat >&2 <<USAGE
usage: $PROG start DIR   (DIR at most 80 characters; it is wiped and rebuilt)
       $PROG stop DIR
USAGE
    exit 2
}

find_tools() {
    PATH=$PATH:/usr/sbin:/sbin
    ((EUID == 0)) || die "a Samba AD DC must run as root"
    need_cmds samba samba-tool ldapsearch openssl awk
    # Use the Python that samba-tool runs with: a python3 earlier on PATH (pyenv, venv)
    # usually lacks the samba modules.
    local shebang
    read -r shebang <"$(command -v samba-tool)"
    read -r -a PY <<<"${shebang#\#!}"
    if ((${#PY[@]} == 0)) || ! "${PY[@]}" -c 'import samba.samdb' 2>/dev/null; then
        die "cannot find the Python interpreter with the samba modules (samba-tool starts with: $shebang)"
    fi
}

ldap_up() { # anonymous root DSE read
    ldapsearch -x -H "ldap://$IP" -o nettimeout=2 -s base -b '' -LLL defaultNamingContext >/dev/null 2>&1
}

ldap_bind_ok() { # the domain answers an authenticated search
    ldapsearch -x -H "ldap://$IP" -o nettimeout=2 -D "$ADMIN_DN" -w "$ADMIN_PW" \
        -s base -b "$BASE" -LLL 1.1 >/dev/null 2>&1
}

provision() {
    local dir=$1
    local -a cmd=(samba-tool domain provision
        --realm="$REALM" --domain="$DOMAIN" --server-role=dc --dns-backend=NONE
        --use-rfc2307 --adminpass="$ADMIN_PW" --host-name=dc1 --host-ip="$IP"
        --targetdir="$dir"
        --option="interfaces=$IP/8" --option="bind interfaces only=yes"
        --option="server services=$SERVICES" --option="disable netbios=yes")
    # A private network namespace keeps provisioning off every network; some containers
    # forbid unshare, and provisioning does not need it.
    if unshare -n true 2>/dev/null; then
        cmd=(unshare -n "${cmd[@]}")
    else
        log "unshare -n not available; provisioning without a private network namespace"
    fi
    "${cmd[@]}" >"$dir/log/provision.log" 2>&1 ||
        { tail -n 30 "$dir/log/provision.log" >&2; die "samba-tool domain provision failed (log: $dir/log/provision.log)"; }
}

# Rewrite the generated smb.conf: every path inside DIR, our TLS certificate, simple binds
# over plain LDAP, and no shares pointing at the system's directories. Our settings go at the
# top of [global]; the generated lines for the same keys are dropped.
edit_conf() {
    local dir=$1 conf=$1/etc/smb.conf
    printf '\t%s\n' \
        "log file = $dir/log/samba.log" \
        "log level = 1" \
        "max log size = 10000" \
        "pid directory = $dir/run" \
        "ncalrpc dir = $dir/run/ncalrpc" \
        "winbindd socket directory = $dir/run/winbindd" \
        "ntp signd socket directory = $dir/run/ntp_signd" \
        "smb passwd file = $dir/private/smbpasswd" \
        "usershare path = $dir/state/usershares" \
        "panic action =" \
        "unix password sync = no" \
        "ldap server require strong auth = no" \
        "tls enabled = yes" \
        "tls keyfile = $dir/tls/server.key" \
        "tls certfile = $dir/tls/server.pem" \
        "tls cafile = $dir/tls/ca.pem" >"$conf.ours"
    awk -v ours="$conf.ours" '
        function key(line) { sub(/^[ \t]*/, "", line); sub(/[ \t]*=.*/, "", line); return line }
        BEGIN { while ((getline l < ours) > 0) { mine[key(l)] = 1; lines = lines l "\n" } }
        /^[ \t]*\[/ { section = tolower($0); gsub(/[ \t\[\]]/, "", section)
                      print; if (section == "global") printf "%s", lines; next }
        section == "homes" || section == "printers" || section == "print$" { next }
        section == "global" && (key($0) in mine) { next }
        { print }' "$conf" >"$conf.new" || die "could not edit $conf"
    mv -- "$conf.new" "$conf"
    rm -f -- "$conf.ours"
    grep -q "ldap server require strong auth = no" "$conf" || die "could not edit $conf"
    mkdir -p "$dir/run/ncalrpc" "$dir/run/winbindd" "$dir/run/ntp_signd" "$dir/state/usershares"
    chmod 0750 "$dir/run/ntp_signd"
}

fixtures() {
    local dir=$1
    "${PY[@]}" "$HERE/samba-fixtures.py" "$dir/etc/smb.conf" "$WRITER_PW" "$READER_PW" \
        >"$dir/log/fixtures.log" 2>&1 ||
        { cat "$dir/log/fixtures.log" >&2; die "creating the test accounts and OU failed"; }
}

# All processes of the samba started from DIR: "samba -D" makes its master a session
# leader, and every task and worker stays in that session. Reads /proc (no procps needed).
samba_pids() {
    local master=$1 f stat
    local -a fields
    for f in /proc/[0-9]*/stat; do
        read -r stat 2>/dev/null <"$f" || continue
        # Fields after "(comm)": state ppid pgrp session ...
        read -r -a fields <<<"${stat##*) }"
        if [[ ${fields[3]} == "$master" ]]; then
            f=${f#/proc/}
            printf '%s\n' "${f%/stat}"
        fi
    done
}

cmd_stop() {
    local dir pid p left
    dir=$(abs_dir "$1")
    if ! pid=$(live_pid "$dir/run/samba.pid"); then
        log "no samba running from $dir"
        return 0
    fi
    local -a all
    mapfile -t all < <(samba_pids "$pid")
    stop_pid "$pid" 20
    # The master takes its children with it; make sure none is left behind.
    for p in "${all[@]}"; do
        [[ $p == "$pid" ]] && continue
        if kill -0 "$p" 2>/dev/null && ! wait_exit "$p" 5; then
            kill -KILL "$p" 2>/dev/null || true
        fi
    done
    left=$(samba_pids "$pid")
    [[ -z $left ]] || die "samba processes still running: $left"
    log "stopped samba (pid $pid) in $dir"
}

cmd_start() {
    local dir pid i t0 t
    t0=$EPOCHREALTIME
    dir=$(abs_dir "$1")
    ((${#dir} <= 80)) || die "DIR must be at most 80 characters (samba puts unix sockets in it): $dir"
    find_tools

    if [[ -e $dir/run/samba.pid ]]; then cmd_stop "$dir"; fi
    if ldap_up; then
        die "something already answers on ldap://$IP (another samba.sh instance?); stop it first"
    fi
    prepare_dir "$dir" "$MARKER"
    mkdir -p "$dir/log" "$dir/run"

    t=$EPOCHREALTIME
    provision "$dir"
    log "provisioned $REALM in $(elapsed "$t")s"
    make_tls "$dir/tls" "IP:$IP"
    edit_conf "$dir"
    t=$EPOCHREALTIME
    fixtures "$dir"
    log "created test accounts, OU and schema in $(elapsed "$t")s"
    t=$EPOCHREALTIME

    samba -s "$dir/etc/smb.conf" -D </dev/null >"$dir/log/samba.out" 2>&1 ||
        { cat "$dir/log/samba.out" >&2; die "samba failed to start (log: $dir/log/samba.log)"; }

    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ((i > 20)) && ! live_pid "$dir/run/samba.pid" >/dev/null; then
            tail -n 30 "$dir/log/samba.log" >&2 || true
            die "samba exited during startup (log: $dir/log/samba.log)"
        fi
        if ldap_up && ldap_bind_ok && live_pid "$dir/run/samba.pid" >/dev/null; then
            break
        fi
        sleep 0.1
    done
    if ((i >= START_TIMEOUT * 10)); then
        tail -n 30 "$dir/log/samba.log" >&2 || true
        cmd_stop "$dir" || true
        die "samba did not answer on ldap://$IP within ${START_TIMEOUT}s (log: $dir/log/samba.log)"
    fi
    pid=$(live_pid "$dir/run/samba.pid")
    log "samba answered after $(elapsed "$t")s"

    {
        echo "# written by tests/dirs/samba.sh; source it (set -a; . DIR/env; set +a)"
        env_line AD_URI "ldap://$IP"
        env_line AD_LDAPS_URI "ldaps://$IP"
        env_line AD_BASE "$BASE"
        env_line AD_REALM "$REALM"
        env_line AD_ADMIN_DN "$ADMIN_DN"
        env_line AD_ADMIN_PW "$ADMIN_PW"
        env_line AD_WRITER_DN "$WRITER_DN"
        env_line AD_WRITER_PW "$WRITER_PW"
        env_line AD_READER_DN "$READER_DN"
        env_line AD_READER_PW "$READER_PW"
        env_line AD_PARTNERS "$PARTNERS"
        env_line AD_CACERT "$dir/tls/ca.pem"
        env_line AD_SMB_CONF "$dir/etc/smb.conf"
        env_line AD_PID "$pid"
    } >"$dir/env"
    log "samba (pid $pid) answers on ldap://$IP and ldaps://$IP ($(elapsed "$t0")s in all); env in $dir/env"
}

main() {
    (($# == 2)) || usage
    case $1 in
        start) cmd_start "$2" ;;
        stop) cmd_stop "$2" ;;
        *) usage ;;
    esac
}

main "$@"
