%%% @doc No NIF call blocks a normal scheduler: large inputs move to dirty
%%% schedulers. Each case runs under erlang:system_monitor/2 with
%%% `{long_schedule, 5}' and asserts that no process ran uninterrupted for
%%% 5 ms or more. A control case shows that the monitor does catch a
%%% non-yielding call in this VM, so the silence means something.
-module(exml_scheduler_tests).

-include_lib("eunit/include/eunit.hrl").
-include("exml_stream.hrl").

big_stanza(Bytes) ->
    Item = <<"<item jid='someone@example.com' name='Some One &amp; co' subscription='both'><group>Friends</group></item>">>,
    N = Bytes div byte_size(Item),
    <<"<iq type='result' id='r'><query xmlns='jabber:iq:roster'>", (binary:copy(Item, N))/binary, "</query></iq>">>.

control_test() ->
    %% list_to_tuple/1 does not yield: over 3 million elements it holds its
    %% scheduler well past 5 ms, and the monitor must report it
    L = lists:seq(1, 3000000),
    ?assertNotEqual([], xmpp_accel_sched_probe:long_schedules(fun() -> list_to_tuple(L) end)).

scheduler_test_() ->
    Stanza = big_stanza(5 * 1024 * 1024),
    {ok, El} = exml:parse(Stanza),
    Text = binary:copy(<<"a<b&c ">>, 1024 * 1024),
    Cases =
        [{"exml:parse/1 of 5 MB", fun() -> {ok, _} = exml:parse(Stanza) end},
         {"exml:parse/1 of 5 MB as a list", fun() -> {ok, _} = exml:parse([Stanza]) end},
         {"exml_stream:parse/2 of 5 MB in one chunk",
          fun() -> {ok, P} = exml_stream:new_parser(),
                   {ok, _, [_, #xmlel{}]} = exml_stream:parse(P, <<"<s>", Stanza/binary>>) end},
         {"exml_stream:parse/2 of 5 MB in 1,460 B chunks",
          fun() -> {ok, P} = exml_stream:new_parser(),
                   {ok, P1, [_]} = exml_stream:parse(P, <<"<s>">>),
                   [#xmlel{}] = feed(P1, Stanza, 1460, []) end},
         {"exml:to_binary/1 of 5 MB", fun() -> _ = exml:to_binary(El) end},
         {"exml:to_pretty_iolist/1 of 5 MB", fun() -> _ = exml:to_pretty_iolist(El) end},
         {"exml:xml_size/1 of 6 MB of text", fun() -> _ = exml:xml_size(#xmlcdata{content = Text}) end},
         {"exml:to_binary/1 of 6 MB of text", fun() -> _ = exml:to_binary(#xmlel{name = <<"a">>, children = [#xmlcdata{content = Text}]}) end}],
    %% (a timeout around the list would not apply to each test: each gets its own)
    [{timeout, 120, {Name, fun() -> ?assertEqual([], quiet(F)) end}} || {Name, F} <- Cases].

%% Up to 3 attempts (see xmpp_accel_sched_probe:quiet/2).
quiet(F) ->
    xmpp_accel_sched_probe:quiet(fun() -> xmpp_accel_sched_probe:long_schedules(F) end, 3).

feed(_P, <<>>, _N, Acc) -> Acc;
feed(P, Bin, N, Acc) ->
    Len = min(N, byte_size(Bin)),
    <<Chunk:Len/binary, Rest/binary>> = Bin,
    {ok, P1, Items} = exml_stream:parse(P, Chunk),
    feed(P1, Rest, N, Acc ++ Items).
