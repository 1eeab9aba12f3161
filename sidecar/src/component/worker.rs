//! The room worker: one dedicated thread that owns the MUC Light
//! [`Service`], the room storage (SQLite or PostgreSQL, [`Storage`]) and the
//! full-text index, fed through a bounded channel. Each stanza is one
//! storage transaction (the service's
//! reads and writes and the archive rows); the index is written after the
//! commit and made searchable at the first tick (every 250 ms) at least
//! `index_commit` ([`COMMIT_EVERY`] unless set) after the last commit, or at
//! once before a MAM query.
//! Until then the writes are only in memory: the archive is the system of
//! record, and the catch-up at start indexes what a crash lost. The connection task never waits on the disk: it awaits the
//! answer of its job on a oneshot channel.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};
use xmpp_accel_core::fanout::Template;
use xmpp_accel_core::mam::{self, Deletion, MamIndex};
use xmpp_accel_core::muclight::{BareJid, Jid, Output, Service, StanzaError};
use xmpp_accel_core::xml::{Element, Node, Style};

use super::mam::{self as q, child, el, text, NS_MAM, NS_SID};
use super::tail::{self, ResourceChange, TailHandle};
use crate::metrics::ComponentMetrics;
use crate::storage::{self, ArchivedMessage, Backend, Storage};

/// What to write for one incoming stanza, in order.
#[derive(Debug)]
pub enum Piece {
    /// A stanza for one recipient, ready.
    Bytes(Vec<u8>),
    /// A room stanza for every online resource of each recipient.
    Broadcast {
        template: Template,
        recipients: Vec<BareJid>,
    },
}

/// A job for the worker.
pub enum Job {
    /// A stanza from `from` (its full JID) to the service or a room.
    Stanza {
        from: Jid,
        stanza: Element,
        reply: oneshot::Sender<Vec<Piece>>,
    },
    /// Make the index's writes searchable; refresh gauges.
    Tick,
    /// Store changes of members' online resources: (bare JID, resource, online).
    Resources(Vec<(String, String, bool)>),
}

/// Worker settings.
pub struct Settings {
    pub max_body_size: usize,
    pub mam_max_page: usize,
    /// How often the index's writes are made searchable while messages
    /// flow (`[component] index_commit_ms`; None: [`COMMIT_EVERY`] with SQLite,
    /// [`tail::COMMIT_EVERY`] with PostgreSQL).
    pub index_commit: Option<Duration>,
}

struct Worker {
    service: Service,
    store: Box<dyn Storage>,
    index: Arc<MamIndex>,
    /// With PostgreSQL: the archive tailer feeds the index (every
    /// instance's writes, this one's included); without, the worker does.
    tail: Option<TailHandle>,
    settings: Settings,
    metrics: ComponentMetrics,
    /// Archived messages handed to the index since its last commit.
    pending: i64,
    last_commit: Instant,
    /// Rooms or occupants may have changed since the gauges were set.
    dirty: bool,
}

/// What [`start`] gives: the job queue, the thread, the stored online
/// resources, and (PostgreSQL) the changes of online resources that any
/// instance stores, as they come.
pub type Started = (
    mpsc::Sender<Job>,
    std::thread::JoinHandle<()>,
    Vec<(String, String)>,
    Option<tokio::sync::mpsc::UnboundedReceiver<ResourceChange>>,
);

/// How long a MAM query waits for the tailer to make the archive searchable.
const SYNC_TIMEOUT: Duration = Duration::from_secs(2);

/// How often the worker makes the index's writes searchable while messages
/// flow, unless `[component] index_commit_ms` says otherwise (SQLite; with
/// PostgreSQL the tailer commits, [`tail::COMMIT_EVERY`]). A MAM query
/// commits first in any case, so no client waits for it; a commit costs
/// some 7 ms of CPU (a new segment's files, their fsyncs, soon a merge:
/// `cargo run --release -p xmpp_accel_core --example mam_commit_cost`),
/// which every 250 ms was most of the component's CPU in a busy room.
pub const COMMIT_EVERY: Duration = Duration::from_secs(5);

/// The index's own commit thread, behind the worker's and the tailer's
/// commits, in ms.
const INDEX_BACKSTOP_COMMIT_MS: u64 = 60_000;

/// Opens the store and the index, catches the index up with the archive,
/// and starts the worker thread. Returns the job queue (bounded: a full
/// queue makes the connection wait, which stops its reads).
pub fn start(
    service: Service,
    storage: &Backend,
    index_dir: &Path,
    settings: Settings,
    metrics: ComponentMetrics,
) -> Result<Started, String> {
    let mut store = storage::open(storage)?;
    // the worker (SQLite) or the tailer (PostgreSQL) commits, as often as
    // `index_commit` says and before each search; the index's own commit
    // thread only backs them up, rarely (each commit costs a segment and,
    // soon, a merge)
    let options = mam::Options {
        commit_interval_ms: INDEX_BACKSTOP_COMMIT_MS,
        ..mam::Options::default()
    };
    let index = Arc::new(
        MamIndex::open(index_dir, options).map_err(|e| format!("{}: {e}", index_dir.display()))?,
    );
    // the tailer LISTENs before the stored resources are read: no change
    // falls between the two
    let (tail, remote, caught) = match storage {
        Backend::Postgres { url, .. } => {
            let config: postgres::Config = url.parse().map_err(|e| format!("postgres: {e}"))?;
            let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
            let every = settings.index_commit.unwrap_or(tail::COMMIT_EVERY);
            let (t, caught) = tail::start(config, index.clone(), metrics.clone(), tx, every)?;
            (Some(t), Some(rx), Some(caught))
        }
        Backend::Sqlite(_) => (None, None, None),
    };
    let resources = store
        .resources()
        .map_err(|e| format!("room storage: {e}"))?;
    let mut w = Worker {
        service,
        store,
        index,
        tail,
        settings,
        metrics,
        pending: 0,
        last_commit: Instant::now(),
        dirty: true,
    };
    let caught = match caught {
        Some(n) => n,
        None => w.catch_up().map_err(|e| format!("index catch-up: {e}"))?,
    };
    tracing::info!(
        messages = caught,
        "full-text index caught up with the archive"
    );
    w.tick(true);
    let (tx, mut rx) = mpsc::channel::<Job>(1024);
    let handle = std::thread::Builder::new()
        .name("muclight-worker".into())
        .spawn(move || {
            while let Some(job) = rx.blocking_recv() {
                match job {
                    Job::Stanza {
                        from,
                        stanza,
                        reply,
                    } => {
                        // a bug on one stanza must not end the component:
                        // roll its transaction back, answer internal-server-error
                        let out = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            w.stanza(&from, &stanza)
                        }))
                        .unwrap_or_else(|_| {
                            tracing::error!(%from, "room worker: panic on a stanza (rolled back)");
                            let _ = w.store.rollback();
                            w.internal_error(&from, &stanza)
                        });
                        let _ = reply.send(out);
                    }
                    Job::Tick => w.tick(false),
                    Job::Resources(changes) => {
                        if let Err(e) = w.store.update_resources(&changes) {
                            tracing::error!("storing online resources: {e}");
                        }
                    }
                }
            }
            w.tick(true);
            if let Some(t) = w.tail.take() {
                t.stop();
            }
            match Arc::get_mut(&mut w.index) {
                Some(index) => {
                    if let Err(e) = index.close() {
                        tracing::error!("closing the full-text index: {e}");
                    }
                }
                None => tracing::error!("closing the full-text index: still shared"),
            }
            tracing::info!("room worker stopped");
        })
        .map_err(|e| e.to_string())?;
    Ok((tx, handle, resources, remote))
}

fn body_of(stanza: &Element) -> String {
    child(stanza, "body", None).map(text).unwrap_or_default()
}

/// `s` cut to at most `max` bytes, on a character boundary.
fn cut(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// An error answer to `stanza` from `from` (RFC 6120 §8.3).
pub fn error_reply(from: &Jid, stanza: &Element, error: Element) -> Vec<u8> {
    let mut attrs: Vec<(&str, &str)> = Vec::new();
    if let Some(to) = stanza.attr("to") {
        attrs.push(("from", to));
    }
    let from_s = from.to_string();
    attrs.push(("to", &from_s));
    if let Some(id) = stanza.attr("id") {
        attrs.push(("id", id));
    }
    attrs.push(("type", "error"));
    let mut e = el(&stanza.name, &attrs, Vec::new());
    // a message error carries the original content, an IQ error its query
    e.children = stanza.children.clone();
    e.children.push(Node::Element(error));
    e.to_bytes(Style::Compact)
}

fn stanza_error(condition: &str, kind: &str, text: Option<&str>) -> Element {
    let mut e = el(
        "error",
        &[("type", kind)],
        vec![Node::Element(el(
            condition,
            &[("xmlns", "urn:ietf:params:xml:ns:xmpp-stanzas")],
            vec![],
        ))],
    );
    if let Some(t) = text {
        e.children.push(Node::Element(el(
            "text",
            &[("xmlns", "urn:ietf:params:xml:ns:xmpp-stanzas")],
            vec![Node::Text(t.to_owned())],
        )));
    }
    e
}

impl Worker {
    fn index_message(&self, m: &ArchivedMessage, room: &str) -> mam::Message {
        mam::Message {
            archive_id: m.archive_id,
            mam_id: m.mam_id,
            remote_jid: m.sender.clone().unwrap_or_else(|| room.to_owned()),
            remote_resource: String::new(),
            is_groupchat: true,
            body: cut(&m.body, mam::Options::default().max_body).to_owned(),
        }
    }

    /// Feeds the index every archived message above its last indexed id.
    fn catch_up(&mut self) -> Result<u64, String> {
        let mut total = 0;
        for (aid, room) in self.store.archives().map_err(|e| e.to_string())? {
            let mut last = self.index.last_indexed_id(aid).map_err(|e| e.to_string())?;
            loop {
                let batch = self
                    .store
                    .messages_after(aid, last, 1000)
                    .map_err(|e| e.to_string())?;
                let Some(end) = batch.last().map(|m| m.mam_id) else {
                    break;
                };
                let docs: Vec<_> = batch.iter().map(|m| self.index_message(m, &room)).collect();
                self.metrics.index_lag.set(docs.len() as i64);
                self.index.index(&docs).map_err(|e| e.to_string())?;
                total += docs.len() as u64;
                last = Some(end);
            }
        }
        self.index.commit().map_err(|e| e.to_string())?;
        Ok(total)
    }

    /// Commits the index if it has writes and (unless `now`) the last
    /// commit is `index_commit` old; refreshes the gauges.
    fn tick(&mut self, now: bool) {
        let every = self.settings.index_commit.unwrap_or(COMMIT_EVERY);
        let due = self.last_commit.elapsed() >= every;
        if self.pending > 0 && (now || due) {
            match self.index.commit() {
                Ok(()) => self.pending = 0,
                Err(e) => tracing::error!("full-text index commit: {e}"),
            }
            self.last_commit = Instant::now();
        } else if self.pending == 0 {
            self.last_commit = Instant::now();
        }
        if self.tail.is_none() {
            self.metrics.index_lag.set(self.pending);
        }
        if self.dirty {
            if let Ok((rooms, members)) = self.store.counts() {
                self.metrics.rooms.set(rooms as i64);
                self.metrics.members.set(members as i64);
            }
            self.dirty = false;
        }
    }

    fn stanza(&mut self, from: &Jid, stanza: &Element) -> Vec<Piece> {
        if stanza.name == "iq" {
            if let Some(query) = child(stanza, "query", Some(NS_MAM)) {
                let to_room = stanza
                    .attr("to")
                    .and_then(|t| BareJid::new(t).ok())
                    .filter(|j| j.node().is_some());
                if let Some(room) = to_room {
                    return self.mam(from, stanza, query, &room);
                }
            }
        }
        if stanza.name == "message"
            && stanza.attr("type") == Some("groupchat")
            && self.settings.max_body_size > 0
            && body_of(stanza).len() > self.settings.max_body_size
        {
            return vec![Piece::Bytes(error_reply(
                from,
                stanza,
                stanza_error("not-acceptable", "modify", Some("Message body too large")),
            ))];
        }
        // a conflict with another instance sharing the storage (deadlock,
        // serialization failure) is retried from the start, twice at most
        let mut tries = 0;
        let started = Instant::now();
        let outputs = loop {
            if let Err(e) = self.store.begin() {
                tracing::error!("room storage: {e}");
                return self.internal_error(from, stanza);
            }
            let e = match self.service.handle(&mut *self.store, from, stanza) {
                Ok(o) => break o,
                Err(e) => e,
            };
            let _ = self.store.rollback();
            if tries < 2 && self.store.is_conflict(&e.source) {
                tries += 1;
                tracing::warn!("room storage: {} (retried)", e.source);
                continue;
            }
            tracing::error!("room storage: {}", e.source);
            return match e.reply {
                Some(o) => match *o {
                    Output::Direct { stanza, .. } => {
                        vec![Piece::Bytes(stanza.to_bytes(Style::Compact))]
                    }
                    _ => Vec::new(),
                },
                None => Vec::new(),
            };
        };
        let mut pieces = Vec::new();
        let mut archived: Vec<(ArchivedMessage, String)> = Vec::new();
        let mut last_archived: Option<(BareJid, u64)> = None;
        let mut deleted: Vec<u64> = Vec::new();
        let mut failed = false;
        for out in outputs {
            match out {
                Output::Direct { stanza, .. } => {
                    pieces.push(Piece::Bytes(stanza.to_bytes(Style::Compact)))
                }
                Output::Archive(entry) => {
                    let aid = match self.store.archive_id(&entry.room, true) {
                        Ok(Some(a)) => a,
                        Ok(None) => continue,
                        Err(e) => {
                            tracing::error!("room archive: {e}");
                            failed = true;
                            break;
                        }
                    };
                    let mam_id = match self.store.next_mam_id() {
                        Ok(id) => id,
                        Err(e) => {
                            tracing::error!("room archive: {e}");
                            failed = true;
                            break;
                        }
                    };
                    let m = ArchivedMessage {
                        archive_id: aid,
                        mam_id,
                        sender: entry.sender.as_ref().map(|s| s.to_string()),
                        body: body_of(&entry.stanza),
                        stanza: entry.stanza.to_bytes(Style::Compact),
                    };
                    if let Err(e) = self.store.append(&m) {
                        tracing::error!("room archive: {e}");
                        failed = true;
                        break;
                    }
                    last_archived = Some((entry.room.clone(), m.mam_id));
                    archived.push((m, entry.room.to_string()));
                }
                Output::Broadcast(mut b) => {
                    if b.archived {
                        if let Some((room, id)) = &last_archived {
                            if *room == b.room {
                                let room_s = room.to_string();
                                let id_s = id.to_string();
                                b.stanza.children.push(Node::Element(el(
                                    "stanza-id",
                                    &[("xmlns", NS_SID), ("by", &room_s), ("id", &id_s)],
                                    vec![],
                                )));
                            }
                        }
                    }
                    self.dirty = true;
                    pieces.push(Piece::Broadcast {
                        template: b.template(),
                        recipients: b.recipients,
                    });
                }
                Output::RoomDestroyed(room) => match self.store.delete_archive(&room) {
                    Ok(Some(aid)) => deleted.push(aid),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::error!("room archive: {e}");
                        failed = true;
                        break;
                    }
                },
            }
        }
        if failed {
            let _ = self.store.rollback();
            return self.internal_error(from, stanza);
        }
        if let Err(e) = self.store.commit() {
            tracing::error!("room storage commit: {e}");
            let _ = self.store.rollback();
            return self.internal_error(from, stanza);
        }
        self.dirty = true;
        self.metrics.archive_writes.inc_by(archived.len() as u64);
        if !archived.is_empty() {
            self.metrics
                .archive_write_seconds
                .observe(started.elapsed().as_secs_f64());
        }
        if !archived.is_empty() && self.tail.is_none() {
            let docs: Vec<_> = archived
                .iter()
                .map(|(m, room)| self.index_message(m, room))
                .collect();
            match self.index.index(&docs) {
                Ok(()) => self.pending += docs.len() as i64,
                // derived data: the next start's catch-up adds it
                Err(e) => tracing::error!("full-text index: {e}"),
            }
            self.metrics.index_lag.set(self.pending);
        }
        for aid in deleted {
            if let Err(e) = self.index.delete(Deletion::Archive { archive_id: aid }) {
                tracing::error!("full-text index: {e}");
            }
            self.pending += 1;
        }
        pieces
    }

    fn internal_error(&self, from: &Jid, stanza: &Element) -> Vec<Piece> {
        if stanza.attr("type") == Some("error") || stanza.attr("type") == Some("result") {
            return Vec::new();
        }
        vec![Piece::Bytes(error_reply(
            from,
            stanza,
            StanzaError::InternalServerError.to_element(),
        ))]
    }

    /// An XEP-0313 query of a room's archive (members only; others get
    /// MongooseIM's `not-allowed`).
    fn mam(&mut self, from: &Jid, iq: &Element, query: &Element, room: &BareJid) -> Vec<Piece> {
        let ty = iq.attr("type").unwrap_or("");
        if ty == "result" || ty == "error" {
            return Vec::new();
        }
        let refuse = |cond: &str, kind: &str, t: Option<&str>| {
            vec![Piece::Bytes(error_reply(
                from,
                iq,
                stanza_error(cond, kind, t),
            ))]
        };
        let sender = from.to_bare();
        match self.store.room_affiliations(room) {
            Ok(Some(affs)) if affs.iter().any(|(u, _)| *u == sender) => {}
            // as MongooseIM's mod_mam_muc (can_access_room is false)
            Ok(_) => {
                return refuse(
                    "not-allowed",
                    "cancel",
                    Some("The action is not allowed. Not a room member"),
                )
            }
            Err(e) => {
                tracing::error!("room storage: {e}");
                return self.internal_error(from, iq);
            }
        }
        let room_s = room.to_string();
        let from_s = from.to_string();
        let id = iq.attr("id").unwrap_or("");
        if ty == "get" {
            let r = el(
                "iq",
                &[
                    ("from", &room_s),
                    ("to", &from_s),
                    ("id", id),
                    ("type", "result"),
                ],
                vec![Node::Element(q::form())],
            );
            return vec![Piece::Bytes(r.to_bytes(Style::Compact))];
        }
        if ty != "set" {
            return refuse("bad-request", "modify", None);
        }
        let mut parsed = match q::parse(query, room, self.settings.mam_max_page) {
            Ok(p) => p,
            Err(r) => {
                let kind = if r.condition == "bad-request" {
                    "modify"
                } else {
                    "cancel"
                };
                return refuse(r.condition, kind, Some(&r.text));
            }
        };
        let aid = match self.store.archive_id(room, false) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("room archive: {e}");
                return self.internal_error(from, iq);
            }
        };
        let mut out = Vec::new();
        let (ids, count, first_index) = match aid {
            None => (Vec::new(), Some(0), None),
            Some(aid) => {
                if self.pending > 0 {
                    self.tick(true);
                }
                if let Some(t) = &self.tail {
                    // everything committed before this query, by any
                    // instance, searchable before it is answered
                    let store = &mut self.store;
                    if !t.sync(SYNC_TIMEOUT, || {
                        if let Err(e) = store.wake_tail() {
                            tracing::warn!("waking the archive tailer: {e}");
                        }
                    }) {
                        tracing::warn!("the archive tailer did not catch up within {SYNC_TIMEOUT:?}: answering from the index as it is");
                    }
                }
                parsed.query.archive_id = aid;
                let page = match self.index.search(&parsed.query) {
                    Ok(p) => p,
                    Err(e) => {
                        tracing::error!("full-text index: {e}");
                        return self.internal_error(from, iq);
                    }
                };
                let stanzas = match self.store.stanzas(aid, &page.ids) {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("room archive: {e}");
                        return self.internal_error(from, iq);
                    }
                };
                for (mid, bytes) in stanzas {
                    let Ok(mut m) = Element::parse(&bytes) else {
                        continue;
                    };
                    m.attrs.retain(|(k, _)| k != "xmlns");
                    m.attrs.insert(0, ("xmlns".into(), "jabber:client".into()));
                    let mid_s = mid.to_string();
                    let stamp = q::stamp(mid);
                    let forwarded = el(
                        "forwarded",
                        &[("xmlns", q::NS_FORWARD)],
                        vec![
                            Node::Element(el(
                                "delay",
                                &[("xmlns", q::NS_DELAY), ("stamp", &stamp)],
                                vec![],
                            )),
                            Node::Element(m),
                        ],
                    );
                    let mut rattrs = vec![("xmlns", NS_MAM)];
                    if let Some(qid) = parsed.queryid.as_deref() {
                        rattrs.push(("queryid", qid));
                    }
                    rattrs.push(("id", &mid_s));
                    let result = el("result", &rattrs, vec![Node::Element(forwarded)]);
                    let msg = el(
                        "message",
                        &[("from", &room_s), ("to", &from_s), ("id", &mid_s)],
                        vec![Node::Element(result)],
                    );
                    out.push(Piece::Bytes(msg.to_bytes(Style::Compact)));
                }
                (page.ids, page.count, page.first_index)
            }
        };
        let complete = q::complete(&parsed.query, ids.len(), count, first_index);
        let mut set = el("set", &[("xmlns", q::NS_RSM)], vec![]);
        // ids are in page order; first/last name the oldest/newest in it
        let (oldest, newest) = if parsed.query.flip_page {
            (ids.last(), ids.first())
        } else {
            (ids.first(), ids.last())
        };
        if let (Some(f), Some(l)) = (oldest, newest) {
            let mut first = el("first", &[], vec![Node::Text(f.to_string())]);
            if let Some(i) = first_index {
                first.attrs.push(("index".into(), i.to_string()));
            }
            set.children.push(Node::Element(first));
            set.children.push(Node::Element(el(
                "last",
                &[],
                vec![Node::Text(l.to_string())],
            )));
        }
        if let Some(c) = count {
            set.children.push(Node::Element(el(
                "count",
                &[],
                vec![Node::Text(c.to_string())],
            )));
        }
        let mut fin_attrs = vec![("xmlns", NS_MAM)];
        if complete {
            fin_attrs.push(("complete", "true"));
        }
        let fin = el("fin", &fin_attrs, vec![Node::Element(set)]);
        let r = el(
            "iq",
            &[
                ("from", &room_s),
                ("to", &from_s),
                ("id", id),
                ("type", "result"),
            ],
            vec![Node::Element(fin)],
        );
        out.push(Piece::Bytes(r.to_bytes(Style::Compact)));
        out
    }
}
