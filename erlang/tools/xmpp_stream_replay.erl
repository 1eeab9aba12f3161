%%% @doc The main job until the sidecar exists: replay a real XMPP stream
%%% through exml_stream in realistic network chunks and report what was parsed.
%%%
%%% Usage (see the Makefile's `run' target):
%%%   erl -noshell -pa ... -s xmpp_stream_replay main [File]
%%% File is either a `.jsonl' corpus (one JSON object per line, the stanza in
%%% "xml", like ../shared/corpus/xep-stanzas.jsonl), whose stanzas are
%%% wrapped in a client stream header, or any file holding a raw XMPP stream.
%%% Without a file: the XEP corpus when present, else built-in samples.
%%% Chunks are 1 to 1,460 bytes (one TCP segment), seeded, so runs compare.
%%% Reads the corpus with exml_test_corpus (erlang/apps/exml/test), which
%%% the Makefile compiles beside this module.
-module(xmpp_stream_replay).

-export([main/0, main/1, replay/2]).

-include_lib("exml/include/exml_stream.hrl").

-define(HEAD, <<"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                "to='example.com' version='1.0'>">>).
-define(ROUNDS, 15).

main() -> main([]).

main(Args) ->
    Code = try run(Args) of
               ok -> 0;
               error -> 1
           catch C:R:S ->
                   io:format(standard_error, "replay failed: ~p:~p~n~p~n", [C, R, S]),
                   2
           end,
    erlang:halt(Code).

run(Args) ->
    {Label, Stream, Note} = input(Args),
    io:format("input: ~ts~n~ts", [Label, Note]),
    Chunks = chunks(Stream, 1460),
    io:format("stream: ~.2f MB in ~b chunks of 1-1460 B~n", [byte_size(Stream) / 1048576, length(Chunks)]),
    {Counts, Error} = replay(Chunks, []),
    report_counts(Counts),
    case Error of
        none ->
            Times = [element(1, timer:tc(fun() -> replay(Chunks, []) end)) || _ <- lists:seq(1, ?ROUNDS)],
            Us = lists:nth(?ROUNDS div 2 + 1, lists:sort(Times)),
            Stanzas = maps:get(stanzas, Counts, 0),
            io:format("time: median of ~b runs ~.2f ms: ~.1f MB/s, ~b stanzas/s~n",
                      [?ROUNDS, Us / 1000, byte_size(Stream) / Us, round(Stanzas * 1.0e6 / max(Us, 1))]),
            ok;
        {Offset, Reason} ->
            io:format("error: ~ts at byte ~b of the stream~n", [Reason, Offset]),
            error
    end.

%% @doc Feeds the chunks to a new parser; counts items by kind; stops at the first error.
-spec replay([binary()], list()) -> {#{atom() | binary() => non_neg_integer()}, none | {non_neg_integer(), binary()}}.
replay(Chunks, Opts) ->
    {ok, P} = exml_stream:new_parser(Opts),
    feed(P, Chunks, 0, #{}).

feed(_P, [], _Off, Counts) -> {Counts, none};
feed(P, [C | Rest], Off, Counts) ->
    case exml_stream:parse(P, C) of
        {ok, P1, Items} -> feed(P1, Rest, Off + byte_size(C), lists:foldl(fun count/2, Counts, Items));
        {error, Reason} -> {Counts, {Off + byte_size(C), Reason}}
    end.

count(#xmlstreamstart{}, C) -> inc(stream_start, C);
count(#xmlstreamend{}, C) -> inc(stream_end, C);
count(#xmlel{name = Name}, C) ->
    Kind = case Name of
               <<"message">> -> message;
               <<"presence">> -> presence;
               <<"iq">> -> iq;
               _ -> other
           end,
    inc(stanzas, inc(Kind, C)).

inc(K, C) -> maps:update_with(K, fun(N) -> N + 1 end, 1, C).

report_counts(C) ->
    G = fun(K) -> maps:get(K, C, 0) end,
    io:format("parsed: ~b stanzas (message ~b, presence ~b, iq ~b, other ~b); stream headers ~b, stream ends ~b~n",
              [G(stanzas), G(message), G(presence), G(iq), G(other), G(stream_start), G(stream_end)]).

input([]) ->
    Corpus = corpus_path(),
    case filelib:is_regular(Corpus) of
        true -> input([Corpus]);
        false ->
            {"built-in samples (the XEP corpus " ++ Corpus ++ " is absent)",
             iolist_to_binary([?HEAD, lists:duplicate(200, samples()), <<"</stream:stream>">>]), ""}
    end;
input([File | _]) when is_atom(File) -> input([atom_to_list(File)]);
input([File | _]) ->
    {ok, Data} = file:read_file(File),
    case filename:extension(File) of
        ".jsonl" -> corpus_stream(File, Data);
        _ -> {File, Data, ""}
    end.

corpus_path() ->
    case os:getenv("XEP_CORPUS") of
        false -> "../shared/corpus/xep-stanzas.jsonl";
        P -> P
    end.

%% Stanzas that are well-formed and free of comments and processing
%% instructions (both errors in a stream, RFC 6120 §11.1) go into the stream.
corpus_stream(File, Data) ->
    Lines = binary:split(Data, <<"\n">>, [global, trim_all]),
    Stanzas = [exml_test_corpus:json_string_field(L, <<"xml">>) || L <- Lines],
    {In, Out} = lists:partition(fun(S) -> element(1, exml:parse(S)) =:= ok andalso
                                              binary:match(S, [<<"<!--">>, <<"<?">>]) =:= nomatch end, Stanzas),
    Note = io_lib:format("~b stanzas; ~b in the stream, ~b left out (comments, processing instructions or not well-formed)~n",
                         [length(Stanzas), length(In), length(Out)]),
    {File, iolist_to_binary([?HEAD, lists:join(<<"\n">>, In), <<"</stream:stream>">>]), Note}.

chunks(Bin, Max) ->
    rand:seed(exsss, {1, 2, 3}),
    cut(Bin, Max, []).

cut(<<>>, _Max, Acc) -> lists:reverse(Acc);
cut(Bin, Max, Acc) ->
    N = min(byte_size(Bin), rand:uniform(Max)),
    <<C:N/binary, R/binary>> = Bin,
    cut(R, Max, [C | Acc]).

samples() ->
    [<<"<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='m1'>"
       "<body>Wherefore art thou, Romeo?</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>">>,
     <<"<presence from='juliet@example.com/balcony'><show>away</show><priority>5</priority></presence>">>,
     <<"<iq type='get' id='r1'><query xmlns='jabber:iq:roster'/></iq>">>].
