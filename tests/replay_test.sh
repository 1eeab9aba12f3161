#!/usr/bin/env bash
# End to end, BEAM + NIF: the corpus replay (make run-replay) replays the XEP corpus as
# one client stream in 1-1460 B chunks; every stanza that went in must come
# out, with one stream header and one stream end, and no error. A corrupted
# stream must be reported as an error with a non-zero exit. Without the
# shared corpus, the built-in samples are replayed (and that is said).
set -euo pipefail
cd "$(dirname "$0")/.."
run() { ERL_LIBS=erlang/_build/default/lib erl -noshell -pa erlang/_build/tools/ebin -s xmpp_stream_replay main "$@"; }
fail=0; pass=0
check() { if eval "$2"; then pass=$((pass+1)); echo "ok: $1"; else fail=$((fail+1)); echo "FAILED: $1"; fi; }

out=$(run)
echo "$out"
if grep -q 'is absent' <<<"$out"; then
    echo "NOTE: the XEP corpus is absent: replaying the built-in samples only"
    check "samples: 600 stanzas" "grep -q 'parsed: 600 stanzas' <<<\"\$out\""
else
    in=$(sed -n 's/.* \([0-9]*\) in the stream.*/\1/p' <<<"$out")
    check "corpus: stanzas in = stanzas out ($in)" "[ -n \"$in\" ] && grep -q \"parsed: $in stanzas\" <<<\"\$out\""
fi
check "one stream header and one stream end" "grep -q 'stream headers 1, stream ends 1' <<<\"\$out\""
check "throughput reported" "grep -q 'MB/s' <<<\"\$out\""

tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
{ printf "<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>"
  for i in $(seq 1 100); do printf "<message id='%d'><body>fine</body></message>" "$i"; done
  printf "<message></body>"; } > "$tmp/bad.xml"
set +e; bad=$(run "$tmp/bad.xml"); code=$?; set -e
echo "$bad"
check "a malformed stream is an error" "[ $code -ne 0 ] && grep -q 'error: mismatched end tag' <<<\"\$bad\""
check "stanzas before the error are counted" "grep -q 'parsed: [1-9][0-9]* stanzas' <<<\"\$bad\""
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
