%%% @doc Test support: the XEP example corpus and the project's own samples.
%%%
%%% The corpus is `../shared/corpus/xep-stanzas.jsonl' beside the repository
%%% (override with the XEP_CORPUS environment variable): one JSON object per
%%% line, the stanza in its "xml" field. When it is absent, `stanzas/0' says so
%%% on standard error and returns the built-in samples only.
-module(exml_test_corpus).

-export([stanzas/0, samples/0, path/0, json_string_field/2]).

%% @doc Corpus stanzas (binaries) followed by the built-in samples.
-spec stanzas() -> [binary()].
stanzas() ->
    case file:read_file(path()) of
        {ok, Data} ->
            Lines = binary:split(Data, <<"\n">>, [global, trim_all]),
            [json_string_field(L, <<"xml">>) || L <- Lines] ++ samples();
        {error, Reason} ->
            io:format(standard_error,
                      "~n*** XEP corpus not found at ~ts (~p): using the built-in samples only ***~n",
                      [path(), Reason]),
            samples()
    end.

%% @doc The corpus path.
-spec path() -> file:filename().
path() ->
    case os:getenv("XEP_CORPUS") of
        false -> filename:join(repo_root(), "../shared/corpus/xep-stanzas.jsonl");
        P -> P
    end.

repo_root() ->
    %% this module is compiled to .../erlang/_build/test/lib/exml/test or
    %% .../erlang/_build/test/lib/exml/ebin; the source lives in erlang/apps/exml/test
    Src = proplists:get_value(source, ?MODULE:module_info(compile)),
    filename:join([filename:dirname(Src), "..", "..", "..", ".."]).

%% @doc Realistic stanzas that every test can use.
-spec samples() -> [binary()].
samples() ->
    [<<"<message from='juliet@example.com/balcony' to='romeo@example.net' type='chat' id='m1'>"
       "<body>Wherefore art thou, Romeo? &amp; &lt;3 &#x2764;</body>"
       "<active xmlns='http://jabber.org/protocol/chatstates'/></message>">>,
     <<"<presence from='a@b/c'><show>away</show><status>Zzz…</status><priority>5</priority></presence>"/utf8>>,
     <<"<iq type='result' id='r1'><query xmlns='jabber:iq:roster'>",
       (iolist_to_binary([io_lib:format("<item jid='u~b@example.com' name='User ~b' subscription='both'>"
                                        "<group>Friends</group></item>", [I, I])
                          || I <- lists:seq(1, 50)]))/binary,
       "</query></iq>">>,
     <<"<message from='room@muc.example.com/nick' type='groupchat' id='g1'><body><![CDATA[x < y]]> ok</body>"
       "<stanza-id xmlns='urn:xmpp:sid:0' id='5f3c' by='room@muc.example.com'/></message>">>,
     <<"<iq type='set' id='p1'><pubsub xmlns='http://jabber.org/protocol/pubsub'><publish node='n'><item id='i'>"
       "<entry xmlns='http://www.w3.org/2005/Atom'><title type='text'>",
       (binary:copy(<<"lorem ipsum ">>, 300))/binary,
       "</title></entry></item></publish></pubsub></iq>">>].

%% @doc The value of the string field `Key' of a one-line JSON object
%% (handles \" \\ \/ \b \f \n \r \t and \uXXXX, surrogate pairs included).
-spec json_string_field(binary(), binary()) -> binary().
json_string_field(Line, Key) ->
    Pat = <<"\"", Key/binary, "\":">>,
    {Pos, Len} = binary:match(Line, Pat),
    Rest = skip_ws(binary:part(Line, Pos + Len, byte_size(Line) - Pos - Len)),
    <<"\"", Str/binary>> = Rest,
    unicode:characters_to_binary(json_chars(Str, [])).

skip_ws(<<C, R/binary>>) when C =:= $\s; C =:= $\t -> skip_ws(R);
skip_ws(B) -> B.

json_chars(<<"\"", _/binary>>, Acc) -> lists:reverse(Acc);
json_chars(<<"\\u", A:4/binary, "\\u", B:4/binary, R/binary>>, Acc) ->
    Hi = binary_to_integer(A, 16),
    Lo = binary_to_integer(B, 16),
    case Hi >= 16#D800 andalso Hi =< 16#DBFF andalso Lo >= 16#DC00 andalso Lo =< 16#DFFF of
        true -> json_chars(R, [16#10000 + ((Hi - 16#D800) bsl 10) + (Lo - 16#DC00) | Acc]);
        false -> json_chars(<<"\\u", B/binary, R/binary>>, [Hi | Acc])
    end;
json_chars(<<"\\u", A:4/binary, R/binary>>, Acc) -> json_chars(R, [binary_to_integer(A, 16) | Acc]);
json_chars(<<"\\", C, R/binary>>, Acc) ->
    json_chars(R, [case C of $n -> $\n; $t -> $\t; $r -> $\r; $b -> $\b; $f -> $\f; _ -> C end | Acc]);
json_chars(<<C/utf8, R/binary>>, Acc) -> json_chars(R, [C | Acc]).
