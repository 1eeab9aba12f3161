#!/usr/bin/env bash
# End to end: an Erlang project that depends on xmpp_accel and exml through
# rebar3 git_subdir dependencies (as the README shows) builds the NIF from
# that checkout and parses and serialises with it. Uses this repository's
# committed HEAD through a file:// URL; cargo's target dir is shared so the
# NIF is not rebuilt from scratch.
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$(git -C "$repo" rev-parse HEAD)
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/src"
cat > "$tmp/rebar.config" <<CONF
{deps, [
  {xmpp_accel, {git_subdir, "file://$repo", {ref, "$commit"}, "erlang/apps/xmpp_accel"}},
  {exml, {git_subdir, "file://$repo", {ref, "$commit"}, "erlang/apps/exml"}}
]}.
CONF
cat > "$tmp/src/user_app.app.src" <<'APP'
{application, user_app, [{description, "uses exml"}, {vsn, "0.1"}, {applications, [kernel, stdlib, exml]}]}.
APP
cat > "$tmp/src/user_app.erl" <<'ERL'
-module(user_app).
-export([check/0]).
check() ->
    {ok, El} = exml:parse(<<"<message to='a@b'><body>hi &amp; bye</body></message>">>),
    <<"<message to='a@b'><body>hi &amp; bye</body></message>">> = exml:to_binary(El),
    {ok, P} = exml_stream:new_parser(),
    {ok, _, [_, _]} = exml_stream:parse(P, <<"<s><a/>">>),
    ok.
ERL
cd "$tmp"
CARGO_TARGET_DIR="$repo/target" rebar3 compile
lib=_build/default/lib
result=$(erl -noshell -pa $lib/user_app/ebin $(find $lib -path '*/apps/*/ebin' -printf '-pa %p ') \
    -eval 'ok = application:ensure_started(exml), io:format("~p", [user_app:check()]), halt().')
if [ "$result" = ok ]; then echo "1 passed, 0 failed"; else echo "git_subdir dependency failed: $result"; echo "0 passed, 1 failed"; exit 1; fi
