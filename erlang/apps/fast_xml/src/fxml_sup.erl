%%% @doc The top supervisor of the fast_xml application, registered as
%%% `fxml_sup': one_for_one, at most 10 restarts a second, no children (as in
%%% fast_xml 1.1.60).
%%% @end
-module(fxml_sup).

-behaviour(supervisor).

-export([start_link/0]).
-export([init/1]).

-spec start_link() -> {ok, pid()} | ignore | {error, term()}.
start_link() ->
    supervisor:start_link({local, ?MODULE}, ?MODULE, []).

-spec init([]) -> {ok, {supervisor:sup_flags(), [supervisor:child_spec()]}}.
init([]) ->
    {ok, {#{strategy => one_for_one, intensity => 10, period => 1}, []}}.
