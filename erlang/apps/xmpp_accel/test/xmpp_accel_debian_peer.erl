%%% @doc Test support: a peer VM running one of Debian's real p1_* libraries
%%% (erlang-p1-xml's fast_xml, erlang-p1-tls's fast_tls) for differential
%%% and interop tests. Our drop-ins have the same module names, so the peer
%%% starts with OTP's default code path only (where Debian installs them;
%%% no ERL_LIBS, no -pa of ours) and the check below makes sure the module
%%% it runs is Debian's. Used by `reference_fast_xml' and `reference_fast_tls'.
%%% @end
-module(xmpp_accel_debian_peer).

-export([start/4]).

%% @doc Starts the peer when a library matching `LibPattern' (e.g.
%% `"p1_tls-*"') is installed, loads `Driver' (the caller's module, with the
%% functions the peer is to run) into it, and checks that `Probe' (a module
%% of the library) loads from OTP's lib dir. `{skip, Why}' otherwise, `What'
%% naming the library in the reason.
-spec start(string(), module(), module(), string()) -> {ok, pid()} | {skip, string()}.
start(LibPattern, Driver, Probe, What) ->
    case filelib:wildcard(filename:join(code:lib_dir(), LibPattern)) of
        [] ->
            {skip, What ++ " is not installed"};
        _ ->
            {ok, Peer, _Node} = peer:start_link(#{connection => standard_io,
                                                  env => [{"ERL_LIBS", ""}, {"ERL_FLAGS", ""},
                                                          {"ERL_AFLAGS", ""}, {"ERL_ZFLAGS", ""}]}),
            {Driver, Bin, File} = code:get_object_code(Driver),
            {module, Driver} = peer:call(Peer, code, load_binary, [Driver, File, Bin]),
            Which = case peer:call(Peer, code, which, [Probe], 10000) of
                        Path when is_list(Path) -> Path;
                        Other -> lists:flatten(io_lib:format("~p", [Other]))
                    end,
            case string:prefix(Which, code:lib_dir()) of
                nomatch ->
                    peer:stop(Peer),
                    {skip, "the peer did not load Debian's " ++ What ++ ": " ++ Which};
                _ ->
                    {ok, Peer}
            end
    end.
