#!/usr/bin/env bash
# fast_tls's own EUnit tests (the -ifdef(TEST) part of src/fast_tls.erl and
# src/p1_sha.erl of processone/fast_tls), unchanged, against our fast_tls
# drop-in. Optional: needs a checkout of fast_tls's sources, which this
# repository does not contain:
#   FAST_TLS_SRC=/path/to/fast_tls bash tests/fast_tls_peer.sh
# The test part is compiled as a module of its own that imports the public
# functions from our `fast_tls'; it runs in the checkout (it reads tests/cert.pem).
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${FAST_TLS_SRC:-}" ]; then
    echo "fast_tls_peer: FAST_TLS_SRC unset: fast_tls's own tests not run"; exit 0
fi
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
split_tests() { # source module-name imports
    {
        echo "-module($2)."
        echo "-compile([export_all, nowarn_export_all])."
        echo "-define(TEST, true). -define(REBAR3, true)."
        echo '-include_lib("eunit/include/eunit.hrl").'
        echo "-import($3)."
        # everything after the last "-ifdef(TEST)." of the source
        # (its closing -endif. dropped; the nested REBAR3 switch stays)
        awk '/^-ifdef\(TEST\)\./ {buf=""; keep=1; next} keep {buf = buf $0 "\n"} END {printf "%s", buf}' "$1" |
            sed '$ s/^-endif\.$//'
    } > "$tmp/$2.erl"
}
split_tests "$FAST_TLS_SRC/src/fast_tls.erl" fast_tls_upstream_tests \
    'fast_tls, [tcp_to_tls/2, close/1, recv/3, send/2, get_tls_last_message/2, get_peer_certificate/1]'
split_tests "$FAST_TLS_SRC/src/p1_sha.erl" p1_sha_upstream_tests \
    'p1_sha, [sha1/1, sha224/1, sha256/1, sha384/1, sha512/1, to_hexlist/1, sha/1]'
erlc -o "$tmp" "$tmp"/*.erl
cd "$FAST_TLS_SRC"
ERL_LIBS=$repo/erlang/_build/default/lib erl -noshell -pa "$tmp" -eval '
    Which = code:which(fast_tls),
    io:format("fast_tls from ~s~n", [Which]),
    case string:find(Which, "/erlang/_build/") of
        nomatch -> io:format("not our fast_tls~n"), halt(2);
        _ -> ok
    end,
    case eunit:test([fast_tls_upstream_tests, p1_sha_upstream_tests], [verbose]) of
        ok -> halt(0);
        _ -> halt(1)
    end.'
