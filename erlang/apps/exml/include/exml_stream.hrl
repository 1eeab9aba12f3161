%% Stream records of the exml drop-in (RFC 6120 §4: stream header and closing tag).
-include("exml.hrl").

-record(xmlstreamstart, {name :: binary(),
                         attrs = #{} :: exml:attrs()}).

-record(xmlstreamend, {name :: binary()}).
