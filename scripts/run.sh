#!/usr/bin/env bash
# Install fraudwatch in .venv and run the demo: a simulated day of an operator with
# labelled fraud, replayed through every detector while /metrics is served on
# 127.0.0.1:9108. Arguments go to `fraudwatch demo` (e.g. --subscribers 20000 --days 7).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib.sh
venv_ensure
.venv/bin/pip install -q .
exec .venv/bin/fraudwatch demo "$@"
