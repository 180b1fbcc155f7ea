#!/usr/bin/env bash
# Start or stop a throwaway OpenLDAP slapd on loopback for tests, the demo and benchmarks.
#
#   tests/dirs/slapd.sh start DIR [PORT]   build a fresh instance in DIR (wiped first), start it
#   tests/dirs/slapd.sh stop DIR           stop the instance running from DIR
#   tests/dirs/slapd.sh restart DIR        stop it and start it again with the same
#                                          configuration and data (fault tests)
#
# Listens on ldap://127.0.0.1:PORT (StartTLS too; default PORT 3389), ldaps://127.0.0.1:PORT+1
# and ldapi:// with a socket in DIR. Writes DIR/env (sourceable). See tests/dirs/README.md.
# shellcheck source-path=SCRIPTDIR
set -euo pipefail

PROG=${0##*/}
HERE=$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=lib.sh
. "$HERE/lib.sh"

MARKER=.smimepub-slapd
SUFFIX='dc=example,dc=test'
ROOTDN="cn=admin,$SUFFIX"
ROOTPW=secret
READER_DN="cn=reader,ou=svc,$SUFFIX"
READER_PW=reader
WRITER_DN="cn=certwriter,ou=svc,$SUFFIX"
WRITER_PW=certwriter
PEERCRED_ROOT='gidNumber=0+uidNumber=0,cn=peercred,cn=external,cn=auth'
SCHEMA_DIR=${SLAPD_SCHEMA_DIR:-/etc/ldap/schema}   # Debian's locations; override if elsewhere
MODULE_DIR=${SLAPD_MODULE_DIR:-/usr/lib/ldap}
START_TIMEOUT=30

usage() {
    cat >&2 <<USAGE
usage: $PROG start DIR [PORT]   (PORT defaults to 3389; ldaps uses PORT+1)
       $PROG stop DIR
       $PROG restart DIR
USAGE
    exit 2
}

# Find slapd even when /usr/sbin is not on PATH.
find_tools() {
    PATH=$PATH:/usr/sbin:/sbin
    need_cmds slapd slapadd slappasswd ldapsearch openssl
    local s
    for s in core cosine inetorgperson; do
        [[ -r $SCHEMA_DIR/$s.ldif ]] || die "schema $SCHEMA_DIR/$s.ldif not found (package slapd)"
    done
}

# Load back_mdb as a module when slapd was built that way (Debian); else it is built in.
module_config() {
    [[ -e $MODULE_DIR/back_mdb.la || -e $MODULE_DIR/back_mdb.so ]] || return 0
    printf '%s\n' 'dn: cn=module{0},cn=config' 'objectClass: olcModuleList' 'cn: module{0}' \
        "olcModulePath: $MODULE_DIR" 'olcModuleLoad: back_mdb'
}

hash_pw() { slappasswd -h '{SSHA}' -s "$1"; }

write_config() {
    local dir=$1
    cat <<LDIF
dn: cn=config
objectClass: olcGlobal
cn: config
olcPidFile: $dir/slapd.pid
olcArgsFile: $dir/slapd.args
olcSizeLimit: unlimited
olcTimeLimit: unlimited
olcLogLevel: none
olcTLSCACertificateFile: $dir/tls/ca.pem
olcTLSCertificateFile: $dir/tls/server.pem
olcTLSCertificateKeyFile: $dir/tls/server.key
olcTLSVerifyClient: never

$(module_config)

dn: cn=schema,cn=config
objectClass: olcSchemaConfig
cn: schema

include: file://$SCHEMA_DIR/core.ldif

include: file://$SCHEMA_DIR/cosine.ldif

include: file://$SCHEMA_DIR/inetorgperson.ldif

include: file://$dir/contact.ldif

dn: olcDatabase={-1}frontend,cn=config
objectClass: olcDatabaseConfig
objectClass: olcFrontendConfig
olcDatabase: {-1}frontend
olcSizeLimit: unlimited
olcAccess: {0}to * by dn.exact="$PEERCRED_ROOT" manage by * break
olcAccess: {1}to dn.base="" by * read
olcAccess: {2}to dn.base="cn=subschema" by * read

dn: olcDatabase={0}config,cn=config
objectClass: olcDatabaseConfig
olcDatabase: {0}config
olcAccess: {0}to * by dn.exact="$PEERCRED_ROOT" manage by * none

dn: olcDatabase={1}mdb,cn=config
objectClass: olcDatabaseConfig
objectClass: olcMdbConfig
olcDatabase: {1}mdb
olcDbDirectory: $dir/db
olcSuffix: $SUFFIX
olcRootDN: $ROOTDN
olcRootPW: $(hash_pw "$ROOTPW")
olcDbNoSync: TRUE
olcDbMaxSize: 4294967296
olcDbIndex: objectClass eq
olcDbIndex: mail eq
olcDbIndex: proxyAddresses eq
olcDbIndex: cn eq
olcSizeLimit: unlimited
olcTimeLimit: unlimited
olcLimits: {0}* size.soft=unlimited size.hard=unlimited size.prtotal=unlimited size.pr=noEstimate time.soft=unlimited time.hard=unlimited
olcAccess: {0}to * by dn.exact="$PEERCRED_ROOT" manage by * break
olcAccess: {1}to attrs=userPassword by self =xw by anonymous auth by * none
olcAccess: {2}to dn.subtree="ou=partners,$SUFFIX" attrs=userCertificate,userSMIMECertificate by dn.exact="$WRITER_DN" write by * read
olcAccess: {3}to * by * read
LDIF
}

write_base() {
    cat <<LDIF
dn: $SUFFIX
objectClass: dcObject
objectClass: organization
dc: example
o: smimepub test directory

dn: ou=partners,$SUFFIX
objectClass: organizationalUnit
ou: partners
description: external mail contacts; certwriter may write their certificates

dn: ou=svc,$SUFFIX
objectClass: organizationalUnit
ou: svc
description: service accounts

dn: $READER_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: reader
description: may read everything, write nothing
userPassword: $(hash_pw "$READER_PW")

dn: $WRITER_DN
objectClass: organizationalRole
objectClass: simpleSecurityObject
cn: certwriter
description: may write userCertificate and userSMIMECertificate under ou=partners
userPassword: $(hash_pw "$WRITER_PW")
LDIF
}

cmd_stop() {
    local dir pid
    dir=$(abs_dir "$1")
    if pid=$(live_pid "$dir/slapd.pid"); then
        stop_pid "$pid" 15
        log "stopped slapd (pid $pid) in $dir"
    else
        log "no slapd running from $dir"
    fi
}

cmd_start() {
    local dir port ldaps_port ldapi_uri ldap_uri ldaps_uri pid i
    dir=$(abs_dir "$1")
    port=${2:-3389}
    if ! [[ $port =~ ^[0-9]+$ ]] || ((port < 1 || port > 65534)); then die "bad port: $port"; fi
    ldaps_port=$((port + 1))
    ((${#dir} + 12 < 100)) || die "DIR too long for an ldapi socket (keep it under ~85 characters): $dir"
    find_tools

    # Stop an instance still running from this directory, then wipe and rebuild it.
    if [[ -e $dir/slapd.pid ]]; then cmd_stop "$dir"; fi
    prepare_dir "$dir" "$MARKER"
    mkdir -p "$dir/slapd.d" "$dir/db"

    ldap_uri="ldap://127.0.0.1:$port"
    ldaps_uri="ldaps://127.0.0.1:$ldaps_port"
    ldapi_uri="ldapi://$(uri_encode "$dir/ldapi")"

    # Something else on our ports would make the polling below talk to the wrong server.
    if ldapsearch -x -H "$ldap_uri" -o nettimeout=2 -s base -b '' -LLL 1.1 >/dev/null 2>&1; then
        die "something already answers on $ldap_uri; choose another PORT"
    fi

    make_tls "$dir/tls" IP:127.0.0.1 DNS:localhost
    cp -- "$HERE/contact.ldif" "$dir/contact.ldif"
    write_config "$dir" >"$dir/config.ldif"
    slapadd -n0 -F "$dir/slapd.d" -l "$dir/config.ldif" >"$dir/slapadd.log" 2>&1 ||
        { cat "$dir/slapadd.log" >&2; die "slapadd of cn=config failed"; }
    write_base >"$dir/base.ldif"
    slapadd -n1 -F "$dir/slapd.d" -l "$dir/base.ldif" >>"$dir/slapadd.log" 2>&1 ||
        { cat "$dir/slapadd.log" >&2; die "slapadd of the base entries failed"; }

    # -d none keeps slapd in the foreground so its startup errors land in DIR/slapd.log;
    # setsid detaches it from our terminal and process group.
    setsid slapd -F "$dir/slapd.d" -h "$ldap_uri/ $ldaps_uri/ $ldapi_uri" -d none \
        </dev/null >"$dir/slapd.log" 2>&1 &
    pid=$!

    for ((i = 0; i < START_TIMEOUT * 10; i++)); do
        if ! kill -0 "$pid" 2>/dev/null; then
            cat "$dir/slapd.log" >&2
            die "slapd exited during startup (log: $dir/slapd.log)"
        fi
        if ldapsearch -x -H "$ldap_uri" -o nettimeout=2 -s base -b '' -LLL 1.1 >/dev/null 2>&1 &&
            [[ -s $dir/slapd.pid ]]; then
            break
        fi
        sleep 0.1
    done
    if ((i >= START_TIMEOUT * 10)); then
        kill -TERM "$pid" 2>/dev/null || true
        die "slapd did not answer on $ldap_uri within ${START_TIMEOUT}s (log: $dir/slapd.log)"
    fi
    pid=$(<"$dir/slapd.pid")

    {
        echo "# written by tests/dirs/slapd.sh; source it (set -a; . DIR/env; set +a)"
        env_line SLAPD_URI "$ldap_uri"
        env_line SLAPD_LDAPS_URI "$ldaps_uri"
        env_line SLAPD_LDAPI_URI "$ldapi_uri"
        env_line SLAPD_BASE "$SUFFIX"
        env_line SLAPD_ROOTDN "$ROOTDN"
        env_line SLAPD_ROOTPW "$ROOTPW"
        env_line SLAPD_READER_DN "$READER_DN"
        env_line SLAPD_READER_PW "$READER_PW"
        env_line SLAPD_WRITER_DN "$WRITER_DN"
        env_line SLAPD_WRITER_PW "$WRITER_PW"
        env_line SLAPD_PARTNERS "ou=partners,$SUFFIX"
        env_line SLAPD_CACERT "$dir/tls/ca.pem"
        env_line SLAPD_PID "$pid"
    } >"$dir/env"
    log "slapd (pid $pid) answers on $ldap_uri, $ldaps_uri and $ldapi_uri; env in $dir/env"
}

# Stops the instance built in DIR (if running) and starts it again on the same URIs, keeping
# its configuration and database; updates SLAPD_PID in DIR/env.
cmd_restart() {
    local dir pid i uri ldaps ldapi
    dir=$(abs_dir "$1")
    [[ -f $dir/$MARKER && -f $dir/env && -d $dir/slapd.d ]] || die "no slapd instance in $dir: use start"
    find_tools
    uri=$(sed -n 's/^SLAPD_URI=//p' "$dir/env")
    ldaps=$(sed -n 's/^SLAPD_LDAPS_URI=//p' "$dir/env")
    ldapi=$(sed -n 's/^SLAPD_LDAPI_URI=//p' "$dir/env")
    if pid=$(live_pid "$dir/slapd.pid"); then stop_pid "$pid" 15; fi
    rm -f -- "$dir/slapd.pid"
    setsid slapd -F "$dir/slapd.d" -h "$uri/ $ldaps/ $ldapi" -d none </dev/null >>"$dir/slapd.log" 2>&1 &
    pid=$!
    for ((i = 0; i < START_TIMEOUT * 20; i++)); do
        kill -0 "$pid" 2>/dev/null || die "slapd exited during restart (log: $dir/slapd.log)"
        if ldapsearch -x -H "$uri" -o nettimeout=2 -s base -b '' -LLL 1.1 >/dev/null 2>&1 &&
            [[ -s $dir/slapd.pid ]]; then
            break
        fi
        sleep 0.05
    done
    ((i < START_TIMEOUT * 20)) || die "slapd did not answer on $uri after a restart"
    pid=$(<"$dir/slapd.pid")
    sed -i "s/^SLAPD_PID=.*/SLAPD_PID=$pid/" "$dir/env"
    log "slapd (pid $pid) restarted in $dir"
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
