%% Records of the exml drop-in (esl/exml 4.x compatible): attributes are maps
%% of binary() => binary(); parsed text is #xmlcdata{style = escaped}.
-ifndef(EXML_HRL).
-define(EXML_HRL, true).

-record(xmlcdata, {content = [] :: iodata(),
                   style = escaped :: escaped | cdata}).

-record(xmlel, {name :: binary(),
                attrs = #{} :: exml:attrs(),
                children = [] :: [exml:child()]}).

%% Asserts that two XML items are equal up to attribute and list order
%% (both sides are put through exml:xml_sort/1 first). On failure raises
%% (Value sorted)
%% {exmlAssertEqual, [{module, M}, {line, L}, {expression, E},
%%                    {expected, Expected}, {value, Value}]}.
-define(exmlAssertEqual(Expected, Expr),
        (fun(Exp__, Val__) ->
                 Got__ = exml:xml_sort(Val__),
                 case exml:xml_sort(Exp__) of
                     Got__ -> ok;
                     _ -> erlang:error({exmlAssertEqual,
                                        [{module, ?MODULE}, {line, ?LINE},
                                         {expression, (??Expr)},
                                         {expected, Exp__}, {value, Got__}]})
                 end
         end)((Expected), (Expr))).

-endif.
