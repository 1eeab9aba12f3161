//! XML for XMPP: an incremental, strict parser (XML 1.0 as restricted by
//! RFC 6120 §11) and an exml-compatible serialiser.
//!
//! - [`Parser`]: feed chunks, read complete [`Event`]s from its [`Tape`].
//! - [`Element::parse`] / [`Element::to_bytes`]: whole elements for Rust callers.
//! - [`serialize`]: writing from a borrowed walk ([`serialize::Node`]).

pub mod chars;
pub mod error;
pub mod escape;
pub mod framing;
pub mod fxml_ns;
pub mod limits;
pub mod namespaces;
pub mod parser;
pub mod serialize;
pub mod tag;
pub mod tape;
pub mod tree;

pub use error::XmlError;
pub use limits::Limits;
pub use parser::{Mode, Parser, Whitespace};
pub use serialize::Style;
pub use tape::{Event, Item, Span, Tape};
pub use tree::{Element, Node};

#[cfg(test)]
mod parser_tests;
