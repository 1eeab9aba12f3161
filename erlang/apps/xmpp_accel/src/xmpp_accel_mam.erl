%%% @doc MAM full-text search (XEP-0313): an embedded, crash-safe index of a
%%% message archive answering MAM queries with all their filters and RSM
%%% paging (XEP-0059). The archive itself stays where it is (RDBMS, mnesia,
%%% ...): the index only maps words to message ids.
%%%
%%% How a MongooseIM-style MAM module uses it:
%%% <ol>
%%%  <li>on archiving a message: `index(Index, [#{archive_id => ArcID,
%%%      mam_id => MessID, remote_jid => BareJid, remote_resource => Res,
%%%      is_groupchat => false, body => Body}])' (it returns at once; the
%%%      message is searchable after the next commit, within `commit_interval'
%%%      ms);</li>
%%%  <li>on a MAM query whose form has a full-text field (`text_from_form/1'
%%%      knows the names clients send): `search(Index, #{archive_id => ArcID,
%%%      text => Text, with => ..., start => ..., 'end' => ..., max => ...,
%%%      before | after | index => ..., count => true})' gives the page's mam
%%%      ids; the module fetches those rows from its archive and answers;
%%%      without text it queries its archive as before;</li>
%%%  <li>after a restart: `last_indexed_id(Index, ArcID)' says where to resume
%%%      feeding from the archive; feeding a message again replaces it (no
%%%      duplicates).</li>
%%% </ol>
%%% Every call that touches the index runs on a dirty scheduler (searches on
%%% dirty CPU, the rest on dirty I/O: they wait for commits, which write and
%%% sync files), so none holds a normal scheduler. Indexing goes in slices
%%% of 100 messages, so a long list does not hold a dirty scheduler either.
%%% @end
-module(xmpp_accel_mam).

-export([open/2, index/2, delete/2, commit/1, last_indexed_id/2, search/2, close/1,
         text_from_form/1]).

-export_type([index/0, message/0, query/0, result/0]).

-type index() :: reference().
-type message() :: #{archive_id := non_neg_integer(), mam_id := non_neg_integer(),
                     remote_jid := binary(), remote_resource => binary(),
                     is_groupchat => boolean(), body := binary()}.
%% `mam_id': microseconds &lt;&lt; 8 bor node, as MongooseIM makes them (time-ordered).
-type query() :: #{archive_id := non_neg_integer(), text => binary(), with => binary(),
                   start => non_neg_integer(), 'end' => non_neg_integer(),
                   before_id => non_neg_integer(), after_id => non_neg_integer(),
                   ids => [non_neg_integer()], include_groupchat => boolean(),
                   max => non_neg_integer(), before => non_neg_integer() | last | <<>>,
                   'after' => non_neg_integer(), index => non_neg_integer(),
                   flip_page => boolean(), count => boolean()}.
%% `with': a bare JID (any resource) or a full JID. `start'/`end' and
%% `before_id'/`after_id' are mam ids (included / excluded). RSM: `max'
%% (default 50), `before' (a mam id, or `last'/`<<>>' for the last page),
%% `after', `index' (position of the first result). `text': all its words
%% must be in the body.
-type result() :: #{ids := [non_neg_integer()], count := non_neg_integer() | undefined,
                    first_index := non_neg_integer() | undefined}.

-define(SLICE, 100).

%% @doc Opens (or creates) the index in `Dir'. Options (all optional):
%% `tokenizer' (`unicode': Unicode word segmentation (UAX #29), lower-cased, with
%% `fold_diacritics => true' also accent-folded; `mongoose_compat': the words
%% of MongooseIM's `mod_mam_utils:normalize_search_text/2'), `commit_interval'
%% (ms, default 500), `writer_memory' (bytes, default 50 MB), `max_body'
%% (bytes, default 65,536). Errors: `{error, already_open}' (a second open of
%% the same directory), `{error, Reason :: binary()}', `{error, {bad_input, Why}}'.
-spec open(file:name_all(), map()) -> {ok, index()} | {error, term()}.
open(Dir, Opts) ->
    xmpp_accel_nif:mam_open(unicode:characters_to_binary(Dir), Opts).

%% @doc Indexes messages (see `t:message/0'). Errors for a bad message:
%% `{error, {bad_input, Why}}' (missing fields, wrong types, invalid UTF-8,
%% a body over `max_body').
-spec index(index(), [message()]) -> ok | {error, term()}.
index(Index, Messages) when is_list(Messages) ->
    index_slices(Index, Messages).

index_slices(_Index, []) ->
    ok;
index_slices(Index, Messages) ->
    {Slice, Rest} = take(?SLICE, Messages, []),
    case xmpp_accel_nif:mam_index(Index, Slice) of
        ok -> index_slices(Index, Rest);
        Error -> Error
    end.

take(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
take(_, [], Acc) -> {lists:reverse(Acc), []};
take(N, [X | Rest], Acc) -> take(N - 1, Rest, [X | Acc]).

%% @doc Removes one message or a whole archive (after the next commit).
-spec delete(index(), {message, non_neg_integer(), non_neg_integer()} | {archive, non_neg_integer()}) ->
          ok | {error, term()}.
delete(Index, What) ->
    xmpp_accel_nif:mam_delete(Index, What).

%% @doc Makes every write so far durable and searchable now.
-spec commit(index()) -> ok | {error, term()}.
commit(Index) ->
    xmpp_accel_nif:mam_commit(Index).

%% @doc The highest committed mam id of the archive, or `undefined'.
-spec last_indexed_id(index(), non_neg_integer()) -> non_neg_integer() | undefined | {error, term()}.
last_indexed_id(Index, ArchiveId) ->
    xmpp_accel_nif:mam_last_indexed_id(Index, ArchiveId).

%% @doc One page of a MAM query (see `t:query/0'): mam ids oldest first
%% (newest first with `flip_page'), the result set's size when `count' is
%% true, and the page's position in it when known.
-spec search(index(), query()) -> {ok, result()} | {error, term()}.
search(Index, Query) ->
    xmpp_accel_nif:mam_search(Index, Query).

%% @doc Commits and closes; the directory can be opened again.
-spec close(index()) -> ok | {error, term()}.
close(Index) ->
    xmpp_accel_nif:mam_close(Index).

%% @doc The full-text search string of a MAM query form, under any of the
%% names clients use: `full-text-search' (MongooseIM), `fulltext' and
%% `{urn:xmpp:fulltext:0}fulltext', `withtext' (ejabberd). `Fields' is
%% `[{Var, Value}]' (first match wins), or `undefined' when none is there.
-spec text_from_form([{binary(), binary()}]) -> binary() | undefined.
text_from_form(Fields) ->
    Names = [<<"full-text-search">>, <<"fulltext">>, <<"{urn:xmpp:fulltext:0}fulltext">>, <<"withtext">>],
    case [V || {K, V} <- Fields, lists:member(K, Names), V =/= <<>>] of
        [Text | _] -> Text;
        [] -> undefined
    end.
