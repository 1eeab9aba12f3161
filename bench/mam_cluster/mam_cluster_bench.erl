%%% @doc `make bench-mam-cluster': the two designs of
%%% `xmpp_accel_mam_cluster' (`owner': rendezvous-hashed owner per archive;
%%% `replicate': every node indexes everything) on three peer nodes on
%%% loopback, with the archive in mnesia `disc_copies' tables on this VM
%%% (`xmpp_accel_mam_cluster_mnesia', standing in for the RDBMS server).
%%% Per design, on the same generated messages:
%%% <ul>
%%%  <li>indexing: the archive is written first (not timed); then one node
%%%      calls `index/1' per batch of 100 and `sync/1' at the end: messages
%%%      per second until every member has indexed and committed them, and
%%%      the CPU seconds all three nodes and the archive VM spent (in
%%%      `replicate' the first wake fetches all that is archived, so its
%%%      per-fifth rates are uneven: read the total);</li>
%%%  <li>search latency from node 1 for archives it does not own (`owner')
%%%      or any (`replicate'; same queries): median, p90, p99;</li>
%%%  <li>memory (VmRSS, `erlang:memory(total)') and index disk per node;</li>
%%%  <li>catch-up after node 3 stops: time until the two others answer for
%%%      every archive again (`sync/1' after they see it go) and a check that
%%%      nothing is missing; then node 3 restarts after more messages were
%%%      archived without it: time until it has caught up.</li>
%%% </ul>
%%% No figure is asserted. The last line is `summary:'.
%%% @end
-module(mam_cluster_bench).

-export([main/1, drive_index/2, drive_search/3, node_stats/1, start_server/1, wait_members/2]).

-define(ARCHIVES, 100).
-define(WORDS, 3000).

main([_Lib]) ->
    bench_lib:main("bench-mam-cluster", fun run/0).

run() ->
    Quick = bench_lib:quick(),
    Total = case os:getenv("BENCH_MESSAGES") of
                false -> case Quick of true -> 6000; false -> 60000 end;
                V -> list_to_integer(V)
            end,
    Queries = case Quick of true -> 200; false -> 1000 end,
    io:format("bench-mam-cluster: ~b messages in ~b archives, ~b searches per design, 3 peer nodes + the archive node; "
              "mam ids 100 us apart (10,000 msgs/s of archive time), catchup_overlap ~b ms~n",
              [Total, ?ARCHIVES, Queries, overlap_ms()]),
    io:format("load before: ~s~n", [string:trim(os:cmd("uptime"))]),
    Tmp = string:trim(os:cmd("mktemp -d /tmp/bench-mam-cluster.XXXXXX")),
    ok = application:set_env(mnesia, dir, filename:join(Tmp, "mnesia")),
    ok = mnesia:create_schema([node()]),
    ok = mnesia:start(),
    try
        Results = [{Mode, run_mode(Mode, Tmp, Total, Queries)} || Mode <- [owner, replicate]],
        io:format("load after: ~s~n", [string:trim(os:cmd("uptime"))]),
        summary(Results)
    after
        _ = mnesia:stop(),
        case os:getenv("BENCH_KEEP") of
            "1" -> io:format("work dir kept: ~s~n", [Tmp]);
            _ -> os:cmd("rm -rf " ++ Tmp)
        end
    end.

run_mode(Mode, Tmp, Total, NQueries) ->
    io:format("~n== design: ~s ==~n", [Mode]),
    ok = xmpp_accel_mam_cluster_mnesia:create_tables(),
    rand:seed(exsss, {7, 8, 9}),
    Names = [list_to_atom(lists:flatten(io_lib:format("mamcb_~s_~s_~b", [Mode, os:getpid(), N]))) || N <- [1, 2, 3]],
    Opts = fun(Name) -> #{mode => Mode, dir => filename:join(Tmp, atom_to_list(Name)),
                          source => {xmpp_accel_mam_cluster_mnesia, node()}, timeout => 30000,
                          poll_interval => 3600000,
                          catchup_overlap => overlap_ms() * 1000 bsl 8}
           end,
    %% the cluster forms on an empty archive; the long poll_interval keeps
    %% `replicate' nodes from indexing the (untimed) archive writes ahead
    %% of the timed part: they fetch when index/1 or sync/1 wakes them
    [{P1, N1}, {P2, N2}, {P3, N3}] = [start_peer(Nm, Opts(Nm)) || Nm <- Names],
    ok = wait_all([N1, N2, N3], 3),
    %% timed indexing: messages archived first (not timed), then index/1
    %% per batch of 100 from node 1 and sync/1 after each fifth
    Msgs2 = messages(Total),
    {WriteUs, _} = timer:tc(fun() -> [ok = xmpp_accel_mam_cluster_mnesia:write(B) || B <- chunks(Msgs2, 500)] end),
    io:format("archive written (mnesia, not part of the figures): ~.1f s~n", [WriteUs / 1.0e6]),
    Cpu0 = [cpu_s(N) || N <- [N1, N2, N3]],
    Db0 = cpu_s(node()),
    Chunks = erpc:call(N1, ?MODULE, drive_index, [chunks(Msgs2, 100), 5], 600000),
    Cpu1 = [cpu_s(N) || N <- [N1, N2, N3]],
    DbCpuS = cpu_s(node()) - Db0,
    Rates = [R || {_, R} <- Chunks],
    {TotalUs, _} = lists:last(Chunks),
    IndexRate = round(Total / (TotalUs / 1.0e6)),
    CpuS = lists:sum(Cpu1) - lists:sum(Cpu0),
    io:format("indexing ~b messages through index/1 + sync/1 on node 1: ~.2f s, ~b msgs/s "
              "(per fifth: median ~b, min ~b, max ~b msgs/s); CPU of the 3 nodes: ~.1f s (~s), of the archive VM: ~.1f s~n",
              [Total, TotalUs / 1.0e6, IndexRate, round(bench_lib:median(Rates)), round(lists:min(Rates)),
               round(lists:max(Rates)), CpuS,
               string:join([io_lib:format("~.1f", [B - A]) || {A, B} <- lists:zip(Cpu0, Cpu1)], "/"), DbCpuS]),
    %% search latency from node 1
    NotMine = [A || A <- lists:seq(1, ?ARCHIVES),
                    Mode =:= replicate orelse xmpp_accel_mam_cluster:owner(A, [N1, N2, N3]) =/= N1],
    Qs = [#{archive_id => lists:nth(rand:uniform(length(NotMine)), NotMine), text => word(rand:uniform(30)),
            max => 50, before => last, count => true} || _ <- lists:seq(1, NQueries)],
    Lat = erpc:call(N1, ?MODULE, drive_search, [Qs, 3, 30000], 600000),
    {P50, P90, P99} = pcts(Lat),
    io:format("search from node 1 (archives it does not own: ~b of ~b): median ~b us, p90 ~b us, p99 ~b us~n",
              [length(NotMine), ?ARCHIVES, P50, P90, P99]),
    %% memory and disk per node
    Stats = [node_stats(N) || N <- [N1, N2, N3]],
    [io:format("node ~b: VmRSS ~.1f MB, erlang:memory(total) ~.1f MB, index on disk ~.1f MB~n",
               [I, Rss / 1.0e6, Mem / 1.0e6, Disk / 1.0e6])
     || {I, #{rss := Rss, erlang := Mem, disk := Disk}} <- lists:zip([1, 2, 3], Stats)],
    DiskMax = lists:max([D || #{disk := D} <- Stats]),
    RssMax = lists:max([R || #{rss := R} <- Stats]),
    %% catch-up after node 3 stops
    T0 = erlang:monotonic_time(microsecond),
    peer:stop(P3),
    ok = wait_all([N1, N2], 2),
    CatchUpMs = (erlang:monotonic_time(microsecond) - T0) / 1000,
    Missing = missing([N1, N2]),
    io:format("node 3 stopped: the others answer for every archive after ~.1f ms; messages missing: ~b~n",
              [CatchUpMs, Missing]),
    %% node 3 restarts after 10 % more messages were archived and indexed
    Msgs3 = messages2(Total, Total div 10),
    [begin ok = xmpp_accel_mam_cluster_mnesia:write(B),
           ok = erpc:call(N1, xmpp_accel_mam_cluster, index, [B], 30000) end || B <- chunks(Msgs3, 100)],
    T1 = erlang:monotonic_time(microsecond),
    {P3b, N3} = start_peer(lists:nth(3, Names), Opts(lists:nth(3, Names))),
    T2 = erlang:monotonic_time(microsecond),
    ok = erpc:call(N3, ?MODULE, wait_members, [3, 300]),
    ok = erpc:call(N3, xmpp_accel_mam_cluster, sync, [600000], 610000),
    RejoinMs = (erlang:monotonic_time(microsecond) - T1) / 1000,
    ok = wait_all([N1, N2, N3], 3),
    Missing3 = missing([N1, N2, N3]),
    io:format("node 3 restarted (~b messages archived meanwhile): start + catch-up ~.1f ms "
              "(VM and server start ~.1f ms, then members, settling and catch-up ~.1f ms); messages missing: ~b~n",
              [Total div 10, RejoinMs, (T2 - T1) / 1000, RejoinMs - (T2 - T1) / 1000, Missing3]),
    [catch erpc:call(N, xmpp_accel_mam_cluster, stop, [], 60000) || N <- [N1, N2, N3]],
    [peer:stop(P) || P <- [P1, P2, P3b]],
    xmpp_accel_mam_cluster_mnesia:delete_tables(),
    #{index_rate => IndexRate, cpu_s => CpuS, db_cpu_s => DbCpuS, p50 => P50, p99 => P99, disk_mb => DiskMax / 1.0e6,
      rss_mb => RssMax / 1.0e6, catchup_ms => CatchUpMs, rejoin_ms => RejoinMs,
      missing => Missing + Missing3}.

%% BENCH_OVERLAP_MS: catchup_overlap in ms of mam ids (default 5000, the
%% module's default)
overlap_ms() ->
    case os:getenv("BENCH_OVERLAP_MS") of
        false -> 5000;
        V -> list_to_integer(V)
    end.

summary(Results) ->
    #{owner := O, replicate := R} = maps:from_list(Results),
    io:format("~nsummary: owner_index_msgs_per_s=~b replicate_index_msgs_per_s=~b owner_index_cpu_s=~.1f "
              "replicate_index_cpu_s=~.1f owner_archive_cpu_s=~.1f replicate_archive_cpu_s=~.1f owner_search_p50_us=~b replicate_search_p50_us=~b owner_search_p99_us=~b "
              "replicate_search_p99_us=~b owner_disk_mb_max=~.1f replicate_disk_mb_max=~.1f owner_rss_mb_max=~.1f "
              "replicate_rss_mb_max=~.1f owner_catchup_ms=~b replicate_catchup_ms=~b owner_rejoin_ms=~b "
              "replicate_rejoin_ms=~b missing=~b~n",
              [maps:get(index_rate, O), maps:get(index_rate, R), maps:get(cpu_s, O), maps:get(cpu_s, R),
               maps:get(db_cpu_s, O), maps:get(db_cpu_s, R),
               maps:get(p50, O), maps:get(p50, R), maps:get(p99, O), maps:get(p99, R),
               maps:get(disk_mb, O), maps:get(disk_mb, R), maps:get(rss_mb, O), maps:get(rss_mb, R),
               round(maps:get(catchup_ms, O)), round(maps:get(catchup_ms, R)), round(maps:get(rejoin_ms, O)),
               round(maps:get(rejoin_ms, R)),
               maps:get(missing, O) + maps:get(missing, R)]).

%% Messages missing from what the nodes answer: for every archive, the
%% count a search without text gives (on each node) against the archive.
missing(Nodes) ->
    lists:sum([begin
                   {ok, Ids} = xmpp_accel_mam_cluster_mnesia:local_fetch_after(A, 0, 1000000),
                   Want = length(Ids),
                   lists:sum([case erpc:call(N, xmpp_accel_mam_cluster, search, [#{archive_id => A, max => 0, count => true}], 30000) of
                                  {ok, #{count := C}} -> max(0, Want - C);
                                  _ -> Want
                              end || N <- Nodes])
               end || A <- lists:seq(1, ?ARCHIVES)]).

%% @private on node 1: index/1 per batch, then sync/1; [{ElapsedUs, Rate}]
%% at each fifth (cumulative elapsed time, the fifth's own rate).
drive_index(Batches, Parts) ->
    Per = max(1, length(Batches) div Parts),
    T0 = erlang:monotonic_time(microsecond),
    drive(chunks(Batches, Per), T0, T0, []).

drive([], _, _, Acc) -> lists:reverse(Acc);
drive([Part | Rest], T0, TPrev, Acc) ->
    [ok = xmpp_accel_mam_cluster:index(B, 30000) || B <- Part],
    ok = xmpp_accel_mam_cluster:sync(600000),
    T = erlang:monotonic_time(microsecond),
    N = lists:sum([length(B) || B <- Part]),
    drive(Rest, T0, T, [{T - T0, N / ((T - TPrev) / 1.0e6)} | Acc]).

%% @private on node 1: each query `Rounds' times; latencies in us
drive_search(Qs, Rounds, Timeout) ->
    [{ok, _} = xmpp_accel_mam_cluster:search(Q, Timeout) || Q <- lists:sublist(Qs, 20)],
    lists:append([[begin
                       T = erlang:monotonic_time(microsecond),
                       {ok, _} = xmpp_accel_mam_cluster:search(Q, Timeout),
                       erlang:monotonic_time(microsecond) - T
                   end || Q <- Qs] || _ <- lists:seq(1, Rounds)]).

%% @private
node_stats(Node) ->
    OsPid = erpc:call(Node, os, getpid, []),
    #{dir := Dir} = erpc:call(Node, xmpp_accel_mam_cluster, status, []),
    Rss = case file:read_file("/proc/" ++ OsPid ++ "/status") of
              {ok, S} ->
                  [Kb] = [binary_to_integer(hd(string:lexemes(V, " \t")))
                          || <<"VmRSS:", V/binary>> <- binary:split(S, <<"\n">>, [global])],
                  Kb * 1024;
              _ -> 0
          end,
    Disk = list_to_integer(hd(string:lexemes(os:cmd("du -sb " ++ Dir), " \t"))),
    #{rss => Rss, erlang => erpc:call(Node, erlang, memory, [total]), disk => Disk}.

cpu_s(Node) ->
    OsPid = erpc:call(Node, os, getpid, []),
    %% utime + stime of the whole OS process (all its threads), in seconds
    {ok, S} = file:read_file("/proc/" ++ OsPid ++ "/stat"),
    [_, After] = binary:split(S, <<") ">>),
    Fields = string:lexemes(After, " "),
    (binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields))) / 100.

pcts(L) ->
    S = lists:sort(L),
    N = length(S),
    At = fun(P) -> lists:nth(max(1, min(N, round(P * N))), S) end,
    {At(0.5), At(0.9), At(0.99)}.

%% ---------------------------------------------------------------------------
%% Data: ~12 words a body from a Zipf-like vocabulary of 3,000 words
%% ---------------------------------------------------------------------------

messages(N) -> messages2(0, N).

messages2(From, N) ->
    [#{archive_id => I rem ?ARCHIVES + 1, mam_id => (1700000000000000 + I * 100) bsl 8,
       remote_jid => <<"contact", (integer_to_binary(I rem 7))/binary, "@example.com">>,
       remote_resource => <<"phone">>, is_groupchat => false,
       body => iolist_to_binary(lists:join(<<" ">>, [word(zipf()) || _ <- lists:seq(1, 8 + rand:uniform(8))]))}
     || I <- lists:seq(From + 1, From + N)].

zipf() -> min(?WORDS, trunc(math:pow(?WORDS, rand:uniform())) ).

word(K) -> <<"w", (integer_to_binary(K))/binary>>.

chunks([], _) -> [];
chunks(L, N) when length(L) =< N -> [L];
chunks(L, N) -> {A, B} = lists:split(N, L), [A | chunks(B, N)].

%% ---------------------------------------------------------------------------
%% Nodes
%% ---------------------------------------------------------------------------

start_peer(Name, Opts) ->
    Paths = lists:usort([filename:dirname(code:which(M)) || M <- [xmpp_accel_mam_cluster, ?MODULE]]),
    [_, Host] = string:split(atom_to_list(node()), "@"),
    {ok, Peer, Node} = peer:start_link(#{name => Name, host => Host,
                                         args => lists:append([["-pa", P] || P <- Paths])}),
    ok = erpc:call(Node, ?MODULE, start_server, [Opts]),
    {Peer, Node}.

%% @private
start_server(Opts) ->
    {ok, Pid} = xmpp_accel_mam_cluster:start_link(Opts),
    unlink(Pid),
    ok.

wait_all(Nodes, N) ->
    lists:foreach(fun(Node) -> ok = erpc:call(Node, ?MODULE, wait_members, [N, 300]) end, Nodes),
    lists:foreach(fun(Node) -> ok = erpc:call(Node, xmpp_accel_mam_cluster, sync, [600000], 610000) end, Nodes).

%% @private
wait_members(N, Tries) ->
    case length(xmpp_accel_mam_cluster:members()) of
        N -> ok;
        _ when Tries =< 0 -> {error, {members, xmpp_accel_mam_cluster:members()}};
        _ -> timer:sleep(100), wait_members(N, Tries - 1)
    end.
