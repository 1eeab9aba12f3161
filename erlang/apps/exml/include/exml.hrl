%% Records shared by the exml drop-in modules (exml, exml_stream, exml_query).
%% Attributes are maps of binary() => binary().
-record(xmlcdata, {content = [] :: iodata(), style = escaped :: escaped | cdata}).
-record(xmlel, {name :: binary(), attrs = #{} :: exml:attrs(), children = [] :: [exml:child()]}).
