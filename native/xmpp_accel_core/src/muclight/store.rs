//! Room state and the storage trait the [`super::Service`] reads and writes.
//!
//! The shapes follow MongooseIM's `mod_muc_light_db_backend`: a room is its
//! configuration (field name -> value as text), its affiliated users with one
//! version string for both, and each user has a blocking list of rooms and
//! users. Storage is synchronous: the sidecar implements [`RoomStore`] over
//! SQLite or PostgreSQL and calls [`super::Service::handle`] on a blocking
//! thread, ideally with the store being one transaction (every read and write
//! of one stanza inside it; roll it back when `handle` returns an error).

use super::Affiliation;
use jid::BareJid;
use std::collections::{BTreeMap, BTreeSet};

/// An error from a [`RoomStore`] implementation (I/O, SQL, ...), passed
/// through [`super::HandleError`] to the caller untouched.
pub type StoreError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// What a blocking item names: a room or a user (`<room/>` or `<user/>` in
/// `urn:xmpp:muclight:0#blocking`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum BlockKind {
    /// `<room/>`: a room's bare JID.
    Room,
    /// `<user/>`: a user's bare JID.
    User,
}

impl BlockKind {
    /// The element name on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            BlockKind::Room => "room",
            BlockKind::User => "user",
        }
    }
}

/// One blocking-list entry of a user: "do not add me to this room" or "do not
/// let this user add me to rooms".
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlockItem {
    /// Room or user.
    pub kind: BlockKind,
    /// Its bare JID.
    pub jid: BareJid,
}

/// A change to a blocking list: `deny` adds the item, `allow` removes it
/// (removing an absent item is not an error).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlockChange {
    /// The item.
    pub item: BlockItem,
    /// `action='deny'` (true) or `action='allow'` (false).
    pub deny: bool,
}

/// A room as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Room {
    /// Configuration, one entry per field of the service's
    /// [`super::ConfigSchema`], value as its canonical text.
    pub config: Vec<(String, String)>,
    /// Occupants (never [`Affiliation::None`]), sorted by
    /// [`super::user_order`] (node, then domain).
    pub affiliations: Vec<(BareJid, Affiliation)>,
    /// The room version: changes with every configuration or occupant change.
    pub version: String,
}

impl Room {
    /// The affiliation of `user`, if they occupy the room.
    pub fn affiliation(&self, user: &BareJid) -> Option<Affiliation> {
        self.affiliations
            .iter()
            .find(|(u, _)| u == user)
            .map(|(_, a)| *a)
    }
}

/// Synchronous room storage.
///
/// Every method takes `&mut self` so that an implementation can be a
/// transaction. Methods that write are only called after the protocol checks
/// passed; the `Service` never writes on a path that then answers with an error.
pub trait RoomStore {
    /// The room, if it exists.
    fn room(&mut self, room: &BareJid) -> Result<Option<Room>, StoreError>;

    /// The occupants of the room, if it exists: all a room message needs
    /// (MongooseIM caches exactly this, `cache_affs`). The default reads the
    /// whole room; a backend may answer from a cache or a narrower query.
    fn room_affiliations(
        &mut self,
        room: &BareJid,
    ) -> Result<Option<Vec<(BareJid, Affiliation)>>, StoreError> {
        Ok(self.room(room)?.map(|r| r.affiliations))
    }

    /// Stores a new room; `Ok(false)` (nothing written) if `room` exists.
    /// Also records `room` in each occupant's room list.
    fn create_room(&mut self, room: &BareJid, data: &Room) -> Result<bool, StoreError>;

    /// Replaces the configuration and the version of an existing room.
    fn set_config(
        &mut self,
        room: &BareJid,
        config: &[(String, String)],
        version: &str,
    ) -> Result<(), StoreError>;

    /// Replaces the occupants and the version of an existing room. `joined`
    /// and `left` are the users to add to / remove from their room lists.
    fn set_affiliations(
        &mut self,
        room: &BareJid,
        affiliations: &[(BareJid, Affiliation)],
        version: &str,
        joined: &[BareJid],
        left: &[BareJid],
    ) -> Result<(), StoreError>;

    /// Removes the room and its entries in its occupants' room lists.
    fn destroy_room(&mut self, room: &BareJid) -> Result<(), StoreError>;

    /// The rooms `user` occupies (any order).
    fn user_rooms(&mut self, user: &BareJid) -> Result<Vec<BareJid>, StoreError>;

    /// How many rooms `user` occupies (for `rooms_per_user`).
    fn user_room_count(&mut self, user: &BareJid) -> Result<usize, StoreError> {
        Ok(self.user_rooms(user)?.len())
    }

    /// `user`'s blocking list (only denials are stored).
    fn blocking(&mut self, user: &BareJid) -> Result<Vec<BlockItem>, StoreError>;

    /// Whether `user`'s blocking list holds any of `items`.
    fn is_blocked(&mut self, user: &BareJid, items: &[BlockItem]) -> Result<bool, StoreError> {
        let list = self.blocking(user)?;
        Ok(items.iter().any(|i| list.contains(i)))
    }

    /// Applies `changes` to `user`'s blocking list, in order.
    fn set_blocking(&mut self, user: &BareJid, changes: &[BlockChange]) -> Result<(), StoreError>;
}

/// An in-memory [`RoomStore`], for tests and for a sidecar without storage.
#[derive(Clone, Debug, Default)]
pub struct MemoryStore {
    rooms: BTreeMap<BareJid, Room>,
    user_rooms: BTreeMap<BareJid, BTreeSet<BareJid>>,
    blocking: BTreeMap<BareJid, Vec<BlockItem>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    /// All rooms, by room JID.
    pub fn rooms(&self) -> &BTreeMap<BareJid, Room> {
        &self.rooms
    }

    fn link(&mut self, user: &BareJid, room: &BareJid) {
        self.user_rooms
            .entry(user.clone())
            .or_default()
            .insert(room.clone());
    }

    fn unlink(&mut self, user: &BareJid, room: &BareJid) {
        if let Some(set) = self.user_rooms.get_mut(user) {
            set.remove(room);
            if set.is_empty() {
                self.user_rooms.remove(user);
            }
        }
    }
}

fn missing(room: &BareJid) -> StoreError {
    format!("no room {room}").into()
}

impl RoomStore for MemoryStore {
    fn room(&mut self, room: &BareJid) -> Result<Option<Room>, StoreError> {
        Ok(self.rooms.get(room).cloned())
    }

    fn create_room(&mut self, room: &BareJid, data: &Room) -> Result<bool, StoreError> {
        if self.rooms.contains_key(room) {
            return Ok(false);
        }
        for (u, _) in &data.affiliations {
            self.link(u, room);
        }
        self.rooms.insert(room.clone(), data.clone());
        Ok(true)
    }

    fn set_config(
        &mut self,
        room: &BareJid,
        config: &[(String, String)],
        version: &str,
    ) -> Result<(), StoreError> {
        let r = self.rooms.get_mut(room).ok_or_else(|| missing(room))?;
        r.config = config.to_vec();
        r.version = version.to_owned();
        Ok(())
    }

    fn set_affiliations(
        &mut self,
        room: &BareJid,
        affiliations: &[(BareJid, Affiliation)],
        version: &str,
        joined: &[BareJid],
        left: &[BareJid],
    ) -> Result<(), StoreError> {
        let r = self.rooms.get_mut(room).ok_or_else(|| missing(room))?;
        r.affiliations = affiliations.to_vec();
        r.version = version.to_owned();
        for u in joined {
            self.link(u, room);
        }
        for u in left {
            self.unlink(u, room);
        }
        Ok(())
    }

    fn destroy_room(&mut self, room: &BareJid) -> Result<(), StoreError> {
        if let Some(r) = self.rooms.remove(room) {
            for (u, _) in &r.affiliations {
                self.unlink(u, room);
            }
        }
        Ok(())
    }

    fn user_rooms(&mut self, user: &BareJid) -> Result<Vec<BareJid>, StoreError> {
        Ok(self
            .user_rooms
            .get(user)
            .map(|s| s.iter().cloned().collect())
            .unwrap_or_default())
    }

    fn blocking(&mut self, user: &BareJid) -> Result<Vec<BlockItem>, StoreError> {
        Ok(self.blocking.get(user).cloned().unwrap_or_default())
    }

    fn set_blocking(&mut self, user: &BareJid, changes: &[BlockChange]) -> Result<(), StoreError> {
        let list = self.blocking.entry(user.clone()).or_default();
        for c in changes {
            list.retain(|i| *i != c.item);
            if c.deny {
                list.push(c.item.clone());
            }
        }
        if list.is_empty() {
            self.blocking.remove(user);
        }
        Ok(())
    }
}
