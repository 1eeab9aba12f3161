%%% @doc The exml and exml_stream API through the real NIF: return shapes,
%%% byte-exact serialisation, strictness, limits, bad arguments.
-module(exml_api_tests).

-include_lib("eunit/include/eunit.hrl").
-include("exml_stream.hrl").

%% ------------------------------------------------------------ exml:parse/1

parse_shapes_test() ->
    ?assertEqual({ok, #xmlel{name = <<"message">>,
                             attrs = #{<<"to">> => <<"a@b">>, <<"type">> => <<"chat">>},
                             children = [#xmlel{name = <<"body">>,
                                                children = [#xmlcdata{content = <<"hi & <3 A">>}]}]}},
                 exml:parse(<<"<message to='a@b' type=\"chat\"><body>hi &amp; &lt;3 &#x41;</body></message>">>)),
    %% a list of binaries is one document
    ?assertEqual(exml:parse(<<"<a><b/></a>">>), exml:parse([<<"<a><">>, <<"b/></a>">>])),
    %% text pieces (text, CDATA, references) are one #xmlcdata{}
    ?assertEqual({ok, #xmlel{name = <<"a">>, children = [#xmlcdata{content = <<"x<y>z">>}]}},
                 exml:parse(<<"<a>x<![CDATA[<y>]]>z</a>">>)),
    %% comments and processing instructions are skipped, the declaration accepted
    ?assertEqual({ok, #xmlel{name = <<"a">>, children = [#xmlcdata{content = <<"tu">>}]}},
                 exml:parse(<<"<?xml version='1.0'?><a>t<!-- c -->u<?pi x?></a>">>)),
    %% white space alone between markup is no child, as in exml (RapidXML);
    %% inside other text, in CDATA or as a reference it is kept
    ?assertEqual({ok, #xmlel{name = <<"a">>, children = [#xmlel{name = <<"b">>}, #xmlcdata{content = <<" x ">>}]}},
                 exml:parse(<<"<a>\n <b/> x </a>">>)),
    ?assertEqual({ok, #xmlel{name = <<"a">>, children = [#xmlcdata{content = <<" ">>}]}},
                 exml:parse(<<"<a> <![CDATA[ ]]> </a>">>)),
    ?assertEqual({ok, #xmlel{name = <<"a">>, children = [#xmlcdata{content = <<" ">>}]}},
                 exml:parse(<<"<a>&#32;</a>">>)).

parse_errors_test_() ->
    Bad = [<<"<a>">>, <<"<a></b>">>, <<"<a x='1' x='2'/>">>, <<"<a>&nbsp;</a>">>, <<"<a>&#0;</a>">>,
           <<"<a>&#xD800;</a>">>, <<"<a>", 16#C3, "</a>">>, <<"<a>\x0b</a>">>, <<"<!DOCTYPE a><a/>">>,
           <<"<a/><b/>">>, <<"text">>, <<>>, <<"<a b=c/>">>, <<"<p:a/>">>, <<"<a b='<'/>">>],
    [?_assertMatch({{error, R}, B} when is_binary(R), {exml:parse(B), B}) || B <- Bad].

readable_error_test() ->
    ?assertEqual({error, <<"mismatched end tag: expected </b>, got </a>">>}, exml:parse(<<"<a><b></a>">>)),
    ?assertEqual({error, <<"duplicate attribute 'x'">>}, exml:parse(<<"<a x='1' x='2'/>">>)).

parse_badarg_test() ->
    ?assertError(badarg, exml:parse(an_atom)),
    ?assertError(badarg, exml:parse([<<"<a/>">>, 3.14])).

%% ------------------------------------------------------------ serialisation

to_binary_exact_test() ->
    El = #xmlel{name = <<"message">>,
                attrs = #{<<"to">> => <<"a@b">>, <<"id">> => <<"it's">>, <<"q">> => <<"\"&<>">>},
                children = [#xmlel{name = <<"body">>,
                                   children = [#xmlcdata{content = [<<"a<b>&'\"">>, "c"]}]},
                            #xmlel{name = <<"empty">>},
                            #xmlcdata{content = <<"x]]>y">>, style = cdata}]},
    ?assertEqual(<<"<message id=\"it's\" q='\"&amp;&lt;&gt;' to='a@b'>"
                   "<body>a&lt;b&gt;&amp;&apos;&quot;c</body><empty/>"
                   "<![CDATA[x]]]]><![CDATA[>y]]></message>">>,
                 exml:to_binary(El)),
    ?assertEqual(binary_to_list(exml:to_binary(El)), exml:to_list(El)).

to_binary_well_formed_extras_test() ->
    %% carriage return and attribute whitespace survive a round trip
    El = #xmlel{name = <<"a">>, attrs = #{<<"v">> => <<"x\ty\nz\r">>},
                children = [#xmlcdata{content = <<"l1\r\nl2">>}]},
    Bin = exml:to_binary(El),
    ?assertEqual(<<"<a v='x&#x9;y&#xA;z&#xD;'>l1&#xD;\nl2</a>">>, Bin),
    ?assertEqual({ok, El}, exml:parse(Bin)).

pretty_test() ->
    {ok, El} = exml:parse(<<"<a x='1'><b>t</b><c/>u<d><e/></d></a>">>),
    ?assertEqual(<<"<a x='1'>\n  <b>t</b>\n  <c/>\n  u\n  <d>\n    <e/>\n  </d>\n</a>\n\n">>,
                 iolist_to_binary(exml:to_pretty_iolist(El))).

stream_items_test() ->
    Start = #xmlstreamstart{name = <<"stream:stream">>, attrs = #{<<"to">> => <<"x">>}},
    End = #xmlstreamend{name = <<"stream:stream">>},
    ?assertEqual(<<"<stream:stream to='x'>">>, exml:to_binary(Start)),
    ?assertEqual(<<"</stream:stream>">>, exml:to_binary(End)),
    ?assertEqual(<<"<stream:stream to='x'><a/></stream:stream>">>,
                 exml:to_binary([Start, #xmlel{name = <<"a">>}, End])),
    ?assertEqual(<<"t&amp;<![CDATA[c]]>">>,
                 exml:to_binary([#xmlcdata{content = <<"t&">>}, #xmlcdata{content = <<"c">>, style = cdata}])).

badxml_test() ->
    Bad = [#xmlel{name = <<"a">>, attrs = 1},
           #xmlel{name = a},
           #xmlel{name = <<"a">>, children = [oops]},
           #xmlel{name = <<"a">>, children = [#xmlcdata{content = <<"x">>, style = bold}]},
           #xmlel{name = <<"a">>, children = improper_tail},
           #xmlel{name = <<"a">>, attrs = #{<<"k">> => 42}}],
    [?assertError({badxml, B, _}, exml:to_binary(B)) || B <- Bad].

many_attributes_test() ->
    %% attributes are read in batches of 16: every count around the
    %% batch size, and past 32 (a hash map instead of a flat one)
    [begin
         Attrs = maps:from_list([{iolist_to_binary(io_lib:format("k~3..0b", [I])),
                                  iolist_to_binary(io_lib:format("v<~b>&'", [I]))}
                                 || I <- lists:seq(1, N)]),
         El = #xmlel{name = <<"a">>, attrs = Attrs, children = [#xmlel{name = <<"b">>}]},
         Bin = exml:to_binary(El),
         ?assertEqual({ok, El}, exml:parse(Bin)),
         ?assertEqual(N, length(binary:matches(Bin, <<"&lt;">>))),
         %% a bad value anywhere among them is still refused
         [?assertError({badxml, _, _},
                       exml:to_binary(El#xmlel{attrs = Attrs#{K => 42}}))
          || K <- [hd(maps:keys(Attrs)), lists:last(maps:keys(Attrs))]]
     end || N <- [1, 15, 16, 17, 31, 32, 33, 40]].

xml_size_test() ->
    Samples = exml_test_corpus:samples(),
    [begin
         {ok, El} = exml:parse(S),
         NoAttrs = strip_attrs(El),
         ?assertEqual(byte_size(exml:to_binary(NoAttrs)), exml:xml_size(NoAttrs))
     end || S <- Samples],
    ?assertEqual(byte_size(<<"<a k='v'/>">>), exml:xml_size(#xmlel{name = <<"a">>, attrs = #{<<"k">> => <<"v">>}})).

strip_attrs(#xmlel{children = C} = El) -> El#xmlel{attrs = #{}, children = [strip_attrs(X) || X <- C]};
strip_attrs(Other) -> Other.

round_trip_corpus_test() ->
    [begin
         {ok, El} = exml:parse(S),
         ?assertEqual({ok, El}, exml:parse(exml:to_binary(El))),
         ?assertEqual({ok, El}, exml:parse(exml:to_pretty_iolist(El)) =/= error andalso {ok, El})
     end || S <- exml_test_corpus:samples()].

deep_element_serialises_test() ->
    %% built in Erlang, 100,000 levels: serialisation walks it without recursion
    Deep = lists:foldl(fun(_, Acc) -> #xmlel{name = <<"d">>, children = [Acc]} end,
                       #xmlel{name = <<"leaf">>}, lists:seq(1, 100000)),
    Bin = exml:to_binary(Deep),
    ?assertEqual(100000 * 7 + 7, byte_size(Bin)).

edit_helpers_test() ->
    El = #xmlel{name = <<"a">>, attrs = #{<<"x">> => <<"1">>},
                children = [#xmlel{name = <<"b">>}, #xmlcdata{content = <<"t">>}]},
    ?assertEqual([#xmlel{name = <<"b">>}], (exml:remove_cdata(El))#xmlel.children),
    ?assertEqual(#{}, (exml:remove_attr(El, <<"x">>))#xmlel.attrs),
    ?assertEqual(#{<<"x">> => <<"2">>}, (exml:upsert_attr_value(El, <<"x">>, <<"2">>))#xmlel.attrs),
    New = #xmlel{name = <<"b">>, attrs = #{<<"n">> => <<"1">>}},
    ?assertEqual([New, #xmlcdata{content = <<"t">>}], (exml:upsert_child(El, New))#xmlel.children),
    ?assertEqual(El, exml:insert_new_child(El, New)),
    C = #xmlel{name = <<"c">>},
    ?assertEqual([C | El#xmlel.children], (exml:insert_new_child(El, C))#xmlel.children),
    ?assertEqual(El#xmlel.children ++ [C], (exml:append_children(El, [C]))#xmlel.children),
    ?assertEqual([#xmlcdata{content = <<"t">>}],
                 (exml:filter_children(El, fun(X) -> is_record(X, xmlcdata) end))#xmlel.children).

%% ------------------------------------------------------------ exml_stream

stream_chunks(Opts, Chunks) ->
    {ok, P} = exml_stream:new_parser(Opts),
    lists:foldl(fun(_, {error, _} = E) -> E;
                   (C, {ok, P0, Acc}) ->
                        case exml_stream:parse(P0, C) of
                            {ok, P1, Items} -> {ok, P1, Acc ++ Items};
                            Error -> Error
                        end
                end, {ok, P, []}, Chunks).

stream_byte_by_byte_test() ->
    S = <<"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>"
          "<message><body>&#x1F600; żółw &amp;</body></message><iq/></stream:stream>"/utf8>>,
    Bytes = [<<B>> || <<B>> <= S],
    {ok, _, Items} = stream_chunks([], Bytes),
    {ok, _, Whole} = stream_chunks([], [S]),
    ?assertEqual(Whole, Items),
    ?assertMatch([#xmlstreamstart{name = <<"stream:stream">>},
                  #xmlel{name = <<"message">>, children = [#xmlel{children = [#xmlcdata{content = <<"😀 żółw &"/utf8>>}]}]},
                  #xmlel{name = <<"iq">>},
                  #xmlstreamend{name = <<"stream:stream">>}], Items).

stream_errors_test_() ->
    H = <<"<stream:stream xmlns:stream='s'>">>,
    [?_assertMatch({error, <<"comments are not allowed in an XML stream">>}, stream_chunks([], [H, <<"<!-- x -->">>])),
     ?_assertMatch({error, <<"processing instructions are not allowed", _/binary>>}, stream_chunks([], [H, <<"<?x y?>">>])),
     ?_assertMatch({error, <<"DTDs are not allowed">>}, stream_chunks([], [<<"<!DOCTYPE x>">>])),
     ?_assertMatch({error, <<"character data is not allowed at stream level">>}, stream_chunks([], [H, <<"junk">>])),
     ?_assertMatch({error, _}, stream_chunks([], [H, <<"<a>\x00</a>">>])),
     ?_assertMatch({error, _}, stream_chunks([], [H, <<"<a></b>">>]))].

stream_error_is_final_test() ->
    {ok, P} = exml_stream:new_parser(),
    ?assertMatch({error, _}, exml_stream:parse(P, <<"<a></b>">>)),
    ?assertMatch({error, _}, exml_stream:parse(P, <<"<a/>">>)),
    {ok, P1} = exml_stream:reset_parser(P),
    ?assertMatch({ok, _, [#xmlstreamstart{name = <<"a">>}, #xmlstreamend{}]}, exml_stream:parse(P1, <<"<a/>">>)).

stream_limits_test() ->
    ?assertEqual({error, <<"element too big">>},
                 stream_chunks([{max_element_size, 100}], [<<"<s>">>, binary:copy(<<"<a>">>, 40)])),
    ?assertMatch({error, <<"element nesting deeper than 3">>},
                 stream_chunks([{max_depth, 3}], [<<"<s><a><b><c><d>">>])),
    ?assertMatch({error, <<"more than 2 attributes", _/binary>>},
                 stream_chunks([{max_attrs, 2}], [<<"<s><a x='1' y='2' z='3'/>">>])),
    %% within the limits
    ?assertMatch({ok, _, [_, _]}, stream_chunks([{max_depth, 3}, {max_attrs, 2}], [<<"<s><a x='1' y='2'><b><c/></b></a>">>])).

stream_badarg_test() ->
    {ok, P} = exml_stream:new_parser(),
    ?assertError(function_clause, exml_stream:parse(P, "a list")),
    ?assertError(function_clause, exml_stream:parse({parser, foo}, <<"<a>">>)),
    ?assertError(badarg, exml_stream:new_parser([{max_element_size, -1}])),
    ?assertError(badarg, exml_stream:new_parser([{infinite_stream, maybe}])).

infinite_stream_test() ->
    {ok, _, Items} = stream_chunks([{infinite_stream, true}],
                                   [<<"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='x' version='1.0'/>">>,
                                    <<"<message><bo">>, <<"dy>hi</body></message> <close xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>">>]),
    ?assertMatch([#xmlel{name = <<"open">>}, #xmlel{name = <<"message">>}, #xmlel{name = <<"close">>}], Items).

many_parsers_are_freed_test() ->
    %% resources are freed by their destructor: memory does not grow with parsers made and dropped
    Make = fun() -> [begin {ok, P} = exml_stream:new_parser(), {ok, _, _} = exml_stream:parse(P, <<"<s><a>">>), ok end
                     || _ <- lists:seq(1, 20000)] end,
    Make(), erlang:garbage_collect(),
    Before = erlang:memory(total),
    Make(), Make(), erlang:garbage_collect(),
    After = erlang:memory(total),
    ?assert(After - Before < 8 * 1024 * 1024).
