%%% @doc Incremental XMPP stream parser (drop-in for esl/exml 4.x's exml_stream).
%%%
%%% Feed the bytes of a stream as they arrive, cut anywhere; each call returns
%%% the items completed so far: the stream header (`#xmlstreamstart{}'),
%%% whole stanzas (`#xmlel{}') and the closing tag (`#xmlstreamend{}'),
%%% RFC 6120 §4. A stream header with the root's name inside an open stream
%%% starts a new stream (stream restart). With `{infinite_stream, true}' the
%%% input is a sequence of whole elements, as RFC 7395 frames XMPP over
%%% WebSocket.
%%%
%%% The parser state lives in the NIF: bytes are parsed once, however the
%%% stream is chunked. The restricted XML of RFC 6120 §11 is enforced:
%%% comments, processing instructions, DTDs and non-whitespace text between
%%% stanzas are errors. Errors are final for a parser: reset it or make a new one.
%%% @end
-module(exml_stream).

-include("exml_stream.hrl").

-export([new_parser/0, new_parser/1, parse/2, reset_parser/1, free_parser/1]).

-export_type([element/0, start/0, stop/0, parser/0, parser_opt/0]).

-record(parser, {nif :: xmpp_accel_nif:stream()}).

-type start() :: #xmlstreamstart{}.
-type stop() :: #xmlstreamend{}.
-type element() :: exml:element() | start() | stop().
-opaque parser() :: #parser{}.
-type parser_opt() :: {infinite_stream, boolean()}
                    | {max_element_size, non_neg_integer()}
                    | {max_depth, pos_integer()}
                    | {max_attrs, pos_integer()}.
%% <ul>
%%  <li>`infinite_stream' (default `false'): elements only, no stream header or end (RFC 7395).</li>
%%  <li>`max_element_size' (bytes, default 0 = no limit): the largest stanza, counted from
%%      its `<' to the end of its closing tag; for a stream header, the opening tag.
%%      An unfinished stanza that already holds this many bytes is rejected as well.
%%      Error: `{error, <<"element too big">>}'.</li>
%%  <li>`max_depth' (default 256): deepest nesting inside a stanza.</li>
%%  <li>`max_attrs' (default 256): most attributes on one element.</li>
%% </ul>
%% Other options (exml's `autoreset', for one) are ignored.

-define(DEFAULT_MAX_DEPTH, 256).
-define(DEFAULT_MAX_ATTRS, 256).

%% @equiv new_parser([])
-spec new_parser() -> {ok, parser()}.
new_parser() ->
    new_parser([]).

%% @doc Creates a parser; see `t:parser_opt/0'. Bad option values raise `badarg'.
-spec new_parser([parser_opt() | term()]) -> {ok, parser()}.
new_parser(Opts) when is_list(Opts) ->
    MaxSize = proplists:get_value(max_element_size, Opts, 0),
    Infinite = proplists:get_value(infinite_stream, Opts, false),
    MaxDepth = proplists:get_value(max_depth, Opts, ?DEFAULT_MAX_DEPTH),
    MaxAttrs = proplists:get_value(max_attrs, Opts, ?DEFAULT_MAX_ATTRS),
    {ok, #parser{nif = xmpp_accel_nif:stream_new(MaxSize, Infinite, MaxDepth, MaxAttrs)}}.

%% @doc Parses the next bytes of the stream; returns the items they complete.
-spec parse(parser(), binary()) -> {ok, parser(), [element()]} | {error, binary()}.
parse(#parser{nif = Nif} = Parser, Input) when is_reference(Nif), is_binary(Input) ->
    Result = case xmpp_accel_nif:stream_feed(Nif, Input) of
                 dirty -> xmpp_accel_nif:stream_feed_dirty(Nif, Input);
                 dirty_events -> xmpp_accel_nif:stream_feed_dirty(Nif, <<>>);
                 Other -> Other
             end,
    case Result of
        {ok, Items} -> {ok, Parser, Items};
        {error, _} = Error -> Error
    end.

%% @doc Forgets all state: the next bytes start a new stream (after STARTTLS or SASL).
-spec reset_parser(parser()) -> {ok, parser()}.
reset_parser(#parser{nif = Nif} = Parser) when is_reference(Nif) ->
    ok = xmpp_accel_nif:stream_reset(Nif),
    {ok, Parser}.

%% @doc Does nothing: the parser is freed when no longer referenced. Kept for compatibility.
-spec free_parser(parser()) -> ok.
free_parser(#parser{}) ->
    ok.
