//! Serialisation, byte-identical to exml's where exml's output is well-formed.
//!
//! The input is a flat list of [`Node`]s borrowed from wherever the tree lives
//! (Erlang terms in the NIF layer, [`super::tree::Element`] in Rust), so
//! nothing is copied before writing.
//!
//! Layout (exml 4.x, from RapidXML's printer): attributes in the order given;
//! an element with no children is `<a/>`; one whose only child is escaped
//! text stays on one line. Pretty printing indents children by two spaces,
//! ends every node with a newline and the whole element with one more.

use super::escape::{escape_text, write_attr_value, write_cdata};

/// One step of a depth-first walk of an element.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Node<'a> {
    /// An element starts; its `Attr`s follow, then its children, then `End`.
    Start(&'a [u8]),
    Attr(&'a [u8], &'a [u8]),
    /// Character data written with entity escaping (`#xmlcdata{style = escaped}`).
    Text(&'a [u8]),
    /// Character data written as a CDATA section (`#xmlcdata{style = cdata}`).
    CData(&'a [u8]),
    End,
}

/// Pretty printing, as `exml:to_iolist/2`'s `pretty | not_pretty`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Style {
    Compact,
    Pretty,
}

/// Writes elements one piece at a time, laying them out as exml does.
///
/// The caller walks its tree and, for each element, calls [`Writer::start`],
/// [`Writer::attr`] for each attribute, then one of [`Writer::empty`] (no
/// children), [`Writer::inline_text`] (only one escaped-text child) or
/// [`Writer::open`] ... children ... [`Writer::close`]; and [`Writer::finish`] at the end.
pub struct Writer<'o> {
    out: &'o mut Vec<u8>,
    pretty: bool,
    depth: usize,
}

impl<'o> Writer<'o> {
    pub fn new(out: &'o mut Vec<u8>, style: Style) -> Self {
        Writer {
            out,
            pretty: style == Style::Pretty,
            depth: 0,
        }
    }

    /// Bytes written so far (the buffer may hold earlier bytes too).
    #[inline]
    pub fn len(&self) -> usize {
        self.out.len()
    }

    #[inline]
    pub fn is_empty(&self) -> bool {
        self.out.is_empty()
    }

    #[inline]
    fn indent(&mut self) {
        if self.pretty {
            let n = self.depth * 2;
            self.out.resize(self.out.len() + n, b' ');
        }
    }

    #[inline]
    fn newline(&mut self) {
        if self.pretty {
            self.out.push(b'\n');
        }
    }

    /// `<name`
    #[inline]
    pub fn start(&mut self, name: &[u8]) {
        self.indent();
        self.out.push(b'<');
        self.out.extend_from_slice(name);
    }

    /// ` key='value'`
    #[inline]
    pub fn attr(&mut self, key: &[u8], value: &[u8]) {
        self.out.push(b' ');
        self.out.extend_from_slice(key);
        self.out.push(b'=');
        write_attr_value(value, self.out);
    }

    /// `/>`: the element has no children.
    #[inline]
    pub fn empty(&mut self) {
        self.out.extend_from_slice(b"/>");
        self.newline();
    }

    /// `>text</name>`: the element's only child is escaped text.
    #[inline]
    pub fn inline_text(&mut self, name: &[u8], text: &[u8]) {
        self.out.push(b'>');
        escape_text(text, self.out);
        self.end_tag(name);
    }

    /// `>`: children follow, then [`Writer::close`].
    #[inline]
    pub fn open(&mut self) {
        self.out.push(b'>');
        self.newline();
        self.depth += 1;
    }

    /// A text child (escaped, or as a CDATA section).
    #[inline]
    pub fn text(&mut self, text: &[u8], cdata: bool) {
        self.indent();
        write_text(text, cdata, self.out);
        self.newline();
    }

    /// `</name>` after children.
    #[inline]
    pub fn close(&mut self, name: &[u8]) {
        self.depth = self.depth.saturating_sub(1);
        self.indent();
        self.end_tag(name);
    }

    #[inline]
    fn end_tag(&mut self, name: &[u8]) {
        self.out.extend_from_slice(b"</");
        self.out.extend_from_slice(name);
        self.out.push(b'>');
        self.newline();
    }

    /// Ends the output (pretty printing adds one more newline, as exml does).
    pub fn finish(self) {
        if self.pretty {
            self.out.push(b'\n');
        }
    }
}

/// Writes the element that `nodes` walks (one balanced `Start`..`End`) to `out`.
///
/// Extra `End`s are ignored; a walk that ends early is closed.
pub fn write_element(nodes: &[Node<'_>], style: Style, out: &mut Vec<u8>) {
    let mut w = Writer::new(out, style);
    let mut names: Vec<&[u8]> = Vec::with_capacity(16);
    let mut i = 0;
    while i < nodes.len() {
        match nodes[i] {
            Node::Start(name) => {
                w.start(name);
                i += 1;
                while let Some(Node::Attr(k, v)) = nodes.get(i) {
                    w.attr(k, v);
                    i += 1;
                }
                match (nodes.get(i), nodes.get(i + 1)) {
                    (Some(Node::End) | None, _) => {
                        w.empty();
                        i += 1;
                    }
                    (Some(Node::Text(t)), Some(Node::End)) => {
                        w.inline_text(name, t);
                        i += 2;
                    }
                    _ => {
                        w.open();
                        names.push(name);
                    }
                }
                continue;
            }
            Node::Attr(..) => {} // an attribute after children: nothing sensible to write
            Node::Text(t) => w.text(t, false),
            Node::CData(t) => w.text(t, true),
            Node::End => {
                if let Some(name) = names.pop() {
                    w.close(name);
                }
            }
        }
        i += 1;
    }
    while let Some(name) = names.pop() {
        w.close(name);
    }
    w.finish();
}

/// Writes a stream header `<name attrs>` (RFC 6120 §4.2), as exml does for `#xmlstreamstart{}`.
pub fn write_stream_start(name: &[u8], attrs: &[(&[u8], &[u8])], out: &mut Vec<u8>) {
    out.push(b'<');
    out.extend_from_slice(name);
    for (k, v) in attrs {
        out.push(b' ');
        out.extend_from_slice(k);
        out.push(b'=');
        write_attr_value(v, out);
    }
    out.push(b'>');
}

/// Writes character data alone, as `exml_nif:escape_cdata/2` does.
pub fn write_text(text: &[u8], cdata: bool, out: &mut Vec<u8>) {
    if cdata {
        write_cdata(text, out)
    } else {
        escape_text(text, out)
    }
}
