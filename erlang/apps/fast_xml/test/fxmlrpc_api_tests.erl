%%% @doc fxmlrpc, fxmlrpc_codec, the fast_xml application and fxml_sup on
%%% their own (no peer needed; `fxmlrpc_diff_tests' compares them with
%%% Debian's fast_xml).
-module(fxmlrpc_api_tests).

-include_lib("eunit/include/eunit.hrl").
-include("fxml.hrl").

-define(NS, <<"xmlrpc">>).

decode_bin(Xml) ->
    fxmlrpc:decode(fxml_stream:parse_element(Xml)).

call_tree_test() ->
    ?assertEqual(#xmlel{name = <<"methodCall">>,
                        children = [#xmlel{name = <<"methodName">>, children = [{xmlcdata, <<"add">>}]},
                                    #xmlel{name = <<"params">>,
                                           children = [#xmlel{name = <<"param">>,
                                                              children = [#xmlel{name = <<"value">>,
                                                                                 children = [#xmlel{name = <<"int">>,
                                                                                                    children = [{xmlcdata, <<"2">>}]}]}]}]}]},
                 fxmlrpc:encode({call, add, [2]})),
    ?assertEqual(<<"<methodCall><methodName>m</methodName></methodCall>">>,
                 fxml:element_to_binary(fxmlrpc:encode({call, m, []}))),
    ?assertEqual(<<"<methodResponse/>">>, fxml:element_to_binary(fxmlrpc:encode({response, []}))).

round_trip_test() ->
    Values = [7, -1 bsl 40, 2.5, true, false, <<"text & <more>">>, <<>>, nil,
              {base64, <<"QQ==">>}, {date, <<"20260101T00:00:00">>},
              {array, [1, {array, []}]}, {struct, [{a, 1}, {b, {struct, []}}]}],
    [?assertEqual({ok, T}, decode_bin(fxml:element_to_binary(fxmlrpc:encode(T))))
     || T <- [{call, m, Values}, {response, Values}, {response, {fault, 3, <<"no">>}}]],
    %% strings and iolists are written as strings, read back as binaries
    ?assertEqual({ok, {call, m, [<<"abc">>, <<"de">>]}},
                 decode_bin(fxml:element_to_binary(fxmlrpc:encode({call, m, ["abc", [<<"d">>, $e]]})))),
    ?assertEqual({ok, {response, {fault, 1, <<"list">>}}},
                 decode_bin(fxml:element_to_binary(fxmlrpc:encode({response, {fault, 1, "list"}})))).

decode_values_test() ->
    V = fun(X) -> decode_bin(<<"<methodResponse><params><param><value>", X/binary,
                               "</value></param></params></methodResponse>">>) end,
    ?assertEqual({ok, {response, [42]}}, V(<<"<i4>42</i4>">>)),
    ?assertEqual({ok, {response, [<<"bare">>]}}, V(<<"bare">>)),
    ?assertEqual({ok, {response, [<<>>]}}, V(<<>>)),
    ?assertEqual({ok, {response, [true]}}, V(<<"<boolean>true</boolean>">>)),
    ?assertEqual({ok, {response, [false]}}, V(<<"<boolean>0</boolean>">>)),
    ?assertEqual({ok, {response, [<<"last">>]}}, V(<<"<int>1</int><string>last</string>">>)),
    ?assertEqual({ok, {response, [<<>>]}}, V(<<"<int xmlns='other'>1</int>">>)),
    ?assertEqual({error, {bad_cdata_value, <<>>, <<"int">>, ?NS}}, V(<<"<int>1.0</int>">>)),
    ?assertEqual({error, {bad_cdata_value, <<>>, <<"double">>, ?NS}}, V(<<"<double>1</double>">>)),
    ?assertEqual({error, {bad_cdata_value, <<>>, <<"boolean">>, ?NS}}, V(<<"<boolean>yes</boolean>">>)),
    ?assertEqual({error, {missing_cdata, <<>>, <<"base64">>, ?NS}}, V(<<"<base64/>">>)),
    ?assertEqual({error, {missing_tag, <<"data">>, ?NS}}, V(<<"<array/>">>)),
    ?assertEqual({error, {missing_tag, <<"value">>, ?NS}}, V(<<"<struct><member/></struct>">>)),
    ?assertEqual({error, {missing_tag, <<"name">>, ?NS}},
                 V(<<"<struct><member><value/></member></struct>">>)).

decode_errors_test() ->
    ?assertEqual({error, {missing_tag, <<"methodName">>, ?NS}}, decode_bin(<<"<methodCall/>">>)),
    ?assertEqual({error, {missing_cdata, <<>>, <<"methodName">>, ?NS}},
                 decode_bin(<<"<methodCall><methodName/></methodCall>">>)),
    ?assertEqual({error, {unknown_tag, <<"foo">>, ?NS}}, decode_bin(<<"<foo/>">>)),
    ?assertEqual({error, {unknown_tag, <<"methodCall">>, <<"urn:x">>}},
                 decode_bin(<<"<methodCall xmlns='urn:x'/>">>)),
    ?assertEqual({error, {unexpected_element, {{int, 1}, undefined}}},
                 decode_bin(<<"<value><int>1</int></value>">>)),
    Fault = fun(Ms) -> decode_bin(<<"<methodResponse><fault><value><struct>", Ms/binary,
                                    "</struct></value></fault></methodResponse>">>) end,
    Code = <<"<member><name>faultCode</name><value><i4>4</i4></value></member>">>,
    ?assertEqual({ok, {response, {fault, 4, <<"x">>}}},
                 Fault(<<Code/binary, "<member><name>faultString</name><value>x</value></member>">>)),
    ?assertEqual({ok, {response, {fault, 4, <<>>}}},
                 Fault(<<Code/binary, "<member><name>faultString</name><value/></member>">>)),
    ?assertMatch({error, {bad_struct, [_]}}, Fault(Code)).

codec_test() ->
    ?assertEqual(<<"Missing tag <value/> qualified by namespace 'xmlrpc'">>,
                 fxmlrpc_codec:format_error({missing_tag, <<"value">>, ?NS})),
    ?assertEqual({xmlel, <<"int">>, [{<<"xmlns">>, ?NS}], [{xmlcdata, <<"5">>}]},
                 fxmlrpc_codec:encode({int, 5})),
    ?assertEqual({xmlel, <<"int">>, [], [{xmlcdata, <<"5">>}]}, fxmlrpc_codec:encode({int, 5}, ?NS)),
    ?assertError({fxmlrpc_codec, {missing_tag_xmlns, <<"int">>}},
                 fxmlrpc_codec:decode(fxml_stream:parse_element(<<"<int>5</int>">>))),
    ?assertEqual({int, 5}, fxmlrpc_codec:decode(fxml_stream:parse_element(<<"<int xmlns='xmlrpc'>5</int>">>))),
    ?assertEqual(<<"dateTime.iso8601">>, fxmlrpc_codec:get_name({date, <<>>})),
    ?assertEqual([payload], fxmlrpc_codec:pp(response, 1)),
    ?assertEqual(no, fxmlrpc_codec:pp(response, 2)),
    ?assertError(badarg, fxmlrpc_codec:get_els({int, 1})).

register_module_test() ->
    Ping = fxml_stream:parse_element(<<"<ping xmlns='urn:example:ping' id='1'/>">>),
    ?assertError({fxmlrpc_codec, {unknown_tag, <<"ping">>, <<"urn:example:ping">>}}, fxmlrpc_codec:decode(Ping)),
    try
        ok = fxmlrpc_codec:register_module(fxmlrpc_ext_example),
        ?assertEqual({ping, <<"1">>, []}, fxmlrpc_codec:decode(Ping)),
        ?assertEqual(Ping, fxmlrpc_codec:encode({ping, <<"1">>, []})),
        ?assertEqual([fxmlrpc_ext_example], [M || {M, _} <- fxmlrpc_codec_external:modules()]),
        ok = fxmlrpc_codec:unregister_module(fxmlrpc_ext_example),
        ?assertEqual([], fxmlrpc_codec_external:modules())
    after
        _ = code:purge(fxmlrpc_codec_external),
        {module, _} = code:load_file(fxmlrpc_codec_external),
        _ = code:purge(fxmlrpc_codec_external)
    end.

application_test() ->
    case lists:keymember(fast_xml, 1, application:which_applications()) of
        true ->
            %% started by someone else in this VM: only look
            ?assert(is_pid(whereis(fxml_sup)));
        false ->
            {ok, Started} = application:ensure_all_started(fast_xml),
            try
                ?assert(is_pid(whereis(fxml_sup))),
                ?assertEqual([], supervisor:which_children(fxml_sup))
            after
                [ok = application:stop(A) || A <- lists:reverse(Started)]
            end,
            ?assertEqual(undefined, whereis(fxml_sup))
    end.
