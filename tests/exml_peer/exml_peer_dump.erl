%%% @doc Dumps what the loaded `exml' makes of each corpus stanza: the parse
%%% result, and the compact and pretty serialisations of what it parsed.
%%% Run once with the real esl/exml on the code path and once with ours;
%%% exml_peer_compare then compares the two dumps.
-module(exml_peer_dump).
-export([main/1]).

main([Out]) ->
    Stanzas = exml_test_corpus:stanzas(),
    Rows = [row(S) || S <- Stanzas],
    ok = file:write_file(Out, term_to_binary(Rows)),
    io:format("~s: ~b stanzas dumped (exml from ~s)~n", [Out, length(Rows), code:which(exml)]),
    halt(0).

row(S) ->
    case catch exml:parse(S) of
        {ok, El} ->
            {S, {ok, El}, catch exml:to_binary(El), catch iolist_to_binary(exml:to_pretty_iolist(El))};
        Other ->
            {S, Other, none, none}
    end.
