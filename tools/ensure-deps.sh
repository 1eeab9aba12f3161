#!/usr/bin/env bash
# Installs the Debian packages given as arguments when some are missing.
# Needs root (or passwordless sudo) on Debian/Ubuntu; elsewhere it only
# reports what is missing. Without cargo it installs Rust with rustup into
# ~/.cargo (the Makefile puts ~/.cargo/bin on PATH), with rustfmt and clippy.
set -euo pipefail
missing=()
for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    echo "ensure-deps: cargo not found: installing Rust (stable, minimal, rustfmt, clippy) with rustup"
    command -v curl >/dev/null 2>&1 || missing+=(curl ca-certificates)
    if [ ${#missing[@]} -gt 0 ] && [ "$(id -u)" -eq 0 ]; then
        DEBIAN_FRONTEND=noninteractive apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl ca-certificates >/dev/null
    fi
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y -q --profile minimal --component rustfmt,clippy || {
        echo "ensure-deps: could not install Rust: install Rust 1.91 or newer (rustup) and retry" >&2
        exit 1
    }
fi
[ ${#missing[@]} -eq 0 ] && exit 0
echo "ensure-deps: installing ${missing[*]}"
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
    echo "ensure-deps: not root: please install ${missing[*]}" >&2; exit 1
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
