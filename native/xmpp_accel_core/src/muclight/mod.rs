//! MUC Light (`urn:xmpp:muclight:0`, MongooseIM's open extension
//! `doc/open-extensions/muc_light.md`) as sans-I/O protocol logic.
//!
//! A [`Service`] hosts the rooms of one component domain (for example
//! `muclight.example.com`). It takes one incoming stanza (a parsed
//! [`crate::xml::Element`]) with its sender's full JID, reads and writes
//! room state through a synchronous [`RoomStore`], and returns the
//! [`Output`]s to send, in order:
//!
//! - [`Output::Direct`]: an IQ result or error, or a message error, addressed
//!   to the sender's full JID;
//! - [`Output::Broadcast`]: a room stanza (groupchat message or
//!   notification) without `to`, and the bare JIDs of the members that get
//!   it. A component cannot send `type='groupchat'` to a bare JID (servers
//!   bounce it), so the caller maps each member to their online resources
//!   and writes one copy per resource with the fan-out template
//!   ([`Broadcast::template`], [`crate::fanout::Template`]);
//! - [`Output::Archive`]: a stanza for the room archive (what MongooseIM
//!   hands to `mod_mam_muc` through its `filter_room_packet` hook);
//! - [`Output::RoomDestroyed`]: the room is gone; delete its archive (as
//!   MongooseIM's `forget_room` hook does).
//!
//! Behaviour follows MongooseIM's `mod_muc_light` (codec, room logic, option
//! semantics, error conditions and texts); the few places where it does
//! not are listed on [`Service`].
//!
//! ```
//! use xmpp_accel_core::muclight::{Jid, MemoryStore, Options, Output, Service};
//! use xmpp_accel_core::xml::{Element, Style};
//!
//! let service = Service::new("muclight.example.com", Options::default()).unwrap();
//! let mut store = MemoryStore::new(); // the sidecar: SQLite in a transaction
//! let from = Jid::new("alice@example.com/phone").unwrap();
//! let create = Element::parse(
//!     b"<iq from='alice@example.com/phone' to='coven@muclight.example.com' id='c1' type='set'>\
//!       <query xmlns='urn:xmpp:muclight:0#create'><occupants>\
//!       <user affiliation='member'>bob@example.com</user></occupants></query></iq>",
//! )
//! .unwrap();
//! let mut wire: Vec<u8> = Vec::new(); // what goes to the XEP-0114 connection
//! for out in service.handle(&mut store, &from, &create).unwrap() {
//!     match out {
//!         Output::Direct { stanza, .. } => wire.extend(stanza.to_bytes(Style::Compact)),
//!         Output::Broadcast(b) => {
//!             let template = b.template(); // serialised once
//!             for member in &b.recipients {
//!                 // one copy per online resource of the member
//!                 let resource = format!("{member}/phone");
//!                 template.render(resource.as_bytes(), &mut wire);
//!             }
//!         }
//!         Output::Archive(_entry) => { /* store _entry.stanza in the room archive */ }
//!         Output::RoomDestroyed(_room) => { /* delete the room's archive */ }
//!     }
//! }
//! let wire = String::from_utf8(wire).unwrap();
//! assert!(wire.contains("to='bob@example.com/phone'"));
//! assert!(wire.ends_with("type='result'/>"));
//! ```

#![warn(missing_docs)]

mod affs;
mod codec;
mod config;
pub mod conformance;
mod service;
#[cfg(test)]
mod service_tests;
mod store;

pub use affs::{apply_changes, user_order, AffChange, Affiliation, OwnerRules};
pub use config::{ConfigSchema, ConfigValue, Options, SchemaError, SchemaField};
pub use service::{ArchiveEntry, Broadcast, HandleError, InvalidDomain, Output, Service};
pub use store::{BlockChange, BlockItem, BlockKind, MemoryStore, Room, RoomStore, StoreError};

/// Re-exported: the JID types of the API (xmpp-rs `jid` crate).
pub use jid::{BareJid, Jid};

use crate::xml::{Element, Node};

/// Namespaces.
pub mod ns {
    /// The MUC Light feature.
    pub const MUCLIGHT: &str = "urn:xmpp:muclight:0";
    /// Room configuration: get, set, change notifications.
    pub const CONFIGURATION: &str = "urn:xmpp:muclight:0#configuration";
    /// Occupants: get, set, change notifications.
    pub const AFFILIATIONS: &str = "urn:xmpp:muclight:0#affiliations";
    /// Configuration and occupants in one get.
    pub const INFO: &str = "urn:xmpp:muclight:0#info";
    /// Blocking lists.
    pub const BLOCKING: &str = "urn:xmpp:muclight:0#blocking";
    /// Room creation.
    pub const CREATE: &str = "urn:xmpp:muclight:0#create";
    /// Room destruction (request and notification).
    pub const DESTROY: &str = "urn:xmpp:muclight:0#destroy";
    /// XEP-0030 info.
    pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
    /// XEP-0030 items.
    pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
    /// XEP-0059
    pub const RSM: &str = "http://jabber.org/protocol/rsm";
    /// RFC 6120 §8.3 stanza error conditions.
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
}

/// A stanza error the service answers with (RFC 6120 §8.3), as MongooseIM's
/// `mongoose_xmpp_errors` builds it: `<error code='...' type='...'>` with
/// the condition and an optional `<text/>`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum StanzaError {
    /// 400 modify `bad-request`
    #[error("bad-request{}", .0.as_deref().map(|t| format!(": {t}")).unwrap_or_default())]
    BadRequest(Option<String>),
    /// 404 cancel `item-not-found`: unknown room, or the sender is not an occupant.
    #[error("item-not-found")]
    ItemNotFound,
    /// 405 cancel `not-allowed`: an occupant without the right.
    #[error("not-allowed")]
    NotAllowed,
    /// 409 cancel `conflict`
    #[error("conflict: {0}")]
    Conflict(String),
    /// 501 cancel `feature-not-implemented`
    #[error("feature-not-implemented: {0}")]
    FeatureNotImplemented(String),
    /// 500 wait `internal-server-error` (storage failed)
    #[error("internal-server-error")]
    InternalServerError,
}

impl StanzaError {
    /// MongooseIM's `bad_request` without a reason: "Uncategorized bad request".
    pub fn bad_request() -> Self {
        StanzaError::BadRequest(Some("Uncategorized bad request".into()))
    }

    /// `bad-request` with a `<text/>`.
    pub fn bad_request_text(t: &str) -> Self {
        StanzaError::BadRequest(Some(t.into()))
    }

    /// The `<error/>` element.
    pub fn to_element(&self) -> Element {
        let (code, kind, cond, text) = match self {
            StanzaError::BadRequest(t) => ("400", "modify", "bad-request", t.as_deref()),
            StanzaError::ItemNotFound => ("404", "cancel", "item-not-found", None),
            StanzaError::NotAllowed => ("405", "cancel", "not-allowed", None),
            StanzaError::Conflict(t) => ("409", "cancel", "conflict", Some(t.as_str())),
            StanzaError::FeatureNotImplemented(t) => {
                ("501", "cancel", "feature-not-implemented", Some(t.as_str()))
            }
            StanzaError::InternalServerError => ("500", "wait", "internal-server-error", None),
        };
        let mut children = vec![codec::node(codec::el(
            cond,
            &[("xmlns", ns::STANZAS)],
            vec![],
        ))];
        if let Some(t) = text {
            children.push(codec::node(codec::el(
                "text",
                &[("xmlns", ns::STANZAS)],
                vec![Node::Text(t.to_owned())],
            )));
        }
        codec::el("error", &[("code", code), ("type", kind)], children)
    }
}
