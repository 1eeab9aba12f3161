#!/usr/bin/env bash
# MAM index in a BEAM cluster: the two designs of xmpp_accel_mam_cluster
# (owner = one rendezvous-hashed node per archive; replicate = every node
# indexes everything) on three peer nodes on loopback, the archive in
# mnesia disc_copies tables on the benchmark VM. See mam_cluster_bench.erl
# and README.md ("The MAM index in a BEAM cluster").
#
#   OURS_LIB        our build's lib dir (default erlang/_build/default/lib)
#   BENCH_QUICK=1   smoke run (6,000 messages, 200 searches)
#   BENCH_MESSAGES  messages per design (default 60,000)
#   BENCH_OVERLAP_MS catchup_overlap in ms of mam ids (default 5000)
#   BENCH_KEEP=1    keep the work dir
#
# Builds nothing itself: run `make build' first (make bench-mam-cluster does).
# Starts epmd on 127.0.0.1 when none runs, and stops it afterwards (by pid).
set -euo pipefail

die() { echo "bench-mam-cluster: $*" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

command -v erl >/dev/null 2>&1 || die "erl not found in PATH (install Erlang/OTP)"
LIB=${OURS_LIB:-$ROOT/erlang/_build/default/lib}
[[ -d "$LIB" ]] || die "our build not found: $LIB. Run \`make build' first."
LIB=$(cd "$LIB" && pwd)
for f in xmpp_accel/ebin/xmpp_accel_mam_cluster.beam xmpp_accel/ebin/xmpp_accel_mam_cluster_mnesia.beam \
         xmpp_accel/priv/xmpp_accel_nif.so; do
    [[ -f "$LIB/$f" ]] || die "our build lacks $LIB/$f. Run \`make build' first."
done

WORK=$(mktemp -d /tmp/bench-mam-cluster-code.XXXXXX)
EPMD_PID=""
cleanup() {
    rm -rf "$WORK"
    if [[ -n "$EPMD_PID" ]]; then kill "$EPMD_PID" 2>/dev/null || true; fi
}
trap cleanup EXIT
erlc -o "$WORK" "$HERE/../bench_lib.erl" "$HERE/mam_cluster_bench.erl"

if ! epmd -names >/dev/null 2>&1; then
    ERL_EPMD_ADDRESS=127.0.0.1 epmd &
    EPMD_PID=$!
    sleep 0.3
fi

ERL_LIBS="$LIB" erl -noshell -noinput -sname "mamcb_$$@localhost" -pa "$WORK" \
    -run mam_cluster_bench main "$LIB"
