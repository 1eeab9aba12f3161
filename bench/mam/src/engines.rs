//! The engines under test, behind one small interface: load messages, add
//! one message and make it searchable, answer a benchmark query.

use crate::data::BQuery;
use rusqlite::types::Value;
use rusqlite::{params, Connection};
use std::path::{Path, PathBuf};
use std::time::Instant;
use xmpp_accel_core::mam::{MamIndex, Message, Options, Query, Rsm};

/// One page: mam ids ascending, and the count when asked for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Answer {
    pub ids: Vec<u64>,
    pub count: Option<u64>,
}

pub type Res<T> = Result<T, String>;

pub trait Engine {
    fn name(&self) -> &'static str;
    /// Loads `msgs` into an empty store in batches of `batch` (one index()
    /// call or one transaction per batch), and makes them searchable.
    fn load(&mut self, msgs: &[Message], batch: usize) -> Res<()>;
    /// Gets the store into its steady state after a bulk load (ours: close,
    /// which waits for background merges; SQLite: WAL checkpoint) and
    /// reopens it. Returns the bytes on disk.
    fn settle(&mut self) -> Res<u64>;
    /// Adds one message the way a live server would.
    fn add_one(&mut self, m: &Message) -> Res<()>;
    fn query(&mut self, q: &BQuery) -> Res<Answer>;
    /// Notes on how queries run (e.g. SQLite's query plan).
    fn explain(&mut self, _q: &BQuery) -> Vec<String> {
        Vec::new()
    }
    fn as_ours(&mut self) -> Option<&mut Ours> {
        None
    }
}

pub fn dir_size(p: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(p) {
        for e in rd.flatten() {
            match e.metadata() {
                Ok(md) if md.is_dir() => total += dir_size(&e.path()),
                Ok(md) => total += md.len(),
                Err(_) => {}
            }
        }
    }
    total
}

// ---------------------------------------------------------------- ours

pub struct Ours {
    dir: PathBuf,
    index: Option<MamIndex>,
}

impl Ours {
    pub fn new(dir: PathBuf) -> Res<Ours> {
        let index = MamIndex::open(&dir, Options::default()).map_err(|e| e.to_string())?;
        Ok(Ours {
            dir,
            index: Some(index),
        })
    }
    fn idx(&self) -> &MamIndex {
        self.index.as_ref().expect("index open")
    }
    /// Time from index() of one new message until a search finds it, with
    /// the default commit interval (the index's own commit thread commits).
    pub fn searchable_after(&mut self, m: &Message, probe_word: &str) -> Res<f64> {
        let mut q = Query::archive(m.archive_id);
        q.text = Some(probe_word.to_string());
        q.rsm = Rsm::Last;
        let t0 = Instant::now();
        self.idx()
            .index(std::slice::from_ref(m))
            .map_err(|e| e.to_string())?;
        loop {
            let page = self.idx().search(&q).map_err(|e| e.to_string())?;
            if page.ids.contains(&m.mam_id) {
                return Ok(t0.elapsed().as_secs_f64() * 1e3);
            }
            if t0.elapsed().as_secs() > 30 {
                return Err("not searchable after 30 s".into());
            }
            std::thread::sleep(std::time::Duration::from_micros(200));
        }
    }
}

impl Engine for Ours {
    fn name(&self) -> &'static str {
        "ours"
    }
    fn as_ours(&mut self) -> Option<&mut Ours> {
        Some(self)
    }
    fn load(&mut self, msgs: &[Message], batch: usize) -> Res<()> {
        for chunk in msgs.chunks(batch) {
            self.idx().index(chunk).map_err(|e| e.to_string())?;
        }
        self.idx().commit().map_err(|e| e.to_string())
    }
    fn settle(&mut self) -> Res<u64> {
        if let Some(mut i) = self.index.take() {
            i.close().map_err(|e| e.to_string())?;
        }
        let size = dir_size(&self.dir);
        self.index =
            Some(MamIndex::open(&self.dir, Options::default()).map_err(|e| e.to_string())?);
        Ok(size)
    }
    fn add_one(&mut self, m: &Message) -> Res<()> {
        self.idx()
            .index(std::slice::from_ref(m))
            .map_err(|e| e.to_string())?;
        self.idx().commit().map_err(|e| e.to_string())
    }
    fn query(&mut self, q: &BQuery) -> Res<Answer> {
        let mut mq = Query::archive(q.archive_id);
        mq.text = Some(q.words.join(" "));
        mq.with = q.with.clone();
        mq.start = q.start;
        mq.end = q.end;
        mq.max = 50;
        mq.rsm = match q.before {
            None => Rsm::Last,
            Some(id) => Rsm::Before(id),
        };
        mq.count = q.count;
        let page = self.idx().search(&mq).map_err(|e| e.to_string())?;
        Ok(Answer {
            ids: page.ids,
            count: page.count,
        })
    }
}

impl Drop for Ours {
    fn drop(&mut self) {
        if let Some(mut i) = self.index.take() {
            let _ = i.close();
        }
    }
}

// ---------------------------------------------------------------- SQLite

/// Which SQLite design.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// The messages table only; `body LIKE '%w%'` per word (MongooseIM's
    /// RDBMS MAM today).
    Like,
    /// The messages table plus an external-content FTS5 table on body;
    /// archive and the other filters are columns of messages.
    FtsA,
    /// One contentless FTS5 table whose rows carry the archive (and the
    /// peer) as tokens of their own columns; no messages table is needed to
    /// answer queries.
    FtsB,
}

pub struct Sqlite {
    layout: Layout,
    path: PathBuf,
    conn: Option<Connection>,
}

/// The tokenizer that cuts the generated bodies into the same words as ours
/// (Tokenizer::Unicode without diacritics folding): lower-cased, accents
/// kept. (On text with apostrophes or decimal points they differ: ours
/// follows UAX #29, where "don't" is one word; unicode61 splits it.)
const TOKENIZE: &str = "unicode61 remove_diacritics 0";

const MESSAGES_DDL: &str = "
    CREATE TABLE messages(
        mam_id INTEGER PRIMARY KEY,
        archive_id INTEGER NOT NULL,
        remote_bare TEXT NOT NULL,
        remote_full TEXT NOT NULL,
        is_groupchat INTEGER NOT NULL,
        body TEXT NOT NULL);
    CREATE INDEX messages_archive ON messages(archive_id, mam_id);
    CREATE INDEX messages_with ON messages(archive_id, remote_bare, mam_id);";

fn open_conn(path: &Path) -> Res<Connection> {
    let c = Connection::open(path).map_err(|e| e.to_string())?;
    c.execute_batch(
        "PRAGMA journal_mode=WAL;
         PRAGMA synchronous=NORMAL;
         PRAGMA cache_size=-262144;
         PRAGMA mmap_size=2147483648;
         PRAGMA temp_store=MEMORY;",
    )
    .map_err(|e| e.to_string())?;
    c.set_prepared_statement_cache_capacity(64);
    Ok(c)
}

/// A bare JID as one FTS5 token: `p` and the hex of its bytes (exact, no
/// collisions; unicode61 keeps it whole).
pub fn peer_token(bare: &str) -> String {
    let mut s = String::with_capacity(1 + 2 * bare.len());
    s.push('p');
    for b in bare.bytes() {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

fn fts_words(words: &[String]) -> String {
    words
        .iter()
        .map(|w| format!("\"{}\"", w.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(" AND ")
}

fn full_jid(m: &Message) -> String {
    if m.remote_resource.is_empty() {
        m.remote_jid.clone()
    } else {
        format!("{}/{}", m.remote_jid, m.remote_resource)
    }
}

impl Sqlite {
    pub fn new(layout: Layout, path: PathBuf) -> Res<Sqlite> {
        let conn = open_conn(&path)?;
        let ddl = match layout {
            Layout::Like => MESSAGES_DDL.to_string(),
            // detail=none: doclists of rowids only, like ours (no positions);
            // enough for "all these words".
            Layout::FtsA => format!(
                "{MESSAGES_DDL}
                 CREATE VIRTUAL TABLE fts_a USING fts5(body, content='messages',
                     content_rowid='mam_id', detail=none, tokenize='{TOKENIZE}');"
            ),
            // detail=column: no positions, but column filters work.
            Layout::FtsB => format!(
                "CREATE VIRTUAL TABLE fts_b USING fts5(archive, peer, body, content='',
                     contentless_delete=1, detail=column, tokenize='{TOKENIZE}');"
            ),
        };
        conn.execute_batch(&ddl).map_err(|e| e.to_string())?;
        Ok(Sqlite {
            layout,
            path,
            conn: Some(conn),
        })
    }

    fn conn(&self) -> &Connection {
        self.conn.as_ref().expect("connection open")
    }

    fn insert(&self, msgs: &[Message]) -> Res<()> {
        let c = self.conn();
        let tx = c.unchecked_transaction().map_err(|e| e.to_string())?;
        {
            match self.layout {
                Layout::Like | Layout::FtsA => {
                    let mut st = tx
                        .prepare_cached(
                            "INSERT INTO messages(mam_id, archive_id, remote_bare, remote_full,
                             is_groupchat, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                        )
                        .map_err(|e| e.to_string())?;
                    for m in msgs {
                        st.execute(params![
                            m.mam_id as i64,
                            m.archive_id as i64,
                            m.remote_jid,
                            full_jid(m),
                            m.is_groupchat as i64,
                            m.body
                        ])
                        .map_err(|e| e.to_string())?;
                    }
                    if self.layout == Layout::FtsA {
                        // what an AFTER INSERT trigger would do, without the trigger
                        let mut st = tx
                            .prepare_cached("INSERT INTO fts_a(rowid, body) VALUES (?1, ?2)")
                            .map_err(|e| e.to_string())?;
                        for m in msgs {
                            st.execute(params![m.mam_id as i64, m.body])
                                .map_err(|e| e.to_string())?;
                        }
                    }
                }
                Layout::FtsB => {
                    let mut st = tx
                        .prepare_cached(
                            "INSERT INTO fts_b(rowid, archive, peer, body) VALUES (?1, ?2, ?3, ?4)",
                        )
                        .map_err(|e| e.to_string())?;
                    for m in msgs {
                        st.execute(params![
                            m.mam_id as i64,
                            format!("a{}", m.archive_id),
                            peer_token(&m.remote_jid),
                            m.body
                        ])
                        .map_err(|e| e.to_string())?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| e.to_string())
    }

    /// (SQL for the page, SQL for the count, parameters).
    fn sql(&self, q: &BQuery) -> (String, String, Vec<Value>) {
        let mut p: Vec<Value> = Vec::new();
        let mut filters = String::new();
        let id_col = match self.layout {
            Layout::Like => "mam_id",
            // the same value as m.mam_id (the join), but on the FTS side
            // FTS5 takes rowid ranges and ORDER BY rowid DESC itself, walking
            // its doclists newest first and stopping at the LIMIT
            Layout::FtsA => "fts_a.rowid",
            Layout::FtsB => "rowid",
        };
        let (from, select_id) = match self.layout {
            Layout::Like => {
                p.push(Value::Integer(q.archive_id as i64));
                filters.push_str("archive_id = ?1");
                for w in &q.words {
                    p.push(Value::Text(format!("%{w}%")));
                    filters.push_str(&format!(" AND body LIKE ?{}", p.len()));
                }
                if let Some(with) = &q.with {
                    p.push(Value::Text(with.clone()));
                    filters.push_str(&format!(" AND remote_bare = ?{}", p.len()));
                }
                ("messages", "mam_id")
            }
            Layout::FtsA => {
                p.push(Value::Text(fts_words(&q.words)));
                p.push(Value::Integer(q.archive_id as i64));
                filters.push_str("fts_a MATCH ?1 AND m.archive_id = ?2");
                if let Some(with) = &q.with {
                    p.push(Value::Text(with.clone()));
                    filters.push_str(&format!(" AND m.remote_bare = ?{}", p.len()));
                }
                // CROSS JOIN pins fts_a as the outer loop (SQLite never
                // reorders it): with a mam id range, the planner otherwise
                // walks messages' index and evaluates the MATCH once per row
                (
                    "fts_a CROSS JOIN messages m ON m.mam_id = fts_a.rowid",
                    "m.mam_id",
                )
            }
            Layout::FtsB => {
                let mut m = format!("archive : \"a{}\"", q.archive_id);
                if let Some(with) = &q.with {
                    m.push_str(&format!(" AND peer : \"{}\"", peer_token(with)));
                }
                m.push_str(&format!(" AND body : ({})", fts_words(&q.words)));
                p.push(Value::Text(m));
                filters.push_str("fts_b MATCH ?1");
                ("fts_b", "rowid")
            }
        };
        if let Some(s) = q.start {
            p.push(Value::Integer(s as i64));
            filters.push_str(&format!(" AND {id_col} >= ?{}", p.len()));
        }
        if let Some(e) = q.end {
            p.push(Value::Integer(e as i64));
            filters.push_str(&format!(" AND {id_col} <= ?{}", p.len()));
        }
        let count_sql = format!("SELECT count(*) FROM {from} WHERE {filters}");
        if let Some(b) = q.before {
            p.push(Value::Integer(b as i64));
            filters.push_str(&format!(" AND {id_col} < ?{}", p.len()));
        }
        let page_sql = format!(
            "SELECT {select_id} FROM {from} WHERE {filters} ORDER BY {id_col} DESC LIMIT 50"
        );
        (page_sql, count_sql, p)
    }
}

impl Engine for Sqlite {
    fn name(&self) -> &'static str {
        match self.layout {
            Layout::Like => "like",
            Layout::FtsA => "fts5a",
            Layout::FtsB => "fts5b",
        }
    }
    fn load(&mut self, msgs: &[Message], batch: usize) -> Res<()> {
        for chunk in msgs.chunks(batch) {
            self.insert(chunk)?;
        }
        Ok(())
    }
    fn settle(&mut self) -> Res<u64> {
        let c = self.conn.take().expect("connection open");
        c.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);")
            .map_err(|e| e.to_string())?;
        drop(c);
        let dir = self.path.parent().unwrap();
        let stem = self.path.file_name().unwrap().to_string_lossy().to_string();
        let mut size = 0;
        for e in std::fs::read_dir(dir).map_err(|e| e.to_string())?.flatten() {
            if e.file_name().to_string_lossy().starts_with(&stem) {
                size += e.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
        self.conn = Some(open_conn(&self.path)?);
        Ok(size)
    }
    fn add_one(&mut self, m: &Message) -> Res<()> {
        self.insert(std::slice::from_ref(m))
    }
    fn query(&mut self, q: &BQuery) -> Res<Answer> {
        let (page_sql, count_sql, p) = self.sql(q);
        let c = self.conn();
        // the page's parameters include `before`; the count's do not
        let n_count_params = p.len() - q.before.is_some() as usize;
        let count = if q.count {
            let mut st = c.prepare_cached(&count_sql).map_err(|e| e.to_string())?;
            let n: i64 = st
                .query_row(
                    rusqlite::params_from_iter(p[..n_count_params].iter()),
                    |r| r.get(0),
                )
                .map_err(|e| e.to_string())?;
            Some(n as u64)
        } else {
            None
        };
        let mut st = c.prepare_cached(&page_sql).map_err(|e| e.to_string())?;
        let mut ids: Vec<u64> = st
            .query_map(rusqlite::params_from_iter(p.iter()), |r| r.get::<_, i64>(0))
            .map_err(|e| e.to_string())?
            .map(|r| r.map(|v| v as u64).map_err(|e| e.to_string()))
            .collect::<Res<_>>()?;
        ids.reverse();
        Ok(Answer { ids, count })
    }
    fn explain(&mut self, q: &BQuery) -> Vec<String> {
        let (page_sql, count_sql, p) = self.sql(q);
        let n_count_params = p.len() - q.before.is_some() as usize;
        let mut stmts = vec![(page_sql, &p[..])];
        if q.count {
            stmts.push((count_sql, &p[..n_count_params]));
        }
        let c = self.conn();
        let mut out = Vec::new();
        for (sql, params) in stmts {
            out.push(sql.split_whitespace().collect::<Vec<_>>().join(" "));
            if let Ok(mut st) = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")) {
                if let Ok(rows) = st.query_map(rusqlite::params_from_iter(params.iter()), |r| {
                    r.get::<_, String>(3)
                }) {
                    out.extend(rows.flatten().map(|s| format!("  plan: {s}")));
                }
            }
        }
        out
    }
}
