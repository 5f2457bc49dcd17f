#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, once. Safe to run again.
set -euo pipefail
need=()
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
# The alerting tests run a real Prometheus and a real Alertmanager beside opsbook.
command -v prometheus >/dev/null 2>&1 || need+=(prometheus)
command -v prometheus-alertmanager >/dev/null 2>&1 || need+=(prometheus-alertmanager)
command -v pg_ctlcluster >/dev/null 2>&1 || need+=(postgresql)
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# tests/e2e/test_readme.py runs the README's tour on its fixed ports in a network namespace of
# its own (`unshare -n`, then `ip link set lo up`), so no port on the machine needs to be free.
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The demo's runbooks (examples/demo/runbooks) have shell steps that call curl.
command -v curl >/dev/null 2>&1 || need+=(curl)
# tests/browser drive Debian's chromium through Playwright (which never downloads a browser).
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing Debian packages: ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
