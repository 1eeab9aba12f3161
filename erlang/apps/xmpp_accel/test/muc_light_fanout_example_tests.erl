%%% @doc The example call site works: every member with a session gets its
%%% own bytes, members without one are reported for normal routing.
-module(muc_light_fanout_example_tests).

-include_lib("eunit/include/eunit.hrl").

broadcast_test() ->
    Self = self(),
    Session = fun() -> spawn_link(fun() -> receive M -> Self ! {got, self(), M} end end) end,
    Alice = Session(), Bob1 = Session(), Bob2 = Session(),
    Sessions = fun(<<"alice@x">>) -> [Alice]; (<<"bob@x">>) -> [Bob1, Bob2]; (_) -> [] end,
    Attrs = #{<<"from">> => <<"room@muclight.x/alice@x">>, <<"id">> => <<"m1">>, <<"type">> => <<"groupchat">>},
    Children = [{xmlel, <<"body">>, #{}, [{xmlcdata, <<"hello">>, escaped}]}],
    Result = muc_light_fanout_example:broadcast(Attrs, Children,
                                                [{<<"alice@x">>, owner}, {<<"bob@x">>, member}, {<<"carol@x">>, member}],
                                                Sessions),
    ?assertEqual(#{sent => 3, offline => [<<"carol@x">>], remote => []}, Result),
    Expect = fun(Jid) -> exml:to_binary({xmlel, <<"message">>, Attrs#{<<"to">> => Jid}, Children}) end,
    Got = lists:sort([receive {got, P, M} -> {P, M} after 2000 -> timeout end || _ <- [1, 2, 3]]),
    ?assertEqual(lists:sort([{Alice, {route_prerendered, <<"room@muclight.x/alice@x">>, Expect(<<"alice@x">>)}},
                             {Bob1, {route_prerendered, <<"room@muclight.x/alice@x">>, Expect(<<"bob@x">>)}},
                             {Bob2, {route_prerendered, <<"room@muclight.x/alice@x">>, Expect(<<"bob@x">>)}}]),
                 Got).
