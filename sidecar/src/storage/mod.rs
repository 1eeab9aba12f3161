//! Room storage for the component: MUC Light rooms (the core's
//! [`RoomStore`](xmpp_accel_core::muclight::RoomStore)) and the room
//! archive, in one embedded SQLite database ([`sqlite::SqliteStore`]).
//!
//! Everything here is synchronous. The component calls it from one
//! dedicated thread (`component::worker`) fed through a bounded channel, so
//! no tokio worker ever waits on the disk.

pub mod sqlite;

pub use sqlite::{ArchivedMessage, SqliteStore};
