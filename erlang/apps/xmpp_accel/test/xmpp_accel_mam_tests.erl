%%% @doc The MAM full-text index through the real NIF: filters and RSM
%%% paging, re-feeding, deletes, bad input, a second open, and a kill -9 of
%%% an OS process in the middle of indexing: everything committed is found
%%% after reopening.
-module(xmpp_accel_mam_tests).

-include_lib("eunit/include/eunit.hrl").

dir(Tag) ->
    D = filename:join(["/tmp", "xmpp-accel-mam-eunit-" ++ os:getpid() ++ "-" ++ Tag]),
    os:cmd("rm -rf " ++ D),
    D.

msg(Archive, Id, With, Body) ->
    #{archive_id => Archive, mam_id => Id, remote_jid => With, remote_resource => <<"phone">>,
      is_groupchat => false, body => Body}.

with_index(Tag, Opts, F) ->
    Dir = dir(Tag),
    {ok, I} = xmpp_accel_mam:open(Dir, Opts),
    try F(I) after xmpp_accel_mam:close(I), os:cmd("rm -rf " ++ Dir) end.

search_test() ->
    with_index("search", #{}, fun(I) ->
        Msgs = [msg(1, 100 + N, case N rem 2 of 0 -> <<"bob@x">>; 1 -> <<"carol@x">> end,
                    <<"Tea time number ", (integer_to_binary(N))/binary, (case N rem 3 of 0 -> <<" cake">>; _ -> <<>> end)/binary>>)
                || N <- lists:seq(1, 30)] ++ [msg(2, 500, <<"bob@x">>, <<"tea elsewhere">>)],
        ok = xmpp_accel_mam:index(I, Msgs),
        ok = xmpp_accel_mam:commit(I),
        S = fun(Q) -> {ok, R} = xmpp_accel_mam:search(I, Q), R end,
        %% all words must match; oldest first
        ?assertEqual([103, 106, 109, 112, 115, 118, 121, 124, 127, 130],
                     maps:get(ids, S(#{archive_id => 1, text => <<"TEA cake">>}))),
        %% with: bare and full JID
        ?assertEqual([106, 112, 118, 124, 130], maps:get(ids, S(#{archive_id => 1, text => <<"cake">>, with => <<"bob@x">>}))),
        ?assertEqual([106, 112, 118, 124, 130], maps:get(ids, S(#{archive_id => 1, text => <<"cake">>, with => <<"bob@x/phone">>}))),
        ?assertEqual([], maps:get(ids, S(#{archive_id => 1, text => <<"cake">>, with => <<"bob@x/pc">>}))),
        %% time range (start/end included) and RSM
        ?assertEqual(#{ids => [110, 111], count => 21, first_index => 0},
                     S(#{archive_id => 1, start => 110, max => 2, count => true})),
        ?assertEqual(#{ids => [129, 130], count => 30, first_index => 28},
                     S(#{archive_id => 1, before => last, max => 2, count => true})),
        ?assertEqual(#{ids => [130, 129], count => 30, first_index => 28},
                     S(#{archive_id => 1, before => <<>>, max => 2, count => true, flip_page => true})),
        ?assertEqual([118, 119], maps:get(ids, S(#{archive_id => 1, before => 120, max => 2}))),
        ?assertEqual([121, 122], maps:get(ids, S(#{archive_id => 1, 'after' => 120, max => 2}))),
        ?assertEqual([111, 112], maps:get(ids, S(#{archive_id => 1, index => 10, max => 2}))),
        ?assertEqual([105], maps:get(ids, S(#{archive_id => 1, ids => [105, 999], text => <<"tea">>}))),
        ?assertEqual([500], maps:get(ids, S(#{archive_id => 2, text => <<"tea">>}))),
        ?assertEqual(130, xmpp_accel_mam:last_indexed_id(I, 1)),
        ?assertEqual(undefined, xmpp_accel_mam:last_indexed_id(I, 77))
    end).

groupchat_and_refeed_and_delete_test() ->
    with_index("refeed", #{}, fun(I) ->
        Chat = msg(1, 1, <<"bob@x">>, <<"hi">>),
        Room = (msg(1, 2, <<"room@muc.x">>, <<"hi">>))#{is_groupchat => true},
        ok = xmpp_accel_mam:index(I, [Chat, Room]),
        ok = xmpp_accel_mam:index(I, [Chat, Room]),
        ok = xmpp_accel_mam:commit(I),
        {ok, #{ids := [1, 2], count := 2}} = xmpp_accel_mam:search(I, #{archive_id => 1, text => <<"hi">>, count => true}),
        {ok, #{ids := [1]}} = xmpp_accel_mam:search(I, #{archive_id => 1, include_groupchat => false}),
        ok = xmpp_accel_mam:delete(I, {message, 1, 1}),
        ok = xmpp_accel_mam:commit(I),
        {ok, #{ids := [2]}} = xmpp_accel_mam:search(I, #{archive_id => 1}),
        ok = xmpp_accel_mam:delete(I, {archive, 1}),
        ok = xmpp_accel_mam:commit(I),
        ?assertMatch({ok, #{ids := []}}, xmpp_accel_mam:search(I, #{archive_id => 1}))
    end).

mongoose_compat_tokenizer_test() ->
    with_index("compat", #{tokenizer => mongoose_compat}, fun(I) ->
        ok = xmpp_accel_mam:index(I, [msg(1, 1, <<"b@x">>, <<"Don't e-mail me, please!">>)]),
        ok = xmpp_accel_mam:commit(I),
        ?assertMatch({ok, #{ids := [1]}}, xmpp_accel_mam:search(I, #{archive_id => 1, text => <<"dont email">>})),
        ?assertMatch({ok, #{ids := []}}, xmpp_accel_mam:search(I, #{archive_id => 1, text => <<"don">>}))
    end).

bad_input_test() ->
    Dir = dir("bad"),
    {ok, I} = xmpp_accel_mam:open(Dir, #{max_body => 100}),
    try
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:index(I, [#{archive_id => 1}])),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:index(I, [(msg(1, 1, <<"b@x">>, <<"x">>))#{mam_id => <<"one">>}])),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:index(I, [msg(1, 1, <<"b@x">>, <<255, 254>>)])),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:index(I, [msg(1, 1, <<"b@x">>, binary:copy(<<"a">>, 101))])),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:index(I, [not_a_map])),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:search(I, #{text => <<"no archive">>})),
        ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:search(I, not_a_map)),
        ?assertError(badarg, xmpp_accel_mam:delete(I, {nonsense})),
        %% a second open of the same directory is refused
        ?assertEqual({error, already_open}, xmpp_accel_mam:open(Dir, #{}))
    after
        xmpp_accel_mam:close(I),
        os:cmd("rm -rf " ++ Dir)
    end,
    ?assertMatch({error, _}, xmpp_accel_mam:open("/proc/xmpp-accel-cannot-be-here", #{})),
    %% a corrupt index: garbage where the index's metadata should be
    Corrupt = dir("corrupt"),
    ok = filelib:ensure_dir(filename:join(Corrupt, "x")),
    ok = file:write_file(filename:join(Corrupt, "meta.json"), <<"{not json">>),
    ?assertMatch({error, _}, xmpp_accel_mam:open(Corrupt, #{})),
    os:cmd("rm -rf " ++ Corrupt),
    ?assertMatch({error, {bad_input, _}}, xmpp_accel_mam:open(dir("opts"), #{tokenizer => klingon})).

closed_index_test() ->
    Dir = dir("closed"),
    {ok, I} = xmpp_accel_mam:open(Dir, #{}),
    ok = xmpp_accel_mam:close(I),
    ?assertEqual({error, closed}, xmpp_accel_mam:search(I, #{archive_id => 1})),
    ?assertEqual({error, closed}, xmpp_accel_mam:close(I)),
    %% the directory can be opened again
    {ok, I2} = xmpp_accel_mam:open(Dir, #{}),
    ok = xmpp_accel_mam:close(I2),
    os:cmd("rm -rf " ++ Dir).

kill_dash_nine_loses_nothing_committed_test_() ->
    {timeout, 120,
     fun() ->
             Dir = dir("crash"),
             Ebin = filename:dirname(code:which(xmpp_accel_mam)),
             %% another OS process: index 2,000 and commit, index 500 more
             %% without commit, then kill -9 itself
             Script = lists:flatten(io_lib:format(
                 "{ok, I} = xmpp_accel_mam:open(~p, #{commit_interval => 60000}),"
                 "Msg = fun(N) -> #{archive_id => 9, mam_id => N, remote_jid => <<\"b@x\">>, body => <<\"crash test\">>} end,"
                 "ok = xmpp_accel_mam:index(I, [Msg(N) || N <- lists:seq(1, 2000)]),"
                 "ok = xmpp_accel_mam:commit(I),"
                 "ok = xmpp_accel_mam:index(I, [Msg(N) || N <- lists:seq(2001, 2500)]),"
                 "os:cmd(\"kill -9 \" ++ os:getpid()).", [Dir])),
             Cmd = "erl -noshell -pa " ++ Ebin ++ " -eval '" ++ Script ++ "' 2>&1",
             _ = os:cmd(Cmd),
             {ok, I} = xmpp_accel_mam:open(Dir, #{}),
             try
                 {ok, #{ids := Ids, count := Count}} =
                     xmpp_accel_mam:search(I, #{archive_id => 9, text => <<"crash">>, max => 3000, count => true}),
                 ?assert(Count >= 2000),
                 ?assertEqual(lists:seq(1, 2000), lists:sublist(Ids, 2000)),
                 Last = xmpp_accel_mam:last_indexed_id(I, 9),
                 ?assert(Last >= 2000),
                 %% resume feeding from the last indexed id: no duplicates
                 ok = xmpp_accel_mam:index(I, [#{archive_id => 9, mam_id => N, remote_jid => <<"b@x">>, body => <<"crash test">>}
                                              || N <- lists:seq(Last - 10, 2500)]),
                 ok = xmpp_accel_mam:commit(I),
                 ?assertMatch({ok, #{count := 2500}}, xmpp_accel_mam:search(I, #{archive_id => 9, count => true}))
             after
                 xmpp_accel_mam:close(I),
                 os:cmd("rm -rf " ++ Dir)
             end
     end}.

text_from_form_test() ->
    ?assertEqual(<<"tea">>, xmpp_accel_mam:text_from_form([{<<"with">>, <<"a@b">>}, {<<"full-text-search">>, <<"tea">>}])),
    ?assertEqual(<<"cake">>, xmpp_accel_mam:text_from_form([{<<"{urn:xmpp:fulltext:0}fulltext">>, <<"cake">>}])),
    ?assertEqual(<<"x">>, xmpp_accel_mam:text_from_form([{<<"withtext">>, <<"x">>}])),
    ?assertEqual(<<"y">>, xmpp_accel_mam:text_from_form([{<<"fulltext">>, <<"y">>}])),
    ?assertEqual(undefined, xmpp_accel_mam:text_from_form([{<<"with">>, <<"a@b">>}])).

%% Indexing a large batch (while the commit thread writes segments),
%% committing and searching never hold a normal scheduler: the process
%% running them is never scheduled in for more than 5 ms at a time.
no_scheduler_blocked_test_() ->
    {timeout, 300, fun() -> ?assertEqual([], xmpp_accel_sched_probe:quiet(fun blocking_reports/0, 3)) end}.

blocking_reports() ->
    Dir = dir("sched"),
    {ok, I} = xmpp_accel_mam:open(Dir, #{}),
    Msgs = [msg(1, N, <<"b@x">>, <<"some words to index and ", (integer_to_binary(N))/binary, " more words here">>)
            || N <- lists:seq(1, 50000)],
    Reports = xmpp_accel_sched_probe:long_schedules(
                fun() ->
                        ok = xmpp_accel_mam:index(I, Msgs),
                        ok = xmpp_accel_mam:commit(I),
                        {ok, _} = xmpp_accel_mam:search(I, #{archive_id => 1, text => <<"words">>, before => last, count => true})
                end, [{min_heap_size, 10000000}]),
    xmpp_accel_mam:close(I),
    os:cmd("rm -rf " ++ Dir),
    Reports.
