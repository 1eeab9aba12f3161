#!/usr/bin/env bash
# XML benchmark: ours (exml API) vs esl/exml vs Debian's fast_xml.
# Each implementation runs in its own Erlang VM (ours and exml share module
# names). See bench/README.md for the environment variables and how to
# build the exml peer.
#
#   OURS_EBIN     colon-separated ebin dirs of our build
#                 (default: erlang/_build/default/lib/*/ebin under the repo root)
#   EXML_DIR      a built esl/exml (dir with ebin/ and priv/); unset = no exml column
#   FAST_XML_EBIN ebin dir of fast_xml (default: the installed p1_xml / fast_xml)
#   XEP_CORPUS    JSON-lines corpus, stanza in field "xml"
#                 (default: ../shared/corpus/xep-stanzas.jsonl from the repo root)
#   BENCH_QUICK=1 fast smoke run
#   BENCH_VMS     VMs per implementation, rounds pooled (default 2; 1 with BENCH_QUICK)
#   BENCH_KEEP=1  keep the work dir (compiled module, intermediate results)
#   BENCH_ERL_FLAGS extra flags for every benchmark VM (e.g. "+sbwt none")
set -euo pipefail

die() { echo "bench-xml: $*" >&2; exit 2; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
cd "$ROOT"

command -v erl >/dev/null 2>&1 || die "erl not found in PATH (install Erlang/OTP)"
command -v erlc >/dev/null 2>&1 || die "erlc not found in PATH (install Erlang/OTP)"

# ---- ours -------------------------------------------------------------------
OURS_DIRS=()
if [[ -n "${OURS_EBIN:-}" ]]; then
    IFS=: read -r -a raw <<<"$OURS_EBIN"
    for d in "${raw[@]}"; do
        [[ -z "$d" ]] && continue
        [[ -d "$d" ]] || die "OURS_EBIN entry '$d' is not a directory"
        OURS_DIRS+=("$(cd "$d" && pwd)")
    done
else
    shopt -s nullglob
    for d in "$ROOT"/erlang/_build/default/lib/*/ebin; do OURS_DIRS+=("$d"); done
    shopt -u nullglob
fi
[[ ${#OURS_DIRS[@]} -gt 0 ]] ||
    die "our build not found: no erlang/_build/default/lib/*/ebin under $ROOT.
  Build it first (rebar3 compile in erlang/), or set OURS_EBIN=dir1:dir2:..."
have_mod() { # module dir...
    local m=$1; shift
    for d in "$@"; do [[ -f "$d/$m.beam" ]] && return 0; done
    return 1
}
for m in exml exml_stream; do
    have_mod "$m" "${OURS_DIRS[@]}" ||
        die "our build lacks $m.beam in: ${OURS_DIRS[*]}"
done

# ---- exml (optional) ------------------------------------------------------------
EXML_EBIN=""
if [[ -n "${EXML_DIR:-}" ]]; then
    [[ -d "$EXML_DIR" ]] || die "EXML_DIR=$EXML_DIR is not a directory"
    EXML_DIR=$(cd "$EXML_DIR" && pwd)
    for f in ebin/exml.beam ebin/exml_stream.beam ebin/exml_nif.beam priv/exml_nif.so; do
        [[ -f "$EXML_DIR/$f" ]] ||
            die "EXML_DIR=$EXML_DIR lacks $f (see bench/README.md for building esl/exml)"
    done
    EXML_EBIN="$EXML_DIR/ebin"
fi

# ---- fast_xml -----------------------------------------------------------------
if [[ -n "${FAST_XML_EBIN:-}" ]]; then
    [[ -f "$FAST_XML_EBIN/fxml_stream.beam" ]] ||
        die "FAST_XML_EBIN=$FAST_XML_EBIN has no fxml_stream.beam"
    FAST_XML_EBIN=$(cd "$FAST_XML_EBIN" && pwd)
else
    FAST_XML_EBIN=$(env -u ERL_LIBS erl -noshell -eval '
        case code:which(fxml_stream) of
            P when is_list(P) -> io:format("~s", [filename:dirname(P)]);
            _ -> ok
        end, halt().') || true
    [[ -n "$FAST_XML_EBIN" ]] ||
        die "fast_xml not found (Debian: apt-get install erlang-p1-xml), or set FAST_XML_EBIN"
fi

# ---- corpus ---------------------------------------------------------------------
CORPUS=${XEP_CORPUS:-$ROOT/../shared/corpus/xep-stanzas.jsonl}
if [[ ! -r "$CORPUS" ]]; then
    echo "bench-xml: WARNING: corpus $CORPUS not found; using the built-in stanza set" >&2
fi

# ---- work dir -------------------------------------------------------------------
WORK=$(mktemp -d /tmp/bench-xml.XXXXXX)
if [[ "${BENCH_KEEP:-0}" == 1 ]]; then
    echo "bench-xml: work dir $WORK (kept)"
else
    trap 'rm -rf "$WORK"' EXIT
fi
erlc -o "$WORK" "$HERE/xml_bench.erl"

# One VM per phase; only the implementation's own code paths, no ERL_LIBS.
# XML_BENCH_EXPECT makes the VM refuse modules loaded from anywhere else.
# shellcheck disable=SC2086
vm() { # impl-dirs(colon list) args...
    local dirs=$1; shift
    local pa=()
    if [[ -n "$dirs" ]]; then
        IFS=: read -r -a ds <<<"$dirs"
        for d in "${ds[@]}"; do pa+=(-pa "$d"); done
    fi
    env -u ERL_LIBS XML_BENCH_EXPECT="$dirs" \
        erl -noshell -noinput ${BENCH_ERL_FLAGS:-} "${pa[@]}" -pa "$WORK" \
        -run xml_bench main "$@"
}

OURS_PATH=$(IFS=:; echo "${OURS_DIRS[*]}")
IMPLS=(fast_xml)
declare -A DIRS=([fast_xml]="$FAST_XML_EBIN" [ours]="$OURS_PATH")
if [[ -n "$EXML_EBIN" ]]; then
    IMPLS+=(exml)
    DIRS[exml]="$EXML_EBIN"
fi
IMPLS+=(ours)

echo "bench-xml: ours     = ${OURS_PATH}"
echo "bench-xml: exml     = ${EXML_DIR:-(skipped: EXML_DIR not set)}"
echo "bench-xml: fast_xml = ${FAST_XML_EBIN}"
if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then echo "bench-xml: BENCH_QUICK set: smoke run"; fi

vm "" prep "$CORPUS" "$WORK/corpus.etf"
checks=()
for i in "${IMPLS[@]}"; do
    vm "${DIRS[$i]}" check "$i" "$WORK/corpus.etf" "$WORK/check-$i.etf"
    checks+=("$WORK/check-$i.etf")
done
vm "" filter "$WORK/corpus.etf" "$WORK/kept.etf" "${checks[@]}"

# Each implementation runs in BENCH_VMS VMs, interleaved (A B C A B C): the
# report pools their rounds, which evens out VM-to-VM differences (address
# layout, allocator state) and drift of the machine during the run.
if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then vms=${BENCH_VMS:-1}; else vms=${BENCH_VMS:-2}; fi
[[ "$vms" =~ ^[1-9][0-9]*$ ]] || die "BENCH_VMS=$vms is not a positive integer"
results=()
for ((v = 1; v <= vms; v++)); do
    for i in "${IMPLS[@]}"; do
        vm "${DIRS[$i]}" run "$i" "$WORK/kept.etf" "$WORK/result-$i-$v.term"
        results+=("$WORK/result-$i-$v.term")
    done
done
vm "" report "${results[@]}"
