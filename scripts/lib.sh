# Shared by scripts/run.sh and scripts/test.sh: Debian packages and the project's .venv.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"

# apt_ensure PKG...: install the Debian packages that are missing.
apt_ensure() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    echo "wireshark-common wireshark-common/install-setuid boolean false" | $SUDO debconf-set-selections
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

# venv_ensure: .venv with a Python >= 3.11 (Debian's python3 needs python3-venv for it).
venv_ensure() {
  PY=${PYTHON:-python3.11}
  command -v "$PY" >/dev/null || PY=python3
  if ! command -v "$PY" >/dev/null; then
    apt_ensure python3 python3-venv
    PY=python3
  fi
  if [ ! -x .venv/bin/python ]; then
    "$PY" -c 'import ensurepip, venv' 2>/dev/null || apt_ensure python3-venv
    "$PY" -m venv .venv
  fi
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null
}
