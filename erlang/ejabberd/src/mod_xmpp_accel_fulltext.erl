%%% @doc Full-text search of MAM archives for ejabberd (XEP-0313 with the
%%% XEP-0431 field), on the xmpp_accel_mam index.
%%%
%%% Two parts, because ejabberd's mod_mam decodes the query form itself and
%%% asks its `db_type' backend for the rows:
%%% <ul>
%%%  <li>`mod_mam_xmpp_accel' (mod_mam's `db_type: xmpp_accel'): mod_mam_sql
%%%      underneath (same tables, same SQL), plus: every stored message is
%%%      indexed, and a query with `withtext' is answered from the index (ids,
%%%      `with', start/end, RSM), the page's messages loaded from the SQL
%%%      archive by id;</li>
%%%  <li>this module (`modules: mod_xmpp_accel_fulltext: {}'): owns one index
%%%      per virtual host (opened at start, closed at stop), catches up from the
%%%      SQL archive at start (in the background), advertises
%%%      `urn:xmpp:fulltext:0' on the account (disco#info), and renames the
%%%      full-text fields clients send (`{urn:xmpp:fulltext:0}fulltext',
%%%      `fulltext', MongooseIM's `full-text-search') to ejabberd's `withtext'
%%%      in the MAM queries local users send (`user_send_packet'), so that
%%%      mod_mam's form decoder accepts them.</li>
%%% </ul>
%%% Options: `index_dir' (default: `xmpp_accel_fulltext' in ejabberd's spool
%%% directory; one subdirectory per host), `commit_interval' (ms, default 500:
%%% a message is searchable at most that long after it is archived),
%%% `catch_up_margin' (seconds, default 300: at start, each archive is read
%%% again from this long before its last indexed message, for messages stored
%%% concurrently or just before a crash; re-feeding a message replaces it).
%%% @end
-module(mod_xmpp_accel_fulltext).
-behaviour(gen_mod).
-behaviour(gen_server).

-export([start/2, stop/1, reload/3, depends/2, mod_opt_type/1, mod_options/1, mod_doc/0]).
-export([init/1, handle_call/3, handle_cast/2, handle_info/2, terminate/2, code_change/3]).
-export([disco_sm_features/5, user_send_packet/1]).
%% for mod_mam_xmpp_accel
-export([index/1, archive_id/2, index_stored/6, delete_archive/2, delete_ids/3,
         reindex_archive/2, host_match/1]).

-include_lib("xmpp/include/xmpp.hrl").
-include("logger.hrl").

-define(NS_FULLTEXT, <<"urn:xmpp:fulltext:0">>).
-define(ALIASES, [<<"{urn:xmpp:fulltext:0}fulltext">>, <<"fulltext">>, <<"full-text-search">>]).
-define(BATCH, 1000).
-define(MAX_BODY, 65536).

%%%===================================================================
%%% gen_mod
%%%===================================================================
start(Host, Opts) ->
    gen_mod:start_child(?MODULE, Host, Opts).

stop(Host) ->
    gen_mod:stop_child(?MODULE, Host).

reload(_Host, _NewOpts, _OldOpts) ->
    ok.

depends(_Host, _Opts) ->
    [{mod_mam, hard}].

mod_opt_type(index_dir) ->
    econf:binary();
mod_opt_type(commit_interval) ->
    econf:pos_int();
mod_opt_type(catch_up_margin) ->
    econf:non_neg_int().

mod_options(_Host) ->
    [{index_dir, <<>>}, {commit_interval, 500}, {catch_up_margin, 300}].

mod_doc() ->
    #{desc => [<<"Full-text search of MAM archives (XEP-0431) on the xmpp_accel index. "
                 "Needs mod_mam with db_type: xmpp_accel (mod_mam_sql underneath).">>]}.

%%%===================================================================
%%% API for mod_mam_xmpp_accel
%%%===================================================================

%% @doc The open index of a host, or `error' when the module is not running there.
-spec index(binary()) -> {ok, reference()} | error.
index(LServer) ->
    case persistent_term:get({?MODULE, LServer}, undefined) of
        undefined -> error;
        Index -> {ok, Index}
    end.

%% @doc The index's archive id of an SQL archive (`username' column: the user
%% for chat, the room's JID for a room): 63 bits of a SHA-256.
-spec archive_id(binary(), binary()) -> non_neg_integer().
archive_id(LServer, SUser) ->
    <<Id:63, _/bitstring>> = crypto:hash(sha256, [LServer, 0, SUser]),
    Id.

%% @doc Indexes one message just stored by mod_mam_sql. `Peer' is the
%% `peer' column (lower-cased JID), `TS' the `timestamp' column (the MAM id).
index_stored(LServer, SUser, TS, Peer, Kind, Body) ->
    case index(LServer) of
        {ok, Index} ->
            case xmpp_accel_mam:index(Index, [message(LServer, SUser, TS, Peer, Kind, Body)]) of
                ok -> ok;
                Err ->
                    ?WARNING_MSG("xmpp_accel index of ~ts/~ts ~p failed: ~p (a catch-up from "
                                 "before it, or a rebuild, indexes it again)",
                                 [SUser, LServer, TS, Err]),
                    Err
            end;
        error ->
            ok
    end.

delete_archive(LServer, SUser) ->
    with_index(LServer, fun(I) -> xmpp_accel_mam:delete(I, {archive, archive_id(LServer, SUser)}) end).

delete_ids(LServer, SUser, Ids) ->
    with_index(LServer, fun(I) ->
        Arc = archive_id(LServer, SUser),
        lists:foreach(fun(Id) -> xmpp_accel_mam:delete(I, {message, Arc, Id}) end, Ids),
        xmpp_accel_mam:commit(I)
    end).

%% @doc Drops an archive from the index and feeds it again from SQL (after a
%% delete the index cannot mirror, such as "all messages with this peer").
reindex_archive(LServer, SUser) ->
    with_index(LServer, fun(I) ->
        ok = xmpp_accel_mam:delete(I, {archive, archive_id(LServer, SUser)}),
        {ok, _} = catch_up(LServer, I, SUser, -1, 0),
        xmpp_accel_mam:commit(I)
    end).

with_index(LServer, F) ->
    case index(LServer) of
        {ok, I} -> F(I);
        error -> ok
    end.

message(LServer, SUser, TS, Peer, Kind, Body) ->
    {Bare, Res} = case binary:split(Peer, <<"/">>) of
                      [B, R] -> {B, R};
                      [B] -> {B, <<>>}
                  end,
    #{archive_id => archive_id(LServer, SUser), mam_id => TS, remote_jid => Bare,
      remote_resource => Res, is_groupchat => Kind == <<"groupchat">>, body => cut(Body)}.

%% The index refuses bodies over its max_body (64 KB): index their first 64 KB
%% (cut at a character boundary).
cut(Body) when byte_size(Body) =< ?MAX_BODY ->
    Body;
cut(Body) ->
    case unicode:characters_to_binary(binary:part(Body, 0, ?MAX_BODY)) of
        Bin when is_binary(Bin) -> Bin;
        {_, Good, _} -> Good
    end.

%%%===================================================================
%%% Hooks
%%%===================================================================

%% The account advertises full-text search next to mod_mam's features.
disco_sm_features(empty, From, To, Node, Lang) ->
    disco_sm_features({result, []}, From, To, Node, Lang);
disco_sm_features({result, Features}, #jid{luser = U, lserver = S},
                  #jid{luser = U, lserver = S}, <<"">>, _Lang) ->
    {result, [?NS_FULLTEXT | Features -- [?NS_FULLTEXT]]};
disco_sm_features(Acc, _From, _To, _Node, _Lang) ->
    Acc.

%% A MAM query whose form names the search text under another name than
%% ejabberd's `withtext' gets that field renamed (mod_mam refuses fields it
%% does not know with bad-request). Anything else goes through untouched.
user_send_packet({#iq{sub_els = [Q]} = IQ, State}) ->
    case rewrite_query(Q) of
        unchanged -> {IQ, State};
        Q1 -> {IQ#iq{sub_els = [Q1]}, State}
    end;
user_send_packet(Acc) ->
    Acc.

rewrite_query(#xmlel{name = <<"query">>} = El) ->
    case fxml:get_tag_attr_s(<<"xmlns">>, El) of
        NS when NS == ?NS_MAM_0; NS == ?NS_MAM_1; NS == ?NS_MAM_2 ->
            case fxml:get_subtag_with_xmlns(El, <<"x">>, ?NS_XDATA) of
                #xmlel{} = X ->
                    try xmpp:decode(X) of
                        #xdata{fields = Fields} = XData ->
                            case rename_fields(Fields) of
                                unchanged -> unchanged;
                                Fields1 ->
                                    X1 = xmpp:encode(XData#xdata{fields = Fields1}),
                                    Children = [case C of X -> X1; _ -> C end
                                                || C <- El#xmlel.children],
                                    El#xmlel{children = Children}
                            end
                    catch _:{xmpp_codec, _} ->
                        unchanged  % mod_mam answers with its error
                    end;
                _ ->
                    unchanged
            end;
        _ ->
            unchanged
    end;
rewrite_query(_) ->
    unchanged.

%% Fields named by an alias with at most one value are replaced by one
%% `withtext' (the first non-empty text among them and any `withtext');
%% an alias with several values is left for mod_mam to refuse.
%%
%% XEP-0313's id filters (`{urn:xmpp:mam:2}ids', `before-id', `after-id',
%% with or without the namespace), which ejabberd 23.01's form decoder does
%% not know, travel with the text inside the `withtext' value of a query
%% that has a text: `<<0, "xmpp_accel:", Base64>>' (a NUL cannot come from
%% a client: XML has no way to write it) for mod_mam_xmpp_accel to read.
%% Without a text, or with a bad id filter, they are left for mod_mam to
%% refuse (bad-request).
rename_fields(Fields) ->
    IsText = fun(#xdata_field{var = V, values = Vs}) ->
                     (lists:member(V, ?ALIASES) orelse V == <<"withtext">>) andalso length(Vs) =< 1
             end,
    IsId = fun(#xdata_field{var = V}) -> id_filter(V) /= undefined end,
    HasAlias = lists:any(fun(#xdata_field{var = V} = F) -> lists:member(V, ?ALIASES) andalso IsText(F) end,
                         Fields),
    case HasAlias orelse lists:any(IsId, Fields) of
        false ->
            unchanged;
        true ->
            Pairs = [{V, Val} || #xdata_field{var = V, values = [Val]} = F <- Fields, IsText(F)],
            {IdFields, Rest} = lists:partition(IsId, [F || F <- Fields, not IsText(F)]),
            case {xmpp_accel_mam:text_from_form(Pairs), id_filters(IdFields, #{})} of
                {undefined, _} when IdFields /= [] -> unchanged;
                {undefined, _} -> Rest;
                {_, error} -> unchanged;
                {Text, Filters} when map_size(Filters) == 0 -> Rest ++ [withtext(Text)];
                {Text, Filters} ->
                    Packed = base64:encode(term_to_binary({Text, Filters})),
                    Rest ++ [withtext(<<0, "xmpp_accel:", Packed/binary>>)]
            end
    end.

withtext(Text) ->
    #xdata_field{var = <<"withtext">>, values = [Text]}.

id_filter(<<"{urn:xmpp:mam:2}", Name/binary>>) -> id_filter(Name);
id_filter(<<"ids">>) -> ids;
id_filter(<<"after-id">>) -> after_id;
id_filter(<<"before-id">>) -> before_id;
id_filter(_) -> undefined.

%% `#{ids => [Id], after_id => Id, before_id => Id}', or `error' for an id
%% that is no MAM id of ejabberd (a non-negative integer) or a field given
%% twice. An `ids' value that is no MAM id matches nothing.
id_filters([], Acc) ->
    Acc;
id_filters([#xdata_field{var = V, values = Vs} | Rest], Acc) ->
    Key = id_filter(V),
    case {Key, Vs, maps:is_key(Key, Acc)} of
        {_, _, true} ->
            error;
        {ids, _, false} ->
            id_filters(Rest, Acc#{ids => [I || {ok, I} <- [mam_id(B) || B <- Vs]]});
        {_, [B], false} ->
            case mam_id(B) of
                {ok, I} -> id_filters(Rest, Acc#{Key => I});
                error -> error
            end;
        _ ->
            error
    end.

mam_id(B) ->
    try binary_to_integer(B) of
        I when I >= 0, I =< 16#FFFFFFFFFFFFFFFF -> {ok, I};
        _ -> error
    catch _:_ -> error
    end.

%%%===================================================================
%%% gen_server: owns the host's index
%%%===================================================================
init([Host, Opts]) ->
    process_flag(trap_exit, true),
    Dir = index_dir(Host, gen_mod:get_opt(index_dir, Opts)),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    case xmpp_accel_mam:open(Dir, #{commit_interval => gen_mod:get_opt(commit_interval, Opts)}) of
        {ok, Index} ->
            persistent_term:put({?MODULE, Host}, Index),
            ejabberd_hooks:add(disco_sm_features, Host, ?MODULE, disco_sm_features, 60),
            ejabberd_hooks:add(user_send_packet, Host, ?MODULE, user_send_packet, 10),
            ?INFO_MSG("xmpp_accel full-text index for ~ts: ~ts", [Host, Dir]),
            case mod_mam_opt:db_type(Host) of
                xmpp_accel -> ok;
                Other -> ?WARNING_MSG("mod_mam on ~ts has db_type ~ts, not xmpp_accel: nothing "
                                      "is indexed and full-text queries are not answered from the index",
                                      [Host, Other])
            end,
            Self = self(),
            Margin = gen_mod:get_opt(catch_up_margin, Opts) * 1000000,
            Pid = spawn_link(fun() -> Self ! {caught_up, catch_up_all(Host, Index, Margin)} end),
            {ok, #{host => Host, index => Index, catch_up => Pid}};
        {error, Reason} ->
            ?ERROR_MSG("xmpp_accel full-text index ~ts cannot open: ~p", [Dir, Reason]),
            {stop, {index_open, Reason}}
    end.

index_dir(Host, <<>>) ->
    filename:join([mnesia:system_info(directory), "xmpp_accel_fulltext", Host]);
index_dir(Host, Dir) ->
    filename:join([Dir, Host]).

handle_call(_Request, _From, State) ->
    {reply, {error, badarg}, State}.

handle_cast(_Msg, State) ->
    {noreply, State}.

handle_info({caught_up, Result}, #{host := Host} = State) ->
    case Result of
        {ok, N, Archives, Ms} ->
            ?INFO_MSG("xmpp_accel full-text catch-up for ~ts done: ~B messages from ~B archives in ~B ms",
                      [Host, N, Archives, Ms]);
        {error, Why} ->
            ?ERROR_MSG("xmpp_accel full-text catch-up for ~ts failed: ~p", [Host, Why])
    end,
    {noreply, State#{catch_up => undefined}};
handle_info({'EXIT', Pid, normal}, #{catch_up := Pid} = State) ->
    {noreply, State};
handle_info({'EXIT', _Pid, normal}, State) ->
    {noreply, State};
handle_info({'EXIT', Pid, Reason}, #{host := Host, catch_up := Pid} = State) ->
    ?ERROR_MSG("xmpp_accel full-text catch-up for ~ts crashed: ~p", [Host, Reason]),
    {noreply, State#{catch_up => undefined}};
handle_info(_Info, State) ->
    {noreply, State}.

terminate(_Reason, #{host := Host, index := Index} = State) ->
    case State of
        #{catch_up := Pid} when is_pid(Pid) -> unlink(Pid), exit(Pid, kill);
        _ -> ok
    end,
    ejabberd_hooks:delete(user_send_packet, Host, ?MODULE, user_send_packet, 10),
    ejabberd_hooks:delete(disco_sm_features, Host, ?MODULE, disco_sm_features, 60),
    persistent_term:erase({?MODULE, Host}),
    xmpp_accel_mam:close(Index).

code_change(_OldVsn, State, _Extra) ->
    {ok, State}.

%%%===================================================================
%%% Catch-up from the SQL archive
%%%===================================================================

%% Every archive of the host, from its last indexed id (less a margin, us) on.
catch_up_all(Host, Index, Margin) ->
    T0 = erlang:monotonic_time(millisecond),
    try
        {selected, _, Rows} = ejabberd_sql:sql_query(
                                Host, [<<"SELECT DISTINCT username FROM archive WHERE 1=1">>,
                                       host_match(Host), <<";">>]),
        N = lists:foldl(fun([SUser], Acc) ->
                                {ok, K} = catch_up(Host, Index, SUser, Margin),
                                Acc + K
                        end, 0, Rows),
        ok = xmpp_accel_mam:commit(Index),
        {ok, N, length(Rows), erlang:monotonic_time(millisecond) - T0}
    catch C:R ->
        {error, {C, R}}
    end.

%% Feeds one archive's messages after its last indexed id (less `Margin' us)
%% from SQL to the index, in batches. `{ok, Count}'.
catch_up(Host, Index, SUser, Margin) ->
    After = case xmpp_accel_mam:last_indexed_id(Index, archive_id(Host, SUser)) of
                Last when is_integer(Last) -> max(Last - Margin, -1);
                _ -> -1
            end,
    catch_up(Host, Index, SUser, After, 0).

catch_up(Host, Index, SUser, After, Acc) ->
    Type = ejabberd_option:sql_type(Host),
    Q = [<<"SELECT timestamp, peer, kind, txt FROM archive WHERE username=">>,
         ejabberd_sql:to_string_literal(Type, SUser), host_match(Host),
         <<" AND timestamp > ">>, integer_to_binary(After),
         <<" ORDER BY timestamp ASC LIMIT ">>, integer_to_binary(?BATCH), <<";">>],
    case ejabberd_sql:sql_query(Host, Q) of
        {selected, _, []} ->
            {ok, Acc};
        {selected, _, Rows} ->
            Msgs = [message(Host, SUser, binary_to_integer(TS), text(Peer), text(Kind), text(Txt))
                    || [TS, Peer, Kind, Txt] <- Rows],
            ok = index_batch(Host, Index, Msgs),
            #{mam_id := Last} = lists:last(Msgs),
            case length(Rows) < ?BATCH of
                true -> {ok, Acc + length(Rows)};
                false -> catch_up(Host, Index, SUser, Last, Acc + length(Rows))
            end;
        Err ->
            {error, Err}
    end.

text(B) when is_binary(B) -> B;
text(_) -> <<>>.  % NULL

%% A batch the index refuses goes one by one, the refused messages skipped.
index_batch(Host, Index, Msgs) ->
    case xmpp_accel_mam:index(Index, Msgs) of
        ok ->
            ok;
        {error, {bad_input, _}} ->
            lists:foreach(
              fun(#{mam_id := Id} = M) ->
                      case xmpp_accel_mam:index(Index, [M]) of
                          ok -> ok;
                          Err -> ?WARNING_MSG("xmpp_accel index of message ~p on ~ts skipped: ~p",
                                              [Id, Host, Err])
                      end
              end, Msgs);
        Err ->
            Err
    end.

%% @private the `server_host' condition of ejabberd's new SQL schema.
host_match(Host) ->
    case ejabberd_sql:use_new_schema() of
        true ->
            [<<" AND server_host=">>,
             ejabberd_sql:to_string_literal(ejabberd_option:sql_type(Host), Host)];
        false ->
            []
    end.
