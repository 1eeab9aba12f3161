%%%-------------------------------------------------------------------
%%% @doc Navigation helpers for `#xmlel{}' trees.
%%%
%%% A pure-Erlang drop-in for the `exml_query' module of esl/exml 4.x:
%%% same exported functions, arities, path steps, return shapes and
%%% defaults. Nothing here calls into the NIF; the functions only walk
%%% the records defined in `exml.hrl'.
%%%
%%% Conventions shared by every function:
%%% <ul>
%%%  <li>only the direct children of the given element are looked at
%%%      (no deep search); text children are skipped when looking for
%%%      elements;</li>
%%%  <li>the singular functions (`subelement*', `path') return the first
%%%      match in document order, or the default (`undefined' unless
%%%      given);</li>
%%%  <li>the plural functions (`subelements*', `paths') return every
%%%      match, in document order, possibly `[]';</li>
%%%  <li>a namespace is the value of the element's own `xmlns'
%%%      attribute; it is not inherited from ancestors.</li>
%%% </ul>
%%% @end
%%%-------------------------------------------------------------------
-module(exml_query).

-include("exml.hrl").

-export([path/2, path/3,
         paths/2,
         subelement/2, subelement/3,
         subelement_with_ns/2, subelement_with_ns/3,
         subelement_with_attr/3, subelement_with_attr/4,
         subelement_with_name_and_ns/3, subelement_with_name_and_ns/4,
         subelements/2,
         subelements_with_ns/2,
         subelements_with_name_and_ns/3,
         subelements_with_attr/3,
         attr/2, attr/3,
         cdata/1]).

-export_type([path/0]).

-type path() :: [cdata |
                 {attr, binary()} |
                 {element, binary()} |
                 {element_with_ns, binary()} |
                 {element_with_ns, binary(), binary()} |
                 {element_with_attr, binary(), binary()}].
%% A query path: a list of steps applied from left to right.
%%
%% <ul>
%%  <li>`{element, Name}': go to a child element called `Name';</li>
%%  <li>`{element_with_ns, NS}': go to a child element whose `xmlns' is `NS';</li>
%%  <li>`{element_with_ns, Name, NS}': go to a child element called `Name'
%%      whose `xmlns' is `NS';</li>
%%  <li>`{element_with_attr, AttrName, Value}': go to a child element whose
%%      attribute `AttrName' equals `Value';</li>
%%  <li>`cdata': take the text of the current element (last step only);</li>
%%  <li>`{attr, Name}': take the value of attribute `Name' of the current
%%      element (last step only).</li>
%% </ul>

%% A step that moves from an element to one of its child elements.
-type child_step() :: {element, binary()}
                    | {element_with_ns, binary()}
                    | {element_with_ns, binary(), binary()}
                    | {element_with_attr, binary(), binary()}.

-define(XMLNS, <<"xmlns">>).

%%--------------------------------------------------------------------
%% Paths
%%--------------------------------------------------------------------

%% @doc Same as `path(Element, Path, undefined)'.
%%
%% Returns the element, text or attribute value at the end of the first
%% (leftmost) route matching `Path', or `undefined' if there is none.
%% @see path/3
-spec path(exml:element(), path()) -> exml:element() | binary() | undefined.
path(Element, Path) ->
    path(Element, Path, undefined).

%% @doc Follows `Path' from `Element', always taking the first matching
%% child at each step, and returns what the last step selects.
%%
%% <ul>
%%  <li>`[]' returns `Element' itself;</li>
%%  <li>a path ending in element steps returns that `#xmlel{}';</li>
%%  <li>a path ending in `cdata' returns the joined text of the element
%%      reached (a binary, `<<>>' if it has no text; never `Default');</li>
%%  <li>a path ending in `{attr, Name}' returns the attribute value, or
%%      `Default' if the attribute is absent.</li>
%% </ul>
%% `Default' is returned when a step finds no child, when `Element' is not
%% an `#xmlel{}' (for instance `undefined'), or when `cdata' or `{attr, _}'
%% is followed by further steps. Only the first match of each step is
%% tried: there is no backtracking into later siblings.
%%
%% Example: for
%% `<iq><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>'
%% the path `[{element_with_ns, <<"query">>, <<"jabber:iq:roster">>},
%% {element, <<"item">>}, {attr, <<"jid">>}]' gives `<<"a@b">>'.
-spec path(exml:element() | undefined, path(), Default) ->
          exml:element() | binary() | Default.
path(#xmlel{} = Element, [], _Default) ->
    Element;
path(#xmlel{} = Element, [cdata], _Default) ->
    cdata(Element);
path(#xmlel{} = Element, [{attr, Name}], Default) ->
    attr(Element, Name, Default);
path(#xmlel{children = Children}, [Step | Rest], Default) ->
    case is_child_step(Step) of
        true ->
            case first_child(Step, Children, nomatch) of
                nomatch -> Default;
                Child -> path(Child, Rest, Default)
            end;
        false ->
            Default
    end;
path(_NotAnElement, _Path, Default) ->
    Default.

%% @doc Follows `Path' from `Element' along every matching route and
%% returns all results, in document order.
%%
%% Each element step fans out to every matching child. The result is a
%% list of `#xmlel{}' (path ending in element steps, `[Element]' for
%% `[]'), of binaries (path ending in `cdata': one binary per element
%% reached, `<<>>' included) or of attribute values (path ending in
%% `{attr, Name}': elements lacking the attribute contribute nothing).
%% Raises `error:invalid_path' when the remaining path, at an element
%% actually reached, is not a valid one (for example `cdata' or
%% `{attr, _}' followed by more steps, or an unknown step).
-spec paths(exml:element(), path()) -> [exml:element() | binary()].
paths(#xmlel{} = Element, []) ->
    [Element];
paths(#xmlel{} = Element, [cdata]) ->
    [cdata(Element)];
paths(#xmlel{attrs = Attrs}, [{attr, Name}]) ->
    case Attrs of
        #{Name := Value} -> [Value];
        #{} -> []
    end;
paths(#xmlel{children = Children} = Element, [Step | Rest] = Path) ->
    case is_child_step(Step) of
        true ->
            lists:append([paths(Child, Rest)
                          || Child <- matching_children(Step, Children)]);
        false ->
            erlang:error(invalid_path, [Element, Path])
    end;
paths(#xmlel{} = Element, Path) when is_list(Path) ->
    erlang:error(invalid_path, [Element, Path]).

%%--------------------------------------------------------------------
%% First matching child
%%--------------------------------------------------------------------

%% @doc Returns the first child element named `Name', or `undefined'.
%% Same as `path(Element, [{element, Name}])'.
-spec subelement(exml:element(), binary()) -> exml:element() | undefined.
subelement(Element, Name) ->
    subelement(Element, Name, undefined).

%% @doc Returns the first child element named `Name', or `Default'.
%% Same as `path(Element, [{element, Name}], Default)'.
-spec subelement(exml:element(), binary(), Default) -> exml:element() | Default.
subelement(#xmlel{children = Children}, Name, Default) ->
    first_child({element, Name}, Children, Default).

%% @doc Returns the first child element whose `xmlns' attribute is `NS',
%% or `undefined'. Same as `path(Element, [{element_with_ns, NS}])'.
-spec subelement_with_ns(exml:element(), binary()) -> exml:element() | undefined.
subelement_with_ns(Element, NS) ->
    subelement_with_ns(Element, NS, undefined).

%% @doc Returns the first child element whose `xmlns' attribute is `NS',
%% or `Default'. Same as `path(Element, [{element_with_ns, NS}], Default)'.
-spec subelement_with_ns(exml:element(), binary(), Default) -> exml:element() | Default.
subelement_with_ns(#xmlel{children = Children}, NS, Default) ->
    first_child({element_with_ns, NS}, Children, Default).

%% @doc Returns the first child element whose attribute `AttrName' equals
%% `AttrValue', or `undefined'.
%% Same as `path(Element, [{element_with_attr, AttrName, AttrValue}])'.
-spec subelement_with_attr(exml:element(), AttrName :: binary(), AttrValue :: binary()) ->
          exml:element() | undefined.
subelement_with_attr(Element, AttrName, AttrValue) ->
    subelement_with_attr(Element, AttrName, AttrValue, undefined).

%% @doc Returns the first child element whose attribute `AttrName' equals
%% `AttrValue', or `Default'.
%% Same as `path(Element, [{element_with_attr, AttrName, AttrValue}], Default)'.
-spec subelement_with_attr(Element, AttrName, AttrValue, Default) -> SubElement | Default when
      Element :: exml:element(),
      AttrName :: binary(),
      AttrValue :: binary(),
      SubElement :: exml:element(),
      Default :: term().
subelement_with_attr(#xmlel{children = Children}, AttrName, AttrValue, Default) ->
    first_child({element_with_attr, AttrName, AttrValue}, Children, Default).

%% @doc Returns the first child element named `Name' whose `xmlns'
%% attribute is `NS', or `undefined'.
%% Same as `path(Element, [{element_with_ns, Name, NS}])'.
-spec subelement_with_name_and_ns(exml:element(), binary(), binary()) ->
          exml:element() | undefined.
subelement_with_name_and_ns(Element, Name, NS) ->
    subelement_with_name_and_ns(Element, Name, NS, undefined).

%% @doc Returns the first child element named `Name' whose `xmlns'
%% attribute is `NS', or `Default'.
%% Same as `path(Element, [{element_with_ns, Name, NS}], Default)'.
-spec subelement_with_name_and_ns(exml:element(), binary(), binary(), Default) ->
          exml:element() | Default.
subelement_with_name_and_ns(#xmlel{children = Children}, Name, NS, Default) ->
    first_child({element_with_ns, Name, NS}, Children, Default).

%%--------------------------------------------------------------------
%% All matching children
%%--------------------------------------------------------------------

%% @doc Returns every child element named `Name', in document order
%% (`[]' if none). Same as `paths(Element, [{element, Name}])'.
-spec subelements(exml:element(), binary()) -> [exml:element()].
subelements(#xmlel{children = Children}, Name) ->
    matching_children({element, Name}, Children).

%% @doc Returns every child element whose `xmlns' attribute is `NS', in
%% document order. Same as `paths(Element, [{element_with_ns, NS}])'.
-spec subelements_with_ns(exml:element(), binary()) -> [exml:element()].
subelements_with_ns(#xmlel{children = Children}, NS) ->
    matching_children({element_with_ns, NS}, Children).

%% @doc Returns every child element named `Name' whose `xmlns' attribute
%% is `NS', in document order.
%% Same as `paths(Element, [{element_with_ns, Name, NS}])'.
-spec subelements_with_name_and_ns(exml:element(), binary(), binary()) -> [exml:element()].
subelements_with_name_and_ns(#xmlel{children = Children}, Name, NS) ->
    matching_children({element_with_ns, Name, NS}, Children).

%% @doc Returns every child element whose attribute `AttrName' equals
%% `Value', in document order.
%% Same as `paths(Element, [{element_with_attr, AttrName, Value}])'.
-spec subelements_with_attr(exml:element(), binary(), binary()) -> [exml:element()].
subelements_with_attr(#xmlel{children = Children}, AttrName, Value) ->
    matching_children({element_with_attr, AttrName, Value}, Children).

%%--------------------------------------------------------------------
%% Text and attributes
%%--------------------------------------------------------------------

%% @doc Returns the text of `Element': the contents of its direct
%% `#xmlcdata{}' children joined in order into one binary (iolist
%% contents are flattened; the `style' field is ignored; text inside
%% child elements is not included). Returns `<<>>' if there is no text.
%% Same as `path(Element, [cdata])'.
-spec cdata(exml:element()) -> binary().
cdata(#xmlel{children = Children}) ->
    iolist_to_binary([Content || #xmlcdata{content = Content} <- Children]).

%% @doc Returns the value of attribute `Name' of `Element', or `undefined'.
%% Same as `path(Element, [{attr, Name}])'.
-spec attr(exml:element(), binary()) -> binary() | undefined.
attr(Element, Name) ->
    attr(Element, Name, undefined).

%% @doc Returns the value of attribute `Name' of `Element', or `Default'.
%% Same as `path(Element, [{attr, Name}], Default)'.
-spec attr(exml:element(), binary(), Default) -> binary() | Default.
attr(#xmlel{attrs = Attrs}, Name, Default) ->
    maps:get(Name, Attrs, Default).

%%--------------------------------------------------------------------
%% Internals
%%--------------------------------------------------------------------

-spec is_child_step(term()) -> boolean().
is_child_step({element, _Name}) -> true;
is_child_step({element_with_ns, _NS}) -> true;
is_child_step({element_with_ns, _Name, _NS}) -> true;
is_child_step({element_with_attr, _AttrName, _Value}) -> true;
is_child_step(_) -> false.

%% Does a child element satisfy the step?
-spec step_matches(child_step(), exml:element()) -> boolean().
step_matches({element, Name}, #xmlel{name = ElName}) ->
    ElName =:= Name;
step_matches({element_with_ns, NS}, Element) ->
    attr(Element, ?XMLNS) =:= NS;
step_matches({element_with_ns, Name, NS}, #xmlel{name = ElName} = Element) ->
    ElName =:= Name andalso attr(Element, ?XMLNS) =:= NS;
step_matches({element_with_attr, AttrName, Value}, Element) ->
    attr(Element, AttrName) =:= Value.

%% First child element (text children skipped) satisfying the step.
-spec first_child(child_step(), [exml:child()], Default) -> exml:element() | Default.
first_child(_Step, [], Default) ->
    Default;
first_child(Step, [#xmlel{} = Child | Rest], Default) ->
    case step_matches(Step, Child) of
        true -> Child;
        false -> first_child(Step, Rest, Default)
    end;
first_child(Step, [_Text | Rest], Default) ->
    first_child(Step, Rest, Default).

%% Every child element satisfying the step, in order.
-spec matching_children(child_step(), [exml:child()]) -> [exml:element()].
matching_children(Step, Children) ->
    [Child || #xmlel{} = Child <- Children, step_matches(Step, Child)].
