%%%-------------------------------------------------------------------
%%% @doc EUnit tests for the public API of exml_query.
%%%
%%% Trees are written directly as records so that these tests do not
%%% depend on the parser (a NIF).
%%% @end
%%%-------------------------------------------------------------------
-module(exml_query_api_tests).

-include_lib("eunit/include/eunit.hrl").
-include("exml.hrl").

-define(NS_ROSTER, <<"jabber:iq:roster">>).
-define(NS_DISCO, <<"http://jabber.org/protocol/disco#info">>).
-define(NS_CLIENT, <<"jabber:client">>).

%%--------------------------------------------------------------------
%% Fixtures
%%--------------------------------------------------------------------

el(Name) -> el(Name, #{}, []).
el(Name, Attrs) -> el(Name, Attrs, []).
el(Name, Attrs, Children) -> #xmlel{name = Name, attrs = Attrs, children = Children}.

txt(Content) -> #xmlcdata{content = Content}.

%% Hides a value's type from dialyzer, for the tests that deliberately
%% pass arguments outside the documented contract.
-spec loose(term()) -> term().
loose(Term) -> binary_to_term(term_to_binary(Term)).

%% <iq type="result" id="r1">
%%   "\n"
%%   <query xmlns="jabber:iq:roster" ver="v7">
%%     <item jid="alice@example.com" subscription="both">
%%       <group>Friends</group><group>Work</group>
%%     </item>
%%     <item jid="bob@example.com" name="Bob"/>
%%     <item jid="carol@example.com" subscription="to"><group>Family</group></item>
%%   </query>
%%   <query xmlns="http://jabber.org/protocol/disco#info">
%%     <identity category="client" type="pc"/>
%%   </query>
%%   <status>online</status>
%% </iq>
item_alice() ->
    el(<<"item">>, #{<<"jid">> => <<"alice@example.com">>, <<"subscription">> => <<"both">>},
       [el(<<"group">>, #{}, [txt(<<"Friends">>)]),
        el(<<"group">>, #{}, [txt(<<"Work">>)])]).
item_bob() ->
    el(<<"item">>, #{<<"jid">> => <<"bob@example.com">>, <<"name">> => <<"Bob">>}).
item_carol() ->
    el(<<"item">>, #{<<"jid">> => <<"carol@example.com">>, <<"subscription">> => <<"to">>},
       [el(<<"group">>, #{}, [txt(<<"Family">>)])]).
roster_query() ->
    el(<<"query">>, #{<<"xmlns">> => ?NS_ROSTER, <<"ver">> => <<"v7">>},
       [item_alice(), item_bob(), item_carol()]).
disco_query() ->
    el(<<"query">>, #{<<"xmlns">> => ?NS_DISCO},
       [el(<<"identity">>, #{<<"category">> => <<"client">>, <<"type">> => <<"pc">>})]).
status() ->
    el(<<"status">>, #{}, [txt(<<"online">>)]).
iq() ->
    el(<<"iq">>, #{<<"type">> => <<"result">>, <<"id">> => <<"r1">>},
       [txt(<<"\n">>), roster_query(), disco_query(), status()]).

%% A message with several text runs around child elements.
%% <message to="x@y" xmlns="jabber:client">Hello, <b>brave</b> new world!</message>
mixed_message() ->
    el(<<"message">>, #{<<"to">> => <<"x@y">>, <<"xmlns">> => ?NS_CLIENT},
       [txt(<<"Hello, ">>),
        el(<<"b">>, #{}, [txt(<<"brave">>)]),
        txt([<<"new">>, $\s, [<<"wor">>, "ld"]]),
        #xmlcdata{content = <<"!">>, style = cdata}]).

%%--------------------------------------------------------------------
%% attr/2, attr/3
%%--------------------------------------------------------------------

attr_present_test() ->
    ?assertEqual(<<"result">>, exml_query:attr(iq(), <<"type">>)),
    ?assertEqual(<<"r1">>, exml_query:attr(iq(), <<"id">>, <<"unused">>)).

attr_missing_defaults_test() ->
    ?assertEqual(undefined, exml_query:attr(iq(), <<"from">>)),
    ?assertEqual(<<"none">>, exml_query:attr(iq(), <<"from">>, <<"none">>)),
    ?assertEqual({my, default}, exml_query:attr(el(<<"x">>), <<"a">>, {my, default})).

attr_is_exact_match_test() ->
    El = el(<<"x">>, #{<<"Id">> => <<"upper">>, <<"id ">> => <<"space">>}),
    ?assertEqual(undefined, exml_query:attr(El, <<"id">>)),
    ?assertEqual(<<"upper">>, exml_query:attr(El, <<"Id">>)).

attr_xmlns_is_an_ordinary_attr_test() ->
    ?assertEqual(?NS_ROSTER, exml_query:attr(roster_query(), <<"xmlns">>)).

%%--------------------------------------------------------------------
%% cdata/1
%%--------------------------------------------------------------------

cdata_single_text_test() ->
    ?assertEqual(<<"online">>, exml_query:cdata(status())).

cdata_no_text_is_empty_binary_test() ->
    ?assertEqual(<<>>, exml_query:cdata(el(<<"empty">>))),
    ?assertEqual(<<>>, exml_query:cdata(item_bob())).

cdata_joins_direct_text_children_only_test() ->
    %% "brave" sits inside <b/> and is therefore not part of the result;
    %% the iolist content is flattened; the cdata style makes no difference.
    ?assertEqual(<<"Hello, new world!">>, exml_query:cdata(mixed_message())).

cdata_iolist_contents_test() ->
    El = el(<<"p">>, #{}, [txt("abc"), txt([<<"d">>, [$e, <<"f">>]]), txt(<<>>), txt([])]),
    ?assertEqual(<<"abcdef">>, exml_query:cdata(El)).

cdata_ignores_grandchildren_test() ->
    ?assertEqual(<<"\n">>, exml_query:cdata(iq())),
    ?assertEqual(<<>>, exml_query:cdata(item_alice())).

%%--------------------------------------------------------------------
%% subelement/2,3 and subelements/2
%%--------------------------------------------------------------------

subelement_first_match_test() ->
    ?assertEqual(item_alice(), exml_query:subelement(roster_query(), <<"item">>)),
    %% both <query/> children share the name; the first one wins
    ?assertEqual(roster_query(), exml_query:subelement(iq(), <<"query">>)).

subelement_missing_test() ->
    ?assertEqual(undefined, exml_query:subelement(iq(), <<"error">>)),
    ?assertEqual(nothing, exml_query:subelement(iq(), <<"error">>, nothing)),
    ?assertEqual(status(), exml_query:subelement(iq(), <<"status">>, nothing)).

subelement_is_not_recursive_test() ->
    %% <item/> is a grandchild of <iq/>, not a child
    ?assertEqual(undefined, exml_query:subelement(iq(), <<"item">>)).

%% Note: upstream exml 4.x looks names up with lists:keyfind/3 on the
%% record position of `name', so a text child whose content equals the
%% name is returned by its subelement/2 (and derails path/2). This module
%% only ever returns elements; this test and
%% path_does_not_match_text_as_element_test pin that down.
subelement_skips_text_children_test() ->
    El = el(<<"r">>, #{}, [txt(<<"a">>), el(<<"a">>, #{<<"n">> => <<"1">>}), txt(<<"b">>)]),
    ?assertEqual(el(<<"a">>, #{<<"n">> => <<"1">>}), exml_query:subelement(El, <<"a">>)),
    ?assertEqual(undefined, exml_query:subelement(El, <<"b">>)),
    ?assertEqual([el(<<"a">>, #{<<"n">> => <<"1">>})], exml_query:subelements(El, <<"a">>)),
    ?assertEqual([], exml_query:subelements(El, <<"b">>)).

subelements_all_in_order_test() ->
    ?assertEqual([item_alice(), item_bob(), item_carol()],
                 exml_query:subelements(roster_query(), <<"item">>)),
    ?assertEqual([roster_query(), disco_query()], exml_query:subelements(iq(), <<"query">>)),
    ?assertEqual([], exml_query:subelements(iq(), <<"item">>)),
    ?assertEqual([], exml_query:subelements(el(<<"empty">>), <<"item">>)).

%%--------------------------------------------------------------------
%% namespaces
%%--------------------------------------------------------------------

subelement_with_ns_test() ->
    ?assertEqual(disco_query(), exml_query:subelement_with_ns(iq(), ?NS_DISCO)),
    ?assertEqual(roster_query(), exml_query:subelement_with_ns(iq(), ?NS_ROSTER)),
    ?assertEqual(undefined, exml_query:subelement_with_ns(iq(), <<"urn:none">>)),
    ?assertEqual(none, exml_query:subelement_with_ns(iq(), <<"urn:none">>, none)),
    ?assertEqual(disco_query(), exml_query:subelement_with_ns(iq(), ?NS_DISCO, none)).

namespace_is_not_inherited_test() ->
    %% <item/> has no xmlns of its own, even though its parent has one
    ?assertEqual(undefined, exml_query:subelement_with_ns(roster_query(), ?NS_ROSTER)),
    ?assertEqual([], exml_query:subelements_with_ns(roster_query(), ?NS_ROSTER)),
    ?assertEqual(undefined,
                 exml_query:subelement_with_name_and_ns(roster_query(), <<"item">>, ?NS_ROSTER)).

subelements_with_ns_test() ->
    A = el(<<"a">>, #{<<"xmlns">> => <<"ns1">>}),
    B = el(<<"b">>, #{<<"xmlns">> => <<"ns2">>}),
    C = el(<<"c">>, #{<<"xmlns">> => <<"ns1">>, <<"k">> => <<"v">>}),
    D = el(<<"d">>),
    Root = el(<<"root">>, #{<<"xmlns">> => <<"ns1">>}, [A, txt(<<"ns1">>), B, D, C]),
    ?assertEqual([A, C], exml_query:subelements_with_ns(Root, <<"ns1">>)),
    ?assertEqual([B], exml_query:subelements_with_ns(Root, <<"ns2">>)),
    ?assertEqual([], exml_query:subelements_with_ns(Root, <<"ns3">>)),
    ?assertEqual(A, exml_query:subelement_with_ns(Root, <<"ns1">>)).

subelement_with_name_and_ns_test() ->
    ?assertEqual(disco_query(),
                 exml_query:subelement_with_name_and_ns(iq(), <<"query">>, ?NS_DISCO)),
    ?assertEqual(roster_query(),
                 exml_query:subelement_with_name_and_ns(iq(), <<"query">>, ?NS_ROSTER)),
    ?assertEqual(undefined,
                 exml_query:subelement_with_name_and_ns(iq(), <<"status">>, ?NS_DISCO)),
    ?assertEqual(undefined,
                 exml_query:subelement_with_name_and_ns(iq(), <<"query">>, <<"urn:none">>)),
    ?assertEqual(default,
                 exml_query:subelement_with_name_and_ns(iq(), <<"query">>, <<"urn:none">>,
                                                        default)),
    ?assertEqual(disco_query(),
                 exml_query:subelement_with_name_and_ns(iq(), <<"query">>, ?NS_DISCO,
                                                        default)).

subelement_with_name_and_ns_needs_both_test() ->
    X1 = el(<<"x">>, #{<<"xmlns">> => <<"ns2">>, <<"n">> => <<"1">>}),
    Y = el(<<"y">>, #{<<"xmlns">> => <<"ns1">>}),
    X2 = el(<<"x">>, #{<<"xmlns">> => <<"ns1">>, <<"n">> => <<"2">>}),
    X3 = el(<<"x">>, #{<<"xmlns">> => <<"ns1">>, <<"n">> => <<"3">>}),
    Root = el(<<"root">>, #{}, [X1, Y, X2, X3]),
    ?assertEqual(X2, exml_query:subelement_with_name_and_ns(Root, <<"x">>, <<"ns1">>)),
    ?assertEqual([X2, X3], exml_query:subelements_with_name_and_ns(Root, <<"x">>, <<"ns1">>)),
    ?assertEqual([X1], exml_query:subelements_with_name_and_ns(Root, <<"x">>, <<"ns2">>)),
    ?assertEqual([], exml_query:subelements_with_name_and_ns(Root, <<"y">>, <<"ns2">>)).

%%--------------------------------------------------------------------
%% attribute-selected children
%%--------------------------------------------------------------------

subelement_with_attr_test() ->
    Q = roster_query(),
    ?assertEqual(item_bob(),
                 exml_query:subelement_with_attr(Q, <<"jid">>, <<"bob@example.com">>)),
    ?assertEqual(item_alice(),
                 exml_query:subelement_with_attr(Q, <<"subscription">>, <<"both">>)),
    ?assertEqual(undefined,
                 exml_query:subelement_with_attr(Q, <<"jid">>, <<"dave@example.com">>)),
    ?assertEqual(undefined, exml_query:subelement_with_attr(Q, <<"nope">>, <<"x">>)),
    ?assertEqual(missing,
                 exml_query:subelement_with_attr(Q, <<"jid">>, <<"dave@example.com">>, missing)),
    ?assertEqual(item_carol(),
                 exml_query:subelement_with_attr(Q, <<"subscription">>, <<"to">>, missing)).

subelement_with_attr_first_match_test() ->
    A1 = el(<<"a">>, #{<<"k">> => <<"v">>, <<"n">> => <<"1">>}),
    B2 = el(<<"b">>, #{<<"k">> => <<"v">>, <<"n">> => <<"2">>}),
    Root = el(<<"r">>, #{}, [el(<<"z">>, #{<<"k">> => <<"w">>}), A1, B2]),
    ?assertEqual(A1, exml_query:subelement_with_attr(Root, <<"k">>, <<"v">>)),
    ?assertEqual([A1, B2], exml_query:subelements_with_attr(Root, <<"k">>, <<"v">>)).

subelements_with_attr_test() ->
    Q = roster_query(),
    ?assertEqual([item_bob()],
                 exml_query:subelements_with_attr(Q, <<"name">>, <<"Bob">>)),
    ?assertEqual([], exml_query:subelements_with_attr(Q, <<"subscription">>, <<"none">>)),
    ?assertEqual([roster_query()],
                 exml_query:subelements_with_attr(iq(), <<"xmlns">>, ?NS_ROSTER)).

%%--------------------------------------------------------------------
%% path/2, path/3
%%--------------------------------------------------------------------

path_empty_returns_element_test() ->
    ?assertEqual(iq(), exml_query:path(iq(), [])),
    ?assertEqual(iq(), exml_query:path(iq(), [], default)).

path_elements_test() ->
    ?assertEqual(item_alice(),
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"item">>}])),
    ?assertEqual(el(<<"group">>, #{}, [txt(<<"Friends">>)]),
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                        {element, <<"group">>}])).

path_to_cdata_test() ->
    ?assertEqual(<<"Friends">>,
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                        {element, <<"group">>}, cdata])),
    ?assertEqual(<<"online">>, exml_query:path(iq(), [{element, <<"status">>}, cdata])),
    ?assertEqual(<<"Hello, new world!">>, exml_query:path(mixed_message(), [cdata])).

path_cdata_without_text_is_empty_not_default_test() ->
    ?assertEqual(<<>>, exml_query:path(item_bob(), [cdata])),
    ?assertEqual(<<>>, exml_query:path(item_bob(), [cdata], default)),
    ?assertEqual(<<>>, exml_query:path(iq(), [{element, <<"query">>}, cdata], default)).

path_to_attr_test() ->
    ?assertEqual(<<"v7">>, exml_query:path(iq(), [{element, <<"query">>}, {attr, <<"ver">>}])),
    ?assertEqual(<<"alice@example.com">>,
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                        {attr, <<"jid">>}])),
    ?assertEqual(<<"result">>, exml_query:path(iq(), [{attr, <<"type">>}])).

path_missing_attr_test() ->
    ?assertEqual(undefined, exml_query:path(iq(), [{attr, <<"to">>}])),
    ?assertEqual(<<"none">>, exml_query:path(iq(), [{attr, <<"to">>}], <<"none">>)),
    ?assertEqual(nil, exml_query:path(iq(), [{element, <<"status">>}, {attr, <<"x">>}], nil)).

path_missing_element_test() ->
    ?assertEqual(undefined, exml_query:path(iq(), [{element, <<"error">>}])),
    ?assertEqual(undefined, exml_query:path(iq(), [{element, <<"error">>}, cdata])),
    ?assertEqual(undefined, exml_query:path(iq(), [{element, <<"error">>}, {attr, <<"a">>}])),
    ?assertEqual(undefined,
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"missing">>},
                                        {element, <<"item">>}])),
    ?assertEqual(42, exml_query:path(iq(), [{element, <<"error">>}, cdata], 42)).

path_with_namespaces_test() ->
    ?assertEqual(<<"pc">>,
                 exml_query:path(iq(), [{element_with_ns, ?NS_DISCO}, {element, <<"identity">>},
                                        {attr, <<"type">>}])),
    ?assertEqual(<<"client">>,
                 exml_query:path(iq(), [{element_with_ns, <<"query">>, ?NS_DISCO},
                                        {element, <<"identity">>}, {attr, <<"category">>}])),
    ?assertEqual(undefined,
                 exml_query:path(iq(), [{element_with_ns, <<"status">>, ?NS_DISCO}])),
    ?assertEqual(undefined, exml_query:path(iq(), [{element_with_ns, <<"urn:none">>}])).

path_with_attr_selector_test() ->
    ?assertEqual(<<"Family">>,
                 exml_query:path(iq(), [{element_with_ns, <<"query">>, ?NS_ROSTER},
                                        {element_with_attr, <<"jid">>, <<"carol@example.com">>},
                                        {element, <<"group">>}, cdata])),
    ?assertEqual(<<"Bob">>,
                 exml_query:path(iq(), [{element, <<"query">>},
                                        {element_with_attr, <<"jid">>, <<"bob@example.com">>},
                                        {attr, <<"name">>}])),
    ?assertEqual(undefined,
                 exml_query:path(iq(), [{element, <<"query">>},
                                        {element_with_attr, <<"jid">>, <<"eve@example.com">>}])).

path_takes_first_match_without_backtracking_test() ->
    %% the first <item/> (alice) has groups, the second (bob) has a name;
    %% path/2 only looks inside alice, so the name is not found there
    ?assertEqual(undefined,
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                        {attr, <<"name">>}])),
    %% likewise the first <query/> has no <identity/>
    ?assertEqual(undefined,
                 exml_query:path(iq(), [{element, <<"query">>}, {element, <<"identity">>}])),
    %% paths/2 does explore every branch
    ?assertEqual([<<"Bob">>],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                         {attr, <<"name">>}])).

path_terminal_steps_must_be_last_test() ->
    ?assertEqual(undefined, exml_query:path(iq(), [cdata, {element, <<"query">>}])),
    ?assertEqual(d, exml_query:path(iq(), [{attr, <<"type">>}, cdata], d)),
    ?assertEqual(d, exml_query:path(iq(), [{element, <<"status">>}, cdata, cdata], d)).

path_unknown_step_gives_default_test() ->
    ?assertEqual(undefined, exml_query:path(iq(), loose([{child, <<"query">>}]))),
    ?assertEqual(d, exml_query:path(iq(), loose([bogus]), d)).

path_on_undefined_gives_default_test() ->
    ?assertEqual(undefined, exml_query:path(loose(undefined), [{element, <<"a">>}])),
    ?assertEqual(d, exml_query:path(undefined, [{element, <<"a">>}], d)),
    ?assertEqual(d, exml_query:path(undefined, [], d)),
    ?assertEqual(d, exml_query:path(undefined, [cdata], d)),
    %% chaining: subelement/2 result fed into path/3
    ?assertEqual(d, exml_query:path(exml_query:subelement(iq(), <<"nope">>),
                                    [{attr, <<"x">>}], d)).

path_does_not_match_text_as_element_test() ->
    %% a text child whose content equals the name asked for is never an element
    Query = el(<<"q">>, #{}, [txt(<<"item">>), el(<<"item">>, #{<<"n">> => <<"1">>})]),
    ?assertEqual(<<"1">>, exml_query:path(Query, [{element, <<"item">>}, {attr, <<"n">>}])),
    ?assertEqual(el(<<"item">>, #{<<"n">> => <<"1">>}), exml_query:subelement(Query, <<"item">>)),
    ?assertEqual(undefined, exml_query:subelement(el(<<"q">>, #{}, [txt(<<"x">>)]), <<"x">>)).

%%--------------------------------------------------------------------
%% paths/2
%%--------------------------------------------------------------------

paths_empty_test() ->
    ?assertEqual([iq()], exml_query:paths(iq(), [])).

paths_elements_test() ->
    ?assertEqual([roster_query(), disco_query()], exml_query:paths(iq(), [{element, <<"query">>}])),
    ?assertEqual([item_alice(), item_bob(), item_carol()],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>}])),
    ?assertEqual([], exml_query:paths(iq(), [{element, <<"nope">>}])),
    ?assertEqual([], exml_query:paths(iq(), [{element, <<"nope">>}, cdata])).

paths_fan_out_in_document_order_test() ->
    ?assertEqual([<<"Friends">>, <<"Work">>, <<"Family">>],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                         {element, <<"group">>}, cdata])).

paths_cdata_per_element_including_empty_test() ->
    ?assertEqual([<<>>, <<>>, <<>>],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>}, cdata])),
    ?assertEqual([<<"online">>], exml_query:paths(iq(), [{element, <<"status">>}, cdata])),
    ?assertEqual([<<"\n">>], exml_query:paths(iq(), [cdata])).

paths_attr_skips_elements_without_it_test() ->
    ?assertEqual([<<"both">>, <<"to">>],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                         {attr, <<"subscription">>}])),
    ?assertEqual([<<"alice@example.com">>, <<"bob@example.com">>, <<"carol@example.com">>],
                 exml_query:paths(iq(), [{element, <<"query">>}, {element, <<"item">>},
                                         {attr, <<"jid">>}])),
    ?assertEqual([<<"r1">>], exml_query:paths(iq(), [{attr, <<"id">>}])),
    ?assertEqual([], exml_query:paths(iq(), [{attr, <<"to">>}])).

paths_with_namespaces_test() ->
    ?assertEqual([disco_query()], exml_query:paths(iq(), [{element_with_ns, ?NS_DISCO}])),
    ?assertEqual([<<"v7">>],
                 exml_query:paths(iq(), [{element_with_ns, <<"query">>, ?NS_ROSTER},
                                         {attr, <<"ver">>}])),
    ?assertEqual([], exml_query:paths(iq(), [{element_with_ns, <<"status">>, ?NS_ROSTER}])),
    ?assertEqual([], exml_query:paths(iq(), [{element_with_ns, <<"urn:none">>}])).

paths_with_attr_selector_test() ->
    ?assertEqual([<<"Friends">>, <<"Work">>, <<"Family">>],
                 exml_query:paths(iq(), [{element_with_attr, <<"xmlns">>, ?NS_ROSTER},
                                         {element, <<"item">>}, {element, <<"group">>}, cdata])),
    ?assertEqual([item_carol()],
                 exml_query:paths(iq(), [{element, <<"query">>},
                                         {element_with_attr, <<"subscription">>, <<"to">>}])).

paths_invalid_path_test() ->
    ?assertError(invalid_path, exml_query:paths(iq(), [cdata, {element, <<"query">>}])),
    ?assertError(invalid_path, exml_query:paths(iq(), [{attr, <<"id">>}, cdata])),
    ?assertError(invalid_path, exml_query:paths(iq(), loose([{child, <<"query">>}]))),
    %% the check happens at an element that is actually reached
    ?assertError(invalid_path,
                 exml_query:paths(iq(), [{element, <<"status">>}, cdata, cdata])),
    ?assertEqual([], exml_query:paths(iq(), [{element, <<"nope">>}, cdata, cdata])).
