//! The PostgreSQL archive tailer: with shared storage, each component
//! instance keeps a full-text index of every room's archive, whichever
//! instance wrote it (issue 12 §1).
//!
//! One thread of its own, with its own connection (not a tokio worker: all
//! of it blocks on the database or on the index):
//! - `LISTEN xa_archive`: a statement trigger on the archive notifies at
//!   each commit that added rows; without a notification it reads anyway
//!   every [`POLL`] (the fallback: a notification lost with a connection,
//!   a writer without the trigger). After a wake it waits [`GAP`] so that
//!   one read takes what many transactions committed.
//! - Each read is one snapshot ([`PgTail::read`]): the rows of the
//!   transactions that were still running at the last snapshot or began
//!   after it. Mam ids of different rooms are committed out of order (an
//!   id is taken inside the transaction), so tailing by `mam_id > last`
//!   would skip a row committed late; tailing by the writers' transaction
//!   ids against the snapshot is exact (see [`TailPosition`]), whatever
//!   the commit order and however long a transaction runs, and no row is
//!   read twice. The rows of one read go to the index in mam id order.
//! - The index is committed (made searchable) at most [`COMMIT_EVERY`]
//!   (or `[component] index_commit_ms`) after a read found rows, or at once when a search asks
//!   ([`TailHandle::sync`]): a MAM query on this instance waits until a read
//!   that began after the query came in is searchable, so an instance sees
//!   its own writes at once and everyone's within the lag.
//! - At start, before serving: in one snapshot, each archive from the
//!   index's last indexed id on (the index is durable and a derived copy;
//!   removing it rebuilds it).
//! - `LISTEN xa_resources`: members' online resources that any instance
//!   stored (ejabberd gives a privileged presence to one of the component's
//!   connections only) go to the link task, which fans out room stanzas.
//!
//! Lag per message (the database's clock in the mam id to the commit that
//! made it searchable here) goes to `component_index_lag_seconds`.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tokio::sync::mpsc::UnboundedSender;
use xmpp_accel_core::mam::{self, Deletion, MamIndex};
use xmpp_accel_core::muclight::StoreError;

use crate::metrics::ComponentMetrics;
use crate::storage::{ArchivedMessage, PgTail, TailBatch, TailEvent, TailPosition};

/// Read without a notification after this long.
pub const POLL: Duration = Duration::from_millis(250);
/// After a wake, wait this long before reading (batches many commits).
pub const GAP: Duration = Duration::from_millis(5);
/// Make read rows searchable at most this long after they were read (the
/// default of `[component] index_commit_ms` with PostgreSQL).
pub const COMMIT_EVERY: Duration = Duration::from_millis(100);
/// Rows per query.
const PAGE: usize = 5000;

/// A change of a member's online resource: (bare JID, resource, online).
pub type ResourceChange = (String, String, bool);

struct Shared {
    stop: AtomicBool,
    /// Syncs asked for, numbered; `done` is the last one served.
    asked: AtomicU64,
    done: Mutex<u64>,
    served: Condvar,
}

/// The running tailer.
pub struct TailHandle {
    shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TailHandle {
    /// Waits (up to `timeout`) until everything committed to the archive
    /// before this call is searchable in the index; false on timeout.
    /// `wake` tells the tailer (a `NOTIFY` through another connection).
    pub fn sync(&self, timeout: Duration, wake: impl FnOnce()) -> bool {
        let target = self.shared.asked.fetch_add(1, Ordering::AcqRel) + 1;
        wake();
        let deadline = Instant::now() + timeout;
        let mut done = self.shared.done.lock().unwrap_or_else(|p| p.into_inner());
        while *done < target {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            done = self
                .shared
                .served
                .wait_timeout(done, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
        true
    }

    /// Stops the thread (after a last read and commit).
    pub fn stop(mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for TailHandle {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn doc(m: &ArchivedMessage) -> mam::Message {
    let mut body = m.body.as_str();
    let max = mam::Options::default().max_body;
    if body.len() > max {
        let mut end = max;
        while !body.is_char_boundary(end) {
            end -= 1;
        }
        body = &body[..end];
    }
    mam::Message {
        archive_id: m.archive_id,
        mam_id: m.mam_id,
        // a stanza without a sender (a notification) has the room's JID
        // (the read fills it in), as the worker indexes it
        remote_jid: m.sender.clone().unwrap_or_default(),
        remote_resource: String::new(),
        is_groupchat: true,
        body: body.to_owned(),
    }
}

fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_micros() as u64)
        .unwrap_or(0)
}

struct Feeder {
    index: Arc<MamIndex>,
    metrics: ComponentMetrics,
    /// Mam ids handed to the index since its last commit.
    pending: Vec<u64>,
    total: u64,
    /// Off during the catch-up at start: the age of old messages is not lag.
    observe: bool,
}

impl Feeder {
    fn take(&mut self, b: TailBatch) -> Result<(), StoreError> {
        match b {
            TailBatch::Messages(ms) => {
                let docs: Vec<_> = ms.iter().map(doc).collect();
                self.index
                    .index(&docs)
                    .map_err(|e| -> StoreError { e.to_string().into() })?;
                self.pending.extend(ms.iter().map(|m| m.mam_id));
                self.total += ms.len() as u64;
                self.metrics.tail_messages.inc_by(ms.len() as u64);
            }
            TailBatch::Deleted(aids) => {
                for a in aids {
                    self.index
                        .delete(Deletion::Archive { archive_id: a })
                        .map_err(|e| -> StoreError { e.to_string().into() })?;
                }
                self.pending.push(0);
            }
        }
        self.metrics.index_lag.set(self.pending.len() as i64);
        Ok(())
    }

    fn commit(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        if let Err(e) = self.index.commit() {
            tracing::error!("full-text index commit: {e}");
            return;
        }
        let now = now_us();
        let mut top = 0;
        for &id in &self.pending {
            if id == 0 {
                continue;
            }
            top = top.max(id);
            if self.observe {
                let lag = now.saturating_sub(id >> 8) as f64 / 1e6;
                self.metrics.index_lag_seconds.observe(lag);
            }
        }
        if top > 0 {
            self.metrics.tail_last_id.set(top as i64);
        }
        self.pending.clear();
        self.metrics.index_lag.set(0);
    }
}

/// Connects, catches the index up with the archive (blocking: the caller
/// is a blocking thread), then starts the tailer thread. Returns its handle
/// and the number of messages the catch-up indexed.
pub fn start(
    config: postgres::Config,
    index: Arc<MamIndex>,
    metrics: ComponentMetrics,
    resources: UnboundedSender<ResourceChange>,
    commit_every: Duration,
) -> Result<(TailHandle, u64), String> {
    let mut conn = PgTail::connect(&config).map_err(|e| format!("archive tailer: {e}"))?;
    let mut feeder = Feeder {
        index: index.clone(),
        metrics,
        pending: Vec::new(),
        total: 0,
        observe: false,
    };
    let pos = {
        let idx = index.clone();
        conn.catch_up(
            PAGE,
            |aid| idx.last_indexed_id(aid).map_err(|e| e.to_string().into()),
            |b| feeder.take(b),
        )
        .map_err(|e| format!("index catch-up: {e}"))?
    };
    feeder.commit();
    feeder.observe = true;
    let caught = feeder.total;
    let shared = Arc::new(Shared {
        stop: AtomicBool::new(false),
        asked: AtomicU64::new(0),
        done: Mutex::new(0),
        served: Condvar::new(),
    });
    let s = shared.clone();
    let thread = std::thread::Builder::new()
        .name("muclight-tail".into())
        .spawn(move || run(config, Some(conn), pos, feeder, s, resources, commit_every))
        .map_err(|e| e.to_string())?;
    Ok((
        TailHandle {
            shared,
            thread: Some(thread),
        },
        caught,
    ))
}

fn run(
    config: postgres::Config,
    mut conn: Option<PgTail>,
    mut pos: TailPosition,
    mut feeder: Feeder,
    shared: Arc<Shared>,
    resources: UnboundedSender<ResourceChange>,
    commit_every: Duration,
) {
    let mut last_commit = Instant::now();
    let mut last_read = Instant::now();
    let mut read_pending = true;
    loop {
        if shared.stop.load(Ordering::Acquire) {
            break;
        }
        let Some(c) = conn.as_mut().filter(|c| !c.is_closed()) else {
            conn = None;
            match PgTail::connect(&config) {
                Ok(mut c) => {
                    tracing::info!("archive tailer: connected");
                    // notifications sent meanwhile are lost: read it all
                    match c.resources() {
                        Ok(all) => {
                            for (u, r) in all {
                                let _ = resources.send((u, r, true));
                            }
                        }
                        Err(e) => tracing::warn!("archive tailer: resources: {e}"),
                    }
                    conn = Some(c);
                    read_pending = true;
                }
                Err(e) => {
                    tracing::warn!("archive tailer: {e} (retrying in 1 s)");
                    for _ in 0..10 {
                        if shared.stop.load(Ordering::Acquire) {
                            break;
                        }
                        std::thread::sleep(Duration::from_millis(100));
                    }
                }
            }
            continue;
        };
        let asked = shared.asked.load(Ordering::Acquire);
        let served = *shared.done.lock().unwrap_or_else(|p| p.into_inner());
        let want_sync = asked > served;
        let wait = if want_sync || read_pending {
            Duration::ZERO
        } else if !feeder.pending.is_empty() {
            commit_every.saturating_sub(last_commit.elapsed())
        } else {
            POLL.saturating_sub(last_read.elapsed())
        };
        let events = match c.wait(wait) {
            Ok(e) => e,
            Err(e) => {
                tracing::warn!("archive tailer: {e}");
                conn = None;
                continue;
            }
        };
        let mut woke = false;
        for e in events {
            match e {
                TailEvent::Archive => woke = true,
                TailEvent::Resource {
                    member,
                    resource,
                    online,
                } => {
                    let _ = resources.send((member, resource, online));
                }
            }
        }
        let due = last_read.elapsed() >= POLL;
        if woke || due || want_sync || read_pending {
            if woke && !want_sync && !read_pending {
                // let more commits land: one read takes them all
                std::thread::sleep(GAP);
            }
            let asked = shared.asked.load(Ordering::Acquire);
            last_read = Instant::now();
            match c.read(&pos, PAGE, |b| feeder.take(b)) {
                Ok(p) => {
                    pos = p;
                    read_pending = false;
                }
                Err(e) => {
                    tracing::warn!("archive tailer: read: {e}");
                    // the index may hold part of the read: feeding it again
                    // replaces, never duplicates
                    read_pending = true;
                    conn = None;
                    continue;
                }
            }
            if asked > served {
                feeder.commit();
                last_commit = Instant::now();
                let mut done = shared.done.lock().unwrap_or_else(|p| p.into_inner());
                *done = (*done).max(asked);
                shared.served.notify_all();
                continue;
            }
        }
        if !feeder.pending.is_empty() && last_commit.elapsed() >= commit_every {
            feeder.commit();
            last_commit = Instant::now();
        } else if feeder.pending.is_empty() {
            last_commit = Instant::now();
        }
    }
    if let Some(c) = conn.as_mut() {
        if let Ok(p) = c.read(&pos, PAGE, |b| feeder.take(b)) {
            pos = p;
        }
    }
    let _ = pos;
    feeder.commit();
    tracing::info!("archive tailer stopped");
}
