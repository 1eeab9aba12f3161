%%% @doc XML elements: parse, serialise, and edit (drop-in for esl/exml 4.x).
%%%
%%% Parsing and serialisation run in the xmpp-accel Rust NIF: strict XML 1.0
%%% (malformed input, undefined entities, characters XML does not allow and
%%% DTDs give `{error, Reason}'), any input size without blocking a
%%% scheduler. The editing helpers are plain Erlang.
%%%
%%% Serialised output is byte-identical to exml's, with these differences
%%% where exml's output is not well-formed XML or does not read back the same:
%%% a CDATA child containing `]]>' is split into two sections; carriage return
%%% in text, and tab/newline/carriage return in attribute values, are written
%%% as character references; C0 control characters (which XML cannot carry)
%%% are written as U+FFFD.
%%% @end
-module(exml).

-include("exml_stream.hrl").

-export([parse/1]).
-export([to_list/1, to_binary/1, to_iolist/1, to_iolist/2, to_pretty_iolist/1, xml_size/1]).
-export([filter_children/2, append_children/2, upsert_attr_value/3, upsert_child/2,
         insert_new_child/2, remove_cdata/1, remove_attr/2, xml_sort/1]).

-export_type([attrs/0, cdata/0, element/0, child/0, item/0, prettify/0]).

-type attrs() :: #{binary() => binary()}.
-type cdata() :: #xmlcdata{}.
%% Character data; `style' chooses entity escaping or a CDATA section on output.
-type element() :: #xmlel{}.
-type child() :: element() | cdata().
-type item() :: element() | cdata() | exml_stream:start() | exml_stream:stop().
-type prettify() :: pretty | not_pretty.
%% `pretty' indents children by two spaces, one node per line.

%% @doc Parses one whole element from a binary or a list of binaries.
%% Comments and processing instructions are skipped; an XML declaration may
%% precede the element. Errors: `{error, Reason :: binary()}'.
-spec parse(binary() | [binary()]) -> {ok, element()} | {error, binary()}.
parse(XML) ->
    case xmpp_accel_nif:exml_parse(XML) of
        dirty -> xmpp_accel_nif:exml_parse_dirty(XML);
        Result -> Result
    end.

%% @doc Serialises to a binary (no indentation).
-spec to_binary(exml_stream:element() | [exml_stream:element()] | cdata()) -> binary().
to_binary(#xmlel{} = El) ->
    %% the common case straight to the NIF, which returns a binary already
    element_to_binary(El, not_pretty);
to_binary(Item) ->
    iolist_to_binary(to_iolist(Item, not_pretty)).

%% @doc Serialises to a string (a list of bytes, not of characters).
-spec to_list(exml_stream:element() | [exml_stream:element()] | cdata()) -> string().
to_list(Item) ->
    binary_to_list(to_binary(Item)).

%% @equiv to_iolist(Item, not_pretty)
-spec to_iolist(exml_stream:element() | [exml_stream:element()] | cdata()) -> iodata().
to_iolist(Item) ->
    to_iolist(Item, not_pretty).

%% @equiv to_iolist(Item, pretty)
-spec to_pretty_iolist(exml_stream:element() | [exml_stream:element()] | cdata()) -> iodata().
to_pretty_iolist(Item) ->
    to_iolist(Item, pretty).

%% @doc Serialises an element, a stream header or end, character data, or a
%% list of them. A list that starts with a stream header and ends with its
%% stream end is written as one element, so that `pretty' indents its content.
%% A malformed record raises `error({badxml, Item, Reason})'.
-spec to_iolist(exml_stream:element() | [exml_stream:element()] | cdata(), prettify()) -> iodata().
to_iolist(#xmlel{} = El, Pretty) ->
    element_to_binary(El, Pretty);
to_iolist(#xmlstreamstart{name = Name, attrs = Attrs} = Start, _Pretty) ->
    %% the element form without children ends in "/>": open it instead
    Bin = element_to_binary(#xmlel{name = Name, attrs = Attrs}, not_pretty, Start),
    Size = byte_size(Bin) - 2,
    <<Head:Size/binary, "/>">> = Bin,
    [Head, $>];
to_iolist(#xmlstreamend{name = Name}, _Pretty) ->
    [<<"</">>, Name, $>];
to_iolist(#xmlcdata{content = Content, style = Style}, _Pretty) ->
    escape_cdata(Content, Style);
to_iolist([Single], Pretty) ->
    to_iolist(Single, Pretty);
to_iolist([#xmlstreamstart{name = Name, attrs = Attrs} | Rest] = Items, Pretty) when Rest =/= [] ->
    case lists:last(Rest) of
        #xmlstreamend{name = Name} ->
            Children = lists:droplast(Rest),
            element_to_binary(#xmlel{name = Name, attrs = Attrs, children = Children}, Pretty);
        _ ->
            [to_iolist(I, Pretty) || I <- Items]
    end;
to_iolist(Items, Pretty) when is_list(Items) ->
    [to_iolist(I, Pretty) || I <- Items].

element_to_binary(El, Pretty) ->
    element_to_binary(El, Pretty, El).

element_to_binary(El, Pretty, Reported) ->
    try xmpp_accel_nif:exml_to_binary(El, Pretty) of
        dirty -> xmpp_accel_nif:exml_to_binary_dirty(El, Pretty);
        Bin -> Bin
    catch
        error:Reason -> erlang:error({badxml, Reported, Reason})
    end.

escape_cdata(Content, Style) ->
    case xmpp_accel_nif:exml_escape_cdata(Content, Style) of
        dirty -> xmpp_accel_nif:exml_escape_cdata_dirty(Content, Style);
        Bin -> Bin
    end.

%% @doc The size in bytes of the serialised form, computed without
%% serialising elements (attribute values are counted unescaped, as exml does).
-spec xml_size(item() | [item()]) -> non_neg_integer().
xml_size(Items) when is_list(Items) ->
    lists:foldl(fun(I, Acc) -> Acc + xml_size(I) end, 0, Items);
xml_size(#xmlcdata{content = Content, style = Style}) ->
    iolist_size(escape_cdata(Content, Style));
xml_size(#xmlel{name = Name, attrs = Attrs, children = []}) ->
    %% <Name Attrs/>
    byte_size(Name) + 3 + attrs_size(Attrs);
xml_size(#xmlel{name = Name, attrs = Attrs, children = Children}) ->
    %% <Name Attrs>Children</Name>
    2 * byte_size(Name) + 5 + attrs_size(Attrs) + xml_size(Children);
xml_size(#xmlstreamstart{name = Name, attrs = Attrs}) ->
    byte_size(Name) + 2 + attrs_size(Attrs);
xml_size(#xmlstreamend{name = Name}) ->
    byte_size(Name) + 3.

%% Each attribute is written ` Key='Value'': four bytes beside key and value.
attrs_size(Attrs) ->
    maps:fold(fun(K, V, Acc) -> Acc + byte_size(K) + byte_size(V) + 4 end, 0, Attrs).

%% @doc Sorts attributes (maps are already ordered) and children recursively,
%% and the items of a list, so that equal trees compare equal.
-spec xml_sort(item()) -> item();
              ([item()]) -> [item()].
xml_sort(#xmlel{children = Children} = El) ->
    El#xmlel{children = [xml_sort(C) || C <- Children]};
xml_sort(Items) when is_list(Items) ->
    lists:sort([xml_sort(I) || I <- Items]);
xml_sort(Other) ->
    Other.

%% @doc Keeps the children for which `Pred' returns `true'.
-spec filter_children(element(), fun((child()) -> boolean())) -> element().
filter_children(#xmlel{children = Children} = El, Pred) ->
    El#xmlel{children = lists:filter(Pred, Children)}.

%% @doc Removes the character data children.
-spec remove_cdata(element()) -> element().
remove_cdata(#xmlel{} = El) ->
    filter_children(El, fun(C) -> not is_record(C, xmlcdata) end).

%% @doc Removes attribute `Key' if present.
-spec remove_attr(element(), binary()) -> element().
remove_attr(#xmlel{attrs = Attrs} = El, Key) ->
    El#xmlel{attrs = maps:remove(Key, Attrs)}.

%% @doc Adds `Extra' after the existing children.
-spec append_children(element(), [child()]) -> element().
append_children(#xmlel{children = Children} = El, Extra) ->
    El#xmlel{children = Children ++ Extra}.

%% @doc Sets attribute `Key' to `Value', replacing any previous value.
-spec upsert_attr_value(element(), binary(), binary()) -> element().
upsert_attr_value(#xmlel{attrs = Attrs} = El, Key, Value) ->
    El#xmlel{attrs = Attrs#{Key => Value}}.

%% @doc Replaces the first child element with the same name as `Child',
%% or appends `Child' when there is none.
-spec upsert_child(element(), element()) -> element().
upsert_child(#xmlel{children = Children} = El, #xmlel{name = Name} = Child) ->
    El#xmlel{children = lists:keystore(Name, #xmlel.name, Children, Child)}.

%% @doc Prepends `Child' unless a child element with its name exists.
-spec insert_new_child(element(), element()) -> element().
insert_new_child(#xmlel{children = Children} = El, #xmlel{name = Name} = Child) ->
    case lists:keymember(Name, #xmlel.name, Children) of
        true -> El;
        false -> El#xmlel{children = [Child | Children]}
    end.
