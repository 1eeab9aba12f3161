//! MUC Light broadcast fan-out: serialise a room's outgoing stanza once,
//! then write it for each member with that member's `to` (and, where a
//! notification names its recipient, the recipient's JID in the text).
//!
//! The bytes for a member are exactly what `exml:to_binary/1` gives for the
//! element with `to` set to the member's bare JID: exml writes attributes in
//! map order, which for the few attributes of a stanza is byte order, so
//! `to` goes where it sorts among them (an existing `to` is replaced).
//! Escaping and quoting follow exml ([`crate::xml::escape`]).

mod template;

pub use template::{Segment, Template};
