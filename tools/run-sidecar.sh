#!/usr/bin/env bash
# Starts the sidecar from a configuration file in the foreground (make
# run-sidecar). When the file's [tls] cert_dir does not exist (the example
# points at /etc/letsencrypt/live), it runs a copy of the file instead, with
# a throwaway self-signed certificate for "localhost" in the Let's Encrypt
# layout and every listener moved to 127.0.0.1 on ports above 1024.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
cfg=${1:-$repo/sidecar/examples/sidecar.toml}
bin=$repo/target/release/xmpp-accel-sidecar
cert_dir=$(sed -n 's/^cert_dir *= *"\(.*\)"/\1/p' "$cfg" | head -n 1)
if [ -n "$cert_dir" ] && [ -d "$cert_dir" ]; then
    exec "$bin" --config "$cfg"
fi
tmp=$(mktemp -d /tmp/xmpp-accel-sidecar-run.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/certs/localhost"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj /CN=localhost \
    -addext "subjectAltName=DNS:localhost" -keyout "$tmp/certs/localhost/privkey.pem" \
    -out "$tmp/certs/localhost/fullchain.pem" >/dev/null 2>&1
sed -e "s|^cert_dir *=.*|cert_dir = \"$tmp/certs\"|" \
    -e 's|^address = "0\.0\.0\.0:\([0-9]*\)"|address = "127.0.0.1:1\1"|' \
    -e 's|^# default_domain = .*|default_domain = "localhost"|' "$cfg" >"$tmp/sidecar.toml"
echo "run-sidecar: $cert_dir not found: running $tmp/sidecar.toml (self-signed localhost certificate, listeners on 127.0.0.1:1xxxx)"
grep -E '^(address|backend)' "$tmp/sidecar.toml" | sed 's/^/run-sidecar:   /'
"$bin" --config "$tmp/sidecar.toml" &
pid=$!
trap 'kill -TERM $pid 2>/dev/null; wait $pid; rm -rf "$tmp"' EXIT INT TERM
wait $pid
