%%% @doc The fxml_stream API through the real NIF: events and their
%%% wrapping, namespace normalisation, limits, errors, parser life cycle,
%%% bad arguments, and no scheduler blocked by large input.
-module(fxml_stream_api_tests).

-include_lib("eunit/include/eunit.hrl").
-include("fxml.hrl").

-define(HEAD, <<"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='x'>">>).

%% Events in this process's mailbox, in order.
events() ->
    receive M -> [M | events()] after 0 -> [] end.

feed(Opts, Limits, Chunks) ->
    S0 = fxml_stream:new(self(), Limits, Opts),
    S = lists:foldl(fun(C, St) -> fxml_stream:parse(St, C) end, S0, Chunks),
    true = fxml_stream:close(S),
    events().

gen_event_wrapping_test() ->
    Evs = feed([], infinity, [?HEAD, <<" <message><body>hi</body></message></stream:stream>">>]),
    ?assertMatch([{'$gen_event', {xmlstreamstart, <<"stream:stream">>, [{<<"xmlns">>, <<"jabber:client">>} | _]}},
                  {'$gen_all_state_event', {xmlstreamcdata, <<" ">>}},
                  {'$gen_event', {xmlstreamelement, #xmlel{name = <<"message">>}}},
                  {'$gen_event', {xmlstreamend, <<"stream:stream">>}}], Evs).

no_gen_server_test() ->
    Evs = feed([no_gen_server], infinity, [?HEAD, <<"<iq type='get' id='1'><query xmlns='jabber:iq:roster'/></iq>">>]),
    ?assertEqual([{xmlstreamstart, <<"stream:stream">>,
                   [{<<"xmlns">>, <<"jabber:client">>},
                    {<<"xmlns:stream">>, <<"http://etherx.jabber.org/streams">>},
                    {<<"to">>, <<"x">>}]},
                  {xmlstreamelement, #xmlel{name = <<"iq">>,
                                            attrs = [{<<"type">>, <<"get">>}, {<<"id">>, <<"1">>}],
                                            children = [#xmlel{name = <<"query">>,
                                                               attrs = [{<<"xmlns">>, <<"jabber:iq:roster">>}]}]}}],
                 Evs).

normalisation_test() ->
    Evs = feed([no_gen_server], infinity,
               [?HEAD, <<"<message xmlns='jabber:client'><x:y xmlns:x='urn:x' x:a='1'><x:z/></x:y></message>"
                         "<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>">>]),
    ?assertMatch([_,
                  {xmlstreamelement, #xmlel{name = <<"message">>, attrs = [],
                                            children = [#xmlel{name = <<"y">>,
                                                               attrs = [{<<"xmlns">>, <<"urn:x">>},
                                                                        {<<"xmlns:x">>, <<"urn:x">>},
                                                                        {<<"x:a">>, <<"1">>}],
                                                               children = [#xmlel{name = <<"z">>, attrs = []}]}]}},
                  {xmlstreamelement, #xmlel{name = <<"stream:error">>, attrs = []}}], Evs).

chunking_does_not_change_events_test() ->
    Data = iolist_to_binary([?HEAD, [<<"<message id='", (integer_to_binary(I))/binary, "'><body>&#x263A; ż &amp;</body></message>"/utf8>>
                                     || I <- lists:seq(1, 20)], <<"</stream:stream>">>]),
    Whole = feed([no_gen_server], infinity, [Data]),
    Bytes = feed([no_gen_server], infinity, [<<B>> || <<B>> <= Data]),
    ?assertEqual(Whole, Bytes),
    ?assertEqual(22, length(Whole)).

size_limit_test() ->
    Evs = feed([no_gen_server], 30, [<<"<s>">>, <<"<a/>">>, binary:copy(<<"<b>">>, 20), <<"</b>">>]),
    ?assertEqual([{xmlstreamstart, <<"s">>, []},
                  {xmlstreamelement, #xmlel{name = <<"a">>}},
                  {xmlstreamerror, <<"XML stanza is too big">>},
                  {xmlstreamerror, <<"XML stanza is too big">>}], Evs).

element_limit_test() ->
    Evs = feed([no_gen_server], {infinity, 3}, [<<"<s>">>, <<"<a><b/></a>">>, <<"<a><b/><c/></a>">>]),
    ?assertEqual([{xmlstreamstart, <<"s">>, []},
                  {xmlstreamelement, #xmlel{name = <<"a">>, children = [#xmlel{name = <<"b">>}]}},
                  {xmlstreamerror, <<"XML stanza is too big">>}], Evs).

%% Our own limits (nesting deeper than 256, more than 256 attributes on one
%% element) are reported as fast_xml reports its size limit, so that a
%% server treats them alike (ejabberd: policy-violation, not not-well-formed).
depth_and_attribute_limits_test() ->
    Deep = binary:copy(<<"<a>">>, 100000),
    Attrs = iolist_to_binary(["<a", [[" a", integer_to_binary(I), "='v'"] || I <- lists:seq(1, 10000)], "/>"]),
    TooBig = {xmlstreamerror, <<"XML stanza is too big">>},
    ?assertEqual([{xmlstreamstart, <<"s">>, []}, TooBig],
                 feed([no_gen_server], infinity, [<<"<s>">>, Deep])),
    ?assertEqual([{xmlstreamstart, <<"s">>, []}, TooBig],
                 feed([no_gen_server], infinity, [<<"<s>">>, Attrs])),
    %% just under the limits: fine
    Ok = iolist_to_binary([binary:copy(<<"<a>">>, 256), binary:copy(<<"</a>">>, 256)]),
    ?assertMatch([_, {xmlstreamelement, #xmlel{name = <<"a">>}}],
                 feed([no_gen_server], infinity, [<<"<s>">>, Ok])),
    %% parse_element keeps fast_xml's {Code, Text} shape, with a readable text
    ?assertEqual({error, {1, <<"XML stanza is too big: element nesting deeper than 256">>}},
                 fxml_stream:parse_element(Deep)),
    ?assertEqual({error, {1, <<"XML stanza is too big: more than 256 attributes on one element">>}},
                 fxml_stream:parse_element(Attrs)).

parse_errors_test() ->
    ?assertMatch([_, {xmlstreamerror, {7, <<"mismatched tag">>}}],
                 feed([no_gen_server], infinity, [<<"<s><a></b>">>])),
    ?assertMatch([_, {xmlstreamerror, {11, <<"undefined entity">>}}],
                 feed([no_gen_server], infinity, [<<"<s><a>&nbsp;</a>">>])),
    ?assertMatch([_, {xmlstreamerror, {27, <<"unbound prefix">>}}],
                 feed([no_gen_server], infinity, [<<"<s><p:a/>">>])),
    %% an error is repeated on every later call
    ?assertMatch([_, {xmlstreamerror, _}, {xmlstreamerror, _}],
                 feed([no_gen_server], infinity, [<<"<s><a></b>">>, <<"<c/>">>])).

reset_starts_a_new_stream_test() ->
    S0 = fxml_stream:new(self(), infinity, [no_gen_server]),
    S1 = fxml_stream:parse(S0, <<"<s><a></b>">>),
    S2 = fxml_stream:reset(S1),
    S3 = fxml_stream:parse(S2, <<"<s><ok/>">>),
    true = fxml_stream:close(S3),
    ?assertMatch([{xmlstreamstart, _, _}, {xmlstreamerror, _},
                  {xmlstreamstart, <<"s">>, []}, {xmlstreamelement, #xmlel{name = <<"ok">>}}], events()).

callback_pid_test() ->
    Self = self(),
    Other = spawn_link(fun() -> receive {get, P} -> P ! {got, events()} end end),
    S0 = fxml_stream:new(Self, infinity, [no_gen_server]),
    S1 = fxml_stream:parse(S0, <<"<s>">>),
    S2 = fxml_stream:change_callback_pid(S1, Other),
    S3 = fxml_stream:parse(S2, <<"<a/>">>),
    timer:sleep(20),
    Other ! {get, Self},
    ?assertEqual([{xmlstreamstart, <<"s">>, []}], events_until_got()),
    true = fxml_stream:close(S3).

events_until_got() ->
    receive
        {got, Theirs} ->
            ?assertEqual([{xmlstreamelement, #xmlel{name = <<"a">>}}], Theirs),
            [];
        M -> [M | events_until_got()]
    after 2000 -> error(timeout)
    end.

dead_callback_is_harmless_test() ->
    Pid = spawn(fun() -> ok end),
    timer:sleep(10),
    S = fxml_stream:parse(fxml_stream:new(Pid), <<"<s><a/></s>">>),
    ?assert(fxml_stream:close(S)).

closed_parser_test() ->
    S = fxml_stream:new(self()),
    true = fxml_stream:close(S),
    ?assertError(badarg, fxml_stream:close(S)),
    ?assertError(badarg, fxml_stream:parse(S, <<"<a>">>)),
    ?assertError(badarg, fxml_stream:parse(S, binary:copy(<<"a">>, 200000))),
    ?assertError(badarg, fxml_stream:change_callback_pid(S, self())).

badarg_test() ->
    ?assertError(badarg, fxml_stream:new(not_a_pid)),
    ?assertError(badarg, fxml_stream:new(self(), unlimited)),
    ?assertError(badarg, fxml_stream:new(self(), {1, 2, 3})),
    ?assertError(badarg, fxml_stream:parse(make_ref(), <<"<a>">>)),
    ?assertError(badarg, fxml_stream:parse(fxml_stream:new(self()), "a list")),
    ?assertError(badarg, fxml_stream:parse_element(42)),
    ?assertError(badarg, fxml:element_to_binary({xmlel, <<"a">>, [], not_a_list})),
    ?assertError(badarg, fxml:element_to_binary({xmlel, <<"a">>, [{<<"k">>}], []})),
    %% as fast_xml: attributes that are not a list, and improper tails, are passed over
    ?assertEqual(<<"<a/>">>, fxml:element_to_binary({xmlel, <<"a">>, not_a_list, []})),
    ?assertEqual(<<"<a><b/></a>">>, fxml:element_to_binary({xmlel, <<"a">>, [], [{xmlel, <<"b">>, [], []} | tail]})),
    ?assertError(badarg, fxml:element_to_header({xmlcdata, <<"x">>})).

use_maps_test() ->
    ?assertEqual(#{'__struct__' => 'Elixir.FastXML.El', name => <<"a">>, attrs => #{<<"b">> => <<"1">>},
                   children => [<<"t">>, #{'__struct__' => 'Elixir.FastXML.El', name => <<"c">>, attrs => #{}, children => []}]},
                 fxml_stream:parse_element(<<"<a b='1'>t<c/></a>">>, [use_maps])).

parse_element_test() ->
    ?assertEqual(#xmlel{name = <<"p:a">>, attrs = [{<<"xmlns:p">>, <<"u">>}, {<<"x">>, <<"1">>}],
                        children = [{xmlcdata, <<"\n ">>}, #xmlel{name = <<"b">>}]},
                 fxml_stream:parse_element(<<"<p:a x='1' xmlns:p='u'>\n <b/></p:a>">>)),
    ?assertEqual({error, {9, <<"junk after document element">>}}, fxml_stream:parse_element(<<"<a/><b/>">>)).

large_input_does_not_block_test_() ->
    {timeout, 120,
     fun() ->
             Item = <<"<item jid='a@b' name='n'><group>g</group></item>">>,
             Big = <<"<iq><query xmlns='jabber:iq:roster'>", (binary:copy(Item, 100000))/binary, "</query></iq>">>,
             Cases = [fun() -> #xmlel{} = fxml_stream:parse_element(Big) end,
                      %% a big stanza completed by a small chunk
                      fun() -> S = fxml_stream:new(self(), infinity, [no_gen_server]),
                               S1 = lists:foldl(fun(C, St) -> fxml_stream:parse(St, C) end, S,
                                                [<<"<s>">> | chunks(Big, 1460)]),
                               true = fxml_stream:close(S1) end,
                      fun() -> S = fxml_stream:new(self(), infinity, [no_gen_server]),
                               S = fxml_stream:parse(S, <<"<s>", Big/binary>>),
                               true = fxml_stream:close(S) end,
                      fun() -> _ = fxml:element_to_binary(fxml_stream:parse_element(Big)) end],
             [?assertEqual([], quiet(F)) || F <- Cases]
     end}.

%% Up to 3 attempts (see xmpp_accel_sched_probe:quiet/2).
quiet(F) ->
    xmpp_accel_sched_probe:quiet(fun() -> xmpp_accel_sched_probe:long_schedules(F) end, 3).

chunks(<<>>, _) -> [];
chunks(Bin, N) when byte_size(Bin) =< N -> [Bin];
chunks(Bin, N) -> <<C:N/binary, R/binary>> = Bin, [C | chunks(R, N)].
