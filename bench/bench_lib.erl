%%% @doc Helpers shared by the Erlang benchmark modules of `bench/'
%%% (`xml_bench', `fanout_bench'): the entry point's exit codes, failing
%%% with a message, the `BENCH_QUICK' switch, medians and the spread rule
%%% (issue 14: where a figure's spread across rounds exceeds 20 %, run more
%%% rounds and report the median of all). Each `run.sh' compiles this
%%% module next to its benchmark.
%%% @end
-module(bench_lib).

-export([main/2, fail/2, quick/0, median/1, spread_pct/1, noisy/1, extra_rounds/1]).

%% @doc Runs `Fun()' and halts the VM: exit code 0 when it returns, 2 after
%% `fail/2' (its message on stderr, prefixed by `Name'), 1 on a crash.
-spec main(string(), fun(() -> term())) -> no_return().
main(Name, Fun) ->
    Code = try Fun() of
               _ -> 0
           catch
               throw:{bench_error, Fmt, FArgs} ->
                   io:format(standard_error, Name ++ ": " ++ Fmt ++ "~n", FArgs),
                   2;
               Class:Reason:Stack ->
                   io:format(standard_error, Name ++ ": ~p:~tp~n~tp~n",
                             [Class, Reason, Stack]),
                   1
           end,
    erlang:halt(Code).

%% @doc Stops the benchmark with a message (`io:format/2' format and args).
-spec fail(string(), [term()]) -> no_return().
fail(Fmt, Args) -> throw({bench_error, Fmt, Args}).

%% @doc Whether `BENCH_QUICK' asks for a smoke run (set, not empty, not "0").
-spec quick() -> boolean().
quick() ->
    case os:getenv("BENCH_QUICK") of
        false -> false;
        "" -> false;
        "0" -> false;
        _ -> true
    end.

%% @doc The median of a non-empty list of numbers.
-spec median([number()]) -> number().
median(L) ->
    S = lists:sort(L),
    N = length(S),
    case N rem 2 of
        1 -> lists:nth(N div 2 + 1, S);
        0 -> (lists:nth(N div 2, S) + lists:nth(N div 2 + 1, S)) / 2
    end.

%% @doc The spread of a non-empty list of positive numbers, as the benches
%% print it: `100 * (max - min) / median', in %.
-spec spread_pct([number()]) -> float().
spread_pct(L) ->
    Med = median(L),
    case Med == 0 of
        true -> 0.0;
        false -> 100 * (lists:max(L) - lists:min(L)) / Med
    end.

%% @doc Whether figures of these rounds are too scattered for their
%% median to be trusted: a spread over 20 %.
-spec noisy([number()]) -> boolean().
noisy(L) -> length(L) >= 2 andalso spread_pct(L) > 20.

%% @doc How many rounds to add to `Rounds' timed rounds whose spread is
%% over 20 %: twice as many again, once (so the median is of three times
%% the rounds). A smoke run (`BENCH_QUICK') adds none.
-spec extra_rounds(pos_integer()) -> non_neg_integer().
extra_rounds(Rounds) ->
    case quick() of
        true -> 0;
        false -> 2 * Rounds
    end.
