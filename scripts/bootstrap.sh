#!/usr/bin/env bash
# Install what zoolab needs on this machine: Debian packages and the Python
# virtualenv (.venv, made from Debian's python3 with system site packages so
# that the lxc bindings are importable). Idempotent and quick when nothing
# changed: each step is keyed on a stamp of its inputs.
set -euo pipefail
cd "$(dirname "$0")/.."

stamp_dir=.venv/.stamps
need_root() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "bootstrap: must run as root (apt-get, lxc, iptables)" >&2
        exit 1
    fi
}

apt_packages() {
    grep -v '^\s*#' scripts/apt-packages.txt | grep -v '^\s*$'
}

install_apt() {
    local missing=()
    while read -r pkg; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' \
            || missing+=("$pkg")
    done < <(apt_packages)
    if [ ${#missing[@]} -eq 0 ]; then
        return
    fi
    need_root
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    if [ -z "$(find /var/lib/apt/lists -maxdepth 1 -name '*Packages*' -mmin -1440 2>/dev/null | head -1)" ]; then
        apt-get update -qq
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_venv() {
    local want
    want=$(cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-16)
    if [ -f "$stamp_dir/pip-$want" ] && [ -x .venv/bin/python ]; then
        return
    fi
    if [ ! -x .venv/bin/python ]; then
        echo "bootstrap: creating .venv from /usr/bin/python3"
        /usr/bin/python3 -m venv --system-site-packages .venv
    fi
    echo "bootstrap: installing pinned Python packages into .venv"
    .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
    mkdir -p "$stamp_dir"
    rm -f "$stamp_dir"/pip-*
    touch "$stamp_dir/pip-$want"
}

install_apt
install_venv
