%%%-------------------------------------------------------------------
%%% @doc EUnit tests for the public API of fxml (fast_xml drop-in).
%%%
%%% Two groups:
%%% <ul>
%%%  <li>the pure-Erlang helpers (every test whose name does not start with
%%%      `element_to_'): trees are written as records, nothing here needs
%%%      the NIF, so these also run where the NIF library is absent;</li>
%%%  <li>`element_to_binary/1' and `element_to_header/1' (test names
%%%      starting with `element_to_'): exact output bytes, which need the
%%%      NIF.</li>
%%% </ul>
%%% Every expectation was also checked against fast_xml itself (Debian's
%%% erlang-p1-xml), so this file doubles as a behaviour spec of the peer.
%%% @end
%%%-------------------------------------------------------------------
-module(fxml_api_tests).

-include_lib("eunit/include/eunit.hrl").
-include("fxml.hrl").

-define(NS_DISCO, <<"http://jabber.org/protocol/disco#info">>).
-define(NS_PING, <<"urn:xmpp:ping">>).
-define(NS_DELAY, <<"urn:xmpp:delay">>).

%%--------------------------------------------------------------------
%% Fixtures
%%--------------------------------------------------------------------

el(Name) -> #xmlel{name = Name}.
el(Name, Attrs) -> #xmlel{name = Name, attrs = Attrs}.
el(Name, Attrs, Children) -> #xmlel{name = Name, attrs = Attrs, children = Children}.

txt(Text) -> {xmlcdata, Text}.

%% Hides a value's type from dialyzer, for the tests that deliberately
%% pass arguments outside the documented contract.
-spec loose(term()) -> term().
loose(Term) -> binary_to_term(term_to_binary(Term)).

%% A message with a bit of everything: text between children, two
%% <delay/> in different namespaces, a <body/> with text.
message() ->
    el(<<"message">>, [{<<"to">>, <<"juliet@capulet.lit">>}, {<<"type">>, <<"chat">>}],
       [txt(<<"\n ">>),
        el(<<"body">>, [], [txt(<<"Wherefore ">>), el(<<"em">>, [], [txt(<<"art">>)]), txt(<<" thou">>)]),
        el(<<"delay">>, [{<<"xmlns">>, <<"jabber:x:delay">>}, {<<"stamp">>, <<"old">>}]),
        el(<<"delay">>, [{<<"xmlns">>, ?NS_DELAY}, {<<"stamp">>, <<"new">>}]),
        txt(<<"\n">>)]).

%%--------------------------------------------------------------------
%% crypt/1
%%--------------------------------------------------------------------

crypt_each_special_character_test() ->
    ?assertEqual(<<"&amp;">>, fxml:crypt(<<"&">>)),
    ?assertEqual(<<"&lt;">>, fxml:crypt(<<"<">>)),
    ?assertEqual(<<"&gt;">>, fxml:crypt(<<">">>)),
    ?assertEqual(<<"&quot;">>, fxml:crypt(<<"\"">>)),
    ?assertEqual(<<"&apos;">>, fxml:crypt(<<"'">>)).

crypt_mixed_text_test() ->
    ?assertEqual(<<"if a &lt; b &amp;&amp; c &gt; d then &quot;x&quot; else &apos;y&apos;">>,
                 fxml:crypt(<<"if a < b && c > d then \"x\" else 'y'">>)),
    ?assertEqual(<<"&lt;&gt;&lt;&gt;">>, fxml:crypt(<<"<><>">>)).

crypt_leaves_other_bytes_test() ->
    ?assertEqual(<<>>, fxml:crypt(<<>>)),
    Plain = <<"plain text, tab\t newline\n cr\r and UTF-8 \"caf"/utf8, 16#E9/utf8, "\""/utf8>>,
    ?assertEqual(binary:replace(Plain, <<"\"">>, <<"&quot;">>, [global]), fxml:crypt(Plain)),
    ?assertEqual(<<"no specials at all">>, fxml:crypt(<<"no specials at all">>)),
    %% no entity is recognised: escaping twice escapes the ampersands again
    ?assertEqual(<<"&amp;amp;lt;">>, fxml:crypt(fxml:crypt(<<"&lt;">>))).

crypt_takes_only_binaries_test() ->
    ?assertError({bad_generator, "a&b"}, fxml:crypt(loose("a&b"))),
    ?assertError({bad_generator, [<<"a">>, <<"&">>]}, fxml:crypt(loose([<<"a">>, <<"&">>]))).

%%--------------------------------------------------------------------
%% remove_cdata/1
%%--------------------------------------------------------------------

remove_cdata_test() ->
    ?assertEqual([el(<<"a">>), el(<<"b">>, [{<<"k">>, <<"v">>}])],
                 fxml:remove_cdata([txt(<<"1">>), el(<<"a">>), txt(<<"2">>),
                                    el(<<"b">>, [{<<"k">>, <<"v">>}]), txt(<<"3">>)])),
    ?assertEqual([], fxml:remove_cdata([txt(<<"only">>), txt(<<"text">>)])),
    ?assertEqual([], fxml:remove_cdata([])).

%%--------------------------------------------------------------------
%% remove_subtags/3
%%--------------------------------------------------------------------

remove_subtags_by_name_and_attr_test() ->
    Root = el(<<"presence">>, [{<<"from">>, <<"a@b/c">>}],
              [el(<<"x">>, [{<<"xmlns">>, <<"vcard-temp:x:update">>}]),
               txt(<<"t">>),
               el(<<"x">>, [{<<"xmlns">>, <<"http://jabber.org/protocol/muc">>}]),
               el(<<"c">>, [{<<"xmlns">>, <<"vcard-temp:x:update">>}]),
               el(<<"x">>),
               el(<<"x">>, [{<<"id">>, <<"1">>}, {<<"xmlns">>, <<"vcard-temp:x:update">>}])]),
    ?assertEqual(el(<<"presence">>, [{<<"from">>, <<"a@b/c">>}],
                    [txt(<<"t">>),
                     el(<<"x">>, [{<<"xmlns">>, <<"http://jabber.org/protocol/muc">>}]),
                     el(<<"c">>, [{<<"xmlns">>, <<"vcard-temp:x:update">>}]),
                     el(<<"x">>)]),
                 fxml:remove_subtags(Root, <<"x">>, {<<"xmlns">>, <<"vcard-temp:x:update">>})).

remove_subtags_nothing_matches_test() ->
    Root = el(<<"r">>, [], [el(<<"a">>, [{<<"k">>, <<"1">>}]), txt(<<"x">>)]),
    ?assertEqual(Root, fxml:remove_subtags(Root, <<"a">>, {<<"k">>, <<"2">>})),
    ?assertEqual(Root, fxml:remove_subtags(Root, <<"b">>, {<<"k">>, <<"1">>})),
    ?assertEqual(el(<<"r">>), fxml:remove_subtags(el(<<"r">>), <<"a">>, {<<"k">>, <<"1">>})).

remove_subtags_first_attr_occurrence_counts_test() ->
    %% only the first <a k=.../> attribute is looked at
    Dup = el(<<"a">>, [{<<"k">>, <<"other">>}, {<<"k">>, <<"1">>}]),
    Root = el(<<"r">>, [], [Dup, el(<<"a">>, [{<<"k">>, <<"1">>}, {<<"k">>, <<"other">>}])]),
    ?assertEqual(el(<<"r">>, [], [Dup]), fxml:remove_subtags(Root, <<"a">>, {<<"k">>, <<"1">>})).

remove_subtags_only_direct_children_test() ->
    Inner = el(<<"a">>, [{<<"k">>, <<"1">>}]),
    Root = el(<<"r">>, [], [el(<<"b">>, [], [Inner])]),
    ?assertEqual(Root, fxml:remove_subtags(Root, <<"a">>, {<<"k">>, <<"1">>})).

%%--------------------------------------------------------------------
%% get_cdata/1, get_tag_cdata/1
%%--------------------------------------------------------------------

get_cdata_test() ->
    ?assertEqual(<<"Wherefore  thou">>,
                 fxml:get_cdata([txt(<<"Wherefore ">>), el(<<"em">>, [], [txt(<<"art">>)]),
                                 txt(<<" thou">>)])),
    ?assertEqual(<<>>, fxml:get_cdata([])),
    ?assertEqual(<<>>, fxml:get_cdata([el(<<"a">>, [], [txt(<<"deep">>)])])),
    %% text given as iodata comes back as one binary
    ?assertEqual(<<"abcd">>, fxml:get_cdata(loose([txt("ab"), txt([<<"c">>, $d])]))).

get_tag_cdata_test() ->
    ?assertEqual(<<"\n \n">>, fxml:get_tag_cdata(message())),
    [_, Body | _] = (message())#xmlel.children,
    ?assertEqual(<<"Wherefore  thou">>, fxml:get_tag_cdata(Body)),
    ?assertEqual(<<>>, fxml:get_tag_cdata(el(<<"empty">>))).

%%--------------------------------------------------------------------
%% get_attr/2, get_attr_s/2, get_tag_attr/2, get_tag_attr_s/2
%%--------------------------------------------------------------------

get_attr_test() ->
    Attrs = [{<<"id">>, <<"42">>}, {<<"type">>, <<"get">>}, {<<"empty">>, <<>>}],
    ?assertEqual({value, <<"get">>}, fxml:get_attr(<<"type">>, Attrs)),
    ?assertEqual({value, <<>>}, fxml:get_attr(<<"empty">>, Attrs)),
    ?assertEqual(false, fxml:get_attr(<<"to">>, Attrs)),
    ?assertEqual(false, fxml:get_attr(<<"Type">>, Attrs)),
    ?assertEqual(false, fxml:get_attr(<<"id">>, [])).

get_attr_s_test() ->
    Attrs = [{<<"id">>, <<"42">>}, {<<"empty">>, <<>>}],
    ?assertEqual(<<"42">>, fxml:get_attr_s(<<"id">>, Attrs)),
    %% missing and empty look the same
    ?assertEqual(<<>>, fxml:get_attr_s(<<"empty">>, Attrs)),
    ?assertEqual(<<>>, fxml:get_attr_s(<<"to">>, Attrs)).

get_attr_duplicates_first_wins_test() ->
    Attrs = [{<<"a">>, <<"first">>}, {<<"b">>, <<"x">>}, {<<"a">>, <<"second">>}],
    ?assertEqual({value, <<"first">>}, fxml:get_attr(<<"a">>, Attrs)),
    ?assertEqual(<<"first">>, fxml:get_attr_s(<<"a">>, Attrs)).

get_tag_attr_test() ->
    M = message(),
    ?assertEqual({value, <<"juliet@capulet.lit">>}, fxml:get_tag_attr(<<"to">>, M)),
    ?assertEqual(false, fxml:get_tag_attr(<<"from">>, M)),
    ?assertEqual(false, fxml:get_tag_attr(<<"to">>, el(<<"bare">>))).

get_tag_attr_s_test() ->
    M = message(),
    ?assertEqual(<<"chat">>, fxml:get_tag_attr_s(<<"type">>, M)),
    ?assertEqual(<<>>, fxml:get_tag_attr_s(<<"id">>, M)),
    %% an attribute of a child is not an attribute of the parent
    ?assertEqual(<<>>, fxml:get_tag_attr_s(<<"stamp">>, M)).

%%--------------------------------------------------------------------
%% get_subtag/2, get_subtags/2
%%--------------------------------------------------------------------

get_subtag_test() ->
    M = message(),
    ?assertMatch(#xmlel{name = <<"body">>}, fxml:get_subtag(M, <<"body">>)),
    %% the first of two
    ?assertEqual(el(<<"delay">>, [{<<"xmlns">>, <<"jabber:x:delay">>}, {<<"stamp">>, <<"old">>}]),
                 fxml:get_subtag(M, <<"delay">>)),
    ?assertEqual(false, fxml:get_subtag(M, <<"subject">>)),
    %% grandchildren are not searched
    ?assertEqual(false, fxml:get_subtag(M, <<"em">>)),
    ?assertEqual(false, fxml:get_subtag(el(<<"r">>), <<"r">>)).

get_subtag_ignores_text_test() ->
    %% text equal to the name is not an element
    R = el(<<"r">>, [], [txt(<<"item">>), el(<<"item">>, [{<<"n">>, <<"1">>}])]),
    ?assertEqual(el(<<"item">>, [{<<"n">>, <<"1">>}]), fxml:get_subtag(R, <<"item">>)).

get_subtag_exact_name_test() ->
    R = el(<<"r">>, [], [el(<<"stream:features">>), el(<<"Features">>)]),
    ?assertEqual(false, fxml:get_subtag(R, <<"features">>)),
    ?assertEqual(el(<<"stream:features">>), fxml:get_subtag(R, <<"stream:features">>)).

get_subtags_test() ->
    M = message(),
    ?assertEqual([el(<<"delay">>, [{<<"xmlns">>, <<"jabber:x:delay">>}, {<<"stamp">>, <<"old">>}]),
                  el(<<"delay">>, [{<<"xmlns">>, ?NS_DELAY}, {<<"stamp">>, <<"new">>}])],
                 fxml:get_subtags(M, <<"delay">>)),
    ?assertEqual([], fxml:get_subtags(M, <<"thread">>)),
    ?assertEqual([], fxml:get_subtags(el(<<"r">>), <<"a">>)),
    R = el(<<"r">>, [], [el(<<"i">>, [{<<"n">>, <<"1">>}]), txt(<<"i">>), el(<<"j">>),
                         el(<<"i">>, [{<<"n">>, <<"2">>}])]),
    ?assertEqual([el(<<"i">>, [{<<"n">>, <<"1">>}]), el(<<"i">>, [{<<"n">>, <<"2">>}])],
                 fxml:get_subtags(R, <<"i">>)).

%%--------------------------------------------------------------------
%% get_subtag_with_xmlns/3, get_subtags_with_xmlns/3
%%--------------------------------------------------------------------

get_subtag_with_xmlns_test() ->
    M = message(),
    ?assertEqual(el(<<"delay">>, [{<<"xmlns">>, ?NS_DELAY}, {<<"stamp">>, <<"new">>}]),
                 fxml:get_subtag_with_xmlns(M, <<"delay">>, ?NS_DELAY)),
    ?assertEqual(el(<<"delay">>, [{<<"xmlns">>, <<"jabber:x:delay">>}, {<<"stamp">>, <<"old">>}]),
                 fxml:get_subtag_with_xmlns(M, <<"delay">>, <<"jabber:x:delay">>)),
    ?assertEqual(false, fxml:get_subtag_with_xmlns(M, <<"delay">>, ?NS_PING)),
    ?assertEqual(false, fxml:get_subtag_with_xmlns(M, <<"ping">>, ?NS_DELAY)).

get_subtag_with_xmlns_no_inheritance_test() ->
    %% the namespace is the child's own xmlns attribute: one declared on
    %% the parent, or none at all, does not count (not even for <<>>)
    R = el(<<"iq">>, [{<<"xmlns">>, ?NS_PING}], [el(<<"ping">>)]),
    ?assertEqual(false, fxml:get_subtag_with_xmlns(R, <<"ping">>, ?NS_PING)),
    ?assertEqual(false, fxml:get_subtag_with_xmlns(R, <<"ping">>, <<>>)),
    R2 = el(<<"iq">>, [], [el(<<"ping">>, [{<<"xmlns">>, <<>>}])]),
    ?assertEqual(el(<<"ping">>, [{<<"xmlns">>, <<>>}]),
                 fxml:get_subtag_with_xmlns(R2, <<"ping">>, <<>>)).

get_subtag_with_xmlns_first_xmlns_attr_test() ->
    Odd = el(<<"q">>, [{<<"xmlns">>, <<"a">>}, {<<"xmlns">>, <<"b">>}]),
    R = el(<<"r">>, [], [Odd]),
    ?assertEqual(Odd, fxml:get_subtag_with_xmlns(R, <<"q">>, <<"a">>)),
    ?assertEqual(false, fxml:get_subtag_with_xmlns(R, <<"q">>, <<"b">>)).

get_subtags_with_xmlns_test() ->
    A1 = el(<<"item">>, [{<<"xmlns">>, <<"ns:a">>}, {<<"n">>, <<"1">>}]),
    B = el(<<"item">>, [{<<"xmlns">>, <<"ns:b">>}]),
    A2 = el(<<"item">>, [{<<"n">>, <<"2">>}, {<<"xmlns">>, <<"ns:a">>}], [txt(<<"two">>)]),
    Other = el(<<"other">>, [{<<"xmlns">>, <<"ns:a">>}]),
    R = el(<<"r">>, [{<<"xmlns">>, <<"ns:a">>}], [A1, txt(<<"item">>), B, Other, el(<<"item">>), A2]),
    ?assertEqual([A1, A2], fxml:get_subtags_with_xmlns(R, <<"item">>, <<"ns:a">>)),
    ?assertEqual([B], fxml:get_subtags_with_xmlns(R, <<"item">>, <<"ns:b">>)),
    ?assertEqual([], fxml:get_subtags_with_xmlns(R, <<"item">>, <<"ns:c">>)),
    ?assertEqual([], fxml:get_subtags_with_xmlns(el(<<"r">>), <<"item">>, <<"ns:a">>)).

%%--------------------------------------------------------------------
%% get_subtag_cdata/2
%%--------------------------------------------------------------------

get_subtag_cdata_test() ->
    M = message(),
    ?assertEqual(<<"Wherefore  thou">>, fxml:get_subtag_cdata(M, <<"body">>)),
    ?assertEqual(<<>>, fxml:get_subtag_cdata(M, <<"subject">>)),
    ?assertEqual(<<>>, fxml:get_subtag_cdata(M, <<"delay">>)),
    %% only the first child of that name
    R = el(<<"r">>, [], [el(<<"s">>, [], [txt(<<"one">>)]), el(<<"s">>, [], [txt(<<"two">>)])]),
    ?assertEqual(<<"one">>, fxml:get_subtag_cdata(R, <<"s">>)).

%%--------------------------------------------------------------------
%% append_subtags/2
%%--------------------------------------------------------------------

append_subtags_test() ->
    Start = el(<<"r">>, [{<<"k">>, <<"v">>}], [el(<<"a">>), txt(<<"t">>)]),
    ?assertEqual(el(<<"r">>, [{<<"k">>, <<"v">>}],
                    [el(<<"a">>), txt(<<"t">>), el(<<"b">>), txt(<<"u">>), el(<<"a">>)]),
                 fxml:append_subtags(Start, [el(<<"b">>), txt(<<"u">>), el(<<"a">>)])),
    ?assertEqual(Start, fxml:append_subtags(Start, [])),
    ?assertEqual(el(<<"r">>, [], [el(<<"x">>)]), fxml:append_subtags(el(<<"r">>), [el(<<"x">>)])).

%%--------------------------------------------------------------------
%% get_path_s/2
%%--------------------------------------------------------------------

iq() ->
    el(<<"iq">>, [{<<"type">>, <<"result">>}],
       [el(<<"query">>, [{<<"xmlns">>, ?NS_DISCO}],
           [el(<<"identity">>, [{<<"category">>, <<"server">>}, {<<"type">>, <<"im">>}]),
            el(<<"feature">>, [{<<"var">>, ?NS_PING}], [txt(<<"fe">>), el(<<"x">>), txt(<<"at">>)]),
            el(<<"feature">>, [{<<"var">>, ?NS_DELAY}])])]).

get_path_s_elements_test() ->
    IQ = iq(),
    ?assertEqual(IQ, fxml:get_path_s(IQ, [])),
    [Query] = IQ#xmlel.children,
    ?assertEqual(Query, fxml:get_path_s(IQ, [{elem, <<"query">>}])),
    %% the first <feature/>
    ?assertEqual(el(<<"feature">>, [{<<"var">>, ?NS_PING}], [txt(<<"fe">>), el(<<"x">>), txt(<<"at">>)]),
                 fxml:get_path_s(IQ, [{elem, <<"query">>}, {elem, <<"feature">>}])),
    ?assertEqual(el(<<"x">>),
                 fxml:get_path_s(IQ, [{elem, <<"query">>}, {elem, <<"feature">>}, {elem, <<"x">>}])).

get_path_s_attr_test() ->
    IQ = iq(),
    ?assertEqual(<<"result">>, fxml:get_path_s(IQ, [{attr, <<"type">>}])),
    ?assertEqual(?NS_DISCO, fxml:get_path_s(IQ, [{elem, <<"query">>}, {attr, <<"xmlns">>}])),
    ?assertEqual(<<"im">>,
                 fxml:get_path_s(IQ, [{elem, <<"query">>}, {elem, <<"identity">>}, {attr, <<"type">>}])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"query">>}, {attr, <<"node">>}])).

get_path_s_cdata_test() ->
    IQ = iq(),
    ?assertEqual(<<"feat">>, fxml:get_path_s(IQ, [{elem, <<"query">>}, {elem, <<"feature">>}, cdata])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"query">>}, cdata])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [cdata])).

get_path_s_missing_element_test() ->
    IQ = iq(),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"vCard">>}])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"query">>}, {elem, <<"item">>}])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"vCard">>}, {attr, <<"xmlns">>}])),
    ?assertEqual(<<>>, fxml:get_path_s(IQ, [{elem, <<"vCard">>}, cdata])),
    %% the rest of the path is not looked at once a step fails
    ?assertEqual(<<>>, fxml:get_path_s(IQ, loose([{elem, <<"vCard">>}, cdata, {attr, <<"x">>}]))).

get_path_s_no_backtracking_test() ->
    %% an elem step commits to the first child of that name
    R = el(<<"r">>, [], [el(<<"a">>), el(<<"a">>, [], [el(<<"b">>, [{<<"k">>, <<"v">>}])])]),
    ?assertEqual(<<>>, fxml:get_path_s(R, [{elem, <<"a">>}, {elem, <<"b">>}, {attr, <<"k">>}])).

get_path_s_terminal_step_not_last_test() ->
    IQ = iq(),
    ?assertError(function_clause, fxml:get_path_s(IQ, loose([{attr, <<"type">>}, {elem, <<"query">>}]))),
    ?assertError(function_clause, fxml:get_path_s(IQ, loose([cdata, cdata]))).

%%--------------------------------------------------------------------
%% replace_tag_attr/3
%%--------------------------------------------------------------------

replace_tag_attr_test() ->
    E = el(<<"iq">>, [{<<"id">>, <<"1">>}, {<<"type">>, <<"get">>}, {<<"to">>, <<"a">>}], [el(<<"c">>)]),
    %% the new attribute goes first, the old one is removed, the rest keep their order
    ?assertEqual(el(<<"iq">>, [{<<"type">>, <<"result">>}, {<<"id">>, <<"1">>}, {<<"to">>, <<"a">>}],
                    [el(<<"c">>)]),
                 fxml:replace_tag_attr(<<"type">>, <<"result">>, E)),
    %% a missing attribute is added in front
    ?assertEqual(el(<<"iq">>, [{<<"from">>, <<"b">>}, {<<"id">>, <<"1">>}, {<<"type">>, <<"get">>},
                               {<<"to">>, <<"a">>}], [el(<<"c">>)]),
                 fxml:replace_tag_attr(<<"from">>, <<"b">>, E)),
    ?assertEqual(el(<<"x">>, [{<<"k">>, <<"v">>}]), fxml:replace_tag_attr(<<"k">>, <<"v">>, el(<<"x">>))).

replace_tag_attr_first_duplicate_only_test() ->
    E = el(<<"x">>, [{<<"k">>, <<"1">>}, {<<"o">>, <<"-">>}, {<<"k">>, <<"2">>}]),
    ?assertEqual(el(<<"x">>, [{<<"k">>, <<"new">>}, {<<"o">>, <<"-">>}, {<<"k">>, <<"2">>}]),
                 fxml:replace_tag_attr(<<"k">>, <<"new">>, E)).

%%--------------------------------------------------------------------
%% replace_subtag/2
%%--------------------------------------------------------------------

replace_subtag_test() ->
    Old1 = el(<<"status">>, [], [txt(<<"away">>)]),
    Old2 = el(<<"status">>, [], [txt(<<"second">>)]),
    P = el(<<"presence">>, [{<<"id">>, <<"p">>}], [el(<<"show">>), Old1, txt(<<"t">>), Old2]),
    New = el(<<"status">>, [], [txt(<<"back">>)]),
    %% the new child goes first; only the first old one of that name goes away
    ?assertEqual(el(<<"presence">>, [{<<"id">>, <<"p">>}], [New, el(<<"show">>), txt(<<"t">>), Old2]),
                 fxml:replace_subtag(New, P)).

replace_subtag_absent_test() ->
    P = el(<<"presence">>, [], [el(<<"show">>)]),
    ?assertEqual(el(<<"presence">>, [], [el(<<"priority">>), el(<<"show">>)]),
                 fxml:replace_subtag(el(<<"priority">>), P)),
    ?assertEqual(el(<<"presence">>, [], [el(<<"show">>)]), fxml:replace_subtag(el(<<"show">>), el(<<"presence">>))).

replace_subtag_text_equal_to_name_test() ->
    %% fast_xml removes the first child whose second field equals the name,
    %% so text that reads like the name, if it comes first, is what goes
    Old = el(<<"status">>, [], [txt(<<"away">>)]),
    P = el(<<"presence">>, [], [txt(<<"status">>), Old]),
    New = el(<<"status">>),
    ?assertEqual(el(<<"presence">>, [], [New, Old]), fxml:replace_subtag(New, P)).

%%--------------------------------------------------------------------
%% to_xmlel/1
%%--------------------------------------------------------------------

to_xmlel_nested_test() ->
    Old = {xmlelement, "message", [{"to", "romeo@montague.lit"}, {"type", "chat"}],
           [{xmlcdata, "\n"},
            {xmlelement, "body", [], [{xmlcdata, "O Romeo"}]},
            {xmlelement, "x", [{"xmlns", "jabber:x:event"}],
             [{xmlelement, "composing", [], []}]}]},
    ?assertEqual(el(<<"message">>, [{<<"to">>, <<"romeo@montague.lit">>}, {<<"type">>, <<"chat">>}],
                    [txt(<<"\n">>),
                     el(<<"body">>, [], [txt(<<"O Romeo">>)]),
                     el(<<"x">>, [{<<"xmlns">>, <<"jabber:x:event">>}], [el(<<"composing">>)])]),
                 fxml:to_xmlel(Old)).

to_xmlel_iodata_and_binaries_test() ->
    Old = {xmlelement, [<<"st">>, "ream:", $e, "rror"], [{<<"k">>, ["v", <<"al">>]}],
           [{xmlcdata, [<<"a">>, "b"]}, {xmlcdata, <<"c">>}]},
    ?assertEqual(el(<<"stream:error">>, [{<<"k">>, <<"val">>}], [txt(<<"ab">>), txt(<<"c">>)]),
                 fxml:to_xmlel(loose(Old))),
    ?assertEqual(txt(<<"caf", 16#C3, 16#A9>>), fxml:to_xmlel({xmlcdata, [$c, $a, $f, 16#C3, 16#A9]})),
    %% an element already in the new form comes back unchanged
    ?assertEqual(message(), fxml:to_xmlel(message())).

to_xmlel_drops_non_pair_attrs_test() ->
    Old = {xmlelement, "a", [{"k", "v"}, {"lonely"}, {"x", "y", "z"}, {"n", "m"}], []},
    ?assertEqual(el(<<"a">>, [{<<"k">>, <<"v">>}, {<<"n">>, <<"m">>}]), fxml:to_xmlel(loose(Old))).

%%--------------------------------------------------------------------
%% element_to_binary/1, element_to_header/1 (need the NIF)
%%--------------------------------------------------------------------

element_to_binary_empty_element_test() ->
    ?assertEqual(<<"<a/>">>, fxml:element_to_binary(el(<<"a">>))),
    ?assertEqual(<<"<ping xmlns='urn:xmpp:ping'/>">>,
                 fxml:element_to_binary(el(<<"ping">>, [{<<"xmlns">>, ?NS_PING}]))),
    %% a child, even empty text, means an end tag
    ?assertEqual(<<"<a></a>">>, fxml:element_to_binary(el(<<"a">>, [], [txt(<<>>)]))).

element_to_binary_nested_test() ->
    ?assertEqual(<<"<message to='juliet@capulet.lit' type='chat'>\n "
                   "<body>Wherefore <em>art</em> thou</body>"
                   "<delay xmlns='jabber:x:delay' stamp='old'/>"
                   "<delay xmlns='urn:xmpp:delay' stamp='new'/>\n"
                   "</message>">>,
                 fxml:element_to_binary(message())).

element_to_binary_attribute_escaping_test() ->
    %% & < " ' and tab/newline/CR are escaped in attribute values; > is not
    ?assertEqual(<<"<a v='1&amp;2&lt;3>4&quot;5&apos;6&#x9;7&#xA;8&#xD;9'/>">>,
                 fxml:element_to_binary(el(<<"a">>, [{<<"v">>, <<"1&2<3>4\"5'6\t7\n8\r9">>}]))),
    ?assertEqual(<<"<a e='' f='x'/>">>,
                 fxml:element_to_binary(el(<<"a">>, [{<<"e">>, <<>>}, {<<"f">>, <<"x">>}]))).

element_to_binary_text_escaping_test() ->
    ?assertEqual(<<"<b>1&amp;2&lt;3&gt;4&quot;5&apos;6\t7\n8</b>">>,
                 fxml:element_to_binary(el(<<"b">>, [], [txt(<<"1&2<3>4\"5'6\t7\n8">>)]))),
    %% bare character data is escaped text
    ?assertEqual(<<"a &lt;b/&gt; &amp;c">>, fxml:element_to_binary(txt(<<"a <b/> &c">>))),
    ?assertEqual(<<>>, fxml:element_to_binary(txt(<<>>))).

element_to_binary_utf8_and_iodata_test() ->
    Name = <<"n", 16#C3, 16#A9>>,
    ?assertEqual(<<"<", Name/binary, " k='", 16#E2, 16#82, 16#AC, "'>", 16#F0, 16#9F, 16#98, 16#80,
                   "</", Name/binary, ">">>,
                 fxml:element_to_binary(el(Name, [{<<"k">>, <<16#E2, 16#82, 16#AC>>}],
                                           [txt(<<16#F0, 16#9F, 16#98, 16#80>>)]))),
    %% as in fast_xml, names, values and text may be iodata
    ?assertEqual(<<"<ab k='v&amp;w'>x&lt;y</ab>">>,
                 fxml:element_to_binary(loose({xmlel, ["a", <<"b">>], [{"k", [<<"v">>, "&w"]}],
                                               [{xmlcdata, ["x", $<, <<"y">>]}]}))).

element_to_binary_large_test() ->
    %% large enough for the dirty-scheduler path
    N = 50000,
    Item = el(<<"item">>, [{<<"jid">>, <<"user@example.com">>}], [txt(<<"A & B">>)]),
    El = el(<<"query">>, [{<<"xmlns">>, <<"jabber:iq:roster">>}], lists:duplicate(N, Item)),
    Expected = iolist_to_binary(["<query xmlns='jabber:iq:roster'>",
                                 lists:duplicate(N, "<item jid='user@example.com'>A &amp; B</item>"),
                                 "</query>"]),
    ?assertEqual(Expected, fxml:element_to_binary(El)).

element_to_binary_badarg_test_() ->
    Bad = [not_an_element, <<"<a/>">>, {xmlel, <<"a">>, [], [oops]},
           {xmlel, <<"a">>, [{<<"k">>}], []}, {xmlel, <<"a">>, [{<<"k">>, v}], []},
           {xmlel, a, [], []}, {xmlcdata, 42}, {xmlel, <<"a">>, []}],
    [?_assertError(badarg, fxml:element_to_binary(loose(B))) || B <- Bad].

element_to_header_test() ->
    ?assertEqual(<<"<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
                   "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>">>,
                 fxml:element_to_header(
                   el(<<"stream:stream">>,
                      [{<<"xmlns">>, <<"jabber:client">>},
                       {<<"xmlns:stream">>, <<"http://etherx.jabber.org/streams">>},
                       {<<"to">>, <<"example.com">>}, {<<"version">>, <<"1.0">>}]))),
    ?assertEqual(<<"<?xml version='1.0'?><a>">>, fxml:element_to_header(el(<<"a">>))).

element_to_header_ignores_children_test() ->
    ?assertEqual(<<"<?xml version='1.0'?><r k='&lt;&amp;&#xA;'>">>,
                 fxml:element_to_header(el(<<"r">>, [{<<"k">>, <<"<&\n">>}], [el(<<"c">>), txt(<<"t">>)]))).

element_to_header_badarg_test() ->
    ?assertError(badarg, fxml:element_to_header(loose({xmlcdata, <<"text">>}))),
    ?assertError(badarg, fxml:element_to_header(loose(not_an_element))).
