%%% @doc TLS server benchmark (`make bench-tls', see bench/README.md): our
%%% fast_tls drop-in (`ours'), Debian's fast_tls and OTP's `ssl' as TLS
%%% servers, each in its own Erlang VM, driven by one client VM over
%%% 127.0.0.1. The client is OTP `ssl' for handshakes and idle connections
%%% and Debian's fast_tls (handshake only, then raw byte counting) for bulk,
%%% the same for all three servers.
%%%
%%% Entry points (`erl -run tls_bench main Cmd Args...', started by run.sh):
%%% <ul>
%%% <li>`certs Dir': writes `ecdsa.pem' (P-256) and `rsa.pem' (RSA 2048),
%%%   each a self-signed server certificate followed by its PKCS#8 key;</li>
%%% <li>`server Impl CertDir': a server VM (started by the client VM through
%%%   the launcher `WorkDir/server-Impl.sh' that run.sh writes); it prints
%%%   `tls_bench_ready ControlPort OsPid' and then obeys the client over a
%%%   control connection;</li>
%%% <li>`client WorkDir Impl,Impl,...': runs every phase, writes
%%%   `WorkDir/results.term' and prints the report;</li>
%%% <li>`report ResultsFile': prints the report of a kept run again.</li>
%%% </ul>
%%% @end
-module(tls_bench).

-export([main/1]).

-include_lib("public_key/include/public_key.hrl").

%% timeouts (ms)
-define(IO_TIMEOUT, 30000).
-define(READY_TIMEOUT, 60000).
%% bytes per MB
-define(MB, 1000000).

%% the handshake configurations: {name, certificate, client TLS version}
-define(HS_CONFIGS, [{hs13_ecdsa, ecdsa, 'tlsv1.3'},
                     {hs13_rsa, rsa, 'tlsv1.3'},
                     {hs12_ecdsa, ecdsa, 'tlsv1.2'},
                     {hs12_rsa, rsa, 'tlsv1.2'}]).
-define(BULK_SIZES, [1024, 65536]).

%% one server VM as seen from the client
-record(srv, {impl :: atom(),
              owner :: pid(),
              ctl :: gen_tcp:socket(),
              os_pid :: string(),
              ports :: #{ecdsa | rsa => inet:port_number()},
              loaded :: string()}).

%% one accepted connection as seen from its server-side handler
-record(conn, {api :: fast_tls | ssl,
               sock :: term(),
               tls :: term(),
               buf = <<>> :: binary()}).

%% @doc `erl -run' entry point; see the module doc for the commands.
-spec main([string()]) -> no_return().
main(["certs", Dir]) ->
    bench_lib:main("bench-tls certs", fun() -> write_certs(Dir) end);
main(["server", Impl, CertDir]) ->
    bench_lib:main("bench-tls server " ++ Impl,
                   fun() -> server(list_to_atom(Impl), CertDir) end);
main(["client", WorkDir, Impls]) ->
    bench_lib:main("bench-tls",
                   fun() ->
                           client(WorkDir,
                                  [list_to_atom(I) || I <- string:split(Impls, ",", all)])
                   end);
main(["report", ResultsFile]) ->
    bench_lib:main("bench-tls report",
                   fun() -> {ok, [Results]} = file:consult(ResultsFile), report(Results) end);
main(Args) ->
    bench_lib:main("bench-tls", fun() -> bench_lib:fail("bad arguments: ~p", [Args]) end).

%%====================================================================
%% Parameters
%%====================================================================

%% @doc The sizes of the run: full, or a smoke run with `BENCH_QUICK=1'.
%% `hs_n' handshakes per timed round and configuration, run by `hs_conc'
%% concurrent client processes; bulk bytes per round by write size; idle
%% connections per memory round.
params() ->
    case bench_lib:quick() of
        false -> #{hs_rounds => 9, hs_n => 200, hs_conc => 4, hs_warmup => 40,
                   bulk_rounds => 9,
                   bulk_total => #{1024 => 64 * ?MB, 65536 => 512 * ?MB},
                   mem_rounds => 5, mem_conns => 1500};
        true -> #{hs_rounds => 3, hs_n => 40, hs_conc => 4, hs_warmup => 10,
                  bulk_rounds => 3,
                  bulk_total => #{1024 => 4 * ?MB, 65536 => 16 * ?MB},
                  mem_rounds => 1, mem_conns => 300}
    end.

%%====================================================================
%% certs
%%====================================================================

%% @doc Writes `ecdsa.pem' and `rsa.pem' into `Dir'.
write_certs(Dir) ->
    ok = write_cert(filename:join(Dir, "ecdsa.pem"), {namedCurve, secp256r1}),
    ok = write_cert(filename:join(Dir, "rsa.pem"), {rsa, 2048, 65537}).

%% @doc A fresh key of `KeySpec' and a self-signed server certificate for
%% it (CN and SAN `localhost', CA:FALSE, serverAuth), certificate first
%% and the key as PKCS#8 in one PEM file.
write_cert(File, KeySpec) ->
    Key = public_key:generate_key(KeySpec),
    Der = public_key:pkix_sign(tbs_certificate(Key), Key),
    Pem = public_key:pem_encode([{'Certificate', Der, not_encrypted},
                                 public_key:pem_entry_encode('PrivateKeyInfo', Key)]),
    file:write_file(File, Pem).

%% @doc The to-be-signed part of a self-signed end-entity certificate,
%% valid 2024-2034, signed with SHA-256.
tbs_certificate(Key) ->
    Name = {rdnSequence, [[#'AttributeTypeAndValue'{type = ?'id-at-commonName',
                                                    value = {utf8String, <<"localhost">>}}]]},
    {SigAlg, Spki, Usage} = key_info(Key),
    #'OTPTBSCertificate'{
       version = v3, serialNumber = erlang:unique_integer([positive]),
       signature = SigAlg, issuer = Name, subject = Name,
       validity = #'Validity'{notBefore = {utcTime, "240101000000Z"},
                              notAfter = {utcTime, "341231000000Z"}},
       subjectPublicKeyInfo = Spki,
       extensions = [#'Extension'{extnID = ?'id-ce-basicConstraints', critical = true,
                                  extnValue = #'BasicConstraints'{cA = false}},
                     #'Extension'{extnID = ?'id-ce-keyUsage', critical = true,
                                  extnValue = Usage},
                     #'Extension'{extnID = ?'id-ce-extKeyUsage', critical = false,
                                  extnValue = [?'id-kp-serverAuth']},
                     #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false,
                                  extnValue = [{dNSName, "localhost"}]}]}.

%% @doc Signature algorithm, public key info and key usage for a private key.
key_info(#'ECPrivateKey'{parameters = Curve, publicKey = Pub}) ->
    {#'SignatureAlgorithm'{algorithm = ?'ecdsa-with-SHA256', parameters = asn1_NOVALUE},
     #'OTPSubjectPublicKeyInfo'{
        algorithm = #'PublicKeyAlgorithm'{algorithm = ?'id-ecPublicKey', parameters = Curve},
        subjectPublicKey = #'ECPoint'{point = Pub}},
     [digitalSignature]};
key_info(#'RSAPrivateKey'{modulus = N, publicExponent = E}) ->
    {#'SignatureAlgorithm'{algorithm = ?'sha256WithRSAEncryption', parameters = 'NULL'},
     #'OTPSubjectPublicKeyInfo'{
        algorithm = #'PublicKeyAlgorithm'{algorithm = ?rsaEncryption, parameters = 'NULL'},
        subjectPublicKey = #'RSAPublicKey'{modulus = N, publicExponent = E}},
     [digitalSignature, keyEncipherment]}.

%%====================================================================
%% server VM
%%====================================================================

%% @doc The server VM: loads the implementation, listens with the ECDSA
%% and the RSA certificate, prints the ready line and serves the control
%% connection until told to stop (or until the client goes away).
server(Impl, CertDir) ->
    Loaded = load_impl(Impl),
    _ = ets:new(tls_bench_calls, [named_table, public, duplicate_bag,
                                  {write_concurrency, true}]),
    _ = ets:new(tls_bench_live, [named_table, public, {write_concurrency, true}]),
    true = ets:insert(tls_bench_live, {live, 0}),
    put(tls_bench_loaded, Loaded),
    start_long_schedule_monitor(),
    Ports = maps:from_list(
              [{Kind, listen(api(Impl), filename:join(CertDir, atom_to_list(Kind) ++ ".pem"))}
               || Kind <- [ecdsa, rsa]]),
    put(tls_bench_ports, Ports),
    {ok, CtlListen} = gen_tcp:listen(0, [binary, {packet, 4}, {active, false},
                                         {ip, {127, 0, 0, 1}}, {reuseaddr, true}]),
    {ok, CtlPort} = inet:port(CtlListen),
    io:format("tls_bench_ready ~b ~s~n", [CtlPort, os:getpid()]),
    case gen_tcp:accept(CtlListen, ?READY_TIMEOUT) of
        {ok, Ctl} -> control_loop(Impl, Ctl);
        {error, Why} -> bench_lib:fail("no control connection: ~p", [Why])
    end.

%% @doc The API an implementation is driven through.
api(ours) -> fast_tls;
api(fast_tls) -> fast_tls;
api(ssl) -> ssl.

%% @doc Serves control requests (`term_to_binary', 4-byte length prefix)
%% one at a time; returns after `stop' or when the client disconnects.
control_loop(Impl, Ctl) ->
    case gen_tcp:recv(Ctl, 0) of
        {ok, Bin} ->
            Req = binary_to_term(Bin),
            Reply = try control(Impl, Req)
                    catch C:R:St -> {error, {C, R, St}}
                    end,
            ok = gen_tcp:send(Ctl, term_to_binary(Reply)),
            case Req of
                stop -> ok;
                _ -> control_loop(Impl, Ctl)
            end;
        {error, closed} ->
            ok
    end.

%% @doc One control request.
control(Impl, info) ->
    #{impl => Impl, os_pid => os:getpid(), ports => get(tls_bench_ports),
      loaded => get(tls_bench_loaded)};
control(_Impl, reset_stats) ->
    true = ets:delete_all_objects(tls_bench_calls),
    _ = take_long_schedule(),
    ok;
control(_Impl, {stats, Live}) ->
    Left = wait_live(Live, 10000),
    Calls = lists:append([L || {_, L} <- ets:tab2list(tls_bench_calls)]),
    true = ets:delete_all_objects(tls_bench_calls),
    (call_stats(Calls))#{long_schedule => take_long_schedule(), live => Left};
control(_Impl, {memory, Live}) ->
    Left = wait_live(Live, 10000),
    memory_now(Left);
control(Impl, check_loaded) ->
    check_loaded(Impl);
control(_Impl, stop) ->
    ok.

%% @doc Waits until at most `Target' connection handlers are alive (the
%% closes of a round have been processed), for up to `Ms'; returns the count.
wait_live(Target, Ms) ->
    [{live, N}] = ets:lookup(tls_bench_live, live),
    if N =< Target; Ms =< 0 -> N;
       true -> timer:sleep(5), wait_live(Target, Ms - 5)
    end.

%% @doc Erlang memory and resident set size of this VM after a garbage
%% collection of every process.
memory_now(Live) ->
    _ = [erlang:garbage_collect(P) || P <- processes()],
    timer:sleep(50),
    #{erlang => erlang:memory(total), rss => vm_rss(), live => Live,
      processes => erlang:system_info(process_count)}.

%% @doc VmRSS of this OS process, in bytes (from /proc/self/status).
vm_rss() ->
    {ok, Status} = file:read_file("/proc/self/status"),
    [_, After] = binary:split(Status, <<"VmRSS:">>),
    [Kb | _] = string:lexemes(After, " \t\n"),
    binary_to_integer(Kb) * 1024.

%%--------------------------------------------------------------------
%% server: per-call timing and long_schedule
%%--------------------------------------------------------------------

%% @doc Calls `Fun' and records its wall time under `Kind' in the calling
%% handler's list (flushed to the ETS table by `flush_calls/0').
timed(Kind, Fun) ->
    T0 = erlang:monotonic_time(),
    R = Fun(),
    T1 = erlang:monotonic_time(),
    put(tls_bench_calls, [{Kind, T1 - T0} | get_calls()]),
    R.

get_calls() ->
    case get(tls_bench_calls) of
        undefined -> [];
        L -> L
    end.

%% @doc Moves the calling handler's recorded call times to the ETS table.
flush_calls() ->
    case get_calls() of
        [] -> ok;
        L -> true = ets:insert(tls_bench_calls, {self(), L}),
             put(tls_bench_calls, []),
             ok
    end.

%% @doc Count, max (and which call), p99 and median of call times, in µs.
call_stats([]) ->
    #{calls => 0};
call_stats(Calls) ->
    Us = fun(T) -> erlang:convert_time_unit(T, native, nanosecond) / 1000 end,
    Sorted = lists:keysort(2, Calls),
    N = length(Sorted),
    {MaxKind, Max} = lists:last(Sorted),
    {_, P99} = lists:nth(max(1, ceil(N * 0.99)), Sorted),
    {_, P50} = lists:nth(max(1, ceil(N * 0.5)), Sorted),
    ByKind = lists:foldl(fun({K, T}, Acc) ->
                                 maps:update_with(K, fun(M) -> max(M, T) end, T, Acc)
                         end, #{}, Calls),
    #{calls => N, max_us => Us(Max), max_kind => MaxKind, p99_us => Us(P99),
      p50_us => Us(P50), max_by_kind => maps:map(fun(_, T) -> Us(T) end, ByKind)}.

%% @doc Starts the process that receives this VM's `long_schedule' system
%% monitor messages (threshold 1 ms) and keeps the longest one.
start_long_schedule_monitor() ->
    Pid = spawn(fun() -> long_schedule_loop(none) end),
    register(tls_bench_long_schedule, Pid),
    _ = erlang:system_monitor(Pid, [{long_schedule, 1}]),
    ok.

long_schedule_loop(Max) ->
    receive
        {monitor, Who, long_schedule, Info} ->
            Ms = proplists:get_value(timeout, Info),
            New = case Max of
                      {M, _, _} when M >= Ms -> Max;
                      _ -> {Ms, who(Who), proplists:get_value(in, Info)}
                  end,
            long_schedule_loop(New);
        {take, From} ->
            From ! {long_schedule, Max},
            long_schedule_loop(none)
    end.

who(P) when is_pid(P) -> process;
who(P) when is_port(P) -> {port, erlang:port_info(P, name)}.

%% @doc The longest `long_schedule' since the last call: `none' or
%% `{Ms, process | {port, Name}, WhereItWasScheduledIn}'.
take_long_schedule() ->
    tls_bench_long_schedule ! {take, self()},
    receive {long_schedule, Max} -> Max after 5000 -> none end.

%%--------------------------------------------------------------------
%% server: listeners and connection handlers
%%--------------------------------------------------------------------

%% @doc Opens a listener on 127.0.0.1 (any port) for `CertFile' and starts
%% its acceptor; returns the port number.
listen(fast_tls, CertFile) ->
    {ok, L} = gen_tcp:listen(0, [binary, {packet, 0}, {active, false}, {nodelay, true},
                                 {ip, {127, 0, 0, 1}}, {reuseaddr, true}, {backlog, 1024}]),
    spawn_acceptor(fun() -> tcp_accept_loop(L, CertFile) end),
    {ok, Port} = inet:port(L),
    Port;
listen(ssl, CertFile) ->
    {ok, L} = ssl:listen(0, [binary, {packet, 0}, {active, false}, {nodelay, true},
                             {ip, {127, 0, 0, 1}}, {reuseaddr, true}, {backlog, 1024},
                             {certfile, CertFile}, {keyfile, CertFile},
                             {verify, verify_none},
                             {versions, ['tlsv1.3', 'tlsv1.2']}]),
    spawn_acceptor(fun() -> ssl_accept_loop(L) end),
    {ok, {_, Port}} = ssl:sockname(L),
    Port.

%% @doc Runs an acceptor; the VM stops if it crashes.
spawn_acceptor(Loop) ->
    spawn(fun() ->
                  try Loop()
                  catch C:R:St ->
                          io:format(standard_error, "acceptor crashed: ~p:~p~n~p~n", [C, R, St]),
                          erlang:halt(3)
                  end
          end).

%% @doc gen_tcp accept loop for the fast_tls API: each connection gets a
%% handler process that owns the socket.
tcp_accept_loop(L, CertFile) ->
    {ok, S} = gen_tcp:accept(L),
    H = spawn(fun() -> receive go -> fast_tls_handler(S, CertFile) end end),
    ok = gen_tcp:controlling_process(S, H),
    H ! go,
    tcp_accept_loop(L, CertFile).

%% @doc OTP ssl accept loop: the handshake runs in the handler process.
ssl_accept_loop(L) ->
    {ok, T} = ssl:transport_accept(L),
    H = spawn(fun() -> receive go -> ssl_handler(T) end end),
    ok = ssl:controlling_process(T, H),
    H ! go,
    ssl_accept_loop(L).

%% @doc A fast_tls-API connection: `tcp_to_tls/2' with the certificate
%% (server side, no client certificate requested), then the request loop.
%% Every fast_tls call is timed.
fast_tls_handler(S, CertFile) ->
    live(1),
    try
        {ok, Tls} = timed(tcp_to_tls, fun() ->
                                               fast_tls:tcp_to_tls(S, [{certfile, CertFile},
                                                                       verify_none])
                                       end),
        ok = inet:setopts(S, [{active, once}]),
        conn_loop(#conn{api = fast_tls, sock = S, tls = Tls})
    after
        flush_calls(),
        live(-1)
    end.

%% @doc An OTP ssl connection: `ssl:handshake/2', then the request loop.
ssl_handler(T) ->
    live(1),
    try
        {ok, S} = ssl:handshake(T, ?IO_TIMEOUT),
        ok = ssl:setopts(S, [{active, once}]),
        conn_loop(#conn{api = ssl, sock = S})
    after
        live(-1)
    end.

live(D) ->
    _ = ets:update_counter(tls_bench_live, live, D),
    ok.

%% @doc Waits for data in active-once mode; with fast_tls every TCP chunk
%% goes through `recv_data/2' (which also advances the handshake and writes
%% its replies). Returns when the connection is closed or fails.
conn_loop(#conn{api = fast_tls, sock = S, tls = Tls} = C) ->
    receive
        {tcp, S, Data} ->
            case timed(recv_data, fun() -> fast_tls:recv_data(Tls, Data) end) of
                {ok, Plain} ->
                    case serve(Plain, C) of
                        closed -> ok;
                        C2 -> ok = inet:setopts(S, [{active, once}]),
                              conn_loop(C2)
                    end;
                {error, _} ->
                    close(C)
            end;
        {tcp_closed, S} -> close(C);
        {tcp_error, S, _} -> close(C)
    end;
conn_loop(#conn{api = ssl, sock = S} = C) ->
    receive
        {ssl, S, Data} ->
            case serve(Data, C) of
                closed -> ok;
                C2 -> ok = ssl:setopts(S, [{active, once}]),
                      conn_loop(C2)
            end;
        {ssl_closed, S} -> close(C);
        {ssl_error, S, _} -> close(C)
    end.

%% @doc Closes the connection (for fast_tls, `close/1' ends in
%% `gen_tcp:close/1', which sends what is still queued first).
close(#conn{api = fast_tls, tls = Tls}) ->
    _ = timed(close, fun() -> fast_tls:close(Tls) end),
    ok;
close(#conn{api = ssl, sock = S}) ->
    _ = ssl:close(S),
    ok.

%% @doc Runs the complete request lines in the buffer: `ping' (answered
%% with `pong') and `send Size Total' (`Total' bytes in writes of `Size',
%% then the server closes the connection). Returns the connection, or
%% `closed'.
serve(Data, #conn{buf = Buf} = C) ->
    case binary:split(<<Buf/binary, Data/binary>>, <<"\n">>) of
        [Line, Rest] ->
            case request(Line, C) of
                ok -> serve(<<>>, C#conn{buf = Rest});
                close -> close(C), closed
            end;
        [Partial] ->
            C#conn{buf = Partial}
    end.

request(<<"ping">>, C) ->
    tls_send(C, <<"pong\n">>);
request(<<"send ", Args/binary>>, C) ->
    [Size, Total] = [binary_to_integer(A) || A <- binary:split(Args, <<" ">>)],
    ok = send_bulk(C, binary:copy(<<"x">>, Size), Total),
    close.

send_bulk(_C, _Chunk, 0) ->
    ok;
send_bulk(C, Chunk, Left) when Left >= byte_size(Chunk) ->
    ok = tls_send(C, Chunk),
    send_bulk(C, Chunk, Left - byte_size(Chunk));
send_bulk(C, Chunk, Left) ->
    tls_send(C, binary:part(Chunk, 0, Left)).

tls_send(#conn{api = fast_tls, tls = Tls}, Bin) ->
    timed(send, fun() -> fast_tls:send(Tls, Bin) end);
tls_send(#conn{api = ssl, sock = S}, Bin) ->
    ssl:send(S, Bin).

%%--------------------------------------------------------------------
%% server: which code is loaded
%%--------------------------------------------------------------------

%% @doc Sets up the code path (`TLS_BENCH_EXPECT': the implementation's
%% dirs, which must come before OTP's; `TLS_BENCH_FORBID': the other
%% fast_tls's dirs, taken off OTP's default path, and an error anywhere
%% else), starts the application and checks where `fast_tls' and `p1_sha'
%% came from. Returns a description for the report.
load_impl(Impl) ->
    Expect = env_dirs("TLS_BENCH_EXPECT"),
    Forbid = env_dirs("TLS_BENCH_FORBID") -- Expect,
    put(tls_bench_dirs, {Expect, Forbid}),
    ok = code_path(Impl, Expect, Forbid),
    App = case api(Impl) of fast_tls -> fast_tls; ssl -> ssl end,
    case application:ensure_all_started(App) of
        {ok, _} -> ok;
        {error, Why} -> bench_lib:fail("~s: application ~s does not start: ~p", [Impl, App, Why])
    end,
    case api(Impl) of
        fast_tls ->
            Paths = [begin
                         case code:ensure_loaded(M) of
                             {module, M} -> ok;
                             {error, E} -> bench_lib:fail("~s: cannot load ~s: ~p", [Impl, M, E])
                         end,
                         code:which(M)
                     end || M <- [fast_tls, p1_sha]],
            check_loaded(Impl),
            lists:flatten(lists:join(", ", Paths));
        ssl ->
            check_loaded(Impl),
            "ssl " ++ app_vsn(ssl) ++ " (OTP " ++ erlang:system_info(otp_release) ++ ")"
    end.

app_vsn(App) ->
    case application:get_key(App, vsn) of
        {ok, V} -> V;
        _ -> "?"
    end.

env_dirs(Var) ->
    case os:getenv(Var) of
        false -> [];
        V -> [filename:absname(D) || D <- string:split(V, ":", all), D =/= ""]
    end.

%% @doc Every expected dir must be on the code path ahead of OTP's own dirs;
%% a forbidden dir under OTP's root (Debian's p1_tls) is taken off the path,
%% anywhere else it is an error.
code_path(Impl, Expect, Forbid) ->
    Root = filename:absname(code:root_dir()),
    Path = [filename:absname(D) || D <- code:get_path()],
    Indexed = lists:zip(lists:seq(1, length(Path)), Path),
    FirstOtp = lists:min([length(Path) + 1 |
                          [I || {I, D} <- Indexed, under(D, Root),
                                not lists:member(D, Expect)]]),
    _ = [case [I || {I, D} <- Indexed, D =:= E] of
             [] -> bench_lib:fail("~s: ~s is not on the code path", [Impl, E]);
             [I | _] when I > FirstOtp ->
                 bench_lib:fail("~s: ~s is not ahead of OTP's dirs on the code path", [Impl, E]);
             _ -> ok
         end || E <- Expect],
    _ = [case under(D, Root) of
             true -> del_path_all(D);
             false -> bench_lib:fail("~s: ~s (another fast_tls) is on the code path", [Impl, D])
         end || D <- lists:usort(Path), lists:member(D, Forbid)],
    ok.

del_path_all(D) ->
    case code:del_path(D) of
        true -> del_path_all(D);
        _ -> ok
    end.

under(Dir, Root) ->
    lists:prefix(filename:split(Root), filename:split(Dir)).

%% @doc Every loaded module named `fast_tls*', `p1_sha*' or `xmpp_accel*'
%% must come from the expected dirs (for `ssl': none may be loaded), and
%% nothing may have been loaded from a forbidden dir. Returns `ok' or stops
%% the VM.
check_loaded(Impl) ->
    {Expect, Forbid} = get_dirs(),
    Bad = [{M, F} || {M, F} <- code:all_loaded(), is_list(F),
                     Dir <- [filename:dirname(filename:absname(F))],
                     lists:member(Dir, Forbid)
                         orelse (tls_module(M) andalso not lists:member(Dir, Expect))],
    case Bad of
        [] -> ok;
        _ -> io:format(standard_error, "~s: module(s) loaded from the wrong place: ~p "
                       "(expected only from ~s)~n", [Impl, Bad, lists:join(":", Expect)]),
             erlang:halt(2)
    end.

get_dirs() ->
    case get(tls_bench_dirs) of
        undefined -> {env_dirs("TLS_BENCH_EXPECT"), env_dirs("TLS_BENCH_FORBID")};
        Dirs -> Dirs
    end.

tls_module(M) ->
    N = atom_to_list(M),
    lists:any(fun(P) -> lists:prefix(P, N) end, ["fast_tls", "p1_sha", "xmpp_accel"]).

%%====================================================================
%% client VM
%%====================================================================

%% @doc Runs every phase against the implementations in `Impls' and
%% prints the report. Server VMs for the handshake and bulk phases run at
%% the same time (idle ones cost nothing); each memory round gets a fresh
%% server VM.
client(WorkDir, Impls) ->
    {ok, _} = application:ensure_all_started(ssl),
    logger:set_primary_config(level, error),
    say("clients: OTP ssl ~s; bulk client: ~s", [app_vsn(ssl), load_impl(fast_tls)]),
    P = params(),
    {Servers, Failed0} = start_servers(WorkDir, Impls),
    Up0 = [I || I <- Impls, maps:is_key(I, Servers)],
    _ = [say("~-8s server runs ~s", [I, (maps:get(I, Servers))#srv.loaded]) || I <- Up0],
    Checks = maps:from_list([{{I, Name}, check_config(maps:get(I, Servers), Cert, Vsn)}
                             || I <- Up0, {Name, Cert, Vsn} <- ?HS_CONFIGS]),
    print_checks(Up0, Checks),
    %% the check phase made each server's first connections: its cold start
    Cold = maps:from_list([{I, S} || I <- Up0,
                                     {ok, S} <- [try_ctl(maps:get(I, Servers), {stats, 0})]]),
    {Up1, Failed1} = verify_servers(Servers, Up0, Failed0),
    Hs0 = handshake_phase(Servers, Up1, Checks, P),
    Bulk0 = bulk_phase(Servers, Up1, Checks, P),
    {Up, Failed} = verify_servers(Servers, Up1, Failed1),
    Hs = drop_lost(Hs0, Up),
    Bulk = drop_lost(Bulk0, Up),
    ok = check_loaded(client),
    _ = [stop_server(maps:get(I, Servers)) || I <- Up0],
    Mem = memory_phase(WorkDir, Up, Checks, P),
    Results = #{impls => Impls, failed => Failed, checks => Checks, cold => Cold,
                loaded => maps:map(fun(_, S) -> S#srv.loaded end, Servers),
                hs => Hs, bulk => Bulk, mem => Mem, params => P},
    ok = file:write_file(filename:join(WorkDir, "results.term"),
                         io_lib:format("~p.~n", [Results])),
    report(Results).

say(Fmt, Args) ->
    io:format("bench-tls: " ++ Fmt ++ "~n", Args).

%% @doc Starts one server VM per implementation; an implementation whose
%% VM does not come up is reported as failed (with its output) and left out.
start_servers(WorkDir, Impls) ->
    lists:foldl(fun(I, {Ok, Bad}) ->
                        case start_server(WorkDir, I) of
                            {ok, S} -> {Ok#{I => S}, Bad};
                            {error, Why} ->
                                say("~s: server VM failed: ~ts", [I, Why]),
                                {Ok, Bad#{I => "server VM did not start"}}
                        end
                end, {#{}, #{}}, Impls).

%% @doc Starts `WorkDir/server-Impl.sh' under an owner process (which
%% relays the VM's output to stderr), waits for its ready line and opens
%% the control connection.
start_server(WorkDir, Impl) ->
    Launcher = filename:join(WorkDir, "server-" ++ atom_to_list(Impl) ++ ".sh"),
    Self = self(),
    Owner = spawn(fun() -> server_owner(Self, Impl, Launcher) end),
    receive
        {ready, Owner, CtlPort} ->
            {ok, Ctl} = gen_tcp:connect({127, 0, 0, 1}, CtlPort,
                                        [binary, {packet, 4}, {active, false}]),
            Srv0 = #srv{impl = Impl, owner = Owner, ctl = Ctl},
            #{os_pid := OsPid, ports := Ports, loaded := Loaded} = ctl(Srv0, info),
            {ok, Srv0#srv{os_pid = OsPid, ports = Ports, loaded = Loaded}};
        {failed, Owner, Why} ->
            {error, Why}
    after ?READY_TIMEOUT ->
            exit(Owner, kill),
            {error, "no ready line within 60 s"}
    end.

%% @doc Owns the server VM's port: reports the ready line (or the output
%% and exit status if the VM stops first), then relays its output.
server_owner(Client, Impl, Launcher) ->
    Port = open_port({spawn_executable, "/bin/bash"},
                     [{args, [Launcher]}, {line, 4096}, binary, exit_status, stderr_to_stdout]),
    owner_loop(Client, Impl, Port, waiting, []).

owner_loop(Client, Impl, Port, State, Out) ->
    receive
        {Port, {data, {_, <<"tls_bench_ready ", Rest/binary>>}}} when State =:= waiting ->
            [CtlPort | _] = binary:split(Rest, <<" ">>),
            _ = [io:format(standard_error, "bench-tls [server ~s]: ~ts~n", [Impl, L])
                 || L <- lists:reverse(Out)],
            Client ! {ready, self(), binary_to_integer(CtlPort)},
            owner_loop(Client, Impl, Port, running, Out);
        {Port, {data, {Eol, Line}}} ->
            State =:= running andalso
                io:format(standard_error, "bench-tls [server ~s]: ~ts~s",
                          [Impl, Line, case Eol of eol -> "\n"; noeol -> "" end]),
            owner_loop(Client, Impl, Port, State, [Line | Out]);
        {Port, {exit_status, St}} when State =:= waiting ->
            Client ! {failed, self(),
                      io_lib:format("exit status ~b, output:~n~ts",
                                    [St, lists:join("\n", lists:reverse(Out))])};
        {Port, {exit_status, St}} ->
            Client ! {server_exit, self(), St}
    end.

%% @doc One control request to a server VM.
ctl(#srv{ctl = Ctl, impl = Impl}, Req) ->
    ok = gen_tcp:send(Ctl, term_to_binary(Req)),
    case gen_tcp:recv(Ctl, 0, 120000) of
        {ok, Bin} ->
            case binary_to_term(Bin) of
                {error, Why} -> error({server_error, Impl, Req, Why});
                Reply -> Reply
            end;
        {error, Why} -> error({control_connection, Impl, Req, Why})
    end.

ctl_check_loaded(Srv) ->
    ok = ctl(Srv, check_loaded).

%% @doc A control request that may fail: `{ok, Reply}' or `error'.
try_ctl(Srv, Req) ->
    try {ok, ctl(Srv, Req)}
    catch _:_ -> error
    end.

%% @doc Each server VM in `Up' must still be up and have loaded only its
%% own modules (a VM that finds a wrong one stops and prints why). The
%% others leave the run: returns `{StillUp, Failed}'.
verify_servers(Servers, Up, Failed) ->
    lists:foldl(
      fun(I, {Ok, Bad}) ->
              case try_ctl(maps:get(I, Servers), check_loaded) of
                  {ok, ok} -> {Ok ++ [I], Bad};
                  _ ->
                      say("~s: the server VM stopped or failed its module check (see its "
                          "output above); its figures are dropped", [I]),
                      {Ok, Bad#{I => "server VM stopped or failed its module check"}}
              end
      end, {[], Failed}, Up).

%% @doc Results of implementations no longer in `Up' become failures.
drop_lost(Results, Up) ->
    maps:map(fun({I, _}, V) ->
                     case lists:member(I, Up) of
                         true -> V;
                         false -> {failed, server_vm_lost}
                     end
             end, Results).

%% @doc Stops a server VM (closing the control connection stops it too)
%% and waits for it to exit.
stop_server(#srv{owner = Owner, ctl = Ctl}) ->
    _ = gen_tcp:send(Ctl, term_to_binary(stop)),
    _ = gen_tcp:close(Ctl),
    receive {server_exit, Owner, _} -> ok after 10000 -> ok end.

%%--------------------------------------------------------------------
%% client: connections
%%--------------------------------------------------------------------

%% @doc OTP ssl client options: no certificate check, one TLS version, no
%% resumption, so every handshake is a full one (TLS 1.2: no session reuse;
%% TLS 1.3: session tickets stay disabled, OTP's default). For TLS 1.2 the
%% client offers the curves common clients offer (OTP 25's default list
%% starts with sect571r1, which an OTP server would then pick); TLS 1.3
%% keeps OTP's default groups (x25519 first).
client_opts(Vsn) ->
    VsnOpts = case Vsn of
                  'tlsv1.3' -> [{session_tickets, disabled}];
                  _ -> [{reuse_sessions, false}, {eccs, [x25519, secp256r1, secp384r1]}]
              end,
    [binary, {active, false}, {packet, 0}, {nodelay, true},
     {verify, verify_none}, {versions, [Vsn]} | VsnOpts].

%% @doc Connects, completes the handshake and one `ping'/`pong' exchange
%% (the server has then seen the client's Finished and sent its reply).
open_conn(Port, Vsn) ->
    {ok, S} = ssl:connect({127, 0, 0, 1}, Port, client_opts(Vsn), ?IO_TIMEOUT),
    ok = ssl:send(S, <<"ping\n">>),
    {ok, <<"pong\n">>} = ssl:recv(S, 5, ?IO_TIMEOUT),
    S.

%% @doc One full handshake: connect, ping/pong, close.
handshake_once(Port, Vsn) ->
    ok = ssl:close(open_conn(Port, Vsn)).

%% @doc Check phase: one connection per configuration; returns the
%% negotiated protocol, cipher suite and key exchange group (as the client
%% sees them), or `{failed, Reason}'.
check_config(#srv{ports = Ports}, Cert, Vsn) ->
    try
        S = open_conn(maps:get(Cert, Ports), Vsn),
        {ok, Info} = ssl:connection_information(S, [protocol, selected_cipher_suite, ecc]),
        ok = ssl:close(S),
        #{protocol => proplists:get_value(protocol, Info),
          cipher => ssl:suite_to_str(proplists:get_value(selected_cipher_suite, Info)) ++
              case proplists:get_value(ecc, Info) of
                  {named_curve, Curve} -> " " ++ atom_to_list(Curve);
                  _ -> ""
              end}
    catch C:R -> {failed, {C, R}}
    end.

%% @doc Says which configurations failed their check (they are not run).
print_checks(Impls, Checks) ->
    _ = [say("~-8s ~-10s check FAILED: ~0tp", [I, Name, Why])
         || I <- Impls, {Name, _, _} <- ?HS_CONFIGS,
            {failed, Why} <- [maps:get({I, Name}, Checks)]],
    ok.

%% @doc Runs `Fun(K)' for K = 1..C in C processes at once; returns when
%% all are done, or fails with the first crash.
run_parallel(C, Fun) ->
    Ms = [spawn_monitor(fun() -> exit({done, Fun(K)}) end) || K <- lists:seq(1, C)],
    [receive {'DOWN', Ref, process, Pid, {done, R}} -> R;
             {'DOWN', Ref, process, Pid, Why} -> error({worker_failed, Why})
     end || {Pid, Ref} <- Ms].

%% @doc Splits `N' into `C' near-equal shares.
shares(N, C) ->
    [N div C + (if K =< N rem C -> 1; true -> 0 end) || K <- lists:seq(1, C)].

%% @doc CPU time of an OS process, summed over its threads. The per-thread
%% run time (`/proc/PID/task/*/schedstat', ns) is exact; the `utime'+`stime'
%% of `/proc/PID/stat' (clock ticks) also counts threads that have exited.
%% Returns `{ThreadIds, SchedNs, StatNs}'.
proc_cpu(OsPid) ->
    Dir = "/proc/" ++ OsPid ++ "/task",
    {ok, Tids} = file:list_dir(Dir),
    Ns = lists:sum([schedstat_ns(filename:join([Dir, T, "schedstat"])) || T <- Tids]),
    {lists:sort(Tids), Ns, stat_ns(OsPid)}.

schedstat_ns(File) ->
    case file:read_file(File) of
        {ok, B} -> [Ns | _] = binary:split(B, <<" ">>), binary_to_integer(Ns);
        {error, _} -> 0
    end.

stat_ns(OsPid) ->
    {ok, B} = file:read_file("/proc/" ++ OsPid ++ "/stat"),
    [_, AfterName] = string:split(B, ") ", trailing),
    Fields = string:lexemes(AfterName, " "),
    Ticks = binary_to_integer(lists:nth(12, Fields)) + binary_to_integer(lists:nth(13, Fields)),
    Ticks * (1000000000 div clk_tck()).

clk_tck() ->
    case os:getenv("TLS_BENCH_CLK_TCK") of
        false -> 100;
        T -> list_to_integer(T)
    end.

%% @doc CPU seconds between two `proc_cpu/1' readings: the schedstat sum,
%% unless a thread came or went in between (then the tick counts).
cpu_s({Tids, Ns0, _}, {Tids, Ns1, _}) -> (Ns1 - Ns0) / 1.0e9;
cpu_s({_, _, St0}, {_, _, St1}) -> (St1 - St0) / 1.0e9.

now_s() ->
    erlang:monotonic_time(microsecond) / 1.0e6.

%% @doc `Fun()' in a round: returns its result, or `{failed, Reason}'.
attempt(Fun) ->
    try Fun()
    catch C:R -> {failed, {C, R}}
    end.

%% @doc Rotates a list left by `K' places (the implementation that goes
%% first changes from round to round).
rotate(L, K) ->
    {A, B} = lists:split(K rem max(1, length(L)), L),
    B ++ A.

ok_config(Checks, I, Name) ->
    is_map(maps:get({I, Name}, Checks)).

%%--------------------------------------------------------------------
%% client: handshakes
%%--------------------------------------------------------------------

%% @doc Runs the workloads `Keys' on every implementation: one untimed
%% warm-up run of `Warm(Impl, Key)' each, then `R' rounds of
%% `Timed(Impl, Key)'. In a round every key runs on every implementation,
%% and the implementation that goes first rotates. Then issue 14's rule:
%% a key whose figure spreads over 20 % across its rounds gets
%% `bench_lib:extra_rounds(R)' more rounds (the figure is `Figure(Result)';
%% the spread is that of the per-round ratio
%% ours/fast_tls when both ran, else the largest of the implementations').
%% Returns `#{{Impl, Key} => #{warm => Result, rounds => [Result]} |
%% {failed, Why}}'; a workload that fails once is not run again.
interleave(Keys, Impls, R, Warm, Timed, Figure) ->
    Warmed = maps:from_list(
               [{{I, K}, case attempt(fun() -> Warm(I, K) end) of
                             {failed, _} = F -> F;
                             W -> #{warm => W, rounds => []}
                         end} || {K, Is} <- Keys, I <- Is]),
    Acc = rounds(Keys, Impls, 1, R, Timed, Warmed),
    Noisy = [{K, Is} || {K, Is} <- Keys, key_noisy(Acc, K, Is, Figure)],
    case {Noisy, bench_lib:extra_rounds(R)} of
        {[], _} ->
            Acc;
        {_, 0} ->
            Acc;
        {_, Extra} ->
            say("spread over 20 % for ~s: ~b more rounds",
                [lists:join(", ", [io_lib:format("~p", [K]) || {K, _} <- Noisy]), Extra]),
            rounds(Noisy, Impls, R + 1, R + Extra, Timed, Acc)
    end.

rounds(Keys, Impls, From, To, Timed, Acc) ->
    lists:foldl(
      fun(Round, Acc0) ->
              lists:foldl(
                fun({K, Is}, Acc1) ->
                        lists:foldl(fun(I, Acc2) -> timed_round(I, K, Timed, Acc2) end,
                                    Acc1, rotate([I || I <- Impls, lists:member(I, Is)], Round))
                end, Acc0, Keys)
      end, Acc, lists:seq(From, To)).

key_noisy(Acc, K, Is, Figure) ->
    case round_ratios(maps:get({ours, K}, Acc, none), maps:get({fast_tls, K}, Acc, none), Figure) of
        [_, _ | _] = Ratios ->
            bench_lib:noisy(Ratios);
        _ ->
            lists:any(fun(I) ->
                              case maps:get({I, K}, Acc) of
                                  #{rounds := Rs} -> bench_lib:noisy([Figure(X) || X <- Rs]);
                                  _ -> false
                              end
                      end, Is)
    end.

%% @doc `Figure(A) / Figure(B)' round by round (round N of each ran
%% one after the other), or `[]'.
round_ratios(#{rounds := As}, #{rounds := Bs}, Figure) when length(As) =:= length(Bs) ->
    [Figure(A) / Figure(B) || {A, B} <- lists:zip(As, Bs), Figure(B) > 0];
round_ratios(_, _, _) ->
    [].

timed_round(I, K, Timed, Acc) ->
    case maps:get({I, K}, Acc) of
        #{rounds := L} = M ->
            case attempt(fun() -> Timed(I, K) end) of
                {failed, _} = F -> Acc#{{I, K} => F};
                Res -> Acc#{{I, K} => M#{rounds := L ++ [Res]}}
            end;
        {failed, _} ->
            Acc
    end.

%% @doc For every configuration: untimed warm-up (which also makes each
%% server load its certificates), then `hs_rounds' timed rounds.
handshake_phase(Servers, Impls, Checks, P) ->
    #{hs_rounds := R, hs_n := N, hs_conc := C, hs_warmup := W} = P,
    say("handshakes: ~b rounds x ~b handshakes (~b concurrent clients) per configuration",
        [R, N, C]),
    Keys = [{Name, [I || I <- Impls, ok_config(Checks, I, Name)]} || {Name, _, _} <- ?HS_CONFIGS],
    Run = fun(Count) ->
                  fun(I, Name) ->
                          {Name, Cert, Vsn} = lists:keyfind(Name, 1, ?HS_CONFIGS),
                          hs_round(maps:get(I, Servers), Cert, Vsn, Count, C)
                  end
          end,
    interleave(Keys, Impls, R, Run(W), Run(N), fun hs_figure/1).

%% @doc Server CPU ms per handshake of a round.
hs_figure(#{n := N, cpu_s := C}) -> 1000 * C / N.

%% @doc One timed round: `N' full handshakes by `C' concurrent clients.
%% Server CPU is read before and after, after the server has processed
%% every close; the call times and long_schedule are the server's.
hs_round(Srv, Cert, Vsn, N, C) ->
    Port = maps:get(Cert, Srv#srv.ports),
    ok = ctl(Srv, reset_stats),
    Cpu0 = proc_cpu(Srv#srv.os_pid),
    Me0 = proc_cpu(os:getpid()),
    T0 = now_s(),
    _ = run_parallel(C, fun(K) ->
                                [handshake_once(Port, Vsn)
                                 || _ <- lists:seq(1, lists:nth(K, shares(N, C)))]
                        end),
    T1 = now_s(),
    Stats = ctl(Srv, {stats, 0}),
    Cpu1 = proc_cpu(Srv#srv.os_pid),
    Me1 = proc_cpu(os:getpid()),
    #{n => N, wall_s => T1 - T0, cpu_s => cpu_s(Cpu0, Cpu1),
      client_cpu_s => cpu_s(Me0, Me1), stats => Stats}.

%%--------------------------------------------------------------------
%% client: bulk
%%--------------------------------------------------------------------

%% @doc Bulk transfer, server to client, TLS 1.3 with the ECDSA
%% certificate, a new connection per round; the warm-up sends a quarter.
bulk_phase(Servers, Impls, Checks, P) ->
    #{bulk_rounds := R, bulk_total := Totals} = P,
    say("bulk: ~b rounds per write size, server sends (TLS 1.3, ECDSA), client counts "
        "ciphertext", [R]),
    Keys = [{Size, [I || I <- Impls, ok_config(Checks, I, hs13_ecdsa)]} || Size <- ?BULK_SIZES],
    Run = fun(Div) ->
                  fun(I, Size) ->
                          bulk_round(maps:get(I, Servers), Size, maps:get(Size, Totals) div Div)
                  end
          end,
    interleave(Keys, Impls, R, Run(4), Run(1), fun bulk_mb_s/1).

%% @doc Plaintext MB/s of a round.
bulk_mb_s(#{bytes := B, wall_s := W}) -> B / ?MB / W.

%% @doc Server CPU ms per plaintext MB of a round.
bulk_cpu_ms_mb(#{bytes := B, cpu_s := C}) -> 1000 * C / (B / ?MB).

%% @doc One timed transfer. The client (Debian's fast_tls, so the client is
%% cheap and the same for every server) does the handshake and sends the
%% request `send Size Total'; then it takes the TCP socket back
%% (`tls_to_tcp/1') and counts the ciphertext until the server, having
%% written `Total' bytes in writes of `Size', closes the connection. Timed
%% from the request to the close.
bulk_round(Srv, Size, Total) ->
    {Sock, Tls} = fast_tls_conn(maps:get(ecdsa, Srv#srv.ports)),
    ok = ctl(Srv, reset_stats),
    Cpu0 = proc_cpu(Srv#srv.os_pid),
    Me0 = proc_cpu(os:getpid()),
    T0 = now_s(),
    ok = fast_tls:send(Tls, iolist_to_binary(io_lib:format("send ~b ~b\n", [Size, Total]))),
    Sock = fast_tls:tls_to_tcp(Tls),
    Wire = count_until_closed(Sock, 0),
    T1 = now_s(),
    Cpu1 = proc_cpu(Srv#srv.os_pid),
    Me1 = proc_cpu(os:getpid()),
    ok = gen_tcp:close(Sock),
    Wire >= Total orelse error({short_transfer, Wire, Total}),
    Stats = ctl(Srv, {stats, 0}),
    #{bytes => Total, wire_bytes => Wire, wall_s => T1 - T0, cpu_s => cpu_s(Cpu0, Cpu1),
      client_cpu_s => cpu_s(Me0, Me1), stats => Stats}.

%% @doc A TLS connection with Debian's fast_tls as the client (in the
%% client VM, which never loads ours), after one `ping'/`pong'.
fast_tls_conn(Port) ->
    {ok, Sock} = gen_tcp:connect({127, 0, 0, 1}, Port,
                                 [binary, {active, false}, {packet, 0}, {nodelay, true},
                                  {buffer, 1048576}],
                                 ?IO_TIMEOUT),
    {ok, Tls} = fast_tls:tcp_to_tls(Sock, [connect]),
    {ok, _} = fast_tls:recv_data(Tls, <<>>),
    ok = fast_tls:send(Tls, <<"ping\n">>),
    <<"pong\n">> = fast_tls_recv(Sock, Tls, 5, <<>>),
    {Sock, Tls}.

fast_tls_recv(_Sock, _Tls, N, Acc) when byte_size(Acc) >= N ->
    Acc;
fast_tls_recv(Sock, Tls, N, Acc) ->
    {ok, Data} = gen_tcp:recv(Sock, 0, ?IO_TIMEOUT),
    {ok, Plain} = fast_tls:recv_data(Tls, Data),
    fast_tls_recv(Sock, Tls, N, <<Acc/binary, Plain/binary>>).

%% @doc Reads the socket until the server closes it; returns the byte
%% count. A read that returns less than 64 KB is followed by a 1 ms pause:
%% the kernel's receive buffer (autotuned, not set) holds what arrives
%% meanwhile, so the client takes few wake-ups whatever the server's
%% segment sizes, and the server is not slowed down.
count_until_closed(Sock, N) ->
    case gen_tcp:recv(Sock, 0, ?IO_TIMEOUT) of
        {ok, B} when byte_size(B) >= 65536 ->
            count_until_closed(Sock, N + byte_size(B));
        {ok, B} ->
            timer:sleep(1),
            count_until_closed(Sock, N + byte_size(B));
        {error, closed} -> N;
        {error, Why} -> error({bulk_recv, Why, N})
    end.

%%--------------------------------------------------------------------
%% client: idle memory
%%--------------------------------------------------------------------

%% @doc `mem_rounds' rounds, each in a fresh server VM per implementation
%% (freed memory stays in the allocators, so a second round in the same VM
%% would grow less).
memory_phase(WorkDir, Impls, Checks, P) ->
    #{mem_rounds := R, mem_conns := N} = P,
    say("idle memory: ~b round(s) of ~b connections (TLS 1.3, ECDSA), fresh server VM each",
        [R, N]),
    Keys = [{idle, [I || I <- Impls, ok_config(Checks, I, hs13_ecdsa)]}],
    interleave(Keys, Impls, R, fun(_, _) -> none end,
               fun(I, idle) -> memory_round(WorkDir, I, N, P) end, fun mem_figure/1).

%% @doc RSS KB per idle connection of a round.
mem_figure(#{n := N, rss := R}) -> R / N / 1024.

%% @doc Erlang KB per idle connection of a round.
mem_erlang_figure(#{n := N, erlang := E}) -> E / N / 1024.

%% @doc Fresh server VM; warm-up handshakes; memory; `N' connections
%% opened (handshake and ping/pong done) and kept open by `hs_conc'
%% clients; memory again; close all; stop the VM.
memory_round(WorkDir, Impl, N, #{hs_conc := C, hs_warmup := W}) ->
    {ok, Srv} = start_server(WorkDir, Impl),
    try
        Port = maps:get(ecdsa, Srv#srv.ports),
        _ = hs_round(Srv, ecdsa, 'tlsv1.3', W, C),
        Before = ctl(Srv, {memory, 0}),
        Self = self(),
        Holders = [spawn_monitor(fun() -> hold_conns(Self, Port, Share) end)
                   || Share <- shares(N, C)],
        try
            _ = [holder_says(H, opened, 300000) || H <- Holders],
            After = ctl(Srv, {memory, N}),
            ok = ctl_check_loaded(Srv),
            _ = [Pid ! close || {Pid, _} <- Holders],
            _ = [holder_says(H, closed, 60000) || H <- Holders],
            maps:get(live, After) =:= N orelse error({live_connections, maps:get(live, After), N}),
            #{n => N, erlang => maps:get(erlang, After) - maps:get(erlang, Before),
              rss => maps:get(rss, After) - maps:get(rss, Before)}
        after
            _ = [exit(Pid, kill) || {Pid, _} <- Holders]
        end
    after
        stop_server(Srv)
    end.

%% @doc Waits for `{What, Pid}' from a holder; fails if it died first.
holder_says({Pid, Ref}, What, Timeout) ->
    receive
        {What, Pid} -> ok;
        {'DOWN', Ref, process, Pid, Why} -> error({holder_died, Why})
    after Timeout -> error({holder_timeout, What})
    end.

%% @doc Opens `Count' connections, tells the client, keeps them open until
%% told to close.
hold_conns(Client, Port, Count) ->
    Socks = [open_conn(Port, 'tlsv1.3') || _ <- lists:seq(1, Count)],
    Client ! {opened, self()},
    receive close -> ok end,
    _ = [ssl:close(S) || S <- Socks],
    Client ! {closed, self()},
    ok.

%%====================================================================
%% report
%%====================================================================

%% @doc Tables for all implementations, ratios, and the summary line.
report(#{impls := Impls, failed := Failed, checks := Checks, cold := Cold, hs := Hs,
         bulk := Bulk, mem := Mem, params := P}) ->
    io:format("~n"),
    _ = [io:format("~-8s FAILED: ~ts~n", [I, maps:get(I, Failed)]) || I <- maps:keys(Failed)],
    negotiated(Impls, Checks),
    hs_table(Impls, Hs, Cold, P),
    bulk_table(Impls, Bulk, P),
    mem_table(Impls, Mem, P),
    ratio_table(Impls, Hs, Bulk, Mem),
    io:format("~s~n", [summary(Hs, Bulk, Mem)]).

%% @doc What the client negotiated with each server, per configuration;
%% a difference from fast_tls is pointed out (the figures then compare
%% different algorithms). TLS 1.3 key exchange: the client's first key
%% share is x25519; OTP does not report the group.
negotiated(Impls, Checks) ->
    io:format("Negotiated (as the OTP ssl client sees it)~n"),
    _ = [begin
             Ref = maps:get({fast_tls, Name}, Checks, undefined),
             Got = maps:get({I, Name}, Checks, undefined),
             io:format("  ~-11s ~-8s ~s~s~n",
                       [Name, I, neg_str(Got),
                        case is_map(Ref) andalso is_map(Got) andalso Ref =/= Got of
                            true -> "   <- differs from fast_tls";
                            false -> ""
                        end])
         end || {Name, _, _} <- ?HS_CONFIGS, I <- Impls, maps:is_key({I, Name}, Checks)],
    io:format("~n").

neg_str(#{protocol := Pr, cipher := Ci}) -> io_lib:format("~s ~s", [Pr, Ci]);
neg_str({failed, Why}) -> io_lib:format("FAILED: ~0tp", [Why]);
neg_str(undefined) -> "-".

hs_table(Impls, Hs, Cold, P) ->
    io:format("Full handshakes: ~b rounds x ~b, ~b concurrent OTP ssl clients (medians)~n",
              [maps:get(hs_rounds, P), maps:get(hs_n, P), maps:get(hs_conc, P)]),
    io:format("~-11s ~-8s ~6s ~12s ~7s ~6s ~12s ~8s ~9s ~8s ~10s~n",
              ["config", "impl", "hs/s", "server ms/hs", "spread", "rounds", "client ms/hs",
               "p99 us", "rmax us", "max us", "long_sched"]),
    _ = [hs_row(Name, I, maps:get({I, Name}, Hs, missing))
         || {Name, _, _} <- ?HS_CONFIGS, I <- Impls],
    io:format("  server/client ms/hs: CPU time of the server VM / client VM per handshake.~n"
              "  p99/rmax/max us: wall time of single fast_tls calls (tcp_to_tls, recv_data, "
              "send, close) in the~n"
              "  server: median of the rounds' p99, median of the rounds' longest call, "
              "longest call of all rounds.~n"
              "  long_sched: longest long_schedule in the server VM over all rounds, ms "
              "(0: none >= 1 ms).~n"
              "  spread: (max-min)/median of server ms/hs over the rounds; more rounds ran "
              "where the ratio to fast_tls spread over 20 %.~n"),
    _ = [long_schedule_row(I, Hs) || I <- Impls],
    _ = [cold_row(I, maps:get(I, Cold)) || I <- Impls, maps:is_key(I, Cold)],
    io:format("~n").

%% @doc Where the longest long_schedule of the timed handshake rounds was
%% (the function the process was scheduled in at): a NIF shows as its
%% module's function; OS preemption makes any place look long.
long_schedule_row(I, Hs) ->
    All = [L || {Name, _, _} <- ?HS_CONFIGS,
                #{rounds := Rounds} <- [maps:get({I, Name}, Hs, missing)],
                #{stats := #{long_schedule := {_, _, _} = L}} <- Rounds],
    case lists:reverse(lists:sort(All)) of
        [] -> ok;
        [{Ms, Who, In} | _] ->
            io:format("  longest long_schedule ~-8s ~b ms: ~s, scheduled in at ~s~n",
                      [I, Ms, who_str(Who), where_str(In)])
    end.

who_str(process) -> "a process";
who_str({port, {name, Name}}) -> "port " ++ Name;
who_str(Other) -> io_lib:format("~0p", [Other]).

where_str({M, F, A}) -> io_lib:format("~s:~s/~b", [M, F, A]);
where_str(_) -> "(not reported)".

hs_row(Name, I, Res) ->
    case hs_medians(Res) of
        {no, Why} -> io:format("~-11s ~-8s ~s~n", [Name, I, Why]);
        #{hs_s := Hs, cpu_ms := Cpu, cpu_spread := Sp, rounds := N, client_ms := Cl,
          max_us := Max, rmax_us := RMax, p99_us := P99, long_ms := Long} ->
            io:format("~-11s ~-8s ~6b ~12.3f ~6.1f% ~6b ~12.3f ~8s ~9s ~8s ~10b~n",
                      [Name, I, round(Hs), Cpu, Sp, N, Cl, fmt_int(P99), fmt_int(RMax),
                       fmt_int(Max), Long])
    end.

%% @doc The check phase's longest call and long_schedule: each server's
%% first connections, where the first `tcp_to_tls' with a certificate
%% loads it.
cold_row(I, Stats) ->
    io:format("  cold start ~-8s (first connection per configuration): longest call ~s us (~s), "
              "long_sched ~b ms~n",
              [I, fmt_int(maps:get(max_us, Stats, undefined)), max_kind([Stats]),
               long_ms(maps:get(long_schedule, Stats))]).

%% @doc Medians of a workload's timed rounds, or `{no, Why}'.
hs_medians(#{rounds := [_ | _] = Rounds}) ->
    Med = fun(F) -> bench_lib:median([F(R) || R <- Rounds]) end,
    Stats = [maps:get(stats, R) || R <- Rounds],
    #{hs_s => Med(fun(#{n := N, wall_s := W}) -> N / W end),
      cpu_ms => Med(fun hs_figure/1),
      cpu_spread => bench_lib:spread_pct([hs_figure(R) || R <- Rounds]),
      rounds => length(Rounds),
      client_ms => Med(fun(#{n := N, client_cpu_s := C}) -> 1000 * C / N end),
      max_us => max_of([maps:get(max_us, S, undefined) || S <- Stats]),
      rmax_us => med_of([maps:get(max_us, S, undefined) || S <- Stats]),
      p99_us => med_of([maps:get(p99_us, S, undefined) || S <- Stats]),
      long_ms => max_of([long_ms(maps:get(long_schedule, S)) || S <- Stats])};
hs_medians(Other) ->
    not_run(Other).

not_run({failed, Why}) -> {no, io_lib:format("FAILED: ~0tp", [Why])};
not_run(_) -> {no, "(not run)"}.

long_ms(none) -> 0;
long_ms({Ms, _, _}) -> Ms.

max_of(L) ->
    case [X || X <- L, X =/= undefined] of
        [] -> undefined;
        Xs -> lists:max(Xs)
    end.

med_of(L) ->
    case [X || X <- L, X =/= undefined] of
        [] -> undefined;
        Xs -> bench_lib:median(Xs)
    end.

max_kind(Stats) ->
    case lists:reverse(lists:sort([{M, K} || #{max_us := M, max_kind := K} <- Stats])) of
        [{_, K} | _] -> atom_to_list(K);
        [] -> "-"
    end.

fmt_int(undefined) -> "-";
fmt_int(X) -> integer_to_list(round(X)).

bulk_table(Impls, Bulk, P) ->
    io:format("Bulk, server sends, TLS 1.3 ECDSA, ~b rounds (medians; MB = 10^6 bytes of "
              "plaintext)~n", [maps:get(bulk_rounds, P)]),
    io:format("~-8s ~-8s ~9s ~7s ~6s ~13s ~13s ~11s ~10s~n",
              ["writes", "impl", "MB/s", "spread", "rounds", "server ms/MB", "client ms/MB",
               "max call us", "long_sched"]),
    _ = [bulk_row(Size, I, maps:get({I, Size}, Bulk, missing))
         || Size <- ?BULK_SIZES, I <- Impls],
    io:format("  bulk call times include waiting for the socket (gen_tcp:send in "
              "fast_tls:send).~n~n").

bulk_medians(#{rounds := [_ | _] = Rounds}) ->
    Stats = [maps:get(stats, R) || R <- Rounds],
    MBs = [bulk_mb_s(R) || R <- Rounds],
    #{mb_s => bench_lib:median(MBs),
      mb_s_spread => bench_lib:spread_pct(MBs),
      rounds => length(Rounds),
      cpu_ms_mb => bench_lib:median([bulk_cpu_ms_mb(R) || R <- Rounds]),
      client_ms_mb => bench_lib:median([1000 * C / (B / ?MB)
                                        || #{bytes := B, client_cpu_s := C} <- Rounds]),
      max_us => max_of([maps:get(max_us, S, undefined) || S <- Stats]),
      long_ms => max_of([long_ms(maps:get(long_schedule, S)) || S <- Stats])};
bulk_medians(Other) ->
    not_run(Other).

bulk_row(Size, I, Res) ->
    Label = integer_to_list(Size div 1024) ++ " KB",
    case bulk_medians(Res) of
        {no, Why} -> io:format("~-8s ~-8s ~s~n", [Label, I, Why]);
        #{mb_s := Mbs, mb_s_spread := Sp, rounds := N, cpu_ms_mb := Cpu, client_ms_mb := Cl,
          max_us := Max, long_ms := Long} ->
            io:format("~-8s ~-8s ~9.1f ~6.1f% ~6b ~13.3f ~13.3f ~11s ~10b~n",
                      [Label, I, Mbs, Sp, N, Cpu, Cl, fmt_int(Max), Long])
    end.

mem_table(Impls, Mem, P) ->
    io:format("Idle connections, TLS 1.3 ECDSA: ~b per round, ~b round(s), fresh server VM each "
              "(medians, KB = 1024 bytes per connection)~n",
              [maps:get(mem_conns, P), maps:get(mem_rounds, P)]),
    io:format("~-8s ~10s ~10s ~10s ~7s ~6s~n",
              ["impl", "erlang KB", "other KB", "RSS KB", "spread", "rounds"]),
    _ = [mem_row(I, maps:get({I, idle}, Mem, missing)) || I <- Impls],
    io:format("  erlang: erlang:memory(total); RSS: VmRSS of the server (includes erlang); "
              "other = RSS - erlang.~n~n").

mem_medians(#{rounds := [_ | _] = Rounds}) ->
    Rsss = [mem_figure(R) || R <- Rounds],
    Rss = bench_lib:median(Rsss),
    E = bench_lib:median([mem_erlang_figure(R) || R <- Rounds]),
    #{erlang_kb => E, rss_kb => Rss, other_kb => Rss - E,
      rss_spread => bench_lib:spread_pct(Rsss),
      rounds => length(Rounds)};
mem_medians(Other) ->
    not_run(Other).

mem_row(I, Res) ->
    case mem_medians(Res) of
        {no, Why} -> io:format("~-8s ~s~n", [I, Why]);
        #{erlang_kb := E, other_kb := O, rss_kb := R, rss_spread := Sp, rounds := N} ->
            io:format("~-8s ~10.1f ~10.1f ~10.1f ~6.1f% ~6b~n", [I, E, O, R, Sp, N])
    end.

%% @doc `ours/fast_tls' and `ssl/fast_tls' for every figure that has both.
ratio_table(Impls, Hs, Bulk, Mem) ->
    Others = [I || I <- [ours, ssl], lists:member(I, Impls)],
    case lists:member(fast_tls, Impls) andalso Others =/= [] of
        false -> ok;
        true ->
            io:format("Ratios to fast_tls (CPU, memory: lower is better; MB/s: higher is "
                      "better)~n"),
            Spread = lists:member(ours, Others),
            io:format("~-20s~s~s~n", ["", [io_lib:format(" ~14s", [atom_to_list(O) ++ "/fast_tls"])
                                           || O <- Others],
                                      [io_lib:format(" ~24s", ["per-round ours/fast_tls"])
                                       || Spread]]),
            Rows = [{atom_to_list(Name) ++ " cpu/hs", fun(I) -> hs_fig(Hs, I, Name, cpu_ms) end,
                     {Hs, Name, fun hs_figure/1}}
                    || {Name, _, _} <- ?HS_CONFIGS]
                ++ [{"bulk " ++ integer_to_list(S div 1024) ++ "K MB/s",
                     fun(I) -> bulk_fig(Bulk, I, S, mb_s) end,
                     {Bulk, S, fun bulk_mb_s/1}} || S <- ?BULK_SIZES]
                ++ [{"bulk " ++ integer_to_list(S div 1024) ++ "K cpu/MB",
                     fun(I) -> bulk_fig(Bulk, I, S, cpu_ms_mb) end,
                     {Bulk, S, fun bulk_cpu_ms_mb/1}} || S <- ?BULK_SIZES]
                ++ [{"idle RSS/conn", fun(I) -> mem_fig(Mem, I, rss_kb) end,
                     {Mem, idle, fun mem_figure/1}},
                    {"idle erlang/conn", fun(I) -> mem_fig(Mem, I, erlang_kb) end,
                     {Mem, idle, fun mem_erlang_figure/1}}],
            _ = [io:format("~-20s~s~s~n",
                           [Label, [io_lib:format(" ~14s", [ratio(F(O), F(fast_tls))])
                                    || O <- Others],
                            [io_lib:format(" ~24s", [round_ratio_str(Res, K, RF)]) || Spread]])
                 || {Label, F, {Res, K, RF}} <- Rows],
            io:format("  per-round: the ratio of each round's pair (the two ran one after the "
                      "other): spread = (max-min)/median, and the number of rounds.~n~n")
    end.

round_ratio_str(Res, K, Figure) ->
    case round_ratios(maps:get({ours, K}, Res, none), maps:get({fast_tls, K}, Res, none), Figure) of
        [] -> "NA";
        Ratios -> io_lib:format("spread ~.1f% of ~b", [bench_lib:spread_pct(Ratios), length(Ratios)])
    end.

hs_fig(Hs, I, Name, K) ->
    fig(hs_medians(maps:get({I, Name}, Hs, missing)), K).

bulk_fig(Bulk, I, S, K) ->
    fig(bulk_medians(maps:get({I, S}, Bulk, missing)), K).

mem_fig(Mem, I, K) ->
    fig(mem_medians(maps:get({I, idle}, Mem, missing)), K).

fig({no, _}, _) -> undefined;
fig(M, K) -> maps:get(K, M).

ratio(A, B) when is_number(A), is_number(B), B > 0 ->
    float_to_list(A / B, [{decimals, 2}]);
ratio(_, _) ->
    "NA".

%% @doc The machine-readable last line.
summary(Hs, Bulk, Mem) ->
    MaxNif = max_of([hs_fig(Hs, ours, Name, max_us) || {Name, _, _} <- ?HS_CONFIGS]),
    io_lib:format("summary: hs13_ecdsa_cpu_vs_fast_tls=~s hs13_rsa_cpu_vs_fast_tls=~s "
                  "idle_mem_vs_fast_tls=~s tput1k_vs_fast_tls=~s tput64k_vs_fast_tls=~s "
                  "max_nif_us=~s",
                  [ratio(hs_fig(Hs, ours, hs13_ecdsa, cpu_ms),
                         hs_fig(Hs, fast_tls, hs13_ecdsa, cpu_ms)),
                   ratio(hs_fig(Hs, ours, hs13_rsa, cpu_ms),
                         hs_fig(Hs, fast_tls, hs13_rsa, cpu_ms)),
                   ratio(mem_fig(Mem, ours, rss_kb), mem_fig(Mem, fast_tls, rss_kb)),
                   ratio(bulk_fig(Bulk, ours, 1024, mb_s), bulk_fig(Bulk, fast_tls, 1024, mb_s)),
                   ratio(bulk_fig(Bulk, ours, 65536, mb_s), bulk_fig(Bulk, fast_tls, 65536, mb_s)),
                   fmt_na(MaxNif)]).

fmt_na(undefined) -> "NA";
fmt_na(X) -> integer_to_list(round(X)).
