%%% @doc Stream parser (drop-in for processone/fast_xml 1.1.60's fxml_stream).
%%%
%%% `new/1,2,3' makes a parser that sends each event of the XMPP stream it
%%% is fed to a callback process, as a message: `{xmlstreamstart, Name,
%%% Attrs}', `{xmlstreamelement, #xmlel{}}', `{xmlstreamend, Name}',
%%% `{xmlstreamcdata, Bin}' (text between stanzas) and `{xmlstreamerror,
%%% Reason}', wrapped in `{'$gen_event', Event}' (text in
%%% `{'$gen_all_state_event', Event}') unless the option `no_gen_server' is
%%% given; `use_maps' gives Elixir structs instead. Stanzas are
%%% namespace-normalised as fast_xml normalises them.
%%%
%%% The parser state lives in the NIF: `parse/2' returns the same parser.
%%% Errors are final for a parser (each later `parse/2' sends the error
%%% again); `reset/1' starts a new stream. Strict XML (RFC 6120 §11):
%%% comments, processing instructions and DTDs in a stream are errors.
%%% @end
-module(fxml_stream).

-include("fxml.hrl").

-export([new/1, new/2, new/3, parse/2, close/1, reset/1,
         change_callback_pid/2, change_limits/3, parse_element/1, parse_element/2]).
-export([load_nif/0, load_nif/1]).

-type xml_stream_state() :: reference().
-type xml_stream_el() :: {xmlstreamraw, binary()} |
                         {xmlstreamcdata, binary()} |
                         {xmlstreamelement, xmlel()} |
                         {xmlstreamend, binary()} |
                         {xmlstreamstart, binary(), [attr()]} |
                         {xmlstreamerror, binary() | {non_neg_integer(), binary()}}.
-type limit() :: non_neg_integer() | infinity.
-export_type([xml_stream_state/0, xml_stream_el/0]).

%% @equiv new(CallbackPid, infinity)
-spec new(pid()) -> xml_stream_state().
new(CallbackPid) ->
    new(CallbackPid, infinity).

%% @equiv new(CallbackPid, MaxSize, [])
-spec new(pid(), limit() | {limit(), limit()}) -> xml_stream_state().
new(CallbackPid, MaxSize) ->
    new(CallbackPid, MaxSize, []).

%% @doc A parser sending its events to `CallbackPid'. `MaxSize': the most
%% bytes fed between two events, or `{MaxSize, MaxElements}' also limiting
%% the elements one stanza may start; `infinity' for no limit. Over a limit:
%% `{xmlstreamerror, <<"XML stanza is too big">>}'. Options: `no_gen_server',
%% `use_maps'. Bad arguments raise `badarg'.
-spec new(pid(), limit() | {limit(), limit()}, [no_gen_server | use_maps]) -> xml_stream_state().
new(CallbackPid, MaxSize, Options) ->
    xmpp_accel_nif:fxml_stream_new(CallbackPid, MaxSize, Options).

%% @doc Parses the next bytes, sending the events they complete; returns the parser.
-spec parse(xml_stream_state(), binary()) -> xml_stream_state().
parse(State, Data) ->
    case xmpp_accel_nif:fxml_stream_parse(State, Data) of
        dirty -> xmpp_accel_nif:fxml_stream_parse_dirty(State, Data);
        dirty_events -> xmpp_accel_nif:fxml_stream_parse_dirty(State, <<>>);
        State1 -> State1
    end.

%% @doc Frees the parser: `true'. Any later use raises `badarg'.
-spec close(xml_stream_state()) -> true.
close(State) ->
    xmpp_accel_nif:fxml_stream_close(State).

%% @doc Starts a new stream on this parser (after STARTTLS, SASL); returns it.
-spec reset(xml_stream_state()) -> xml_stream_state().
reset(State) ->
    xmpp_accel_nif:fxml_stream_reset(State).

%% @doc Sends later events to `CallbackPid'; returns the parser.
-spec change_callback_pid(xml_stream_state(), pid()) -> xml_stream_state().
change_callback_pid(State, CallbackPid) ->
    xmpp_accel_nif:fxml_stream_change_callback_pid(State, CallbackPid).

%% @doc Changes the limits (see `new/3'): `ok'.
-spec change_limits(xml_stream_state(), limit(), limit()) -> ok.
change_limits(State, MaxSize, MaxElements) ->
    xmpp_accel_nif:fxml_stream_change_limits(State, MaxSize, MaxElements).

%% @equiv parse_element(Bin, [])
-spec parse_element(binary()) -> xmlel() | {error, atom()} | {error, {integer(), binary()}}.
parse_element(Bin) ->
    parse_element(Bin, []).

%% @doc Parses one whole element, names and attributes as written
%% (declarations first). Errors: `{error, {Code, Msg}}' with expat's code
%% and text for the same fault. Options: `[use_maps]'.
-spec parse_element(binary(), [use_maps]) -> xmlel() | map() | {error, atom()} | {error, {integer(), binary()}}.
parse_element(Bin, Options) ->
    case xmpp_accel_nif:fxml_parse_element(Bin, Options) of
        dirty -> xmpp_accel_nif:fxml_parse_element_dirty(Bin, Options);
        Result -> Result
    end.

%% @doc Kept for compatibility: the NIF is loaded by xmpp_accel_nif. Returns `ok'.
-spec load_nif() -> ok.
load_nif() ->
    ok.

%% @doc Kept for compatibility; the path is ignored. Returns `ok'.
-spec load_nif(string()) -> ok.
load_nif(_Path) ->
    ok.
