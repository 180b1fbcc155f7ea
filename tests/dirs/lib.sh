# shellcheck shell=bash
# Helpers shared by tests/dirs/slapd.sh and tests/dirs/samba.sh. Source it; do not run it.

# Print a message to stderr, prefixed with the calling script's name.
log() { printf '%s: %s\n' "${PROG:-${0##*/}}" "$*" >&2; }

# Print an error to stderr and exit 1.
die() { log "error: $*"; exit 1; }

# Fail unless every named command is on PATH.
need_cmds() {
    local c missing=()
    for c in "$@"; do
        command -v "$c" >/dev/null 2>&1 || missing+=("$c")
    done
    ((${#missing[@]} == 0)) || die "missing commands: ${missing[*]} (install the packages listed in tests/dirs/README.md)"
}

# Seconds since $1 (an $EPOCHREALTIME value), with one decimal.
elapsed() {
    local now=${EPOCHREALTIME/,/.} then=${1/,/.}
    awk -v a="$then" -v b="$now" 'BEGIN { printf "%.1f", b - a }'
}

# Make DIR absolute (without requiring it to exist).
abs_dir() {
    local d=$1
    [[ $d == /* ]] || d=$PWD/$d
    # Strip trailing slashes (but keep "/").
    while [[ $d == */ && $d != / ]]; do d=${d%/}; done
    printf '%s\n' "$d"
}

# Percent-encode a string for use as the host part of an ldapi:// URL.
uri_encode() {
    local s=$1 out='' c i
    local LC_ALL=C
    for ((i = 0; i < ${#s}; i++)); do
        c=${s:i:1}
        case $c in
            [A-Za-z0-9._~-]) out+=$c ;;
            *) out+=$(printf '%%%02X' "'$c") ;;
        esac
    done
    printf '%s\n' "$out"
}

# Write one KEY=VALUE line that sh/bash can source; quote only when needed.
env_line() {
    local k=$1 v=$2
    if [[ $v =~ ^[A-Za-z0-9_./:%=,+@-]*$ ]]; then
        printf '%s=%s\n' "$k" "$v"
    else
        printf "%s='%s'\n" "$k" "${v//\'/\'\\\'\'}"
    fi
}

# Refuse to wipe a directory unless it is missing, empty, or carries our marker file.
prepare_dir() {
    local dir=$1 marker=$2
    if [[ -e $dir ]]; then
        [[ -d $dir ]] || die "$dir exists and is not a directory"
        if [[ -n $(ls -A -- "$dir") && ! -e $dir/$marker ]]; then
            die "$dir is not empty and was not made by this script (no $marker); refusing to wipe it"
        fi
        rm -rf -- "$dir"
    fi
    mkdir -p -- "$dir"
    : >"$dir/$marker"
}

# Read a PID from a pid file; print it if that process is alive.
live_pid() {
    local f=$1 pid
    [[ -r $f ]] || return 1
    read -r pid <"$f" || return 1
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    kill -0 "$pid" 2>/dev/null || return 1
    printf '%s\n' "$pid"
}

# Wait up to $2 seconds for process $1 to exit. Returns 1 on timeout.
wait_exit() {
    local pid=$1 secs=$2 i
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# Terminate process $1 (TERM, then KILL after $2 seconds) and wait for it to go.
stop_pid() {
    local pid=$1 secs=${2:-15}
    kill -TERM "$pid" 2>/dev/null || return 0
    wait_exit "$pid" "$secs" && return 0
    log "process $pid did not exit after ${secs}s; sending KILL"
    kill -KILL "$pid" 2>/dev/null || true
    wait_exit "$pid" 5 || die "process $pid survived KILL"
}

# make_tls DIR/tls HOST-SAN...: a throwaway CA (ca.pem, ca.key) and a server certificate
# (server.pem, server.key, mode 0600) signed by it, with the given subjectAltName entries
# (e.g. IP:127.0.0.1 DNS:localhost). Valid for 10 years.
make_tls() {
    local tls=$1; shift
    local san cn
    san=$(IFS=,; printf '%s' "$*")
    cn=${1#*:}
    mkdir -p -- "$tls"
    (
        umask 077
        cd -- "$tls"
        openssl req -x509 -new -newkey rsa:2048 -nodes -sha256 -days 3650 \
            -keyout ca.key -out ca.pem -subj "/O=smimepub tests/CN=smimepub test CA $cn" \
            -addext basicConstraints=critical,CA:TRUE \
            -addext keyUsage=critical,keyCertSign,cRLSign
        openssl req -new -newkey rsa:2048 -nodes -sha256 \
            -keyout server.key -out server.csr -subj "/O=smimepub tests/CN=$cn"
        printf '%s\n' \
            "basicConstraints=critical,CA:FALSE" \
            "keyUsage=critical,digitalSignature,keyEncipherment" \
            "extendedKeyUsage=serverAuth" \
            "subjectAltName=$san" >server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
            -days 3650 -sha256 -extfile server.ext -out server.pem
        rm -f server.csr server.ext ca.srl
        chmod 0644 ca.pem server.pem
        chmod 0600 ca.key server.key
    ) >"$tls/openssl.log" 2>&1 || { cat "$tls/openssl.log" >&2; die "could not create TLS certificates in $tls"; }
}
