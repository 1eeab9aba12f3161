%%%-------------------------------------------------------------------
%%% @doc XML element helpers: drop-in for the `fxml' module of
%%% processone/fast_xml 1.1.x (ejabberd's XML library).
%%%
%%% Same exported functions, arities, types and return shapes as
%%% fast_xml 1.1.60. Serialisation (`element_to_binary/1',
%%% `element_to_header/1') runs in the xmpp-accel Rust NIF, on a dirty CPU
%%% scheduler when the element is large; every other function is plain
%%% Erlang and never touches the NIF.
%%%
%%% Conventions shared by the lookup helpers:
%%% <ul>
%%%  <li>only the direct children of the given element are searched,
%%%      character data is skipped, names are compared exactly;</li>
%%%  <li>the singular functions give the first match in document order
%%%      (`false', or `<<>>' for the `_s'/`_cdata' variants, when there is
%%%      none); the plural ones give every match in document order;</li>
%%%  <li>an element's namespace is the value of its own first `xmlns'
%%%      attribute (nothing is inherited from ancestors);</li>
%%%  <li>with duplicate attribute names the first one wins.</li>
%%% </ul>
%%%
%%% Unlike fast_xml, the module has no `load_nif/0,1' and no `-on_load':
%%% the NIF library belongs to the `xmpp_accel' application and is loaded
%%% by `xmpp_accel_nif'. No known caller outside fast_xml's own test suite
%%% calls `fxml:load_nif'.
%%% @end
%%%-------------------------------------------------------------------
-module(fxml).

-export([element_to_binary/1, element_to_header/1,
         crypt/1, remove_cdata/1,
         remove_subtags/3, get_cdata/1, get_tag_cdata/1,
         get_attr/2, get_attr_s/2, get_tag_attr/2,
         get_tag_attr_s/2, get_subtag/2, get_subtags/2, get_subtag_cdata/2,
         get_subtag_with_xmlns/3, get_subtags_with_xmlns/3,
         append_subtags/2, get_path_s/2,
         replace_tag_attr/3, replace_subtag/2, to_xmlel/1]).

-include("fxml.hrl").

-export_type([xmlel/0]).

%% A step of get_path_s/2: descend into the first child element of that
%% name, or (last step only) read an attribute or the text.
-type path_step() :: {elem, Name :: binary()} | {attr, Name :: binary()} | cdata.

%% The pre-2013 representation that to_xmlel/1 converts: any four-tuple
%% (normally tagged `xmlelement') with iodata name and attributes.
-type legacy_el() :: {atom(), iodata(), [{iodata(), iodata()}], [legacy_el() | legacy_cdata()]}.
-type legacy_cdata() :: {xmlcdata, iodata()}.

%%--------------------------------------------------------------------
%% Serialisation (NIF)
%%--------------------------------------------------------------------

%% @doc Serialises an element, or bare character data, to a binary.
%%
%% Attribute values are written in single quotes with `&', `<', `"', the
%% apostrophe and tab, newline, carriage return escaped (`&#x9;', `&#xA;',
%% `&#xD;'; `>' is left as is); text escapes `&', `<', `>', `"' and the
%% apostrophe. An element without children is written `<name/>'. Names,
%% values and text may be iodata. Raises `badarg' for anything that is not
%% an `#xmlel{}' or `{xmlcdata, _}' tree.
-spec element_to_binary(El :: xmlel() | cdata()) -> binary().
element_to_binary(El) ->
    case xmpp_accel_nif:fxml_element_to_binary(El) of
        dirty -> xmpp_accel_nif:fxml_element_to_binary_dirty(El);
        Bin -> Bin
    end.

%% @doc Writes the XML declaration and the start tag of an element:
%% ``<?xml version='1.0'?><name attr='value' ...>'', children ignored.
%% Used for stream headers. Raises `badarg' for anything but an
%% `#xmlel{}' (character data included).
-spec element_to_header(El :: xmlel()) -> binary().
element_to_header(El) ->
    case xmpp_accel_nif:fxml_element_to_header(El) of
        dirty -> xmpp_accel_nif:fxml_element_to_header_dirty(El);
        Bin -> Bin
    end.

%%--------------------------------------------------------------------
%% Escaping
%%--------------------------------------------------------------------

%% @doc Escapes `&', `<', `>', `"' and the apostrophe as the entities
%% `&amp;', `&lt;', `&gt;', `&quot;' and `&apos;', byte by byte (UTF-8
%% passes through). Only binaries are accepted, as in fast_xml (a list raises
%% `{bad_generator, List}'); trailing bits of a non-byte bitstring are
%% dropped.
-spec crypt(S :: binary()) -> binary().
crypt(S) when is_binary(S) ->
    case binary:match(S, [<<"&">>, <<"<">>, <<">">>, <<"\"">>, <<"'">>]) of
        nomatch ->
            S;
        {Pos, _} ->
            <<Clean:Pos/binary, Rest/binary>> = S,
            <<Clean/binary, (escape_bytes(Rest))/binary>>
    end;
crypt(S) ->
    escape_bytes(S).

escape_bytes(S) ->
    << <<(escape_byte(B))/binary>> || <<B>> <= S >>.

escape_byte($&) -> <<"&amp;">>;
escape_byte($<) -> <<"&lt;">>;
escape_byte($>) -> <<"&gt;">>;
escape_byte($") -> <<"&quot;">>;
escape_byte($') -> <<"&apos;">>;
escape_byte(B) -> <<B>>.

%%--------------------------------------------------------------------
%% Children
%%--------------------------------------------------------------------

%% @doc Keeps only the elements of a child list (drops `{xmlcdata, _}'
%% and anything else that is not an `#xmlel{}'), in order.
-spec remove_cdata(L :: [xmlel() | cdata()]) -> [xmlel()].
remove_cdata(L) ->
    [El || #xmlel{} = El <- L].

%% @doc Removes every direct child named `Name' whose attribute
%% `AttrName' (its first occurrence) has exactly `AttrValue'; typically
%% used with `{<<"xmlns">>, NS}'. Children without that attribute, text
%% and everything else are kept in place. Returns the updated element.
-spec remove_subtags(Xmlel :: xmlel(), Name :: binary(), Attr :: attr()) -> xmlel().
remove_subtags(#xmlel{children = Els} = El, Name, Attr) ->
    El#xmlel{children = [C || C <- Els, not same_name_and_attr(C, Name, Attr)]}.

same_name_and_attr(#xmlel{name = Name, attrs = Attrs}, Name, {AttrName, AttrValue}) ->
    get_attr(AttrName, Attrs) =:= {value, AttrValue};
same_name_and_attr(_, _, {_, _}) ->
    false.

%% @doc Concatenates the character data of a child list (elements are
%% skipped, not descended into). `<<>>' when there is none.
-spec get_cdata(L :: [xmlel() | cdata()]) -> binary().
get_cdata(L) ->
    iolist_to_binary([Text || {xmlcdata, Text} <- L]).

%% @doc The concatenated character data directly inside an element
%% (`<<>>' when none); text of grandchildren is not included.
-spec get_tag_cdata(Xmlel :: xmlel()) -> binary().
get_tag_cdata(#xmlel{children = Els}) ->
    get_cdata(Els).

%%--------------------------------------------------------------------
%% Attributes
%%--------------------------------------------------------------------

%% @doc Looks an attribute up in an attribute list: `{value, Value}' for
%% the first attribute of that name, or `false'.
-spec get_attr(AttrName :: binary(), Attrs :: [attr()]) -> {value, binary()} | false.
get_attr(AttrName, Attrs) ->
    case lists:keyfind(AttrName, 1, Attrs) of
        {_, Value} -> {value, Value};
        _ -> false
    end.

%% @doc As `get_attr/2' but returns the value itself, or `<<>>' when the
%% attribute is missing (a missing and an empty attribute look the same).
-spec get_attr_s(AttrName :: binary(), Attrs :: [attr()]) -> binary().
get_attr_s(AttrName, Attrs) ->
    case lists:keyfind(AttrName, 1, Attrs) of
        {_, Value} -> Value;
        _ -> <<>>
    end.

%% @doc `get_attr/2' on an element's attributes: `{value, Value} | false'.
-spec get_tag_attr(AttrName :: binary(), Xmlel :: xmlel()) -> {value, binary()} | false.
get_tag_attr(AttrName, #xmlel{attrs = Attrs}) ->
    get_attr(AttrName, Attrs).

%% @doc `get_attr_s/2' on an element's attributes: the value or `<<>>'.
-spec get_tag_attr_s(AttrName :: binary(), Xmlel :: xmlel()) -> binary().
get_tag_attr_s(AttrName, #xmlel{attrs = Attrs}) ->
    get_attr_s(AttrName, Attrs).

%%--------------------------------------------------------------------
%% Child elements
%%--------------------------------------------------------------------

%% @doc The first direct child element named `Name', or `false'.
-spec get_subtag(Xmlel :: xmlel(), Name :: binary()) -> xmlel() | false.
get_subtag(#xmlel{children = Els}, Name) ->
    first_named(Els, Name).

first_named([#xmlel{name = Name} = El | _], Name) -> El;
first_named([_ | Rest], Name) -> first_named(Rest, Name);
first_named([], _Name) -> false.

%% @doc Every direct child element named `Name', in document order
%% (`[]' when none).
-spec get_subtags(Xmlel :: xmlel(), Name :: binary()) -> [xmlel()].
get_subtags(#xmlel{children = Els}, Name) ->
    [El || #xmlel{name = N} = El <- Els, N =:= Name].

%% @doc The first direct child element named `Name' whose own `xmlns'
%% attribute is exactly `XMLNS', or `false'. A child without an `xmlns'
%% attribute never matches (not even `<<>>').
-spec get_subtag_with_xmlns(Xmlel :: xmlel(), Name :: binary(), XMLNS :: binary()) ->
          xmlel() | false.
get_subtag_with_xmlns(#xmlel{children = Els}, Name, XMLNS) ->
    first_named_in_ns(Els, Name, XMLNS).

first_named_in_ns([El | Rest], Name, XMLNS) ->
    case in_ns(El, Name, XMLNS) of
        true -> El;
        false -> first_named_in_ns(Rest, Name, XMLNS)
    end;
first_named_in_ns([], _Name, _XMLNS) ->
    false.

%% @doc Every direct child element named `Name' whose own `xmlns'
%% attribute is exactly `XMLNS', in document order (`[]' when none).
-spec get_subtags_with_xmlns(Xmlel :: xmlel(), Name :: binary(), XMLNS :: binary()) ->
          [xmlel()].
get_subtags_with_xmlns(#xmlel{children = Els}, Name, XMLNS) ->
    [El || El <- Els, in_ns(El, Name, XMLNS)].

in_ns(#xmlel{name = Name, attrs = Attrs}, Name, XMLNS) ->
    get_attr(<<"xmlns">>, Attrs) =:= {value, XMLNS};
in_ns(_, _, _) ->
    false.

%% @doc The character data directly inside the first child element named
%% `Name'; `<<>>' when there is no such child (or it has no text).
-spec get_subtag_cdata(Tag :: xmlel(), Name :: binary()) -> binary().
get_subtag_cdata(Tag, Name) ->
    case get_subtag(Tag, Name) of
        #xmlel{} = Sub -> get_tag_cdata(Sub);
        false -> <<>>
    end.

%% @doc Adds children after the existing ones; returns the element.
-spec append_subtags(Xmlel :: xmlel(), SubTags2 :: [xmlel() | cdata()]) -> xmlel().
append_subtags(#xmlel{children = Els} = El, More) ->
    El#xmlel{children = Els ++ More}.

%% @doc Follows a path from an element. `{elem, Name}' steps go to the
%% first child of that name; the path may end with `{attr, Name}' (the
%% attribute value, `<<>>' if missing) or `cdata' (the element's text).
%% Returns the element reached by an all-`elem' path (the element itself
%% for `[]'), or `<<>>' as soon as an `elem' step finds no child.
%% `{attr, _}' and `cdata' anywhere but last raise `function_clause'.
-spec get_path_s(El :: xmlel(), Path :: [path_step()]) -> xmlel() | binary().
get_path_s(El, []) ->
    El;
get_path_s(El, [{elem, Name} | Rest]) ->
    case get_subtag(El, Name) of
        false -> <<>>;
        Sub -> get_path_s(Sub, Rest)
    end;
get_path_s(El, [{attr, Name}]) ->
    get_tag_attr_s(Name, El);
get_path_s(El, [cdata]) ->
    get_tag_cdata(El).

%%--------------------------------------------------------------------
%% Editing
%%--------------------------------------------------------------------

%% @doc Sets an attribute: removes the first attribute named `Name' (only
%% the first, later duplicates stay) and puts `{Name, Value}' at the
%% front of the attribute list.
-spec replace_tag_attr(Name :: binary(), Value :: binary(), Xmlel :: xmlel()) ->
          #xmlel{attrs :: [attr(), ...]}.
replace_tag_attr(Name, Value, El) ->
    El#xmlel{attrs = [{Name, Value} | lists:keydelete(Name, 1, El#xmlel.attrs)]}.

%% @doc Puts `Tag' first among the children of `Xmlel' and removes the
%% first child whose second field equals the name of `Tag' (only the
%% first; later children of that name stay).
%%
%% As in fast_xml, that test looks at any tuple's second field, so a text
%% child `{xmlcdata, Text}' with `Text' equal to the name, if it comes
%% before the first such element, is the one removed.
-spec replace_subtag(Tag :: xmlel(), Xmlel :: xmlel()) ->
          #xmlel{children :: [xmlel() | cdata(), ...]}.
replace_subtag(#xmlel{name = Name} = Tag, El) ->
    El#xmlel{children = [Tag | lists:keydelete(Name, #xmlel.name, El#xmlel.children)]}.

%%--------------------------------------------------------------------
%% Conversion
%%--------------------------------------------------------------------

%% @doc Converts an element in the old string-based representation,
%% `{xmlelement, Name, Attrs, Children}' with `{xmlcdata, Text}' text
%% (names, values and text as strings or any iodata), to `#xmlel{}'
%% with binaries, recursively. Any four-tuple is taken as an element
%% (so an `#xmlel{}' is returned unchanged); attribute entries that are
%% not pairs are dropped.
-spec to_xmlel(legacy_el()) -> xmlel();
              (legacy_cdata()) -> cdata().
to_xmlel({_Tag, Name, Attrs, Children}) ->
    #xmlel{name = iolist_to_binary(Name),
           attrs = [{iolist_to_binary(K), iolist_to_binary(V)} || {K, V} <- Attrs],
           children = [to_xmlel(C) || C <- Children]};
to_xmlel({xmlcdata, Text}) ->
    {xmlcdata, iolist_to_binary(Text)}.
