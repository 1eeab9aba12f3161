//! An owned element tree for Rust callers (the sidecar, tests, benchmarks).

use super::parser::{Mode, Parser};
use super::serialize::{write_element, Node as WalkNode, Style};
use super::tape::{Event, Item, Tape};
use super::{Limits, XmlError};
use std::ops::Range;

/// An XML element: name (with its prefix, as written), attributes in document
/// order, children.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Element {
    pub name: String,
    pub attrs: Vec<(String, String)>,
    pub children: Vec<Node>,
}

/// A child of an element.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    Element(Element),
    /// Character data, written escaped.
    Text(String),
    /// Character data, written as a CDATA section.
    CData(String),
}

impl Element {
    pub fn new(name: impl Into<String>) -> Self {
        Element {
            name: name.into(),
            ..Default::default()
        }
    }

    /// Builds the element whose items are `range` of `tape` (unclosed elements,
    /// as in a stream header, are closed at the end).
    pub fn from_tape(tape: &Tape, range: Range<usize>) -> Element {
        let text = |s| String::from_utf8_lossy(tape.get(s)).into_owned();
        let mut stack: Vec<Element> = Vec::new();
        let mut done = Element::default();
        for item in &tape.items[range] {
            match *item {
                Item::Start { name, .. } => stack.push(Element::new(text(name))),
                Item::Attr { name, value } => {
                    if let Some(top) = stack.last_mut() {
                        top.attrs.push((text(name), text(value)));
                    }
                }
                Item::Text(s) => {
                    if let Some(top) = stack.last_mut() {
                        top.children.push(Node::Text(text(s)));
                    }
                }
                Item::End => {
                    let el = stack.pop().unwrap_or_default();
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(Node::Element(el)),
                        None => done = el,
                    }
                }
            }
        }
        // A stream header has no `End`: close what is open.
        while let Some(el) = stack.pop() {
            match stack.last_mut() {
                Some(parent) => parent.children.push(Node::Element(el)),
                None => done = el,
            }
        }
        done
    }

    /// Parses one whole element (XML 1.0 document with one root; comments
    /// and processing instructions skipped, DTDs rejected).
    pub fn parse(input: &[u8]) -> Result<Element, XmlError> {
        let mut parser = Parser::new(Mode::Document, Limits::default());
        parser.feed(input)?;
        parser.finish()?;
        match parser.tape().events.first() {
            Some(Event::Element(range)) => Ok(Element::from_tape(parser.tape(), range.clone())),
            _ => Err(XmlError::UnexpectedEof),
        }
    }

    /// The walk of this element, for [`write_element`].
    pub fn walk(&self) -> Vec<WalkNode<'_>> {
        let mut out = Vec::new();
        self.walk_into(&mut out);
        out
    }

    fn walk_into<'a>(&'a self, out: &mut Vec<WalkNode<'a>>) {
        out.push(WalkNode::Start(self.name.as_bytes()));
        for (k, v) in &self.attrs {
            out.push(WalkNode::Attr(k.as_bytes(), v.as_bytes()));
        }
        for child in &self.children {
            match child {
                Node::Element(e) => e.walk_into(out),
                Node::Text(t) => out.push(WalkNode::Text(t.as_bytes())),
                Node::CData(t) => out.push(WalkNode::CData(t.as_bytes())),
            }
        }
        out.push(WalkNode::End);
    }

    /// Serialises as `exml:to_binary/1` (`Style::Compact`) or
    /// `exml:to_pretty_iolist/1` (`Style::Pretty`).
    pub fn to_bytes(&self, style: Style) -> Vec<u8> {
        let mut out = Vec::new();
        write_element(&self.walk(), style, &mut out);
        out
    }

    /// The first attribute named `name`.
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}
