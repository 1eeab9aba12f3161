%%% @doc XML-RPC method calls and responses as Erlang terms (drop-in for
%%% fast_xml 1.1.60's `fxmlrpc', which ejabberd's XML-RPC listener uses).
%%%
%%% Terms:
%%% <ul>
%%% <li>`{call, Method :: atom(), [value()]}', `{response, [value()]}' and
%%%     `{response, {fault, Code :: integer(), String}}';</li>
%%% <li>a `value()': an integer (`<int/>'; `<i4/>' is read too), a float
%%%     (`<double/>'), `true'/`false' (`<boolean/>'), a binary
%%%     (`<string/>' or a `<value/>' with text only; a string or any iolist
%%%     is also written), `nil' (`<nil/>'), `{base64, Text}',
%%%     `{date, Text}' (`<dateTime.iso8601/>'; both kept as the text
%%%     they are written with), `{array, [value()]}' and
%%%     `{struct, [{atom(), value()}]}'.</li>
%%% </ul>
%%% Elements are read and written without a namespace. What is read and the
%%% errors are `fxmlrpc_codec''s: `{error, Reason}' from `decode/1' where it
%%% raises `{fxmlrpc_codec, Reason}'; an element that is neither a call nor
%%% a response, or a fault that is not a struct with an integer `faultCode'
%%% and a string `faultString' (or none), is an error too.
%%% @end
-module(fxmlrpc).

-export([decode/1, encode/1]).

-export_type([value/0, call/0, response/0, fault/0]).

-include("fxml.hrl").

%% the namespace fxmlrpc_codec reads and writes in, given as the enclosing one
-define(NS, <<"xmlrpc">>).

-type value() :: integer() | float() | boolean() | binary() | string() | nil
               | {base64, binary()} | {date, binary()}
               | {array, [value()]} | {struct, [{atom(), value()}]}.
-type fault() :: {fault, integer(), binary() | string()}.
-type call() :: {call, atom(), [value()]}.
-type response() :: {response, [value()] | fault()}.

%% @doc Reads a `<methodCall/>' or a `<methodResponse/>'.
-spec decode(xmlel()) -> {ok, call() | response()} | {error, term()}.
decode(El) ->
    try fxmlrpc_codec:decode(El, ?NS, []) of
        Decoded -> from_codec(Decoded)
    catch
        error:{fxmlrpc_codec, Why} -> {error, Why}
    end.

%% @doc Writes a call or a response.
-spec encode(call() | response()) -> xmlel().
encode({call, Method, Params}) ->
    to_codec({call, Method, to_wire(Params)});
encode({response, Params}) when is_list(Params) ->
    to_codec({response, to_wire(Params)});
encode({response, {fault, Code, String}}) ->
    %% the string is written as given (fxmlrpc_codec takes any iolist)
    Members = [{faultCode, {{int, Code}, undefined}},
               {faultString, {{string, String}, undefined}}],
    to_codec({response, {fault, {{struct, Members}, undefined}}}).

%%%===================================================================
%%% Internal functions
%%%===================================================================

from_codec({call, Method, Params}) ->
    {ok, {call, Method, from_wire(Params)}};
from_codec({response, Params}) when is_list(Params) ->
    {ok, {response, from_wire(Params)}};
from_codec({response, {fault, {{struct, Members}, _}}}) ->
    case {fault_code(Members), fault_string(Members)} of
        {{ok, Code}, {ok, String}} -> {ok, {response, {fault, Code, String}}};
        _ -> {error, {bad_struct, Members}}
    end;
from_codec(Other) ->
    {error, {unexpected_element, Other}}.

%% the first member of that name counts
fault_code(Members) ->
    case lists:keyfind(faultCode, 1, Members) of
        {_, {{int, Code}, _}} -> {ok, Code};
        {_, {{i4, Code}, _}} -> {ok, Code};
        _ -> error
    end.

fault_string(Members) ->
    case lists:keyfind(faultString, 1, Members) of
        {_, {{string, S}, _}} -> {ok, S};
        {_, {undefined, undefined}} -> {ok, <<>>};
        {_, {undefined, S}} when is_binary(S) -> {ok, S};
        _ -> error
    end.

from_wire(Values) ->
    [plain(V) || V <- Values].

%% a value as fxmlrpc_codec reads it ({Typed, Text}) to the plain term
plain({undefined, undefined}) -> <<>>;
plain({undefined, Text}) when is_binary(Text) -> Text;
plain({nil, _}) -> nil;
plain({{Kind, V}, _}) when Kind =:= int; Kind =:= i4; Kind =:= double;
                           Kind =:= boolean; Kind =:= string ->
    V;
plain({{Kind, _} = Kept, _}) when Kind =:= base64; Kind =:= date ->
    Kept;
plain({{array, Values}, _}) ->
    {array, from_wire(Values)};
plain({{struct, Members}, _}) ->
    {struct, [{Name, plain(V)} || {Name, V} <- Members]}.

to_wire(Values) ->
    [typed(V) || V <- Values].

%% a plain term to a value as fxmlrpc_codec writes it
typed(V) -> {typed_(V), undefined}.

typed_(I) when is_integer(I) -> {int, I};
typed_(F) when is_float(F) -> {double, F};
typed_(B) when is_boolean(B) -> {boolean, B};
typed_(nil) -> nil;
typed_(S) when is_binary(S) -> {string, S};
typed_(S) when is_list(S) -> {string, iolist_to_binary(S)};
typed_({Kind, _} = Kept) when Kind =:= base64; Kind =:= date -> Kept;
typed_({array, Values}) -> {array, to_wire(Values)};
typed_({struct, Members}) -> {struct, [{Name, typed(V)} || {Name, V} <- Members]}.

to_codec(Term) ->
    fxmlrpc_codec:encode(Term, ?NS).
