%%% @doc The fast_xml application (drop-in for fast_xml 1.1.60's): starting
%%% it starts `fxml_sup', an empty supervisor. Nothing needs it to run:
%%% `fxml' and `fxml_stream' load their NIF themselves.
%%% @end
-module(fast_xml).

-behaviour(application).

-export([start/2, stop/1]).

-spec start(application:start_type(), term()) -> {ok, pid()} | {error, term()}.
start(_Type, _Args) ->
    fxml_sup:start_link().

-spec stop(term()) -> ok.
stop(_State) ->
    ok.
