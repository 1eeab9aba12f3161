//! The parser's output: a flat "tape" of items with their bytes in one buffer.
//!
//! A tape is cheap to fill (no allocation per node) and cheap to walk: the
//! NIF layer turns a tape into Erlang terms in one pass, and
//! [`super::tree::Element`] can be built from it for Rust callers.

use std::ops::Range;

/// A run of bytes in [`Tape::bytes`]. Always UTF-8 made of XML characters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Span {
    pub start: u32,
    pub len: u32,
}

impl Span {
    #[inline]
    pub fn range(self) -> Range<usize> {
        self.start as usize..(self.start + self.len) as usize
    }
}

/// One node boundary of a parsed element, in document order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Item {
    /// An element starts; `attrs` [`Item::Attr`] items follow it.
    Start { name: Span, attrs: u32 },
    /// One attribute of the element just started (value unescaped).
    Attr { name: Span, value: Span },
    /// Character data, unescaped; adjacent text, references and CDATA sections are one item.
    Text(Span),
    /// The innermost open element ends.
    End,
}

/// A complete top-level unit found in the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A stream header (RFC 6120 §4.2): a `Start` item and its `Attr` items, no `End`.
    StreamStart(Range<usize>),
    /// A whole element (a stanza, or the root of a whole-element parse): balanced items.
    Element(Range<usize>),
    /// The stream's closing tag (RFC 6120 §4.4), with the stream root's name.
    StreamEnd(Span),
    /// Character data directly inside the stream root, between stanzas
    /// (only with [`super::Parser::with_stream_text`]; unescaped).
    StreamText(Span),
}

/// Parsed items, their bytes, and the complete events among them.
#[derive(Debug, Default, Clone)]
pub struct Tape {
    pub bytes: Vec<u8>,
    pub items: Vec<Item>,
    pub events: Vec<Event>,
}

impl Tape {
    /// The bytes of a span.
    #[inline]
    pub fn get(&self, span: Span) -> &[u8] {
        &self.bytes[span.range()]
    }

    pub fn clear(&mut self) {
        self.bytes.clear();
        self.items.clear();
        self.events.clear();
    }

    /// Appends `bytes` and returns their span.
    #[inline]
    pub(crate) fn push_bytes(&mut self, bytes: &[u8]) -> Span {
        let start = self.bytes.len();
        self.bytes.extend_from_slice(bytes);
        self.span_from(start)
    }

    /// The span from `start` to the end of the buffer.
    #[inline]
    pub(crate) fn span_from(&self, start: usize) -> Span {
        Span {
            start: start as u32,
            len: (self.bytes.len() - start) as u32,
        }
    }

    /// Records text written to the buffer from `start` on, merging it into
    /// the previous item when that is text ending just there.
    pub(crate) fn commit_text(&mut self, start: usize) {
        if self.bytes.len() == start {
            return;
        }
        if let Some(Item::Text(prev)) = self.items.last_mut() {
            if (prev.start + prev.len) as usize == start {
                prev.len = (self.bytes.len() - prev.start as usize) as u32;
                return;
            }
        }
        let span = self.span_from(start);
        self.items.push(Item::Text(span));
    }

    /// Removes the text written from byte `start` on (it must be the end of
    /// the last item, which must be text).
    pub(crate) fn truncate_text(&mut self, start: usize) {
        if let Some(Item::Text(span)) = self.items.last_mut() {
            if span.start as usize >= start {
                self.items.pop();
            } else {
                span.len = (start - span.start as usize) as u32;
            }
        }
        self.bytes.truncate(start);
    }

    /// Drops everything before item `item` / byte `byte` (the start of an
    /// element still being parsed), keeping its items valid. Events must have
    /// been consumed.
    pub(crate) fn drop_before(&mut self, item: usize, byte: usize) {
        debug_assert!(self.events.is_empty());
        self.items.drain(..item);
        self.bytes.drain(..byte);
        let shift = byte as u32;
        let rebase = |s: &mut Span| s.start -= shift;
        for it in &mut self.items {
            match it {
                Item::Start { name, .. } => rebase(name),
                Item::Attr { name, value } => {
                    rebase(name);
                    rebase(value)
                }
                Item::Text(s) => rebase(s),
                Item::End => {}
            }
        }
    }
}
