#!/usr/bin/env bash
# Installs the real servers the integration tests run against, when missing:
# Dovecot (IMAP, LMTP), Postfix (outbound mail), Radicale + htpasswd (CalDAV),
# Chromium (panel tests). Needs root for apt-get; as
# another user it only reports what is missing (tests then skip, or fail
# when SIDEDESK_INTEGRATION=require).
set -euo pipefail

need=()
command -v dovecot >/dev/null 2>&1 || need+=(dovecot-imapd)
[ -e /usr/lib/dovecot/lmtp ] || need+=(dovecot-lmtpd)
[ -x /usr/sbin/postfix ] || need+=(postfix)
[ -x /usr/bin/radicale ] || need+=(radicale)
# Radicale's vobject resolves a TZID that comes without its VTIMEZONE through
# pytz, a Recommends that --no-install-recommends leaves out; without it
# Radicale answers 400 to such an event.
/usr/bin/python3 -c 'import pytz' >/dev/null 2>&1 || need+=(python3-tz)
command -v htpasswd >/dev/null 2>&1 || need+=(apache2-utils)
[ -x /usr/bin/chromium ] || need+=(chromium)

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" != 0 ]; then
  echo "test-deps: missing ${need[*]}; run 'make test' as root (or apt-get install ${need[*]}) to run the integration tests" >&2
  exit 0
fi
echo "test-deps: installing ${need[*]} (apt-get)"
export DEBIAN_FRONTEND=noninteractive
# No daemon may start on install (Postfix would take port 25): the tests start
# their own instances on ports of their own.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
  chmod +x /usr/sbin/policy-rc.d
fi
# Wait for another apt (unattended upgrades) instead of failing on its lock.
lock=(-o DPkg::Lock::Timeout=600)
apt-get "${lock[@]}" update -qq
apt-get "${lock[@]}" install -y -qq --no-install-recommends "${need[@]}" >/dev/null
# Debian starts no daemon for dovecot-imapd/radicale in this environment; make
# sure none holds the default ports if it did.
systemctl disable --now dovecot radicale postfix >/dev/null 2>&1 || true
postfix stop >/dev/null 2>&1 || true
echo "test-deps: installed ${need[*]}"
