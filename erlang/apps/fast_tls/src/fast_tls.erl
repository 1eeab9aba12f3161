%%% @doc Drop-in for processone/fast_tls 1.1.26 on rustls (no OpenSSL).
%%%
%%% The caller keeps its `gen_tcp' socket (passive, binary); a TLS socket is
%%% `#tlssock{tcpsock, tlsport}' where `tlsport' is a session resource of the
%%% xmpp-accel NIF: ciphertext read from the socket goes in, ciphertext to
%%% write and plaintext come out (the memory-BIO design of fast_tls).
%%%
%%% Same exports, arities, return shapes and error terms as fast_tls. What
%%% differs, because rustls does not do it: TLS 1.0/1.1, SSLv3, CBC and RSA
%%% key-exchange suites and custom DH parameters (`{dh, _}', `{dhfile, _}')
%%% are not offered (ECDHE with AES-GCM or ChaCha20-Poly1305 only);
%%% `get_tls_last_message/2' (tls-unique) is `{error, undefined}' on TLS 1.2
%%% too (use `get_tls_cb_exporter/1', RFC 9266); `set_fips_mode(true)' fails;
%%% `p12_to_pem/2' reports `{error, <<"...">>}'. Handshake steps that sign
%%% with RSA keys run on dirty CPU schedulers. See README "Swapping fast_tls".
%%% @end
-module(fast_tls).

-export([tcp_to_tls/2, tls_to_tcp/1, send/2, recv/2, recv/3, recv_data/2,
         setopts/2, sockname/1, peername/1, controlling_process/2, close/1,
         get_peer_certificate/1, get_peer_certificate/2,
         get_verify_result/1, get_cert_verify_string/2,
         add_certfile/2, get_certfile/1, delete_certfile/1, clear_cache/0,
         get_negotiated_cipher/1, get_tls_last_message/2,
         set_fips_mode/1, get_fips_mode/0, get_tls_cb_exporter/1,
         p12_to_pem/2, finish_handshake/2]).
%% fast_tls exports its NIF entry points too
-export([open_nif/10, loop_nif/4, get_peer_certificate_nif/1,
         get_verify_result_nif/1, invalidate_nif/1,
         get_negotiated_cipher_nif/1, set_fips_mode_nif/1,
         get_fips_mode_nif/0, get_tls_cb_exporter_nif/1, p12_to_pem_nif/2]).

-include_lib("public_key/include/public_key.hrl").

%% open flags, as fast_tls's
-define(ACCEPT, 1).
-define(CONNECT, 2).
-define(VERIFY_NONE, 16#10000).
-define(COMPRESSION_NONE, 16#100000).
-define(OVERRIDE_CERT_PURPOSE, 16#200000).

-record(tlssock, {tcpsock :: inet:socket(),
                  tlsport :: reference()}).

-type tls_socket() :: #tlssock{}.
-type cert() :: #'Certificate'{} | #'OTPCertificate'{}.
-export_type([tls_socket/0]).

%%% ---------------------------------------------------------------------------
%%% Sessions

%% @doc Starts TLS on a connected `gen_tcp' socket. Options: `connect'
%% (client; default server), `verify_none', `compression_none' (always so),
%% `override_cert_purpose', `{certfile, F}' (required for a server),
%% `{keyfile, F}', `{cafile, F}', `{dh, Der}' and `{dhfile, F}' (ignored),
%% `{ciphers, OpenSSLString}', `{protocol_options, "no_tlsv1_3|..."}',
%% `{sni, Name}', `{alpn, [Protocol]}'. Nothing is sent until the first
%% `recv_data/2' (a client's `recv_data(S, <<>>)' sends its ClientHello).
-spec tcp_to_tls(inet:socket(), [atom() | {atom(), any()}]) ->
          {ok, tls_socket()} | {error, no_certfile | binary()}.
tcp_to_tls(TCPSocket, Options) ->
    Connect = lists:member(connect, Options),
    CertFile = proplists:get_value(certfile, Options, ""),
    %% as fast_tls: only a missing or "" certfile is "no certfile"; <<>>
    %% opens a server that relies on add_certfile/2 (SNI) alone
    case Connect orelse CertFile =/= [] of
        false ->
            {error, no_certfile};
        true ->
            Flags = lists:foldl(fun({Opt, Bit}, Acc) ->
                                        case lists:member(Opt, Options) of
                                            true -> Acc bor Bit;
                                            false -> Acc
                                        end
                                end,
                                case Connect of true -> ?CONNECT; false -> ?ACCEPT end,
                                [{verify_none, ?VERIFY_NONE},
                                 {compression_none, ?COMPRESSION_NONE},
                                 {override_cert_purpose, ?OVERRIDE_CERT_PURPOSE}]),
            KeyFile = case CertFile of
                          [] -> <<>>;
                          _ -> option(keyfile, Options)
                      end,
            ALPN = case lists:keyfind(alpn, 1, Options) of
                       {alpn, Protocols} -> encode_alpn(Protocols);
                       false -> <<>>
                   end,
            case open_nif(Flags, CertFile, KeyFile, option(ciphers, Options),
                          option(protocol_options, Options), option(dh, Options),
                          option(dhfile, Options), option(cafile, Options),
                          option(sni, Options), ALPN) of
                {ok, Session} -> {ok, #tlssock{tcpsock = TCPSocket, tlsport = Session}};
                {error, _} = Error -> Error
            end
    end.

option(Name, Options) ->
    case lists:keyfind(Name, 1, Options) of
        {Name, Value} -> iolist_to_binary(Value);
        false -> <<>>
    end.

%% length-prefixed names, empty ones left out (RFC 7301 wire form)
encode_alpn(Protocols) ->
    << <<(byte_size(P)), P/binary>> || P <- Protocols, P =/= <<>> >>.

%% @doc Ends TLS (the session is freed) and gives the TCP socket back.
-spec tls_to_tcp(tls_socket()) -> inet:socket().
tls_to_tcp(#tlssock{tcpsock = TCPSocket, tlsport = Session}) ->
    invalidate_nif(Session),
    TCPSocket.

%% @doc Frees the session and closes the TCP socket.
-spec close(tls_socket()) -> ok.
close(#tlssock{tcpsock = TCPSocket, tlsport = Session}) ->
    invalidate_nif(Session),
    gen_tcp:close(TCPSocket).

%%% ---------------------------------------------------------------------------
%%% Data

%% @doc Feeds bytes read from the socket (`<<>>' to start a client's
%% handshake); writes what TLS must send; returns the plaintext received.
-spec recv_data(tls_socket(), binary()) -> {ok, binary()} | {error, inet:posix() | binary()}.
recv_data(TLSSock, Packet) ->
    drive(TLSSock, <<>>, Packet, -1, <<>>).

%% @doc Encrypts and writes `Packet' (queued until the handshake is done).
-spec send(tls_socket(), iodata()) -> ok | {error, inet:posix() | binary() | timeout}.
send(TLSSock, Packet) ->
    case drive(TLSSock, Packet, <<>>, 0, <<>>) of
        {ok, <<>>} -> ok;
        {ok, Data} -> Data;
        Error -> Error
    end.

%% @equiv recv(TLSSock, Length, infinity)
-spec recv(tls_socket(), non_neg_integer()) -> {ok, binary()} | {error, inet:posix() | binary()}.
recv(TLSSock, Length) ->
    recv(TLSSock, Length, infinity).

%% @doc Reads plaintext: any amount when `Length' is 0, else exactly
%% `Length' bytes, reading the socket (and driving a handshake) as needed.
-spec recv(tls_socket(), non_neg_integer(), timeout()) ->
          {ok, binary()} | {error, inet:posix() | binary()}.
recv(TLSSock, 0, Timeout) ->
    recv_loop(TLSSock, <<>>, -1, Timeout, <<>>);
recv(TLSSock, Length, Timeout) ->
    recv_loop(TLSSock, <<>>, Length, Timeout, <<>>).

%% Want: bytes still wanted, -1 for "whatever comes first".
recv_loop(#tlssock{tcpsock = TCPSocket} = TLSSock, Received, Want, Timeout, Acc) ->
    case drive(TLSSock, <<>>, Received, Want, <<>>) of
        {error, _} = Error ->
            Error;
        {ok, <<>>} ->
            case gen_tcp:recv(TCPSocket, 0, Timeout) of
                {ok, More} -> recv_loop(TLSSock, More, Want, Timeout, Acc);
                {error, _} = Error -> Error
            end;
        {ok, Data} when Want < 0 ->
            {ok, <<Acc/binary, Data/binary>>};
        {ok, Data} when byte_size(Data) < Want ->
            recv_loop(TLSSock, <<>>, Want - byte_size(Data), Timeout, <<Acc/binary, Data/binary>>);
        {ok, Data} when byte_size(Data) =:= Want ->
            {ok, <<Acc/binary, Data/binary>>};
        {ok, _} ->
            {error, too_much_data_received}
    end.

%% Steps and socket writes, collecting plaintext (at most Want bytes; -1 =
%% any, 0 = none). A step takes all the input and gives all there is to
%% write, so only a caller still short of its Want bytes needs another step
%% (for records held back by the Want limit).
drive(TLSSock, ToSend, Received, Want, Acc) ->
    case step(TLSSock, ToSend, Received, Want) of
        {error, _} = Error ->
            Error;
        {_Tag, wrote, Plain} when Want > 0 ->
            drive(TLSSock, <<>>, <<>>, Want - byte_size(Plain), <<Acc/binary, Plain/binary>>);
        {_Tag, _, Plain} ->
            {ok, <<Acc/binary, Plain/binary>>}
    end.

%% One NIF step and the socket write it asks for:
%% `{init | ok, wrote | nothing_to_write, Plain} | {error, Reason}'; on a
%% failed step the TLS alert is still written.
step(#tlssock{tcpsock = TCPSocket, tlsport = Session}, ToSend, Received, Want) ->
    try loop_nif(Session, ToSend, Received, Want) of
        {error, _} = Error ->
            Error;
        {Tag, <<>>, Plain} when Tag =:= ok; Tag =:= init ->
            {Tag, nothing_to_write, Plain};
        {Tag, ToWrite, Plain} when Tag =:= ok; Tag =:= init ->
            case gen_tcp:send(TCPSocket, ToWrite) of
                ok -> {Tag, wrote, Plain};
                {error, _} = Error -> Error
            end;
        {{error, _} = Error, ToWrite, _} ->
            _ = gen_tcp:send(TCPSocket, ToWrite),
            Error
    catch
        error:badarg -> {error, einval}
    end.

%% @doc Drives the handshake to its end on a passive socket (no plaintext
%% may arrive meanwhile: `{error, too_much_data_received}').
-spec finish_handshake(tls_socket(), timeout()) -> ok | {error, inet:posix() | binary()}.
finish_handshake(TLSSock, Timeout) ->
    handshake_loop(TLSSock, <<>>, Timeout).

handshake_loop(#tlssock{tcpsock = TCPSocket} = TLSSock, Received, Timeout) ->
    case step(TLSSock, <<>>, Received, 0) of
        {error, _} = Error ->
            Error;
        {_Tag, _, Plain} when Plain =/= <<>> ->
            {error, too_much_data_received};
        {ok, _, <<>>} ->
            ok;
        {init, _, <<>>} ->
            case gen_tcp:recv(TCPSocket, 0, Timeout) of
                {ok, More} -> handshake_loop(TLSSock, More, Timeout);
                {error, _} = Error -> Error
            end
    end.

%%% ---------------------------------------------------------------------------
%%% The TCP socket underneath

-spec setopts(tls_socket(), list()) -> ok | {error, inet:posix()}.
setopts(#tlssock{tcpsock = TCPSocket}, Opts) -> inet:setopts(TCPSocket, Opts).

-spec sockname(tls_socket()) -> {ok, {inet:ip_address(), inet:port_number()}} | {error, inet:posix()}.
sockname(#tlssock{tcpsock = TCPSocket}) -> inet:sockname(TCPSocket).

-spec peername(tls_socket()) -> {ok, {inet:ip_address(), inet:port_number()}} | {error, inet:posix()}.
peername(#tlssock{tcpsock = TCPSocket}) -> inet:peername(TCPSocket).

-spec controlling_process(tls_socket(), pid()) -> ok | {error, atom()}.
controlling_process(#tlssock{tcpsock = TCPSocket}, Pid) ->
    gen_tcp:controlling_process(TCPSocket, Pid).

%%% ---------------------------------------------------------------------------
%%% Peer certificate and session facts

%% @equiv get_peer_certificate(TLSSock, plain)
-spec get_peer_certificate(tls_socket()) -> {ok, cert()} | error.
get_peer_certificate(TLSSock) ->
    get_peer_certificate(TLSSock, plain).

%% @doc The peer's certificate: decoded (`plain', `otp') or `der'.
-spec get_peer_certificate(tls_socket(), otp | plain) -> {ok, cert()} | error;
                          (tls_socket(), der) -> {ok, binary()} | error.
get_peer_certificate(#tlssock{tlsport = Session}, Type) ->
    try get_peer_certificate_nif(Session) of
        {ok, Der} when Type =:= der ->
            {ok, Der};
        {ok, Der} ->
            try {ok, public_key:pkix_decode_cert(Der, Type)}
            catch _:_ -> error
            end;
        {error, _} ->
            error
    catch
        error:badarg -> error
    end.

%% @doc OpenSSL's X509_V verify code for the peer's certificate chain
%% (0 when it is trusted or when the peer sent none).
-spec get_verify_result(tls_socket()) -> byte().
get_verify_result(#tlssock{tlsport = Session}) ->
    {ok, Code} = get_verify_result_nif(Session),
    Code.

%% @doc The text of a verify code (OpenSSL's wording).
-spec get_cert_verify_string(number(), cert() | binary()) -> binary().
get_cert_verify_string(21, Cert) ->
    case self_signed(Cert) of
        true -> <<"self-signed certificate">>;
        false -> verify_text(21)
    end;
get_cert_verify_string(Code, _Cert) ->
    verify_text(Code).

self_signed(#'Certificate'{} = Cert) ->
    public_key:pkix_is_self_signed(public_key:pkix_encode('Certificate', Cert, plain));
self_signed(Cert) ->
    public_key:pkix_is_self_signed(Cert).

verify_text(Code) ->
    case lists:keyfind(Code, 1, verify_texts()) of
        {Code, Text} -> Text;
        false -> <<"Unknown OpenSSL error code: ", (integer_to_binary(Code))/binary>>
    end.

%% X509_V_* codes and OpenSSL's texts for them
verify_texts() ->
    [{0, <<"ok">>},
     {2, <<"unable to get issuer certificate">>},
     {3, <<"unable to get certificate CRL">>},
     {4, <<"unable to decrypt certificate's signature">>},
     {5, <<"unable to decrypt CRL's signature">>},
     {6, <<"unable to decode issuer public key">>},
     {7, <<"certificate signature failure">>},
     {8, <<"CRL signature failure">>},
     {9, <<"certificate is not yet valid">>},
     {10, <<"certificate has expired">>},
     {11, <<"CRL is not yet valid">>},
     {12, <<"CRL has expired">>},
     {13, <<"format error in certificate's notBefore field">>},
     {14, <<"format error in certificate's notAfter field">>},
     {15, <<"format error in CRL's lastUpdate field">>},
     {16, <<"format error in CRL's nextUpdate field">>},
     {17, <<"out of memory">>},
     {18, <<"self signed certificate">>},
     {19, <<"self signed certificate in certificate chain">>},
     {20, <<"unable to get local issuer certificate">>},
     {21, <<"unable to verify the first certificate">>},
     {22, <<"certificate chain too long">>},
     {23, <<"certificate revoked">>},
     {24, <<"invalid CA certificate">>},
     {25, <<"path length constraint exceeded">>},
     {26, <<"unsupported certificate purpose">>},
     {27, <<"certificate not trusted">>},
     {28, <<"certificate rejected">>},
     {29, <<"subject issuer mismatch">>},
     {30, <<"authority and subject key identifier mismatch">>},
     {31, <<"authority and issuer serial number mismatch">>},
     {32, <<"key usage does not include certificate signing">>},
     {50, <<"application verification failure">>}].

%% @doc `{ok, <<"TLSv1.3 TLS_AES_256_GCM_SHA384">>}' (OpenSSL's names) or `error'.
-spec get_negotiated_cipher(tls_socket()) -> {ok, binary()} | error.
get_negotiated_cipher(#tlssock{tlsport = Session}) ->
    try get_negotiated_cipher_nif(Session) of
        Text when is_binary(Text) -> {ok, Text};
        _ -> error
    catch
        _:_ -> error
    end.

%% @doc tls-unique (RFC 5929) Finished messages: `{error, undefined}', as
%% rustls does not expose them (fast_tls gives the same on TLS 1.3).
-spec get_tls_last_message(peer | self, tls_socket()) -> {ok, binary()} | {error, term()}.
get_tls_last_message(Which, #tlssock{tlsport = Session}) when Which =:= peer; Which =:= self ->
    xmpp_accel_nif:tls_finished(Session, Which).

%% @doc tls-exporter channel binding (RFC 9266): 32 bytes.
-spec get_tls_cb_exporter(tls_socket()) -> {ok, binary()} | {error, term()}.
get_tls_cb_exporter(#tlssock{tlsport = Session}) ->
    get_tls_cb_exporter_nif(Session).

%%% ---------------------------------------------------------------------------
%%% Certificates by domain (server-side SNI), caches, FIPS, PKCS#12

%% @doc Registers the certificate file (cert chain and key, PEM) of a domain;
%% a server picks it when a client's SNI names the domain, or matches
%% `*.rest' with its first label replaced.
-spec add_certfile(iodata(), iodata()) -> ok.
add_certfile(Domain, File) -> xmpp_accel_nif:tls_add_certfile(Domain, File).

%% @doc The file registered for a domain (meant for tests).
-spec get_certfile(iodata()) -> {ok, binary()} | error.
get_certfile(Domain) -> xmpp_accel_nif:tls_get_certfile(Domain).

%% @doc True when the domain had a file.
-spec delete_certfile(iodata()) -> boolean().
delete_certfile(Domain) -> xmpp_accel_nif:tls_delete_certfile(Domain).

%% @doc Forgets cached configurations, keys and CA roots; call it after
%% changing certificate, key or CA files.
-spec clear_cache() -> ok.
clear_cache() -> xmpp_accel_nif:tls_clear_cache().

%% @doc FIPS mode is not available in this build: `set_fips_mode(true)'
%% gives `{error, binary()}'.
-spec set_fips_mode(boolean()) -> ok | {error, binary()}.
set_fips_mode(true) -> set_fips_mode_nif(1);
set_fips_mode(false) -> set_fips_mode_nif(0).

-spec get_fips_mode() -> boolean().
get_fips_mode() -> get_fips_mode_nif().

%% @doc PKCS#12 to PEM `{ok, {Key, Cert}}'; not supported by this build.
-spec p12_to_pem(binary(), binary()) -> {ok, {binary(), binary()}} | {error, atom() | binary()}.
p12_to_pem(P12Data, Pass) -> p12_to_pem_nif(P12Data, <<Pass/binary, 0>>).

%%% ---------------------------------------------------------------------------
%%% fast_tls's NIF entry points, on the xmpp-accel NIF

-spec open_nif(non_neg_integer(), iodata(), iodata(), iodata(), iodata(), iodata(),
               iodata(), iodata(), iodata(), iodata()) -> {ok, reference()} | {error, binary()}.
open_nif(Flags, CertFile, KeyFile, Ciphers, ProtocolOpts, DH, DHFile, CAFile, SNI, ALPN) ->
    Args = [Flags, CertFile, KeyFile, Ciphers, ProtocolOpts, DH, DHFile, CAFile, SNI, ALPN],
    case xmpp_accel_nif:tls_open(Args) of
        dirty -> xmpp_accel_nif:tls_open_dirty(Args);
        Result -> Result
    end.

%% A step on a normal scheduler, or on a dirty one for RSA signing and big data.
-spec loop_nif(reference(), iodata(), iodata(), integer()) ->
          {init | ok | {error, term()}, binary(), binary()} | {error, closed}.
loop_nif(Session, ToSend, Received, Want) ->
    case xmpp_accel_nif:tls_loop(Session, ToSend, Received, Want) of
        dirty -> xmpp_accel_nif:tls_loop_dirty(Session, ToSend, Received, Want);
        Result -> Result
    end.

get_peer_certificate_nif(Session) -> xmpp_accel_nif:tls_peer_certificate(Session).

get_verify_result_nif(Session) -> xmpp_accel_nif:tls_verify_result(Session).

invalidate_nif(Session) -> xmpp_accel_nif:tls_invalidate(Session).

get_negotiated_cipher_nif(Session) -> xmpp_accel_nif:tls_negotiated_cipher(Session).

get_tls_cb_exporter_nif(Session) -> xmpp_accel_nif:tls_cb_exporter(Session).

set_fips_mode_nif(0) -> ok;
set_fips_mode_nif(_) -> {error, <<"FIPS mode is not available: xmpp-accel's fast_tls uses rustls with aws-lc-rs built without FIPS">>}.

get_fips_mode_nif() -> false.

p12_to_pem_nif(_P12Data, _Pass) ->
    {error, <<"PKCS#12 is not supported by xmpp-accel's fast_tls">>}.
