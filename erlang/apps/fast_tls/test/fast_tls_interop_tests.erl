%%% @doc Interop matrix for the fast_tls drop-in: real TLS connections on
%%% 127.0.0.1 between our fast_tls (this VM), Debian's real fast_tls
%%% (erlang-p1-tls, in a peer VM: see reference_fast_tls) and OTP's ssl, with
%%% certificates made at test time (tls_test_certs). Every connection
%%% exchanges a payload both ways and the test asserts both arrived intact.
%%%
%%% Covered: our server against our client, Debian's client and OTP's client;
%%% our client against Debian's server and OTP's server; TLS 1.2 and 1.3
%%% (forced by the OTP side's `versions' or by `{protocol_options,
%%% <<"no_tlsv1_3">>}' on ours), ECDSA P-256 and RSA 2048 server keys;
%%% client certificates and the verify codes our server reports (fast_tls
%%% verifies later: the handshake never fails on a bad peer certificate);
%%% our client verifying servers; SNI (add_certfile/2, `{sni, Name}');
%%% ALPN; the RFC 9266 exporter, Finished messages; get_negotiated_cipher/1
%%% against Debian's in the same scenario; finish_handshake/2.
%%%
%%% Behaviour of fast_tls 1.1.26 that Debian's 1.1.16 lacks is tested only
%%% when the fast_tls under test has it (get_tls_cb_exporter/1 exported, or
%%% the application's vsn), so the matrix also runs against Debian's own
%%% fast_tls as "ours" (then all but those pass). DIFFERENCES between
%%% Debian's 1.1.16 and 1.1.26, seen here:
%%% <ul>
%%% <li>get_tls_cb_exporter/1 (1.1.17), p12_to_pem/2 (1.1.20) and
%%%     finish_handshake/2 (1.1.22) are not in 1.1.16;</li>
%%% <li>on TLS 1.3, get_tls_last_message/2 gives `{error, undefined}' in
%%%     1.1.26 but 48 bytes of Finished verify data in 1.1.16;</li>
%%% <li>a failed handshake sends the TLS alert in 1.1.26 (OTP's client sees
%%%     `{tls_alert, {protocol_version, _}}'); 1.1.16 just closes;</li>
%%% <li>`override_cert_purpose' (1.1.24) is ignored by 1.1.16 (a client
%%%     cert for serverAuth only stays 26);</li>
%%% <li>loop_nif/4 returns `{Tag, ToWrite, Plain}' in 1.1.26 (`Tag' init, ok
%%%     or `{error, _}') but `{ToWrite, Plain}' in 1.1.16.</li>
%%% </ul>
%%% The whole suite passes against the real fast_tls 1.1.26 (its source,
%%% built against the system's OpenSSL 3.0, as "ours"), which is what
%%% fixed these expectations. What the real fast_tls does and this asserts:
%%% the server always asks for a client certificate unless `verify_none',
%%% accepts any (verify-later) and reports OpenSSL's verify code; OpenSSL
%%% goes on verifying after an error (fast_tls's callback returns 1) and
%%% the last error is the result, so a lone certificate from an unknown CA
%%% ends as 21 ("unable to verify the first certificate"), and 20 ("unable
%%% to get local issuer certificate") needs a chain (cert + intermediate
%%% whose root is unknown); a client without `cafile' uses the system store
%%% (our CA is not in it: 21); there is no host name check; a server has no
%%% ALPN (the `alpn' option is read only for `connect'); Finished messages
%%% on TLS 1.2 are 12 bytes, each end's own equal to the other's peer one.
%%% Ours differs on purpose in two places (see fast_tls.erl): a server with
%%% `{alpn, _}' negotiates ALPN, and get_tls_last_message/2 is
%%% `{error, undefined}' on TLS 1.2 too (rustls has no tls-unique).
-module(fast_tls_interop_tests).

-include_lib("eunit/include/eunit.hrl").
-include_lib("public_key/include/public_key.hrl").

-define(T(F), {timeout, 30, F}).
-define(RESULT_TIMEOUT, 15000).

%%% ------------------------------------------------------------------
%%% the suite

interop_test_() ->
    {setup, fun setup/0, fun cleanup/1,
     fun(Ctx) ->
             [{"matrix", matrix_tests(Ctx)},
              {"client certificates seen by our server", client_cert_tests(Ctx)},
              {"our client verifying servers", server_verify_tests(Ctx)},
              {"SNI", sni_tests(Ctx)},
              {"ALPN", alpn_tests(Ctx)},
              {"negotiated cipher against Debian's", cipher_tests(Ctx)},
              {"TLS 1.2 Finished messages", finished_tests(Ctx)},
              {"1.1.17+: exporter, TLS 1.3 Finished", exporter_tests(Ctx)},
              {"1.1.22+: finish_handshake/2", finish_handshake_tests(Ctx)},
              {"failures do not hang", failure_tests(Ctx)}]
     end}.

setup() ->
    {ok, Started} = application:ensure_all_started(ssl),
    Which = code:which(fast_tls),
    Kind = if not is_list(Which) -> "none?";
              true ->
                   case {string:prefix(Which, code:lib_dir()), string:find(Which, "/_build/")} of
                       {nomatch, nomatch} -> "not ours (not under _build)";
                       {nomatch, _} -> "ours";
                       _ -> "Debian's (not ours!)"
                   end
           end,
    io:format(standard_error, "~nfast_tls under test: ~s, vsn ~p, ~p~n",
              [Kind, reference_fast_tls:local_vsn(), Which]),
    {Dir, Certs} = tls_test_certs:make(),
    Peer = case reference_fast_tls:start() of
               {ok, P} ->
                   io:format(standard_error, "Debian's fast_tls in a peer VM: vsn ~p, ~s~n",
                             [reference_fast_tls:vsn(P), reference_fast_tls:which(P)]),
                   P;
               {skip, Why} ->
                   io:format(standard_error, "~n*** ~s: tests against Debian's fast_tls skipped ***~n", [Why]),
                   undefined
           end,
    #{dir => Dir, certs => Certs, peer => Peer, started => Started}.

cleanup(#{dir := Dir, peer := Peer, started := Started}) ->
    _ = [reference_fast_tls:stop(Peer) || Peer =/= undefined],
    _ = [application:stop(A) || A <- lists:reverse(Started)],
    tls_test_certs:cleanup(Dir).

%% whether the fast_tls under test is at least version Min
since(Min) ->
    Parse = fun(V) -> [list_to_integer(X) || X <- string:lexemes(V, ".")] end,
    case reference_fast_tls:local_vsn() of
        undefined -> false;
        V -> Parse(V) >= Parse(Min)
    end.

%%% ------------------------------------------------------------------
%%% the matrix: every pair, both versions, both key types

matrix_tests(Ctx) ->
    Pairs = [ours_ours, ours_server_ssl_client, ours_client_ssl_server]
        ++ [P || #{peer := Peer} <- [Ctx], Peer =/= undefined,
                 P <- [ours_server_debian_client, ours_client_debian_server]],
    [{lists:flatten(io_lib:format("~s ~s ~s", [V, K, P])), ?T(fun() -> pair(Ctx, P, V, K) end)}
     || V <- ['tlsv1.3', 'tlsv1.2'], K <- [ec, rsa], P <- Pairs].

%% TLS 1.2 is forced on our side with protocol_options for RSA, on the other
%% side (OTP's versions, or our server for ours_ours) for ECDSA; TLS 1.3 is
%% forced by OTP's versions for ECDSA and left to the defaults otherwise.
pair(Ctx, ours_ours, V, K) ->
    {SOpts, COpts} = case {V, K} of
                         {'tlsv1.2', ec} -> {no13(), []};
                         {'tlsv1.2', rsa} -> {[], no13()};
                         _ -> {[], []}
                     end,
    {SR, CR} = exchange({ours, [{certfile, server_pem(Ctx, K)} | SOpts]},
                        {ours, [{cafile, crt(Ctx, ca)} | COpts]}),
    assert_fast_tls_version(V, K, SR),
    assert_fast_tls_version(V, K, CR),
    ?assertEqual(cipher(SR), cipher(CR)),
    ?assertEqual({ok, server_der(Ctx, K)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR)),
    %% no client certificate: none to show, and nothing failed
    ?assertEqual(error, info(peer_cert_der, SR)),
    ?assertEqual(error, info(peer_cert, SR)),
    ?assertEqual(0, info(verify, SR));
pair(Ctx, ours_server_ssl_client, V, K) ->
    {SOpts, CVersions} = force(V, K),
    {SR, CR} = exchange({ours, [{certfile, server_pem(Ctx, K)} | SOpts]},
                        {ssl, CVersions}),
    assert_fast_tls_version(V, K, SR),
    ?assertEqual(V, ssl_info(protocol, CR)),
    ?assertEqual(cipher(SR), ssl_cipher(CR)),
    ?assertEqual({ok, server_der(Ctx, K)}, info(peercert, CR)),
    ?assertEqual(error, info(peer_cert_der, SR));
pair(Ctx, ours_client_ssl_server, V, K) ->
    {COpts, SVersions} = force(V, K),
    Pem = server_pem(Ctx, K),
    {SR, CR} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem} | SVersions]},
                        {ours, [{cafile, crt(Ctx, ca)} | COpts]}),
    assert_fast_tls_version(V, K, CR),
    ?assertEqual(V, ssl_info(protocol, SR)),
    ?assertEqual(cipher(CR), ssl_cipher(SR)),
    ?assertEqual({ok, server_der(Ctx, K)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR));
pair(#{peer := Peer} = Ctx, ours_server_debian_client, V, K) ->
    SOpts = case V of 'tlsv1.2' -> no13(); 'tlsv1.3' -> [] end,
    {SR, CR} = exchange({ours, [{certfile, server_pem(Ctx, K)} | SOpts]},
                        {debian, Peer, [{cafile, crt(Ctx, ca)}]}),
    assert_fast_tls_version(V, K, SR),
    assert_fast_tls_version(V, K, CR),
    %% the same string as Debian's fast_tls on the other end
    ?assertEqual(cipher(CR), cipher(SR)),
    ?assertEqual({ok, server_der(Ctx, K)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR)),
    ?assertEqual(error, info(peer_cert_der, SR));
pair(#{peer := Peer} = Ctx, ours_client_debian_server, V, K) ->
    COpts = case V of 'tlsv1.2' -> no13(); 'tlsv1.3' -> [] end,
    {SR, CR} = exchange({debian, Peer, [{certfile, server_pem(Ctx, K)}]},
                        {ours, [{cafile, crt(Ctx, ca)} | COpts]}),
    assert_fast_tls_version(V, K, SR),
    assert_fast_tls_version(V, K, CR),
    ?assertEqual(cipher(SR), cipher(CR)),
    ?assertEqual({ok, server_der(Ctx, K)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR)).

%% {options for our side, options for OTP's side}
force('tlsv1.2', ec) -> {[], [{versions, ['tlsv1.2']}]};
force('tlsv1.2', rsa) -> {no13(), []};
force('tlsv1.3', ec) -> {[], [{versions, ['tlsv1.3']}]};
force('tlsv1.3', rsa) -> {[], []}.

no13() ->
    [{protocol_options, <<"no_sslv3|no_tlsv1|no_tlsv1_1|no_tlsv1_3">>}].

%%% ------------------------------------------------------------------
%%% client certificates, as our server's get_verify_result/1 sees them

client_cert_tests(Ctx) ->
    %% {client cert, verify code, get_cert_verify_string/2}
    Cases = [{client, 0, <<"ok">>},
             {client_self_signed, 18, <<"self signed certificate">>},
             %% Debian/OpenSSL: a lone cert from an unknown CA ends as 21
             %% (verification goes on after 20 because fast_tls's callback
             %% accepts everything; the last error is the result)
             {client_unknown_ca, 21, <<"unable to verify the first certificate">>},
             %% 20 comes with a chain: the client sends its cert and an
             %% intermediate CA whose root the server does not have
             {client_unknown_chain, 20, <<"unable to get local issuer certificate">>},
             {client_expired, 10, <<"certificate has expired">>},
             {client_not_yet_valid, 9, <<"certificate is not yet valid">>}],
    Clients = [{ssl, 'tlsv1.3'}, {ssl, 'tlsv1.2'}, ours]
        ++ [debian || maps:get(peer, Ctx) =/= undefined],
    [{lists:flatten(io_lib:format("~s from ~p: ~b", [Name, Client, Code])),
      ?T(fun() -> client_cert(Ctx, Client, Name, Code, Text) end)}
     || {Name, Code, Text} <- Cases, Client <- Clients,
        %% OTP's TLS 1.3 client sends no certificate when its chain is
        %% outside the server's certificate_authorities
        {Name, Client} =/= {client_unknown_chain, {ssl, 'tlsv1.3'}}]
        ++ [{lists:flatten(io_lib:format("~s: the same code from Debian's server", [Name])),
             ?T(fun() -> client_cert_vs_debian(Ctx, Name, Code) end)}
            || maps:get(peer, Ctx) =/= undefined, {Name, Code, _} <- Cases]
        ++ [{"no client certificate: " ++ atom_to_list(C), ?T(fun() -> no_client_cert(Ctx, C) end)}
            || C <- [ssl, ours]]
        ++ [{"verify_none: no client certificate requested (" ++ atom_to_list(C) ++ ")",
             ?T(fun() -> verify_none(Ctx, C) end)}
            || C <- [ssl, ours]]
        ++ [{"a serverAuth-only client cert: 26", ?T(fun() -> client_cert_purpose(Ctx) end)}]
        ++ [{"1.1.24+: override_cert_purpose accepts a serverAuth-only client cert: 0",
             ?T(fun() -> override_cert_purpose(Ctx) end)} || since("1.1.24")]
        ++ [{"no cafile: a CA-signed client cert is from an unknown CA",
             ?T(fun() -> server_without_cafile(Ctx) end)},
            {"separate key files on both sides", ?T(fun() -> separate_key_files(Ctx) end)},
            {"get_cert_verify_string/2", ?T(fun() -> verify_strings(Ctx) end)}].

client_cert(Ctx, Client, Name, Code, Text) ->
    Pem = pem(Ctx, Name),
    ClientSpec = case Client of
                     {ssl, V} -> {ssl, [{certfile, Pem}, {keyfile, Pem}, {versions, [V]}]};
                     ours -> {ours, [{certfile, Pem}]};
                     debian -> {debian, maps:get(peer, Ctx), [{certfile, Pem}]}
                 end,
    %% the handshake must not fail on a bad client certificate
    {SR, _CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}]}, ClientSpec),
    Der = der(Ctx, Name),
    ?assertEqual({Name, Code}, {Name, info(verify, SR)}),
    ?assertEqual({ok, Der}, info(peer_cert_der, SR)),
    {ok, Plain} = info(peer_cert, SR),
    ?assertEqual({ok, Plain}, info(peer_cert_plain, SR)),
    ?assertMatch(#'Certificate'{}, Plain),
    ?assertEqual(Der, public_key:pkix_encode('Certificate', Plain, plain)),
    {ok, Otp} = info(peer_cert_otp, SR),
    ?assertMatch(#'OTPCertificate'{}, Otp),
    ?assertEqual(cn(Ctx, Name), tls_test_certs:cn(Otp)),
    ?assertEqual(Text, fast_tls:get_cert_verify_string(info(verify, SR), Plain)),
    ?assertEqual(Text, fast_tls:get_cert_verify_string(info(verify, SR), Der)).

%% the same client cert to Debian's server and to ours: the same verify code
client_cert_vs_debian(#{peer := Peer} = Ctx, Name, Code) ->
    Pem = pem(Ctx, Name),
    ServerOpts = [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}],
    ClientSpec = {ssl, [{certfile, Pem}, {keyfile, Pem}, {versions, ['tlsv1.2']}]},
    {Theirs, _} = exchange({debian, Peer, ServerOpts}, ClientSpec),
    {Ours, _} = exchange({ours, ServerOpts}, ClientSpec),
    ?assertEqual({Name, debian, Code}, {Name, debian, info(verify, Theirs)}),
    ?assertEqual({Name, ours, Code}, {Name, ours, info(verify, Ours)}),
    ?assertEqual(info(peer_cert_der, Theirs), info(peer_cert_der, Ours)).

%% a client presenting a server certificate (EKU serverAuth only):
%% "unsupported certificate purpose", from Debian's server as from ours
client_cert_purpose(Ctx) ->
    Pem = pem(Ctx, server_ec),
    ServerOpts = [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}],
    {SR, _} = exchange({ours, ServerOpts}, {ssl, [{certfile, Pem}, {keyfile, Pem}]}),
    ?assertEqual(26, info(verify, SR)),
    ?assertEqual({ok, der(Ctx, server_ec)}, info(peer_cert_der, SR)),
    [begin
         {DR, _} = exchange({debian, Peer, ServerOpts}, {ssl, [{certfile, Pem}, {keyfile, Pem}]}),
         ?assertEqual(26, info(verify, DR))
     end || #{peer := Peer} <- [Ctx], Peer =/= undefined].

%% 1.1.24 (not in Debian's 1.1.16, which ignores the option)
override_cert_purpose(Ctx) ->
    Pem = pem(Ctx, server_ec),
    {SR, _} = exchange({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}, override_cert_purpose]},
                       {ssl, [{certfile, Pem}, {keyfile, Pem}]}),
    ?assertEqual(0, info(verify, SR)).

no_client_cert(Ctx, Client) ->
    ClientSpec = case Client of
                     ssl -> {ssl, []};
                     ours -> {ours, []}
                 end,
    {SR, _} = exchange({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}]}, ClientSpec),
    ?assertEqual(error, info(peer_cert, SR)),
    ?assertEqual(error, info(peer_cert_der, SR)),
    ?assertEqual(error, info(peer_cert_otp, SR)),
    ?assertEqual(0, info(verify, SR)).

verify_none(Ctx, Client) ->
    Pem = pem(Ctx, client),
    ClientSpec = case Client of
                     ssl -> {ssl, [{certfile, Pem}, {keyfile, Pem}]};
                     ours -> {ours, [{certfile, Pem}]}
                 end,
    {SR, _} = exchange({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}, verify_none]},
                       ClientSpec),
    ?assertEqual(error, info(peer_cert_der, SR)),
    ?assertEqual(0, info(verify, SR)).

server_without_cafile(Ctx) ->
    Pem = pem(Ctx, client),
    {SR, _} = exchange({ours, [{certfile, pem(Ctx, server_ec)}]},
                       {ssl, [{certfile, Pem}, {keyfile, Pem}]}),
    ?assertEqual({ok, der(Ctx, client)}, info(peer_cert_der, SR)),
    ?assertEqual(21, info(verify, SR)).

separate_key_files(Ctx) ->
    {SR, CR} = exchange({ours, [{certfile, crt(Ctx, server_rsa)}, {keyfile, key(Ctx, server_rsa)},
                                {cafile, crt(Ctx, ca)}]},
                        {ours, [{certfile, crt(Ctx, client)}, {keyfile, key(Ctx, client)},
                                {cafile, crt(Ctx, ca)}]}),
    ?assertEqual({ok, der(Ctx, server_rsa)}, info(peer_cert_der, CR)),
    ?assertEqual({ok, der(Ctx, client)}, info(peer_cert_der, SR)),
    ?assertEqual(0, info(verify, SR)),
    ?assertEqual(0, info(verify, CR)).

%% the texts of the real source, and its one special case: 21 for a
%% self-signed certificate
verify_strings(Ctx) ->
    Self = der(Ctx, client_self_signed),
    Signed = der(Ctx, client),
    Plain = public_key:pkix_decode_cert(Self, plain),
    ?assertEqual(<<"self-signed certificate">>, fast_tls:get_cert_verify_string(21, Self)),
    ?assertEqual(<<"self-signed certificate">>, fast_tls:get_cert_verify_string(21, Plain)),
    ?assertEqual(<<"unable to verify the first certificate">>, fast_tls:get_cert_verify_string(21, Signed)),
    ?assertEqual(<<"unable to get local issuer certificate">>, fast_tls:get_cert_verify_string(20, Signed)),
    ?assertEqual(<<"self signed certificate">>, fast_tls:get_cert_verify_string(18, Self)),
    ?assertEqual(<<"ok">>, fast_tls:get_cert_verify_string(0, Signed)),
    ?assertEqual(<<"Unknown OpenSSL error code: 77">>, fast_tls:get_cert_verify_string(77, Signed)).

%%% ------------------------------------------------------------------
%%% our client verifying servers (handshake succeeds anyway)

server_verify_tests(Ctx) ->
    Cases = [{server_ec, [cafile], 0},
             {server_rsa, [cafile], 0},
             {server_self_signed, [cafile], 18},
             {server_expired, [cafile], 10},
             %% no cafile: the system's store, which does not have our CA
             {server_ec, [], 21}],
    [{lists:flatten(io_lib:format("~s ~p: ~b", [Server, Opts, Code])),
      ?T(fun() -> server_verify(Ctx, Server, Opts, Code) end)}
     || {Server, Opts, Code} <- Cases]
        ++ [{"Debian's server, self-signed: 18", ?T(fun() -> debian_server_verify(Ctx) end)}
            || maps:get(peer, Ctx) =/= undefined].

server_verify(Ctx, Server, Opts, Code) ->
    Pem = pem(Ctx, Server),
    COpts = [{cafile, crt(Ctx, ca)} || lists:member(cafile, Opts)],
    {_, CR} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem}]}, {ours, COpts}),
    ?assertEqual({ok, der(Ctx, Server)}, info(peer_cert_der, CR)),
    ?assertEqual({Server, Code}, {Server, info(verify, CR)}).

debian_server_verify(#{peer := Peer} = Ctx) ->
    {_, CR} = exchange({debian, Peer, [{certfile, pem(Ctx, server_self_signed)}]},
                       {ours, [{cafile, crt(Ctx, ca)}]}),
    ?assertEqual({ok, der(Ctx, server_self_signed)}, info(peer_cert_der, CR)),
    ?assertEqual(18, info(verify, CR)),
    {ok, Plain} = info(peer_cert, CR),
    ?assertEqual(<<"self signed certificate">>, fast_tls:get_cert_verify_string(18, Plain)).

%%% ------------------------------------------------------------------
%%% SNI

sni_tests(Ctx) ->
    {setup,
     fun() ->
             ok = fast_tls:add_certfile(<<"a.example">>, pem(Ctx, a_example)),
             ok = fast_tls:add_certfile(<<"*.wild.example">>, pem(Ctx, wild_example))
     end,
     fun(_) ->
             _ = fast_tls:delete_certfile(<<"a.example">>),
             _ = fast_tls:delete_certfile(<<"*.wild.example">>)
     end,
     [{lists:flatten(io_lib:format("OTP client ~p ~s gets ~s", [SNI, V, Want])),
       ?T(fun() -> sni_ssl_client(Ctx, SNI, V, Want) end)}
      || {SNI, Want} <- [{"a.example", a_example}, {"x.wild.example", wild_example},
                         {"unknown.example", default_example}, {disable, default_example}],
         V <- ['tlsv1.3', 'tlsv1.2']]
     ++ [{"our client {sni, a.example} to our server", ?T(fun() -> sni_ours(Ctx) end)},
         {"our client {sni, a.example} to OTP's server", ?T(fun() -> sni_ours_to_ssl(Ctx) end)}]}.

sni_ssl_client(Ctx, SNI, V, Want) ->
    {SR, CR} = exchange({ours, [{certfile, pem(Ctx, default_example)}]},
                        {ssl, [{server_name_indication, SNI}, {versions, [V]}]}),
    {ok, Der} = info(peercert, CR),
    ?assertEqual(cn(Ctx, Want), tls_test_certs:cn(Der)),
    ?assertEqual(der(Ctx, Want), Der),
    assert_fast_tls_version(V, ec, SR).

sni_ours(Ctx) ->
    {_, CR} = exchange({ours, [{certfile, pem(Ctx, default_example)}]},
                       {ours, [{sni, <<"a.example">>}, {cafile, crt(Ctx, ca)}]}),
    ?assertEqual({ok, der(Ctx, a_example)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR)).

sni_ours_to_ssl(Ctx) ->
    Pem = pem(Ctx, server_ec),
    {SR, _} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem}]},
                       {ours, [{sni, <<"a.example">>}]}),
    ?assertEqual("a.example", ssl_info(sni_hostname, SR)),
    %% and none without the option
    {SR2, _} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem}]}, {ours, []}),
    ?assertEqual(undefined, ssl_info(sni_hostname, SR2)).

%%% ------------------------------------------------------------------
%%% ALPN: a client option only in fast_tls

alpn_tests(Ctx) ->
    [{"our client offers h2, xmpp-client; OTP server picks xmpp-client " ++ atom_to_list(V),
      ?T(fun() -> alpn_client(Ctx, V) end)} || V <- ['tlsv1.3', 'tlsv1.2']]
        ++ [{"our server with {alpn, _} picks a protocol the client offers "
             "(an extension: fast_tls has no server-side ALPN)",
             ?T(fun() -> alpn_server(Ctx) end)}].

alpn_client(Ctx, V) ->
    Pem = pem(Ctx, server_ec),
    {SR, _} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem}, {versions, [V]},
                              {alpn_preferred_protocols, [<<"xmpp-client">>]}]},
                       {ours, [{alpn, [<<"h2">>, <<"xmpp-client">>]}]}),
    ?assertEqual({ok, <<"xmpp-client">>}, info(alpn, SR)),
    %% without the option, nothing is offered
    {SR2, _} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem}, {versions, [V]},
                               {alpn_preferred_protocols, [<<"xmpp-client">>]}]},
                        {ours, []}),
    ?assertEqual({error, protocol_not_negotiated}, info(alpn, SR2)).

alpn_server(Ctx) ->
    {_, CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)}, {alpn, [<<"xmpp-client">>]}]},
                       {ssl, [{alpn_advertised_protocols, [<<"h2">>, <<"xmpp-client">>]}]}),
    ?assertEqual({ok, <<"xmpp-client">>}, info(alpn, CR)),
    %% without the option our server negotiates nothing, as fast_tls
    {_, CR2} = exchange({ours, [{certfile, pem(Ctx, server_ec)}]},
                        {ssl, [{alpn_advertised_protocols, [<<"xmpp-client">>]}]}),
    ?assertEqual({error, protocol_not_negotiated}, info(alpn, CR2)).

%%% ------------------------------------------------------------------
%%% get_negotiated_cipher/1: the same string as Debian's in the same scenario

cipher_tests(Ctx) ->
    %% {OTP suite, server key, expected string}
    Cases = [{'tlsv1.3', "TLS_AES_128_GCM_SHA256", ec, <<"TLSv1.3 TLS_AES_128_GCM_SHA256">>},
             {'tlsv1.3', "TLS_CHACHA20_POLY1305_SHA256", rsa, <<"TLSv1.3 TLS_CHACHA20_POLY1305_SHA256">>},
             {'tlsv1.2', "ECDHE-ECDSA-AES128-GCM-SHA256", ec, <<"TLSv1.2 ECDHE-ECDSA-AES128-GCM-SHA256">>},
             {'tlsv1.2', "ECDHE-RSA-CHACHA20-POLY1305", rsa, <<"TLSv1.2 ECDHE-RSA-CHACHA20-POLY1305">>},
             {'tlsv1.2', "ECDHE-RSA-AES256-GCM-SHA384", rsa, <<"TLSv1.2 ECDHE-RSA-AES256-GCM-SHA384">>}],
    [{lists:flatten(io_lib:format("~s ~s as ~s", [Suite, Side, Want])),
      ?T(fun() -> cipher_vs_debian(Ctx, Side, V, Suite, K, Want) end)}
     || {V, Suite, K, Want} <- Cases, Side <- [client, server]].

cipher_vs_debian(#{peer := Peer} = Ctx, Side, V, Suite, K, Want) ->
    SslOpts = [{versions, [V]}, {ciphers, [ssl:str_to_suite(Suite)]}],
    Pem = server_pem(Ctx, K),
    Run = fun(Us) ->
                  case Side of
                      client ->
                          {SR, CR} = exchange({ssl, [{certfile, Pem}, {keyfile, Pem} | SslOpts]}, Us),
                          {CR, SR};
                      server ->
                          exchange(Us, {ssl, SslOpts})
                  end
          end,
    Opts = case Side of client -> []; server -> [{certfile, Pem}] end,
    {Ours, OtpSide} = Run({ours, Opts}),
    ?assertEqual({ok, Want}, ssl_cipher(OtpSide)),
    ?assertEqual({ok, Want}, cipher(Ours)),
    [begin
         {Theirs, _} = Run({debian, Peer, Opts}),
         ?assertEqual({ok, Want}, cipher(Theirs))
     end || Peer =/= undefined].

%%% ------------------------------------------------------------------
%%% Finished messages on TLS 1.2: {error, undefined} in ours

finished_tests(Ctx) ->
    [{"ours with ours", ?T(fun() -> finished(Ctx, ours) end)}]
        ++ [{"ours with Debian's", ?T(fun() -> finished(Ctx, debian) end)}
            || maps:get(peer, Ctx) =/= undefined].

finished(Ctx, Other) ->
    ClientSpec = case Other of
                     ours -> {ours, []};
                     debian -> {debian, maps:get(peer, Ctx), []}
                 end,
    {SR, CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)} | no13()]}, ClientSpec),
    %% fast_tls gives 12 bytes of Finished verify data (RFC 5929 tls-unique)
    %% on TLS 1.2; rustls does not expose them, so ours gives what fast_tls
    %% 1.1.26 gives on TLS 1.3 (documented; use get_tls_cb_exporter/1)
    Ours = case Other of
               ours -> [{client, CR}, {server, SR}];
               debian -> [{server, SR}]
           end,
    [?assertEqual({Side, Which, {error, undefined}}, {Side, Which, info(Which, R)})
     || {Side, R} <- Ours, Which <- [finished_self, finished_peer]],
    %% Debian's client has its own (the handshake was a real TLS 1.2 one)
    case Other of
        debian -> ?assertMatch({ok, <<_:12/binary>>}, info(finished_self, CR));
        ours -> ok
    end.

%%% ------------------------------------------------------------------
%%% 1.1.17+: the RFC 9266 exporter, {error, undefined} Finished on TLS 1.3

exporter_tests(Ctx) ->
    case reference_fast_tls:has(get_tls_cb_exporter, 1) of
        false ->
            io:format(standard_error, "~n*** the fast_tls under test has no get_tls_cb_exporter/1 "
                      "(before 1.1.17): exporter tests skipped ***~n", []),
            [];
        true ->
            [{"exporter " ++ atom_to_list(V), ?T(fun() -> exporter(Ctx, V) end)}
             || V <- ['tlsv1.3', 'tlsv1.2']]
                ++ [{"exporter ours with Debian's: Debian's 1.1.16 has none",
                     ?T(fun() -> exporter_debian(Ctx) end)} || maps:get(peer, Ctx) =/= undefined]
                ++ [{"TLS 1.3: get_tls_last_message gives {error, undefined}",
                     ?T(fun() -> finished_tls13(Ctx) end)}]
    end.

exporter(Ctx, V) ->
    SOpts = case V of 'tlsv1.2' -> no13(); 'tlsv1.3' -> [] end,
    Run = fun() ->
                  {SR, CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)} | SOpts]}, {ours, []}),
                  assert_fast_tls_version(V, ec, SR),
                  {ok, E} = info(exporter, SR),
                  ?assertEqual(32, byte_size(E)),
                  ?assertEqual({ok, E}, info(exporter, CR)),
                  E
          end,
    E1 = Run(),
    E2 = Run(),
    ?assertNotEqual(E1, E2).

exporter_debian(#{peer := Peer} = Ctx) ->
    %% the exporter of a connection with Debian's fast_tls: ours must still
    %% give 32 bytes (Debian's 1.1.16 cannot tell us its value)
    {SR, CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)}]}, {debian, Peer, []}),
    ?assertEqual(not_exported, info(exporter, CR)),
    ?assertMatch({ok, <<_:32/binary>>}, info(exporter, SR)).

finished_tls13(Ctx) ->
    {SR, CR} = exchange({ours, [{certfile, pem(Ctx, server_ec)}]}, {ours, []}),
    assert_fast_tls_version('tlsv1.3', ec, SR),
    [?assertEqual({Side, Which, {error, undefined}}, {Side, Which, info(Which, R)})
     || {Side, R} <- [{server, SR}, {client, CR}], Which <- [finished_self, finished_peer]].

%%% ------------------------------------------------------------------
%%% 1.1.22+: finish_handshake/2

finish_handshake_tests(Ctx) ->
    case reference_fast_tls:has(finish_handshake, 2) of
        false ->
            io:format(standard_error, "~n*** the fast_tls under test has no finish_handshake/2 "
                      "(before 1.1.22): finish_handshake tests skipped ***~n", []),
            [];
        true ->
            [{"both sides " ++ atom_to_list(V), ?T(fun() -> finish_both(Ctx, V) end)}
             || V <- ['tlsv1.3', 'tlsv1.2']]
                ++ [{"our client to OTP's server", ?T(fun() -> finish_client_ssl(Ctx) end)},
                    {"our server to OTP's client", ?T(fun() -> finish_server_ssl(Ctx) end)}]
    end.

%% both finish the handshake before any data; all is known right after it
finish_both(Ctx, V) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    SOpts = case V of 'tlsv1.2' -> no13(); 'tlsv1.3' -> [] end,
    {Port, SH} = start_server({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)} | SOpts]},
                              [finish_handshake, info, {recv, byte_size(CP)}, {send, SP}, await_close]),
    CH = start_client({ours, [{certfile, pem(Ctx, client)}, {cafile, crt(Ctx, ca)}]}, Port,
                      [finish_handshake, info, {send, CP}, {recv, byte_size(SP)}, close]),
    CR = result(CH),
    SR = result(SH),
    assert_ok(SR, CR),
    assert_payload(CP, SR),
    assert_payload(SP, CR),
    ?assertEqual([{finish_handshake, ok}, {info, ok}], lists:sublist(maps:get(log, CR), 2)),
    ?assertEqual({ok, der(Ctx, client)}, info(peer_cert_der, SR)),
    ?assertEqual({ok, der(Ctx, server_ec)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, SR)),
    ?assertEqual(0, info(verify, CR)),
    assert_fast_tls_version(V, ec, SR),
    assert_fast_tls_version(V, ec, CR).

finish_client_ssl(Ctx) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    Pem = pem(Ctx, server_ec),
    {Port, SH} = start_server({ssl, [{certfile, Pem}, {keyfile, Pem}]},
                              server_steps(CP, SP)),
    CH = start_client({ours, [{cafile, crt(Ctx, ca)}]}, Port,
                      [finish_handshake, info, {send, CP}, {recv, byte_size(SP)}, close]),
    CR = result(CH),
    SR = result(SH),
    assert_ok(SR, CR),
    assert_payload(CP, SR),
    assert_payload(SP, CR),
    ?assertEqual({ok, der(Ctx, server_ec)}, info(peer_cert_der, CR)),
    ?assertEqual(0, info(verify, CR)).

%% OTP's client speaks only after the server did, so that nothing follows
%% the client's Finished in the bytes finish_handshake reads
finish_server_ssl(Ctx) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    Pem = pem(Ctx, client),
    {Port, SH} = start_server({ours, [{certfile, pem(Ctx, server_ec)}, {cafile, crt(Ctx, ca)}]},
                              [finish_handshake, info, {send, SP}, {recv, byte_size(CP)}, await_close]),
    CH = start_client({ssl, [{certfile, Pem}, {keyfile, Pem}]}, Port,
                      [{recv, byte_size(SP)}, {send, CP}, info, close]),
    CR = result(CH),
    SR = result(SH),
    assert_ok(SR, CR),
    assert_payload(CP, SR),
    assert_payload(SP, CR),
    ?assertEqual({ok, der(Ctx, client)}, info(peer_cert_der, SR)),
    ?assertEqual(0, info(verify, SR)).

%%% ------------------------------------------------------------------
%%% failures end with an error, in time

failure_tests(Ctx) ->
    [{"no common version: our server", ?T(fun() -> no_common_version_server(Ctx) end)},
     {"no common version: our client", ?T(fun() -> no_common_version_client(Ctx) end)},
     {"server without certfile: {error, no_certfile}", ?T(fun() -> no_certfile() end)}].

no_common_version_server(Ctx) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    {Port, SH} = start_server({ours, [{certfile, pem(Ctx, server_ec)} | no13()]}, server_steps(CP, SP)),
    CH = start_client({ssl, [{versions, ['tlsv1.3']}]}, Port, client_steps(CP, SP)),
    CR = result(CH),
    SR = result(SH),
    ?assertMatch({{recv, _}, {error, <<"SSL_do_handshake failed", _/binary>>}}, maps:get(error, SR)),
    case since("1.1.17") of
        true ->
            %% 1.1.17 sends the alert (1.1.16 just closes)
            ?assertMatch({handshake, {tls_alert, {protocol_version, _}}}, maps:get(error, CR));
        false ->
            ?assertMatch({handshake, _}, maps:get(error, CR))
    end.

no_common_version_client(Ctx) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    Pem = pem(Ctx, server_ec),
    {Port, SH} = start_server({ssl, [{certfile, Pem}, {keyfile, Pem}, {versions, ['tlsv1.3']}]},
                              server_steps(CP, SP)),
    CH = start_client({ours, no13()}, Port, client_steps(CP, SP)),
    CR = result(CH),
    SR = result(SH),
    ?assertMatch({handshake, _}, maps:get(error, SR)),
    ?assertMatch({{recv, _}, {error, <<"SSL_do_handshake failed", _/binary>>}}, maps:get(error, CR)).

no_certfile() ->
    {Port, SH} = start_server({ours, []}, []),
    CH = start_client({ssl, []}, Port, client_steps(<<"x">>, <<"y">>)),
    SR = result(SH),
    _ = result(CH),
    ?assertEqual({error, no_certfile}, maps:get(tcp_to_tls, SR)).

%%% ------------------------------------------------------------------
%%% one connection: start both ends, exchange payloads, check them

%% Spec: {ours, Opts} | {debian, Peer, Opts} | {ssl, Opts}
exchange(ServerSpec, ClientSpec) ->
    CP = payload(<<"client->server">>),
    SP = payload(<<"server->client">>),
    {Port, SH} = start_server(ServerSpec, server_steps(CP, SP)),
    CH = start_client(ClientSpec, Port, client_steps(CP, SP)),
    CR = result(CH),
    SR = result(SH),
    assert_ok(SR, CR),
    assert_payload(CP, SR),
    assert_payload(SP, CR),
    %% the server saw the client close the connection
    ?assertEqual({server, await_close, {error, closed}},
                 {server, await_close, proplists:get_value(await_close, maps:get(log, SR))}),
    {SR, CR}.

server_steps(CP, SP) ->
    [{recv, byte_size(CP)}, {send, SP}, info, await_close].

client_steps(CP, SP) ->
    [start, {send, CP}, {recv, byte_size(SP)}, info, close].

start_server({ours, Opts}, Steps) ->
    {ok, Port, Id} = reference_fast_tls:run_server(Opts, Steps),
    {Port, {ours, Id}};
start_server({debian, Peer, Opts}, Steps) ->
    {ok, Port, Id} = reference_fast_tls:server(Peer, Opts, Steps),
    {Port, {debian, Peer, Id}};
start_server({ssl, Opts}, Steps) ->
    ssl_server(Opts, Steps).

start_client({ours, Opts}, Port, Steps) ->
    {ok, Id} = reference_fast_tls:run_client(Port, Opts, Steps),
    {ours, Id};
start_client({debian, Peer, Opts}, Port, Steps) ->
    {ok, Id} = reference_fast_tls:client(Peer, Port, Opts, Steps),
    {debian, Peer, Id};
start_client({ssl, Opts}, Port, Steps) ->
    ssl_client(Port, Opts, Steps).

result({ours, Id}) ->
    reference_fast_tls:get_result(Id, ?RESULT_TIMEOUT);
result({debian, Peer, Id}) ->
    reference_fast_tls:result(Peer, Id, ?RESULT_TIMEOUT);
result({ssl, Pid, MRef}) ->
    receive
        {'DOWN', MRef, process, Pid, {result, R}} -> R;
        {'DOWN', MRef, process, Pid, Reason} -> #{error => {ssl_worker_down, Reason}, log => []}
    after ?RESULT_TIMEOUT ->
            exit(Pid, kill),
            #{error => ssl_worker_timeout, log => []}
    end.

%% both ends ran all their steps (else: the first error and the log of each)
assert_ok(SR, CR) ->
    Status = fun(R) ->
                     case maps:find(error, R) of
                         error -> ok;
                         {ok, E} -> {E, maps:get(log, R)}
                     end
             end,
    ?assertEqual({{server, ok}, {client, ok}}, {{server, Status(SR)}, {client, Status(CR)}}).

assert_payload(Want, R) ->
    ?assertEqual(digest(Want), digest(maps:get(recv, R))).

digest(Bin) ->
    {byte_size(Bin), binary:part(Bin, 0, min(16, byte_size(Bin))), crypto:hash(sha256, Bin)}.

%% a tag and 20000 random bytes: several TLS records
payload(Tag) ->
    <<Tag/binary, " ", (crypto:strong_rand_bytes(20000))/binary>>.

info(Key, #{info := Info}) ->
    maps:get(Key, Info).

ssl_info(Key, R) ->
    maps:get(Key, info(conn, R), undefined).

cipher(R) ->
    info(cipher, R).

%% OTP's view of the cipher, in fast_tls's format (version, OpenSSL name)
ssl_cipher(R) ->
    V = case ssl_info(protocol, R) of
            'tlsv1.3' -> <<"TLSv1.3">>;
            'tlsv1.2' -> <<"TLSv1.2">>;
            Other -> iolist_to_binary(io_lib:format("~p", [Other]))
        end,
    Name = list_to_binary(ssl:suite_to_openssl_str(ssl_info(selected_cipher_suite, R))),
    {ok, <<V/binary, " ", Name/binary>>}.

assert_fast_tls_version(V, K, R) ->
    {ok, Cipher} = cipher(R),
    ?assertEqual({V, K, true}, {V, K, cipher_matches(V, K, Cipher)}).

cipher_matches('tlsv1.3', _, <<"TLSv1.3 ", Name/binary>>) ->
    lists:member(Name, [<<"TLS_AES_256_GCM_SHA384">>, <<"TLS_AES_128_GCM_SHA256">>,
                        <<"TLS_CHACHA20_POLY1305_SHA256">>]);
cipher_matches('tlsv1.2', K, <<"TLSv1.2 ECDHE-", Rest/binary>>) ->
    Auth = case K of ec -> <<"ECDSA-">>; rsa -> <<"RSA-">> end,
    case Rest of
        <<Auth:(byte_size(Auth))/binary, Name/binary>> ->
            lists:member(Name, [<<"AES256-GCM-SHA384">>, <<"AES128-GCM-SHA256">>, <<"CHACHA20-POLY1305">>]);
        _ ->
            false
    end;
cipher_matches(_, _, _) ->
    false.

%%% ------------------------------------------------------------------
%%% OTP's ssl at the other end, with the same steps and result shape

ssl_server(Opts, Steps) ->
    Parent = self(),
    {Pid, MRef} =
        spawn_monitor(
          fun() ->
                  {ok, L} = ssl:listen(0, with_defaults(Opts, [binary, {active, false}, {ip, {127, 0, 0, 1}},
                                                               {reuseaddr, true}, {log_level, none}])),
                  {ok, {_, Port}} = ssl:sockname(L),
                  Parent ! {self(), port, Port},
                  R = case ssl:transport_accept(L, 10000) of
                          {ok, T} ->
                              case ssl:handshake(T, 10000) of
                                  {ok, S} -> ssl_steps(S, Steps);
                                  {error, E} -> #{error => {handshake, E}, log => []}
                              end;
                          {error, E} ->
                              #{error => {accept, E}, log => []}
                      end,
                  ssl:close(L),
                  exit({result, R})
          end),
    receive
        {Pid, port, Port} -> {Port, {ssl, Pid, MRef}};
        {'DOWN', MRef, process, Pid, Reason} -> error({ssl_server_failed, Reason})
    after 5000 ->
            exit(Pid, kill),
            error(ssl_server_timeout)
    end.

ssl_client(Port, Opts, Steps) ->
    {Pid, MRef} =
        spawn_monitor(
          fun() ->
                  R = case ssl:connect({127, 0, 0, 1}, Port,
                                       with_defaults(Opts, [binary, {active, false}, {verify, verify_none},
                                                            {log_level, none}]),
                                       10000) of
                          {ok, S} -> ssl_steps(S, Steps);
                          {error, E} -> #{error => {handshake, E}, log => []}
                      end,
                  exit({result, R})
          end),
    {ssl, Pid, MRef}.

with_defaults(Opts, Defaults) ->
    Opts ++ [D || D <- Defaults, not lists:keymember(key(D), 1, Opts) andalso not lists:member(D, Opts)].

key({K, _}) -> K;
key(K) -> K.

ssl_steps(S, Steps) ->
    R = ssl_steps(S, Steps, #{log => [], recv => <<>>}),
    _ = ssl:close(S),
    R#{log := lists:reverse(maps:get(log, R))}.

ssl_steps(_S, [], Acc) ->
    Acc;
ssl_steps(S, [Step | Rest], #{log := Log} = Acc) ->
    Name = case Step of {send, B} -> {send, byte_size(B)}; _ -> Step end,
    case ssl_step(S, Step, Acc) of
        {ok, Outcome, Acc1} -> ssl_steps(S, Rest, Acc1#{log := [{Name, Outcome} | Log]});
        {error, Reason, Acc1} -> Acc1#{log := [{Name, {error, Reason}} | Log], error => {Name, Reason}}
    end.

ssl_step(_S, start, Acc) ->
    {ok, ok, Acc};
ssl_step(S, {send, Bin}, Acc) ->
    case ssl:send(S, Bin) of
        ok -> {ok, ok, Acc};
        E -> {error, E, Acc}
    end;
ssl_step(S, {recv, N}, #{recv := Got} = Acc) ->
    ssl_recv_until(S, byte_size(Got) + N, Acc);
ssl_step(S, info, Acc) ->
    Conn = case ssl:connection_information(S, [protocol, selected_cipher_suite, sni_hostname]) of
               {ok, L} -> maps:from_list(L);
               E -> #{error => E}
           end,
    {ok, ok, Acc#{info => #{peercert => ssl:peercert(S), alpn => ssl:negotiated_protocol(S),
                            conn => Conn}}};
ssl_step(S, await_close, #{recv := Got} = Acc) ->
    case ssl:recv(S, 0, 3000) of
        {ok, Bin} -> ssl_step(S, await_close, Acc#{recv := <<Got/binary, Bin/binary>>});
        E -> {ok, E, Acc}
    end;
ssl_step(S, close, Acc) ->
    {ok, ssl:close(S), Acc}.

ssl_recv_until(_S, Want, #{recv := Got} = Acc) when byte_size(Got) >= Want ->
    {ok, byte_size(Got), Acc};
ssl_recv_until(S, Want, #{recv := Got} = Acc) ->
    case ssl:recv(S, 0, 3000) of
        {ok, Bin} -> ssl_recv_until(S, Want, Acc#{recv := <<Got/binary, Bin/binary>>});
        E -> {error, E, Acc}
    end.

%%% ------------------------------------------------------------------
%%% certificates

cert(#{certs := Certs}, Name, Kind) ->
    maps:get(Kind, maps:get(Name, Certs)).

pem(Ctx, Name) -> cert(Ctx, Name, pem).
crt(Ctx, Name) -> cert(Ctx, Name, crt).
key(Ctx, Name) -> cert(Ctx, Name, key).
der(Ctx, Name) -> cert(Ctx, Name, der).
cn(Ctx, Name) -> cert(Ctx, Name, cn).

server_pem(Ctx, ec) -> pem(Ctx, server_ec);
server_pem(Ctx, rsa) -> pem(Ctx, server_rsa).

server_der(Ctx, ec) -> der(Ctx, server_ec);
server_der(Ctx, rsa) -> der(Ctx, server_rsa).
