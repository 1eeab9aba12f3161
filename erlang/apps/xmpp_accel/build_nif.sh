#!/bin/sh
# Builds the Rust NIF (native/xmpp_accel_nif) and copies it to ./priv.
# Run from this application's directory (rebar3's pre-compile hook does).
#
# The cargo workspace is the first parent directory holding Cargo.toml and
# native/xmpp_accel_nif. When this application was fetched as a rebar3
# git_subdir dependency, only its own directory is checked out: the workspace
# files are then taken from the same git commit (git archive).
# XMPP_ACCEL_PROFILE=debug builds without optimisation (faster compile).
set -eu
app_dir=$(pwd)
dir=$app_dir
root=
while [ "$dir" != "/" ]; do
    if [ -f "$dir/native/xmpp_accel_nif/Cargo.toml" ] && [ -f "$dir/Cargo.toml" ]; then
        root=$dir; break
    fi
    if [ -d "$dir/.git" ] || [ -f "$dir/.git" ]; then
        # sparse checkout (git_subdir): bring the workspace out of this commit
        # (every workspace member's files too: cargo loads them all)
        (cd "$dir" && git archive HEAD Cargo.toml Cargo.lock native sidecar bench/sidecar/loadgen |
            tar -x -C "$dir")
        root=$dir; break
    fi
    dir=$(dirname "$dir")
done
if [ -z "$root" ]; then
    echo "build_nif.sh: cannot find the xmpp-accel cargo workspace above $app_dir" >&2
    exit 1
fi
if ! command -v cargo >/dev/null 2>&1; then
    echo "build_nif.sh: cargo not found: install Rust (https://rustup.rs) to build the NIF" >&2
    exit 1
fi
profile=${XMPP_ACCEL_PROFILE:-release}
if [ "$profile" = release ]; then flag=--release; else flag=; fi
target=${CARGO_TARGET_DIR:-$root/target}
cargo build $flag --quiet --manifest-path "$root/Cargo.toml" -p xmpp_accel_nif
mkdir -p "$app_dir/priv"
case "$(uname -s)" in
    Darwin) lib=libxmpp_accel_nif.dylib ;;
    *) lib=libxmpp_accel_nif.so ;;
esac
cp "$target/$profile/$lib" "$app_dir/priv/xmpp_accel_nif.so.tmp"
mv "$app_dir/priv/xmpp_accel_nif.so.tmp" "$app_dir/priv/xmpp_accel_nif.so"
