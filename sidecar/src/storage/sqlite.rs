//! The embedded store: SQLite (bundled), WAL mode, a schema versioned by
//! `PRAGMA user_version` and migrated forward on open.
//!
//! Tables (schema 1):
//! - `rooms(jid, version)`, `room_config(room, pos, key, value)`,
//!   `affiliations(room, user, affiliation)` (a user's room list is the
//!   `affiliations` rows of that user, through an index);
//! - `blocking(seq, user, kind, jid)`: denials only, `seq` keeps their order;
//! - `archives(id, room)`: one archive per room life (a destroyed room's
//!   archive is deleted; a new room of the same name gets a new id);
//! - `archive(archive_id, mam_id, sender, body, stanza)`: the archived
//!   stanzas (compact XML, without `to`), `mam_id` the XEP-0359 stanza-id.
//!
//! Schema 2 adds `online_resources(user, resource)`: the members' online
//! resources as the component last knew them.
//!
//! [`SqliteStore`] implements the core's [`RoomStore`]; the component wraps
//! each stanza's calls in [`SqliteStore::begin`] / [`SqliteStore::commit`]
//! (or [`SqliteStore::rollback`] when the service reports a storage error).

use std::collections::HashMap;
use std::path::Path;

use std::time::{SystemTime, UNIX_EPOCH};

use rusqlite::{params, Connection, OptionalExtension};
use xmpp_accel_core::muclight::{
    user_order, Affiliation, BareJid, BlockChange, BlockItem, BlockKind, Room, RoomStore,
    StoreError,
};

use super::Storage;

/// Schema migrations, in order: `MIGRATIONS[n]` takes `user_version` n to n+1.
const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE rooms (
    jid TEXT PRIMARY KEY NOT NULL,
    version TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE room_config (
    room TEXT NOT NULL REFERENCES rooms(jid) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room, pos)
) WITHOUT ROWID;
CREATE TABLE affiliations (
    room TEXT NOT NULL REFERENCES rooms(jid) ON DELETE CASCADE,
    user TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (room, user)
) WITHOUT ROWID;
CREATE INDEX affiliations_user ON affiliations(user);
CREATE TABLE blocking (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    user TEXT NOT NULL,
    kind TEXT NOT NULL,
    jid TEXT NOT NULL,
    UNIQUE (user, kind, jid)
);
CREATE TABLE archives (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    room TEXT NOT NULL UNIQUE
);
CREATE TABLE archive (
    archive_id INTEGER NOT NULL,
    mam_id INTEGER NOT NULL,
    sender TEXT,
    body TEXT NOT NULL,
    stanza BLOB NOT NULL,
    PRIMARY KEY (archive_id, mam_id)
) WITHOUT ROWID;
"#,
    // 2: members' online resources, so that a restarted component still
    // reaches members who came online before it (stale ones bounce once)
    r#"
CREATE TABLE online_resources (
    user TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (user, resource)
) WITHOUT ROWID;
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// One archived stanza.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ArchivedMessage {
    pub archive_id: u64,
    pub mam_id: u64,
    /// The occupant who sent it (bare JID); `None` for room notifications.
    pub sender: Option<String>,
    /// The `<body/>` text ("" if none), for the full-text index.
    pub body: String,
    /// The stanza, compact XML.
    pub stanza: Vec<u8>,
}

/// Rooms and archive in one SQLite database.
pub struct SqliteStore {
    conn: Connection,
    /// The last mam id handed out (one process owns the file).
    last_id: u64,
    /// Occupants read before, per room, with the room version they were
    /// read at: a room message reads the room's version (one row) and
    /// reuses them while it is unchanged, instead of reading and parsing
    /// every occupant row again. Every occupant change stores a new version
    /// (the core's `Service` makes each one unique), and a rolled-back
    /// change restores the old one, so a version match means the same
    /// occupants.
    occupants: OccupantCache,
}

/// Bounded: at most [`OccupantCache::MAX_ENTRIES`] occupants over all rooms
/// (emptied when full).
#[derive(Default)]
struct OccupantCache {
    rooms: HashMap<String, (String, Vec<(BareJid, Affiliation)>)>,
    entries: usize,
}

impl OccupantCache {
    const MAX_ENTRIES: usize = 200_000;

    fn get(&self, room: &str, version: &str) -> Option<&Vec<(BareJid, Affiliation)>> {
        self.rooms
            .get(room)
            .filter(|(v, _)| v == version)
            .map(|(_, affs)| affs)
    }

    fn put(&mut self, room: &str, version: String, affs: Vec<(BareJid, Affiliation)>) {
        if let Some((_, old)) = self.rooms.remove(room) {
            self.entries -= old.len();
        }
        if affs.len() > Self::MAX_ENTRIES {
            return;
        }
        if self.entries + affs.len() > Self::MAX_ENTRIES {
            self.rooms.clear();
            self.entries = 0;
        }
        self.entries += affs.len();
        self.rooms.insert(room.to_owned(), (version, affs));
    }
}

fn err(e: rusqlite::Error) -> StoreError {
    Box::new(e)
}

fn jid(s: &str) -> Result<BareJid, StoreError> {
    BareJid::new(s).map_err(|e| format!("stored JID {s:?}: {e}").into())
}

fn kind_text(k: BlockKind) -> &'static str {
    k.as_str()
}

impl SqliteStore {
    /// Opens (creating if needed) the database at `path`, in WAL mode, and
    /// migrates its schema to [`SCHEMA_VERSION`]. A database written by a
    /// newer build (higher version) is refused.
    pub fn open(path: &Path) -> Result<SqliteStore, StoreError> {
        if let Some(dir) = path.parent() {
            if !dir.as_os_str().is_empty() {
                std::fs::create_dir_all(dir)?;
            }
        }
        let conn = Connection::open(path).map_err(err)?;
        Self::setup(conn)
    }

    /// A private in-memory database (tests).
    pub fn in_memory() -> Result<SqliteStore, StoreError> {
        Self::setup(Connection::open_in_memory().map_err(err)?)
    }

    fn setup(conn: Connection) -> Result<SqliteStore, StoreError> {
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(err)?;
        // WAL: readers do not block the writer; synchronous=FULL so that an
        // acknowledged (echoed) message survives a power cut as well as a
        // kill -9 (NORMAL would only survive the latter).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "FULL")
            .map_err(err)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(err)?;
        let mut store = SqliteStore {
            conn,
            last_id: 0,
            occupants: OccupantCache::default(),
        };
        store.migrate()?;
        store.last_id = store.last_mam_id()?.unwrap_or(0);
        Ok(store)
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<usize, StoreError> {
        let v: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(err)?;
        Ok(v as usize)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let from = self.schema_version()?;
        if from > SCHEMA_VERSION {
            return Err(format!(
                "the database has schema version {from}; this build knows up to {SCHEMA_VERSION}"
            )
            .into());
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            let tx = self.conn.transaction().map_err(err)?;
            tx.execute_batch(sql).map_err(err)?;
            tx.pragma_update(None, "user_version", (n + 1) as i64)
                .map_err(err)?;
            tx.commit().map_err(err)?;
            tracing::info!(version = n + 1, "room storage: schema migrated");
        }
        Ok(())
    }

    /// Starts a transaction (every write until [`SqliteStore::commit`] is
    /// one atomic change).
    pub fn begin(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("BEGIN IMMEDIATE").map_err(err)
    }

    pub fn commit(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("COMMIT").map_err(err)
    }

    pub fn rollback(&mut self) -> Result<(), StoreError> {
        self.conn.execute_batch("ROLLBACK").map_err(err)
    }

    /// Rooms and occupants (for the metrics).
    pub fn counts(&mut self) -> Result<(u64, u64), StoreError> {
        let rooms: i64 = self
            .conn
            .query_row("SELECT count(*) FROM rooms", [], |r| r.get(0))
            .map_err(err)?;
        let members: i64 = self
            .conn
            .query_row("SELECT count(*) FROM affiliations", [], |r| r.get(0))
            .map_err(err)?;
        Ok((rooms as u64, members as u64))
    }

    // ---- archive ----

    /// The archive id of `room`, creating one when `create`.
    pub fn archive_id(&mut self, room: &BareJid, create: bool) -> Result<Option<u64>, StoreError> {
        let room = room.as_str();
        let found: Option<i64> = self
            .conn
            .query_row("SELECT id FROM archives WHERE room = ?1", [room], |r| {
                r.get(0)
            })
            .optional()
            .map_err(err)?;
        match (found, create) {
            (Some(id), _) => Ok(Some(id as u64)),
            (None, false) => Ok(None),
            (None, true) => {
                self.conn
                    .execute("INSERT INTO archives (room) VALUES (?1)", [room])
                    .map_err(err)?;
                Ok(Some(self.conn.last_insert_rowid() as u64))
            }
        }
    }

    /// Every archive: (id, room).
    pub fn archives(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT id, room FROM archives ORDER BY id")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// Stores one archived stanza.
    pub fn append(&mut self, m: &ArchivedMessage) -> Result<(), StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO archive (archive_id, mam_id, sender, body, stanza) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .map_err(err)?
            .execute(params![
                m.archive_id as i64,
                m.mam_id as i64,
                m.sender,
                m.body,
                m.stanza
            ])
            .map_err(err)?;
        Ok(())
    }

    /// The highest mam id in any archive (ids stay increasing across restarts).
    pub fn last_mam_id(&mut self) -> Result<Option<u64>, StoreError> {
        let v: Option<i64> = self
            .conn
            .query_row("SELECT max(mam_id) FROM archive", [], |r| r.get(0))
            .map_err(err)?;
        Ok(v.map(|v| v as u64))
    }

    /// Up to `limit` messages of an archive with mam id above `after`, oldest
    /// first (the index's catch-up).
    pub fn messages_after(
        &mut self,
        archive_id: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        let after = after.map(|a| a as i64).unwrap_or(-1);
        let mut st = self
            .conn
            .prepare_cached(
                "SELECT mam_id, sender, body, stanza FROM archive WHERE archive_id = ?1 AND mam_id > ?2 ORDER BY mam_id LIMIT ?3",
            )
            .map_err(err)?;
        let rows = st
            .query_map(params![archive_id as i64, after, limit as i64], |r| {
                Ok(ArchivedMessage {
                    archive_id,
                    mam_id: r.get::<_, i64>(0)? as u64,
                    sender: r.get(1)?,
                    body: r.get(2)?,
                    stanza: r.get(3)?,
                })
            })
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    /// The stanzas of these mam ids of an archive, in the order of `ids`
    /// (missing ones skipped).
    pub fn stanzas(
        &mut self,
        archive_id: u64,
        ids: &[u64],
    ) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT stanza FROM archive WHERE archive_id = ?1 AND mam_id = ?2")
            .map_err(err)?;
        let mut out = Vec::with_capacity(ids.len());
        for &id in ids {
            let s: Option<Vec<u8>> = st
                .query_row(params![archive_id as i64, id as i64], |r| r.get(0))
                .optional()
                .map_err(err)?;
            if let Some(s) = s {
                out.push((id, s));
            }
        }
        Ok(out)
    }

    /// Deletes a room's archive; its id, if it had one.
    pub fn delete_archive(&mut self, room: &BareJid) -> Result<Option<u64>, StoreError> {
        let Some(id) = self.archive_id(room, false)? else {
            return Ok(None);
        };
        self.conn
            .execute("DELETE FROM archive WHERE archive_id = ?1", [id as i64])
            .map_err(err)?;
        self.conn
            .execute("DELETE FROM archives WHERE id = ?1", [id as i64])
            .map_err(err)?;
        Ok(Some(id))
    }

    /// Applies changes to the stored online resources: (bare JID,
    /// resource, online), in one transaction.
    pub fn update_resources(
        &mut self,
        changes: &[(String, String, bool)],
    ) -> Result<(), StoreError> {
        let tx = self.conn.transaction().map_err(err)?;
        for (u, r, online) in changes {
            let sql = if *online {
                "INSERT OR IGNORE INTO online_resources (user, resource) VALUES (?1, ?2)"
            } else {
                "DELETE FROM online_resources WHERE user = ?1 AND resource = ?2"
            };
            tx.prepare_cached(sql)
                .map_err(err)?
                .execute(params![u, r])
                .map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    /// The stored online resources: (bare JID, resource).
    pub fn resources(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        let mut st = self
            .conn
            .prepare("SELECT user, resource FROM online_resources")
            .map_err(err)?;
        let rows = st
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(err)?;
        rows.collect::<Result<_, _>>().map_err(err)
    }

    fn write_config(&mut self, room: &str, config: &[(String, String)]) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM room_config WHERE room = ?1", [room])
            .map_err(err)?;
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO room_config (room, pos, key, value) VALUES (?1, ?2, ?3, ?4)",
            )
            .map_err(err)?;
        for (pos, (k, v)) in config.iter().enumerate() {
            st.execute(params![room, pos as i64, k, v]).map_err(err)?;
        }
        Ok(())
    }

    fn write_affiliations(
        &mut self,
        room: &str,
        affs: &[(BareJid, Affiliation)],
    ) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM affiliations WHERE room = ?1", [room])
            .map_err(err)?;
        let mut st = self
            .conn
            .prepare_cached(
                "INSERT INTO affiliations (room, user, affiliation) VALUES (?1, ?2, ?3)",
            )
            .map_err(err)?;
        for (u, a) in affs {
            st.execute(params![room, u.as_str(), a.as_str()])
                .map_err(err)?;
        }
        Ok(())
    }
}

impl Storage for SqliteStore {
    fn begin(&mut self) -> Result<(), StoreError> {
        SqliteStore::begin(self)
    }
    fn commit(&mut self) -> Result<(), StoreError> {
        SqliteStore::commit(self)
    }
    fn rollback(&mut self) -> Result<(), StoreError> {
        SqliteStore::rollback(self)
    }
    fn counts(&mut self) -> Result<(u64, u64), StoreError> {
        SqliteStore::counts(self)
    }
    fn archive_id(&mut self, room: &BareJid, create: bool) -> Result<Option<u64>, StoreError> {
        SqliteStore::archive_id(self, room, create)
    }
    fn archives(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        SqliteStore::archives(self)
    }
    /// The process's clock: `max(now_us << 8, last + 1)`.
    fn next_mam_id(&mut self) -> Result<u64, StoreError> {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default()
            .as_micros() as u64;
        self.last_id = (us << 8).max(self.last_id + 1);
        Ok(self.last_id)
    }
    fn append(&mut self, m: &ArchivedMessage) -> Result<(), StoreError> {
        SqliteStore::append(self, m)
    }
    fn last_mam_id(&mut self) -> Result<Option<u64>, StoreError> {
        SqliteStore::last_mam_id(self)
    }
    fn messages_after(
        &mut self,
        archive_id: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        SqliteStore::messages_after(self, archive_id, after, limit)
    }
    fn stanzas(&mut self, archive_id: u64, ids: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        SqliteStore::stanzas(self, archive_id, ids)
    }
    fn delete_archive(&mut self, room: &BareJid) -> Result<Option<u64>, StoreError> {
        SqliteStore::delete_archive(self, room)
    }
    fn update_resources(&mut self, changes: &[(String, String, bool)]) -> Result<(), StoreError> {
        SqliteStore::update_resources(self, changes)
    }
    fn resources(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        SqliteStore::resources(self)
    }
}

impl RoomStore for SqliteStore {
    fn room(&mut self, room: &BareJid) -> Result<Option<Room>, StoreError> {
        let r = room.as_str();
        let version: Option<String> = self
            .conn
            .prepare_cached("SELECT version FROM rooms WHERE jid = ?1")
            .map_err(err)?
            .query_row([r], |row| row.get(0))
            .optional()
            .map_err(err)?;
        let Some(version) = version else {
            return Ok(None);
        };
        let config = {
            let mut st = self
                .conn
                .prepare_cached("SELECT key, value FROM room_config WHERE room = ?1 ORDER BY pos")
                .map_err(err)?;
            let rows = st
                .query_map([r], |row| Ok((row.get(0)?, row.get(1)?)))
                .map_err(err)?;
            rows.collect::<Result<Vec<(String, String)>, _>>()
                .map_err(err)?
        };
        let affiliations = self.room_affiliations(room)?.unwrap_or_default();
        Ok(Some(Room {
            config,
            affiliations,
            version,
        }))
    }

    fn room_affiliations(
        &mut self,
        room: &BareJid,
    ) -> Result<Option<Vec<(BareJid, Affiliation)>>, StoreError> {
        let r = room.as_str();
        let version: Option<String> = self
            .conn
            .prepare_cached("SELECT version FROM rooms WHERE jid = ?1")
            .map_err(err)?
            .query_row([r], |row| row.get(0))
            .optional()
            .map_err(err)?;
        let Some(version) = version else {
            return Ok(None);
        };
        if let Some(affs) = self.occupants.get(r, &version) {
            return Ok(Some(affs.clone()));
        }
        let mut st = self
            .conn
            .prepare_cached("SELECT user, affiliation FROM affiliations WHERE room = ?1")
            .map_err(err)?;
        let rows = st
            .query_map([r], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (u, a) = row.map_err(err)?;
            let a = Affiliation::parse(&a).ok_or_else(|| format!("stored affiliation {a:?}"))?;
            out.push((jid(&u)?, a));
        }
        out.sort_by(|a, b| user_order(&a.0, &b.0));
        self.occupants.put(r, version, out.clone());
        Ok(Some(out))
    }

    fn create_room(&mut self, room: &BareJid, data: &Room) -> Result<bool, StoreError> {
        let r = room.as_str();
        let n = self
            .conn
            .execute(
                "INSERT OR IGNORE INTO rooms (jid, version) VALUES (?1, ?2)",
                params![r, data.version],
            )
            .map_err(err)?;
        if n == 0 {
            return Ok(false);
        }
        self.write_config(r, &data.config)?;
        self.write_affiliations(r, &data.affiliations)?;
        Ok(true)
    }

    fn set_config(
        &mut self,
        room: &BareJid,
        config: &[(String, String)],
        version: &str,
    ) -> Result<(), StoreError> {
        let r = room.as_str();
        let n = self
            .conn
            .execute(
                "UPDATE rooms SET version = ?2 WHERE jid = ?1",
                params![r, version],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(format!("no room {r}").into());
        }
        self.write_config(r, config)
    }

    fn set_affiliations(
        &mut self,
        room: &BareJid,
        affiliations: &[(BareJid, Affiliation)],
        version: &str,
        _joined: &[BareJid],
        _left: &[BareJid],
    ) -> Result<(), StoreError> {
        // Room lists are the affiliation rows themselves (index on user).
        let r = room.as_str();
        let n = self
            .conn
            .execute(
                "UPDATE rooms SET version = ?2 WHERE jid = ?1",
                params![r, version],
            )
            .map_err(err)?;
        if n == 0 {
            return Err(format!("no room {r}").into());
        }
        self.write_affiliations(r, affiliations)
    }

    fn destroy_room(&mut self, room: &BareJid) -> Result<(), StoreError> {
        // room_config and affiliations go by ON DELETE CASCADE
        self.conn
            .execute("DELETE FROM rooms WHERE jid = ?1", [room.as_str()])
            .map_err(err)?;
        Ok(())
    }

    fn user_rooms(&mut self, user: &BareJid) -> Result<Vec<BareJid>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT room FROM affiliations WHERE user = ?1")
            .map_err(err)?;
        let rows = st
            .query_map([user.as_str()], |row| row.get::<_, String>(0))
            .map_err(err)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(jid(&r.map_err(err)?)?);
        }
        Ok(out)
    }

    fn user_room_count(&mut self, user: &BareJid) -> Result<usize, StoreError> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM affiliations WHERE user = ?1")
            .map_err(err)?
            .query_row([user.as_str()], |row| row.get(0))
            .map_err(err)?;
        Ok(n as usize)
    }

    fn blocking(&mut self, user: &BareJid) -> Result<Vec<BlockItem>, StoreError> {
        let mut st = self
            .conn
            .prepare_cached("SELECT kind, jid FROM blocking WHERE user = ?1 ORDER BY seq")
            .map_err(err)?;
        let rows = st
            .query_map([user.as_str()], |row| {
                Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?))
            })
            .map_err(err)?;
        let mut out = Vec::new();
        for row in rows {
            let (k, j) = row.map_err(err)?;
            let kind = match k.as_str() {
                "room" => BlockKind::Room,
                "user" => BlockKind::User,
                other => return Err(format!("stored blocking kind {other:?}").into()),
            };
            out.push(BlockItem {
                kind,
                jid: jid(&j)?,
            });
        }
        Ok(out)
    }

    fn set_blocking(&mut self, user: &BareJid, changes: &[BlockChange]) -> Result<(), StoreError> {
        let u = user.as_str();
        for c in changes {
            let (k, j) = (kind_text(c.item.kind), c.item.jid.as_str());
            self.conn
                .prepare_cached("DELETE FROM blocking WHERE user = ?1 AND kind = ?2 AND jid = ?3")
                .map_err(err)?
                .execute(params![u, k, j])
                .map_err(err)?;
            if c.deny {
                self.conn
                    .prepare_cached("INSERT INTO blocking (user, kind, jid) VALUES (?1, ?2, ?3)")
                    .map_err(err)?
                    .execute(params![u, k, j])
                    .map_err(err)?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use xmpp_accel_core::muclight::conformance::check_store;

    #[test]
    fn conforms_to_the_memory_store() {
        let mut s = SqliteStore::in_memory().unwrap();
        check_store(&mut s).unwrap();
    }

    #[test]
    fn conforms_on_disk_inside_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rooms.sqlite3");
        let mut s = SqliteStore::open(&path).unwrap();
        s.begin().unwrap();
        check_store(&mut s).unwrap();
        s.commit().unwrap();
        let mode: String = s
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        let users = ["alice@a.test", "bob@a.test", "kate@b.test", "mike@b.test"]
            .map(|u| BareJid::new(u).unwrap());
        let before: Vec<_> = users
            .iter()
            .map(|u| {
                let mut r = s.user_rooms(u).unwrap();
                r.sort_by(user_order);
                (r, s.blocking(u).unwrap())
            })
            .collect();
        assert!(before.iter().any(|(r, _)| !r.is_empty()));
        drop(s);
        // reopened: the same state, the same schema version
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let after: Vec<_> = users
            .iter()
            .map(|u| {
                let mut r = s.user_rooms(u).unwrap();
                r.sort_by(user_order);
                (r, s.blocking(u).unwrap())
            })
            .collect();
        assert_eq!(before, after);
    }

    /// Occupants are reused while the room's version is unchanged, and
    /// re-read when a change (committed or rolled back) moved it.
    #[test]
    fn occupants_follow_the_room_version() {
        let mut s = SqliteStore::in_memory().unwrap();
        let j = |u: &str| BareJid::new(u).unwrap();
        let room = j("r@muc.test");
        let first = vec![(j("alice@a.test"), Affiliation::Owner)];
        let data = Room {
            config: Vec::new(),
            affiliations: first.clone(),
            version: "v1".into(),
        };
        assert!(s.create_room(&room, &data).unwrap());
        assert_eq!(s.room_affiliations(&room).unwrap().unwrap(), first);
        let second = vec![
            (j("alice@a.test"), Affiliation::Owner),
            (j("bob@a.test"), Affiliation::Member),
        ];
        s.begin().unwrap();
        s.set_affiliations(&room, &second, "v2", &[j("bob@a.test")], &[])
            .unwrap();
        assert_eq!(s.room_affiliations(&room).unwrap().unwrap(), second);
        s.rollback().unwrap();
        assert_eq!(s.room_affiliations(&room).unwrap().unwrap(), first);
        s.begin().unwrap();
        s.set_affiliations(&room, &second, "v3", &[j("bob@a.test")], &[])
            .unwrap();
        s.commit().unwrap();
        assert_eq!(s.room_affiliations(&room).unwrap().unwrap(), second);
        assert_eq!(s.room(&room).unwrap().unwrap().affiliations, second);
        s.destroy_room(&room).unwrap();
        assert_eq!(s.room_affiliations(&room).unwrap(), None);
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rooms.sqlite3");
        drop(SqliteStore::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", 99).unwrap();
        drop(c);
        let e = SqliteStore::open(&path).err().unwrap().to_string();
        assert!(e.contains("schema version 99"), "{e}");
    }

    #[test]
    fn migrates_a_version_1_database() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("rooms.sqlite3");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(MIGRATIONS[0]).unwrap();
            c.pragma_update(None, "user_version", 1).unwrap();
            c.execute(
                "INSERT INTO rooms (jid, version) VALUES ('r@muc.test', 'v1')",
                [],
            )
            .unwrap();
        }
        let mut s = SqliteStore::open(&path).unwrap();
        assert_eq!(s.schema_version().unwrap(), SCHEMA_VERSION);
        let r = BareJid::new("r@muc.test").unwrap();
        assert_eq!(s.room(&r).unwrap().unwrap().version, "v1");
        let (a, b) = ("alice@a.test".to_owned(), "phone".to_owned());
        s.update_resources(&[(a.clone(), b.clone(), true), (a.clone(), "pc".into(), true)])
            .unwrap();
        s.update_resources(&[(a.clone(), "pc".into(), false)])
            .unwrap();
        assert_eq!(s.resources().unwrap(), [(a, b)]);
    }

    #[test]
    fn archive_round_trip() {
        let mut s = SqliteStore::in_memory().unwrap();
        let room = BareJid::new("coven@muclight.test").unwrap();
        assert_eq!(s.archive_id(&room, false).unwrap(), None);
        let id = s.archive_id(&room, true).unwrap().unwrap();
        assert_eq!(s.archive_id(&room, true).unwrap(), Some(id));
        for n in 1..=5u64 {
            s.append(&ArchivedMessage {
                archive_id: id,
                mam_id: n << 8,
                sender: Some("alice@a.test".into()),
                body: format!("hello {n}"),
                stanza: format!("<message>{n}</message>").into_bytes(),
            })
            .unwrap();
        }
        assert_eq!(s.last_mam_id().unwrap(), Some(5 << 8));
        let after = s.messages_after(id, Some(2 << 8), 2).unwrap();
        assert_eq!(
            after.iter().map(|m| m.mam_id >> 8).collect::<Vec<_>>(),
            [3, 4]
        );
        let got = s.stanzas(id, &[4 << 8, 99, 1 << 8]).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].1, b"<message>4</message>");
        assert_eq!(s.delete_archive(&room).unwrap(), Some(id));
        assert!(s.messages_after(id, None, 10).unwrap().is_empty());
        let id2 = s.archive_id(&room, true).unwrap().unwrap();
        assert_ne!(id, id2, "a new room life gets a new archive");
    }
}
