%%% @doc MUC Light broadcast fan-out benchmark for `make bench-fanout'.
%%%
%%% One room message to N members, three implementations, in one VM, on the
%%% same stanza and the same receiver processes:
%%%
%%%   today     the pure-Erlang loop of mod_muc_light: per member, the element
%%%             with `to' added to its attribute map, `exml:to_binary/1',
%%%             `Pid ! {route_prerendered, Ref, Bin}'. (In MongooseIM each
%%%             receiving session serialises; here it is counted in the loop.)
%%%   template  pure Erlang, serialised once: `exml:to_binary/1' of the element
%%%             with a placeholder `to', `binary:split/2' around the
%%%             placeholder, then per member `<<Before, Jid, After>>' and send.
%%%   ours      `xmpp_accel_fanout:template/1' once, then
%%%             `xmpp_accel_fanout:send(Template, Members,
%%%             {route_prerendered, Ref, '$stanza'})' (sent from the NIF).
%%%
%%% `bench/fanout/run.sh' compiles this module into a temp dir and runs
%%% `erl -noshell -run fanout_bench main LibDir'. BENCH_QUICK=1 shrinks the
%%% rounds. No figure is asserted: this module measures; it stops only when
%%% the implementations disagree on the bytes they deliver, or lose messages.
-module(fanout_bench).

-export([main/1]).

-import(bench_lib, [fail/2, quick/0, median/1]).

-define(ROOM, <<"room@muclight.example.com">>).
-define(FROM, <<"room@muclight.example.com/alice@example.com">>).
-define(PLACEHOLDER, <<"fanout-bench-to-placeholder-5f1c9e">>).
-define(IMPLS, [today, template, ours, ours_async]).

%%====================================================================
%% Entry point
%%====================================================================

main(Args) ->
    bench_lib:main("fanout_bench", fun() -> run(Args) end).

%% {Members, TimedRounds, WarmUpRounds} per room size
plan(false) ->
    [{10, 31, 1}, {100, 31, 1}, {1000, 31, 1}, {10000, 31, 1}, {100000, 7, 1}];
plan(true) ->
    [{10, 7, 1}, {100, 7, 1}, {1000, 7, 1}, {10000, 7, 1}, {100000, 1, 0}].

run([LibDir]) ->
    check_code(LibDir),
    %% acks from up to 100,000 receivers arrive at this process at once
    process_flag(message_queue_data, off_heap),
    ok = io:setopts(standard_io, [{encoding, unicode}]),
    ok = io:setopts(standard_error, [{encoding, unicode}]),
    Quick = quick(),
    El = stanza(),
    Sample = exml:to_binary(with_to(El, jid(1))),
    io:format("bench-fanout: OTP ~s, ~b schedulers online, ~s~n",
              [erlang:system_info(otp_release), erlang:system_info(schedulers_online),
               case Quick of true -> "BENCH_QUICK: smoke run"; false -> "full run" end]),
    io:format("stanza for ~s (~b bytes):~n  ~ts~n", [jid(1), byte_size(Sample), Sample]),
    Specials = spawn_specials(),
    Results = [bench_size(El, Specials, Size) || Size <- plan(Quick)],
    [exit(P, kill) || {P, _} <- Specials],
    report(Results).

%% Every module under test must come from LibDir (our build).
check_code(LibDir) ->
    Lib = filename:absname(LibDir),
    [case code:ensure_loaded(M) of
         {module, M} ->
             Where = filename:absname(code:which(M)),
             lists:prefix(Lib ++ "/", Where) orelse
                 fail("~s was loaded from ~s, not from our build in ~s", [M, Where, Lib]);
         Err ->
             fail("cannot load ~s (~p); run `make build' first", [M, Err])
     end || M <- [exml, xmpp_accel_nif, xmpp_accel_fanout]],
    ok.

%%====================================================================
%% Data
%%====================================================================

%% The room's outgoing message as mod_muc_light routes it: from the room
%% with the sender as resource, a ~170-byte body that needs escaping
%% (& < > ' " and UTF-8), and the XEP-0359 stanza-id the room assigned.
stanza() ->
    Body = unicode:characters_to_binary(
             "Moved the retro to 15:30 \x{2014} bring Q3 numbers & the <draft> roadmap; "
             "Bob's notes are in \"shared/plans\". Reply if 15:30 > 16:00 for you \x{1F642}"),
    {xmlel, <<"message">>,
     #{<<"from">> => ?FROM,
       <<"id">> => <<"a1b2c3d4-e5f6-4a7b-8c9d-0e1f2a3b4c5d">>,
       <<"type">> => <<"groupchat">>},
     [{xmlel, <<"body">>, #{}, [{xmlcdata, Body, escaped}]},
      {xmlel, <<"stanza-id">>,
       #{<<"xmlns">> => <<"urn:xmpp:sid:0">>,
         <<"id">> => <<"BGCLZ4QC2QG1">>,
         <<"by">> => ?ROOM}, []}]}.

with_to({xmlel, Name, Attrs, Children}, Jid) ->
    {xmlel, Name, Attrs#{<<"to">> => Jid}, Children}.

jid(I) ->
    iolist_to_binary(["user", integer_to_list(I), "@example.com"]).

%% JIDs that need escaping in an attribute (not valid bare JIDs under
%% RFC 7622, but the bytes must still agree), used only by the check.
special_jids() ->
    [<<"o'brien@example.com">>, <<"a&b@example.com">>, <<"x<y>z@example.com">>,
     <<"say\"hi\"@example.com">>, <<"mixed'&\"<>@example.com">>,
     unicode:characters_to_binary("j\x{fc}rgen@b\x{fc}cher.example")].

%%====================================================================
%% Receivers
%%====================================================================

%% A member's session: acks each room message to the collector. Messages
%% whose Ref is {check, R} are answered with the stanza itself.
receiver(Coll) ->
    receive
        {route_prerendered, {check, R}, Bin} ->
            Coll ! {got, R, self(), Bin},
            receiver(Coll);
        {route_prerendered, Ref, _Bin} ->
            Coll ! {ack, Ref},
            receiver(Coll);
        {gc, R} ->
            erlang:garbage_collect(),
            Coll ! {gc_done, R},
            receiver(Coll);
        stop ->
            ok
    end.

spawn_receivers(Jids) ->
    Coll = self(),
    [{spawn(fun() -> receiver(Coll) end), J} || J <- Jids].

spawn_specials() ->
    spawn_receivers(special_jids()).

stop_receivers(Members) ->
    [exit(P, kill) || {P, _} <- Members],
    ok.

%% Every receiver collects its garbage (the delivered binaries are freed)
%% before the next round, so each round starts from the same state.
gc_receivers(Members) ->
    R = make_ref(),
    [P ! {gc, R} || {P, _} <- Members],
    wait_n(gc_done, R, length(Members)).

wait_n(_Tag, _R, 0) ->
    ok;
wait_n(Tag, R, K) ->
    receive
        {Tag, R} -> wait_n(Tag, R, K - 1)
    after 60000 ->
            fail("~b receivers did not answer ~s within 60 s", [K, Tag])
    end.

%%====================================================================
%% The three implementations (timed code)
%%====================================================================

%% Each returns the number of messages sent to local pids.
fanout(today, El, Members, Ref) ->
    {xmlel, Name, Attrs, Children} = El,
    today(Name, Attrs, Children, Members, Ref, 0);
fanout(template, El, Members, Ref) ->
    Bin = exml:to_binary(with_to(El, ?PLACEHOLDER)),
    [Before, After] = binary:split(Bin, ?PLACEHOLDER),
    Special = binary:compile_pattern([<<"&">>, <<"<">>, <<">">>, <<"'">>,
                                      <<"\t">>, <<"\n">>, <<"\r">>]),
    template(Before, After, Special, El, Members, Ref, 0);
fanout(ours, El, Members, Ref) ->
    T = xmpp_accel_fanout:template(El),
    {ok, Sent, []} = xmpp_accel_fanout:send(T, Members, {route_prerendered, Ref, '$stanza'}),
    Sent;
fanout(ours_async, El, Members, Ref) ->
    %% the sender hands the member list over; a delivery thread sends
    T = xmpp_accel_fanout:template(El),
    {ok, _Job, []} = xmpp_accel_fanout:send_async(T, Members, {route_prerendered, Ref, '$stanza'}),
    length(Members).

today(Name, Attrs, Children, [{Pid, Jid} | T], Ref, K) ->
    Bin = exml:to_binary({xmlel, Name, Attrs#{<<"to">> => Jid}, Children}),
    Pid ! {route_prerendered, Ref, Bin},
    today(Name, Attrs, Children, T, Ref, K + 1);
today(_Name, _Attrs, _Children, [], _Ref, K) ->
    K.

template(Before, After, Special, El, [{Pid, Jid} | T], Ref, K) ->
    Bin = case binary:match(Jid, Special) of
              nomatch -> <<Before/binary, Jid/binary, After/binary>>;
              _ -> splice_escaped(Before, After, El, Jid)
          end,
    Pid ! {route_prerendered, Ref, Bin},
    template(Before, After, Special, El, T, Ref, K + 1);
template(_Before, _After, _Special, _El, [], _Ref, K) ->
    K.

%% The attribute escaping of exml:to_binary/1 (our exml): `& < >' as
%% entities, tab/newline/CR as character references, values in single
%% quotes unless they hold `''. Then exml switches to double quotes (and
%% writes `"' as `&quot;'), which changes the bytes around the slot: for
%% such a JID this falls back to serialising the whole element. Valid bare
%% JIDs (RFC 7622) hold none of these characters, so the timed rounds never
%% come here; the correctness check does.
splice_escaped(Before, After, El, Jid) ->
    case binary:match(Jid, <<"'">>) of
        nomatch ->
            Esc = << <<(attr_esc(C))/binary>> || <<C>> <= Jid >>,
            <<Before/binary, Esc/binary, After/binary>>;
        _ ->
            exml:to_binary(with_to(El, Jid))
    end.

attr_esc($&) -> <<"&amp;">>;
attr_esc($<) -> <<"&lt;">>;
attr_esc($>) -> <<"&gt;">>;
attr_esc($\t) -> <<"&#x9;">>;
attr_esc($\n) -> <<"&#xA;">>;
attr_esc($\r) -> <<"&#xD;">>;
attr_esc(C) -> <<C>>.

%%====================================================================
%% Correctness: the bytes each implementation delivers
%%====================================================================

%% A few members of the room (first, middle, last) and the special JIDs get
%% the stanza from each implementation; template's and ours must be
%% byte-identical to today's, and today's must be exml:to_binary/1 of the
%% element with `to'.
check(El, Members, Specials) ->
    N = length(Members),
    Picked = [lists:nth(I, Members) || I <- lists:usort([1, N div 2 + 1, N])],
    Probe = Picked ++ Specials,
    Got = maps:from_list([{I, deliver_check(I, El, Probe)} || I <- ?IMPLS]),
    Today = maps:get(today, Got),
    [begin
         Want = exml:to_binary(with_to(El, Jid)),
         maps:get(Pid, Today) =:= Want orelse
             mismatch(N, today, Jid, Want, maps:get(Pid, Today)),
         [maps:get(Pid, maps:get(I, Got)) =:= Want orelse
              mismatch(N, I, Jid, Want, maps:get(Pid, maps:get(I, Got)))
          || I <- [template, ours, ours_async]]
     end || {Pid, Jid} <- Probe],
    length(Probe).

deliver_check(Impl, El, Probe) ->
    R = make_ref(),
    Sent = fanout(Impl, El, Probe, {check, R}),
    Sent =:= length(Probe) orelse
        fail("check: ~s reports ~b messages sent to ~b local members",
             [Impl, Sent, length(Probe)]),
    collect_got(R, length(Probe), #{}).

collect_got(_R, 0, Acc) ->
    Acc;
collect_got(R, K, Acc) ->
    receive
        {got, R, Pid, Bin} ->
            maps:is_key(Pid, Acc) andalso fail("check: a member got two messages", []),
            collect_got(R, K - 1, Acc#{Pid => Bin})
    after 10000 ->
            fail("check: ~b members got nothing within 10 s", [K])
    end.

mismatch(N, Impl, Jid, Want, Got) ->
    At = binary:longest_common_prefix([Want, Got]),
    fail("CORRECTNESS CHECK FAILED (N = ~b): ~s delivered different bytes to ~ts "
         "(first difference at byte ~b)~n"
         "  expected (exml:to_binary/1 of the element with to):~n    ~ts~n"
         "  got:~n    ~ts~n"
         "No timing was done for this room size; fix the implementation first.",
         [N, Impl, Jid, At, Want, Got]).

%%====================================================================
%% Timing
%%====================================================================

bench_size(El, Specials, {N, Rounds, WarmUp}) ->
    T0 = erlang:monotonic_time(millisecond),
    Members = spawn_receivers([jid(I) || I <- lists:seq(1, N)]),
    Probed = check(El, Members, Specials),
    [timed_round(I, El, Members) || _ <- lists:seq(1, WarmUp), I <- ?IMPLS],
    %% interleaved, the starting implementation rotating: drift and noise of
    %% the machine fall on all three alike
    Timed = [timed_round(I, El, Members)
             || R <- lists:seq(0, Rounds - 1), I <- rotate(R rem 3, ?IMPLS)],
    stop_receivers(Members),
    Res = #{n => N, rounds => Rounds, probed => Probed,
            impls => maps:from_list(
                       [{I, summarise([S || {I2, S} <- Timed, I2 =:= I])} || I <- ?IMPLS]),
            wall_s => (erlang:monotonic_time(millisecond) - T0) / 1000},
    table(Res),
    Res.

rotate(K, L) ->
    {A, B} = lists:split(K, L),
    B ++ A.

%% One timed fan-out. The sender is a fresh process: the member list and the
%% element are copied into it at spawn, then moved to the old heap
%% generation (a full sweep, then a minor collection) so that the timed call
%% starts from the same heap each round. Sender time: wall time of the
%% fan-out call in the sender. Delivery time: from just before the call
%% until this process (the collector) has the last member's ack.
timed_round(Impl, El, Members) ->
    N = length(Members),
    Ref = make_ref(),
    {Pid, MRef} =
        spawn_monitor(fun() ->
                              erlang:garbage_collect(),
                              erlang:garbage_collect(self(), [{type, minor}]),
                              T0 = erlang:monotonic_time(nanosecond),
                              Sent = fanout(Impl, El, Members, Ref),
                              T1 = erlang:monotonic_time(nanosecond),
                              exit({done, T0, T1, Sent})
                      end),
    {T0, T1, Sent, TLast} = collect(Ref, MRef, Pid, N, undefined, undefined),
    Sent =:= N orelse fail("~s: ~b messages sent to ~b members", [Impl, Sent, N]),
    gc_receivers(Members),
    {Impl, {T1 - T0, TLast - T0}}.

%% Acks and the sender's exit, in any order.
collect(_Ref, _MRef, _Pid, Left, Done, TLast) when Left =:= 0, Done =/= undefined ->
    {T0, T1, Sent} = Done,
    {T0, T1, Sent, TLast};
collect(Ref, MRef, Pid, Left, Done, TLast) ->
    receive
        {ack, Ref} when Left =:= 1 ->
            collect(Ref, MRef, Pid, 0, Done, erlang:monotonic_time(nanosecond));
        {ack, Ref} ->
            collect(Ref, MRef, Pid, Left - 1, Done, TLast);
        {'DOWN', MRef, process, Pid, {done, T0, T1, Sent}} ->
            collect(Ref, MRef, Pid, Left, {T0, T1, Sent}, TLast);
        {'DOWN', MRef, process, Pid, Other} ->
            fail("sender crashed: ~tp", [Other])
    after 60000 ->
            fail("~b members still without the message after 60 s", [Left])
    end.

summarise(Pairs) ->
    Sender = [S || {S, _} <- Pairs],
    Delivery = [D || {_, D} <- Pairs],
    #{sender_med => median(Sender), sender_p99 => p99(Sender),
      delivery_med => median(Delivery), delivery_p99 => p99(Delivery)}.

%% nearest rank: with 31 or fewer rounds this is the slowest round
p99(L) ->
    S = lists:sort(L),
    lists:nth(max(1, ceil(0.99 * length(S))), S).

%%====================================================================
%% Report
%%====================================================================

table(#{n := N, rounds := Rounds, probed := Probed, impls := Is, wall_s := Wall}) ->
    io:format("~n== ~s members: ~b timed round(s) per implementation, interleaved; "
              "bytes checked for ~b members (~.1f s) ==~n",
              [group(N), Rounds, Probed, Wall]),
    io:format("  ~-10s ~12s ~12s ~14s ~14s ~12s~n",
              ["impl", "sender med", "sender p99", "delivery med", "delivery p99", "us/member"]),
    [begin
         #{sender_med := S, sender_p99 := P, delivery_med := D, delivery_p99 := DP} =
             maps:get(I, Is),
         io:format("  ~-10s ~9s ms ~9s ms ~11s ms ~11s ms ~12.3f~n",
                   [I, ms(S), ms(P), ms(D), ms(DP), S / 1000 / N])
     end || I <- ?IMPLS],
    #{ours := O, today := A, template := B, ours_async := AO} = Is,
    io:format("  ours is ~sx (sender) / ~sx (delivery) as fast as today, "
              "~sx / ~sx as fast as template~n",
              [ratio(A, O, sender_med), ratio(A, O, delivery_med),
               ratio(B, O, sender_med), ratio(B, O, delivery_med)]),
    io:format("  ours_async is ~sx (sender) / ~sx (delivery) as fast as today, "
              "~sx / ~sx as fast as template~n",
              [ratio(A, AO, sender_med), ratio(A, AO, delivery_med),
               ratio(B, AO, sender_med), ratio(B, AO, delivery_med)]).

report(Results) ->
    io:format("~nms = milliseconds, medians over the timed rounds; p99 = nearest rank "
              "(the slowest round when there are 31 or fewer).~n"
              "sender = wall time of the fan-out call; delivery = from just before the "
              "call until the last member's ack reached the collector.~n"),
    io:format("~n  ~9s ~21s ~21s ~21s ~21s ~17s ~17s~n",
              ["members", "today ms snd/dlv", "template ms snd/dlv", "ours ms snd/dlv",
               "ours_async snd/dlv", "today/ours s/d", "today/async s/d"]),
    [begin
         #{today := A, template := B, ours := O, ours_async := AO} = Is,
         io:format("  ~9s ~21s ~21s ~21s ~21s ~17s ~17s~n",
                   [group(N), sd(A), sd(B), sd(O), sd(AO),
                    ratio(A, O, sender_med) ++ " / " ++ ratio(A, O, delivery_med),
                    ratio(A, AO, sender_med) ++ " / " ++ ratio(A, AO, delivery_med)])
     end || #{n := N, impls := Is} <- Results],
    At = fun(N) ->
                 case [Is || #{n := N2, impls := Is} <- Results, N2 =:= N] of
                     [Is] -> Is;
                     [] -> undefined
                 end
         end,
    M10k = At(10000),
    M100k = At(100000),
    Sum = [{"m10000_sender_ms", ours_ms(M10k)},
           {"m10000_vs_today", impl_ratio(M10k, today)},
           {"m10000_vs_template", impl_ratio(M10k, template)},
           {"m100000_sender_ms", ours_ms(M100k)},
           {"m10000_async_sender_ms", ours_ms(M10k, ours_async)},
           {"m10000_async_vs_today", impl_ratio(M10k, today, ours_async)},
           {"m10000_async_vs_template", impl_ratio(M10k, template, ours_async)},
           {"m100000_async_sender_ms", ours_ms(M100k, ours_async)}],
    io:format("~nsummary:~s~n", [[[" ", K, "=", V] || {K, V} <- Sum]]).

sd(#{sender_med := S, delivery_med := D}) ->
    ms(S) ++ " / " ++ ms(D).

ours_ms(Is) -> ours_ms(Is, ours).

ours_ms(undefined, _) -> "NA";
ours_ms(Is, Impl) -> float_to_list(maps:get(sender_med, maps:get(Impl, Is)) / 1.0e6, [{decimals, 3}]).

impl_ratio(Is, I) -> impl_ratio(Is, I, ours).

impl_ratio(undefined, _, _) -> "NA";
impl_ratio(Is, I, Ours) -> ratio(maps:get(I, Is), maps:get(Ours, Is), sender_med).

%% how many times faster ours is: time(other) / time(ours)
ratio(Other, Ours, Key) ->
    float_to_list(maps:get(Key, Other) / max(1, maps:get(Key, Ours)), [{decimals, 2}]).

%% ns -> ms, with more decimals for short times
ms(Ns) ->
    Ms = Ns / 1.0e6,
    D = if Ms < 1 -> 4; Ms < 100 -> 3; true -> 1 end,
    float_to_list(Ms, [{decimals, D}]).

group(N) when N >= 1000 ->
    group(N div 1000) ++ "," ++ lists:flatten(io_lib:format("~3..0b", [N rem 1000]));
group(N) ->
    integer_to_list(N).
