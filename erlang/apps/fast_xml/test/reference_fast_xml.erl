%%% @doc Test support: Debian's real fast_xml (package erlang-p1-xml) in a
%%% peer VM of its own, for differential tests.
%%%
%%% Our fast_xml drop-in has the same module names (fxml, fxml_stream), so
%%% the real one cannot be loaded beside it: the peer starts with OTP's
%%% default code path only (where Debian installs p1_xml), and the tests call
%%% it there. `start/0' returns `{skip, Why}' when fast_xml is not installed.
-module(reference_fast_xml).

-export([start/0, stop/1, which/1, parse_element/2, stream_events/2, element_to_binary/2,
         outcome/4, outcome/3, load/2]).
%% run in the peer
-export([remote_stream_events/1, remote_stream_events_collect/0]).

-spec start() -> {ok, pid()} | {skip, string()}.
start() ->
    xmpp_accel_debian_peer:start("p1_xml-*", ?MODULE, fxml_stream, "fast_xml (erlang-p1-xml)").

-spec stop(pid()) -> ok.
stop(Peer) ->
    peer:stop(Peer).

%% @doc Where the peer loads fxml_stream from.
which(Peer) ->
    case peer:call(Peer, code, which, [fxml_stream]) of
        Path when is_list(Path) -> Path;
        Other -> io_lib:format("~p", [Other])
    end.

parse_element(Peer, Bin) ->
    peer:call(Peer, fxml_stream, parse_element, [Bin]).

element_to_binary(Peer, El) ->
    peer:call(Peer, fxml, element_to_binary, [El]).

%% @doc What `M:F(Args)' does in the peer, as `outcome/3' puts it.
-spec outcome(pid(), module(), atom(), list()) -> {ok, term()} | {error | exit | throw, term()}.
outcome(Peer, M, F, Args) ->
    peer:call(Peer, ?MODULE, outcome, [M, F, Args], 120000).

%% @doc What `M:F(Args)' does here (also run in the peer): `{ok, Result}'
%% or `{Class, Reason}' of the exception (the stack left out).
-spec outcome(module(), atom(), list()) -> {ok, term()} | {error | exit | throw, term()}.
outcome(M, F, Args) ->
    try {ok, apply(M, F, Args)}
    catch Class:Reason -> {Class, Reason}
    end.

%% @doc Loads this VM's `Mod' (a test module) into the peer.
-spec load(pid(), module()) -> ok.
load(Peer, Mod) ->
    {Mod, Bin, File} = code:get_object_code(Mod),
    {module, Mod} = peer:call(Peer, code, load_binary, [Mod, File, Bin]),
    ok.

%% @doc The events the real fxml_stream sends for `Chunks' (no_gen_server),
%% text between stanzas joined.
stream_events(Peer, Chunks) ->
    peer:call(Peer, ?MODULE, remote_stream_events, [Chunks], 120000).

remote_stream_events(Chunks) ->
    S0 = fxml_stream:new(self(), infinity, [no_gen_server]),
    S = lists:foldl(fun(C, St) -> fxml_stream:parse(St, C) end, S0, Chunks),
    true = fxml_stream:close(S),
    collect([]).

%% @doc Collects the events already in this process's mailbox (also used
%% locally, for our own parser, so both sides are gathered the same way).
remote_stream_events_collect() ->
    collect([]).

collect(Acc) ->
    receive
        {xmlstreamcdata, T} ->
            case Acc of
                [{xmlstreamcdata, T0} | Rest] -> collect([{xmlstreamcdata, <<T0/binary, T/binary>>} | Rest]);
                _ -> collect([{xmlstreamcdata, T} | Acc])
            end;
        {xmlstream, _} = E -> collect([E | Acc]);
        E when element(1, E) =:= xmlstreamstart; element(1, E) =:= xmlstreamelement;
               element(1, E) =:= xmlstreamend; element(1, E) =:= xmlstreamerror ->
            collect([E | Acc])
    after 0 ->
            lists:reverse(Acc)
    end.
