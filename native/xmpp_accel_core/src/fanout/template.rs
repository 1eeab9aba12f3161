//! A stanza serialised once, with holes for the recipient.

use crate::xml::escape::{escape_text, write_attr_value, write_cdata};
use crate::xml::serialize::Node;

/// A piece of a [`Template`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Segment {
    /// Bytes written as they are.
    Literal(Vec<u8>),
    /// ` to='JID'`, quoted and escaped as exml writes an attribute.
    To,
    /// The recipient's JID as escaped character data.
    RecipientText,
}

/// The stanza's bytes around its recipient-dependent parts.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Template {
    segments: Vec<Segment>,
    /// Bytes of the literal parts, to size outputs.
    literal_len: usize,
}

struct Builder<'m> {
    segments: Vec<Segment>,
    buf: Vec<u8>,
    marker: Option<&'m [u8]>,
}

impl Builder<'_> {
    fn hole(&mut self, seg: Segment) {
        if !self.buf.is_empty() {
            self.segments
                .push(Segment::Literal(std::mem::take(&mut self.buf)));
        }
        self.segments.push(seg);
    }

    fn text(&mut self, t: &[u8]) {
        if self.marker == Some(t) {
            self.hole(Segment::RecipientText);
        } else {
            escape_text(t, &mut self.buf);
        }
    }

    fn attr(&mut self, k: &[u8], v: &[u8]) {
        self.buf.push(b' ');
        self.buf.extend_from_slice(k);
        self.buf.push(b'=');
        write_attr_value(v, &mut self.buf);
    }

    fn close(&mut self, name: &[u8]) {
        self.buf.extend_from_slice(b"</");
        self.buf.extend_from_slice(name);
        self.buf.push(b'>');
    }

    /// Writes sibling subtrees in exml's compact layout.
    fn walk(&mut self, nodes: &[Node<'_>]) {
        let mut open: Vec<&[u8]> = Vec::new();
        let mut i = 0;
        while i < nodes.len() {
            match nodes[i] {
                Node::Start(name) => {
                    self.buf.push(b'<');
                    self.buf.extend_from_slice(name);
                    i += 1;
                    while let Some(Node::Attr(k, v)) = nodes.get(i) {
                        self.attr(k, v);
                        i += 1;
                    }
                    if matches!(nodes.get(i), Some(Node::End) | None) {
                        self.buf.extend_from_slice(b"/>");
                    } else {
                        self.buf.push(b'>');
                        open.push(name);
                        continue;
                    }
                }
                Node::Attr(..) => {}
                Node::Text(t) => self.text(t),
                Node::CData(t) => write_cdata(t, &mut self.buf),
                Node::End => {
                    if let Some(name) = open.pop() {
                        self.close(name);
                    }
                }
            }
            i += 1;
        }
    }
}

impl Template {
    /// Builds the template of the element that `nodes` walks, written as
    /// `exml:to_binary/1` writes it. The root gets a `to` slot among its
    /// attributes, before the first name that sorts at or after `to` (its
    /// own `to`, if any, is dropped). Text nodes equal to `recipient_marker`
    /// become the recipient's JID.
    pub fn new(nodes: &[Node<'_>], recipient_marker: Option<&[u8]>) -> Template {
        let mut b = Builder {
            segments: Vec::new(),
            buf: Vec::with_capacity(256),
            marker: recipient_marker,
        };
        let Some(Node::Start(root)) = nodes.first() else {
            return Template::default();
        };
        b.buf.push(b'<');
        b.buf.extend_from_slice(root);
        let mut i = 1;
        let mut placed = false;
        while let Some(Node::Attr(k, v)) = nodes.get(i) {
            if !placed && *k >= &b"to"[..] {
                b.hole(Segment::To);
                placed = true;
            }
            if *k != b"to" {
                b.attr(k, v);
            }
            i += 1;
        }
        if !placed {
            b.hole(Segment::To);
        }
        // the root's children: up to its own End (the last node)
        let children = match nodes[i..].split_last() {
            Some((Node::End, children)) => children,
            _ => &nodes[i..],
        };
        if children.is_empty() {
            b.buf.extend_from_slice(b"/>");
        } else {
            b.buf.push(b'>');
            b.walk(children);
            b.close(root);
        }
        let mut segments = b.segments;
        if !b.buf.is_empty() {
            segments.push(Segment::Literal(b.buf));
        }
        let literal_len = segments
            .iter()
            .map(|s| {
                if let Segment::Literal(l) = s {
                    l.len()
                } else {
                    0
                }
            })
            .sum();
        Template {
            segments,
            literal_len,
        }
    }

    /// The pieces, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// An upper bound of the bytes written for a JID of `jid_len` bytes.
    pub fn size_hint(&self, jid_len: usize) -> usize {
        // escaping grows a byte to at most 6 (`&quot;`, `&apos;`)
        self.literal_len + 8 + 6 * jid_len * (1 + self.segments.len())
    }

    /// Writes the stanza for the recipient `jid` (a bare JID) to `out`.
    pub fn render(&self, jid: &[u8], out: &mut Vec<u8>) {
        out.reserve(self.literal_len + 2 * jid.len() + 8);
        for seg in &self.segments {
            match seg {
                Segment::Literal(b) => out.extend_from_slice(b),
                Segment::To => {
                    out.extend_from_slice(b" to=");
                    write_attr_value(jid, out);
                }
                Segment::RecipientText => escape_text(jid, out),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Element, Node as XNode, Style};

    fn with_to(e: &Element, jid: &str) -> Vec<u8> {
        let mut e = e.clone();
        e.attrs.retain(|(k, _)| k != "to");
        e.attrs.push(("to".into(), jid.into()));
        e.attrs.sort();
        e.to_bytes(Style::Compact)
    }

    #[test]
    fn to_goes_where_it_sorts() {
        let e = Element::parse(
            b"<message from='r@muc/u' id='1' type='groupchat'><body>hi</body></message>",
        )
        .unwrap();
        let t = Template::new(&e.walk(), None);
        let mut out = Vec::new();
        t.render(b"a@b", &mut out);
        assert_eq!(out, with_to(&e, "a@b"));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "<message from='r@muc/u' id='1' to='a@b' type='groupchat'><body>hi</body></message>"
        );
        // JIDs that need quoting or escaping
        for jid in ["o'brien@x", "a&b@x", "ż<ółw@x", "q\"@x"] {
            let mut out = Vec::new();
            t.render(jid.as_bytes(), &mut out);
            assert_eq!(out, with_to(&e, jid), "{jid}");
        }
    }

    #[test]
    fn existing_to_is_replaced_and_empty_root() {
        let e = Element::parse(b"<presence to='old@x' type='x'/>").unwrap();
        let t = Template::new(&e.walk(), None);
        let mut out = Vec::new();
        t.render(b"new@x", &mut out);
        assert_eq!(out, b"<presence to='new@x' type='x'/>");
    }

    #[test]
    fn recipient_text_marker() {
        let mut e = Element::parse(b"<message from='r@muc'><x xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='none'>M</user></x><body/></message>").unwrap();
        let t = Template::new(&e.walk(), Some(b"M"));
        let mut out = Vec::new();
        t.render(b"a&b@x", &mut out);
        // same as the element with the text replaced and `to` added
        if let XNode::Element(x) = &mut e.children[0] {
            if let XNode::Element(u) = &mut x.children[0] {
                u.children[0] = XNode::Text("a&b@x".into());
            }
        }
        assert_eq!(out, with_to(&e, "a&b@x"));
    }
}
