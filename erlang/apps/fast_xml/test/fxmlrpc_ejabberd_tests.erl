%%% @doc ejabberd's XML-RPC listener (`ejabberd_xmlrpc', Debian's ejabberd
%%% 23.01) on our fast_xml and on Debian's: the same HTTP answer for the
%%% same request body. `process/2' is called directly (no listener, no
%%% ejabberd running) with the requests it answers by itself: its echo and
%%% multiply test methods, an unknown call (a fault whose string is an
%%% Erlang string), malformed XML and XML that is not XML-RPC. Only that
%%% module of ejabberd is loaded, on both sides. Skipped, loudly, when
%%% ejabberd or fast_xml is not installed.
-module(fxmlrpc_ejabberd_tests).

-include_lib("eunit/include/eunit.hrl").

-define(BEAM_GLOB, "/usr/lib/*/ejabberd-*/ebin/ejabberd_xmlrpc.beam").

ejabberd_xmlrpc_test_() ->
    case filelib:wildcard(?BEAM_GLOB) of
        [] ->
            io:format(standard_error, "~n*** ejabberd is not installed: ejabberd_xmlrpc tests skipped ***~n", []),
            [];
        [Beam | _] ->
            case reference_fast_xml:start() of
                {skip, Why} ->
                    io:format(standard_error, "~n*** ~s: ejabberd_xmlrpc tests skipped ***~n", [Why]),
                    [];
                {ok, Peer} ->
                    Abs = filename:rootname(Beam),
                    {setup,
                     fun() ->
                             {module, ejabberd_xmlrpc} = code:load_abs(Abs),
                             {ok, {module, ejabberd_xmlrpc}} =
                                 reference_fast_xml:outcome(Peer, code, load_abs, [Abs]),
                             Peer
                     end,
                     fun(P) ->
                             _ = code:purge(ejabberd_xmlrpc),
                             _ = code:delete(ejabberd_xmlrpc),
                             reference_fast_xml:stop(P)
                     end,
                     fun(P) -> [{timeout, 120, fun() -> answers(P) end}] end}
            end
    end.

%% ejabberd_http's #request{} of ejabberd 23.01, with the fields
%% ejabberd_xmlrpc reads: method, data, ip
request(Body) ->
    {request, 'POST', [], <<"/">>, [], {<<>>, <<>>}, undefined, <<>>, Body,
     {{127, 0, 0, 1}, 40000}, <<"localhost">>, 4560, [], http, [], byte_size(Body), gen_tcp, undefined}.

call(Method, Params) ->
    Ps = [["<param><value>", P, "</value></param>"] || P <- Params],
    iolist_to_binary(["<?xml version=\"1.0\"?>\n<methodCall>\n  <methodName>", Method,
                      "</methodName>\n  <params>", Ps, "</params>\n</methodCall>\n"]).

member(Name, Value) ->
    ["<member><name>", Name, "</name><value>", Value, "</value></member>"].

bodies() ->
    Values = ["<int>42</int>", "<i4>-7</i4>", "<boolean>1</boolean>", "<boolean>false</boolean>",
              "<string>caf\xc3\xa9 &amp; &lt;tea&gt;</string>", "<string/>", "bare text", "",
              "<double>2.5</double>", "<double>-1.0e-10</double>",
              "<base64>aGVsbG8=</base64>", "<dateTime.iso8601>20260102T03:04:05</dateTime.iso8601>",
              "<nil/>", "<array><data><value><int>1</int></value><value>two</value>"
              "<value><array><data/></array></value></data></array>"],
    [call("echothis", [V]) || V <- Values]
        ++ [call("echothisnew", [["<struct>", member("sentence", V), "</struct>"]]) || V <- Values]
        ++ [call("multhis", [["<struct>", member("a", "<int>6</int>"), member("b", "<i4>7</i4>"), "</struct>"]]),
            call("multhisnew", [["<struct>", member("a", "<double>1.5</double>"),
                                 member("b", "<int>4</int>"), "</struct>"]]),
            call("unknown_method", ["<int>1</int>", "<string>two</string>"]),
            call("echothis", ["<int>1</int>", "<int>2</int>"]),
            %% malformed XML; XML, but not XML-RPC; XML-RPC with bad values
            <<"<methodCall><methodName>echothis</methodName>">>, <<"not xml">>,
            <<"<html><body/></html>">>, <<"<methodCall><params/></methodCall>">>,
            call("echothis", ["<int>forty-two</int>"]), call("echothis", ["<boolean>yes</boolean>"]),
            call("echothis", ["<double>1</double>"]), call("echothis", ["<base64/>"]),
            <<"<methodResponse><params><param><value>x</value></param></params></methodResponse>">>].

answers(P) ->
    logger:set_module_level(ejabberd_xmlrpc, none),
    _ = reference_fast_xml:outcome(P, logger, set_module_level, [ejabberd_xmlrpc, none]),
    Answers = [{Body, reference_fast_xml:outcome(ejabberd_xmlrpc, process, [[], request(Body)]),
                reference_fast_xml:outcome(P, ejabberd_xmlrpc, process, [[], request(Body)])}
               || Body <- bodies()],
    [?assertEqual({Body, Theirs}, {Body, Ours}) || {Body, Ours, Theirs} <- Answers],
    Codes = [Code || {_, {ok, {Code, _, _}}, _} <- Answers],
    io:format(standard_error, "~nejabberd_xmlrpc:process/2: ~b requests, ~b answered 200, ~b 400, "
              "the same on both sides~n", [length(Answers), length([200 || 200 <- Codes]),
                                           length([400 || 400 <- Codes])]),
    %% the echo works (the request record fits this ejabberd)
    {_, {ok, {200, _, Echo}}, _} = hd(Answers),
    ?assertMatch({_, _}, binary:match(Echo, <<"<int>42</int>">>)),
    ?assertEqual(length(Answers), length(Codes)).
