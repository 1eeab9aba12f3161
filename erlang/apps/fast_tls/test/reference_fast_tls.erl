%%% @doc Test support: Debian's real fast_tls (package erlang-p1-tls) in a
%%% peer VM of its own, and a driver that runs one side of a TLS connection
%%% through whichever fast_tls module is loaded where it runs.
%%%
%%% Our fast_tls drop-in has the same module names (fast_tls, p1_sha), so the
%%% real one cannot be loaded beside it: the peer starts with OTP's default
%%% code path only (where Debian installs p1_tls and p1_utils) and this
%%% module is loaded into it. `start/0' returns `{skip, Why}' when fast_tls is
%%% not installed. The peer is connected over standard_io (no distribution),
%%% so the peer's workers are named, and their results fetched with a call.
%%%
%%% The driver: `run_server/2' listens on 127.0.0.1 (port 0), accepts one
%%% connection, calls `fast_tls:tcp_to_tls(S, Opts)' and runs the steps;
%%% `run_client/3' connects to 127.0.0.1:Port, calls
%%% `fast_tls:tcp_to_tls(S, [connect | Opts])' and runs the steps. Both own
%%% their gen_tcp socket ({active, false}, binary), as fast_tls wants (the
%%% memory-BIO design: Erlang moves the bytes, the NIF only transforms them).
%%% `get_result/2' waits for a worker's result: a map with
%%% <ul>
%%% <li>`tcp_to_tls': `ok' or the error tcp_to_tls/2 returned;</li>
%%% <li>`log': `[{Step, Outcome}]' in order;</li>
%%% <li>`recv': all the application data received, concatenated;</li>
%%% <li>`info': what the `info' step collected (see `info/1'), if it ran;</li>
%%% <li>`error': `{Step, Reason}' of the first step that failed, if any
%%%     (the steps after it do not run).</li>
%%% </ul>
%%% The steps:
%%% <ul>
%%% <li>`start': `fast_tls:recv_data(S, <<>>)' (a client's first flight);</li>
%%% <li>`finish_handshake': `fast_tls:finish_handshake(S, Timeout)' (1.1.22+);</li>
%%% <li>`{send, Bin}': `fast_tls:send(S, Bin)';</li>
%%% <li>`{recv, N}': `fast_tls:recv(S, 0, Timeout)' until N bytes came;</li>
%%% <li>`info': `info/1';</li>
%%% <li>`await_close': `fast_tls:recv(S, 0, Timeout)' until an error (the
%%%     outcome; `{error, closed}' when the peer closed);</li>
%%% <li>`close': `fast_tls:close(S)' (done anyway after the last step).</li>
%%% </ul>
-module(reference_fast_tls).

-export([start/0, stop/1, which/1, vsn/1, exports/2,
         server/3, client/4, result/3]).
%% the driver, run locally (our fast_tls) and in the peer (Debian's)
-export([run_server/2, run_client/3, get_result/2, info/1, has/2, local_vsn/0]).

-define(STEP_TIMEOUT, 3000).
-define(ACCEPT_TIMEOUT, 10000).
-define(KEEP_RESULT, 60000).

%%% the peer VM

-spec start() -> {ok, pid()} | {skip, string()}.
start() ->
    xmpp_accel_debian_peer:start("p1_tls-*", ?MODULE, fast_tls, "fast_tls (erlang-p1-tls)").

-spec stop(pid()) -> ok.
stop(Peer) ->
    peer:stop(Peer).

%% @doc Where the peer loads fast_tls from.
which(Peer) ->
    case peer:call(Peer, code, which, [fast_tls], 10000) of
        Path when is_list(Path) -> Path;
        Other -> lists:flatten(io_lib:format("~p", [Other]))
    end.

%% @doc The peer's fast_tls application version.
vsn(Peer) ->
    peer:call(Peer, ?MODULE, local_vsn, [], 10000).

%% @doc Whether the peer's fast_tls exports Fun/Arity.
exports(Peer, {Fun, Arity}) ->
    peer:call(Peer, ?MODULE, has, [Fun, Arity], 10000).

%% @doc Runs a fast_tls server in the peer: `{ok, Port, Id}'.
server(Peer, Opts, Steps) ->
    peer:call(Peer, ?MODULE, run_server, [Opts, Steps], 15000).

%% @doc Runs a fast_tls client in the peer: `{ok, Id}'.
client(Peer, Port, Opts, Steps) ->
    peer:call(Peer, ?MODULE, run_client, [Port, Opts, Steps], 15000).

%% @doc The result of a worker in the peer.
result(Peer, Id, Timeout) ->
    peer:call(Peer, ?MODULE, get_result, [Id, Timeout], Timeout + 5000).

%%% the driver

-spec local_vsn() -> string() | undefined.
local_vsn() ->
    _ = application:load(fast_tls),
    case application:get_key(fast_tls, vsn) of
        {ok, V} -> V;
        undefined -> undefined
    end.

-spec has(atom(), arity()) -> boolean().
has(Fun, Arity) ->
    _ = code:ensure_loaded(fast_tls),
    erlang:function_exported(fast_tls, Fun, Arity).

-spec run_server(list(), list()) -> {ok, inet:port_number(), atom()}.
run_server(Opts, Steps) ->
    Id = new_id(),
    Caller = self(),
    Pid = spawn(fun() ->
                        register(Id, self()),
                        {ok, L} = gen_tcp:listen(0, [binary, {packet, 0}, {active, false},
                                                     {ip, {127, 0, 0, 1}}, {reuseaddr, true},
                                                     {nodelay, true}]),
                        {ok, Port} = inet:port(L),
                        Caller ! {self(), listening, Port},
                        Result = case gen_tcp:accept(L, ?ACCEPT_TIMEOUT) of
                                     {ok, S} ->
                                         gen_tcp:close(L),
                                         run(S, Opts, Steps);
                                     {error, E} ->
                                         gen_tcp:close(L),
                                         #{error => {accept, E}, log => []}
                                 end,
                        serve_result(Result)
                end),
    receive
        {Pid, listening, Port} -> {ok, Port, Id}
    after 5000 ->
            exit(Pid, kill),
            error(server_did_not_listen)
    end.

-spec run_client(inet:port_number(), list(), list()) -> {ok, atom()}.
run_client(Port, Opts, Steps) ->
    Id = new_id(),
    Caller = self(),
    Pid = spawn(fun() ->
                        register(Id, self()),
                        Caller ! {self(), registered},
                        Result = case gen_tcp:connect({127, 0, 0, 1}, Port,
                                                      [binary, {packet, 0}, {active, false},
                                                       {nodelay, true}], ?STEP_TIMEOUT) of
                                     {ok, S} ->
                                         run(S, [connect | Opts], Steps);
                                     {error, E} ->
                                         #{error => {connect, E}, log => []}
                                 end,
                        serve_result(Result)
                end),
    receive
        {Pid, registered} -> {ok, Id}
    after 5000 ->
            exit(Pid, kill),
            error(client_did_not_start)
    end.

%% @doc Waits up to Timeout ms for worker Id to finish; kills it after that.
-spec get_result(atom(), timeout()) -> map().
get_result(Id, Timeout) ->
    case whereis(Id) of
        undefined ->
            #{error => {no_worker, Id}, log => []};
        Pid ->
            MRef = monitor(process, Pid),
            Pid ! {get_result, self(), MRef},
            receive
                {MRef, Result} ->
                    demonitor(MRef, [flush]),
                    Result;
                {'DOWN', MRef, process, Pid, Reason} ->
                    #{error => {worker_down, Reason}, log => []}
            after Timeout ->
                    exit(Pid, kill),
                    #{error => {timeout, Id}, log => []}
            end
    end.

new_id() ->
    list_to_atom("reference_fast_tls_" ++ integer_to_list(erlang:unique_integer([positive]))).

serve_result(Result) ->
    receive
        {get_result, From, Ref} -> From ! {Ref, Result}
    after ?KEEP_RESULT ->
            ok
    end.

run(TCP, Opts, Steps) ->
    case catch fast_tls:tcp_to_tls(TCP, Opts) of
        {ok, S} ->
            R = steps(S, Steps, #{tcp_to_tls => ok, log => [], recv => <<>>}),
            _ = (catch fast_tls:close(S)),
            R#{log := lists:reverse(maps:get(log, R))};
        Other ->
            gen_tcp:close(TCP),
            #{tcp_to_tls => short(Other), log => [], error => {tcp_to_tls, short(Other)}}
    end.

steps(_S, [], Acc) ->
    Acc;
steps(S, [Step | Rest], Acc) ->
    case step(S, Step, Acc) of
        {ok, Outcome, Acc1} ->
            steps(S, Rest, log(Step, Outcome, Acc1));
        {error, Reason, Acc1} ->
            log(Step, {error, Reason}, Acc1#{error => {step_name(Step), Reason}})
    end.

log(Step, Outcome, #{log := L} = Acc) ->
    Acc#{log := [{step_name(Step), Outcome} | L]}.

step_name({send, B}) -> {send, byte_size(B)};
step_name(Step) -> Step.

step(S, start, Acc) ->
    case catch fast_tls:recv_data(S, <<>>) of
        {ok, Bin} -> {ok, ok, add_recv(Bin, Acc)};
        Other -> {error, short(Other), Acc}
    end;
step(S, finish_handshake, Acc) ->
    case catch fast_tls:finish_handshake(S, ?STEP_TIMEOUT) of
        ok -> {ok, ok, Acc};
        Other -> {error, short(Other), Acc}
    end;
step(S, {send, Bin}, Acc) ->
    case catch fast_tls:send(S, Bin) of
        ok -> {ok, ok, Acc};
        Other -> {error, short(Other), Acc}
    end;
step(S, {recv, N}, #{recv := Got} = Acc) ->
    recv_until(S, byte_size(Got) + N, Acc);
step(S, info, Acc) ->
    {ok, ok, Acc#{info => info(S)}};
step(S, await_close, Acc) ->
    case catch fast_tls:recv(S, 0, ?STEP_TIMEOUT) of
        {ok, Bin} -> step(S, await_close, add_recv(Bin, Acc));
        Other -> {ok, short(Other), Acc}
    end;
step(S, close, Acc) ->
    {ok, short(catch fast_tls:close(S)), Acc}.

recv_until(_S, Want, #{recv := Got} = Acc) when byte_size(Got) >= Want ->
    {ok, byte_size(Got), Acc};
recv_until(S, Want, Acc) ->
    case catch fast_tls:recv(S, 0, ?STEP_TIMEOUT) of
        {ok, Bin} -> recv_until(S, Want, add_recv(Bin, Acc));
        Other -> {error, short(Other), Acc}
    end.

add_recv(Bin, #{recv := Got} = Acc) ->
    Acc#{recv := <<Got/binary, Bin/binary>>}.

%% @doc What a test wants to know about an established connection; each
%% field is what the call returned, `{'EXIT', Reason}' when it raised, or
%% `not_exported'.
-spec info(term()) -> map().
info(S) ->
    #{verify => call(get_verify_result, [S]),
      peer_cert => call(get_peer_certificate, [S]),
      peer_cert_plain => call(get_peer_certificate, [S, plain]),
      peer_cert_otp => call(get_peer_certificate, [S, otp]),
      peer_cert_der => call(get_peer_certificate, [S, der]),
      cipher => call(get_negotiated_cipher, [S]),
      finished_self => call(get_tls_last_message, [self, S]),
      finished_peer => call(get_tls_last_message, [peer, S]),
      exporter => call(get_tls_cb_exporter, [S])}.

call(F, Args) ->
    case has(F, length(Args)) of
        true -> short(catch apply(fast_tls, F, Args));
        false -> not_exported
    end.

%% no stack traces in results: they cross the peer link and end in reports
short({'EXIT', {Reason, [_ | _]}}) -> {'EXIT', Reason};
short(Other) -> Other.
