%%% @doc An archive source for `xmpp_accel_mam_cluster' over mnesia
%%% `disc_copies' tables on one node (the "database node"), which the
%%% cluster's nodes query over Erlang distribution as they would query an
%%% RDBMS server. The tests and `bench/mam_cluster' use it; it also shows
%%% what an RDBMS source (e.g. over MongooseIM's `mam_message' table) does:
%%% <ul>
%%%  <li>`xmpp_accel_mam_cluster_msg': one row per message, key the mam id
%%%      (the primary key: `fetch_after(all, ...)' reads it in order);</li>
%%%  <li>`xmpp_accel_mam_cluster_arc': key `{ArchiveId, MamId}' (the
%%%      `(user_id, id)' index: `fetch_after(ArchiveId, ...)');</li>
%%%  <li>`xmpp_accel_mam_cluster_archive': one row per archive id.</li>
%%% </ul>
%%% The source's argument (`{xmpp_accel_mam_cluster_mnesia, DbNode}') is
%%% the database node; every query is an `erpc:call/5' with a 5 s timeout,
%%% so a dead database node gives `{error, Reason}'.
%%% @end
-module(xmpp_accel_mam_cluster_mnesia).

-behaviour(xmpp_accel_mam_cluster).

-export([create_tables/0, write/1, delete_tables/0]).
-export([fetch_after/4, archives/1]).
-export([local_fetch_after/3, local_archives/0]).

-define(MSG, xmpp_accel_mam_cluster_msg).
-define(ARC, xmpp_accel_mam_cluster_arc).
-define(ARCHIVE, xmpp_accel_mam_cluster_archive).
-define(TIMEOUT, 5000).

%% @doc Creates the three tables as `disc_copies' on this node (mnesia must
%% run here with a disc schema). `ok' or `{error, Reason}'.
-spec create_tables() -> ok | {error, term()}.
create_tables() ->
    Specs = [{?MSG, ordered_set}, {?ARC, ordered_set}, {?ARCHIVE, set}],
    Results = [mnesia:create_table(T, [{type, Type}, {disc_copies, [node()]}, {attributes, [key, value]},
                                       {record_name, T}])
               || {T, Type} <- Specs],
    case [R || R <- Results, R =/= {atomic, ok}] of
        [] -> mnesia:wait_for_tables([T || {T, _} <- Specs], 30000);
        [E | _] -> {error, E}
    end.

%% @doc Deletes the three tables.
-spec delete_tables() -> ok.
delete_tables() ->
    _ = [mnesia:delete_table(T) || T <- [?MSG, ?ARC, ?ARCHIVE]],
    ok.

%% @doc Archives messages (`xmpp_accel_mam:message()' maps) in one
%% transaction on this node: what the MAM module does before it calls
%% `xmpp_accel_mam_cluster:index/1'.
-spec write([xmpp_accel_mam:message()]) -> ok | {error, term()}.
write(Msgs) ->
    F = fun() ->
                lists:foreach(fun(#{archive_id := A, mam_id := Id} = M) ->
                                      ok = mnesia:write({?MSG, Id, M}),
                                      ok = mnesia:write({?ARC, {A, Id}, true}),
                                      ok = mnesia:write({?ARCHIVE, A, true})
                              end, Msgs)
        end,
    case mnesia:transaction(F) of
        {atomic, ok} -> ok;
        {aborted, Why} -> {error, Why}
    end.

%% @doc The callback: up to `Max' messages after `After', ascending.
fetch_after(DbNode, Archive, After, Max) ->
    remote(DbNode, local_fetch_after, [Archive, After, Max]).

%% @doc The callback: every archive id.
archives(DbNode) ->
    remote(DbNode, local_archives, []).

remote(DbNode, F, Args) ->
    try erpc:call(DbNode, ?MODULE, F, Args, ?TIMEOUT)
    catch error:{erpc, Reason} -> {error, {Reason, DbNode}};
          Class:Reason -> {error, {Class, Reason}}
    end.

%% @private
local_fetch_after(all, After, Max) ->
    {ok, msgs_after(mnesia:dirty_next(?MSG, After), Max, [])};
local_fetch_after(Archive, After, Max) ->
    Ids = ids_after(Archive, mnesia:dirty_next(?ARC, {Archive, After}), Max, []),
    {ok, [M || Id <- Ids, {_, _, M} <- mnesia:dirty_read(?MSG, Id)]}.

%% @private
local_archives() ->
    {ok, mnesia:dirty_all_keys(?ARCHIVE)}.

msgs_after('$end_of_table', _, Acc) -> lists:reverse(Acc);
msgs_after(_, 0, Acc) -> lists:reverse(Acc);
msgs_after(Id, N, Acc) ->
    case mnesia:dirty_read(?MSG, Id) of
        [{_, _, M}] -> msgs_after(mnesia:dirty_next(?MSG, Id), N - 1, [M | Acc]);
        [] -> msgs_after(mnesia:dirty_next(?MSG, Id), N, Acc)
    end.

ids_after(_, _, 0, Acc) -> lists:reverse(Acc);
ids_after(Archive, {Archive, Id} = K, N, Acc) -> ids_after(Archive, mnesia:dirty_next(?ARC, K), N - 1, [Id | Acc]);
ids_after(_, _, _, Acc) -> lists:reverse(Acc).
