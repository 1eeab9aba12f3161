%%% @doc No leaks across millions of calls: the VM's memory and the OS
%%% process's resident set stay flat over a million parse and serialise
%%% calls and hundreds of thousands of stream parsers made and dropped.
-module(exml_memory_tests).

-include_lib("eunit/include/eunit.hrl").

-define(STANZA, <<"<message to='juliet@example.com' type='chat' id='x'><body>Hi &amp; bye &#x2764;</body>"
                  "<active xmlns='http://jabber.org/protocol/chatstates'/></message>">>).

%% Resident set size of this OS process in KiB (Linux), or undefined.
rss_kib() ->
    case file:read_file("/proc/self/status") of
        {ok, S} ->
            case re:run(S, "VmRSS:\\s+(\\d+)", [{capture, all_but_first, binary}]) of
                {match, [K]} -> binary_to_integer(K);
                nomatch -> undefined
            end;
        _ -> undefined
    end.

measure(Fun) ->
    Fun(), %% warm up: buffers and allocators reach their working size
    erlang:garbage_collect(),
    {Vm0, Rss0} = {erlang:memory(total), rss_kib()},
    Fun(),
    erlang:garbage_collect(),
    {Vm1, Rss1} = {erlang:memory(total), rss_kib()},
    {Vm1 - Vm0, case {Rss0, Rss1} of {undefined, _} -> 0; _ -> (Rss1 - Rss0) * 1024 end}.

calls_do_not_leak_test_() ->
    {timeout, 300,
     fun() ->
             Calls = fun() ->
                             loop(500000, fun() ->
                                                  {ok, El} = exml:parse(?STANZA),
                                                  _ = exml:to_binary(El)
                                          end)
                     end,
             {Vm, Rss} = measure(Calls),
             io:format(standard_error, "~n500k calls after 500k warm-up: VM memory ~w B, RSS ~w B~n", [Vm, Rss]),
             ?assert(Vm < 16 * 1024 * 1024),
             ?assert(Rss < 32 * 1024 * 1024)
     end}.

parsers_do_not_leak_test_() ->
    {timeout, 300,
     fun() ->
             Parsers = fun() ->
                               loop(100000, fun() ->
                                                    {ok, P} = exml_stream:new_parser(),
                                                    {ok, _, _} = exml_stream:parse(P, <<"<stream:stream xmlns:stream='s'>", ?STANZA/binary, "<message><body>unfinished">>)
                                            end)
                       end,
             {Vm, Rss} = measure(Parsers),
             io:format(standard_error, "~n100k parsers after 100k warm-up: VM memory ~w B, RSS ~w B~n", [Vm, Rss]),
             ?assert(Vm < 16 * 1024 * 1024),
             ?assert(Rss < 32 * 1024 * 1024)
     end}.

loop(0, _) -> ok;
loop(N, F) -> F(), loop(N - 1, F).
