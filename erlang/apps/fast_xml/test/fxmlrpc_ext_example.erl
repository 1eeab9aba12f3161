%%% @doc Test support: a tiny codec for `fxmlrpc_codec:register_module/1'
%%% (one element, `<ping id=.../>' in `urn:example:ping', as `{ping, Id, Els}').
-module(fxmlrpc_ext_example).

-export([tags/0, records/0, do_decode/4, do_encode/2, do_get_name/1, do_get_ns/1,
         pp/2, get_els/1, set_els/2]).

-define(NS, <<"urn:example:ping">>).

tags() -> [{<<"ping">>, ?NS}, {<<"pong">>, ?NS}].

records() -> [{ping, 2}].

do_decode(<<"ping">>, ?NS, {xmlel, <<"ping">>, Attrs, Els}, _Opts) ->
    {ping, fxmlrpc_codec:get_attr(<<"id">>, Attrs, <<>>), Els};
do_decode(<<"pong">>, ?NS, _, Opts) ->
    {pong, Opts}.

do_encode({ping, Id, Els}, Top) ->
    {xmlel, <<"ping">>, fxmlrpc_codec:enc_xmlns_attrs(?NS, Top) ++ [{<<"id">>, Id}], Els}.

do_get_name({ping, _, _}) -> <<"ping">>.

do_get_ns({ping, _, _}) -> ?NS.

pp(ping, 2) -> [id, sub_els];
pp(_, _) -> no.

get_els({ping, _, Els}) -> Els.

set_els({ping, Id, _}, Els) -> {ping, Id, Els}.
