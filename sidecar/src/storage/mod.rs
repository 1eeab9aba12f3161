//! Room storage for the component: MUC Light rooms (the core's
//! [`RoomStore`]) and the room archive, behind one trait, [`Storage`], with
//! two implementations of the same semantics:
//! - [`sqlite::SqliteStore`], the embedded default (one file, one instance);
//! - [`postgres::PgStore`], PostgreSQL, which several component instances
//!   can share (row locks keep a room's version and affiliations
//!   consistent, archive ids come from the database's clock).
//!
//! Everything here is synchronous. The component calls it from one
//! dedicated thread (`component::worker`) fed through a bounded channel, so
//! no tokio worker ever waits on the disk or the database.

pub mod postgres;
pub mod sqlite;

use xmpp_accel_core::muclight::{BareJid, RoomStore, StoreError};

pub use self::postgres::{PgStore, PgTail, TailBatch, TailEvent, TailPosition};
pub use sqlite::{ArchivedMessage, SqliteStore};

/// The component's storage: rooms ([`RoomStore`]), the room archive and the
/// members' online resources. The worker wraps each stanza's calls in
/// [`Storage::begin`] / [`Storage::commit`] (or [`Storage::rollback`]).
pub trait Storage: RoomStore + Send {
    /// Starts a transaction: every write until [`Storage::commit`] is one
    /// atomic change. Inside it, reading a room locks it against other
    /// writers (other instances) until the end of the transaction.
    fn begin(&mut self) -> Result<(), StoreError>;
    fn commit(&mut self) -> Result<(), StoreError>;
    fn rollback(&mut self) -> Result<(), StoreError>;

    /// Rooms and occupants (for the metrics).
    fn counts(&mut self) -> Result<(u64, u64), StoreError>;

    /// The archive id of `room`, creating one when `create`.
    fn archive_id(&mut self, room: &BareJid, create: bool) -> Result<Option<u64>, StoreError>;
    /// Every archive: (id, room), by id.
    fn archives(&mut self) -> Result<Vec<(u64, String)>, StoreError>;
    /// A new mam id: unique over the whole storage (every instance sharing
    /// it), above every id handed out before, and microseconds since 1970
    /// shifted left by 8 bits (so that `mam::stamp` gives its time).
    fn next_mam_id(&mut self) -> Result<u64, StoreError>;
    /// Stores one archived stanza.
    fn append(&mut self, m: &ArchivedMessage) -> Result<(), StoreError>;
    /// The highest mam id in any archive.
    fn last_mam_id(&mut self) -> Result<Option<u64>, StoreError>;
    /// Up to `limit` messages of an archive with mam id above `after`,
    /// oldest first (the index's catch-up).
    fn messages_after(
        &mut self,
        archive_id: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError>;
    /// The stanzas of these mam ids of an archive, in the order of `ids`
    /// (missing ones skipped).
    fn stanzas(&mut self, archive_id: u64, ids: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, StoreError>;
    /// Deletes a room's archive; its id, if it had one.
    fn delete_archive(&mut self, room: &BareJid) -> Result<Option<u64>, StoreError>;

    /// Applies changes to the stored online resources: (bare JID,
    /// resource, online), in one transaction of its own.
    fn update_resources(&mut self, changes: &[(String, String, bool)]) -> Result<(), StoreError>;
    /// The stored online resources: (bare JID, resource).
    fn resources(&mut self) -> Result<Vec<(String, String)>, StoreError>;

    /// Asks the archive tailer (PostgreSQL: `NOTIFY xa_archive`) to read
    /// now; nothing for storages without one.
    fn wake_tail(&mut self) -> Result<(), StoreError> {
        Ok(())
    }

    /// Whether `e` is a transient conflict with a concurrent writer
    /// (serialization failure, deadlock): the whole stanza may be retried
    /// after a rollback.
    fn is_conflict(&self, _e: &StoreError) -> bool {
        false
    }
}

/// Where the component keeps its rooms (`[component] storage`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Backend {
    /// The embedded SQLite database at this path.
    Sqlite(std::path::PathBuf),
    /// PostgreSQL: a libpq-style connection string (`host=... user=...` or
    /// `postgresql://...`) and the pool size.
    Postgres { url: String, pool: u32 },
}

/// Opens (and migrates) the storage of `backend`.
pub fn open(backend: &Backend) -> Result<Box<dyn Storage>, String> {
    match backend {
        Backend::Sqlite(path) => SqliteStore::open(path)
            .map(|s| Box::new(s) as Box<dyn Storage>)
            .map_err(|e| format!("{}: {e}", path.display())),
        Backend::Postgres { url, pool } => PgStore::connect(url, *pool)
            .map(|s| Box::new(s) as Box<dyn Storage>)
            .map_err(|e| format!("postgres: {e}")),
    }
}
