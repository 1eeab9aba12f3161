%%% @doc Drop-in for fast_tls's `p1_sha': SHA digests and lowercase hex.
%%% Pure Erlang (OTP crypto); `load_nif/0' is kept for callers and does nothing.
%%% @end
-module(p1_sha).

-export([load_nif/0, sha/1, to_hexlist/1]).
-export([sha1/1, sha224/1, sha256/1, sha384/1, sha512/1]).
-deprecated([{sha1, 1}, {sha224, 1}, {sha256, 1}, {sha384, 1}, {sha512, 1}]).

-spec load_nif() -> ok.
load_nif() -> ok.

%% @doc Lowercase hex of the SHA-1 digest.
-spec sha(iodata()) -> binary().
sha(Text) -> to_hexlist(crypto:hash(sha, Text)).

%% @doc Lowercase hex of the bytes.
-spec to_hexlist(iodata()) -> binary().
to_hexlist(Data) ->
    << <<(hex_digit(N))>> || <<N:4>> <= iolist_to_binary(Data) >>.

hex_digit(N) when N < 10 -> $0 + N;
hex_digit(N) -> $a + N - 10.

-spec sha1(iodata()) -> binary().
sha1(Text) -> crypto:hash(sha, Text).

-spec sha224(iodata()) -> binary().
sha224(Text) -> crypto:hash(sha224, Text).

-spec sha256(iodata()) -> binary().
sha256(Text) -> crypto:hash(sha256, Text).

-spec sha384(iodata()) -> binary().
sha384(Text) -> crypto:hash(sha384, Text).

-spec sha512(iodata()) -> binary().
sha512(Text) -> crypto:hash(sha512, Text).
