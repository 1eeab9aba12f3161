#!/usr/bin/env bash
# XML benchmark: ours (exml API) vs esl/exml, and ours (fast_xml API) and
# Debian's fast_xml. Each implementation runs in its own Erlang VM (ours and
# exml share module names, so do our fast_xml drop-in and Debian's). See
# bench/README.md for the environment variables and how to build the exml peer.
#
#   OURS_EBIN     colon-separated ebin dirs of our build
#                 (default: erlang/_build/default/lib/*/ebin under the repo root)
#   OURS_FXML_EBIN colon-separated ebin dirs of our fast_xml drop-in and its NIF
#                 loader (default: erlang/_build/default/lib/fast_xml/ebin:
#                 erlang/_build/default/lib/xmpp_accel/ebin under the repo root)
#   EXML_DIR      a built esl/exml (dir with ebin/ and priv/); unset = no exml column
#   FAST_XML_EBIN ebin dir of fast_xml (default: the installed p1_xml / fast_xml)
#   XEP_CORPUS    JSON-lines corpus, stanza in field "xml"
#                 (default: ../shared/corpus/xep-stanzas.jsonl from the repo root)
#   BENCH_QUICK=1 fast smoke run
#   BENCH_VMS     VMs per implementation, rounds pooled (default 2; 1 with BENCH_QUICK)
#   BENCH_KEEP=1  keep the work dir (compiled module, intermediate results)
#   BENCH_ERL_FLAGS extra flags for every benchmark VM (e.g. "+sbwt none")
#   BENCH_PAIRED=1 run ours and the peer it is compared with at the same time,
#                 one core each (steadier ratios on a shared machine)
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

# ---- ours, fast_xml API (fxml, fxml_stream) ------------------------------------
# Module names clash with Debian's fast_xml: this column's VM gets these dirs
# first on the code path, and Debian's VM never gets them at all.
OURS_FXML_DIRS=()
OURS_FXML_SKIP=""
OURS_FXML_SPEC=${OURS_FXML_EBIN:-erlang/_build/default/lib/fast_xml/ebin:erlang/_build/default/lib/xmpp_accel/ebin}
IFS=: read -r -a raw <<<"$OURS_FXML_SPEC"
for d in "${raw[@]}"; do
    [[ -z "$d" ]] && continue
    if [[ -d "$d" ]]; then
        OURS_FXML_DIRS+=("$(cd "$d" && pwd)")
    elif [[ -n "${OURS_FXML_EBIN:-}" ]]; then
        die "OURS_FXML_EBIN entry '$d' is not a directory"
    else
        OURS_FXML_SKIP="$d not built"
    fi
done
if [[ -z "$OURS_FXML_SKIP" ]]; then
    for m in fxml fxml_stream; do
        if ! have_mod "$m" "${OURS_FXML_DIRS[@]}"; then
            [[ -n "${OURS_FXML_EBIN:-}" ]] &&
                die "OURS_FXML_EBIN=$OURS_FXML_EBIN lacks $m.beam"
            OURS_FXML_SKIP="no $m.beam in ${OURS_FXML_DIRS[*]}"
        fi
    done
fi
if [[ -n "$OURS_FXML_SKIP" ]]; then
    echo "bench-xml: WARNING: our fast_xml drop-in not found ($OURS_FXML_SKIP);" \
         "the ours_fxml column is skipped (build it: rebar3 compile in erlang/)" >&2
    OURS_FXML_DIRS=()
fi

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
# The fast_xml column is the real (Debian) fast_xml, never our drop-in. Only an
# explicit OURS_FXML_EBIN may name the same dir (harness self-check: every
# ours_fxml/fast_xml ratio then about 1.00).
ours_dirs=("${OURS_DIRS[@]}")
[[ -z "${OURS_FXML_EBIN:-}" ]] && ours_dirs+=("${OURS_FXML_DIRS[@]}")
for d in "${ours_dirs[@]}"; do
    if [[ "$d" == "$FAST_XML_EBIN" ]]; then
        die "fast_xml found in $FAST_XML_EBIN, a dir of our build; set FAST_XML_EBIN to the real fast_xml"
    fi
done

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
erlc -o "$WORK" "$HERE/../bench_lib.erl" "$HERE/xml_bench.erl"

# One VM per phase; only the implementation's own code paths, no ERL_LIBS.
# XML_BENCH_EXPECT makes the VM refuse the benchmarked modules (exml*, fxml*,
# fast_xml*, xmpp_accel*) loaded from anywhere else, and checks that these
# dirs come first on the code path. XML_BENCH_FORBID: dirs of the
# implementations whose module names clash with this one; the VM refuses to
# run if one is on the code path (if OTP's default path has it, as it has
# Debian's fast_xml, it is taken off the path first) or if anything was
# loaded from one.
# shellcheck disable=SC2086
vm() { # impl-dirs(colon list) forbidden-dirs(colon list) args...; VM_CORE: pin to that core
    local dirs=$1 forbid=$2; shift 2
    local pa=()
    if [[ -n "$dirs" ]]; then
        IFS=: read -r -a ds <<<"$dirs"
        # each -pa goes in front of the path so far: last dir first, so that
        # the path reads dir1, dir2, ..., then the work dir, then OTP's
        for ((k = ${#ds[@]} - 1; k >= 0; k--)); do pa+=(-pa "${ds[k]}"); done
    fi
    local pin=()
    if [[ -n "${VM_CORE:-}" ]]; then pin=(taskset -c "$VM_CORE"); fi
    "${pin[@]}" env -u ERL_LIBS XML_BENCH_EXPECT="$dirs" XML_BENCH_FORBID="$forbid" \
        erl -noshell -noinput ${BENCH_ERL_FLAGS:-} -pa "$WORK" "${pa[@]}" \
        -run xml_bench main "$@"
}

OURS_PATH=$(IFS=:; echo "${OURS_DIRS[*]}")
OURS_FXML_PATH=$(IFS=:; echo "${OURS_FXML_DIRS[*]}")
IMPLS=(fast_xml)
# DIRS: the implementation's code path; FORBID: the dirs it must not see
# (the other implementations of the same API).
declare -A DIRS=([fast_xml]="$FAST_XML_EBIN" [ours]="$OURS_PATH")
declare -A FORBID=([fast_xml]="$OURS_PATH${OURS_FXML_PATH:+:$OURS_FXML_PATH}"
                   [ours]="$EXML_EBIN")
if [[ -n "$EXML_EBIN" ]]; then
    IMPLS+=(exml)
    DIRS[exml]="$EXML_EBIN"
    FORBID[exml]="$OURS_PATH${OURS_FXML_PATH:+:$OURS_FXML_PATH}"
fi
IMPLS+=(ours)
if [[ -n "$OURS_FXML_PATH" ]]; then
    IMPLS+=(ours_fxml)
    DIRS[ours_fxml]="$OURS_FXML_PATH"
    FORBID[ours_fxml]="$FAST_XML_EBIN"
fi

echo "bench-xml: ours      = ${OURS_PATH}"
echo "bench-xml: ours_fxml = ${OURS_FXML_PATH:-(skipped: $OURS_FXML_SKIP)}"
echo "bench-xml: exml      = ${EXML_DIR:-(skipped: EXML_DIR not set)}"
echo "bench-xml: fast_xml  = ${FAST_XML_EBIN}"
if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then echo "bench-xml: BENCH_QUICK set: smoke run"; fi

# One corpus: prep, check, filter, run, report. $1: corpus path (or
# "traffic" for the generated one), $2: label ("" for the main corpus: its
# report prints the keys without prefix).
run_corpus() {
    local source=$1 label=$2 w="$WORK/${2:-main}"
    mkdir -p "$w"
    echo
    echo "bench-xml: ==== corpus: ${label:-main} ($source) ===="
    vm "" "" prep "$source" "$w/corpus.etf"
    local checks=() results=()
    for i in "${IMPLS[@]}"; do
        vm "${DIRS[$i]}" "${FORBID[$i]}" check "$i" "$w/corpus.etf" "$w/check-$i.etf"
        checks+=("$w/check-$i.etf")
    done
    vm "" "" filter "$w/corpus.etf" "$w/kept.etf" "${checks[@]}"

    # Each implementation runs in BENCH_VMS VMs, interleaved (A B C A B C): the
    # report pools their rounds, which evens out VM-to-VM differences (address
    # layout, allocator state) and drift of the machine during the run.
    # BENCH_PAIRED=1: each of ours runs at the same time as the peer it is
    # compared with (ours with exml, ours_fxml with fast_xml), each VM on a
    # core of its own, the cores swapped from one VM to the next: both sides
    # of a ratio see the same machine at the same moment, which cancels most
    # of a shared machine's drift (they do share the memory bus and cache).
    for ((v = 1; v <= vms; v++)); do
        if [[ "$paired" == 1 ]]; then
            local groups=()
            for pair in "exml ours" "fast_xml ours_fxml"; do
                read -r a b <<<"$pair"
                if [[ -n "${DIRS[$a]:-}" && -n "${DIRS[$b]:-}" ]]; then groups+=("$a $b"); fi
            done
            for i in "${IMPLS[@]}"; do
                [[ " ${groups[*]} " == *" $i "* ]] || groups+=("$i")
            done
            for g in "${groups[@]}"; do
                local core=$((v % 2)) pids=()
                for i in $g; do
                    VM_CORE=$core vm "${DIRS[$i]}" "${FORBID[$i]}" run "$i" "$w/kept.etf" "$w/result-$i-$v.term" &
                    pids+=($!)
                    results+=("$w/result-$i-$v.term")
                    core=$((1 - core))
                done
                for pid in "${pids[@]}"; do wait "$pid" || die "a paired benchmark VM failed"; done
            done
        else
            for i in "${IMPLS[@]}"; do
                vm "${DIRS[$i]}" "${FORBID[$i]}" run "$i" "$w/kept.etf" "$w/result-$i-$v.term"
                results+=("$w/result-$i-$v.term")
            done
        fi
    done
    XML_BENCH_LABEL="${label:--}" vm "" "" report "${results[@]}" | tee "$w/report.txt"
}

if [[ -n "${BENCH_QUICK:-}" && "${BENCH_QUICK}" != 0 ]]; then vms=${BENCH_VMS:-1}; else vms=${BENCH_VMS:-2}; fi
[[ "$vms" =~ ^[1-9][0-9]*$ ]] || die "BENCH_VMS=$vms is not a positive integer"
paired=${BENCH_PAIRED:-0}
if [[ "$paired" == 1 ]]; then
    command -v taskset >/dev/null || die "BENCH_PAIRED=1 needs taskset (util-linux)"
    [[ $(nproc) -ge 2 ]] || die "BENCH_PAIRED=1 needs two cores"
    echo "bench-xml: BENCH_PAIRED=1: ours and its peer run at the same time, one core each"
fi

# XML_CORPORA: which corpora to run, "xep" (XEP_CORPUS) and/or "traffic"
# (compact client traffic generated by xml_bench.erl: messages with chat
# states, presence with caps, MAM results, a 200-item roster, a 50 KB
# message). The first one's keys have no prefix; the others' keys are
# prefixed with the corpus name; one summary line at the end holds all.
read -r -a corpora <<<"${XML_CORPORA:-xep traffic}"
parts=()
first=1
for c in "${corpora[@]}"; do
    case $c in
        xep) src=$CORPUS ;;
        traffic) src=traffic ;;
        *) die "XML_CORPORA: unknown corpus '$c' (xep | traffic)" ;;
    esac
    if [[ $first == 1 ]]; then label=""; else label=$c; fi
    run_corpus "$src" "$label"
    w="$WORK/${label:-main}"
    line=$(grep -E '^summary(-part)?:' "$w/report.txt" | tail -1)
    parts+=("${line#*:}")
    first=0
done
echo
echo "load: $(uptime)"
echo "summary:$(IFS=; echo "${parts[*]}")"
