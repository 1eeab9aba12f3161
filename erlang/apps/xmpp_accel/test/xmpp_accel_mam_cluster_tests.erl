%%% @doc `xmpp_accel_mam_cluster' on three peer nodes on loopback, in both
%%% modes (`owner' and `replicate'), with the archive in mnesia
%%% `disc_copies' tables on this (the test's) node, which plays the RDBMS
%%% server (`xmpp_accel_mam_cluster_mnesia'):
%%% <ul>
%%%  <li>index on any node, search on any node: the results equal those of
%%%      one `xmpp_accel_mam' index fed the same messages;</li>
%%%  <li>stop a node, go on archiving: after catch-up nothing is missing on
%%%      the others; start it again: after catch-up nothing is missing on
%%%      it either;</li>
%%%  <li>a member that does not answer gives `{error, _}' within the
%%%      timeout; indexing and searching never hold a normal scheduler
%%%      (`xmpp_accel_sched_probe' on a peer).</li>
%%% </ul>
-module(xmpp_accel_mam_cluster_tests).

-include_lib("eunit/include/eunit.hrl").

-export([start_server/1, wait_members/2, probe_run/1]).

%% Rendezvous hashing: every node computes the same owner; when a member
%% leaves, only its archives move, and about evenly.
rendezvous_test() ->
    Nodes = ['a@h', 'b@h', 'c@h'],
    Owners = [{A, xmpp_accel_mam_cluster:owner(A, Nodes)} || A <- lists:seq(1, 3000)],
    ?assertEqual(Owners, [{A, xmpp_accel_mam_cluster:owner(A, lists:reverse(Nodes))} || A <- lists:seq(1, 3000)]),
    [?assert(abs(length([x || {_, O} <- Owners, O =:= N]) - 1000) < 150) || N <- Nodes],
    [?assertEqual(if O =:= 'c@h' -> true; true -> O end,
                  if O =:= 'c@h' -> true; true -> xmpp_accel_mam_cluster:owner(A, ['a@h', 'b@h']) end)
     || {A, O} <- Owners],
    ?assertEqual(undefined, xmpp_accel_mam_cluster:owner(1, [])).

not_started_test() ->
    ?assertEqual({error, not_started}, xmpp_accel_mam_cluster:index([])),
    ?assertEqual({error, not_started}, xmpp_accel_mam_cluster:search(#{archive_id => 1})),
    ?assertEqual({error, not_started}, xmpp_accel_mam_cluster:sync(100)),
    ?assertEqual([], xmpp_accel_mam_cluster:members()),
    ?assertMatch({error, _}, xmpp_accel_mam_cluster:status()),
    %% (without the crash report a refused start logs)
    #{level := Level} = logger:get_primary_config(),
    ok = logger:set_primary_config(level, none),
    try
        ?assertMatch({error, {bad_option, source}},
                     gen_server:start(xmpp_accel_mam_cluster, #{dir => "/tmp/x"}, []))
    after
        logger:set_primary_config(level, Level)
    end.

cluster_test_() ->
    {timeout, 240, fun run/0}.

run() ->
    case start_distribution() of
        {skip, Why} ->
            io:format(standard_error, "~n*** ~s: MAM cluster test skipped ***~n", [Why]);
        ok ->
            Tmp = string:trim(os:cmd("mktemp -d /tmp/xmpp-accel-mamc.XXXXXX")),
            ok = start_mnesia(Tmp),
            try
                lists:foreach(fun(Mode) -> run_mode(Mode, Tmp) end, [owner, replicate])
            after
                _ = mnesia:stop(),
                os:cmd("rm -rf " ++ Tmp),
                stop_distribution()
            end
    end.

%% ---------------------------------------------------------------------------

run_mode(Mode, Tmp) ->
    T0 = erlang:monotonic_time(millisecond),
    ok = xmpp_accel_mam_cluster_mnesia:create_tables(),
    {ok, Ref} = xmpp_accel_mam:open(filename:join(Tmp, atom_to_list(Mode) ++ "-ref"), #{}),
    Names = [list_to_atom(lists:flatten(io_lib:format("mamc_~s_~s_~b", [Mode, os:getpid(), N])))
             || N <- [1, 2, 3]],
    Opts = fun(Name) -> #{mode => Mode, dir => filename:join(Tmp, atom_to_list(Name)),
                          source => {xmpp_accel_mam_cluster_mnesia, node()},
                          %% owner: catch up from the last indexed id exactly;
                          %% replicate: the default window (5 s, all these
                          %% messages), re-read on restart and skipped
                          %% where the index has them
                          catchup_overlap => case Mode of owner -> 0; replicate -> 5000000 bsl 8 end,
                          poll_interval => 300, timeout => 3000, batch => 100, settle_ms => 300}
           end,
    Peers = [start_peer(Name, Opts(Name)) || Name <- Names],
    [{_, N1}, {_, N2}, {P3, N3}] = Peers,
    try
        ok = wait_all([N1, N2, N3], 3),
        %% 1. index on any node, search on any node
        feed(Ref, [N1, N2, N3], msgs(1, 600)),
        ok = erpc:call(N2, xmpp_accel_mam_cluster, sync, [20000]),
        same_as_single(Ref, [N1, N2, N3]),
        %% 2. stop a node and go on archiving: nothing missing on the others
        peer:stop(P3),
        ok = wait_all([N1, N2], 2),
        feed(Ref, [N1, N2], msgs(601, 1000)),
        ok = erpc:call(N1, xmpp_accel_mam_cluster, sync, [20000]),
        same_as_single(Ref, [N1, N2]),
        %% 3. start it again (same index dir): it catches up
        {P3b, N3} = start_peer(lists:nth(3, Names), Opts(lists:nth(3, Names))),
        try
            ok = wait_all([N1, N2, N3], 3),
            feed(Ref, [N3, N1], msgs(1001, 1200)),
            ok = erpc:call(N3, xmpp_accel_mam_cluster, sync, [20000]),
            same_as_single(Ref, [N1, N2, N3]),
            %% 4. a member that does not answer: {error, _} within the timeout
            Srv = erpc:call(N2, erlang, whereis, [xmpp_accel_mam_cluster]),
            ok = erpc:call(N2, sys, suspend, [Srv]),
            {TSync, Res} = timer:tc(fun() -> erpc:call(N1, xmpp_accel_mam_cluster, sync, [500]) end),
            ok = erpc:call(N2, sys, resume, [Srv]),
            ?assertMatch({error, [{N2, _}]}, Res),
            ?assert(TSync < 3000000),
            %% 5. no normal scheduler held (on a member, index + searches)
            More = msgs(1201, 1400),
            ok = xmpp_accel_mam_cluster_mnesia:write(More),
            ok = xmpp_accel_mam:index(Ref, More),
            ?assertEqual([], erpc:call(N1, xmpp_accel_sched_probe, quiet,
                                       [fun() -> xmpp_accel_sched_probe:long_schedules(
                                                   fun() -> probe_run(More) end, [{min_heap_size, 1000000}])
                                        end, 3], 120000)),
            ok = erpc:call(N3, xmpp_accel_mam_cluster, sync, [20000]),
            same_as_single(Ref, [N1, N2, N3])
        after
            [catch erpc:call(N, xmpp_accel_mam_cluster, stop, []) || N <- [N1, N2, N3]],
            peer:stop(P3b)
        end
    after
        [peer:stop(P) || {P, _} <- lists:sublist(Peers, 2)],
        xmpp_accel_mam:close(Ref),
        xmpp_accel_mam_cluster_mnesia:delete_tables()
    end,
    io:format(standard_error, "~nMAM cluster (~s): ~b ms~n", [Mode, erlang:monotonic_time(millisecond) - T0]).

%% Archives messages, then calls index/1 on the nodes in turn (50 a call).
feed(Ref, Nodes, Msgs) ->
    ok = xmpp_accel_mam:index(Ref, Msgs),
    ok = xmpp_accel_mam:commit(Ref),
    Batches = chunks(Msgs, 50),
    lists:foldl(fun(B, [N | Rest]) ->
                        ok = xmpp_accel_mam_cluster_mnesia:write(B),
                        ?assertEqual(ok, erpc:call(N, xmpp_accel_mam_cluster, index, [B])),
                        Rest ++ [N]
                end, Nodes, Batches),
    ok.

%% @private run on a peer under the scheduler probe
probe_run(Msgs) ->
    [ok = xmpp_accel_mam_cluster:index(B) || B <- chunks(Msgs, 50)],
    [{ok, _} = xmpp_accel_mam_cluster:search(Q) || Q <- queries()],
    ok.

same_as_single(Ref, Nodes) ->
    ok = xmpp_accel_mam:commit(Ref),
    Expected = [{Q, xmpp_accel_mam:search(Ref, Q)} || Q <- queries()],
    [?assertEqual({N, Q, E}, {N, Q, erpc:call(N, xmpp_accel_mam_cluster, search, [Q])}) || N <- Nodes, {Q, E} <- Expected],
    ok.

queries() ->
    lists:append([[#{archive_id => A, text => W, max => 1000, count => true} || W <- [<<"tea">>, <<"cake jam">>, <<"scone">>]]
                  ++ [#{archive_id => A, before => last, max => 5, count => true},
                      #{archive_id => A, with => <<"bob@x">>, text => <<"milk">>, max => 1000}]
                  || A <- lists:seq(1, 12)]).

msgs(From, To) ->
    Words = [<<"tea">>, <<"cake">>, <<"jam">>, <<"scone">>, <<"milk">>, <<"lemon">>, <<"sugar">>],
    [#{archive_id => N rem 12 + 1, mam_id => (1700000000000000 + N * 1000) bsl 8,
       remote_jid => case N rem 3 of 0 -> <<"bob@x">>; _ -> <<"carol@x">> end,
       remote_resource => <<"phone">>, is_groupchat => false,
       body => iolist_to_binary(lists:join(<<" ">>, [lists:nth((N * K) rem 7 + 1, Words) || K <- [1, 3, 5]]))}
     || N <- lists:seq(From, To)].

chunks([], _) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) -> {A, B} = lists:split(N, L), [A | chunks(B, N)].

%% ---------------------------------------------------------------------------
%% Nodes
%% ---------------------------------------------------------------------------

start_peer(Name, Opts) ->
    Paths = lists:usort([filename:dirname(code:which(M))
                         || M <- [xmpp_accel_mam_cluster, xmpp_accel_nif, ?MODULE, xmpp_accel_sched_probe]]),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    {ok, Peer, Node} = peer:start_link(#{name => Name, host => Host,
                                         args => lists:append([["-pa", P] || P <- Paths])}),
    ok = erpc:call(Node, ?MODULE, start_server, [Opts]),
    {Peer, Node}.

%% @private runs on a peer: the server, not linked to the erpc process
start_server(Opts) ->
    {ok, Pid} = xmpp_accel_mam_cluster:start_link(Opts),
    unlink(Pid),
    ok.

%% every node sees N members and has settled (sync/1 waits for that)
wait_all(Nodes, N) ->
    lists:foreach(fun(Node) -> ok = erpc:call(Node, ?MODULE, wait_members, [N, 100]) end, Nodes),
    lists:foreach(fun(Node) -> ok = erpc:call(Node, xmpp_accel_mam_cluster, sync, [20000]) end, Nodes).

%% @private every 100 ms, up to `Tries' times
wait_members(N, Tries) ->
    case length(xmpp_accel_mam_cluster:members()) of
        N -> ok;
        _ when Tries =< 0 -> {error, {members, xmpp_accel_mam_cluster:members()}};
        _ -> timer:sleep(100), wait_members(N, Tries - 1)
    end.

start_mnesia(Tmp) ->
    ok = application:set_env(mnesia, dir, filename:join(Tmp, "mnesia")),
    ok = mnesia:create_schema([node()]),
    ok = mnesia:start().

%% Distribution on loopback (epmd on 127.0.0.1, nodes @localhost), as the
%% fan-out test does; stopped afterwards when started here.
start_distribution() ->
    case node() of
        nonode@nohost ->
            case string:find(os:cmd("epmd -names"), "up and running") of
                nomatch ->
                    _ = os:cmd("ERL_EPMD_ADDRESS=127.0.0.1 epmd -daemon"),
                    put(started_epmd, true),
                    timer:sleep(200);
                _ -> ok
            end,
            case net_kernel:start([list_to_atom("mamc_test_" ++ os:getpid() ++ "@localhost"), shortnames]) of
                {ok, _} -> put(started_dist, true), ok;
                {error, Why} -> {skip, io_lib:format("no distribution here (~p)", [Why])}
            end;
        _ -> ok
    end.

stop_distribution() ->
    get(started_dist) =:= true andalso net_kernel:stop(),
    get(started_epmd) =:= true andalso os:cmd("epmd -kill"),
    ok.
