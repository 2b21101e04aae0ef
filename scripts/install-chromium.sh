#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests (Playwright cannot download browsers here).
# Without root or apt, the browser tests skip and say why.
set -u
if [ -x /usr/bin/chromium ]; then exit 0; fi
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null; then
  echo "note: /usr/bin/chromium missing and cannot be installed here (needs root and apt); browser tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq && apt-get install -y -qq chromium >/dev/null || echo "note: installing chromium failed; browser tests will skip" >&2
exit 0
