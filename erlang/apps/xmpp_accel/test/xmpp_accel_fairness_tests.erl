%%% @doc Fair scheduling under load: one process calling our NIFs in a
%%% loop, 16 KB at a time, must be scheduled out as a process running
%%% Erlang code is, after about 1 ms, and never hold its scheduler for
%%% 2 ms or more. Each NIF reports the time it used to the VM
%%% (`enif_consume_timeslice', native/xmpp_accel_nif/src/budget.rs);
%%% without that, such a loop held its scheduler for many calls in a row
%%% (232 long_schedule events over 2 ms in 15 s for exml_stream).
%%%
%%% Each case loops for ?RUN_MS under `{long_schedule, 2}'. A control
%%% case shows that the monitor fires on a call that does not yield. The
%%% OS can also take the CPU away from a scheduler thread in mid-run, which
%%% the monitor cannot tell apart; on a busy machine a case that saw reports
%%% is run again (up to ?ATTEMPTS times), with a pure-Erlang loop measured
%%% after each attempt to show the noise. If no attempt ran clean, the
%%% case must still show what a NIF that reports nothing cannot: in one of
%%% the attempts no report as long as a quarter of the run (such a loop is
%%% hardly ever scheduled out: see peer_fxml_stream_test_). Measured on this
%%% 2-core machine shared with builds, load 5-11: the pure-Erlang loop saw
%%% 18-190 reports over 2 ms in 2 s, ours about as many, longest 13-160 ms;
%%% idle, ours see none.
%%%
%%% A check that OS noise cannot upset comes first in each case: the loop's
%%% reductions. The VM counts a timeslice (about 1 ms) as 4,000 reductions,
%%% so NIFs that report their time add about 4 per microsecond; the case
%%% must show at least 1 per microsecond of wall time (a NIF that reports
%%% nothing adds 1 per call).
-module(xmpp_accel_fairness_tests).

-include_lib("eunit/include/eunit.hrl").

-export([fxml_stream_loop/0]).

-define(RUN_MS, 2000).
-define(LIMIT_MS, 2).
-define(ATTEMPTS, 3).
-define(CHUNK, 16384).

control_test() ->
    %% list_to_tuple/1 does not yield: over 2 million elements it holds its
    %% scheduler for well over 2 ms
    Reports = xmpp_accel_sched_probe:loop_reports(
                fun() -> lists:seq(1, 2000000) end,
                fun(L) -> _ = list_to_tuple(L), L end, 300, ?LIMIT_MS),
    io:format(user, "~ncontrol (list_to_tuple of 2M in a loop): ~b long_schedule reports, longest ~b ms~n",
              [length(Reports), longest(Reports)]),
    ?assertNotEqual([], Reports).

%% The same fxml_stream loop on Debian's fast_xml (a peer VM) and on ours.
%% The peer's NIF reports no time: its loop is hardly ever scheduled out
%% (measured, loaded machine: 1 to 4 long_schedule reports in 2 s, the
%% longest 600-2,100 ms). Ours is scheduled out all along: its longest
%% report must be under half the peer's (on a busy machine the OS still
%% stretches some of ours: 18-160 ms measured at load 10 on 2 cores).
peer_fxml_stream_test_() ->
    {timeout, 120,
     fun() ->
             case xmpp_accel_debian_peer:start("p1_xml-*", ?MODULE, fxml_stream, "fast_xml (erlang-p1-xml)") of
                 {skip, Why} ->
                     io:format(user, "~nskipped: ~s~n", [Why]);
                 {ok, Peer} ->
                     {Probe, Bin, File} = code:get_object_code(xmpp_accel_sched_probe),
                     {module, Probe} = peer:call(Peer, code, load_binary, [Probe, File, Bin]),
                     Theirs = peer:call(Peer, ?MODULE, fxml_stream_loop, [], 60000),
                     peer:stop(Peer),
                     Ours = fxml_stream_loop(),
                     io:format(user, "~nfxml_stream, ~b ms loop: Debian's fast_xml ~b reports, longest ~b ms; "
                               "ours ~b reports, longest ~b ms~n",
                               [?RUN_MS, length(Theirs), longest(Theirs), length(Ours), longest(Ours)]),
                     ?assert(longest(Ours) < longest(Theirs) div 2)
             end
     end}.

%% @private The fxml_stream case's loop, watched; run here and in the peer.
fxml_stream_loop() ->
    [{_, Init, Step}] = [C || {"fxml_stream" ++ _, _, _} = C <- cases(#{})],
    xmpp_accel_sched_probe:loop_reports(Init, Step, ?RUN_MS, ?LIMIT_MS).

fairness_test_() ->
    {setup, fun tls_test_certs:make/0, fun({Dir, _}) -> tls_test_certs:cleanup(Dir) end,
     fun({_, Certs}) ->
             [{timeout, 120, {Name, fun() -> check(Name, Init, Step) end}}
              || {Name, Init, Step} <- cases(Certs)]
     end}.

cases(Certs) ->
    [{"exml_stream:parse/2, 16 KB chunks",
      fun() ->
              {ok, P0} = exml_stream:new_parser(),
              {ok, P, _} = exml_stream:parse(P0, header()),
              {P, chunks(stanzas()), chunks(stanzas())}
      end,
      fun({P, [], All}) -> {P, All, All};
         ({P, [C | Cs], All}) -> {ok, P1, _} = exml_stream:parse(P, C), {P1, Cs, All}
      end},
     {"fxml_stream:parse/2, 16 KB chunks",
      fun() ->
              S = fxml_stream:parse(fxml_stream:new(sink(), infinity, [no_gen_server]), header()),
              {S, chunks(stanzas()), chunks(stanzas())}
      end,
      fun({S, [], All}) -> {S, All, All};
         ({S, [C | Cs], All}) -> {fxml_stream:parse(S, C), Cs, All}
      end},
     {"exml:parse/1 of a 16 KB stanza",
      fun() -> roster(?CHUNK) end,
      fun(Bin) -> {ok, _} = exml:parse(Bin), Bin end},
     {"fxml:element_to_binary/1 of a 16 KB stanza",
      fun() -> {xmlel, _, _, _} = El = fxml_stream:parse_element(roster(?CHUNK)), El end,
      fun(El) -> _ = fxml:element_to_binary(El), El end},
     {"fast_tls: 16 KB sent and received",
      fun() ->
              {ok, C0} = fast_tls:tcp_to_tls(undefined, [connect, {certfile, pem(client, Certs)}]),
              {ok, S0} = fast_tls:tcp_to_tls(undefined, [{certfile, pem(server_ec, Certs)}]),
              {C, S} = {element(3, C0), element(3, S0)},
              handshake(C, S),
              {C, S, binary:copy(<<"0123456789abcdef">>, ?CHUNK div 16)}
      end,
      fun({C, S, Data} = St) ->
              {ok, Rec, <<>>} = fast_tls:loop_nif(C, Data, <<>>, 0),
              {ok, <<>>, Data} = fast_tls:loop_nif(S, <<>>, Rec, -1),
              St
      end},
     {"xmpp_accel_fanout:render/2, 200 members (16 KB out)",
      fun() ->
              {ok, El} = exml:parse(<<"<message from='room@muclight.example.com/alice@example.com' id='m1' type='groupchat'>"
                                      "<body>Hello everyone &amp; welcome</body></message>">>),
              {xmpp_accel_fanout:template(El),
               [<<"member", (integer_to_binary(I))/binary, "@example.com">> || I <- lists:seq(1, 200)]}
      end,
      fun({T, Jids} = St) -> _ = xmpp_accel_fanout:render(T, Jids), St end}].

check(Name, Init, Step) ->
    {Reds, Micros} = reductions(Init, Step, 200),
    io:format(user, "~n~s: ~b reductions in ~b us (~.2f per us)~n", [Name, Reds, Micros, Reds / max(1, Micros)]),
    ?assert(Reds >= Micros),
    check(Name, Init, Step, 1, []).

%% Reductions and wall time (us) of N steps, in a fresh process.
reductions(Init, Step, N) ->
    Self = self(),
    Pid = spawn(fun() ->
                        S0 = Step(Init()),
                        {reductions, R0} = process_info(self(), reductions),
                        T0 = erlang:monotonic_time(microsecond),
                        _ = lists:foldl(fun(_, S) -> Step(S) end, S0, lists:seq(1, N)),
                        T1 = erlang:monotonic_time(microsecond),
                        {reductions, R1} = process_info(self(), reductions),
                        Self ! {reductions, self(), R1 - R0, T1 - T0}
                end),
    receive {reductions, Pid, R, T} -> {R, T} after 60000 -> error(timeout) end.

check(Name, Init, Step, Attempt, Seen) ->
    Ours = xmpp_accel_sched_probe:loop_reports(Init, Step, ?RUN_MS, ?LIMIT_MS),
    case Ours of
        [] ->
            io:format(user, "~n~s: no long_schedule report over ~b ms in ~b ms (attempt ~b; earlier: ~p)~n",
                      [Name, ?LIMIT_MS, ?RUN_MS, Attempt, lists:reverse(Seen)]);
        _ ->
            Ref = xmpp_accel_sched_probe:loop_reports(fun erlang_init/0, fun erlang_step/1, ?RUN_MS, ?LIMIT_MS),
            Seen1 = [#{ours => length(Ours), ours_longest_ms => longest(Ours),
                       erlang_loop => length(Ref), erlang_longest_ms => longest(Ref)} | Seen],
            case Attempt < ?ATTEMPTS of
                true ->
                    check(Name, Init, Step, Attempt + 1, Seen1);
                false ->
                    All = lists:reverse(Seen1),
                    io:format(user, "~n~s: reports in every attempt (busy machine?): ~p~n", [Name, All]),
                    ?assert(lists:min([maps:get(ours_longest_ms, M) || M <- All]) < ?RUN_MS div 4)
            end
    end.

%% The reference: Erlang code doing comparable work, preempted by reductions.
erlang_init() -> lists:seq(1, 2000).
erlang_step(L) -> _ = lists:foldl(fun(X, A) -> (X * 31 + A) band 16#ffffff end, 0, L), L.

longest(Reports) ->
    lists:max([0 | [T || R <- Reports, {timeout, T} <- R]]).

header() ->
    <<"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>">>.

%% About 1 MB of stanzas, ending at a stanza boundary (so it can be replayed).
stanzas() ->
    iolist_to_binary(
      [[<<"<message to='bob@example.com' from='alice@example.com/phone' id='">>, integer_to_binary(I),
        <<"' type='chat'><body>Hello &amp; welcome, this is message ">>, integer_to_binary(I),
        <<" of many</body><active xmlns='http://jabber.org/protocol/chatstates'/></message>">>]
       || I <- lists:seq(1, 5000)]).

chunks(<<C:?CHUNK/binary, Rest/binary>>) -> [C | chunks(Rest)];
chunks(<<>>) -> [];
chunks(Last) -> [Last].

%% A roster result of about Bytes bytes.
roster(Bytes) ->
    Item = <<"<item jid='someone@example.com' name='Some One &amp; co' subscription='both'><group>Friends</group></item>">>,
    iolist_to_binary([<<"<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>">>,
                      binary:copy(Item, Bytes div byte_size(Item)), <<"</query></iq>">>]).

%% A process that drops what it gets, until its owner is gone.
sink() ->
    Owner = self(),
    spawn(fun() -> MRef = monitor(process, Owner), drain(MRef) end).

drain(MRef) ->
    receive
        {'DOWN', MRef, _, _, _} -> ok;
        _ -> drain(MRef)
    end.

pem(Name, Certs) -> maps:get(pem, maps:get(Name, Certs)).

%% Moves handshake bytes between client C and server S until both are quiet.
handshake(C, S) ->
    {init, First, <<>>} = fast_tls:loop_nif(C, <<>>, <<>>, -1),
    handshake(C, S, First, 100).

handshake(_C, _S, <<>>, _) -> ok;
handshake(C, S, ToS, N) when N > 0 ->
    {_, FromS, _} = fast_tls:loop_nif(S, <<>>, ToS, -1),
    {_, FromC, _} = fast_tls:loop_nif(C, <<>>, FromS, -1),
    handshake(C, S, FromC, N - 1).
