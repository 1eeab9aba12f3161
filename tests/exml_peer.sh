#!/usr/bin/env bash
# Against the real esl/exml (optional: needs a build of it, which this
# repository does not contain; see bench/README.md for building one):
#   EXML_DIR=/path/to/exml   a built exml (ebin/ and priv/exml_nif.so):
#       differential test over the XEP corpus: same trees, same bytes;
#   EXML_SRC=/path/to/exml   a checkout of its sources (test/*.erl):
#       exml's own EUnit suites run against our modules, unchanged.
# Without either, says so and exits 0.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
ours_libs=$repo/erlang/_build/default/lib
tools=$repo/erlang/_build/tools/ebin
if [ -z "${EXML_DIR:-}${EXML_SRC:-}" ]; then
    echo "exml_peer: EXML_DIR and EXML_SRC unset: no comparison with the real exml"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
erlc -o "$tmp" "$repo"/tests/exml_peer/*.erl
if [ -n "${EXML_DIR:-}" ]; then
    erl -noshell -pa "$EXML_DIR/ebin" -pa "$tools" -pa "$tmp" -run exml_peer_dump main "$tmp/peer.bin"
    ERL_LIBS=$ours_libs erl -noshell -pa "$tools" -pa "$tmp" -run exml_peer_dump main "$tmp/ours.bin"
    erl -noshell -pa "$tmp" -run exml_peer_compare main "$tmp/peer.bin" "$tmp/ours.bin"
fi
if [ -n "${EXML_SRC:-}" ]; then
    mkdir -p "$tmp/suites"
    ERL_LIBS=$ours_libs erlc -o "$tmp/suites" -I "$repo/erlang/apps/exml/include" "$EXML_SRC"/test/*.erl
    mods=$(cd "$tmp/suites" && ls *.beam | sed 's/\.beam$//' | paste -sd, -)
    ERL_LIBS=$ours_libs erl -noshell -pa "$tmp/suites" -eval "
        case eunit:test([$mods], []) of ok -> halt(0); _ -> halt(1) end."
fi
