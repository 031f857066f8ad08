#!/usr/bin/env bash
# Install everything the tests need (Debian packages and the Python package with its
# test extras, in .venv) and run the whole test suite. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."

DEBS=(tshark sip-tester prometheus prometheus-alertmanager sngrep chromium chromium-driver libpcap0.8)
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
for p in "${DEBS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing Debian packages: ${missing[*]}"
  $SUDO apt-get update -qq
  echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PY=${PYTHON:-python3.11}
command -v "$PY" >/dev/null || PY=python3
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/pip install -q --upgrade pip >/dev/null
.venv/bin/pip install -q -e ".[test]"

.venv/bin/ruff check detector capture fraudwatch tests bench
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
