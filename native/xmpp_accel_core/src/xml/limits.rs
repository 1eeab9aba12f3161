//! Parser limits. Every limit is checked before the memory it guards is spent.

/// Limits of one parser. `0` for `max_element_size` means no limit (exml's default).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Largest element (stanza) in bytes of input, from its `<` to the end of
    /// its closing tag; for a stream header, the length of the opening tag;
    /// for other markup between stanzas (a CDATA section, a comment), its length.
    /// An incomplete element that already holds this many bytes is rejected too.
    /// `0`: unlimited. Error: `element too big`.
    pub max_element_size: usize,
    /// Deepest nesting of elements inside one stanza (the stream root not counted).
    pub max_depth: usize,
    /// Most attributes on one element.
    pub max_attrs: usize,
}

/// Default depth limit: XMPP stanzas nest a few levels; 256 leaves ample room
/// (exml and fast_xml have no limit).
pub const DEFAULT_MAX_DEPTH: usize = 256;
/// Default attribute count limit per element.
pub const DEFAULT_MAX_ATTRS: usize = 256;

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_element_size: 0,
            max_depth: DEFAULT_MAX_DEPTH,
            max_attrs: DEFAULT_MAX_ATTRS,
        }
    }
}
