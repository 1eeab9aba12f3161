//! Errors of the XML core.
//!
//! Every error is a value: nothing in the parser panics on input. The `Display`
//! text is the readable reason that the NIF layer hands to Erlang as
//! `{error, Reason :: binary()}`.

use thiserror::Error;

/// Why a stream or an element was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum XmlError {
    /// Markup that XML 1.0 does not allow (unknown construct, bad tag syntax).
    #[error("syntax error: {0}")]
    Syntax(String),
    /// An end tag that does not close the open element (XML 1.0 §3, WFC: Element Type Match).
    #[error("mismatched end tag: expected </{expected}>, got </{found}>")]
    MismatchedTag { expected: String, found: String },
    /// An end tag with no open element.
    #[error("unexpected end tag </{0}>")]
    UnexpectedEndTag(String),
    /// Two attributes with the same name on one element (WFC: Unique Att Spec).
    #[error("duplicate attribute '{0}'")]
    DuplicateAttribute(String),
    /// Bad attribute syntax (missing quotes or `=`).
    #[error("malformed attribute: {0}")]
    MalformedAttribute(String),
    /// An element or attribute name that is not an XML Name.
    #[error("invalid name '{0}'")]
    InvalidName(String),
    /// Bytes that are not UTF-8 (RFC 6120 §11.6: XMPP is UTF-8 only).
    #[error("invalid UTF-8")]
    InvalidUtf8,
    /// A character outside XML 1.0's `Char` production, literal or referenced.
    #[error("character U+{0:04X} is not allowed in XML")]
    InvalidChar(u32),
    /// An entity other than the five predefined ones, or a malformed reference.
    #[error("undefined or malformed entity reference '&{0};'")]
    UndefinedEntity(String),
    /// Namespace well-formedness (Namespaces in XML 1.0): unbound prefix, bad QName.
    #[error("namespace error: {0}")]
    Namespace(String),
    /// A DTD: never allowed (RFC 6120 §11.1).
    #[error("DTDs are not allowed")]
    DtdNotAllowed,
    /// A comment inside a stream (RFC 6120 §11.1).
    #[error("comments are not allowed in an XML stream")]
    CommentNotAllowed,
    /// A processing instruction inside a stream (RFC 6120 §11.1).
    #[error("processing instructions are not allowed in an XML stream")]
    PiNotAllowed,
    /// Non-whitespace character data where only elements may stand
    /// (outside the stream root, or between stanzas at stream level).
    #[error("character data is not allowed at stream level")]
    TextAtStreamLevel,
    /// Content after the one root element of a whole-element parse.
    #[error("junk after the root element")]
    JunkAfterRoot,
    /// The input ended inside an element (whole-element parse only).
    #[error("unexpected end of input")]
    UnexpectedEof,
    /// An element exceeded `max_element_size` bytes (the exml error text).
    #[error("element too big")]
    ElementTooBig,
    /// Elements nested deeper than `max_depth`.
    #[error("element nesting deeper than {0}")]
    TooDeep(usize),
    /// More than `max_attrs` attributes on one element.
    #[error("more than {0} attributes on one element")]
    TooManyAttributes(usize),
}

impl XmlError {
    pub(crate) fn syntax(msg: impl Into<String>) -> Self {
        XmlError::Syntax(msg.into())
    }
}

/// Lossy text for error messages (names and entity text may be invalid UTF-8).
pub(crate) fn lossy(bytes: &[u8]) -> String {
    let mut s = String::from_utf8_lossy(bytes).into_owned();
    if s.len() > 64 {
        let mut cut = 64;
        while !s.is_char_boundary(cut) {
            cut -= 1;
        }
        s.truncate(cut);
        s.push('…');
    }
    s
}
