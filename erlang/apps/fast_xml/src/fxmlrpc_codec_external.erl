%%% @doc The resolver of `fxmlrpc_codec': which codec module reads a tag
%%% outside it, and which writes a term outside it. As shipped, none:
%%% `fxmlrpc_codec:register_module/1' compiles and loads a replacement that
%%% knows the registered codecs (drop-in for fast_xml 1.1.60's module of the
%%% same name).
%%% @end
-module(fxmlrpc_codec_external).

-export([modules/0, lookup/1, lookup/2]).

%% @doc The registered codecs and the MD5 of each (an orddict).
-spec modules() -> [{module(), binary()}].
modules() ->
    [].

%% @doc The codec reading `Name' in namespace `NS'.
-spec lookup(binary(), binary()) -> module() | undefined.
lookup(_Name, _NS) ->
    undefined.

%% @doc The codec writing `Term'.
-spec lookup(term()) -> no_return().
lookup(Term) ->
    erlang:error(badarg, [Term]).
