#!/usr/bin/env bash
# Install everything rolloutd needs to build, test and run its demo on Debian 12.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
PKGS=(build-essential clang libclang-rt-14-dev pkg-config mandoc
      libyaml-dev libconfig-dev libcurl4-openssl-dev libwebsockets-dev libpcre2-dev
      libcmocka-dev libjansson-dev libsodium-dev libxxhash-dev
      python3 python3-aiosmtpd curl jq wrk prometheus chromium)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "deps: all Debian packages present"
fi
# Node.js (machine images ship it; Debian's otherwise).
command -v npm >/dev/null 2>&1 || { $SUDO apt-get install -y -qq nodejs npm; }
# Browser tests (playwright-core) from the committed lockfile.
if [ -f tests/browser/package-lock.json ] && [ ! -d tests/browser/node_modules ]; then
  (cd tests/browser && npm ci --no-audit --no-fund)
fi
