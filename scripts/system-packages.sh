#!/usr/bin/env bash
# Installs what the project needs from Debian: Prometheus (server and promtool, for the
# test bed and the alert tests), Lua 5.1 (the dialect Argo CD runs health checks in) and
# Chromium (the dashboard's browser tests drive it headless through Playwright).
# Go comes from the machine (the test bed's control plane is built from Go modules).
set -euo pipefail
need=()
command -v prometheus >/dev/null || need+=(prometheus)
command -v promtool >/dev/null || need+=(prometheus)
command -v lua5.1 >/dev/null || need+=(lua5.1)
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
# The package would start a Prometheus on :9090; the test bed starts its own on free ports.
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  trap '$sudo rm -f /usr/sbin/policy-rc.d' EXIT
fi
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${need[@]}" >/dev/null
