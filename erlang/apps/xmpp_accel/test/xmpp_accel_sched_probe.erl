%%% @doc Test support: is a normal scheduler held too long? Runs a fun in a
%%% fresh process under `erlang:system_monitor/2' with `{long_schedule, 5}'
%%% and returns the reports about that process (each a list such as
%%% `[{timeout, Ms}, {in, MFA}, {out, MFA}]'); an empty list means the
%%% process was never scheduled in for 5 ms or more. Used by the scheduler
%%% tests of every app of the umbrella.
%%% @end
-module(xmpp_accel_sched_probe).

-export([long_schedules/1, long_schedules/2, quiet/2, loop_reports/4]).

-define(LIMIT_MS, 5).

%% @doc `long_schedules(Fun, [])'.
-spec long_schedules(fun(() -> term())) -> [list()].
long_schedules(Fun) ->
    long_schedules(Fun, []).

%% @doc Runs `Fun()' in a process spawned with `SpawnOpts' (e.g. a
%% `min_heap_size' large enough that no garbage collection, a VM pause and
%% not a NIF's, lands inside the measured calls) and returns the
%% `long_schedule' reports about it. Waits up to 120 s for `Fun'.
-spec long_schedules(fun(() -> term()), [term()]) -> [list()].
long_schedules(Fun, SpawnOpts) ->
    Self = self(),
    Pid = spawn_opt(fun() ->
                            receive go -> ok end,
                            _ = Fun(),
                            Self ! {done, self()},
                            receive stop -> ok end
                    end, SpawnOpts),
    erlang:system_monitor(self(), [{long_schedule, ?LIMIT_MS}]),
    Pid ! go,
    receive {done, Pid} -> ok after 120000 -> error(timeout) end,
    erlang:system_monitor(undefined),
    Pid ! stop,
    collect(Pid).

collect(Pid) ->
    receive
        {monitor, Pid, long_schedule, Info} -> [Info | collect(Pid)];
        {monitor, _, long_schedule, _} -> collect(Pid)
    after 100 -> []
    end.

%% @doc Calls `Step' in a loop (`S1 = Step(S0)', ...) for `Ms'
%% milliseconds in a fresh process, starting from `Init()' (run in that
%% process before the watch begins), watched by `erlang:system_monitor/2'
%% with `{long_schedule, LimitMs}'; returns the reports about that process.
%% A process that calls NIFs in a loop is scheduled out after about 1 ms of
%% work only if the NIFs report the time they use, as Erlang code does
%% through reductions: this finds those that do not.
-spec loop_reports(fun(() -> S), fun((S) -> S), pos_integer(), pos_integer()) -> [list()].
loop_reports(Init, Step, Ms, LimitMs) ->
    Self = self(),
    Pid = spawn(fun() ->
                        S0 = Init(),
                        Self ! {ready, self()},
                        receive go -> ok end,
                        Deadline = erlang:monotonic_time(millisecond) + Ms,
                        _ = step_until(Step, S0, Deadline),
                        Self ! {done, self()},
                        receive stop -> ok end
                end),
    receive {ready, Pid} -> ok after 120000 -> error(timeout) end,
    erlang:system_monitor(self(), [{long_schedule, LimitMs}]),
    Pid ! go,
    receive {done, Pid} -> ok after Ms + 120000 -> error(timeout) end,
    erlang:system_monitor(undefined),
    Pid ! stop,
    collect(Pid).

step_until(Step, S, Deadline) ->
    case erlang:monotonic_time(millisecond) >= Deadline of
        true -> S;
        false -> step_until(Step, Step(S), Deadline)
    end.

%% @doc Runs `Probe()' (which returns reports, e.g. from `long_schedules/2')
%% up to `Attempts' times until it returns `[]'; returns `[]' or the last
%% attempt's reports. A report can also come from the OS taking the CPU away
%% on a busy machine: a NIF that blocks fails every attempt, noise does not.
-spec quiet(fun(() -> [list()]), pos_integer()) -> [list()].
quiet(Probe, Attempts) ->
    case Probe() of
        [] -> [];
        Reports when Attempts =< 1 -> Reports;
        _ -> quiet(Probe, Attempts - 1)
    end.
