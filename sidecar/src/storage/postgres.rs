//! PostgreSQL storage: the same rooms, archive and online resources as
//! [`super::SqliteStore`], in a database that several component instances
//! share (issue 12 §1).
//!
//! # Driver: the synchronous `postgres` crate, pooled by r2d2
//! The store is driven from one dedicated, synchronous worker thread
//! (`component::worker`): every call of the core's synchronous
//! [`RoomStore`] trait must return its answer before the service goes on.
//! An async driver (tokio-postgres, sqlx) would have to be wrapped in a
//! `block_on` per call on that thread anyway (and a tokio worker must not
//! wait on the database), and sqlx adds its own query layer and pool on
//! top, which nothing here needs. The
//! `postgres` crate is exactly that wrapper, maintained with
//! tokio-postgres (same protocol code, prepared statements, binary
//! parameters, `ANY($1)` arrays), and [`r2d2`] is the matching small
//! synchronous pool: it replaces a connection the server dropped, and
//! gives a second connection to whoever needs one beside the worker (the
//! tests' second writer; later an archive tailer) without a second
//! configuration. TLS is not built in: the database is expected on
//! loopback or a private network (`sslmode` other than `disable`/`prefer`
//! fails to connect).
//!
//! # Concurrency between instances
//! - Each stanza is one READ COMMITTED transaction ([`PgStore`]'s
//!   [`Storage::begin`]/[`Storage::commit`]). Inside it, reading a room
//!   (`room`, `room_affiliations`) first takes `SELECT ... FOR NO KEY
//!   UPDATE` on its `xa_rooms` row, and only then reads its configuration
//!   and affiliations (each statement sees what was committed before it).
//!   So two instances changing one room take turns: the second one waits
//!   for the first one's commit, then reads its version and occupants and
//!   computes its change on top of them. No change is lost, and the
//!   version a client sees is always the one stored with those
//!   affiliations. Messages to one room take the same lock, so one room's
//!   archive rows are committed in mam id order (the index's catch-up
//!   reads an archive in that order). Different rooms never wait for each
//!   other; a stanza locks at most one room, so there is no lock cycle
//!   (should PostgreSQL still report a deadlock or a serialization
//!   failure, [`Storage::is_conflict`] says so and the worker retries the
//!   stanza).
//! - Creating a room is `INSERT ... ON CONFLICT DO NOTHING`: of two
//!   instances creating one room, the second waits on the primary key and
//!   gets "exists". A room's archive id comes from a `bigserial`, created
//!   the same way.
//! - Mam ids come from the database, not from each instance's clock:
//!   `xa_next_mam_id()` takes a sequence forward to the database's clock
//!   (`clock_timestamp()` in microseconds, shifted left by 8), under a
//!   session advisory lock held only for the function's few microseconds
//!   (not until commit). Ids are therefore unique over every instance,
//!   increasing in allocation order, never below an id handed out before
//!   (the sequence never goes back, even when the clock does) and still
//!   readable as a time by `mam::stamp`.
//! - Within one room, ids are also committed in order (the room's row lock
//!   is taken before the id). Across rooms they are not: a transaction
//!   holding id N may commit after another one's N+1. A tailer of the
//!   whole archive (`mam_id > last`) must re-read a window behind its last
//!   id, as long as the longest transaction (bounded by `lock_timeout` and
//!   `idle_in_transaction_session_timeout`, set on every connection), or
//!   keep its horizon below the oldest open transaction's ids.
//!
//! # Schema
//! Tables are prefixed `xa_` (ejabberd's schema has an `archive` table of
//! its own, and the database may be the XMPP server's). Versions live in
//! `xa_schema(version)`; [`MIGRATIONS`]`[n]` takes version n to n+1, in one
//! transaction under an advisory lock, so instances starting together
//! migrate once. A database of a newer version is refused.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use postgres::error::SqlState;
use postgres::types::ToSql;
use postgres::{Client, NoTls, Row, Statement};
use r2d2::{Pool, PooledConnection};
use r2d2_postgres::PostgresConnectionManager;
use xmpp_accel_core::muclight::{
    user_order, Affiliation, BareJid, BlockChange, BlockItem, BlockKind, Room, RoomStore,
    StoreError,
};

use super::{ArchivedMessage, Storage};

type Manager = PostgresConnectionManager<NoTls>;

/// Schema migrations, in order: `MIGRATIONS[n]` takes `xa_schema.version`
/// n to n+1. Version 1 is SQLite's schema 2 (rooms, archive, resources)
/// plus the mam id allocator. Version 2 adds what the archive tailer
/// reads: the writer's transaction id on each archive row, archive
/// deletions, and notifications (`xa_archive`, `xa_resources`).
pub const MIGRATIONS: &[&str] = &[
    r#"
CREATE TABLE xa_rooms (
    jid TEXT PRIMARY KEY,
    version TEXT NOT NULL
);
CREATE TABLE xa_room_config (
    room TEXT NOT NULL REFERENCES xa_rooms(jid) ON DELETE CASCADE,
    pos INTEGER NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (room, pos)
);
CREATE TABLE xa_affiliations (
    room TEXT NOT NULL REFERENCES xa_rooms(jid) ON DELETE CASCADE,
    member TEXT NOT NULL,
    affiliation TEXT NOT NULL,
    PRIMARY KEY (room, member)
);
CREATE INDEX xa_affiliations_member ON xa_affiliations(member);
CREATE TABLE xa_blocking (
    seq BIGSERIAL PRIMARY KEY,
    member TEXT NOT NULL,
    kind TEXT NOT NULL,
    jid TEXT NOT NULL,
    UNIQUE (member, kind, jid)
);
CREATE TABLE xa_archives (
    id BIGSERIAL PRIMARY KEY,
    room TEXT NOT NULL UNIQUE
);
CREATE TABLE xa_archive (
    archive_id BIGINT NOT NULL,
    mam_id BIGINT NOT NULL,
    sender TEXT,
    body TEXT NOT NULL,
    stanza BYTEA NOT NULL,
    PRIMARY KEY (archive_id, mam_id)
);
CREATE INDEX xa_archive_mam_id ON xa_archive(mam_id);
CREATE TABLE xa_online_resources (
    member TEXT NOT NULL,
    resource TEXT NOT NULL,
    PRIMARY KEY (member, resource)
);
CREATE SEQUENCE xa_mam_id_seq;
CREATE FUNCTION xa_next_mam_id() RETURNS bigint LANGUAGE plpgsql AS $fn$
DECLARE
    t bigint;
    v bigint;
BEGIN
    -- one allocator at a time, for the span of this function only
    PERFORM pg_advisory_lock(7861902245);
    t := (floor(extract(epoch FROM clock_timestamp()) * 1000000)::bigint) << 8;
    v := nextval('xa_mam_id_seq');
    IF v < t THEN
        v := setval('xa_mam_id_seq', t);
    END IF;
    PERFORM pg_advisory_unlock(7861902245);
    RETURN v;
END
$fn$;
"#,
    r#"
-- the archive tailer (component::tail): each row carries its writer's
-- transaction id, so that a reader can tell from a snapshot which rows
-- may still appear (issue 12: the mam ids of different rooms commit out
-- of order)
ALTER TABLE xa_archive ADD COLUMN xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint);
CREATE INDEX xa_archive_xid ON xa_archive(xid);
CREATE TABLE xa_archive_deletions (
    xid BIGINT NOT NULL DEFAULT (pg_current_xact_id()::text::bigint),
    archive_id BIGINT NOT NULL
);
CREATE INDEX xa_archive_deletions_xid ON xa_archive_deletions(xid);
CREATE FUNCTION xa_archive_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    -- delivered at commit, once per transaction
    PERFORM pg_notify('xa_archive', '');
    RETURN NULL;
END
$fn$;
CREATE TRIGGER xa_archive_notify AFTER INSERT ON xa_archive
    FOR EACH STATEMENT EXECUTE FUNCTION xa_archive_notify();
CREATE TRIGGER xa_archive_deletions_notify AFTER INSERT ON xa_archive_deletions
    FOR EACH STATEMENT EXECUTE FUNCTION xa_archive_notify();
CREATE FUNCTION xa_resources_notify() RETURNS trigger LANGUAGE plpgsql AS $fn$
BEGIN
    IF TG_OP = 'INSERT' THEN
        PERFORM pg_notify('xa_resources', '+' || NEW.member || '/' || NEW.resource);
    ELSE
        PERFORM pg_notify('xa_resources', '-' || OLD.member || '/' || OLD.resource);
    END IF;
    RETURN NULL;
END
$fn$;
CREATE TRIGGER xa_resources_notify AFTER INSERT OR DELETE ON xa_online_resources
    FOR EACH ROW EXECUTE FUNCTION xa_resources_notify();
"#,
];

/// The schema version this build writes.
pub const SCHEMA_VERSION: usize = MIGRATIONS.len();

/// The advisory lock key of migrations.
const MIGRATION_LOCK: i64 = 7861902244;

fn err(e: impl std::error::Error + Send + Sync + 'static) -> StoreError {
    Box::new(e)
}

fn jid(s: &str) -> Result<BareJid, StoreError> {
    BareJid::new(s).map_err(|e| format!("stored JID {s:?}: {e}").into())
}

/// Settings of every pooled connection: no stanza waits for ever on a row
/// lock (an instance stuck in a transaction), and a transaction left open
/// by a stuck instance is ended by the server.
#[derive(Debug)]
struct Setup;

impl r2d2::CustomizeConnection<Client, postgres::Error> for Setup {
    fn on_acquire(&self, c: &mut Client) -> Result<(), postgres::Error> {
        c.batch_execute("SET lock_timeout = '10s'; SET idle_in_transaction_session_timeout = '60s'")
    }
}

/// Rooms and archive in PostgreSQL, through a connection pool. One
/// `PgStore` uses one pooled connection at a time (taken again from the
/// pool when the server dropped it); [`PgStore::another`] gives a second
/// store on the same pool.
pub struct PgStore {
    pool: Pool<Manager>,
    conn: Option<PooledConnection<Manager>>,
    /// Prepared statements of `conn`.
    stmts: HashMap<&'static str, Statement>,
    /// Inside [`Storage::begin`] .. commit/rollback: room reads lock.
    in_tx: bool,
    /// The connection settings (for [`PgTail::connect`]).
    config: postgres::Config,
}

impl PgStore {
    /// Connects a pool of at most `pool_size` connections to `url` (a
    /// libpq-style `host=... user=... dbname=...` string or a
    /// `postgresql://` URL) and migrates the schema to [`SCHEMA_VERSION`].
    pub fn connect(url: &str, pool_size: u32) -> Result<PgStore, StoreError> {
        let config = postgres::Config::from_str(url).map_err(err)?;
        let pool = Pool::builder()
            .max_size(pool_size.max(1))
            .min_idle(Some(1))
            .connection_timeout(Duration::from_secs(10))
            .connection_customizer(Box::new(Setup))
            .build(PostgresConnectionManager::new(config.clone(), NoTls))
            .map_err(err)?;
        let mut store = PgStore::on_pool(pool, config);
        store.migrate()?;
        Ok(store)
    }

    fn on_pool(pool: Pool<Manager>, config: postgres::Config) -> PgStore {
        PgStore {
            pool,
            conn: None,
            stmts: HashMap::new(),
            in_tx: false,
            config,
        }
    }

    /// A second store on the same pool (its own connection).
    pub fn another(&self) -> PgStore {
        PgStore::on_pool(self.pool.clone(), self.config.clone())
    }

    /// The connection settings of this store.
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// The connection, taken from the pool if there is none or the server
    /// dropped it.
    fn client(&mut self) -> Result<&mut Client, StoreError> {
        let broken = match &self.conn {
            Some(c) => c.is_closed(),
            None => true,
        };
        if broken {
            self.conn = None;
            self.stmts.clear();
            self.conn = Some(self.pool.get().map_err(err)?);
        }
        Ok(self.conn.as_mut().expect("connection just set"))
    }

    fn prepared(&mut self, sql: &'static str) -> Result<Statement, StoreError> {
        self.client()?;
        if let Some(s) = self.stmts.get(sql) {
            return Ok(s.clone());
        }
        let s = self.client()?.prepare(sql).map_err(err)?;
        self.stmts.insert(sql, s.clone());
        Ok(s)
    }

    fn query(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Vec<Row>, StoreError> {
        let st = self.prepared(sql)?;
        self.client()?.query(&st, params).map_err(err)
    }

    fn query_opt(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<Option<Row>, StoreError> {
        let st = self.prepared(sql)?;
        self.client()?.query_opt(&st, params).map_err(err)
    }

    fn execute(
        &mut self,
        sql: &'static str,
        params: &[&(dyn ToSql + Sync)],
    ) -> Result<u64, StoreError> {
        let st = self.prepared(sql)?;
        self.client()?.execute(&st, params).map_err(err)
    }

    /// The schema version of the database (0: empty).
    pub fn schema_version(&mut self) -> Result<usize, StoreError> {
        let c = self.client()?;
        let exists: bool = c
            .query_one("SELECT to_regclass('xa_schema') IS NOT NULL", &[])
            .map_err(err)?
            .get(0);
        if !exists {
            return Ok(0);
        }
        let v: Option<i32> = c
            .query_opt("SELECT version FROM xa_schema", &[])
            .map_err(err)?
            .map(|r| r.get(0));
        Ok(v.unwrap_or(0) as usize)
    }

    fn migrate(&mut self) -> Result<(), StoreError> {
        let c = self.client()?;
        let mut tx = c.transaction().map_err(err)?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .map_err(err)?;
        tx.batch_execute("CREATE TABLE IF NOT EXISTS xa_schema (version INTEGER NOT NULL)")
            .map_err(err)?;
        let from = tx
            .query_opt("SELECT version FROM xa_schema", &[])
            .map_err(err)?
            .map(|r| r.get::<_, i32>(0) as usize);
        if from.is_none() {
            tx.execute("INSERT INTO xa_schema (version) VALUES (0)", &[])
                .map_err(err)?;
        }
        let from = from.unwrap_or(0);
        if from > SCHEMA_VERSION {
            return Err(format!(
                "the database has schema version {from}; this build knows up to {SCHEMA_VERSION}"
            )
            .into());
        }
        for (n, sql) in MIGRATIONS.iter().enumerate().skip(from) {
            tx.batch_execute(sql).map_err(err)?;
            tx.execute("UPDATE xa_schema SET version = $1", &[&((n + 1) as i32)])
                .map_err(err)?;
            tracing::info!(version = n + 1, "room storage (postgres): schema migrated");
        }
        tx.commit().map_err(err)
    }

    /// Locks the room's row when inside a transaction; whether it exists.
    fn lock_room(&mut self, room: &str) -> Result<Option<String>, StoreError> {
        let row = if self.in_tx {
            self.query_opt(
                "SELECT version FROM xa_rooms WHERE jid = $1 FOR NO KEY UPDATE",
                &[&room],
            )?
        } else {
            self.query_opt("SELECT version FROM xa_rooms WHERE jid = $1", &[&room])?
        };
        Ok(row.map(|r| r.get(0)))
    }

    fn read_affiliations(&mut self, room: &str) -> Result<Vec<(BareJid, Affiliation)>, StoreError> {
        let rows = self.query(
            "SELECT member, affiliation FROM xa_affiliations WHERE room = $1",
            &[&room],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (u, a): (&str, &str) = (row.get(0), row.get(1));
            let a = Affiliation::parse(a).ok_or_else(|| format!("stored affiliation {a:?}"))?;
            out.push((jid(u)?, a));
        }
        out.sort_by(|a, b| user_order(&a.0, &b.0));
        Ok(out)
    }

    fn write_config(&mut self, room: &str, config: &[(String, String)]) -> Result<(), StoreError> {
        self.execute("DELETE FROM xa_room_config WHERE room = $1", &[&room])?;
        if config.is_empty() {
            return Ok(());
        }
        let pos: Vec<i32> = (0..config.len() as i32).collect();
        let keys: Vec<&str> = config.iter().map(|(k, _)| k.as_str()).collect();
        let values: Vec<&str> = config.iter().map(|(_, v)| v.as_str()).collect();
        self.execute(
            "INSERT INTO xa_room_config (room, pos, key, value) \
             SELECT $1, p, k, v FROM unnest($2::int4[], $3::text[], $4::text[]) AS t(p, k, v)",
            &[&room, &pos, &keys, &values],
        )?;
        Ok(())
    }

    fn write_affiliations(
        &mut self,
        room: &str,
        affs: &[(BareJid, Affiliation)],
    ) -> Result<(), StoreError> {
        self.execute("DELETE FROM xa_affiliations WHERE room = $1", &[&room])?;
        if affs.is_empty() {
            return Ok(());
        }
        let users: Vec<&str> = affs.iter().map(|(u, _)| u.as_str()).collect();
        let kinds: Vec<&str> = affs.iter().map(|(_, a)| a.as_str()).collect();
        self.execute(
            "INSERT INTO xa_affiliations (room, member, affiliation) \
             SELECT $1, u, a FROM unnest($2::text[], $3::text[]) AS t(u, a)",
            &[&room, &users, &kinds],
        )?;
        Ok(())
    }

    fn message(archive_id: u64, r: &Row) -> ArchivedMessage {
        ArchivedMessage {
            archive_id,
            mam_id: r.get::<_, i64>(0) as u64,
            sender: r.get(1),
            body: r.get(2),
            stanza: r.get(3),
        }
    }
}

impl Storage for PgStore {
    fn begin(&mut self) -> Result<(), StoreError> {
        // a connection that died while idle (the server ended it; the reset
        // is seen only now) fails here before anything of this transaction
        // was sent: start it again on another one (the pool's idle ones may
        // have been ended too)
        let mut tries = 0;
        while let Err(e) = self.client()?.batch_execute("BEGIN") {
            tries += 1;
            if e.code().is_some() || tries > self.pool.max_size() {
                return Err(err(e));
            }
            self.conn = None;
            self.stmts.clear();
        }
        self.in_tx = true;
        Ok(())
    }

    fn commit(&mut self) -> Result<(), StoreError> {
        self.in_tx = false;
        self.client()?.batch_execute("COMMIT").map_err(err)
    }

    fn rollback(&mut self) -> Result<(), StoreError> {
        self.in_tx = false;
        // a dropped connection has no transaction left to end
        if self.conn.as_ref().is_none_or(|c| c.is_closed()) {
            return Ok(());
        }
        // and no session lock of xa_next_mam_id() may outlive an error in it
        match self
            .client()?
            .batch_execute("ROLLBACK; SELECT pg_advisory_unlock_all()")
        {
            Ok(()) => Ok(()),
            // not an answer of the server: the connection is gone, and its
            // transaction and session locks with it
            Err(e) if e.code().is_none() => {
                self.conn = None;
                self.stmts.clear();
                Ok(())
            }
            Err(e) => Err(err(e)),
        }
    }

    fn counts(&mut self) -> Result<(u64, u64), StoreError> {
        let r = self.query(
            "SELECT (SELECT count(*) FROM xa_rooms), (SELECT count(*) FROM xa_affiliations)",
            &[],
        )?;
        let (a, b): (i64, i64) = (r[0].get(0), r[0].get(1));
        Ok((a as u64, b as u64))
    }

    fn archive_id(&mut self, room: &BareJid, create: bool) -> Result<Option<u64>, StoreError> {
        let room = room.as_str();
        let found = self.query_opt("SELECT id FROM xa_archives WHERE room = $1", &[&room])?;
        if let Some(r) = found {
            return Ok(Some(r.get::<_, i64>(0) as u64));
        }
        if !create {
            return Ok(None);
        }
        let made = self.query_opt(
            "INSERT INTO xa_archives (room) VALUES ($1) ON CONFLICT (room) DO NOTHING RETURNING id",
            &[&room],
        )?;
        let row = match made {
            Some(r) => r,
            // created meanwhile by another instance (committed: visible now)
            None => self
                .query_opt("SELECT id FROM xa_archives WHERE room = $1", &[&room])?
                .ok_or("archive vanished while created")?,
        };
        Ok(Some(row.get::<_, i64>(0) as u64))
    }

    fn archives(&mut self) -> Result<Vec<(u64, String)>, StoreError> {
        Ok(self
            .query("SELECT id, room FROM xa_archives ORDER BY id", &[])?
            .iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect())
    }

    fn next_mam_id(&mut self) -> Result<u64, StoreError> {
        let r = self.query("SELECT xa_next_mam_id()", &[])?;
        Ok(r[0].get::<_, i64>(0) as u64)
    }

    fn append(&mut self, m: &ArchivedMessage) -> Result<(), StoreError> {
        self.execute(
            "INSERT INTO xa_archive (archive_id, mam_id, sender, body, stanza) VALUES ($1, $2, $3, $4, $5)",
            &[
                &(m.archive_id as i64),
                &(m.mam_id as i64),
                &m.sender,
                &m.body,
                &m.stanza,
            ],
        )?;
        Ok(())
    }

    fn last_mam_id(&mut self) -> Result<Option<u64>, StoreError> {
        let r = self.query("SELECT max(mam_id) FROM xa_archive", &[])?;
        Ok(r[0].get::<_, Option<i64>>(0).map(|v| v as u64))
    }

    fn messages_after(
        &mut self,
        archive_id: u64,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ArchivedMessage>, StoreError> {
        let after = after.map(|a| a as i64).unwrap_or(-1);
        let rows = self.query(
            "SELECT mam_id, sender, body, stanza FROM xa_archive \
             WHERE archive_id = $1 AND mam_id > $2 ORDER BY mam_id LIMIT $3",
            &[&(archive_id as i64), &after, &(limit as i64)],
        )?;
        Ok(rows.iter().map(|r| Self::message(archive_id, r)).collect())
    }

    fn stanzas(&mut self, archive_id: u64, ids: &[u64]) -> Result<Vec<(u64, Vec<u8>)>, StoreError> {
        let want: Vec<i64> = ids.iter().map(|&i| i as i64).collect();
        let rows = self.query(
            "SELECT mam_id, stanza FROM xa_archive WHERE archive_id = $1 AND mam_id = ANY($2)",
            &[&(archive_id as i64), &want],
        )?;
        let mut found: HashMap<u64, Vec<u8>> = rows
            .into_iter()
            .map(|r| (r.get::<_, i64>(0) as u64, r.get(1)))
            .collect();
        Ok(ids
            .iter()
            .filter_map(|id| found.remove(id).map(|s| (*id, s)))
            .collect())
    }

    fn delete_archive(&mut self, room: &BareJid) -> Result<Option<u64>, StoreError> {
        let Some(id) = self.archive_id(room, false)? else {
            return Ok(None);
        };
        let id_i = id as i64;
        self.execute("DELETE FROM xa_archive WHERE archive_id = $1", &[&id_i])?;
        self.execute("DELETE FROM xa_archives WHERE id = $1", &[&id_i])?;
        // for the other instances' tailers
        self.execute(
            "INSERT INTO xa_archive_deletions (archive_id) VALUES ($1)",
            &[&id_i],
        )?;
        Ok(Some(id))
    }

    fn update_resources(&mut self, changes: &[(String, String, bool)]) -> Result<(), StoreError> {
        let on = self.prepared(
            "INSERT INTO xa_online_resources (member, resource) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        )?;
        let off =
            self.prepared("DELETE FROM xa_online_resources WHERE member = $1 AND resource = $2")?;
        let mut tx = self.client()?.transaction().map_err(err)?;
        for (u, r, online) in changes {
            let st = if *online { &on } else { &off };
            tx.execute(st, &[u, r]).map_err(err)?;
        }
        tx.commit().map_err(err)
    }

    fn resources(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .query("SELECT member, resource FROM xa_online_resources", &[])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn wake_tail(&mut self) -> Result<(), StoreError> {
        self.client()?
            .batch_execute("SELECT pg_notify('xa_archive', 'sync')")
            .map_err(err)
    }

    fn is_conflict(&self, e: &StoreError) -> bool {
        e.downcast_ref::<postgres::Error>()
            .and_then(|e| e.code())
            .is_some_and(|c| {
                *c == SqlState::T_R_SERIALIZATION_FAILURE || *c == SqlState::T_R_DEADLOCK_DETECTED
            })
    }
}

impl RoomStore for PgStore {
    fn room(&mut self, room: &BareJid) -> Result<Option<Room>, StoreError> {
        let r = room.as_str();
        let Some(version) = self.lock_room(r)? else {
            return Ok(None);
        };
        let config = self
            .query(
                "SELECT key, value FROM xa_room_config WHERE room = $1 ORDER BY pos",
                &[&r],
            )?
            .iter()
            .map(|row| (row.get(0), row.get(1)))
            .collect();
        let affiliations = self.read_affiliations(r)?;
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
        if self.lock_room(r)?.is_none() {
            return Ok(None);
        }
        self.read_affiliations(r).map(Some)
    }

    fn create_room(&mut self, room: &BareJid, data: &Room) -> Result<bool, StoreError> {
        let r = room.as_str();
        let n = self.execute(
            "INSERT INTO xa_rooms (jid, version) VALUES ($1, $2) ON CONFLICT (jid) DO NOTHING",
            &[&r, &data.version],
        )?;
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
        let n = self.execute(
            "UPDATE xa_rooms SET version = $2 WHERE jid = $1",
            &[&r, &version],
        )?;
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
        // room lists are the affiliation rows themselves (index on member)
        let r = room.as_str();
        let n = self.execute(
            "UPDATE xa_rooms SET version = $2 WHERE jid = $1",
            &[&r, &version],
        )?;
        if n == 0 {
            return Err(format!("no room {r}").into());
        }
        self.write_affiliations(r, affiliations)
    }

    fn destroy_room(&mut self, room: &BareJid) -> Result<(), StoreError> {
        // xa_room_config and xa_affiliations go by ON DELETE CASCADE
        self.execute("DELETE FROM xa_rooms WHERE jid = $1", &[&room.as_str()])?;
        Ok(())
    }

    fn user_rooms(&mut self, user: &BareJid) -> Result<Vec<BareJid>, StoreError> {
        let rows = self.query(
            "SELECT room FROM xa_affiliations WHERE member = $1",
            &[&user.as_str()],
        )?;
        rows.iter().map(|r| jid(r.get(0))).collect()
    }

    fn user_room_count(&mut self, user: &BareJid) -> Result<usize, StoreError> {
        let r = self.query(
            "SELECT count(*) FROM xa_affiliations WHERE member = $1",
            &[&user.as_str()],
        )?;
        Ok(r[0].get::<_, i64>(0) as usize)
    }

    fn blocking(&mut self, user: &BareJid) -> Result<Vec<BlockItem>, StoreError> {
        let rows = self.query(
            "SELECT kind, jid FROM xa_blocking WHERE member = $1 ORDER BY seq",
            &[&user.as_str()],
        )?;
        let mut out = Vec::with_capacity(rows.len());
        for row in rows {
            let (k, j): (&str, &str) = (row.get(0), row.get(1));
            let kind = match k {
                "room" => BlockKind::Room,
                "user" => BlockKind::User,
                other => return Err(format!("stored blocking kind {other:?}").into()),
            };
            out.push(BlockItem { kind, jid: jid(j)? });
        }
        Ok(out)
    }

    fn set_blocking(&mut self, user: &BareJid, changes: &[BlockChange]) -> Result<(), StoreError> {
        let u = user.as_str();
        for c in changes {
            let (k, j) = (c.item.kind.as_str(), c.item.jid.as_str());
            self.execute(
                "DELETE FROM xa_blocking WHERE member = $1 AND kind = $2 AND jid = $3",
                &[&u, &k, &j],
            )?;
            if c.deny {
                self.execute(
                    "INSERT INTO xa_blocking (member, kind, jid) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING",
                    &[&u, &k, &j],
                )?;
            }
        }
        Ok(())
    }
}

/// Where an archive tailer has read up to: the snapshot of its last read.
/// Every transaction with an id below `xmax` and not in `xip` had ended
/// when that snapshot was taken, so the rows it wrote (if it committed)
/// were visible then and have been read. Rows that may still appear are
/// those of transactions in `xip` or from `xmax` on: the next read takes
/// exactly those (`xid >= xmax OR xid = ANY(xip)`), in a new snapshot.
/// This is exact whatever order transactions commit in, reads each row
/// once, and re-reads nothing (no window of recent ids to scan again).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TailPosition {
    pub xmax: i64,
    pub xip: Vec<i64>,
}

/// A notification to the tailer's connection.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TailEvent {
    /// Archive rows (or deletions) were committed, or a search asks for a
    /// read now.
    Archive,
    /// A member's online resource was stored (`online`) or removed, by
    /// any instance.
    Resource {
        member: String,
        resource: String,
        online: bool,
    },
}

/// What one read found: archive rows (mam id order; `stanza` left empty),
/// or archives deleted.
pub enum TailBatch {
    Messages(Vec<ArchivedMessage>),
    Deleted(Vec<u64>),
}

/// The archive tailer's own connection: `LISTEN xa_archive, xa_resources`,
/// snapshot reads of the archive (see [`TailPosition`]).
pub struct PgTail {
    client: Client,
}

const TAIL_SNAPSHOT: &str = "SELECT pg_snapshot_xmax(s)::text::bigint, \
     ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x) FROM pg_current_snapshot() AS s";

impl PgTail {
    /// A dedicated connection (not pooled: it holds the LISTEN).
    pub fn connect(config: &postgres::Config) -> Result<PgTail, StoreError> {
        let mut client = config.connect(NoTls).map_err(err)?;
        client
            .batch_execute("LISTEN xa_archive; LISTEN xa_resources")
            .map_err(err)?;
        Ok(PgTail { client })
    }

    pub fn is_closed(&self) -> bool {
        self.client.is_closed()
    }

    /// Waits up to `timeout` for a notification; returns it and every one
    /// already queued behind it (empty after the timeout).
    pub fn wait(&mut self, timeout: Duration) -> Result<Vec<TailEvent>, StoreError> {
        use postgres::fallible_iterator::FallibleIterator;
        let mut n = self.client.notifications();
        let mut got = Vec::new();
        let first = n.timeout_iter(timeout).next().map_err(err)?;
        if let Some(first) = first {
            got.push(first);
            let mut rest = n.iter();
            while let Some(x) = rest.next().map_err(err)? {
                got.push(x);
            }
        }
        let mut out: Vec<TailEvent> = Vec::new();
        for x in got {
            if x.channel() == "xa_resources" {
                let p = x.payload();
                let (online, rest) = match p.strip_prefix('+') {
                    Some(r) => (true, r),
                    None => (false, p.strip_prefix('-').unwrap_or(p)),
                };
                if let Some((member, resource)) = rest.split_once('/') {
                    out.push(TailEvent::Resource {
                        member: member.to_owned(),
                        resource: resource.to_owned(),
                        online,
                    });
                }
            } else if out.last() != Some(&TailEvent::Archive) {
                out.push(TailEvent::Archive);
            }
        }
        Ok(out)
    }

    /// Every stored online resource (after a reconnect: notifications
    /// sent meanwhile were lost).
    pub fn resources(&mut self) -> Result<Vec<(String, String)>, StoreError> {
        Ok(self
            .client
            .query("SELECT member, resource FROM xa_online_resources", &[])
            .map_err(err)?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect())
    }

    fn snapshot(&mut self) -> Result<TailPosition, StoreError> {
        self.client
            .batch_execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
            .map_err(err)?;
        let r = self.client.query_one(TAIL_SNAPSHOT, &[]).map_err(err)?;
        Ok(TailPosition {
            xmax: r.get(0),
            xip: r.get(1),
        })
    }

    fn end(&mut self, ok: bool) -> Result<(), StoreError> {
        self.client
            .batch_execute(if ok { "COMMIT" } else { "ROLLBACK" })
            .map_err(err)
    }

    /// The start: in one snapshot, every archive's rows above `last(archive
    /// id)` (the index's last indexed id), handed to `sink` in pages of at
    /// most `page`, mam id order within an archive; returns the snapshot's
    /// position, from which [`PgTail::read`] goes on. (Within one room, mam
    /// ids commit in order: the room's row lock is taken before the id.)
    pub fn catch_up(
        &mut self,
        page: usize,
        mut last: impl FnMut(u64) -> Result<Option<u64>, StoreError>,
        mut sink: impl FnMut(TailBatch) -> Result<(), StoreError>,
    ) -> Result<TailPosition, StoreError> {
        let pos = self.snapshot()?;
        let r = (|| {
            let archives: Vec<i64> = self
                .client
                .query("SELECT id FROM xa_archives ORDER BY id", &[])
                .map_err(err)?
                .iter()
                .map(|r| r.get(0))
                .collect();
            for aid in archives {
                let mut after = last(aid as u64)?.map(|a| a as i64).unwrap_or(-1);
                loop {
                    let rows = self
                        .client
                        .query(
                            "SELECT mam_id, COALESCE(sender, (SELECT room FROM xa_archives WHERE id = archive_id)), \
                             body FROM xa_archive WHERE archive_id = $1 AND mam_id > $2 ORDER BY mam_id LIMIT $3",
                            &[&aid, &after, &(page as i64)],
                        )
                        .map_err(err)?;
                    let Some(end) = rows.last().map(|r| r.get::<_, i64>(0)) else {
                        break;
                    };
                    let n = rows.len();
                    sink(TailBatch::Messages(
                        rows.iter().map(|r| tail_message(aid, r)).collect(),
                    ))?;
                    after = end;
                    if n < page {
                        break;
                    }
                }
            }
            Ok(())
        })();
        self.end(r.is_ok())?;
        r.map(|()| pos)
    }

    /// What was committed since `from` (rows and archive deletions), in a
    /// new snapshot: rows in pages of at most `page`, mam id order; returns
    /// the new position.
    pub fn read(
        &mut self,
        from: &TailPosition,
        page: usize,
        mut sink: impl FnMut(TailBatch) -> Result<(), StoreError>,
    ) -> Result<TailPosition, StoreError> {
        let pos = self.snapshot()?;
        let r = (|| {
            let deleted: Vec<u64> = self
                .client
                .query(
                    "SELECT archive_id FROM xa_archive_deletions WHERE xid >= $1 OR xid = ANY($2)",
                    &[&from.xmax, &from.xip],
                )
                .map_err(err)?
                .iter()
                .map(|r| r.get::<_, i64>(0) as u64)
                .collect();
            if !deleted.is_empty() {
                sink(TailBatch::Deleted(deleted))?;
            }
            let mut after = -1i64;
            loop {
                let rows = self
                    .client
                    .query(
                        "SELECT mam_id, COALESCE(sender, (SELECT room FROM xa_archives WHERE id = archive_id)), \
                         body, archive_id FROM xa_archive WHERE (xid >= $1 OR xid = ANY($2)) AND mam_id > $3 \
                         ORDER BY mam_id LIMIT $4",
                        &[&from.xmax, &from.xip, &after, &(page as i64)],
                    )
                    .map_err(err)?;
                let Some(end) = rows.last().map(|r| r.get::<_, i64>(0)) else {
                    break;
                };
                let n = rows.len();
                sink(TailBatch::Messages(
                    rows.iter()
                        .map(|r| tail_message(r.get::<_, i64>(3), r))
                        .collect(),
                ))?;
                after = end;
                if n < page {
                    break;
                }
            }
            Ok(())
        })();
        self.end(r.is_ok())?;
        r.map(|()| pos)
    }
}

fn tail_message(archive_id: i64, r: &Row) -> ArchivedMessage {
    ArchivedMessage {
        archive_id: archive_id as u64,
        mam_id: r.get::<_, i64>(0) as u64,
        sender: r.get(1),
        body: r.get(2),
        stanza: Vec::new(),
    }
}
