%%% @doc The MAM full-text index (`xmpp_accel_mam') in a BEAM cluster: any
%%% node can index and search any archive, over Erlang distribution. The
%%% archive (MongooseIM's or ejabberd's RDBMS tables) stays the system of
%%% record; every index here is a derived copy, rebuilt from it through a
%%% source module (this module's behaviour, see below).
%%%
%%% One `gen_server' per node, registered as `xmpp_accel_mam_cluster'. Its
%%% peers are the nodes of the Erlang cluster that run one too (they find
%%% each other on `nodeup' through `net_kernel:monitor_nodes/1' and watch
%%% each other with monitors). Two modes (`mode' option), both measured by
%%% `bench/mam_cluster' (see README.md, "The MAM index in a BEAM cluster"):
%%% <ul>
%%%  <li>`replicate' (the default, the one chosen): every node indexes every
%%%      archive, fed from the archive in mam id order (`fetch_after(all,
%%%      ...)'), woken by `index/1' on any node and by a poll every
%%%      `poll_interval' ms. A search is answered by the local index, so it
%%%      works whatever node is down. A node that restarts catches up from
%%%      its cursor (kept in `Dir ++ ".cursor"').</li>
%%%  <li>`owner': each archive's index lives on one node, chosen by
%%%      rendezvous (highest random weight) hashing of the archive id over
%%%      the live members; `index/1' and `search/1' are routed there. When
%%%      the members change, a node catches up every archive it newly owns
%%%      from the archive (`fetch_after(ArchiveId, ...)' from its last
%%%      indexed id); a search of an archive whose catch-up is under way
%%%      waits for it (up to the timeout).</li>
%%% </ul>
%%% Both re-fetch a window of `catchup_overlap' mam ids before their last
%%% indexed id (messages that several nodes archive are not committed in
%%% strict id order); feeding a message again replaces it, and a restarting
%%% `replicate' node skips those of the window its index already has.
%%%
%%% Starting it. The options are a map: `dir' (required: the index's
%%% directory on this node), `source' (required: `{Module, Arg}', a module
%%% implementing the callbacks below and its argument), `mode', `index_opts'
%%% (given to `xmpp_accel_mam:open/2', default `#{}'), `timeout' (ms for a
%%% remote call, default 5000), `batch' (messages per fetch, default 1000),
%%% `poll_interval' (ms, default 1000), `catchup_overlap' (mam id units,
%%% default 5 s worth: `5000000 bsl 8'), `settle_ms' (`owner' mode: how
%%% long a starting node listens for the other members before it takes
%%% ownership of anything and accepts messages, default 1000),
%%% `sweep_window' (`replicate' mode, mam id units, default 2 s worth:
%%% `2000000 bsl 8'; every `poll_interval' and on `sync/1' a node reads the
%%% archive again from that far behind its cursor, for messages committed
%%% out of id order (several writers), and indexes those it has not seen). Every node of the cluster must use
%%% the same `mode'.
%%% <ul>
%%%  <li>MongooseIM: from your MAM backend module's `start/2',
%%%      `ejabberd_sup:start_child(xmpp_accel_mam_cluster:child_spec(Opts))';
%%%      `stop/1' calls `ejabberd_sup:stop_child(xmpp_accel_mam_cluster)'.</li>
%%%  <li>ejabberd: `supervisor:start_child(ejabberd_gen_mod_sup,
%%%      xmpp_accel_mam_cluster:child_spec(Opts))' from the module's
%%%      `start/2'.</li>
%%%  <li>elsewhere: `xmpp_accel_mam_cluster:start_link(Opts)' under any
%%%      supervisor.</li>
%%% </ul>
%%% After archiving a message in the RDBMS, call `index/1' (on any node);
%%% a MAM query with full text calls `search/1' (on any node) and fetches
%%% the page's rows from the archive.
%%%
%%% Nothing here blocks a scheduler: NIF work runs on dirty schedulers,
%%% fetches and catch-up run in a worker process, and every call across
%%% nodes has a timeout and returns `{error, Reason}' when the other node is
%%% down, partitioned or slow.
%%% @end
-module(xmpp_accel_mam_cluster).

-behaviour(gen_server).

-export([start_link/1, child_spec/1, stop/0, index/1, index/2, delete/1, delete/2, search/1, search/2,
         last_indexed_id/1, last_indexed_id/2, sync/1, members/0, owner/1, owner/2, status/0]).
-export([local_index/1, local_search/2, local_delete/1, local_last_indexed_id/1, local_sync/1,
         local_catch_up/1]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2]).

-export_type([options/0, archive_id/0]).

-type archive_id() :: non_neg_integer().
-type options() :: #{dir := file:name_all(), source := {module(), term()}, mode => replicate | owner,
                     index_opts => map(), timeout => pos_integer(), batch => pos_integer(),
                     poll_interval => pos_integer(), catchup_overlap => non_neg_integer()}.

%% The archive source (the system of record), e.g. MongooseIM's RDBMS
%% archive: `SELECT ... FROM mam_message WHERE id > After [AND user_id =
%% ArchiveId] ORDER BY id LIMIT Max'. `Arg' is the second element of the
%% `source' option. Messages are `xmpp_accel_mam:message()' maps, in
%% ascending mam id order, at most `Max'.
-callback fetch_after(Arg :: term(), ArchiveId :: archive_id() | all, AfterMamId :: non_neg_integer(),
                      Max :: pos_integer()) ->
    {ok, [xmpp_accel_mam:message()]} | {error, term()}.
%% Every archive id of the archive (`SELECT DISTINCT user_id ...', or a
%% table of archives). Used by `owner' mode when the members change.
-callback archives(Arg :: term()) -> {ok, [archive_id()]} | {error, term()}.

-define(SERVER, ?MODULE).
-define(TAB, xmpp_accel_mam_cluster_tab).
-define(DEFAULT_TIMEOUT, 5000).

%% ---------------------------------------------------------------------------
%% API
%% ---------------------------------------------------------------------------

%% @doc Starts this node's server (see the module doc for `Opts'). Errors:
%% `{error, {already_started, Pid}}', `{error, Reason}' from opening the
%% index (`xmpp_accel_mam:open/2'), `{error, {bad_option, Key}}'.
-spec start_link(options()) -> {ok, pid()} | {error, term()}.
start_link(Opts) ->
    gen_server:start_link({local, ?SERVER}, ?MODULE, Opts, []).

%% @doc A child spec for the caller's supervisor (id `xmpp_accel_mam_cluster').
-spec child_spec(options()) -> supervisor:child_spec().
child_spec(Opts) ->
    #{id => ?SERVER, start => {?MODULE, start_link, [Opts]}, restart => permanent,
      shutdown => 10000, type => worker, modules => [?MODULE]}.

%% @doc Stops this node's server (commits and closes the index).
-spec stop() -> ok.
stop() ->
    gen_server:stop(?SERVER, normal, 30000).

%% @doc `index(Messages, Timeout)' with the server's `timeout'.
-spec index([xmpp_accel_mam:message()]) -> ok | {error, term()}.
index(Messages) -> index(Messages, conf_timeout()).

%% @doc Makes messages already written to the archive searchable on every
%% node. `replicate': wakes every member, which fetches them from the
%% archive (searchable after that fetch and the next commit); returns at
%% once. `owner': sends each message to its archive's owner, which indexes
%% it (searchable after the owner's next commit, `commit_interval'). Errors:
%% `{error, not_started}' (no server on this node), `{error, [{Node,
%% Reason}]}' for owners that did not answer within `Timeout' ms (their
%% messages are in the archive: this node asks the owner to catch those
%% archives up until it answers), `{error, {bad_input, Why}}'.
-spec index([xmpp_accel_mam:message()], timeout()) -> ok | {error, term()}.
index(Messages, Timeout) when is_list(Messages) ->
    case conf() of
        undefined -> {error, not_started};
        {replicate, _, Members} ->
            _ = [erlang:send({?SERVER, N}, wake, [noconnect, nosuspend]) || N <- Members],
            ok;
        {owner, _, Members} ->
            ByOwner = group([{owner(arc_of(M), Members), M} || M <- Messages]),
            Results = call_each([{N, local_index, [Ms]} || {N, Ms} <- ByOwner], Timeout),
            case [{N, R} || {N, R} <- Results, R =/= ok] of
                [] -> ok;
                Failed ->
                    Arcs = [{maps:get(archive_id, M), maps:get(mam_id, M)}
                            || {N, Ms} <- ByOwner, lists:keymember(N, 1, Failed),
                               M <- Ms, is_map(M), is_integer(maps:get(archive_id, M, x)),
                               is_integer(maps:get(mam_id, M, x))],
                    Arcs =/= [] andalso gen_server:cast(?SERVER, {retry, Arcs}),
                    {error, Failed}
            end
    end.

%% @doc `delete(What, Timeout)' with the server's `timeout'.
-spec delete({message, archive_id(), non_neg_integer()} | {archive, archive_id()}) -> ok | {error, term()}.
delete(What) -> delete(What, conf_timeout()).

%% @doc Removes a message or an archive from the index of every member (after
%% their next commit); delete it from the archive first. Errors: `{error,
%% [{Node, Reason}]}' for members that did not answer within `Timeout' ms.
%% A node that is down meanwhile keeps its copy: wipe its directory to
%% rebuild it from the archive.
-spec delete({message, archive_id(), non_neg_integer()} | {archive, archive_id()}, timeout()) ->
          ok | {error, term()}.
delete(What, Timeout) ->
    case conf() of
        undefined -> {error, not_started};
        {_, _, Members} ->
            case [{N, R} || {N, R} <- call_each([{N, local_delete, [What]} || N <- Members], Timeout), R =/= ok] of
                [] -> ok;
                Failed -> {error, Failed}
            end
    end.

%% @doc `search(Query, Timeout)' with the server's `timeout'.
-spec search(xmpp_accel_mam:query()) -> {ok, xmpp_accel_mam:result()} | {error, term()}.
search(Query) -> search(Query, conf_timeout()).

%% @doc One page of a MAM query (`xmpp_accel_mam:search/2' shapes).
%% `replicate': the local index answers. `owner': the archive's owner
%% answers (if it is catching the archive up, after that). Errors: `{error,
%% not_started}', `{error, {Reason, Node}}' when the owner is down or did
%% not answer within `Timeout' ms (`Reason': `noconnection', `timeout',
%% ...), and those of `xmpp_accel_mam:search/2'.
-spec search(xmpp_accel_mam:query(), timeout()) -> {ok, xmpp_accel_mam:result()} | {error, term()}.
search(Query, Timeout) ->
    route(Query, local_search, [Query, Timeout], Timeout).

%% @doc `last_indexed_id(ArchiveId, Timeout)' with the server's `timeout'.
-spec last_indexed_id(archive_id()) -> non_neg_integer() | undefined | {error, term()}.
last_indexed_id(ArchiveId) -> last_indexed_id(ArchiveId, conf_timeout()).

%% @doc The highest committed mam id of the archive in the index that
%% answers its searches (see `search/2'), or `undefined'.
-spec last_indexed_id(archive_id(), timeout()) -> non_neg_integer() | undefined | {error, term()}.
last_indexed_id(ArchiveId, Timeout) ->
    route(#{archive_id => ArchiveId}, local_last_indexed_id, [ArchiveId], Timeout).

%% @doc Waits until every member has indexed and committed what the archive
%% holds now (`replicate': a fetch up to the archive's end; `owner': the
%% catch-ups under way and the messages sent so far). `ok', or `{error,
%% [{Node, Reason}]}' for members that did not finish within `Timeout' ms.
%% For tests, benchmarks and operators (e.g. after a rebuild).
-spec sync(timeout()) -> ok | {error, term()}.
sync(Timeout) ->
    case conf() of
        undefined -> {error, not_started};
        {_, _, Members} ->
            case [{N, R} || {N, R} <- call_each([{N, local_sync, [Timeout]} || N <- Members], Timeout + 100),
                            R =/= ok] of
                [] -> ok;
                Failed -> {error, Failed}
            end
    end.

%% @doc The live members as this node sees them (sorted node names), `[]'
%% when no server runs here.
-spec members() -> [node()].
members() ->
    case conf() of
        undefined -> [];
        {_, _, Members} -> Members
    end.

%% @doc The node owning `ArchiveId' in `owner' mode, among `members()'.
-spec owner(archive_id()) -> node() | undefined.
owner(ArchiveId) -> owner(ArchiveId, members()).

%% @doc Rendezvous hashing: the member with the highest `phash2({ArchiveId,
%% Node})' (ties: the greater node name). Every node computes the same owner
%% for the same members; when a member leaves, only its archives move.
-spec owner(archive_id(), [node()]) -> node() | undefined.
owner(_ArchiveId, []) -> undefined;
owner(ArchiveId, Members) ->
    {_, Node} = lists:max([{erlang:phash2({ArchiveId, N}, 1 bsl 32), N} || N <- Members]),
    Node.

%% @doc This node's state: `#{mode, members, catching_up (archives or
%% `tail'), cursor (replicate), dir, retry (archives waiting for their
%% owner)}'; `{error, Reason}' when the server does not answer in 5 s.
-spec status() -> map() | {error, term()}.
status() ->
    try gen_server:call(?SERVER, status, ?DEFAULT_TIMEOUT)
    catch exit:{Reason, _} -> {error, Reason}
    end.

%% ---------------------------------------------------------------------------
%% Remote entry points (called by erpc from other members; not for users)
%% ---------------------------------------------------------------------------

%% @private
%% Indexes the messages of the archives this node owns in its own view of
%% the members; the others are refused (`{error, not_owner}', the caller
%% retries through the owner's catch-up): a node only indexes an archive it
%% owns, so its last indexed id says from where to catch up when it gains
%% the archive again.
local_index(Messages) ->
    with_index(fun(I) ->
                       Members = case ets:member(?TAB, settling) of
                                     true -> [];   % refuse all until settled
                                     false -> members()
                                 end,
                       {Mine, Others} = lists:partition(fun(M) -> not is_map(M) orelse
                                                                      owner(arc_of(M), Members) =:= node()
                                                        end, Messages),
                       case xmpp_accel_mam:index(I, Mine) of
                           ok when Others =:= [] -> ok;
                           ok -> {error, not_owner};
                           Error -> Error
                       end
               end).

%% @private
local_search(Query, Timeout) ->
    ArchiveId = maps:get(archive_id, Query, undefined),
    case ets:lookup(?TAB, {pending, ArchiveId}) of
        [] -> ok;
        _ -> _ = call_server({wait_archive, ArchiveId}, Timeout), ok
    end,
    with_index(fun(I) -> xmpp_accel_mam:search(I, Query) end).

%% @private
local_delete(What) ->
    with_index(fun(I) -> xmpp_accel_mam:delete(I, What) end).

%% @private
local_last_indexed_id(ArchiveId) ->
    with_index(fun(I) -> xmpp_accel_mam:last_indexed_id(I, ArchiveId) end).

%% @private
local_sync(Timeout) ->
    call_server(sync, Timeout).

%% @private
local_catch_up(Archives) ->
    gen_server:cast(?SERVER, {catch_up, Archives}).

%% ---------------------------------------------------------------------------
%% Helpers of the API
%% ---------------------------------------------------------------------------

conf() ->
    try ets:lookup(?TAB, conf) of
        [{conf, Mode, Timeout, Members}] -> {Mode, Timeout, Members};
        [] -> undefined
    catch error:badarg -> undefined
    end.

conf_timeout() ->
    case conf() of
        undefined -> ?DEFAULT_TIMEOUT;
        {_, T, _} -> T
    end.

with_index(F) ->
    try ets:lookup(?TAB, index) of
        [{index, I}] -> F(I);
        [] -> {error, not_started}
    catch error:badarg -> {error, not_started}
    end.

call_server(Msg, Timeout) ->
    try gen_server:call(?SERVER, Msg, Timeout)
    catch exit:{timeout, _} -> {error, timeout};
          exit:{noproc, _} -> {error, not_started};
          exit:{Reason, _} -> {error, Reason}
    end.

route(Query, F, Args, Timeout) ->
    case conf() of
        undefined -> {error, not_started};
        {replicate, _, _} -> apply(?MODULE, F, Args);
        {owner, _, Members} ->
            case owner(maps:get(archive_id, Query, 0), Members) of
                Node when Node =:= node() -> apply(?MODULE, F, Args);
                Node ->
                    try erpc:call(Node, ?MODULE, F, Args, Timeout)
                    catch error:{erpc, Reason} -> {error, {Reason, Node}};
                          Class:Reason -> {error, {Class, Reason, Node}}
                    end
            end
    end.

%% Calls ?MODULE:F(Args) on each node in parallel; [{Node, Result}], a
%% result being `{error, Reason}' when the node failed or was too slow.
call_each(Calls, Timeout) ->
    Reqs = [{N, erpc:send_request(N, ?MODULE, F, A)} || {N, F, A} <- Calls],
    Deadline = erlang:monotonic_time(millisecond) + Timeout,
    [{N, receive_one(Req, Deadline)} || {N, Req} <- Reqs].

receive_one(Req, Deadline) ->
    Left = max(0, Deadline - erlang:monotonic_time(millisecond)),
    try erpc:receive_response(Req, Left) of
        Result -> Result
    catch error:{erpc, Reason} -> {error, Reason};
          Class:Reason -> {error, {Class, Reason}}
    end.

arc_of(#{archive_id := A}) -> A;
arc_of(_) -> 0.

group(Pairs) ->
    maps:to_list(lists:foldr(fun({K, V}, Acc) -> maps:update_with(K, fun(L) -> [V | L] end, [V], Acc) end,
                             #{}, Pairs)).

%% ---------------------------------------------------------------------------
%% gen_server
%% ---------------------------------------------------------------------------

-record(st, {mode, index, dir, source, timeout, batch, poll, overlap,
             members = [] :: [node()],
             monitors = #{} :: #{reference() => node()},
             pids = #{} :: #{node() => {pid(), reference()}},
             queue = [] :: [term()],               % jobs: tail | commit | {archive, Id, From}
             settling = false :: boolean(),
             worker :: undefined | {pid(), term()},
             again = false :: boolean(),            % replicate: woken while tailing
             recent :: undefined | ets:tid(),       % replicate: ids indexed within the sweep window
             window = 0 :: non_neg_integer(),
             saved = 0 :: non_neg_integer(),        % replicate: the cursor found on start
             cursor = 0 :: non_neg_integer(),
             sync_waiters = [] :: [gen_server:from()],
             archive_waiters = #{} :: #{archive_id() => [gen_server:from()]},
             retry = [] :: [{archive_id(), non_neg_integer()}],   % {archive, first missing mam id}
             retrier :: undefined | pid()}).

%% @private
init(Opts) ->
    process_flag(trap_exit, true),
    try
        Dir = unicode:characters_to_list(opt(dir, Opts)),
        {SMod, _} = Source = opt(source, Opts),
        is_atom(SMod) orelse throw({bad_option, source}),
        Mode = maps:get(mode, Opts, replicate),
        lists:member(Mode, [replicate, owner]) orelse throw({bad_option, mode}),
        {ok, Index} = case xmpp_accel_mam:open(Dir, maps:get(index_opts, Opts, #{})) of
                          {ok, _} = Ok -> Ok;
                          {error, Why} -> throw(Why)
                      end,
        _ = ets:new(?TAB, [named_table, protected, {read_concurrency, true}]),
        true = ets:insert(?TAB, {index, Index}),
        St0 = #st{mode = Mode, index = Index, dir = Dir, source = Source,
                  timeout = maps:get(timeout, Opts, ?DEFAULT_TIMEOUT),
                  batch = maps:get(batch, Opts, 1000),
                  poll = maps:get(poll_interval, Opts, 1000),
                  overlap = maps:get(catchup_overlap, Opts, 5000000 bsl 8),
                  cursor = 0},
        St1 = case Mode of
                  replicate ->
                      %% a restart re-reads catchup_overlap before its cursor
                      Cursor = read_cursor(Dir),
                      Recent = ets:new(xmpp_accel_mam_cluster_recent, [ordered_set, public]),
                      (enqueue([tail], St0))#st{cursor = max(0, Cursor - St0#st.overlap), recent = Recent,
                                                saved = Cursor,
                                                window = maps:get(sweep_window, Opts, 2000000 bsl 8)};
                  owner -> St0
              end,
        ok = net_kernel:monitor_nodes(true),
        _ = [hello(N) || N <- nodes()],
        erlang:send_after(St1#st.poll, self(), tick),
        Settling = Mode =:= owner,
        Settling andalso ets:insert(?TAB, {settling}),
        Settling andalso erlang:send_after(maps:get(settle_ms, Opts, 1000), self(), settled),
        {ok, members_changed([], St1#st{members = [node()], settling = Settling})}
    catch throw:Reason -> {stop, Reason}
    end.

opt(K, Opts) ->
    case Opts of
        #{K := V} -> V;
        _ -> throw({bad_option, K})
    end.

%% @private
handle_call(status, _From, St) ->
    {reply, #{mode => St#st.mode, members => St#st.members, settling => St#st.settling, dir => St#st.dir, cursor => St#st.cursor,
              catching_up => [J || {_, J} <- [St#st.worker || St#st.worker =/= undefined]] ++ St#st.queue,
              retry => St#st.retry}, St};
handle_call(sync, From, #st{mode = replicate} = St) ->
    {noreply, run(enqueue([sweep], St#st{sync_waiters = [From | St#st.sync_waiters]}))};
handle_call(sync, From, #st{settling = true} = St) ->
    {noreply, St#st{sync_waiters = [From | St#st.sync_waiters]}};
handle_call(sync, From, St) ->
    {noreply, run(enqueue([commit], St#st{sync_waiters = [From | St#st.sync_waiters]}))};
handle_call({wait_archive, Arc}, From, St) ->
    case ets:member(?TAB, {pending, Arc}) of
        false -> {reply, ok, St};
        true -> {noreply, St#st{archive_waiters = maps:update_with(Arc, fun(L) -> [From | L] end, [From],
                                                                   St#st.archive_waiters)}}
    end;
handle_call(_, _From, St) ->
    {reply, {error, unknown_call}, St}.

%% @private
handle_cast({catch_up, Arcs}, #st{mode = owner} = St) ->
    %% [{ArchiveId, FirstMissingMamId}]
    {noreply, run(enqueue_archives([{A, max(0, Id - 1)} || {A, Id} <- Arcs], St))};
handle_cast({retry, Arcs}, St) ->
    {noreply, St#st{retry = merge_min(Arcs ++ St#st.retry)}};
handle_cast(_, St) ->
    {noreply, St}.

%% @private
handle_info(wake, #st{mode = replicate, worker = {_, Tail}} = St) when Tail =:= tail; Tail =:= sweep ->
    {noreply, St#st{again = true}};
handle_info(wake, #st{mode = replicate} = St) ->
    {noreply, run(enqueue([tail], St))};
handle_info(settled, St) ->
    true = ets:delete(?TAB, settling),
    St1 = members_changed([], St#st{settling = false}),
    {noreply, case St1#st.sync_waiters of
                  [] -> St1;
                  _ -> run(enqueue([commit], St1))
              end};
handle_info(tick, St) ->
    erlang:send_after(St#st.poll, self(), tick),
    St1 = case St#st.mode of
              replicate -> run(enqueue([sweep], St));
              owner -> St
          end,
    {noreply, retry(St1)};
handle_info({nodeup, Node}, St) ->
    hello(Node),
    {noreply, St};
handle_info({nodedown, _}, St) ->
    {noreply, St};
handle_info({hello, Node, Pid}, St) ->
    Pid ! {hello_ack, node(), self()},
    {noreply, add_member(Node, Pid, St)};
handle_info({hello_ack, Node, Pid}, St) ->
    {noreply, add_member(Node, Pid, St)};
handle_info({'DOWN', Ref, process, _, _}, #st{monitors = Mons} = St) ->
    case maps:take(Ref, Mons) of
        {Node, Mons1} ->
            Old = St#st.members,
            {noreply, members_changed(Old, St#st{monitors = Mons1, members = lists:delete(Node, Old),
                                                 pids = maps:remove(Node, St#st.pids)})};
        error -> {noreply, St}
    end;
handle_info({job_done, Pid, Job, Result}, #st{worker = {Pid, Job}} = St) ->
    St1 = St#st{worker = undefined},
    St2 = case {Job, Result} of
              {Tail, {ok, Cursor}} when Tail =:= tail; Tail =:= sweep ->
                  write_cursor(St#st.dir, Cursor),
                  Floor = Cursor - St#st.window,
                  _ = ets:select_delete(St#st.recent, [{{'$1'}, [{'<', '$1', Floor}], [true]}]),
                  Again = St1#st.again,
                  S = St1#st{cursor = Cursor, again = false},
                  case Again of true -> enqueue([tail], S); false -> S end;
              {{archives, Arcs}, _} ->
                  Failed = case Result of
                               {ok, F} -> F;
                               _ -> Arcs
                           end,
                  S = St1#st{retry = merge_min([{A, From + 1} || {A, From} <- Failed] ++ St1#st.retry)},
                  lists:foldl(fun({Arc, _}, Acc) -> archive_done(Arc, Acc) end, S, Arcs);
              _ -> St1
          end,
    St3 = case {St2#st.queue, St2#st.sync_waiters} of
              {[], [_ | _]} ->
                  _ = [gen_server:reply(W, sync_result(Result)) || W <- St2#st.sync_waiters],
                  St2#st{sync_waiters = []};
              _ -> St2
          end,
    {noreply, run(St3)};
handle_info({'EXIT', Pid, Reason}, #st{worker = {Pid, Job}} = St) ->
    %% the worker crashed (e.g. the source raised): try the job again later
    logger:warning("xmpp_accel_mam_cluster: catch-up of ~p failed: ~p", [Job, Reason]),
    handle_info({job_done, Pid, Job, {error, Reason}}, St);
handle_info({'EXIT', Pid, _}, #st{retrier = Pid} = St) ->
    {noreply, St#st{retrier = undefined}};
handle_info({retried, Pid, Done}, #st{retrier = Pid} = St) ->
    {noreply, St#st{retry = [R || R <- St#st.retry, not lists:member(R, Done)]}};
handle_info({'EXIT', _, _}, St) ->
    {noreply, St};
handle_info(_, St) ->
    {noreply, St}.

%% @private
terminate(_Reason, St) ->
    case St#st.worker of
        {Pid, _} -> unlink(Pid), exit(Pid, kill);
        undefined -> ok
    end,
    _ = xmpp_accel_mam:close(St#st.index),
    ok.

sync_result({error, _} = E) -> E;
sync_result(_) -> ok.

hello(Node) ->
    erlang:send({?SERVER, Node}, {hello, node(), self()}, [noconnect, nosuspend]).

add_member(Node, Pid, #st{members = Members, pids = Pids} = St) ->
    case Pids of
        #{Node := {Pid, _}} ->
            St;
        #{Node := {_Old, OldRef}} ->
            %% its server restarted and said hello before we saw the old one go
            true = erlang:demonitor(OldRef, [flush]),
            Ref = erlang:monitor(process, Pid),
            St#st{monitors = maps:put(Ref, Node, maps:remove(OldRef, St#st.monitors)),
                  pids = Pids#{Node => {Pid, Ref}}};
        _ ->
            Ref = erlang:monitor(process, Pid),
            members_changed(Members, St#st{members = lists:usort([Node | Members]),
                                           monitors = maps:put(Ref, Node, St#st.monitors),
                                           pids = Pids#{Node => {Pid, Ref}}})
    end.

%% Publishes the members; in owner mode queues the catch-up of every archive
%% this node owns now and did not own before.
%% The starting points (last committed ids) are read before the new members
%% are published, so before this node indexes anything of a gained archive.
members_changed(Old, #st{members = New} = St) ->
    St1 = case St#st.mode of
              replicate -> St;
              owner when St#st.settling -> St;
              owner ->
                  {Mod, Arg} = St#st.source,
                  Me = node(),
                  case safe(fun() -> Mod:archives(Arg) end) of
                      {ok, Arcs} ->
                          Gained = [{A, case xmpp_accel_mam:last_indexed_id(St#st.index, A) of
                                            L when is_integer(L) -> max(0, L - St#st.overlap);
                                            _ -> 0
                                        end}
                                    || A <- Arcs, owner(A, New) =:= Me, Old =:= [] orelse owner(A, Old) =/= Me],
                          enqueue_archives(Gained, St);
                      {error, Why} ->
                          logger:warning("xmpp_accel_mam_cluster: cannot list archives: ~p", [Why]),
                          St
                  end
          end,
    true = ets:insert(?TAB, {conf, St#st.mode, St#st.timeout, New}),
    run(St1).

merge_min(Pairs) ->
    maps:to_list(lists:foldl(fun({A, Id}, M) -> maps:update_with(A, fun(O) -> min(O, Id) end, Id, M) end,
                             #{}, Pairs)).

safe(F) ->
    try F()
    catch Class:Reason -> {error, {Class, Reason}}
    end.

archive_done(Arc, S) ->
    case [x || {archive, A, _} <- S#st.queue, A =:= Arc] of
        [] ->
            true = ets:delete(?TAB, {pending, Arc}),
            {Waiters, AW} = case maps:take(Arc, S#st.archive_waiters) of
                                error -> {[], S#st.archive_waiters};
                                Found -> Found
                            end,
            _ = [gen_server:reply(W, ok) || W <- Waiters],
            S#st{archive_waiters = AW};
        _ -> S
    end.

%% [{ArchiveId, FetchAfterMamId}]
enqueue_archives(Arcs, St) ->
    _ = [ets:insert(?TAB, {{pending, A}}) || {A, _} <- Arcs],
    enqueue([{archive, A, From} || {A, From} <- Arcs], St).

%% tail and commit are queued again while one runs (it may have started
%% before what the caller waits for); other jobs once.
enqueue(Jobs, #st{queue = Q} = St) ->
    St#st{queue = Q ++ [J || J <- Jobs, not lists:member(J, Q)]}.

%% Starts the next job in a worker process, if none runs.
run(#st{worker = undefined, queue = [{archive, _, _} | _] = Q} = St) ->
    %% the queued catch-ups run as one job, with one commit
    {Arcs, Rest} = lists:partition(fun(J) -> element(1, J) =:= archive end, Q),
    run(St#st{queue = [{archives, [{A, From} || {archive, A, From} <- Arcs]} | Rest]});
run(#st{worker = undefined, queue = [Job | Rest]} = St) ->
    Self = self(),
    #st{index = I, source = Source, batch = Batch, cursor = Cursor} = St,
    Arg = case Job of
              _ when Job =:= tail; Job =:= sweep -> {Cursor, St#st.recent, St#st.window, St#st.saved};
              _ -> Cursor
          end,
    Pid = spawn_link(fun() -> Self ! {job_done, self(), Job, do_job(Job, I, Source, Batch, Arg)} end),
    St#st{worker = {Pid, Job}, queue = Rest};
run(St) ->
    St.

do_job(commit, I, _, _, _) ->
    xmpp_accel_mam:commit(I);
do_job(Tail, I, Source, Batch, {Cursor, Recent, Window, Saved}) ->
    %% tail: what is new after the cursor; sweep: the window before it too,
    %% for messages committed late (out of id order): ids indexed within the
    %% window are in Recent and skipped
    From = case Tail of
               tail -> Cursor;
               sweep -> max(0, Cursor - Window)
           end,
    case feed_new(I, Source, From, Batch, {Recent, Saved}, Cursor) of
        {ok, Last} ->
            case xmpp_accel_mam:commit(I) of
                ok -> {ok, Last};
                E -> E
            end;
        E -> E
    end;
do_job({archives, Arcs}, I, Source, Batch, _) ->
    %% archives that moved on meanwhile (members changed again) are skipped
    Failed = [R || {A, From} = R <- Arcs, owner(A, members()) =:= node(),
                   element(1, feed(I, Source, A, From, Batch)) =/= ok],
    case xmpp_accel_mam:commit(I) of
        ok -> {ok, Failed};
        E -> E
    end.

%% replicate: fetches everything after `After', indexes what is not in
%% Recent (nor, up to the cursor saved before a restart, in the index),
%% adds it there; {ok, Cursor} (the highest mam id seen, at least
%% `Cursor0').
feed_new(I, {Mod, Arg} = Source, After, Batch, {Recent, Saved} = Seen, Cursor0) ->
    case Mod:fetch_after(Arg, all, After, Batch) of
        {ok, []} ->
            {ok, Cursor0};
        {ok, Msgs} ->
            Fresh = [M || #{mam_id := Id} = M <- Msgs, not ets:member(Recent, Id)],
            {Old, Newer} = lists:partition(fun(#{mam_id := Id}) -> Id =< Saved end, Fresh),
            New = not_indexed(I, Old) ++ Newer,
            case xmpp_accel_mam:index(I, New) of
                ok ->
                    true = ets:insert(Recent, [{Id} || #{mam_id := Id} <- New]),
                    Last = lists:max([After | [maps:get(mam_id, M) || M <- Msgs]]),
                    Cursor = max(Cursor0, Last),
                    case length(Msgs) < Batch of
                        true -> {ok, Cursor};
                        false -> feed_new(I, Source, Last, Batch, Seen, Cursor)
                    end;
                E -> E
            end;
        {error, _} = E -> E
    end.

%% The messages that are not in the index (one search by ids per archive):
%% a restart re-reads `catchup_overlap' before its saved cursor, most of
%% which it indexed before it stopped.
not_indexed(_I, []) -> [];
not_indexed(I, Msgs) ->
    lists:append([begin
                      Ids = [Id || #{mam_id := Id} <- Ms],
                      case xmpp_accel_mam:search(I, #{archive_id => A, ids => Ids, max => length(Ids)}) of
                          {ok, #{ids := Have}} ->
                              HaveSet = maps:from_keys(Have, []),
                              [M || #{mam_id := Id} = M <- Ms, not is_map_key(Id, HaveSet)];
                          _ -> Ms
                      end
                  end || {A, Ms} <- group([{A, M} || #{archive_id := A} = M <- Msgs])]).

%% Fetches from the source after `After' and indexes, batch after batch,
%% until a short batch; {ok, LastMamId}.
feed(I, {Mod, Arg} = Source, Arc, After, Batch) ->
    case Mod:fetch_after(Arg, Arc, After, Batch) of
        {ok, []} -> {ok, After};
        {ok, Msgs} ->
            case xmpp_accel_mam:index(I, Msgs) of
                ok ->
                    Last = lists:max([After | [maps:get(mam_id, M) || M <- Msgs]]),
                    case length(Msgs) < Batch of
                        true -> {ok, Last};
                        false -> feed(I, Source, Arc, Last, Batch)
                    end;
                E -> E
            end;
        {error, _} = E -> E
    end.

%% owner mode: asks the current owners of the archives whose messages could
%% not be delivered to catch them up; forgets them once an owner answers.
retry(#st{retry = []} = St) -> St;
retry(#st{retrier = Pid} = St) when is_pid(Pid) -> St;
retry(#st{retry = Arcs, members = Members, timeout = Timeout} = St) ->
    Self = self(),
    Pid = spawn_link(fun() ->
                             Results = call_each([{N, local_catch_up, [As]}
                                                  || {N, As} <- group([{owner(A, Members), R} || {A, _} = R <- Arcs])],
                                                 Timeout),
                             Done = [R || {A, _} = R <- Arcs, lists:member({owner(A, Members), ok}, Results)],
                             Self ! {retried, self(), Done}
                     end),
    St#st{retrier = Pid}.

cursor_file(Dir) -> Dir ++ ".cursor".

read_cursor(Dir) ->
    case file:read_file(cursor_file(Dir)) of
        {ok, Bin} ->
            try binary_to_integer(string:trim(Bin)) catch error:badarg -> 0 end;
        _ -> 0
    end.

write_cursor(Dir, Cursor) ->
    Tmp = cursor_file(Dir) ++ ".tmp",
    case file:write_file(Tmp, integer_to_binary(Cursor), [sync]) of
        ok -> _ = file:rename(Tmp, cursor_file(Dir)), ok;
        _ -> ok
    end.
