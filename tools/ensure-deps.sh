#!/usr/bin/env bash
# Installs the Debian packages given as arguments when some are missing.
# Needs root (or passwordless sudo) on Debian/Ubuntu; elsewhere it only
# reports what is missing. Rust (cargo >= 1.91) must already be installed.
set -euo pipefail
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ! command -v cargo >/dev/null 2>&1; then
    echo "ensure-deps: cargo not found: install Rust 1.91 or newer (rustup)" >&2
    exit 1
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "ensure-deps: not root: please install ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
