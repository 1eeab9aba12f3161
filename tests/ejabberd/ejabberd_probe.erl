%% Asks the running ejabberd node (over Erlang distribution, as a hidden node)
%% which fast_xml / fast_tls modules it uses, and checks them.
%%
%%   erl -sname P -setcookie C -hidden ... -run ejabberd_probe main which|loaded
%%
%% Environment: EJD_NODE (the ejabberd node), EJD_EXTRA_PA (colon-separated
%% dirs that must head the node's code path, in order), EXPECT_FXML_PREFIX,
%% EXPECT_FAST_TLS_PREFIX (prefixes code:which(fxml_stream) and
%% code:which(fast_tls) must start with).
%%
%% which:  code:which/1 of the modules, the head of the code path, versions.
%% loaded: code:is_loaded/1 after the session: the files the node actually
%%         loaded and served traffic with (both must be loaded by then).
%% Prints "ejabberd-e2e: ..." lines; halts 0 if all checks hold, 1 if one
%% fails, 2 if the node cannot be reached.
-module(ejabberd_probe).
-export([main/1]).

-define(MODS, [fxml_stream, fxml, fast_tls, p1_sha]).

main([Mode]) ->
    Node = list_to_atom(os:getenv("EJD_NODE")),
    case net_adm:ping(Node) of
        pong -> ok;
        pang -> out("FAILED: cannot reach node ~s", [Node]), halt(2)
    end,
    Fails = case Mode of
                "which" -> which(Node);
                "loaded" -> loaded(Node)
            end,
    halt(case Fails of 0 -> 0; _ -> 1 end).

which(Node) ->
    Vsn = fun(App) ->
                  case rpc(Node, application, get_key, [App, vsn]) of
                      {ok, V} -> V;
                      _ -> "?"
                  end
          end,
    out("node ~s: ejabberd ~s, fast_xml ~s, fast_tls ~s, OTP ~s",
        [Node, Vsn(ejabberd), Vsn(fast_xml), Vsn(fast_tls),
         rpc(Node, erlang, system_info, [otp_release])]),
    Which = [{M, rpc(Node, code, which, [M])} || M <- ?MODS],
    [out("code:which(~s) = ~s", [M, show(W)]) || {M, W} <- Which],
    Extra = [D || D <- string:split(os:getenv("EJD_EXTRA_PA", ""), ":", all), D =/= ""],
    Path = rpc(Node, code, get_path, []),
    Head = lists:sublist(Path, length(Extra) + 1),
    out("code path head: ~s", [lists:join(" ", Head)]),
    PathFail = case lists:prefix(Extra, Path) of
                   true -> 0;
                   false -> out("FAILED: code path does not start with EJABBERD_EXTRA_PA ~s",
                                [lists:join(":", Extra)]), 1
               end,
    PathFail + expect(Which, "code:which").

loaded(Node) ->
    Loaded = [{M, case rpc(Node, code, is_loaded, [M]) of
                      {file, F} -> F;
                      false -> not_loaded
                  end} || M <- ?MODS],
    [case F of
         not_loaded -> out("after the session, ~s is not loaded", [M]);
         _ -> out("after the session, ~s is loaded from ~s", [M, show(F)])
     end || {M, F} <- Loaded],
    NotLoaded = [M || {M, not_loaded} <- Loaded, lists:member(M, [fxml_stream, fast_tls])],
    [out("FAILED: ~s is not loaded after a STARTTLS session", [M]) || M <- NotLoaded],
    length(NotLoaded) + expect(Loaded, "loaded").

expect(Files, What) ->
    lists:sum([check(What, M, proplists:get_value(M, Files), Var)
               || {M, Var} <- [{fxml_stream, "EXPECT_FXML_PREFIX"},
                               {fast_tls, "EXPECT_FAST_TLS_PREFIX"}]]).

check(What, M, File, Var) ->
    case os:getenv(Var, "") of
        "" -> 0;
        Prefix ->
            case is_list(File) andalso lists:prefix(Prefix, File) of
                true ->
                    out("ok: ~s(~s) starts with ~s=~s", [What, M, Var, Prefix]), 0;
                false ->
                    out("FAILED: ~s(~s) = ~s does not start with ~s=~s",
                        [What, M, show(File), Var, Prefix]), 1
            end
    end.

rpc(Node, M, F, A) ->
    case rpc:call(Node, M, F, A, 15000) of
        {badrpc, R} -> out("FAILED: rpc ~s:~s on ~s: ~p", [M, F, Node, R]), halt(2);
        V -> V
    end.

show(X) when is_list(X) -> X;
show(X) -> io_lib:format("~p", [X]).

out(Fmt, Args) -> io:format("ejabberd-e2e: " ++ Fmt ++ "~n", Args).
