%%% @doc XML-RPC elements to terms and back: the codec under `fxmlrpc'.
%%%
%%% Drop-in for fast_xml 1.1.60's `fxmlrpc_codec', which fast_xml generates
%%% with fxml_gen from a spec; this one is written by hand, from that
%%% module's behaviour. It has the same exported functions, returns the same
%%% terms and raises the same errors (`error:{fxmlrpc_codec, Reason}').
%%%
%%% Terms (the spec calls them records; they are plain tuples):
%%% <ul>
%%% <li>`{call, Name :: atom(), Params :: [value()]}' for `<methodCall/>';</li>
%%% <li>`{response, [] | Params :: [value()] | {fault, value()}}' for `<methodResponse/>';</li>
%%% <li>a `value()' is `{Typed, Text}' for `<value/>': `Typed' is `undefined',
%%%     `nil' or one of `{i4, integer()}', `{int, integer()}',
%%%     `{string, binary()}', `{double, float()}', `{base64, binary()}',
%%%     `{date, binary()}' (dateTime.iso8601), `{boolean, boolean()}',
%%%     `{array, [value()]}', `{struct, [{atom(), value()}]}'; `Text' is the
%%%     text directly inside `<value/>' (`undefined' when there is none).</li>
%%% </ul>
%%%
%%% How elements are read, as fast_xml reads them: the namespace is
%%% `<<"xmlrpc">>' (a pseudo-namespace: `fxmlrpc' passes it as the enclosing
%%% one, so plain XML-RPC without `xmlns' decodes); a child is read only when
%%% its name is expected at that place and its namespace (its own `xmlns' or
%%% its parent's) is that one, other children are passed over; where one
%%% child is expected the last one counts; text is the concatenation of the
%%% text children. Tags outside the codec are looked up in the resolver
%%% module `fxmlrpc_codec_external', which `register_module/1' regenerates.
%%% @end
-module(fxmlrpc_codec).

%% API
-export([decode/1, decode/2, decode/3, encode/1, encode/2,
         get_name/1, get_ns/1, is_known_tag/2, get_els/1, set_els/2,
         do_decode/4, do_encode/2, do_get_name/1, do_get_ns/1,
         tags/0, records/0, pp/2, get_mod/1, get_mod/2,
         format_error/1, io_format_error/1,
         register_module/1, register_module/2,
         unregister_module/1, unregister_module/2, recompile_resolver/2,
         get_attr/3, enc_xmlns_attrs/2, choose_top_xmlns/3,
         dec_bool/1, enc_bool/1]).
%% One decoder and one encoder per element, with their steps (fast_xml
%% exports these too; other codecs may call them).
-export([decode_methodCall/3, decode_methodCall_els/5,
         encode_methodCall/2, 'encode_methodCall_$name'/3, 'encode_methodCall_$params'/3,
         decode_methodResponse/3, decode_methodResponse_els/4,
         encode_methodResponse/2, 'encode_methodResponse_$payload'/3,
         decode_fault/3, decode_fault_els/4, encode_fault/2, 'encode_fault_$value'/3,
         decode_methodName/3, decode_methodName_els/4, decode_methodName_cdata/2,
         encode_methodName/2, encode_methodName_cdata/2,
         decode_params/3, decode_params_els/4, encode_params/2, 'encode_params_$params'/3,
         decode_param/3, decode_param_els/4, encode_param/2, 'encode_param_$value'/3,
         decode_value/3, decode_value_els/5, decode_value_cdata/2,
         encode_value/2, 'encode_value_$val'/3, encode_value_cdata/2,
         decode_i4/3, decode_i4_els/4, decode_i4_cdata/2, encode_i4/2, encode_i4_cdata/2,
         decode_int/3, decode_int_els/4, decode_int_cdata/2, encode_int/2, encode_int_cdata/2,
         decode_string/3, decode_string_els/4, decode_string_cdata/2,
         encode_string/2, encode_string_cdata/2,
         decode_double/3, decode_double_els/4, decode_double_cdata/2,
         encode_double/2, encode_double_cdata/2,
         decode_base64/3, decode_base64_els/4, decode_base64_cdata/2,
         encode_base64/2, encode_base64_cdata/2,
         decode_dateTime/3, decode_dateTime_els/4, decode_dateTime_cdata/2,
         encode_dateTime/2, encode_dateTime_cdata/2,
         decode_boolean/3, decode_boolean_els/4, decode_boolean_cdata/2,
         encode_boolean/2, encode_boolean_cdata/2,
         decode_array/3, decode_array_els/4, encode_array/2, 'encode_array_$data'/3,
         decode_data/3, decode_data_els/4, encode_data/2, 'encode_data_$v'/3,
         decode_nil/3, encode_nil/2,
         decode_struct/3, decode_struct_els/4, encode_struct/2, 'encode_struct_$members'/3,
         decode_member/3, decode_member_els/5,
         encode_member/2, 'encode_member_$name'/3, 'encode_member_$value'/3,
         decode_name/3, decode_name_els/4, decode_name_cdata/2,
         encode_name/2, encode_name_cdata/2]).

-export_type([value/0, typed/0, call/0, response/0]).

%% The resolver is recompiled at run time (register_module/1): the one
%% shipped, which Dialyzer reads, knows no other codec.
-dialyzer({nowarn_function, [get_els/1, set_els/2]}).

-define(NS, <<"xmlrpc">>).
-define(RESOLVER, fxmlrpc_codec_external).
-define(FAIL(Reason), erlang:error({?MODULE, Reason})).

-type xmlel() :: {xmlel, binary(), [{binary(), binary()}], list()}.
-type value() :: {typed() | undefined, binary() | undefined}.
-type typed() :: {i4 | int, integer()} | {string | base64 | date, binary()}
               | {double, float()} | {boolean, boolean()} | {array, [value()]}
               | {struct, [{atom(), value()}]} | nil.
-type call() :: {call, atom(), [value()]}.
-type response() :: {response, [] | [value()] | {fault, value()}}.
-type reason() :: {bad_attr_value, binary(), binary(), binary()}
                | {bad_cdata_value, binary(), binary(), binary()}
                | {missing_tag, binary(), binary()}
                | {missing_attr, binary(), binary(), binary()}
                | {missing_cdata, binary(), binary(), binary()}
                | {unknown_tag, binary(), binary()}
                | {missing_tag_xmlns, binary()}.

%% The elements of the codec (the children each may hold are in its
%% `decode_*_els' function below), and those a <value/> may hold.
-define(TAGS, [<<"methodCall">>, <<"methodResponse">>, <<"fault">>, <<"methodName">>,
               <<"params">>, <<"param">>, <<"value">>, <<"i4">>, <<"int">>, <<"string">>,
               <<"double">>, <<"base64">>, <<"dateTime.iso8601">>, <<"boolean">>,
               <<"array">>, <<"data">>, <<"nil">>, <<"struct">>, <<"member">>, <<"name">>]).
-define(VALUE_KINDS, [<<"i4">>, <<"int">>, <<"string">>, <<"double">>, <<"base64">>,
                      <<"boolean">>, <<"array">>, <<"nil">>, <<"struct">>,
                      <<"dateTime.iso8601">>]).

%%%===================================================================
%%% Entry points
%%%===================================================================

-spec decode(xmlel()) -> term().
decode(El) ->
    decode(El, <<>>, []).

-spec decode(xmlel(), list()) -> term().
decode(El, Opts) ->
    decode(El, <<>>, Opts).

%% @doc Decodes `El', whose namespace is its `xmlns' or else `TopXMLNS'.
-spec decode(xmlel(), binary(), list()) -> term().
decode({xmlel, Name, Attrs, _} = El, TopXMLNS, Opts) ->
    NS = get_attr(<<"xmlns">>, Attrs, TopXMLNS),
    case get_mod(Name, NS) of
        undefined when NS =:= <<>> -> ?FAIL({missing_tag_xmlns, Name});
        undefined -> ?FAIL({unknown_tag, Name, NS});
        Mod -> Mod:do_decode(Name, NS, El, Opts)
    end.

-spec encode(term()) -> xmlel() | {xmlcdata, iodata()}.
encode(Term) ->
    encode(Term, <<>>).

%% @doc Encodes a term of the codec (or of a registered one) as an element
%% of an element in namespace `TopXMLNS' (`xmlns' written when they
%% differ). Elements and text pass through.
-spec encode(term(), binary()) -> xmlel() | {xmlcdata, iodata()}.
encode({xmlel, _, _, _} = El, _) -> El;
encode({xmlcdata, _} = Text, _) -> Text;
encode(Term, TopXMLNS) ->
    Mod = get_mod(Term),
    Mod:do_encode(Term, TopXMLNS).

-spec get_name(tuple()) -> binary().
get_name(Term) ->
    Mod = get_mod(Term),
    Mod:do_get_name(Term).

-spec get_ns(tuple()) -> binary().
get_ns(Term) ->
    Mod = get_mod(Term),
    Mod:do_get_ns(Term).

-spec is_known_tag(xmlel(), binary()) -> boolean().
is_known_tag({xmlel, Name, Attrs, _}, TopXMLNS) ->
    get_mod(Name, get_attr(<<"xmlns">>, Attrs, TopXMLNS)) =/= undefined.

%% @doc Sub-elements of a term of a registered codec. The terms of this
%% codec hold none: `badarg' for them (fast_xml's generated function calls
%% itself without end there).
-spec get_els(tuple()) -> list().
get_els(Term) ->
    case get_mod(Term) of
        ?MODULE -> erlang:error(badarg, [Term]);
        Mod -> Mod:get_els(Term)
    end.

-spec set_els(tuple(), list()) -> tuple().
set_els(Term, Els) ->
    case get_mod(Term) of
        ?MODULE -> erlang:error(badarg, [Term, Els]);
        Mod -> Mod:set_els(Term, Els)
    end.

-spec do_decode(binary(), binary(), xmlel(), list()) -> term().
do_decode(Name, ?NS, El, Opts) ->
    case decoder(Name) of
        undefined -> ?FAIL({unknown_tag, Name, ?NS});
        F -> F(?NS, Opts, El)
    end;
do_decode(Name, <<>>, _, _) ->
    ?FAIL({missing_tag_xmlns, Name});
do_decode(Name, NS, _, _) ->
    ?FAIL({unknown_tag, Name, NS}).

-spec do_encode(tuple(), binary()) -> xmlel().
do_encode({call, _, _} = T, NS) -> encode_methodCall(T, NS);
do_encode({response, _} = T, NS) -> encode_methodResponse(T, NS);
do_encode({fault, _} = T, NS) -> encode_fault(T, NS);
do_encode({i4, _} = T, NS) -> encode_i4(T, NS);
do_encode({int, _} = T, NS) -> encode_int(T, NS);
do_encode({string, _} = T, NS) -> encode_string(T, NS);
do_encode({double, _} = T, NS) -> encode_double(T, NS);
do_encode({base64, _} = T, NS) -> encode_base64(T, NS);
do_encode({date, _} = T, NS) -> encode_dateTime(T, NS);
do_encode({boolean, _} = T, NS) -> encode_boolean(T, NS);
do_encode({array, _} = T, NS) -> encode_array(T, NS);
do_encode({struct, _} = T, NS) -> encode_struct(T, NS).

-spec do_get_name(tuple()) -> binary().
do_get_name(Term) ->
    case record_tag(Term) of
        {Name, _} -> Name;
        undefined -> erlang:error(function_clause, [Term])
    end.

-spec do_get_ns(tuple()) -> binary().
do_get_ns(Term) ->
    case record_tag(Term) of
        {_, _} -> ?NS;
        undefined -> erlang:error(function_clause, [Term])
    end.

%% @doc The elements this codec reads, as `{Name, Namespace}'.
-spec tags() -> [{binary(), binary()}].
tags() ->
    [{T, ?NS} || T <- ?TAGS].

%% @doc The terms this codec writes from, as `{Tag, Fields}'.
-spec records() -> [{atom(), non_neg_integer()}].
records() ->
    [{R, length(Fs)} || {R, Fs} <- fields()].

%% @doc Field names of a record, for pretty printers; `no' when unknown.
-spec pp(atom(), non_neg_integer()) -> [atom()] | no.
pp(xmlel, 3) ->
    [name, attrs, children];
pp(Name, Arity) ->
    case lists:keyfind(Name, 1, fields()) of
        {_, Fs} when length(Fs) =:= Arity -> Fs;
        _ ->
            try get_mod(erlang:make_tuple(Arity + 1, undefined, [{1, Name}])) of
                Mod -> Mod:pp(Name, Arity)
            catch
                error:badarg -> no
            end
    end.

%% @doc The codec module reading `Name' in `NS' (`undefined' if none).
-spec get_mod(binary(), binary()) -> module() | undefined.
get_mod(Name, ?NS = NS) ->
    case lists:member(Name, ?TAGS) of
        true -> ?MODULE;
        false -> ?RESOLVER:lookup(Name, NS)
    end;
get_mod(Name, NS) ->
    ?RESOLVER:lookup(Name, NS).

%% @doc The codec module writing `Term' (`badarg' if none).
-spec get_mod(term()) -> module().
get_mod(Term) ->
    case record_tag(Term) of
        {_, _} -> ?MODULE;
        undefined -> ?RESOLVER:lookup(Term)
    end.

%%%===================================================================
%%% Errors
%%%===================================================================

-spec format_error(reason()) -> binary().
format_error(Reason) ->
    {Fmt, Args} = io_format_error(Reason),
    iolist_to_binary(io_lib:format(Fmt, Args)).

-spec io_format_error(reason()) -> {binary(), [binary()]}.
io_format_error({bad_attr_value, Attr, Tag, NS}) ->
    {<<"Bad value of attribute '~s' in tag <~s/> qualified by namespace '~s'">>, [Attr, Tag, NS]};
io_format_error({bad_cdata_value, <<>>, Tag, NS}) ->
    {<<"Bad value of cdata in tag <~s/> qualified by namespace '~s'">>, [Tag, NS]};
io_format_error({missing_tag, Tag, NS}) ->
    {<<"Missing tag <~s/> qualified by namespace '~s'">>, [Tag, NS]};
io_format_error({missing_attr, Attr, Tag, NS}) ->
    {<<"Missing attribute '~s' in tag <~s/> qualified by namespace '~s'">>, [Attr, Tag, NS]};
io_format_error({missing_cdata, <<>>, Tag, NS}) ->
    {<<"Missing cdata in tag <~s/> qualified by namespace '~s'">>, [Tag, NS]};
io_format_error({unknown_tag, Tag, NS}) ->
    {<<"Unknown tag <~s/> qualified by namespace '~s'">>, [Tag, NS]};
io_format_error({missing_tag_xmlns, Tag}) ->
    {<<"Missing namespace for tag <~s/>">>, [Tag]}.

%%%===================================================================
%%% Other codecs: the resolver module
%%%===================================================================

%% @doc Makes `Mod' (a codec exporting `tags/0', `records/0',
%% `do_decode/4', `do_encode/2', ...) reachable through this one: its tags
%% decode and its terms encode here. Regenerates the resolver module.
-spec register_module(module()) -> ok.
register_module(Mod) ->
    register_module(Mod, ?RESOLVER).

-spec unregister_module(module()) -> ok.
unregister_module(Mod) ->
    unregister_module(Mod, ?RESOLVER).

-spec register_module(module(), module()) -> ok.
register_module(Mod, Resolver) ->
    Sum = module_md5(Mod),
    Known = Resolver:modules(),
    case orddict:find(Mod, Known) of
        {ok, Sum} -> ok;
        _ -> recompile_resolver(orddict:store(Mod, Sum, Known), Resolver)
    end.

-spec unregister_module(module(), module()) -> ok.
unregister_module(Mod, Resolver) ->
    Known = Resolver:modules(),
    case orddict:is_key(Mod, Known) of
        true -> recompile_resolver(orddict:erase(Mod, Known), Resolver);
        false -> ok
    end.

%% @doc Compiles and loads `Resolver' for the codecs `Mods' (an orddict of
%% module to MD5): `modules/0' returns `Mods'; `lookup/2' maps each tag
%% `{Name, Namespace}' of their `tags/0' to its module (`undefined' for
%% others); `lookup/1' maps a term of their `records/0' to its module
%% (`badarg' for others). Where two codecs claim the same, the first in
%% `Mods' wins.
-spec recompile_resolver([{module(), binary()}], module()) -> ok.
recompile_resolver(Mods, Resolver) ->
    Codecs = orddict:fetch_keys(Mods),
    A = erl_anno:new(1),
    Var = fun(N) -> {var, A, N} end,
    Atom = fun(N) -> {atom, A, N} end,
    ByRecord = [{clause, A, [{tuple, A, [Atom(R) | lists:duplicate(N, Var('_'))]}], [], [Atom(M)]}
                || M <- Codecs, {R, N} <- M:records()]
        ++ [{clause, A, [Var('T')], [],
             [{call, A, {remote, A, Atom(erlang), Atom(error)},
               [Atom(badarg), {cons, A, Var('T'), {nil, A}}]}]}],
    ByTag = [{clause, A, [erl_parse:abstract(Name, [{line, 1}]), erl_parse:abstract(NS, [{line, 1}])],
              [], [Atom(M)]}
             || M <- Codecs, {Name, NS} <- M:tags()]
        ++ [{clause, A, [Var('_'), Var('_')], [], [Atom(undefined)]}],
    Forms = [{attribute, A, module, Resolver},
             {attribute, A, export, [{modules, 0}, {lookup, 1}, {lookup, 2}]},
             {function, A, modules, 0, [{clause, A, [], [], [erl_parse:abstract(Mods, [{line, 1}])]}]},
             {function, A, lookup, 1, ByRecord},
             {function, A, lookup, 2, ByTag}],
    {ok, Resolver, Beam} = compile:forms(Forms, [return_errors]),
    {module, Resolver} = code:load_binary(Resolver, "nofile", Beam),
    ok.

module_md5(Mod) ->
    try Mod:module_info(md5)
    catch
        error:badarg ->
            {ok, {Mod, Sum}} = beam_lib:md5(code:which(Mod)),
            Sum
    end.

%%%===================================================================
%%% Helpers shared by generated codecs
%%%===================================================================

-spec get_attr(binary(), [{binary(), binary()}], Default) -> binary() | Default.
get_attr(Name, Attrs, Default) ->
    case lists:keyfind(Name, 1, Attrs) of
        {_, Value} -> Value;
        false -> Default
    end.

%% @doc The `xmlns' attribute an element in `NS' needs inside `TopXMLNS'.
-spec enc_xmlns_attrs(binary(), binary()) -> [{binary(), binary()}].
enc_xmlns_attrs(NS, NS) -> [];
enc_xmlns_attrs(NS, _) -> [{<<"xmlns">>, NS}].

%% @doc The namespace to write an element in: its own if it has one, else
%% the enclosing one if allowed, else the first allowed.
-spec choose_top_xmlns(binary(), [binary()], binary()) -> binary().
choose_top_xmlns(<<>>, Allowed, TopXMLNS) ->
    case lists:member(TopXMLNS, Allowed) of
        true -> TopXMLNS;
        false -> hd(Allowed)
    end;
choose_top_xmlns(NS, _, _) ->
    NS.

-spec dec_bool(binary()) -> boolean().
dec_bool(<<"1">>) -> true;
dec_bool(<<"true">>) -> true;
dec_bool(<<"0">>) -> false;
dec_bool(<<"false">>) -> false.

-spec enc_bool(boolean()) -> binary().
enc_bool(true) -> <<"1">>;
enc_bool(false) -> <<"0">>.

%%%===================================================================
%%% Decoding
%%%===================================================================
%% decode_X(NS, Opts, El) reads element X, NS being its namespace (the
%% codec's); decode_X_els(NS, Opts, Children, Acc...) folds its children
%% into the accumulators fast_xml uses (text so far; `error' or
%% `{value, V}' for a child that must be there; a list for repeated ones);
%% decode_X_cdata(NS, Text) converts its text.

decode_methodCall(NS, Opts, {xmlel, <<"methodCall">>, _, Els}) ->
    {Params, Name} = decode_methodCall_els(NS, Opts, Els, [], error),
    {call, Name, Params}.

decode_methodCall_els(NS, Opts, Els, Params0, Name0) ->
    {Params, Name} = fold(NS, Opts, Els, [<<"methodName">>, <<"params">>],
                          fun(<<"methodName">>, N, {P, _}) -> {P, {value, N}};
                             (<<"params">>, P, {_, N}) -> {P, N}
                          end, {Params0, Name0}),
    {Params, required(Name, <<"methodName">>, NS)}.

decode_methodResponse(NS, Opts, {xmlel, <<"methodResponse">>, _, Els}) ->
    {response, decode_methodResponse_els(NS, Opts, Els, [])}.

decode_methodResponse_els(NS, Opts, Els, Payload) ->
    fold(NS, Opts, Els, [<<"fault">>, <<"params">>], fun last/3, Payload).

decode_fault(NS, Opts, {xmlel, <<"fault">>, _, Els}) ->
    {fault, decode_fault_els(NS, Opts, Els, error)}.

decode_fault_els(NS, Opts, Els, Value) ->
    one(NS, Opts, Els, <<"value">>, Value).

decode_methodName(NS, Opts, {xmlel, <<"methodName">>, _, Els}) ->
    decode_methodName_els(NS, Opts, Els, <<>>).

decode_methodName_els(NS, _Opts, Els, Text) ->
    decode_methodName_cdata(NS, text(Els, Text)).

decode_methodName_cdata(NS, Text) ->
    convert(NS, <<"methodName">>, Text, fun to_atom/1).

decode_params(NS, Opts, {xmlel, <<"params">>, _, Els}) ->
    decode_params_els(NS, Opts, Els, []).

decode_params_els(NS, Opts, Els, Acc) ->
    many(NS, Opts, Els, <<"param">>, Acc).

decode_param(NS, Opts, {xmlel, <<"param">>, _, Els}) ->
    decode_param_els(NS, Opts, Els, error).

decode_param_els(NS, Opts, Els, Value) ->
    one(NS, Opts, Els, <<"value">>, Value).

decode_value(NS, Opts, {xmlel, <<"value">>, _, Els}) ->
    {Text, Typed} = decode_value_els(NS, Opts, Els, <<>>, undefined),
    {Typed, Text}.

decode_value_els(NS, Opts, Els, Text, Typed) ->
    {decode_value_cdata(NS, text(Els, Text)),
     fold(NS, Opts, Els, ?VALUE_KINDS, fun last/3, Typed)}.

decode_value_cdata(_NS, <<>>) -> undefined;
decode_value_cdata(_NS, Text) -> Text.

decode_i4(NS, Opts, {xmlel, <<"i4">>, _, Els}) ->
    {i4, decode_i4_els(NS, Opts, Els, <<>>)}.

decode_i4_els(NS, _Opts, Els, Text) ->
    decode_i4_cdata(NS, text(Els, Text)).

decode_i4_cdata(NS, Text) ->
    convert(NS, <<"i4">>, Text, fun erlang:binary_to_integer/1).

decode_int(NS, Opts, {xmlel, <<"int">>, _, Els}) ->
    {int, decode_int_els(NS, Opts, Els, <<>>)}.

decode_int_els(NS, _Opts, Els, Text) ->
    decode_int_cdata(NS, text(Els, Text)).

decode_int_cdata(NS, Text) ->
    convert(NS, <<"int">>, Text, fun erlang:binary_to_integer/1).

decode_string(NS, Opts, {xmlel, <<"string">>, _, Els}) ->
    {string, decode_string_els(NS, Opts, Els, <<>>)}.

decode_string_els(NS, _Opts, Els, Text) ->
    decode_string_cdata(NS, text(Els, Text)).

%% an empty <string/> is the empty string
decode_string_cdata(_NS, Text) -> Text.

decode_double(NS, Opts, {xmlel, <<"double">>, _, Els}) ->
    {double, decode_double_els(NS, Opts, Els, <<>>)}.

decode_double_els(NS, _Opts, Els, Text) ->
    decode_double_cdata(NS, text(Els, Text)).

decode_double_cdata(NS, Text) ->
    convert(NS, <<"double">>, Text, fun erlang:binary_to_float/1).

decode_base64(NS, Opts, {xmlel, <<"base64">>, _, Els}) ->
    {base64, decode_base64_els(NS, Opts, Els, <<>>)}.

decode_base64_els(NS, _Opts, Els, Text) ->
    decode_base64_cdata(NS, text(Els, Text)).

%% kept as text: not decoded from base64, not checked
decode_base64_cdata(NS, Text) ->
    convert(NS, <<"base64">>, Text, fun(T) -> T end).

decode_dateTime(NS, Opts, {xmlel, <<"dateTime.iso8601">>, _, Els}) ->
    {date, decode_dateTime_els(NS, Opts, Els, <<>>)}.

decode_dateTime_els(NS, _Opts, Els, Text) ->
    decode_dateTime_cdata(NS, text(Els, Text)).

%% kept as text, not checked
decode_dateTime_cdata(NS, Text) ->
    convert(NS, <<"dateTime.iso8601">>, Text, fun(T) -> T end).

decode_boolean(NS, Opts, {xmlel, <<"boolean">>, _, Els}) ->
    {boolean, decode_boolean_els(NS, Opts, Els, <<>>)}.

decode_boolean_els(NS, _Opts, Els, Text) ->
    decode_boolean_cdata(NS, text(Els, Text)).

decode_boolean_cdata(NS, Text) ->
    convert(NS, <<"boolean">>, Text, fun dec_bool/1).

decode_array(NS, Opts, {xmlel, <<"array">>, _, Els}) ->
    {array, decode_array_els(NS, Opts, Els, error)}.

decode_array_els(NS, Opts, Els, Data) ->
    one(NS, Opts, Els, <<"data">>, Data).

decode_data(NS, Opts, {xmlel, <<"data">>, _, Els}) ->
    decode_data_els(NS, Opts, Els, []).

decode_data_els(NS, Opts, Els, Acc) ->
    many(NS, Opts, Els, <<"value">>, Acc).

decode_nil(_NS, _Opts, {xmlel, <<"nil">>, _, _}) ->
    nil.

decode_struct(NS, Opts, {xmlel, <<"struct">>, _, Els}) ->
    {struct, decode_struct_els(NS, Opts, Els, [])}.

decode_struct_els(NS, Opts, Els, Acc) ->
    many(NS, Opts, Els, <<"member">>, Acc).

decode_member(NS, Opts, {xmlel, <<"member">>, _, Els}) ->
    {Value, Name} = decode_member_els(NS, Opts, Els, error, error),
    {Name, Value}.

decode_member_els(NS, Opts, Els, Value0, Name0) ->
    {Value, Name} = fold(NS, Opts, Els, [<<"name">>, <<"value">>],
                         fun(<<"value">>, V, {_, N}) -> {{value, V}, N};
                            (<<"name">>, N, {V, _}) -> {V, {value, N}}
                         end, {Value0, Name0}),
    %% the value is checked first, as fast_xml does
    V1 = required(Value, <<"value">>, NS),
    {V1, required(Name, <<"name">>, NS)}.

decode_name(NS, Opts, {xmlel, <<"name">>, _, Els}) ->
    decode_name_els(NS, Opts, Els, <<>>).

decode_name_els(NS, _Opts, Els, Text) ->
    decode_name_cdata(NS, text(Els, Text)).

decode_name_cdata(NS, Text) ->
    convert(NS, <<"name">>, Text, fun to_atom/1).

%% The decoder of each element of the codec.
decoder(<<"methodCall">>) -> fun decode_methodCall/3;
decoder(<<"methodResponse">>) -> fun decode_methodResponse/3;
decoder(<<"fault">>) -> fun decode_fault/3;
decoder(<<"methodName">>) -> fun decode_methodName/3;
decoder(<<"params">>) -> fun decode_params/3;
decoder(<<"param">>) -> fun decode_param/3;
decoder(<<"value">>) -> fun decode_value/3;
decoder(<<"i4">>) -> fun decode_i4/3;
decoder(<<"int">>) -> fun decode_int/3;
decoder(<<"string">>) -> fun decode_string/3;
decoder(<<"double">>) -> fun decode_double/3;
decoder(<<"base64">>) -> fun decode_base64/3;
decoder(<<"dateTime.iso8601">>) -> fun decode_dateTime/3;
decoder(<<"boolean">>) -> fun decode_boolean/3;
decoder(<<"array">>) -> fun decode_array/3;
decoder(<<"data">>) -> fun decode_data/3;
decoder(<<"nil">>) -> fun decode_nil/3;
decoder(<<"struct">>) -> fun decode_struct/3;
decoder(<<"member">>) -> fun decode_member/3;
decoder(<<"name">>) -> fun decode_name/3;
decoder(_) -> undefined.

%% Folds the children of an element in namespace `NS' that are named in
%% `Wanted' and are in the codec's namespace (their `xmlns' or else `NS'),
%% decoded in document order: `Step(Name, Decoded, Acc)'. Text, other
%% elements and elements in other namespaces are passed over.
fold(_NS, _Opts, [], _Wanted, _Step, Acc) ->
    Acc;
fold(NS, Opts, [{xmlel, Name, Attrs, _} = El | Els], Wanted, Step, Acc) ->
    case lists:member(Name, Wanted) andalso get_attr(<<"xmlns">>, Attrs, NS) =:= ?NS of
        true ->
            F = decoder(Name),
            fold(NS, Opts, Els, Wanted, Step, Step(Name, F(?NS, Opts, El), Acc));
        false ->
            fold(NS, Opts, Els, Wanted, Step, Acc)
    end;
fold(NS, Opts, [_ | Els], Wanted, Step, Acc) ->
    fold(NS, Opts, Els, Wanted, Step, Acc).

last(_Name, Decoded, _Acc) ->
    Decoded.

%% exactly one `Name' child expected: the last one read, an error if none
one(NS, Opts, Els, Name, Acc0) ->
    Acc = fold(NS, Opts, Els, [Name], fun(_, D, _) -> {value, D} end, Acc0),
    required(Acc, Name, NS).

%% any number of `Name' children, in order after those of `Acc0' (reversed)
many(NS, Opts, Els, Name, Acc0) ->
    lists:reverse(fold(NS, Opts, Els, [Name], fun(_, D, Acc) -> [D | Acc] end, Acc0)).

required({value, V}, _Name, _NS) -> V;
required(error, Name, NS) -> ?FAIL({missing_tag, Name, NS}).

text([], Acc) -> Acc;
text([{xmlcdata, T} | Els], Acc) -> text(Els, <<Acc/binary, T/binary>>);
text([_ | Els], Acc) -> text(Els, Acc).

%% non-empty text through `F', any failure being a bad value
convert(NS, Tag, <<>>, _F) ->
    ?FAIL({missing_cdata, <<>>, Tag, NS});
convert(NS, Tag, Text, F) ->
    try F(Text)
    catch
        error:_ -> ?FAIL({bad_cdata_value, <<>>, Tag, NS})
    end.

to_atom(Text) ->
    binary_to_atom(Text, utf8).

%%%===================================================================
%%% Encoding
%%%===================================================================
%% encode_X(Term, TopXMLNS) writes element X inside an element in
%% `TopXMLNS'; its children are written inside the codec's namespace, so
%% only the outermost element carries `xmlns' (and none when `TopXMLNS' is
%% the codec's). 'encode_X_$field'(Term, NS, Acc) and encode_X_cdata(Term,
%% Acc) put the children for one field before `Acc' (reversed order).

encode_methodCall({call, Name, Params}, Top) ->
    el(<<"methodCall">>, Top,
            lists:reverse('encode_methodCall_$params'(Params, ?NS,
                                                      'encode_methodCall_$name'(Name, ?NS, [])))).

'encode_methodCall_$name'(Name, NS, Acc) ->
    [encode_methodName(Name, NS) | Acc].

'encode_methodCall_$params'([], _NS, Acc) -> Acc;
'encode_methodCall_$params'(Params, NS, Acc) -> [encode_params(Params, NS) | Acc].

encode_methodResponse({response, Payload}, Top) ->
    el(<<"methodResponse">>, Top,
            lists:reverse('encode_methodResponse_$payload'(Payload, ?NS, []))).

'encode_methodResponse_$payload'([], _NS, Acc) -> Acc;
'encode_methodResponse_$payload'({fault, _} = Fault, NS, Acc) -> [encode_fault(Fault, NS) | Acc];
'encode_methodResponse_$payload'(Params, NS, Acc) -> [encode_params(Params, NS) | Acc].

encode_fault({fault, Value}, Top) ->
    el(<<"fault">>, Top, 'encode_fault_$value'(Value, ?NS, [])).

'encode_fault_$value'(Value, NS, Acc) ->
    [encode_value(Value, NS) | Acc].

encode_methodName(Name, Top) ->
    el(<<"methodName">>, Top, encode_methodName_cdata(Name, [])).

encode_methodName_cdata(Name, Acc) ->
    [{xmlcdata, atom_to_binary(Name, utf8)} | Acc].

encode_params(Params, Top) ->
    el(<<"params">>, Top, lists:reverse('encode_params_$params'(Params, ?NS, []))).

'encode_params_$params'(Params, NS, Acc) ->
    each(fun encode_param/2, Params, NS, Acc).

encode_param(Value, Top) ->
    el(<<"param">>, Top, 'encode_param_$value'(Value, ?NS, [])).

'encode_param_$value'(Value, NS, Acc) ->
    [encode_value(Value, NS) | Acc].

encode_value({Typed, Text}, Top) ->
    el(<<"value">>, Top,
            lists:reverse(encode_value_cdata(Text, 'encode_value_$val'(Typed, ?NS, [])))).

'encode_value_$val'(undefined, _NS, Acc) -> Acc;
'encode_value_$val'(nil, NS, Acc) -> [encode_nil(nil, NS) | Acc];
'encode_value_$val'({Kind, _} = Typed, NS, Acc)
  when Kind =:= i4; Kind =:= int; Kind =:= string; Kind =:= double; Kind =:= base64;
       Kind =:= boolean; Kind =:= array; Kind =:= struct; Kind =:= date ->
    [do_encode(Typed, NS) | Acc].

encode_value_cdata(undefined, Acc) -> Acc;
encode_value_cdata(Text, Acc) -> [{xmlcdata, Text} | Acc].

encode_i4({i4, I}, Top) ->
    el(<<"i4">>, Top, encode_i4_cdata(I, [])).

encode_i4_cdata(I, Acc) ->
    [{xmlcdata, integer_to_binary(I)} | Acc].

encode_int({int, I}, Top) ->
    el(<<"int">>, Top, encode_int_cdata(I, [])).

encode_int_cdata(I, Acc) ->
    [{xmlcdata, integer_to_binary(I)} | Acc].

encode_string({string, S}, Top) ->
    el(<<"string">>, Top, encode_string_cdata(S, [])).

%% the empty string is an empty <string/>; text goes as given (a list too)
encode_string_cdata(<<>>, Acc) -> Acc;
encode_string_cdata(S, Acc) -> [{xmlcdata, S} | Acc].

encode_double({double, F}, Top) ->
    el(<<"double">>, Top, encode_double_cdata(F, [])).

encode_double_cdata(F, Acc) ->
    [{xmlcdata, float_to_binary(F)} | Acc].

encode_base64({base64, B}, Top) ->
    el(<<"base64">>, Top, encode_base64_cdata(B, [])).

encode_base64_cdata(B, Acc) ->
    [{xmlcdata, B} | Acc].

encode_dateTime({date, D}, Top) ->
    el(<<"dateTime.iso8601">>, Top, encode_dateTime_cdata(D, [])).

encode_dateTime_cdata(D, Acc) ->
    [{xmlcdata, D} | Acc].

encode_boolean({boolean, B}, Top) ->
    el(<<"boolean">>, Top, encode_boolean_cdata(B, [])).

encode_boolean_cdata(B, Acc) ->
    [{xmlcdata, enc_bool(B)} | Acc].

encode_array({array, Values}, Top) ->
    el(<<"array">>, Top, 'encode_array_$data'(Values, ?NS, [])).

'encode_array_$data'(Values, NS, Acc) ->
    [encode_data(Values, NS) | Acc].

encode_data(Values, Top) ->
    el(<<"data">>, Top, lists:reverse('encode_data_$v'(Values, ?NS, []))).

'encode_data_$v'(Values, NS, Acc) ->
    each(fun encode_value/2, Values, NS, Acc).

encode_nil(nil, Top) ->
    el(<<"nil">>, Top, []).

encode_struct({struct, Members}, Top) ->
    el(<<"struct">>, Top, lists:reverse('encode_struct_$members'(Members, ?NS, []))).

'encode_struct_$members'(Members, NS, Acc) ->
    each(fun encode_member/2, Members, NS, Acc).

encode_member({Name, Value}, Top) ->
    el(<<"member">>, Top,
            lists:reverse('encode_member_$value'(Value, ?NS, 'encode_member_$name'(Name, ?NS, [])))).

'encode_member_$name'(Name, NS, Acc) ->
    [encode_name(Name, NS) | Acc].

'encode_member_$value'(Value, NS, Acc) ->
    [encode_value(Value, NS) | Acc].

encode_name(Name, Top) ->
    el(<<"name">>, Top, encode_name_cdata(Name, [])).

encode_name_cdata(Name, Acc) ->
    [{xmlcdata, atom_to_binary(Name, utf8)} | Acc].

el(Name, Top, Children) ->
    {xmlel, Name, enc_xmlns_attrs(?NS, Top), Children}.

%% each of `Terms' encoded, put before `Acc' last first
each(_Enc, [], _NS, Acc) -> Acc;
each(Enc, [T | Ts], NS, Acc) -> each(Enc, Ts, NS, [Enc(T, NS) | Acc]).

%%%===================================================================
%%% Records
%%%===================================================================

fields() ->
    [{call, [name, params]}, {response, [payload]}, {fault, [value]},
     {i4, [cdata]}, {int, [cdata]}, {string, [cdata]}, {double, [cdata]},
     {base64, [cdata]}, {date, [cdata]}, {boolean, [cdata]},
     {array, [data]}, {struct, [members]}].

%% {Element, Arity} of a term of the codec, `undefined' for others
record_tag({call, _, _}) -> {<<"methodCall">>, 2};
record_tag({response, _}) -> {<<"methodResponse">>, 1};
record_tag({fault, _}) -> {<<"fault">>, 1};
record_tag({i4, _}) -> {<<"i4">>, 1};
record_tag({int, _}) -> {<<"int">>, 1};
record_tag({string, _}) -> {<<"string">>, 1};
record_tag({double, _}) -> {<<"double">>, 1};
record_tag({base64, _}) -> {<<"base64">>, 1};
record_tag({date, _}) -> {<<"dateTime.iso8601">>, 1};
record_tag({boolean, _}) -> {<<"boolean">>, 1};
record_tag({array, _}) -> {<<"array">>, 1};
record_tag({struct, _}) -> {<<"struct">>, 1};
record_tag(_) -> undefined.
