%%% @doc Compares two dumps of exml_peer_dump (the real esl/exml, then ours).
%%% For every stanza both accept: the same tree, the same compact bytes, the
%%% same pretty bytes, except where our documented differences apply
%%% (whitespace characters written as references in attribute values and
%%% carriage returns in text, `]]>' split in CDATA). Stanzas only one side
%%% accepts are counted by our error reason. Prints `N passed, N failed'.
-module(exml_peer_compare).
-export([main/1]).

main([PeerFile, OursFile]) ->
    {ok, P} = file:read_file(PeerFile),
    {ok, O} = file:read_file(OursFile),
    Pairs = lists:zip(binary_to_term(P), binary_to_term(O)),
    Results = [compare(Peer, Ours) || {Peer, Ours} <- Pairs],
    Count = fun(K) -> length([x || {R, _} <- Results, R =:= K]) end,
    io:format("stanzas: ~b; same tree and bytes: ~b; same tree, bytes differ only as documented: ~b~n",
              [length(Results), Count(same), Count(documented)]),
    io:format("same tree but for whitespace in attribute values read as spaces (XML 1.0 3.3.3): ~b~n",
              [Count(attr_whitespace)]),
    Rejected = [Why || {ours_rejects, Why} <- Results],
    io:format("rejected by us only: ~b ~p~n", [length(Rejected), tally(Rejected)]),
    io:format("rejected by exml only: ~b~n", [Count(peer_rejects)]),
    io:format("rejected by both: ~b~n", [Count(both_reject)]),
    Bad = [D || {bad, D} <- Results],
    [io:format("DIFFERENT: ~p~n", [D]) || D <- lists:sublist(Bad, 5)],
    io:format("~b passed, ~b failed~n", [length(Results) - length(Bad), length(Bad)]),
    halt(case Bad of [] -> 0; _ -> 1 end).

compare({S, {ok, T}, B, Pr}, {S, {ok, T}, B, Pr}) -> {same, S};
compare({S, {ok, T}, B1, P1}, {S, {ok, T}, B2, P2}) ->
    case documented(B1, B2) andalso documented(P1, P2) of
        true -> {documented, S};
        false -> {bad, {S, B1, B2}}
    end;
compare({S, {ok, T1}, _, _}, {S, {ok, T2}, _, _}) ->
    %% XML 1.0 §3.3.3: a literal tab, newline or carriage return in an
    %% attribute value is read as a space; exml keeps them as they are
    case normalise_attrs(T1) =:= T2 of
        true -> {attr_whitespace, S};
        false -> {bad, {S, T1, T2}}
    end;
compare({S, {ok, _}, _, _}, {S, {error, Why}, _, _}) -> {ours_rejects, reason(Why)};
compare({S, _, _, _}, {S, {ok, _}, _, _}) -> {peer_rejects, S};
compare({S, _, _, _}, {S, _, _, _}) -> {both_reject, S}.

normalise_attrs({xmlel, N, A, C}) ->
    A1 = maps:map(fun(_, V) -> re:replace(V, "\r\n|[\t\n\r]", " ", [global, {return, binary}]) end, A),
    {xmlel, N, A1, [normalise_attrs(X) || X <- C]};
normalise_attrs(Other) -> Other.

%% Our bytes differ from exml's only by our documented escapes.
documented(Peer, Ours) ->
    Undo = [{<<"&#x9;">>, <<"\t">>}, {<<"&#xA;">>, <<"\n">>}, {<<"&#xD;">>, <<"\r">>},
            {<<"]]]]><![CDATA[>">>, <<"]]>">>}],
    lists:foldl(fun({A, B}, Acc) -> binary:replace(Acc, A, B, [global]) end, Ours, Undo) =:= Peer.

reason(Why) when is_binary(Why) ->
    case binary:split(Why, <<":">>) of [Kind | _] -> Kind; _ -> Why end;
reason(Why) -> Why.

tally(L) -> lists:foldl(fun(K, M) -> maps:update_with(K, fun(N) -> N + 1 end, 1, M) end, #{}, L).
