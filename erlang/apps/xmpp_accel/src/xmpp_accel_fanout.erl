%%% @doc MUC Light broadcast fan-out: one room stanza to many members,
%%% serialised once, each copy with its own `to'.
%%%
%%% Today mod_muc_light builds, for every member, a new `#xmlel{}' with
%%% `to', routes it, and each session serialises it again. Here the stanza
%%% is serialised once into a template; each member's copy is written from
%%% it (byte-identical to `exml:to_binary/1' of the element with `to' set to
%%% the member's bare JID) and, for local sessions, sent from the NIF with no
%%% Erlang work per member. Remote sessions come back grouped per node, for
%%% one batch per node over distribution.
%%%
%%% Elements are exml records (`#xmlel{}' with map attributes). Attributes
%%% are written in map order, which is byte order for maps of up to 32 keys
%%% (stanzas have a handful); `to' takes its sorted place.
%%%
%%% Large rooms are handled in slices of 1,000 members per NIF call, so no
%%% call holds a scheduler for long, however many members (100,000 and more).
%%%
%%% The other MUC Light notifications (XEP-less `urn:xmpp:muclight:0'
%%% protocol, as MongooseIM's modern codec writes them) are built by
%%% `affiliation_change/4', `config_change/4' and `destroy/1'.
%%% @end
-module(xmpp_accel_fanout).

-export([template/1, template/2, render/2, send/3, send_async/3]).
-export([classify_affiliations/2, affiliation_change/4, config_change/4, destroy/1]).

-export_type([template/0, member/0, remote/0]).

-type template() :: reference().
%% A serialised stanza with a `to' slot (a NIF resource, freed with its last reference).
-type member() :: {pid(), BareJid :: binary()}.
-type remote() :: [{node(), [{pid(), binary()}]}].
-type element() :: tuple().
%% `#xmlel{}' of exml (map attributes).

-define(SLICE, 1000).
-define(NS_AFFILIATIONS, <<"urn:xmpp:muclight:0#affiliations">>).
-define(NS_CONFIGURATION, <<"urn:xmpp:muclight:0#configuration">>).
-define(NS_DESTROY, <<"urn:xmpp:muclight:0#destroy">>).
-define(RECIPIENT, <<"\0recipient">>).

%% @equiv template(Element, undefined)
-spec template(element()) -> template().
template(Element) ->
    template(Element, undefined).

%% @doc Serialises `Element' (the room's outgoing stanza: `from' set to
%% `room@host/sender', `id', `type', children) once, without `to'. Text
%% children equal to `RecipientMarker' are written as the recipient's JID.
%% A bad element raises `badarg'.
-spec template(element(), binary() | undefined) -> template().
template(Element, RecipientMarker) ->
    xmpp_accel_nif:fanout_template(Element, RecipientMarker).

%% @doc Each JID's stanza, in order: `exml:to_binary/1' of the element with
%% `to' set to that JID.
-spec render(template(), [binary()]) -> [binary()].
render(Template, Jids) when is_list(Jids) ->
    render(Template, Jids, []);
render(_Template, _Jids) ->
    erlang:error(badarg).

render(_Template, [], Acc) ->
    lists:append(lists:reverse(Acc));
render(Template, Jids, Acc) ->
    {Slice, Rest} = take(?SLICE, Jids, []),
    render(Template, Rest, [xmpp_accel_nif:fanout_render(Template, Slice) | Acc]).

%% @doc Delivers each member's stanza. Local pids get `Wrap' with the atom
%% `'$stanza'' replaced by the stanza binary and `'$to'' by the member's JID
%% (a tuple such as `{route_prerendered, Ref, '$stanza'}', or `'$stanza''
%% alone for the bare binary), sent from the NIF. Returns the count of
%% messages delivered to live local processes, and the remote members'
%% stanzas grouped per node, for the caller to send in one batch per node.
-spec send(template(), [member()], term()) -> {ok, non_neg_integer(), remote()}.
send(Template, Members, Wrap) when is_list(Members) ->
    send(Template, Members, Wrap, 0, []);
send(_Template, _Members, _Wrap) ->
    erlang:error(badarg).

send(_Template, [], _Wrap, Sent, Remote) ->
    {ok, Sent, group_by_node(lists:append(lists:reverse(Remote)))};
send(Template, Members, Wrap, Sent, Remote) ->
    {Slice, Rest} = take(?SLICE, Members, []),
    {S, Rem} = xmpp_accel_nif:fanout_send(Template, Slice, Wrap),
    send(Template, Rest, Wrap, Sent + S, [Rem | Remote]).

%% @doc As `send/3', but the messages to local sessions go out from a
%% delivery thread of the library, so the caller only spends the time to
%% hand the member list over. Returns at once with `Ref'; when every message
%% is out, the caller gets `{xmpp_accel_fanout_done, Ref, Sent}'. Fan-outs
%% handed over by any process are delivered one after another, each in member
%% order; unlike `send/3', they are not ordered with the messages the caller
%% sends itself in the meantime.
-spec send_async(template(), [member()], term()) -> {ok, reference(), remote()}.
send_async(Template, Members, Wrap) when is_list(Members) ->
    Ref = make_ref(),
    Job = xmpp_accel_nif:fanout_job_new(Template, Wrap, self(), Ref),
    Remote = add_members(Job, Members, []),
    ok = xmpp_accel_nif:fanout_job_start(Job),
    {ok, Ref, group_by_node(Remote)};
send_async(_Template, _Members, _Wrap) ->
    erlang:error(badarg).

add_members(_Job, [], Acc) ->
    lists:append(lists:reverse(Acc));
add_members(Job, Members, Acc) ->
    {Slice, Rest} = take(?SLICE, Members, []),
    add_members(Job, Rest, [xmpp_accel_nif:fanout_job_add(Job, Slice) | Acc]).

%% The first N elements and the rest (the rest is not copied).
take(0, Rest, Acc) -> {lists:reverse(Acc), Rest};
take(_, [], Acc) -> {lists:reverse(Acc), []};
take(N, [X | Rest], Acc) -> take(N - 1, Rest, [X | Acc]).

group_by_node([]) ->
    [];
group_by_node(Remote) ->
    Map = lists:foldl(fun({Pid, _} = R, M) -> maps:update_with(node(Pid), fun(L) -> [R | L] end, [R], M) end,
                      #{}, Remote),
    [{Node, lists:reverse(L)} || {Node, L} <- lists:sort(maps:to_list(Map))].

%%% MUC Light notifications (urn:xmpp:muclight:0, modern syntax)

%% @doc Who is told what when affiliations change from `Old' to `New'
%% (lists of `{BareJid, Affiliation}'): members in both stay, members only
%% in `New' are newcomers (with their new affiliation), members only in
%% `Old' leave.
-spec classify_affiliations([{binary(), atom()}], [{binary(), atom()}]) ->
          #{staying := [binary()], newcomers := [{binary(), atom()}], leaving := [binary()]}.
classify_affiliations(Old, New) ->
    OldMap = maps:from_list(Old),
    NewMap = maps:from_list(New),
    #{staying => [J || {J, _} <- New, maps:is_key(J, OldMap)],
      newcomers => [{J, A} || {J, A} <- New, not maps:is_key(J, OldMap)],
      leaving => [J || {J, _} <- Old, not maps:is_key(J, NewMap)]}.

%% @doc Templates of an affiliation change, as MongooseIM's modern codec
%% writes them. `Attrs': the message attributes (`from' = room JID, `id',
%% `type' = groupchat); `Versions': `{PrevVersion, Version}'; `Changed': the
%% changed affiliations `[{BareJid, Affiliation}]'. Members who stay get the
%% full change with prev-version and version; a newcomer its own item and the
%% version (one template per affiliation, the JID filled per recipient);
%% leaving members only their own `affiliation='none''.
-spec affiliation_change(map(), {binary(), binary()}, [{binary(), atom()}], [atom()]) ->
          #{staying := template(), leaving := template(), newcomers := #{atom() => template()}}.
affiliation_change(Attrs, {PrevVersion, Version}, Changed, NewcomerAffs) ->
    Staying = message(Attrs, [x(?NS_AFFILIATIONS, [kv(<<"prev-version">>, PrevVersion), kv(<<"version">>, Version)
                                                   | [user(J, A) || {J, A} <- Changed]])]),
    Leaving = message(Attrs, [x(?NS_AFFILIATIONS, [user(?RECIPIENT, none)])]),
    Newcomer = fun(Aff) -> message(Attrs, [x(?NS_AFFILIATIONS, [kv(<<"version">>, Version), user(?RECIPIENT, Aff)])]) end,
    #{staying => template(Staying),
      leaving => template(Leaving, ?RECIPIENT),
      newcomers => maps:from_list([{Aff, template(Newcomer(Aff), ?RECIPIENT)} || Aff <- lists:usort(NewcomerAffs)])}.

%% @doc The template of a configuration change: prev-version, version and
%% the changed `{Key, Value}' fields.
-spec config_change(map(), binary(), binary(), [{binary(), binary()}]) -> template().
config_change(Attrs, PrevVersion, Version, Fields) ->
    template(message(Attrs, [x(?NS_CONFIGURATION, [kv(<<"prev-version">>, PrevVersion), kv(<<"version">>, Version)
                                                   | [kv(K, V) || {K, V} <- Fields]])])).

%% @doc The template of a room's destruction: each member is told the room
%% is gone and that its own affiliation is now none.
-spec destroy(map()) -> template().
destroy(Attrs) ->
    template(message(Attrs, [{xmlel, <<"x">>, #{<<"xmlns">> => ?NS_DESTROY}, []},
                             x(?NS_AFFILIATIONS, [user(?RECIPIENT, none)])]),
             ?RECIPIENT).

message(Attrs, Xs) ->
    {xmlel, <<"message">>, Attrs, Xs ++ [{xmlel, <<"body">>, #{}, []}]}.

x(NS, Children) ->
    {xmlel, <<"x">>, #{<<"xmlns">> => NS}, Children}.

kv(K, V) ->
    {xmlel, K, #{}, [{xmlcdata, V, escaped}]}.

user(Jid, Aff) ->
    {xmlel, <<"user">>, #{<<"affiliation">> => atom_to_binary(Aff)}, [{xmlcdata, Jid, escaped}]}.
