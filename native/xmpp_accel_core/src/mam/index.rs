//! The index: schema, writing, committing, and the commit thread.

use super::analyzer::BodyTokenizer;
use super::query::{self, Page, Query};
use super::tokenize::Tokenizer;
use super::zones::ZoneCache;
use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;
use tantivy::query::{BooleanQuery, Occur, TermQuery};
use tantivy::schema::{
    Field, IndexRecordOption, Schema, TextFieldIndexing, TextOptions, FAST, INDEXED, STRING,
};
use tantivy::tokenizer::TextAnalyzer;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

/// Why an index call failed.
#[derive(Debug, thiserror::Error)]
pub enum MamError {
    /// Another index is open on this directory (in this OS process or another).
    #[error("the index directory is already open")]
    AlreadyOpen,
    /// The directory cannot be created or read, or holds something that is not an index.
    #[error("cannot open the index: {0}")]
    Open(String),
    /// A message or query that does not fit (too large, bad values).
    #[error("bad input: {0}")]
    BadInput(String),
    /// The index failed underneath (disk full, corruption).
    #[error("index error: {0}")]
    Index(String),
    /// The index was closed.
    #[error("the index is closed")]
    Closed,
}

impl From<tantivy::TantivyError> for MamError {
    fn from(e: tantivy::TantivyError) -> Self {
        match e {
            tantivy::TantivyError::LockFailure(..) => MamError::AlreadyOpen,
            other => MamError::Index(other.to_string()),
        }
    }
}

/// How archives share the index.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Scope {
    /// The archive is a field filtered on at search time (one index for all archives).
    #[default]
    Field,
}

/// Options of [`MamIndex::open`].
#[derive(Clone, Debug)]
pub struct Options {
    pub tokenizer: Tokenizer,
    /// A commit (making writes durable and searchable) runs this often when
    /// there are writes, in milliseconds. Default 500.
    pub commit_interval_ms: u64,
    /// Memory for the writer's buffers, in bytes (at least 15 MB). Default 50 MB.
    pub writer_memory: usize,
    pub scope: Scope,
    /// Largest body indexed, in bytes (longer bodies: `BadInput`). Default 64 KiB.
    pub max_body: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            tokenizer: Tokenizer::default(),
            commit_interval_ms: 500,
            writer_memory: 50_000_000,
            scope: Scope::Field,
            max_body: 64 * 1024,
        }
    }
}

/// One archived message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Message {
    /// The archive's owner (a user or a room), as the server numbers it.
    pub archive_id: u64,
    /// The message's MAM id: microseconds << 8 | node, time-ordered.
    pub mam_id: u64,
    /// The other party's bare JID.
    pub remote_jid: String,
    /// The other party's resource ("" if none).
    pub remote_resource: String,
    pub is_groupchat: bool,
    pub body: String,
}

/// What to delete.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Deletion {
    Message { archive_id: u64, mam_id: u64 },
    Archive { archive_id: u64 },
}

#[derive(Clone, Copy)]
pub(crate) struct Fields {
    pub archive: Field,
    pub mam_id: Field,
    pub bare: Field,
    pub full: Field,
    pub groupchat: Field,
    pub body: Field,
}

const WORDS: &str = "xmpp_accel_words";

/// As soon as this many segments of about the same size are there, they are
/// merged into one (tantivy's default: 8). Fewer segments, less per-segment
/// work in every search: with 8, a bulk load of 1M messages (segments of
/// 150,000 at the default writer memory) was left in 6-9 segments and
/// searches took 1.3-1.8x as long as with 3 (2-5 segments), for about 5 %
/// of the indexing rate.
const MIN_MERGE: usize = 3;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer(WORDS)
            .set_index_option(IndexRecordOption::Basic),
    );
    let fields = Fields {
        archive: b.add_u64_field("archive", INDEXED | FAST),
        mam_id: b.add_u64_field("mam_id", INDEXED | FAST),
        bare: b.add_text_field("with_bare", STRING),
        full: b.add_text_field("with_full", STRING),
        groupchat: b.add_u64_field("groupchat", INDEXED),
        body: b.add_text_field("body", text),
    };
    (b.build(), fields)
}

struct Shared {
    writer: Mutex<Option<IndexWriter>>,
    reader: IndexReader,
    /// Zone maps of the mam ids of the reader's segments.
    zones: ZoneCache,
    dirty: AtomicBool,
    stop: Mutex<bool>,
    wake: Condvar,
}

/// An open index (one per directory). Writes are buffered by tantivy's own
/// indexing threads and made durable and searchable by commits, which a
/// thread of the index runs every `commit_interval_ms` while there are
/// writes (or [`MamIndex::commit`] at once). Dropping it commits and closes.
pub struct MamIndex {
    fields: Fields,
    options: Options,
    shared: Arc<Shared>,
    committer: Option<std::thread::JoinHandle<()>>,
    /// Per archive, the highest mam id ever handed to the writer (committed
    /// or not; read from the index the first time an archive is fed after
    /// opening). A message above it cannot be in the index yet, so it is
    /// added without the delete that makes re-feeding idempotent: feeding in
    /// mam id order, the usual case, pays for no deletes.
    newest: Mutex<HashMap<u64, Option<u64>>>,
}

impl MamIndex {
    /// Opens the index in `dir`, creating it if the directory is empty or absent.
    pub fn open(dir: &Path, options: Options) -> Result<MamIndex, MamError> {
        if options.writer_memory < 15_000_000 {
            return Err(MamError::BadInput(
                "writer memory must be at least 15 MB".into(),
            ));
        }
        std::fs::create_dir_all(dir).map_err(|e| MamError::Open(e.to_string()))?;
        let (schema, fields) = schema();
        let directory = tantivy::directory::MmapDirectory::open(dir)
            .map_err(|e| MamError::Open(e.to_string()))?;
        let index = Index::open_or_create(directory, schema).map_err(|e| match e {
            tantivy::TantivyError::LockFailure(..) => MamError::AlreadyOpen,
            other => MamError::Open(other.to_string()),
        })?;
        index.tokenizers().register(
            WORDS,
            TextAnalyzer::builder(BodyTokenizer::new(options.tokenizer)).build(),
        );
        let writer: IndexWriter = index.writer_with_num_threads(1, options.writer_memory)?;
        let mut policy = tantivy::indexer::LogMergePolicy::default();
        policy.set_min_num_segments(MIN_MERGE);
        writer.set_merge_policy(Box::new(policy));
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        let shared = Arc::new(Shared {
            writer: Mutex::new(Some(writer)),
            reader,
            zones: ZoneCache::default(),
            dirty: AtomicBool::new(false),
            stop: Mutex::new(false),
            wake: Condvar::new(),
        });
        shared.zones.warm(&shared.reader.searcher())?;
        let interval = Duration::from_millis(options.commit_interval_ms.max(1));
        let s = shared.clone();
        let committer = std::thread::Builder::new()
            .name("xmpp_accel_mam_commit".into())
            .spawn(move || loop {
                let stop = s.stop.lock().unwrap_or_else(|p| p.into_inner());
                let (stop, _) = s
                    .wake
                    .wait_timeout(stop, interval)
                    .unwrap_or_else(|p| p.into_inner());
                if *stop {
                    return;
                }
                drop(stop);
                if s.dirty.swap(false, Ordering::AcqRel) {
                    let _ = commit_shared(&s);
                }
            })
            .map_err(|e| MamError::Open(e.to_string()))?;
        Ok(MamIndex {
            fields,
            options,
            shared,
            committer: Some(committer),
            newest: Mutex::new(HashMap::new()),
        })
    }

    /// Adds messages (replacing any with the same archive and mam id, so
    /// feeding the same messages again adds no duplicates). Searchable after
    /// the next commit.
    pub fn index(&self, messages: &[Message]) -> Result<(), MamError> {
        for m in messages {
            if m.body.len() > self.options.max_body {
                return Err(MamError::BadInput(format!(
                    "body of {} bytes (limit {})",
                    m.body.len(),
                    self.options.max_body
                )));
            }
        }
        let guard = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard.as_ref().ok_or(MamError::Closed)?;
        let f = self.fields;
        let mut newest = self.newest.lock().unwrap_or_else(|p| p.into_inner());
        for m in messages {
            let known = match newest.get(&m.archive_id) {
                Some(known) => *known,
                None => self.last_indexed_id(m.archive_id)?,
            };
            if known.is_some_and(|k| m.mam_id <= k) {
                delete_message(writer, f, m.archive_id, m.mam_id)?;
            }
            newest.insert(m.archive_id, known.max(Some(m.mam_id)));
            let mut doc = TantivyDocument::default();
            doc.add_u64(f.archive, m.archive_id);
            doc.add_u64(f.mam_id, m.mam_id);
            doc.add_text(f.bare, &m.remote_jid);
            doc.add_text(f.full, full_jid(&m.remote_jid, &m.remote_resource));
            doc.add_u64(f.groupchat, m.is_groupchat as u64);
            doc.add_text(f.body, &m.body);
            writer.add_document(doc)?;
        }
        self.shared.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Deletes one message or a whole archive (after the next commit).
    pub fn delete(&self, what: Deletion) -> Result<(), MamError> {
        let guard = self.shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        let writer = guard.as_ref().ok_or(MamError::Closed)?;
        match what {
            Deletion::Message { archive_id, mam_id } => {
                delete_message(writer, self.fields, archive_id, mam_id)?;
            }
            Deletion::Archive { archive_id } => {
                writer.delete_term(Term::from_field_u64(self.fields.archive, archive_id));
            }
        }
        self.shared.dirty.store(true, Ordering::Release);
        Ok(())
    }

    /// Makes every write so far durable and searchable, now.
    pub fn commit(&self) -> Result<(), MamError> {
        self.shared.dirty.store(false, Ordering::Release);
        commit_shared(&self.shared)
    }

    /// The highest mam id committed for `archive_id` (to resume feeding
    /// after a crash), or `None` for an empty archive.
    pub fn last_indexed_id(&self, archive_id: u64) -> Result<Option<u64>, MamError> {
        query::last_id(
            &self.shared.reader.searcher(),
            &self.shared.zones,
            self.fields,
            archive_id,
        )
    }

    /// Answers a MAM query (XEP-0313) over what is committed.
    pub fn search(&self, q: &Query) -> Result<Page, MamError> {
        query::search(
            &self.shared.reader.searcher(),
            &self.shared.zones,
            self.fields,
            self.options.tokenizer,
            q,
        )
    }

    /// Commits and closes; later calls return [`MamError::Closed`].
    pub fn close(&mut self) -> Result<(), MamError> {
        let result = commit_shared(&self.shared);
        *self.shared.stop.lock().unwrap_or_else(|p| p.into_inner()) = true;
        self.shared.wake.notify_all();
        if let Some(t) = self.committer.take() {
            let _ = t.join();
        }
        // dropping the writer releases the directory lock
        if let Some(w) = self
            .shared
            .writer
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take()
        {
            let _ = w.wait_merging_threads();
        }
        result
    }
}

impl Drop for MamIndex {
    fn drop(&mut self) {
        let _ = self.close();
    }
}

fn commit_shared(shared: &Shared) -> Result<(), MamError> {
    {
        let mut guard = shared.writer.lock().unwrap_or_else(|p| p.into_inner());
        match guard.as_mut() {
            Some(w) => {
                w.commit()?;
            }
            None => return Err(MamError::Closed),
        }
    }
    shared.reader.reload()?;
    shared.zones.warm(&shared.reader.searcher())
}

/// Queues the deletion of the message `mam_id` of `archive_id`: the
/// documents with both terms (no per-message key term to index: unique
/// terms are what a document costs most to index).
fn delete_message(
    writer: &IndexWriter,
    f: Fields,
    archive_id: u64,
    mam_id: u64,
) -> Result<(), MamError> {
    let term = |field, value| -> Box<dyn tantivy::query::Query> {
        Box::new(TermQuery::new(
            Term::from_field_u64(field, value),
            IndexRecordOption::Basic,
        ))
    };
    writer.delete_query(Box::new(BooleanQuery::new(vec![
        (Occur::Must, term(f.archive, archive_id)),
        (Occur::Must, term(f.mam_id, mam_id)),
    ])))?;
    Ok(())
}

pub(crate) fn full_jid(bare: &str, resource: &str) -> String {
    if resource.is_empty() {
        bare.to_owned()
    } else {
        format!("{bare}/{resource}")
    }
}
