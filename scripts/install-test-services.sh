#!/usr/bin/env bash
# Install the system services the integration tests start themselves (idempotent).
#
# Installs, only when missing: dovecot-imapd + dovecot-core (private IMAP server started by
# tests/support/dovecot.py), openssl (self-signed certificate), redis-server (private
# instances for outage tests), chromium + chromium-driver (headless browser tests of the web
# pages, driven by Selenium). `apt-get update` runs only if a first install attempt fails,
# so a machine that already has everything makes no network traffic at all.
# Never starts or enables the distribution services: the tests start their own instances.
set -euo pipefail

log() { printf '[install-test-services] %s\n' "$*" >&2; }

missing=()
command -v dovecot >/dev/null 2>&1 || [[ -x /usr/sbin/dovecot ]] || missing+=(dovecot-imapd)
command -v doveadm >/dev/null 2>&1 || [[ -x /usr/bin/doveadm ]] || missing+=(dovecot-core)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v redis-server >/dev/null 2>&1 || [[ -x /usr/bin/redis-server ]] || missing+=(redis-server)
[[ -x /usr/bin/chromium ]] || missing+=(chromium)
[[ -x /usr/bin/chromedriver ]] || missing+=(chromium-driver)

if ((${#missing[@]} == 0)); then
  log "all present: dovecot, doveadm, openssl, redis-server, chromium, chromedriver"
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  log "ERROR: missing ${missing[*]} and not root; install them with: apt-get install -y ${missing[*]}"
  exit 1
fi
command -v apt-get >/dev/null 2>&1 || { log "ERROR: missing ${missing[*]} and no apt-get on this machine"; exit 1; }

export DEBIAN_FRONTEND=noninteractive
aptlog=$(mktemp /tmp/install-test-services.XXXXXX.log)
# policy-rc.d / a missing systemd may stop the packages' own service from starting: harmless,
# the tests never use the distribution service.
apt_install() { apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >>"$aptlog" 2>&1; }

log "installing ${missing[*]} (log: $aptlog)"
if ! apt_install; then
  log "first attempt failed; running apt-get update and retrying"
  apt-get update -q </dev/null >>"$aptlog" 2>&1 || true
  if ! apt_install; then
    tail -25 "$aptlog" >&2
    log "ERROR: apt-get install ${missing[*]} failed"
    exit 1
  fi
fi
# A distribution service the package may have started would only occupy ports 143/993 and
# 6379; we leave the pre-existing shared Redis alone and do not touch anything else.
log "installed ${missing[*]}"
