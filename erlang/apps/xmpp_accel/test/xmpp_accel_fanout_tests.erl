%%% @doc MUC Light fan-out through the real NIF: byte identity with
%%% exml:to_binary/1, delivery to local processes and to another node,
%%% member lists of 0, 1 and 100,000, dead pids, bad arguments, and no
%%% scheduler blocked by a large room.
-module(xmpp_accel_fanout_tests).

-include_lib("eunit/include/eunit.hrl").

-define(ROOM_MSG, {xmlel, <<"message">>,
                   #{<<"from">> => <<"room@muclight.example.com/alice@example.com">>,
                     <<"id">> => <<"msg-1">>, <<"type">> => <<"groupchat">>},
                   [{xmlel, <<"body">>, #{}, [{xmlcdata, <<"Hi all & <welcome> 'ż'"/utf8>>, escaped}]},
                    {xmlel, <<"stanza-id">>, #{<<"xmlns">> => <<"urn:xmpp:sid:0">>, <<"id">> => <<"5F2A">>,
                                               <<"by">> => <<"room@muclight.example.com">>}, []}]}).

%% JIDs that need quoting and escaping, and plain ones
jids() ->
    [<<"bob@example.com">>, <<"o'hara@example.com">>, <<"a&b@example.com">>,
     <<"q\"u@example.com">>, <<"żółw@example.com"/utf8>>, <<"x<y@example.com">>, <<"z@example.com">>].

with_to(El, Jid) ->
    setelement(3, El, (element(3, El))#{<<"to">> => Jid}).

render_matches_exml_test() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    Rendered = xmpp_accel_fanout:render(T, jids()),
    ?assertEqual([exml:to_binary(with_to(?ROOM_MSG, J)) || J <- jids()], Rendered).

render_matches_exml_on_corpus_test() ->
    %% every corpus stanza (parsed by exml), as a template, for every JID
    Els = [El || S <- exml_test_corpus:stanzas(), {ok, El} <- [exml:parse(S)], map_size(element(3, El)) =< 32],
    ?assert(length(Els) > 3),
    lists:foreach(
      fun(El) ->
              T = xmpp_accel_fanout:template(El),
              ?assertEqual([exml:to_binary(with_to(El, J)) || J <- jids()], xmpp_accel_fanout:render(T, jids()))
      end, Els).

existing_to_is_replaced_test() ->
    El = with_to(?ROOM_MSG, <<"old@example.com">>),
    [B] = xmpp_accel_fanout:render(xmpp_accel_fanout:template(El), [<<"new@example.com">>]),
    ?assertEqual(exml:to_binary(with_to(El, <<"new@example.com">>)), B).

recipient_marker_test() ->
    Marker = <<"RECIPIENT">>,
    El = {xmlel, <<"message">>, #{<<"from">> => <<"r@muc">>},
          [{xmlel, <<"x">>, #{<<"xmlns">> => <<"urn:xmpp:muclight:0#affiliations">>},
            [{xmlel, <<"user">>, #{<<"affiliation">> => <<"none">>}, [{xmlcdata, Marker, escaped}]}]}]},
    [B] = xmpp_accel_fanout:render(xmpp_accel_fanout:template(El, Marker), [<<"a&b@x">>]),
    Expected = {xmlel, <<"message">>, #{<<"from">> => <<"r@muc">>, <<"to">> => <<"a&b@x">>},
                [{xmlel, <<"x">>, #{<<"xmlns">> => <<"urn:xmpp:muclight:0#affiliations">>},
                  [{xmlel, <<"user">>, #{<<"affiliation">> => <<"none">>}, [{xmlcdata, <<"a&b@x">>, escaped}]}]}]},
    ?assertEqual(exml:to_binary(Expected), B).

local_delivery_test() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    Ref = make_ref(),
    Self = self(),
    Pids = [spawn_link(fun() -> receive M -> Self ! {got, self(), M} end end) || _ <- jids()],
    Members = lists:zip(Pids, jids()),
    ?assertEqual({ok, length(Pids), []}, xmpp_accel_fanout:send(T, Members, {route_prerendered, Ref, '$stanza', '$to'})),
    Got = [receive {got, P, M} -> M after 5000 -> timeout end || P <- Pids],
    ?assertEqual([{route_prerendered, Ref, exml:to_binary(with_to(?ROOM_MSG, J)), J} || J <- jids()], Got).

async_delivery_test() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    Self = self(),
    N = 5000,
    Receiver = spawn_link(fun() -> collect_ordered(N, Self, []) end),
    Members = [{Receiver, <<"u", (integer_to_binary(I))/binary, "@x">>} || I <- lists:seq(1, N)],
    {ok, Ref, []} = xmpp_accel_fanout:send_async(T, Members, {r, '$to', '$stanza'}),
    receive {xmpp_accel_fanout_done, Ref, Sent} -> ?assertEqual(N, Sent) after 30000 -> error(timeout) end,
    receive {collected, Got} ->
            ?assertEqual([J || {_, J} <- Members], [J || {J, _} <- Got]),
            ?assertEqual(exml:to_binary(with_to(?ROOM_MSG, <<"u1@x">>)), element(2, hd(Got)))
    after 30000 -> error(timeout)
    end.

collect_ordered(0, Parent, Acc) -> Parent ! {collected, lists:reverse(Acc)};
collect_ordered(N, Parent, Acc) ->
    receive {r, J, B} -> collect_ordered(N - 1, Parent, [{J, B} | Acc]) end.

bare_stanza_and_dead_pids_test() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    Dead = spawn(fun() -> ok end),
    timer:sleep(20),
    ?assertEqual({ok, 1, []}, xmpp_accel_fanout:send(T, [{Dead, <<"d@x">>}, {self(), <<"me@x">>}], '$stanza')),
    receive B -> ?assertEqual(exml:to_binary(with_to(?ROOM_MSG, <<"me@x">>)), B) after 2000 -> error(timeout) end.

member_lists_test_() ->
    {timeout, 120,
     fun() ->
             T = xmpp_accel_fanout:template(?ROOM_MSG),
             ?assertEqual({ok, 0, []}, xmpp_accel_fanout:send(T, [], '$stanza')),
             ?assertEqual([], xmpp_accel_fanout:render(T, [])),
             ?assertEqual([exml:to_binary(with_to(?ROOM_MSG, <<"a@b">>))], xmpp_accel_fanout:render(T, [<<"a@b">>])),
             %% 100,000 members: one receiver process counts what arrives
             N = 100000,
             Self = self(),
             Counter = spawn_link(fun() -> count(N, Self) end),
             Members = [{Counter, <<"user", (integer_to_binary(I))/binary, "@example.com">>} || I <- lists:seq(1, N)],
             ?assertEqual({ok, N, []}, xmpp_accel_fanout:send(T, Members, {m, '$to', '$stanza'})),
             receive {counted, Bytes} -> ?assert(Bytes > N * 100) after 60000 -> error(timeout) end,
             ?assertEqual(N, length(xmpp_accel_fanout:render(T, [J || {_, J} <- Members])))
     end}.

count(0, Parent) -> Parent ! {counted, get_bytes()};
count(N, Parent) ->
    receive {m, Jid, Bin} when is_binary(Jid) ->
            put(bytes, get_bytes() + byte_size(Bin)),
            count(N - 1, Parent)
    end.

get_bytes() -> case get(bytes) of undefined -> 0; B -> B end.

remote_members_are_grouped_per_node_test_() ->
    {timeout, 60,
     fun() ->
             case start_peer() of
                 {skip, Why} -> io:format(standard_error, "~n*** ~s: remote delivery test skipped ***~n", [Why]);
                 {ok, Peer, Node} ->
                     try
                         T = xmpp_accel_fanout:template(?ROOM_MSG),
                         RemotePid = erpc:call(Node, erlang, spawn, [timer, sleep, [60000]]),
                         {ok, 1, Remote} = xmpp_accel_fanout:send(T, [{RemotePid, <<"far@x">>}, {self(), <<"near@x">>}], '$stanza'),
                         ?assertEqual([{Node, [{RemotePid, exml:to_binary(with_to(?ROOM_MSG, <<"far@x">>))}]}], Remote),
                         receive _ -> ok after 2000 -> error(no_local_message) end
                     after
                         peer:stop(Peer),
                         net_kernel:stop(),
                         get(started_epmd) =:= true andalso os:cmd("epmd -kill")
                     end
             end
     end}.

start_peer() ->
    case node() of
        nonode@nohost ->
            %% distribution needs epmd: start one on loopback only, if none
            %% runs (and stop it afterwards)
            case string:find(os:cmd("epmd -names"), "up and running") of
                nomatch ->
                    _ = os:cmd("ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon"),
                    put(started_epmd, true),
                    timer:sleep(200);
                _ -> ok
            end,
            case net_kernel:start([list_to_atom("fanout_test_" ++ os:getpid()), shortnames]) of
                {ok, _} -> start_peer();
                {error, Why} -> {skip, io_lib:format("no distribution here (~p)", [Why])}
            end;
        _ ->
            case peer:start_link(#{name => peer:random_name(fanout_peer)}) of
                {ok, Peer, Node} -> {ok, Peer, Node};
                Other -> {skip, io_lib:format("no peer node (~p)", [Other])}
            end
    end.

badarg_test() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    ?assertError(badarg, xmpp_accel_fanout:template({xmlel, <<"a">>, not_a_map, []})),
    ?assertError(badarg, xmpp_accel_fanout:template(not_an_element)),
    ?assertError(badarg, xmpp_accel_fanout:render(T, [not_a_binary])),
    ?assertError(badarg, xmpp_accel_fanout:render(T, not_a_list)),
    ?assertError(badarg, xmpp_accel_fanout:send(T, [{not_a_pid, <<"a@b">>}], '$stanza')),
    ?assertError(badarg, xmpp_accel_fanout:send(T, [{self(), not_a_binary}], '$stanza')),
    ?assertError(badarg, xmpp_accel_fanout:render(make_ref(), [<<"a@b">>])).

notifications_test() ->
    Attrs = #{<<"from">> => <<"room@muclight.x">>, <<"id">> => <<"n1">>, <<"type">> => <<"groupchat">>},
    #{staying := Staying, leaving := Leaving, newcomers := #{member := Member}} =
        xmpp_accel_fanout:affiliation_change(Attrs, {<<"v1">>, <<"v2">>},
                                             [{<<"new@x">>, member}, {<<"gone@x">>, none}], [member]),
    [S] = xmpp_accel_fanout:render(Staying, [<<"stay@x">>]),
    ?assertEqual(<<"<message from='room@muclight.x' id='n1' to='stay@x' type='groupchat'>"
                   "<x xmlns='urn:xmpp:muclight:0#affiliations'><prev-version>v1</prev-version><version>v2</version>"
                   "<user affiliation='member'>new@x</user><user affiliation='none'>gone@x</user></x><body/></message>">>, S),
    [L] = xmpp_accel_fanout:render(Leaving, [<<"gone@x">>]),
    ?assertEqual(<<"<message from='room@muclight.x' id='n1' to='gone@x' type='groupchat'>"
                   "<x xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='none'>gone@x</user></x><body/></message>">>, L),
    [M] = xmpp_accel_fanout:render(Member, [<<"new@x">>]),
    ?assertEqual(<<"<message from='room@muclight.x' id='n1' to='new@x' type='groupchat'>"
                   "<x xmlns='urn:xmpp:muclight:0#affiliations'><version>v2</version><user affiliation='member'>new@x</user></x><body/></message>">>, M),
    ?assertEqual(#{staying => [<<"a@x">>], newcomers => [{<<"c@x">>, member}], leaving => [<<"b@x">>]},
                 xmpp_accel_fanout:classify_affiliations([{<<"a@x">>, owner}, {<<"b@x">>, member}],
                                                         [{<<"a@x">>, owner}, {<<"c@x">>, member}])),
    [D] = xmpp_accel_fanout:render(xmpp_accel_fanout:destroy(Attrs), [<<"m@x">>]),
    ?assertEqual(<<"<message from='room@muclight.x' id='n1' to='m@x' type='groupchat'>"
                   "<x xmlns='urn:xmpp:muclight:0#destroy'/><x xmlns='urn:xmpp:muclight:0#affiliations'>"
                   "<user affiliation='none'>m@x</user></x><body/></message>">>, D),
    [C] = xmpp_accel_fanout:render(xmpp_accel_fanout:config_change(Attrs, <<"v1">>, <<"v2">>, [{<<"roomname">>, <<"Tea & cake">>}]), [<<"m@x">>]),
    ?assertEqual(<<"<message from='room@muclight.x' id='n1' to='m@x' type='groupchat'>"
                   "<x xmlns='urn:xmpp:muclight:0#configuration'><prev-version>v1</prev-version><version>v2</version>"
                   "<roomname>Tea &amp; cake</roomname></x><body/></message>">>, C).

large_room_does_not_block_test_() ->
    {timeout, 300, fun() -> ?assertEqual([], xmpp_accel_sched_probe:quiet(fun large_room_run/0, 3)) end}.

large_room_run() ->
    T = xmpp_accel_fanout:template(?ROOM_MSG),
    Sink = spawn_link(fun Loop() -> receive _ -> Loop() end end),
    Members = [{Sink, <<"u", (integer_to_binary(I))/binary, "@example.com">>} || I <- lists:seq(1, 100000)],
    Jids = [J || {_, J} <- Members],
    %% a heap large enough that no garbage collection (a VM pause, not a
    %% NIF's) lands inside the measured calls
    Reports = xmpp_accel_sched_probe:long_schedules(
                fun() ->
                        {ok, 100000, []} = xmpp_accel_fanout:send(T, Members, '$stanza'),
                        _ = xmpp_accel_fanout:render(T, Jids)
                end, [{min_heap_size, 20000000}]),
    unlink(Sink),
    exit(Sink, kill),
    Reports.
