%%% @doc The one module that loads the xmpp-accel NIF library.
%%%
%%% Every other module of xmpp-accel calls the NIFs through this module.
%%% Functions ending in `_dirty' run on a dirty CPU scheduler; their twins
%%% run on a normal scheduler and answer `dirty' (or `dirty_events') when the
%%% work would take longer than about 1 ms, so that the caller repeats the
%%% call on the twin. Use the facades (`exml', `exml_stream'), not this module.
%%% @end
-module(xmpp_accel_nif).

%% Every NIF of the library: exported, and replaced when the library loads.
-define(NIFS,
        [exml_parse/1, exml_parse_dirty/1,
         exml_to_binary/2, exml_to_binary_dirty/2,
         exml_escape_cdata/2, exml_escape_cdata_dirty/2,
         stream_new/4, stream_reset/1, stream_feed/2, stream_feed_dirty/2,
         fxml_parse_element/2, fxml_parse_element_dirty/2,
         fxml_element_to_binary/1, fxml_element_to_binary_dirty/1,
         fxml_element_to_header/1, fxml_element_to_header_dirty/1,
         fxml_stream_new/3, fxml_stream_parse/2, fxml_stream_parse_dirty/2,
         fxml_stream_reset/1, fxml_stream_close/1,
         fxml_stream_change_callback_pid/2, fxml_stream_change_limits/3,
         fanout_template/2, fanout_render/2, fanout_send/3,
         fanout_job_new/4, fanout_job_add/2, fanout_job_start/1,
         mam_open/2, mam_index/2, mam_delete/2, mam_commit/1, mam_last_indexed_id/2,
         mam_search/2, mam_close/1,
         tls_open/1, tls_open_dirty/1, tls_loop/4, tls_loop_dirty/4, tls_peer_certificate/1,
         tls_verify_result/1, tls_invalidate/1, tls_negotiated_cipher/1,
         tls_finished/2, tls_cb_exporter/1, tls_alpn/1, tls_add_certfile/2,
         tls_delete_certfile/1, tls_get_certfile/1, tls_clear_cache/0]).

-export(?NIFS).
-nifs(?NIFS).

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

%%% fast_xml flavour (see the fast_xml application's fxml and fxml_stream).

%% @doc Parses one whole element: `#xmlel{} | {error, {Code, Msg}} | dirty'.
%% Options: `[use_maps]' for Elixir structs.
-spec fxml_parse_element(binary(), [atom()]) -> tuple() | map() | {error, term()} | dirty.
fxml_parse_element(_Input, _Options) -> erlang:nif_error(not_loaded).

%% @doc As `fxml_parse_element/2', on a dirty CPU scheduler.
-spec fxml_parse_element_dirty(binary(), [atom()]) -> tuple() | map() | {error, term()}.
fxml_parse_element_dirty(_Input, _Options) -> erlang:nif_error(not_loaded).

%% @doc Serialises an fxml element or `{xmlcdata, _}': a binary, `dirty', or `badarg'.
-spec fxml_element_to_binary(tuple()) -> binary() | dirty.
fxml_element_to_binary(_El) -> erlang:nif_error(not_loaded).

%% @doc As `fxml_element_to_binary/1', on a dirty CPU scheduler.
-spec fxml_element_to_binary_dirty(tuple()) -> binary().
fxml_element_to_binary_dirty(_El) -> erlang:nif_error(not_loaded).

%% @doc `<?xml version=\'1.0\'?>' and the element's opening tag: a binary, `dirty', or `badarg'.
-spec fxml_element_to_header(tuple()) -> binary() | dirty.
fxml_element_to_header(_El) -> erlang:nif_error(not_loaded).

%% @doc As `fxml_element_to_header/1', on a dirty CPU scheduler.
-spec fxml_element_to_header_dirty(tuple()) -> binary().
fxml_element_to_header_dirty(_El) -> erlang:nif_error(not_loaded).

%% @doc A stream parser sending its events to `Pid':
%% `fxml_stream_new(Pid, MaxSize | {MaxSize, MaxElements}, Options)'.
-spec fxml_stream_new(pid(), term(), [atom()]) -> reference().
fxml_stream_new(_Pid, _Limits, _Options) -> erlang:nif_error(not_loaded).

%% @doc Parses a chunk, sending events; returns the parser, or `dirty' for a
%% large chunk (repeat with the dirty twin), or `dirty_events' when the events
%% it completed are large (call the dirty twin with `<<>>').
-spec fxml_stream_parse(reference(), binary()) -> reference() | dirty | dirty_events.
fxml_stream_parse(_State, _Data) -> erlang:nif_error(not_loaded).

%% @doc As `fxml_stream_parse/2', on a dirty CPU scheduler.
-spec fxml_stream_parse_dirty(reference(), binary()) -> reference().
fxml_stream_parse_dirty(_State, _Data) -> erlang:nif_error(not_loaded).

%% @doc Starts a new stream on the same parser; returns the parser.
-spec fxml_stream_reset(reference()) -> reference().
fxml_stream_reset(_State) -> erlang:nif_error(not_loaded).

%% @doc Closes the parser: `true'; `badarg' if already closed.
-spec fxml_stream_close(reference()) -> true.
fxml_stream_close(_State) -> erlang:nif_error(not_loaded).

%% @doc Sends later events to `Pid'; returns the parser.
-spec fxml_stream_change_callback_pid(reference(), pid()) -> reference().
fxml_stream_change_callback_pid(_State, _Pid) -> erlang:nif_error(not_loaded).

%% @doc Sets the size and element limits: `ok'.
-spec fxml_stream_change_limits(reference(), non_neg_integer() | infinity, non_neg_integer() | infinity) -> ok.
fxml_stream_change_limits(_State, _MaxSize, _MaxElements) -> erlang:nif_error(not_loaded).

%%% MUC Light fan-out (see xmpp_accel_fanout).

%% @doc A template of `#xmlel{}' (exml records) with a `to' slot; text equal
%% to `Marker' (a binary, or `undefined') becomes the recipient's JID.
-spec fanout_template(tuple(), binary() | undefined) -> reference().
fanout_template(_El, _Marker) -> erlang:nif_error(not_loaded).

%% @doc The stanza for each JID (at most 2,000 per call).
-spec fanout_render(reference(), [binary()]) -> [binary()].
fanout_render(_Template, _Jids) -> erlang:nif_error(not_loaded).

%% @doc Sends to local pids; returns `{Sent, [{RemotePid, Stanza}]}' (at most 2,000 per call).
-spec fanout_send(reference(), [{pid(), binary()}], term()) -> {non_neg_integer(), [{pid(), binary()}]}.
fanout_send(_Template, _Members, _Wrap) -> erlang:nif_error(not_loaded).

%% @doc A fan-out job for the delivery thread: `fanout_job_new(Template, Wrap, ReplyTo, Ref)'.
-spec fanout_job_new(reference(), term(), pid(), reference()) -> reference().
fanout_job_new(_Template, _Wrap, _ReplyTo, _Ref) -> erlang:nif_error(not_loaded).

%% @doc Adds members (at most 2,000 per call); returns the remote ones rendered.
-spec fanout_job_add(reference(), [{pid(), binary()}]) -> [{pid(), binary()}].
fanout_job_add(_Job, _Members) -> erlang:nif_error(not_loaded).

%% @doc Hands the job to the delivery thread: `ok'.
-spec fanout_job_start(reference()) -> ok.
fanout_job_start(_Job) -> erlang:nif_error(not_loaded).

%%% MAM full-text index (see xmpp_accel_mam).

-spec mam_open(iodata(), map()) -> {ok, reference()} | {error, term()}.
mam_open(_Dir, _Opts) -> erlang:nif_error(not_loaded).

-spec mam_index(reference(), [map()]) -> ok | {error, term()}.
mam_index(_Index, _Msgs) -> erlang:nif_error(not_loaded).

-spec mam_delete(reference(), tuple()) -> ok | {error, term()}.
mam_delete(_Index, _What) -> erlang:nif_error(not_loaded).

-spec mam_commit(reference()) -> ok | {error, term()}.
mam_commit(_Index) -> erlang:nif_error(not_loaded).

-spec mam_last_indexed_id(reference(), non_neg_integer()) -> non_neg_integer() | undefined | {error, term()}.
mam_last_indexed_id(_Index, _ArchiveId) -> erlang:nif_error(not_loaded).

-spec mam_search(reference(), map()) -> {ok, map()} | {error, term()}.
mam_search(_Index, _Query) -> erlang:nif_error(not_loaded).

-spec mam_close(reference()) -> ok | {error, term()}.
mam_close(_Index) -> erlang:nif_error(not_loaded).

%% ---- fast_tls (see erlang/apps/fast_tls/src/fast_tls.erl) -------------------

%% @doc A TLS session: `tls_open([Flags, CertFile, KeyFile, Ciphers,
%% ProtocolOptions, DH, DHFile, CAFile, SNI, ALPN])' (fast_tls's `open_nif'
%% arguments: its flag bits, length-prefixed ALPN names); `dirty' when the
%% configuration is new (files to read): then call `tls_open_dirty/1'.
-spec tls_open([term()]) -> {ok, reference()} | {error, binary()} | dirty.
tls_open(_Args) -> erlang:nif_error(not_loaded).

%% @doc As `tls_open/1' on a dirty CPU scheduler; never `dirty'.
-spec tls_open_dirty([term()]) -> {ok, reference()} | {error, binary()}.
tls_open_dirty(_Args) -> erlang:nif_error(not_loaded).

%% @doc One step: ciphertext `Received' in, plaintext `ToSend' queued or
%% encrypted, at most `Want' bytes of plaintext out (`-1': all, `0': none).
%% `{init | ok | {error, Reason}, ToWrite, Plaintext} | {error, closed} | dirty'.
-spec tls_loop(reference(), iodata(), iodata(), integer()) ->
          {init | ok | {error, term()}, binary(), binary()} | {error, closed} | dirty.
tls_loop(_S, _ToSend, _Received, _Want) -> erlang:nif_error(not_loaded).

%% @doc As `tls_loop/4' on a dirty CPU scheduler (RSA handshake steps, big steps).
-spec tls_loop_dirty(reference(), iodata(), iodata(), integer()) ->
          {init | ok | {error, term()}, binary(), binary()} | {error, closed}.
tls_loop_dirty(_S, _ToSend, _Received, _Want) -> erlang:nif_error(not_loaded).

%% @doc The peer's certificate, DER.
-spec tls_peer_certificate(reference()) -> {ok, binary()} | {error, term()}.
tls_peer_certificate(_S) -> erlang:nif_error(not_loaded).

%% @doc OpenSSL's X509_V verify code for the peer's chain (dirty).
-spec tls_verify_result(reference()) -> {ok, integer()} | {error, closed}.
tls_verify_result(_S) -> erlang:nif_error(not_loaded).

%% @doc Frees the session; later calls give `{error, closed}'.
-spec tls_invalidate(reference()) -> ok.
tls_invalidate(_S) -> erlang:nif_error(not_loaded).

%% @doc `<<"TLSv1.3 TLS_AES_256_GCM_SHA384">>' (OpenSSL's names).
-spec tls_negotiated_cipher(reference()) -> binary() | {error, closed}.
tls_negotiated_cipher(_S) -> erlang:nif_error(not_loaded).

%% @doc tls-unique Finished messages: always `{error, undefined}' (rustls
%% does not expose them).
-spec tls_finished(reference(), peer | self) -> {error, undefined | closed}.
tls_finished(_S, _Which) -> erlang:nif_error(not_loaded).

%% @doc The RFC 9266 tls-exporter channel binding (32 bytes).
-spec tls_cb_exporter(reference()) -> {ok, binary()} | {error, undefined | closed}.
tls_cb_exporter(_S) -> erlang:nif_error(not_loaded).

%% @doc The ALPN protocol chosen (RFC 7301).
-spec tls_alpn(reference()) -> {ok, binary()} | {error, undefined | closed}.
tls_alpn(_S) -> erlang:nif_error(not_loaded).

%% @doc Registers the certificate file of a domain for server-side SNI.
-spec tls_add_certfile(iodata(), iodata()) -> ok.
tls_add_certfile(_Domain, _File) -> erlang:nif_error(not_loaded).

-spec tls_delete_certfile(iodata()) -> boolean().
tls_delete_certfile(_Domain) -> erlang:nif_error(not_loaded).

-spec tls_get_certfile(iodata()) -> {ok, binary()} | error.
tls_get_certfile(_Domain) -> erlang:nif_error(not_loaded).

%% @doc Forgets cached configurations, keys and CA roots.
-spec tls_clear_cache() -> ok.
tls_clear_cache() -> erlang:nif_error(not_loaded).
