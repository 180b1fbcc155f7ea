#!/bin/sh
# Installs what smimepub needs to build, test and run its demo on Debian 12 (apt-get).
# Usage: scripts/install-deps.sh [--no-directories]   (the latter skips slapd and Samba)
set -eu

PKGS="meson ninja-build pkg-config gcc g++ libc6-dev binutils python3 openssl
libssl-dev libldap-dev libsasl2-dev libgmime-3.0-dev libjansson-dev libidn2-dev libcmocka-dev
ldap-utils gpgsm libsasl2-modules krb5-user libsasl2-modules-gssapi-mit"
# the Debian package's build and check (tests/integration/test_package.py)
# (systemd and man-db: systemd-analyze verify of contrib/systemd/, which runs man)
PKGS="$PKGS dpkg-dev debhelper lintian systemd man-db"
DIRS="slapd samba samba-ad-dc samba-ad-provision samba-dsdb-modules ldb-tools util-linux"
[ "${1:-}" = "--no-directories" ] || PKGS="$PKGS $DIRS"

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
	# shellcheck disable=SC2086
	$SUDO apt-get install -y -qq --no-install-recommends $PKGS >/dev/null
fi
echo "install-deps: all packages present"
