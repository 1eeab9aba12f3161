%%% @doc mod_mam's `db_type: xmpp_accel': mod_mam_sql (the same tables and
%%% SQL), with full-text search on the xmpp_accel_mam index kept by
%%% mod_xmpp_accel_fulltext.
%%%
%%% Every call goes to mod_mam_sql, except:
%%% <ul>
%%%  <li>`store/8': after the row is inserted, the message (its `txt', the
%%%      body) is indexed;</li>
%%%  <li>`select/7' with a non-empty `withtext': the index gives the page's ids
%%%      (with `with', start/end and RSM before/after/max applied as
%%%      mod_mam_sql applies them: `timestamp' bounds, `max + 1' rows for
%%%      "complete", the count of the whole result set) and the rows are read
%%%      from the SQL archive by id. Ids the archive no longer has (deleted
%%%      behind the index's back) are dropped from the index and the page is
%%%      asked again;</li>
%%%  <li>deletes (`remove_user', `remove_room', `remove_from_archive') are
%%%      mirrored in the index;</li>
%%%  <li>`extended_fields/0' adds `{urn:xmpp:fulltext:0}fulltext' to the MAM
%%%      form next to `withtext'.</li>
%%% </ul>
%%% Without mod_xmpp_accel_fulltext running on the host, full-text queries
%%% get internal-server-error (SQLite and PostgreSQL have no MATCH ... AGAINST).
%%% @end
-module(mod_mam_xmpp_accel).
-behaviour(mod_mam).

-export([init/2, remove_user/2, remove_room/3, delete_old_messages/3, extended_fields/0,
         store/8, write_prefs/4, get_prefs/2, select/7, export/1, remove_from_archive/3,
         is_empty_for_user/2, is_empty_for_room/3, delete_old_messages_batch/4,
         count_messages_to_delete/3]).

-include_lib("xmpp/include/xmpp.hrl").
-include("mod_mam.hrl").
-include("logger.hrl").

init(Host, Opts) ->
    mod_mam_sql:init(Host, Opts).

remove_user(LUser, LServer) ->
    R = mod_mam_sql:remove_user(LUser, LServer),
    mod_xmpp_accel_fulltext:delete_archive(LServer, LUser),
    R.

remove_room(LServer, LName, LHost) ->
    R = mod_mam_sql:remove_room(LServer, LName, LHost),
    mod_xmpp_accel_fulltext:delete_archive(LServer, jid:encode({LName, LHost, <<>>})),
    R.

%% mod_mam calls this with `global' for every db_type but sql: do it per host.
delete_old_messages(global, TimeStamp, Type) ->
    Hosts = [H || H <- ejabberd_option:hosts(), gen_mod:is_loaded(H, mod_mam),
                  mod_mam_opt:db_type(H) == xmpp_accel],
    Results = [mod_mam_sql:delete_old_messages(H, TimeStamp, Type) || H <- Hosts],
    case [R || R <- Results, R /= ok] of
        [] -> ok;
        [Err | _] -> Err
    end;
delete_old_messages(ServerHost, TimeStamp, Type) ->
    mod_mam_sql:delete_old_messages(ServerHost, TimeStamp, Type).

delete_old_messages_batch(LServer, TimeStamp, Type, Batch) ->
    mod_mam_sql:delete_old_messages_batch(LServer, TimeStamp, Type, Batch).

count_messages_to_delete(LServer, TimeStamp, Type) ->
    mod_mam_sql:count_messages_to_delete(LServer, TimeStamp, Type).

extended_fields() ->
    mod_mam_sql:extended_fields() ++
        [#xdata_field{var = <<"{urn:xmpp:fulltext:0}fulltext">>, type = 'text-single',
                      label = <<"Search the text">>, values = []}].

store(Pkt, LServer, {LUser, LHost} = US, Type, Peer, Nick, Dir, TS) ->
    case mod_mam_sql:store(Pkt, LServer, US, Type, Peer, Nick, Dir, TS) of
        ok ->
            SUser = case Type of
                        chat -> LUser;
                        groupchat -> jid:encode({LUser, LHost, <<>>})
                    end,
            Body = fxml:get_subtag_cdata(Pkt, <<"body">>),
            mod_xmpp_accel_fulltext:index_stored(LServer, SUser, TS, jid:encode(jid:tolower(Peer)),
                                                 atom_to_binary(Type, utf8), Body),
            ok;
        Err ->
            Err
    end.

write_prefs(LUser, LServer, Prefs, ServerHost) ->
    mod_mam_sql:write_prefs(LUser, LServer, Prefs, ServerHost).

get_prefs(LUser, LServer) ->
    mod_mam_sql:get_prefs(LUser, LServer).

export(Server) ->
    mod_mam_sql:export(Server).

remove_from_archive(LUser, LServer, none) ->
    R = mod_mam_sql:remove_from_archive(LUser, LServer, none),
    mod_xmpp_accel_fulltext:delete_archive(LServer, LUser),
    R;
remove_from_archive(LUser, LServer, WithJid) ->
    R = mod_mam_sql:remove_from_archive(LUser, LServer, WithJid),
    mod_xmpp_accel_fulltext:reindex_archive(LServer, LUser),
    R.

is_empty_for_user(LUser, LServer) ->
    mod_mam_sql:is_empty_for_user(LUser, LServer).

is_empty_for_room(LServer, LName, LHost) ->
    mod_mam_sql:is_empty_for_room(LServer, LName, LHost).

%%%===================================================================
%%% Queries
%%%===================================================================
select(LServer, JidRequestor, #jid{luser = LUser} = JidArchive, Query, RSM, MsgType, Flags) ->
    case proplists:get_value(withtext, Query) of
        WithText when is_binary(WithText), WithText /= <<>> ->
            {Text, IdFilters} = unpack(WithText),
            SUser = case MsgType of
                        chat -> LUser;
                        _ -> jid:encode(JidArchive)
                    end,
            case mod_xmpp_accel_fulltext:index(LServer) of
                {ok, Index} ->
                    fulltext(LServer, Index, SUser, JidRequestor, JidArchive, {Text, IdFilters},
                             Query, RSM, MsgType, Flags, 1);
                error ->
                    ?WARNING_MSG("full-text MAM query on ~ts, where mod_xmpp_accel_fulltext "
                                 "is not running", [LServer]),
                    {error, db_failure}
            end;
        _ ->
            mod_mam_sql:select(LServer, JidRequestor, JidArchive,
                               proplists:delete(withtext, Query), RSM, MsgType, Flags)
    end.

%% The text and XEP-0313 id filters mod_xmpp_accel_fulltext packed into
%% `withtext' (see its rename_fields/1), or a plain text.
unpack(<<0, "xmpp_accel:", Packed/binary>>) ->
    try binary_to_term(base64:decode(Packed), [safe]) of
        {Text, Filters} when is_binary(Text), is_map(Filters) ->
            {Text, maps:with([ids, after_id, before_id], Filters)};
        _ ->
            {<<>>, #{ids => []}}
    catch _:_ ->
        {<<>>, #{ids => []}}
    end;
unpack(Text) ->
    {Text, #{}}.

fulltext(LServer, Index, SUser, JidRequestor, JidArchive, {Text, IdFilters} = TF, Query, RSM,
         MsgType, Flags, Tries) ->
    Base = maps:merge(search_filter(mod_xmpp_accel_fulltext:archive_id(LServer, SUser), Text, Query),
                      IdFilters),
    {Max, Page} = page(RSM),
    Search = fun(Q) -> xmpp_accel_mam:search(Index, maps:merge(Base, Q)) end,
    Result = case Max of
                 undefined ->
                     %% no RSM (urn:xmpp:mam:tmp): the whole result set
                     case Search(#{max => 0, count => true}) of
                         {ok, #{count := C}} -> Search(Page#{max => C, count => true});
                         Other -> Other
                     end;
                 _ ->
                     Search(Page#{max => Max + 1, count => true})
             end,
    case Result of
        {ok, #{ids := Ids0, count := Count}} ->
            {Ids, IsComplete} = trim(Ids0, Max, Page),
            case Flags of
                only_count ->
                    {[], IsComplete, Count};
                _ ->
                    case load(LServer, SUser, Ids, JidRequestor, JidArchive, MsgType) of
                        {ok, Msgs, []} ->
                            {Msgs, IsComplete, Count};
                        {ok, _, Missing} when Tries > 0 ->
                            ?INFO_MSG("full-text index of ~ts/~ts had ~B ids the archive no longer has: "
                                      "dropped", [SUser, LServer, length(Missing)]),
                            mod_xmpp_accel_fulltext:delete_ids(LServer, SUser, Missing),
                            fulltext(LServer, Index, SUser, JidRequestor, JidArchive, TF, Query,
                                     RSM, MsgType, Flags, Tries - 1);
                        {ok, Msgs, _} ->
                            {Msgs, IsComplete, Count};
                        {error, _} = Err ->
                            Err
                    end
            end;
        {error, Why} ->
            ?ERROR_MSG("full-text search in ~ts/~ts failed: ~p", [SUser, LServer, Why]),
            {error, db_failure}
    end.

%% The filters of the form, as mod_mam_sql applies them: `with' a bare JID
%% matches the peer's bare JID, a full JID the full one; start and end are
%% included.
search_filter(ArchiveId, Text, Query) ->
    Q0 = #{archive_id => ArchiveId, text => Text},
    Q1 = case proplists:get_value(with, Query) of
             #jid{} = With -> Q0#{with => jid:encode(jid:tolower(With))};
             _ -> Q0
         end,
    Q2 = case proplists:get_value(start, Query) of
             {_, _, _} = Start -> Q1#{start => clamp(misc:now_to_usec(Start))};
             _ -> Q1
         end,
    case proplists:get_value('end', Query) of
        {_, _, _} = End -> Q2#{'end' => clamp(misc:now_to_usec(End))};
        _ -> Q2
    end.

%% Mam ids are unsigned 64-bit: a time before 1970 is 0, beyond is the most.
clamp(I) -> min(max(I, 0), 16#FFFFFFFFFFFFFFFF).

%% RSM as mod_mam_sql reads it: `before' (an id: the messages before it; no
%% id or a bad one: the last page), else `after' (a bad id: the first page).
page(#rsm_set{max = Max, before = Before}) when is_binary(Before) ->
    case id(Before) of
        {ok, Id} -> {Max, #{before => Id}};
        error -> {Max, #{before => last}}
    end;
page(#rsm_set{max = Max, 'after' = After}) when is_binary(After) ->
    case id(After) of
        {ok, Id} -> {Max, #{'after' => Id}};
        error -> {Max, #{}}
    end;
page(#rsm_set{max = Max}) ->
    {Max, #{}};
page(_) ->
    {undefined, #{}}.

id(Bin) ->
    try binary_to_integer(Bin) of
        I when I >= 0 -> {ok, clamp(I)};
        _ -> error
    catch _:_ -> error
    end.

%% `max + 1' ids were asked for: one more than `max' means the page is not
%% the end (mod_mam's "complete" is false), and that one is dropped.
trim(Ids, Max, Page) when is_integer(Max), length(Ids) > Max ->
    case Page of
        #{before := _} -> {lists:nthtail(length(Ids) - Max, Ids), false};
        _ -> {lists:sublist(Ids, Max), false}
    end;
trim(Ids, _Max, _Page) ->
    {Ids, true}.

%% The rows of these ids from the SQL archive, as mod_mam's result elements
%% in id order; `Missing': the ids it does not have.
load(_LServer, _SUser, [], _JidRequestor, _JidArchive, _MsgType) ->
    {ok, [], []};
load(LServer, SUser, Ids, JidRequestor, JidArchive, MsgType) ->
    Type = ejabberd_option:sql_type(LServer),
    Q = [<<"SELECT timestamp, xml, peer, kind, nick FROM archive WHERE username=">>,
         ejabberd_sql:to_string_literal(Type, SUser),
         mod_xmpp_accel_fulltext:host_match(LServer),
         <<" AND timestamp IN (">>, lists:join(<<",">>, [integer_to_binary(I) || I <- Ids]),
         <<");">>],
    case ejabberd_sql:sql_query(LServer, Q) of
        {selected, _, Rows} ->
            ArchiveS = jid:encode(jid:remove_resource(JidArchive)),
            ById = maps:from_list([{binary_to_integer(TS), Row} || [TS | _] = Row <- Rows]),
            {Msgs, Missing} =
                lists:foldr(
                  fun(Id, {Acc, Miss}) ->
                          case maps:find(Id, ById) of
                              {ok, Row} ->
                                  case archive_el(ArchiveS, Row, MsgType, JidRequestor, JidArchive) of
                                      {ok, El} -> {[{integer_to_binary(Id), Id, El} | Acc], Miss};
                                      error -> {Acc, Miss}
                                  end;
                              error ->
                                  {Acc, [Id | Miss]}
                          end
                  end, {[], []}, Ids),
            {ok, Msgs, Missing};
        Err ->
            ?ERROR_MSG("loading archived messages of ~ts/~ts failed: ~p", [SUser, LServer, Err]),
            {error, db_failure}
    end.

%% One archive row as mod_mam's #forwarded{} (mod_mam:msg_to_el/4 does the
%% stanza-id, delay and room JID rules).
archive_el(ArchiveS, [TS, XML, Peer, Kind, Nick], MsgType, JidRequestor, JidArchive) ->
    case xml_compress:decode(XML, ArchiveS, Peer) of
        #xmlel{} = El ->
            try
                TSInt = binary_to_integer(TS),
                T = case Kind of
                        <<"groupchat">> -> groupchat;
                        _ -> chat
                    end,
                Msg = #archive_msg{timestamp = misc:usec_to_now(TSInt), id = TS, packet = El,
                                   type = T, nick = text(Nick), peer = jid:tolower(jid:decode(Peer))},
                case mod_mam:msg_to_el(Msg, MsgType, JidRequestor, JidArchive) of
                    {ok, Fwd} -> {ok, Fwd};
                    {error, _} -> error
                end
            catch _:Why ->
                ?ERROR_MSG("bad archive row ~ts of ~ts: ~p", [TS, ArchiveS, Why]),
                error
            end;
        Err ->
            ?ERROR_MSG("bad archived XML ~ts of ~ts: ~p", [TS, ArchiveS, Err]),
            error
    end.

text(B) when is_binary(B) -> B;
text(_) -> <<>>.
