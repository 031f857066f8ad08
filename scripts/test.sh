#!/usr/bin/env bash
# Install everything the tests need (Debian packages and the Python package with its
# test extras, in .venv) and run the whole test suite. `.ci/run` calls this.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh

apt_ensure tshark sip-tester prometheus prometheus-alertmanager sngrep chromium chromium-driver \
  libpcap0.8
venv_ensure
.venv/bin/pip install -q -e ".[test]"

.venv/bin/ruff check detector capture fraudwatch tests bench dashboards
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
