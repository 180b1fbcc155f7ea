#!/bin/sh
# Installs what smimepub needs to build, test and run its demo on Debian 12 (apt-get).
# Usage: scripts/install-deps.sh [--no-directories] [--tests]
#   --no-directories skips slapd and Samba; --tests adds what only the test suite uses (the
#   Debian package's tools, systemd-analyze, chromium and playwright-core from
#   tests/browser/package-lock.json, promtool from Debian's prometheus)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
TESTS=0
for a in "$@"; do [ "$a" = "--tests" ] && TESTS=1; done

PKGS="meson ninja-build pkg-config gcc g++ libc6-dev binutils python3 openssl
libssl-dev libldap-dev libsasl2-dev libgmime-3.0-dev libjansson-dev libidn2-dev libcmocka-dev
libmicrohttpd-dev libcurl4-openssl-dev
ldap-utils gpgsm libsasl2-modules krb5-user libsasl2-modules-gssapi-mit"
DIRS="slapd samba samba-ad-dc samba-ad-provision samba-dsdb-modules ldb-tools util-linux
dovecot-imapd"
case " $* " in *" --no-directories "*) ;; *) PKGS="$PKGS $DIRS" ;; esac
if [ "$TESTS" = 1 ]; then
	# the Debian package's build and check (tests/integration/test_package.py; systemd and
	# man-db: systemd-analyze verify of contrib/systemd/, which runs man); the HTML report in
	# a real browser (tests/browser/)
	PKGS="$PKGS dpkg-dev debhelper lintian systemd man-db chromium"
	command -v npm >/dev/null 2>&1 || PKGS="$PKGS nodejs npm"
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
	SUDO=sudo
fi

# shellcheck disable=SC2086
if dpkg-query -W -f='${Status}\n' $PKGS 2>/dev/null | grep -qv "install ok installed" ||
   [ "$(dpkg-query -W -f='${Status}\n' $PKGS 2>/dev/null | wc -l)" -ne "$(echo $PKGS | wc -w)" ]; then
	export DEBIAN_FRONTEND=noninteractive
	$SUDO apt-get update -qq
	# the servers (slapd, samba, dovecot) are for the tests' own instances on loopback: no
	# package may start its system service on every address while it is installed
	guard=""
	if [ ! -e /usr/sbin/policy-rc.d ]; then
		printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null
		$SUDO chmod 755 /usr/sbin/policy-rc.d
		guard=1
	fi
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null || {
		[ -z "$guard" ] || $SUDO rm -f /usr/sbin/policy-rc.d; exit 1; }
	[ -z "$guard" ] || $SUDO rm -f /usr/sbin/policy-rc.d
fi
if [ "$TESTS" = 1 ] && ! (cd "$ROOT/tests/browser" && node -e "process.exit(require( \
	'./node_modules/playwright-core/package.json').version === require('./package-lock.json') \
	.packages['node_modules/playwright-core'].version ? 0 : 1)" 2>/dev/null); then
	# exactly the lock file's versions; playwright-core drives Debian's chromium (no download)
	(cd "$ROOT/tests/browser" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
if [ "$TESTS" = 1 ] && ! command -v promtool >/dev/null 2>&1; then
	# Prometheus' promtool checks audit's textfile (tests/cli/test_prometheus.py). Only the
	# tool is taken from Debian's prometheus package: installing the package would also set up
	# (and on some machines start) a Prometheus server listening on every address.
	tmp=$(mktemp -d)
	sandbox=""  # as root, apt's _apt user could not write into the 0700 temporary directory
	[ "$(id -u)" -ne 0 ] || sandbox="-o APT::Sandbox::User=root"
	# shellcheck disable=SC2086
	(cd "$tmp" && apt-get download -qq $sandbox prometheus >/dev/null && dpkg-deb -x prometheus_*.deb x) ||
		{ rm -rf "$tmp"; echo "install-deps: cannot get promtool from Debian's prometheus" >&2; exit 1; }
	$SUDO install -m 0755 "$tmp/x/usr/bin/promtool" /usr/local/bin/promtool
	rm -rf "$tmp"
fi
echo "install-deps: all packages present"
