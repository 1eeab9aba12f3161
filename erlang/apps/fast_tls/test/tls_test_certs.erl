%%% @doc Test support: X.509 certificates made at test time with OTP's
%%% public_key, written as PEM files to a fresh temporary directory.
%%%
%%% `make/0' returns `{Dir, Certs}', where `Certs' maps a name to
%%% `#{pem := Path, crt := Path, key := Path, der := binary(), cn := binary()}':
%%% `pem' holds the certificate followed by its private key (the form
%%% fast_tls's `{certfile, F}' takes), `crt' the certificate alone (the form
%%% `{cafile, F}' takes, for the CAs) and `key' the private key alone (for
%%% `{certfile, Crt}, {keyfile, Key}').
%%%
%%% The names:
%%% <ul>
%%% <li>`ca', `other_ca': self-signed CAs (ECDSA P-256); `other_ca' is never
%%%     given to anyone as a trust anchor.</li>
%%% <li>`server_ec' (ECDSA P-256) and `server_rsa' (RSA 2048): server certs for
%%%     server.example, localhost and 127.0.0.1, signed by `ca'.</li>
%%% <li>`server_self_signed': a self-signed server cert (selfsigned.example).</li>
%%% <li>`server_expired': signed by `ca', expired a month ago.</li>
%%% <li>`a_example', `wild_example', `default_example': server certs for the
%%%     SNI names "a.example", "*.wild.example" and "default.example",
%%%     signed by `ca'.</li>
%%% <li>`client' (signed by `ca'), `client_self_signed', `client_unknown_ca'
%%%     (signed by `other_ca', no chain), `client_expired' (signed by `ca',
%%%     expired a month ago), `client_not_yet_valid' (signed by `ca', valid
%%%     from a month from now): client certs (ECDSA P-256).</li>
%%% <li>`unknown_intermediate' (a CA signed by `other_ca') and
%%%     `client_unknown_chain' (signed by it; its `pem' holds the client
%%%     cert, then `unknown_intermediate', then the key, so the chain sent is
%%%     two certificates whose root nobody trusts; its `crt' holds both).</li>
%%% </ul>
%%% `cleanup/1' removes the directory.
-module(tls_test_certs).

-include_lib("public_key/include/public_key.hrl").

-export([make/0, make/1, cleanup/1, cn/1]).

-type cert_info() :: #{pem := file:filename(), crt := file:filename(), key := file:filename(),
                       der := binary(), cn := binary()}.
-export_type([cert_info/0]).

-define(DAY, 86400).

%% @doc Makes the certificates in a new directory under the system's
%% temporary directory.
-spec make() -> {file:filename(), #{atom() => cert_info()}}.
make() ->
    Base = case os:getenv("TMPDIR") of
               false -> "/tmp";
               "" -> "/tmp";
               T -> T
           end,
    Dir = filename:join(Base, "fast_tls_test_certs_" ++ os:getpid() ++ "_"
                        ++ integer_to_list(erlang:unique_integer([positive]))),
    ok = filelib:ensure_dir(filename:join(Dir, "x")),
    {Dir, make(Dir)}.

%% @doc Makes the certificates in `Dir' (which must exist).
-spec make(file:filename()) -> #{atom() => cert_info()}.
make(Dir) ->
    Now = erlang:system_time(second),
    Valid = {Now - ?DAY, Now + 30 * ?DAY},
    Expired = {Now - 60 * ?DAY, Now - 30 * ?DAY},
    NotYet = {Now + 30 * ?DAY, Now + 60 * ?DAY},
    Ec = fun() -> public_key:generate_key({namedCurve, ?secp256r1}) end,
    CaKey = Ec(),
    Ca = self_signed("xmpp-accel test CA", CaKey, Valid, ca_extensions()),
    OtherCaKey = Ec(),
    OtherCa = self_signed("xmpp-accel unknown CA", OtherCaKey, Valid, ca_extensions()),
    Server = fun(CN, Names, Key, Validity) ->
                     signed(CN, Key, Validity, server_extensions(Names), Ca, CaKey)
             end,
    Client = fun(CN, Validity, Issuer, IssuerKey) ->
                     Key = Ec(),
                     {signed(CN, Key, Validity, client_extensions(CN), Issuer, IssuerKey), Key}
             end,
    ServerNames = ["server.example", "localhost", {127, 0, 0, 1}],
    EcKey = Ec(),
    RsaKey = public_key:generate_key({rsa, 2048, 65537}),
    SelfKey = Ec(),
    ExpKey = Ec(),
    AKey = Ec(),
    WKey = Ec(),
    DKey = Ec(),
    CSelfKey = Ec(),
    InterKey = Ec(),
    Inter = signed("xmpp-accel unknown intermediate CA", InterKey, Valid, ca_extensions(), OtherCa, OtherCaKey),
    ChainKey = Ec(),
    Chained = signed("chained-client.example", ChainKey, Valid, client_extensions("chained-client.example"),
                     Inter, InterKey),
    Certs = [{ca, Ca, CaKey},
             {other_ca, OtherCa, OtherCaKey},
             {server_ec, Server("server.example", ServerNames, EcKey, Valid), EcKey},
             {server_rsa, Server("server.example", ServerNames, RsaKey, Valid), RsaKey},
             {server_self_signed,
              self_signed("selfsigned.example", SelfKey, Valid, server_extensions(["selfsigned.example"])),
              SelfKey},
             {server_expired, Server("expired.example", ["expired.example" | ServerNames], ExpKey, Expired), ExpKey},
             {a_example, Server("a.example", ["a.example"], AKey, Valid), AKey},
             {wild_example, Server("*.wild.example", ["*.wild.example"], WKey, Valid), WKey},
             {default_example, Server("default.example", ["default.example"], DKey, Valid), DKey},
             {client_self_signed,
              self_signed("selfsigned-client.example", CSelfKey, Valid,
                          client_extensions("selfsigned-client.example")),
              CSelfKey}]
        ++ [begin {C, K} = Client(CN, V, I, IK), {Name, C, K} end
            || {Name, CN, V, I, IK} <- [{client, "client.example", Valid, Ca, CaKey},
                                        {client_unknown_ca, "unknown-ca-client.example", Valid, OtherCa, OtherCaKey},
                                        {client_expired, "expired-client.example", Expired, Ca, CaKey},
                                        {client_not_yet_valid, "future-client.example", NotYet, Ca, CaKey}]],
    Written = [{Name, write(Dir, Name, [Der], Key)} || {Name, Der, Key} <- Certs],
    maps:from_list([{unknown_intermediate, write(Dir, unknown_intermediate, [Inter], InterKey)},
                    {client_unknown_chain, write(Dir, client_unknown_chain, [Chained, Inter], ChainKey)}
                    | Written]).

%% @doc Removes the directory `make/0' made.
-spec cleanup(file:filename()) -> ok.
cleanup(Dir) ->
    _ = file:del_dir_r(Dir),
    ok.

%% @doc The subject common name of a certificate (DER, plain or otp record).
-spec cn(binary() | #'Certificate'{} | #'OTPCertificate'{}) -> binary() | undefined.
cn(Der) when is_binary(Der) ->
    cn(public_key:pkix_decode_cert(Der, otp));
cn(#'Certificate'{} = C) ->
    cn(public_key:pkix_encode('Certificate', C, plain));
cn(#'OTPCertificate'{tbsCertificate = #'OTPTBSCertificate'{subject = {rdnSequence, RDNs}}}) ->
    case [V || RDN <- RDNs, #'AttributeTypeAndValue'{type = ?'id-at-commonName', value = V} <- RDN] of
        [{_, Name} | _] -> unicode:characters_to_binary(Name);
        [Name | _] when is_list(Name); is_binary(Name) -> unicode:characters_to_binary(Name);
        [] -> undefined
    end.

%%% internals

%% Chain: the certificate first, then the ones to send with it
write(Dir, Name, [Der | _] = Chain, Key) ->
    Base = filename:join(Dir, atom_to_list(Name)),
    CertPem = public_key:pem_encode([{'Certificate', D, not_encrypted} || D <- Chain]),
    KeyPem = public_key:pem_encode([key_entry(Key)]),
    Pem = Base ++ ".pem",
    Crt = Base ++ ".crt",
    KeyFile = Base ++ ".key",
    ok = file:write_file(Pem, [CertPem, KeyPem]),
    ok = file:write_file(Crt, CertPem),
    ok = file:write_file(KeyFile, KeyPem),
    #{pem => Pem, crt => Crt, key => KeyFile, der => Der, cn => cn(Der)}.

key_entry(#'ECPrivateKey'{} = K) ->
    {'ECPrivateKey', public_key:der_encode('ECPrivateKey', K), not_encrypted};
key_entry(#'RSAPrivateKey'{} = K) ->
    {'RSAPrivateKey', public_key:der_encode('RSAPrivateKey', K), not_encrypted}.

self_signed(CN, Key, Validity, Extensions) ->
    Name = name(CN),
    sign(Name, Name, Key, Validity, Extensions, Key).

signed(CN, Key, Validity, Extensions, IssuerDer, IssuerKey) ->
    #'OTPCertificate'{tbsCertificate = #'OTPTBSCertificate'{subject = Issuer}} =
        public_key:pkix_decode_cert(IssuerDer, otp),
    sign(name(CN), Issuer, Key, Validity, Extensions, IssuerKey).

sign(Subject, Issuer, Key, {From, To}, Extensions, IssuerKey) ->
    SigAlg = sig_alg(IssuerKey),
    <<Serial:63>> = <<(crypto:strong_rand_bytes(8)):63/bitstring>>,
    TBS = #'OTPTBSCertificate'{
             version = v3,
             serialNumber = Serial + 1,
             signature = SigAlg,
             issuer = Issuer,
             validity = #'Validity'{notBefore = time(From), notAfter = time(To)},
             subject = Subject,
             subjectPublicKeyInfo = spki(Key),
             issuerUniqueID = asn1_NOVALUE,
             subjectUniqueID = asn1_NOVALUE,
             extensions = Extensions},
    public_key:pkix_sign(TBS, IssuerKey).

name(CN) ->
    {rdnSequence, [[#'AttributeTypeAndValue'{type = ?'id-at-organizationName',
                                             value = {utf8String, <<"xmpp-accel tests">>}}],
                   [#'AttributeTypeAndValue'{type = ?'id-at-commonName',
                                             value = {utf8String, unicode:characters_to_binary(CN)}}]]}.

sig_alg(#'ECPrivateKey'{}) ->
    #'SignatureAlgorithm'{algorithm = ?'ecdsa-with-SHA256', parameters = asn1_NOVALUE};
sig_alg(#'RSAPrivateKey'{}) ->
    #'SignatureAlgorithm'{algorithm = ?sha256WithRSAEncryption, parameters = 'NULL'}.

spki(#'ECPrivateKey'{parameters = Params, publicKey = Pub}) ->
    #'OTPSubjectPublicKeyInfo'{
       algorithm = #'PublicKeyAlgorithm'{algorithm = ?'id-ecPublicKey', parameters = Params},
       subjectPublicKey = #'ECPoint'{point = Pub}};
spki(#'RSAPrivateKey'{modulus = N, publicExponent = E}) ->
    #'OTPSubjectPublicKeyInfo'{
       algorithm = #'PublicKeyAlgorithm'{algorithm = ?rsaEncryption, parameters = 'NULL'},
       subjectPublicKey = #'RSAPublicKey'{modulus = N, publicExponent = E}}.

%% UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5)
time(Secs) ->
    {{Y, Mo, D}, {H, Mi, S}} = calendar:system_time_to_universal_time(Secs, second),
    case Y < 2050 of
        true ->
            {utcTime, lists:flatten(io_lib:format("~2..0w~2..0w~2..0w~2..0w~2..0w~2..0wZ",
                                                  [Y rem 100, Mo, D, H, Mi, S]))};
        false ->
            {generalTime, lists:flatten(io_lib:format("~4..0w~2..0w~2..0w~2..0w~2..0w~2..0wZ",
                                                      [Y, Mo, D, H, Mi, S]))}
    end.

ca_extensions() ->
    [#'Extension'{extnID = ?'id-ce-basicConstraints', critical = true,
                  extnValue = #'BasicConstraints'{cA = true, pathLenConstraint = asn1_NOVALUE}},
     #'Extension'{extnID = ?'id-ce-keyUsage', critical = true,
                  extnValue = [keyCertSign, cRLSign, digitalSignature]}].

server_extensions(Names) ->
    [#'Extension'{extnID = ?'id-ce-keyUsage', critical = true,
                  extnValue = [digitalSignature, keyEncipherment]},
     #'Extension'{extnID = ?'id-ce-extKeyUsage', critical = false,
                  extnValue = [?'id-kp-serverAuth']},
     #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false,
                  extnValue = [san(N) || N <- Names]}].

client_extensions(CN) ->
    [#'Extension'{extnID = ?'id-ce-keyUsage', critical = true,
                  extnValue = [digitalSignature]},
     #'Extension'{extnID = ?'id-ce-extKeyUsage', critical = false,
                  extnValue = [?'id-kp-clientAuth']},
     #'Extension'{extnID = ?'id-ce-subjectAltName', critical = false,
                  extnValue = [san(CN)]}].

san({A, B, C, D}) -> {iPAddress, <<A, B, C, D>>};
san(Name) -> {dNSName, Name}.
