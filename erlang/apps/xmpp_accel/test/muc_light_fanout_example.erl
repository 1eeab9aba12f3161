%%% @doc Example: the call site that replaces mod_muc_light's per-member
%%% loop (MongooseIM, modern codec, room message case).
%%%
%%% Today, for a room message, mod_muc_light_codec_modern does, per member:
%%%
%%% ```
%%% lists:foreach(fun({{U, S}, _Aff}) ->
%%%                   To = jid:make_noprep({U, S, <<>>}),
%%%                   Packet = #xmlel{name = <<"message">>,
%%%                                   attrs = Attrs#{<<"to">> => jid:to_binary({U, S, <<>>})},
%%%                                   children = Children},
%%%                   HandleFun(RoomJID, To, Packet)   % routed, then serialised by each session
%%%               end, AffUsers)
%%% '''
%%%
%%% With xmpp-accel the stanza is serialised once and each member's session
%%% gets its bytes directly, as `broadcast/4' below does. `Sessions' stands
%%% for the session manager's lookup (in MongooseIM, the local c2s pids of a
%%% bare JID); the sessions must accept `{route_prerendered, From, Bin}' and
%%% write `Bin' to their socket; members with no local session are routed
%%% the usual way (here: returned as `offline'). Remote sessions come back
%%% per node, one batch per node.
-module(muc_light_fanout_example).

-export([broadcast/4]).

%% @doc Sends a room message to all members. `Attrs': `#{from, id, type}';
%% `AffUsers': `[{BareJid, Affiliation}]'; `Sessions': `fun(BareJid) -> [pid()]'.
-spec broadcast(map(), list(), [{binary(), atom()}], fun((binary()) -> [pid()])) ->
          #{sent := non_neg_integer(), offline := [binary()], remote := list()}.
broadcast(Attrs, Children, AffUsers, Sessions) ->
    Template = xmpp_accel_fanout:template({xmlel, <<"message">>, Attrs, Children}),
    {Members, Offline} =
        lists:foldl(fun({Jid, _Aff}, {M, O}) ->
                            case Sessions(Jid) of
                                [] -> {M, [Jid | O]};
                                Pids -> {[{P, Jid} || P <- Pids] ++ M, O}
                            end
                    end, {[], []}, AffUsers),
    From = maps:get(<<"from">>, Attrs),
    {ok, Sent, Remote} = xmpp_accel_fanout:send(Template, Members, {route_prerendered, From, '$stanza'}),
    %% one message per node over distribution (in MongooseIM: to a process
    %% on that node that hands each {Pid, Bin} to its session)
    #{sent => Sent, offline => lists:reverse(Offline), remote => Remote}.
