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

/// Writes the element that `nodes` walks (one balanced `Start`..`End`) to `out`.
///
/// `nodes` must be balanced; extra `End`s are ignored.
pub fn write_element(nodes: &[Node<'_>], style: Style, out: &mut Vec<u8>) {
    let pretty = style == Style::Pretty;
    let mut names: Vec<&[u8]> = Vec::with_capacity(16);
    let mut i = 0;
    while i < nodes.len() {
        let indent = names.len() * 2;
        match nodes[i] {
            Node::Start(name) => {
                if pretty {
                    spaces(out, indent);
                }
                out.push(b'<');
                out.extend_from_slice(name);
                i += 1;
                while let Some(Node::Attr(k, v)) = nodes.get(i) {
                    out.push(b' ');
                    out.extend_from_slice(k);
                    out.push(b'=');
                    write_attr_value(v, out);
                    i += 1;
                }
                match (nodes.get(i), nodes.get(i + 1)) {
                    (Some(Node::End) | None, _) => {
                        out.extend_from_slice(b"/>");
                        if pretty {
                            out.push(b'\n');
                        }
                        i += 1;
                    }
                    (Some(Node::Text(t)), Some(Node::End)) => {
                        out.push(b'>');
                        escape_text(t, out);
                        close(out, name, pretty);
                        i += 2;
                    }
                    _ => {
                        out.push(b'>');
                        if pretty {
                            out.push(b'\n');
                        }
                        names.push(name);
                    }
                }
                continue;
            }
            Node::Attr(..) => {} // stray attribute after children: nothing sensible to write
            Node::Text(t) => {
                if pretty {
                    spaces(out, indent);
                }
                escape_text(t, out);
                if pretty {
                    out.push(b'\n');
                }
            }
            Node::CData(t) => {
                if pretty {
                    spaces(out, indent);
                }
                write_cdata(t, out);
                if pretty {
                    out.push(b'\n');
                }
            }
            Node::End => {
                if let Some(name) = names.pop() {
                    if pretty {
                        spaces(out, indent - 2);
                    }
                    close(out, name, pretty);
                }
            }
        }
        i += 1;
    }
    if pretty {
        out.push(b'\n');
    }
}

fn close(out: &mut Vec<u8>, name: &[u8], pretty: bool) {
    out.extend_from_slice(b"</");
    out.extend_from_slice(name);
    out.push(b'>');
    if pretty {
        out.push(b'\n');
    }
}

fn spaces(out: &mut Vec<u8>, n: usize) {
    out.resize(out.len() + n, b' ');
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
