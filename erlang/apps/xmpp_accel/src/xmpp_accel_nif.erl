%%% @doc The one module that loads the xmpp-accel NIF library.
%%%
%%% Every other module of xmpp-accel calls the NIFs through this module.
%%% Functions ending in `_dirty' run on a dirty CPU scheduler; their twins
%%% run on a normal scheduler and answer `dirty' (or `dirty_events') when the
%%% work would take longer than about 1 ms, so that the caller repeats the
%%% call on the twin. Use the facades (`exml', `exml_stream'), not this module.
%%% @end
-module(xmpp_accel_nif).

-export([exml_parse/1, exml_parse_dirty/1,
         exml_to_binary/2, exml_to_binary_dirty/2,
         exml_escape_cdata/2, exml_escape_cdata_dirty/2,
         stream_new/4, stream_reset/1, stream_feed/2, stream_feed_dirty/2]).

-nifs([exml_parse/1, exml_parse_dirty/1,
       exml_to_binary/2, exml_to_binary_dirty/2,
       exml_escape_cdata/2, exml_escape_cdata_dirty/2,
       stream_new/4, stream_reset/1, stream_feed/2, stream_feed_dirty/2]).

-on_load(load/0).

-type stream() :: reference().
-export_type([stream/0]).

-spec load() -> ok | {error, term()}.
load() ->
    erlang:load_nif(filename:join(priv_dir(), "xmpp_accel_nif"), 0).

priv_dir() ->
    case code:priv_dir(xmpp_accel) of
        {error, bad_name} ->
            %% Not loaded as an application (e.g. plain -pa): priv beside ebin.
            filename:join(filename:dirname(filename:dirname(code:which(?MODULE))), "priv");
        Dir ->
            Dir
    end.

%% @doc Parses one whole element: `{ok, #xmlel{}} | {error, binary()} | dirty'.
-spec exml_parse(iodata()) -> {ok, tuple()} | {error, binary()} | dirty.
exml_parse(_Input) -> erlang:nif_error(not_loaded).

%% @doc As `exml_parse/1', on a dirty CPU scheduler; never `dirty'.
-spec exml_parse_dirty(iodata()) -> {ok, tuple()} | {error, binary()}.
exml_parse_dirty(_Input) -> erlang:nif_error(not_loaded).

%% @doc Serialises `#xmlel{}': a binary, `dirty', or `badarg' raised on a bad record.
-spec exml_to_binary(tuple(), pretty | not_pretty) -> binary() | dirty.
exml_to_binary(_El, _Pretty) -> erlang:nif_error(not_loaded).

%% @doc As `exml_to_binary/2', on a dirty CPU scheduler.
-spec exml_to_binary_dirty(tuple(), pretty | not_pretty) -> binary().
exml_to_binary_dirty(_El, _Pretty) -> erlang:nif_error(not_loaded).

%% @doc Escapes character data (`escaped') or wraps it in CDATA sections (`cdata').
-spec exml_escape_cdata(iodata(), escaped | cdata) -> binary() | dirty.
exml_escape_cdata(_Content, _Style) -> erlang:nif_error(not_loaded).

%% @doc As `exml_escape_cdata/2', on a dirty CPU scheduler.
-spec exml_escape_cdata_dirty(iodata(), escaped | cdata) -> binary().
exml_escape_cdata_dirty(_Content, _Style) -> erlang:nif_error(not_loaded).

%% @doc A new stream parser: `stream_new(MaxElementSize, InfiniteStream, MaxDepth, MaxAttrs)'.
%% `MaxElementSize' in bytes, 0 for no limit.
-spec stream_new(non_neg_integer(), boolean(), pos_integer(), pos_integer()) -> stream().
stream_new(_MaxElementSize, _Infinite, _MaxDepth, _MaxAttrs) -> erlang:nif_error(not_loaded).

%% @doc Forgets the parser's state: the next bytes start a new stream.
-spec stream_reset(stream()) -> ok.
stream_reset(_Parser) -> erlang:nif_error(not_loaded).

%% @doc Feeds bytes: `{ok, Events} | {error, binary()} | dirty | dirty_events'.
-spec stream_feed(stream(), binary()) -> {ok, [tuple()]} | {error, binary()} | dirty | dirty_events.
stream_feed(_Parser, _Data) -> erlang:nif_error(not_loaded).

%% @doc As `stream_feed/2', on a dirty CPU scheduler; never `dirty' or `dirty_events'.
-spec stream_feed_dirty(stream(), binary()) -> {ok, [tuple()]} | {error, binary()}.
stream_feed_dirty(_Parser, _Data) -> erlang:nif_error(not_loaded).
