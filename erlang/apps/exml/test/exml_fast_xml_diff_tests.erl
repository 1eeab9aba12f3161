%%% @doc Differential tests: our exml modules against Debian's real fast_xml
%%% (package erlang-p1-xml: fxml_stream, expat underneath), on the XEP
%%% example corpus and the project's samples. Both must accept the same
%%% stanzas and build the same trees (attributes compared as sorted lists,
%%% text as binaries); streams cut at random points must give the same
%%% stanzas. Skipped, loudly, when fast_xml is not installed. The real
%%% fast_xml runs in a peer VM (reference_fast_xml): our own fast_xml
%%% drop-in has the same module names.
-module(exml_fast_xml_diff_tests).

-include_lib("eunit/include/eunit.hrl").
-include("exml_stream.hrl").

diff_test_() ->
    case reference_fast_xml:start() of
        {skip, Why} ->
            io:format(standard_error, "~n*** ~s: differential tests skipped ***~n", [Why]),
            [];
        {ok, Peer} ->
            {setup, fun() -> Peer end, fun reference_fast_xml:stop/1,
             fun(P) ->
                     [{"whole stanzas: same verdict and same tree", {timeout, 300, fun() -> whole_stanzas(P) end}},
                      {"stream cut at random points: same stanzas", {timeout, 300, fun() -> chunked_stream(P) end}},
                      {"malformed input: both reject", {timeout, 60, fun() -> malformed(P) end}},
                      {"restricted XML: we reject what fast_xml lets through", {timeout, 60, fun() -> restricted_xml(P) end}}]
             end}
    end.

%% exml tree -> fast_xml tree shape
to_fxml(#xmlel{name = N, attrs = A, children = C}) ->
    {xmlel, N, lists:sort(maps:to_list(A)), merge_text([to_fxml(X) || X <- C])};
to_fxml(#xmlcdata{content = T}) ->
    {xmlcdata, iolist_to_binary(T)}.

%% exml (and our exml drop-in) has no child for white space alone between
%% markup; fast_xml keeps it as text: drop it from fast_xml's trees
normalise({xmlstreamstart, N, A}) -> {start, N, lists:sort(A)};
normalise({xmlstreamend, N}) -> {'end', N};
normalise({xmlstreamelement, El}) -> normalise(El);
normalise({xmlstreamerror, E}) -> {error, E};
normalise({xmlel, N, A, C}) ->
    {xmlel, N, lists:sort(A), [X || X <- merge_text([normalise(X) || X <- C]), not blank(X)]};
normalise({xmlcdata, T}) ->
    {xmlcdata, T}.

blank({xmlcdata, T}) -> re:run(T, "^[ \\t\\r\\n]*$") =/= nomatch;
blank(_) -> false.

%% expat may deliver text in several pieces: compare joined runs
merge_text([{xmlcdata, A}, {xmlcdata, B} | R]) -> merge_text([{xmlcdata, <<A/binary, B/binary>>} | R]);
merge_text([X | R]) -> [X | merge_text(R)];
merge_text([]) -> [].

fxml_parse(P, Bin) ->
    case reference_fast_xml:parse_element(P, Bin) of
        {error, _} = E -> E;
        El -> {ok, normalise(El)}
    end.

whole_stanzas(P) ->
    Stanzas = exml_test_corpus:stanzas(),
    Results = [{S, exml:parse(S), fxml_parse(P, S)} || S <- Stanzas],
    Disagree = [{S, Ours, Theirs} || {S, Ours, Theirs} <- Results,
                                     not same(Ours, Theirs)],
    Accepted = length([ok || {_, {ok, _}, {ok, _}} <- Results]),
    io:format(standard_error, "~ndifferential: ~b stanzas, ~b accepted by both, ~b disagreements~n",
              [length(Stanzas), Accepted, length(Disagree)]),
    [io:format(standard_error, "  ~ts~n    ours: ~p~n    fast_xml: ~p~n", [S, O, T])
     || {S, O, T} <- lists:sublist(Disagree, 5)],
    ?assert(Accepted > length(Stanzas) div 2),
    ?assertEqual([], [S || {S, _, _} <- Disagree]).

same({ok, Ours}, {ok, Theirs}) -> to_fxml(Ours) =:= Theirs;
same({error, _}, {error, _}) -> true;
same(_, _) -> false.

-define(STREAM_HEAD, <<"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                       "to='example.com' version='1.0'>">>).

chunked_stream(P) ->
    %% comments and processing instructions are errors in our streams
    %% (RFC 6120 §11.1) and accepted by fast_xml: leave those stanzas out here
    Good = [S || S <- exml_test_corpus:stanzas(), element(1, exml:parse(S)) =:= ok,
                 binary:match(S, [<<"<!--">>, <<"<?">>]) =:= nomatch],
    %% fast_xml's stream parser rewrites prefixed element names (p:x with
    %% xmlns:p=U becomes x with xmlns=U); exml, like us, keeps names as
    %% written. Compare fast_xml on the stanzas without prefixed elements.
    {ok, Prefixed} = re:compile("<[^/!?\\s>:]+:"),
    Unprefixed = [S || S <- Good, re:run(S, Prefixed) =:= nomatch],
    rand:seed(exsss, {7, 11, 13}),
    lists:foreach(
      fun(Max) ->
              %% all stanzas: the stream gives what the whole-element parse gives
              Ours = ours_stream(cut(stream(Good), Max)),
              Whole = [{start, <<"stream:stream">>, head_attrs()}]
                  ++ [begin {ok, E} = exml:parse(S), to_fxml(E) end || S <- Good]
                  ++ [{'end', <<"stream:stream">>}],
              ?assertEqual(length(Whole), length(Ours)),
              lists:foreach(fun({O, W}) -> ?assertEqual(W, O) end, lists:zip(Ours, Whole)),
              %% against fast_xml, same cut points
              Chunks = cut(stream(Unprefixed), Max),
              Ours2 = ours_stream(Chunks),
              Theirs = [normalise(E) || E <- reference_fast_xml:stream_events(P, Chunks), element(1, E) =/= xmlstreamcdata],
              ?assertEqual(length(Unprefixed) + 2, length(Ours2)),
              ?assertEqual(length(Theirs), length(Ours2)),
              %% fast_xml's stream parser also drops an xmlns equal to the one in
              %% scope (the stream's jabber:client included): compare modulo that
              lists:foreach(fun({O, T}) -> ?assertEqual(drop_redundant_ns(T), drop_redundant_ns(O)) end,
                            lists:zip(Ours2, Theirs))
      end, [7, 1460, 16384]).

drop_redundant_ns(El) -> drop_redundant_ns(El, <<"jabber:client">>).

drop_redundant_ns({xmlel, N, A, C}, Scope) ->
    Ns = proplists:get_value(<<"xmlns">>, A, Scope),
    A1 = case Ns =:= Scope of
             true -> lists:keydelete(<<"xmlns">>, 1, A);
             false -> A
         end,
    {xmlel, N, A1, [drop_redundant_ns(X, Ns) || X <- C]};
drop_redundant_ns(Other, _) -> Other.

stream(Stanzas) ->
    iolist_to_binary([?STREAM_HEAD, Stanzas, <<"</stream:stream>">>]).

head_attrs() ->
    lists:sort([{<<"xmlns">>, <<"jabber:client">>},
                {<<"xmlns:stream">>, <<"http://etherx.jabber.org/streams">>},
                {<<"to">>, <<"example.com">>}, {<<"version">>, <<"1.0">>}]).

cut(<<>>, _Max) -> [];
cut(Bin, Max) ->
    N = min(byte_size(Bin), rand:uniform(Max)),
    <<C:N/binary, R/binary>> = Bin,
    [C | cut(R, Max)].

ours_stream(Chunks) ->
    {ok, P} = exml_stream:new_parser(),
    {_, Evs} = lists:foldl(fun(C, {P0, Acc}) ->
                                   {ok, P1, E} = exml_stream:parse(P0, C),
                                   {P1, lists:reverse(E, Acc)}
                           end, {P, []}, Chunks),
    [ours_event(E) || E <- lists:reverse(Evs)].

ours_event(#xmlstreamstart{name = N, attrs = A}) -> {start, N, lists:sort(maps:to_list(A))};
ours_event(#xmlstreamend{name = N}) -> {'end', N};
ours_event(#xmlel{} = El) -> to_fxml(El).

malformed(P) ->
    Bad = [<<"<a><b></a>">>, <<"<a x='1' x='2'/>">>, <<"<a>&foo;</a>">>, <<"<a>", 16#ff, "</a>">>,
           <<"<a>&#0;</a>">>, <<"<a b=c/>">>, <<"<a>">>, <<"<a>\x01</a>">>, <<"</a>">>,
           <<"<a><!DOCTYPE x></a>">>, <<"<a b='<'/>">>],
    lists:foreach(fun(B) ->
                          ?assertMatch({{error, _}, B}, {exml:parse(B), B}),
                          ?assertMatch({{error, _}, B}, {fxml_parse(P, B), B})
                  end, Bad).

%% RFC 6120 §11.1: no comments, processing instructions or DTDs in a stream.
%% fast_xml passes comments and processing instructions over; we refuse them.
restricted_xml(P) ->
    Head = <<"<stream:stream xmlns:stream='http://etherx.jabber.org/streams'>">>,
    lists:foreach(
      fun(Bad) ->
              {ok, Parser} = exml_stream:new_parser(),
              ?assertMatch({error, _}, exml_stream:parse(Parser, <<Head/binary, Bad/binary>>)),
              ?assertEqual([], [E || {xmlstreamerror, _} = E <- reference_fast_xml:stream_events(P, [Head, Bad])])
      end, [<<"<!-- c --><message/>">>, <<"<?pi x?><message/>">>, <<"<message><!-- c --></message>">>]).
