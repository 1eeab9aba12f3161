%% Records and types of the fast_xml drop-in (processone/fast_xml 1.1.x
%% compatible), shared by fxml and fxml_stream.
%%
%% An element is #xmlel{}: its name, its attributes as an ordered list of
%% {Name, Value} pairs (duplicates are not removed), and its children,
%% elements or character data, in document order. Character data is the
%% plain tuple {xmlcdata, Text}; it has no record.
-ifndef(FXML_HRL).
-define(FXML_HRL, true).

-record(xmlel,
        {name = <<"">> :: binary(),
         attrs = [] :: [attr()],
         children = [] :: [xmlel() | cdata()]}).

%% Character data: the text itself, not escaped.
-type cdata() :: {xmlcdata, CData :: binary()}.

%% One attribute, as written by the parser: name (with its prefix, if any)
%% and unescaped value.
-type attr() :: {Name :: binary(), Value :: binary()}.

-type xmlel() :: #xmlel{}.

-endif.
