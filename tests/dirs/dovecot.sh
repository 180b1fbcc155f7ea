#!/usr/bin/env bash
# Start or stop a throwaway Dovecot IMAP server on loopback, for the mailbox harvester's tests.
#
#   tests/dirs/dovecot.sh start DIR [PORT]   build a fresh instance in DIR (wiped first), start it
#   tests/dirs/dovecot.sh stop DIR           stop the instance running from DIR
#   tests/dirs/dovecot.sh restart DIR        stop it and start it again, keeping its mail
#
# IMAP on 127.0.0.1:PORT (default 3143; STARTTLS offered), IMAPS on PORT+1, with a TLS CA made
# for the instance. Knobs read at start: DOVECOT_SSL=no (no TLS at all, clear-text logins
# allowed), DOVECOT_NO_MOVE=1 (the server does not announce MOVE), DOVECOT_OAUTH2_URL=URL (an
# oauth2 passdb checking XOAUTH2 / OAUTHBEARER tokens at that introspection URL, e.g.
# tests/dirs/oauth2-stub.py). Writes DIR/env (sourceable). See tests/dirs/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

PROG=${0##*/}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MARKER=.smimepub-dovecot
USER_NAME=certs
USER_PW=certs-secret
START_TIMEOUT=30

usage() {
    cat >&2 <<USAGE
usage: $PROG start DIR [PORT]   (PORT defaults to 3143; imaps uses PORT+1)
       $PROG stop DIR
       $PROG restart DIR
USAGE
    exit 2
}

find_tools() {
    PATH=$PATH:/usr/sbin:/sbin
    need_cmds dovecot openssl python3
}

# Whether something answers "* OK" on 127.0.0.1:$1 (within 2 s).
greets() {
    python3 - "$1" <<'PY' 2>/dev/null
import socket, sys
try:
    s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), 2)
    s.settimeout(2)
    sys.exit(0 if s.recv(64).startswith(b"* OK") else 1)
except OSError:
    sys.exit(1)
PY
}

write_config() {
    local dir=$1 port=$2 imaps_port=$3
    cat <<CONF
# written by tests/dirs/dovecot.sh: a private instance, nothing of /etc/dovecot
base_dir = $dir/run
state_dir = $dir/state
log_path = $dir/dovecot.log
info_log_path = $dir/dovecot.log
instance_name = smimepub-$port
listen = 127.0.0.1
protocols = imap
mail_location = maildir:$dir/mail/%u
mail_uid = nobody
mail_gid = nogroup
first_valid_uid = 1
default_internal_user = dovecot
default_login_user = dovenull
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%u $dir/passwd
}
userdb {
  driver = static
  args = home=$dir/mail/%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = $port
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = $imaps_port
  }
}
service stats {
  unix_listener stats-writer {
    mode = 0666
  }
}
CONF
    if [[ ${DOVECOT_SSL:-yes} == no ]]; then
        printf 'ssl = no\ndisable_plaintext_auth = no\nauth_mechanisms = plain login\n'
    else
        printf 'ssl = required\nssl_cert = <%s\nssl_key = <%s\n' "$dir/tls/server.pem" "$dir/tls/server.key"
        printf 'disable_plaintext_auth = yes\n'
        if [[ -n ${DOVECOT_OAUTH2_URL:-} ]]; then
            printf 'auth_mechanisms = plain login xoauth2 oauthbearer\n'
            printf 'passdb {\n  driver = oauth2\n  mechanisms = xoauth2 oauthbearer\n  args = %s\n}\n' \
                "$dir/oauth2.conf.ext"
        else
            printf 'auth_mechanisms = plain login\n'
        fi
    fi
    if [[ ${DOVECOT_NO_MOVE:-0} == 1 ]]; then
        # announced before and after login: the client must copy, flag and expunge instead
        printf 'imap_capability = IMAP4rev1 SASL-IR LOGIN-REFERRALS ID ENABLE IDLE LITERAL+ UIDPLUS NAMESPACE CHILDREN\n'
    fi
}

cmd_start() {
    local dir port imaps_port pid i
    dir=$(abs_dir "$1")
    port=${2:-3143}
    [[ $port =~ ^[0-9]+$ ]] || die "PORT must be a number"
    imaps_port=$((port + 1))
    find_tools
    if [[ -f $dir/$MARKER ]]; then cmd_stop "$dir" >/dev/null 2>&1 || true; fi
    prepare_dir "$dir" "$MARKER"
    if greets "$port"; then
        die "something already answers on 127.0.0.1:$port; choose another PORT"
    fi
    mkdir -p "$dir/run" "$dir/state" "$dir/mail"
    chown nobody:nogroup "$dir/mail"
    printf '%s:{PLAIN}%s\nother:{PLAIN}other-secret\n' "$USER_NAME" "$USER_PW" >"$dir/passwd"
    chmod 0644 "$dir/passwd"
    if [[ ${DOVECOT_SSL:-yes} != no ]]; then
        make_tls "$dir/tls" IP:127.0.0.1 DNS:localhost
    else
        imaps_port=0   # no IMAPS listener
    fi
    if [[ -n ${DOVECOT_OAUTH2_URL:-} ]]; then
        # the stub answers {"active": true, "username": ...} for a token it knows
        printf 'introspection_mode = post\nintrospection_url = %s\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n' \
            "$DOVECOT_OAUTH2_URL" >"$dir/oauth2.conf.ext"
    fi
    write_config "$dir" "$port" "$imaps_port" >"$dir/dovecot.conf"
    # Dovecot's auth runs as dovecot, the mail as nobody: both must reach DIR (a mktemp -d
    # parent is 0700, and logins then fail as "Temporary authentication failure")
    chmod 0755 "$dir"
    if command -v runuser >/dev/null 2>&1 && ! runuser -u nobody -- test -r "$dir/passwd"; then
        die "$dir is not reachable by other users (a parent directory's mode): Dovecot's processes could not read it"
    fi
    printf '%s\n' "$port" >"$dir/port"
    launch "$dir" "$port"
    pid=$(<"$dir/dovecot.pid")
    {
        echo "# written by tests/dirs/dovecot.sh; source it (set -a; . DIR/env; set +a)"
        env_line DOVECOT_HOST 127.0.0.1
        env_line DOVECOT_PORT "$port"
        env_line DOVECOT_IMAPS_PORT "$([[ $imaps_port == 0 ]] || echo "$imaps_port")"
        env_line DOVECOT_USER "$USER_NAME"
        env_line DOVECOT_PASSWORD "$USER_PW"
        env_line DOVECOT_CACERT "$([[ $imaps_port == 0 ]] || echo "$dir/tls/ca.pem")"
        env_line DOVECOT_PID "$pid"
        env_line DOVECOT_LOG "$dir/dovecot.log"
        env_line DOVECOT_CONF "$dir/dovecot.conf"
        env_line DOVECOT_IMAP_URL "imap://$USER_NAME@127.0.0.1:$port/INBOX"
        env_line DOVECOT_IMAPS_URL "$([[ $imaps_port == 0 ]] || echo "imaps://$USER_NAME@127.0.0.1:$imaps_port/INBOX")"
    } >"$dir/env"
    log "dovecot (pid $pid) answers on imap://127.0.0.1:$port$([[ $imaps_port == 0 ]] || echo " and imaps://127.0.0.1:$imaps_port"); env in $dir/env"
}

# Runs dovecot from DIR's config in the foreground (detached) and waits for its greeting.
launch() {
    local dir=$1 port=$2 pid i
    setsid dovecot -F -c "$dir/dovecot.conf" </dev/null >>"$dir/dovecot.out" 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/dovecot.out" "$dir/dovecot.log" >&2 2>/dev/null || true
            die "dovecot exited during startup (log: $dir/dovecot.log)"
        fi
        greets "$port" && break
        sleep 0.1
    done
    if ((i >= START_TIMEOUT * 10)); then
        kill -TERM "$pid" 2>/dev/null || true
        die "dovecot did not answer on 127.0.0.1:$port within ${START_TIMEOUT}s"
    fi
    printf '%s\n' "$pid" >"$dir/dovecot.pid"
}

cmd_stop() {
    local dir pid
    dir=$(abs_dir "$1")
    [[ -f $dir/$MARKER ]] || die "no dovecot instance in $dir"
    if pid=$(live_pid "$dir/dovecot.pid"); then
        # the master leads its own process group (setsid): its imap processes, which would
        # serve their connections on for a while after it, go with it
        kill -TERM -- "-$pid" 2>/dev/null || true
        stop_pid "$pid" 15
        log "dovecot (pid $pid) stopped"
    fi
    rm -f -- "$dir/dovecot.pid"
}

cmd_restart() {
    local dir port pid
    dir=$(abs_dir "$1")
    [[ -f $dir/$MARKER && -f $dir/dovecot.conf ]] || die "no dovecot instance in $dir: use start"
    find_tools
    port=$(<"$dir/port")
    cmd_stop "$dir" >/dev/null
    launch "$dir" "$port"
    pid=$(<"$dir/dovecot.pid")
    sed -i "s/^DOVECOT_PID=.*/DOVECOT_PID=$pid/" "$dir/env"
    log "dovecot (pid $pid) restarted in $dir"
}

main() {
    (($# >= 2)) || usage
    case $1 in
        start) (($# <= 3)) || usage; cmd_start "$2" "${3:-}" ;;
        stop) (($# == 2)) || usage; cmd_stop "$2" ;;
        restart) (($# == 2)) || usage; cmd_restart "$2" ;;
        *) usage ;;
    esac
}

main "$@"
