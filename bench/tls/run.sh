#!/usr/bin/env bash
# TLS server benchmark: our fast_tls drop-in (`ours'), Debian's fast_tls and
# OTP ssl as TLS servers, each in its own Erlang VM, driven by one client VM
# (OTP ssl as the client for all three) over 127.0.0.1. Full handshakes
# (TLS 1.3 and 1.2, ECDSA P-256 and RSA 2048), bulk throughput (server sends,
# 1 KB and 64 KB writes) and memory per idle connection. See bench/README.md.
#
#   OURS_EBIN      colon-separated ebin dirs of our drop-in and its NIF loader
#                  (default: erlang/_build/default/lib/fast_tls/ebin:
#                  erlang/_build/default/lib/xmpp_accel/ebin under the repo root)
#   FAST_TLS_EBIN  ebin dir of the real fast_tls (default: the installed
#                  p1_tls, /usr/lib/erlang/lib/p1_tls-*/ebin on Debian)
#   BENCH_IMPLS    comma-separated subset of ours,fast_tls,ssl (default: all)
#   BENCH_QUICK=1  smoke run (under a minute)
#   BENCH_KEEP=1   keep the work dir (certificates, launchers, results.term)
#   BENCH_ERL_FLAGS extra flags for every benchmark VM
#
# Builds nothing itself: run `make build' first (make bench-tls does).
set -euo pipefail

die() { echo "bench-tls: $*" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

command -v erl >/dev/null 2>&1 || die "erl not found in PATH (install Erlang/OTP)"
command -v erlc >/dev/null 2>&1 || die "erlc not found in PATH (install Erlang/OTP)"

# ---- which implementations ---------------------------------------------------------
IFS=, read -r -a IMPLS <<<"${BENCH_IMPLS:-ours,fast_tls,ssl}"
[[ ${#IMPLS[@]} -gt 0 ]] || die "BENCH_IMPLS is empty"
want() { local x; for x in "${IMPLS[@]}"; do [[ "$x" == "$1" ]] && return 0; done; return 1; }
for i in "${IMPLS[@]}"; do
    case "$i" in ours|fast_tls|ssl) ;; *) die "BENCH_IMPLS: unknown implementation '$i' (ours, fast_tls, ssl)";; esac
done

have_mod() { # module dir...
    local m=$1; shift
    for d in "$@"; do [[ -f "$d/$m.beam" ]] && return 0; done
    return 1
}

# ---- ours ---------------------------------------------------------------------------
OURS_DIRS=()
if want ours; then
    OURS_SPEC=${OURS_EBIN:-erlang/_build/default/lib/fast_tls/ebin:erlang/_build/default/lib/xmpp_accel/ebin}
    IFS=: read -r -a raw <<<"$OURS_SPEC"
    for d in "${raw[@]}"; do
        [[ -z "$d" ]] && continue
        if [[ ! -d "$d" ]]; then
            if [[ -n "${OURS_EBIN:-}" ]]; then die "OURS_EBIN entry '$d' is not a directory"; fi
            die "our fast_tls drop-in is not built: $ROOT/$d does not exist.
  Build it first (make build, or rebar3 compile in erlang/), set OURS_EBIN=dir1:dir2,
  or bench only the peers: BENCH_IMPLS=fast_tls,ssl bash bench/tls/run.sh"
        fi
        OURS_DIRS+=("$(cd "$d" && pwd)")
    done
    for m in fast_tls p1_sha; do
        have_mod "$m" "${OURS_DIRS[@]}" ||
            die "our fast_tls drop-in is not built: no $m.beam in ${OURS_DIRS[*]}
  Build it first (make build, or rebar3 compile in erlang/), set OURS_EBIN=dir1:dir2,
  or bench only the peers: BENCH_IMPLS=fast_tls,ssl bash bench/tls/run.sh"
    done
    if [[ -z "${OURS_EBIN:-}" && ! -f erlang/_build/default/lib/xmpp_accel/priv/xmpp_accel_nif.so ]]; then
        die "our NIF is not built: erlang/_build/default/lib/xmpp_accel/priv/xmpp_accel_nif.so is missing (make build)"
    fi
fi

# ---- fast_tls (the real one) ------------------------------------------------------------
FT_DIR=""
if [[ -n "${FAST_TLS_EBIN:-}" ]]; then
    [[ -f "$FAST_TLS_EBIN/fast_tls.beam" ]] || die "FAST_TLS_EBIN=$FAST_TLS_EBIN has no fast_tls.beam"
    FT_DIR=$(cd "$FAST_TLS_EBIN" && pwd)
else
    # OTP's default code path, without ERL_LIBS: Debian's p1_tls.
    FT_DIR=$(env -u ERL_LIBS erl -noshell -noinput -eval '
        case code:which(fast_tls) of
            P when is_list(P) -> io:format("~s", [filename:dirname(P)]);
            _ -> ok
        end, halt().') || true
fi
# Needed even without the fast_tls column: the bulk client uses it.
[[ -n "$FT_DIR" ]] ||
    die "fast_tls not found (Debian: apt-get install erlang-p1-tls), or set FAST_TLS_EBIN"
for d in "${OURS_DIRS[@]}"; do
    [[ "$d" == "$FT_DIR" ]] &&
        die "the fast_tls column ($FT_DIR) is one of our dirs; to check the harness, point OURS_EBIN at a copy"
done

# ---- file descriptors: the memory phase holds N connections on each side ----------------
if [[ "$(ulimit -n)" != unlimited && "$(ulimit -n)" -lt 4096 ]]; then
    ulimit -n 4096 2>/dev/null ||
        echo "bench-tls: WARNING: ulimit -n is $(ulimit -n); the memory phase needs ~1,600 per VM" >&2
fi

# ---- work dir, certificates, launchers ---------------------------------------------------------
WORK=$(mktemp -d /tmp/bench-tls.XXXXXX)
if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "bench-tls: work dir $WORK (kept)"
else
    trap 'rm -rf "$WORK"' EXIT
fi
erlc -o "$WORK" "$HERE/../bench_lib.erl" "$HERE/tls_bench.erl"
mkdir -p "$WORK/certs"
env -u ERL_LIBS erl -noshell -noinput -pa "$WORK" -run tls_bench main certs "$WORK/certs"

# Busy-waiting schedulers would show up as server CPU (and take CPU from the
# other VM on a small machine): off in every VM.
ERL_FLAGS_ALL=(+sbwt none +sbwtdcpu none +sbwtdio none)
# shellcheck disable=SC2206
EXTRA=(${BENCH_ERL_FLAGS:-})
OURS_PATH=$(IFS=:; echo "${OURS_DIRS[*]}")
ALL_TLS="$FT_DIR${OURS_PATH:+:$OURS_PATH}"

# launcher IMPL EXPECT(colon list) FORBID(colon list): the server VM's command
# line, with only its own dirs first on the code path and no ERL_LIBS.
launcher() {
    local impl=$1 expect=$2 forbid=$3 f="$WORK/server-$1.sh" pa=() ds=()
    if [[ -n "$expect" ]]; then
        IFS=: read -r -a ds <<<"$expect"
        # each -pa goes in front: last dir first, so the path reads dir1, dir2, ...
        for ((k = ${#ds[@]} - 1; k >= 0; k--)); do pa+=(-pa "${ds[k]}"); done
    fi
    {
        echo '#!/usr/bin/env bash'
        printf 'exec env -u ERL_LIBS TLS_BENCH_EXPECT=%q TLS_BENCH_FORBID=%q TLS_BENCH_CLK_TCK=%q ' \
            "$expect" "$forbid" "$(getconf CLK_TCK)"
        printf '%q ' erl -noshell -noinput "${ERL_FLAGS_ALL[@]}" "${EXTRA[@]}" -pa "$WORK" "${pa[@]}" \
            -run tls_bench main server "$impl" "$WORK/certs"
        echo
    } >"$f"
}
want ours && launcher ours "$OURS_PATH" "$FT_DIR"
want fast_tls && launcher fast_tls "$FT_DIR" "$OURS_PATH"
want ssl && launcher ssl "" "$ALL_TLS"

echo "bench-tls: ours     = ${OURS_PATH:-(not run)}"
echo "bench-tls: fast_tls = ${FT_DIR:-(not found)}"
echo "bench-tls: ssl      = OTP $(erl -noshell -noinput -eval 'io:format("~s", [erlang:system_info(otp_release)]), halt().')"
if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then echo "bench-tls: BENCH_QUICK set: smoke run"; fi

# The client VM: OTP ssl for handshakes and idle connections, the real
# fast_tls for the bulk client; it never sees our dirs.
env -u ERL_LIBS TLS_BENCH_EXPECT="$FT_DIR" TLS_BENCH_FORBID="$OURS_PATH" \
    TLS_BENCH_CLK_TCK="$(getconf CLK_TCK)" \
    erl -noshell -noinput "${ERL_FLAGS_ALL[@]}" "${EXTRA[@]}" -pa "$WORK" -pa "$FT_DIR" \
    -run tls_bench main client "$WORK" "$(IFS=,; echo "${IMPLS[*]}")"
