#!/usr/bin/env bash
# MUC Light fan-out benchmark: one room message to N members (10 .. 100,000),
# three implementations in one VM on the same stanza and the same receiver
# processes: today's pure-Erlang loop (element with `to', exml:to_binary/1,
# send, per member), a pure-Erlang template (serialise once, splice `to'),
# and ours (xmpp_accel_fanout:template/1 + send/3). See bench/README.md.
#
#   OURS_LIB      our build's lib dir, holding the exml and xmpp_accel apps
#                 (default: erlang/_build/default/lib under the repo root)
#   BENCH_QUICK=1 smoke run: 7 rounds up to 10,000 members, one 100,000 round
#   BENCH_KEEP=1  keep the work dir (compiled module)
#   BENCH_ERL_FLAGS extra flags for the benchmark VM (e.g. "+sbwt none")
#
# Builds nothing itself: run `make build' first (make bench-fanout does).
set -euo pipefail

die() { echo "bench-fanout: $*" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

command -v erl >/dev/null 2>&1 || die "erl not found in PATH (install Erlang/OTP)"
command -v erlc >/dev/null 2>&1 || die "erlc not found in PATH (install Erlang/OTP)"

# ---- ours -------------------------------------------------------------------
LIB=${OURS_LIB:-$ROOT/erlang/_build/default/lib}
[[ -d "$LIB" ]] || die "our build not found: $LIB is not a directory. Run \`make build' first."
LIB=$(cd "$LIB" && pwd)
for f in exml/ebin/exml.beam exml/ebin/exml.app \
         xmpp_accel/ebin/xmpp_accel_fanout.beam xmpp_accel/ebin/xmpp_accel_nif.beam \
         xmpp_accel/ebin/xmpp_accel.app xmpp_accel/priv/xmpp_accel_nif.so; do
    [[ -f "$LIB/$f" ]] || die "our build lacks $LIB/$f. Run \`make build' first."
done

# ---- work dir -------------------------------------------------------------------
WORK=$(mktemp -d /tmp/bench-fanout.XXXXXX)
if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "bench-fanout: work dir $WORK (kept)"
else
    trap 'rm -rf "$WORK"' EXIT
fi
erlc -o "$WORK" "$HERE/../bench_lib.erl" "$HERE/fanout_bench.erl"

echo "bench-fanout: ours = $LIB (exml, xmpp_accel)"
if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then echo "bench-fanout: BENCH_QUICK set: smoke run"; fi

# One VM; only our apps on the path (ERL_LIBS), the module checks that exml,
# xmpp_accel_nif and xmpp_accel_fanout are loaded from $LIB. +P: room for
# 100,000 receivers and the special ones.
# shellcheck disable=SC2086
ERL_LIBS="$LIB" erl -noshell -noinput +P 1048576 ${BENCH_ERL_FLAGS:-} -pa "$WORK" \
    -run fanout_bench main "$LIB"
