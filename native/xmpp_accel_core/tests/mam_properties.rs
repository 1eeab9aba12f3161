//! MAM search semantics against a naive reference: filter a Vec by the same
//! rules (archive, words, with, time range, ids, groupchat), page it as
//! XEP-0313/XEP-0059 do (first, after, before, last, index, flip-page), count.

#![cfg(feature = "mam")]

use proptest::prelude::*;
use std::path::PathBuf;
use xmpp_accel_core::mam::tokenize::words;
use xmpp_accel_core::mam::{Deletion, MamIndex, Message, Options, Page, Query, Rsm, Tokenizer};

const VOCAB: &[&str] = &[
    "tea",
    "cake",
    "Ünïcode",
    "hello",
    "world",
    "xmpp",
    "kot",
    "pies",
];
const JIDS: &[&str] = &["alice@x", "bob@x", "room@muc.x"];

fn temp_dir(tag: &str) -> PathBuf {
    static N: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("xmpp-accel-mam-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn message() -> impl Strategy<Value = Message> {
    (
        1u64..4,
        0usize..3,
        0usize..3,
        any::<bool>(),
        prop::collection::vec(0usize..VOCAB.len(), 0..5),
    )
        .prop_map(|(archive_id, jid, res, is_groupchat, ws)| Message {
            archive_id,
            mam_id: 0,
            remote_jid: JIDS[jid].into(),
            remote_resource: ["", "phone", "pc"][res].into(),
            is_groupchat,
            body: ws.iter().map(|&w| VOCAB[w]).collect::<Vec<_>>().join(", "),
        })
}

fn messages() -> impl Strategy<Value = Vec<Message>> {
    prop::collection::vec(message(), 0..60).prop_map(|mut ms| {
        // distinct, time-ordered mam ids
        for (i, m) in ms.iter_mut().enumerate() {
            m.mam_id = 1000 + 7 * i as u64;
        }
        ms
    })
}

fn query(ids: Vec<u64>) -> impl Strategy<Value = Query> {
    let id = move || {
        prop::sample::select(if ids.is_empty() {
            vec![1000]
        } else {
            ids.clone()
        })
    };
    (
        1u64..4,
        prop::option::of(prop::collection::vec(0usize..VOCAB.len(), 1..3)),
        prop::option::of(prop::sample::select(vec![
            "alice@x",
            "bob@x",
            "alice@x/phone",
            "room@muc.x/pc",
        ])),
        prop::option::of(id()),
        prop::option::of(id()),
        (
            prop::option::of(id()),
            prop::option::of(id()),
            any::<bool>(),
        ),
        prop::option::of(prop::collection::vec(id(), 0..4)),
        any::<bool>(),
        1usize..8,
        prop_oneof![
            Just(Rsm::First),
            Just(Rsm::Last),
            id().prop_map(Rsm::After),
            id().prop_map(Rsm::Before),
            (0u64..20).prop_map(Rsm::Index)
        ],
        any::<bool>(),
    )
        .prop_map(
            |(
                archive_id,
                text,
                with,
                start,
                end,
                (after_id, before_id, count),
                ids,
                include_groupchat,
                max,
                rsm,
                flip_page,
            )| Query {
                archive_id,
                text: text.map(|ws| ws.iter().map(|&w| VOCAB[w]).collect::<Vec<_>>().join(" ")),
                with: with.map(str::to_owned),
                start,
                end,
                after_id,
                before_id,
                ids,
                include_groupchat,
                max,
                rsm,
                flip_page,
                count,
            },
        )
}

/// The reference: filter, sort, page.
fn reference(all: &[Message], q: &Query, tokenizer: Tokenizer) -> Page {
    let want: Vec<String> = q
        .text
        .as_deref()
        .map(|t| words(t, tokenizer))
        .unwrap_or_default();
    let mut set: Vec<u64> = all
        .iter()
        .filter(|m| m.archive_id == q.archive_id)
        .filter(|m| {
            let have = words(&m.body, tokenizer);
            want.iter().all(|w| have.contains(w))
        })
        .filter(|m| match &q.with {
            None => true,
            Some(w) if w.contains('/') => format!("{}/{}", m.remote_jid, m.remote_resource) == *w,
            Some(w) => m.remote_jid == *w,
        })
        .filter(|m| q.start.is_none_or(|s| m.mam_id >= s) && q.end.is_none_or(|e| m.mam_id <= e))
        .filter(|m| {
            q.after_id.is_none_or(|a| m.mam_id > a) && q.before_id.is_none_or(|b| m.mam_id < b)
        })
        .filter(|m| q.ids.as_ref().is_none_or(|ids| ids.contains(&m.mam_id)))
        .filter(|m| q.include_groupchat || !m.is_groupchat)
        .map(|m| m.mam_id)
        .collect();
    set.sort_unstable();
    let n = set.len() as u64;
    let (mut ids, first) = match q.rsm {
        Rsm::First => (set.iter().take(q.max).copied().collect::<Vec<_>>(), 0),
        Rsm::Index(i) => (
            set.iter().skip(i as usize).take(q.max).copied().collect(),
            i,
        ),
        Rsm::After(a) => {
            let before = set.iter().filter(|&&x| x <= a).count() as u64;
            (
                set.iter()
                    .filter(|&&x| x > a)
                    .take(q.max)
                    .copied()
                    .collect(),
                before,
            )
        }
        Rsm::Before(b) => {
            let below: Vec<u64> = set.iter().filter(|&&x| x < b).copied().collect();
            let page: Vec<u64> = below[below.len().saturating_sub(q.max)..].to_vec();
            (page.clone(), (below.len() - page.len()) as u64)
        }
        Rsm::Last => {
            let page: Vec<u64> = set[set.len().saturating_sub(q.max)..].to_vec();
            (page.clone(), n - page.len() as u64)
        }
    };
    if q.flip_page {
        ids.reverse();
    }
    // without a count, the position is known for first and index pages only
    let known = q.count || matches!(q.rsm, Rsm::First | Rsm::Index(_));
    Page {
        ids,
        count: q.count.then_some(n),
        first_index: known.then_some(first),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn search_matches_the_reference(
        (msgs, queries) in messages().prop_flat_map(|ms| {
            let ids: Vec<u64> = ms.iter().map(|m| m.mam_id).collect();
            (Just(ms), prop::collection::vec(query(ids), 1..12))
        }),
        compat in any::<bool>(),
    ) {
        let tokenizer = if compat { Tokenizer::MongooseCompat } else { Tokenizer::Unicode { fold_diacritics: false } };
        let dir = temp_dir("prop");
        let mut index = MamIndex::open(&dir, Options { tokenizer, ..Options::default() }).unwrap();
        index.index(&msgs).unwrap();
        index.commit().unwrap();
        for q in &queries {
            prop_assert_eq!(index.search(q).unwrap(), reference(&msgs, q, tokenizer), "query {:?}", q);
        }
        index.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// The same on hundreds of messages fed in any order, in several
    /// commits (so several segments, each holding mam ids out of order),
    /// with some re-fed and some deleted: searches read only the blocks of
    /// documents that can still make the page, and must miss nothing.
    #[test]
    fn search_matches_the_reference_in_any_feeding_order(
        (msgs, order, queries) in prop::collection::vec(message(), 0..400).prop_flat_map(|mut ms| {
            for (i, m) in ms.iter_mut().enumerate() {
                m.mam_id = 1000 + 7 * i as u64;
            }
            let ids: Vec<u64> = ms.iter().map(|m| m.mam_id).collect();
            let n = ms.len();
            (
                Just(ms),
                prop_oneof![
                    Just((0..n).collect::<Vec<usize>>()),
                    Just((0..n).collect::<Vec<usize>>()).prop_shuffle(),
                    Just((0..n).rev().collect::<Vec<usize>>()),
                ],
                prop::collection::vec(query(ids), 1..16),
            )
        }),
        commits in 1usize..5,
        refeed in prop::collection::vec(any::<prop::sample::Index>(), 0..20),
        deletes in prop::collection::vec(any::<prop::sample::Index>(), 0..10),
    ) {
        let tokenizer = Tokenizer::Unicode { fold_diacritics: false };
        let dir = temp_dir("order");
        let mut index = MamIndex::open(&dir, Options::default()).unwrap();
        let fed: Vec<Message> = order.iter().map(|&i| msgs[i].clone()).collect();
        let chunk = fed.len().div_ceil(commits).max(1);
        for part in fed.chunks(chunk) {
            index.index(part).unwrap();
            index.commit().unwrap();
        }
        let mut kept = msgs.clone();
        if !msgs.is_empty() {
            let again: Vec<Message> = refeed.iter().map(|i| msgs[i.index(msgs.len())].clone()).collect();
            index.index(&again).unwrap();
            for i in &deletes {
                let m = &msgs[i.index(msgs.len())];
                index.delete(Deletion::Message { archive_id: m.archive_id, mam_id: m.mam_id }).unwrap();
                kept.retain(|k| k.mam_id != m.mam_id);
            }
            index.commit().unwrap();
        }
        for q in &queries {
            prop_assert_eq!(index.search(q).unwrap(), reference(&kept, q, tokenizer), "query {:?}", q);
        }
        index.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[test]
fn reindexing_is_idempotent_and_deletes_work() {
    let dir = temp_dir("idem");
    let mut index = MamIndex::open(&dir, Options::default()).unwrap();
    let m = |id, body: &str| Message {
        archive_id: 1,
        mam_id: id,
        remote_jid: "bob@x".into(),
        remote_resource: String::new(),
        is_groupchat: false,
        body: body.into(),
    };
    let msgs = vec![m(1, "tea time"), m(2, "more tea"), m(3, "cake")];
    index.index(&msgs).unwrap();
    index.index(&msgs).unwrap();
    index.commit().unwrap();
    let q = Query {
        text: Some("tea".into()),
        count: true,
        ..Query::archive(1)
    };
    assert_eq!(index.search(&q).unwrap().ids, vec![1, 2]);
    assert_eq!(
        index
            .search(&Query {
                count: true,
                ..Query::archive(1)
            })
            .unwrap()
            .count,
        Some(3)
    );
    assert_eq!(index.last_indexed_id(1).unwrap(), Some(3));
    assert_eq!(index.last_indexed_id(2).unwrap(), None);
    index
        .delete(Deletion::Message {
            archive_id: 1,
            mam_id: 2,
        })
        .unwrap();
    index.commit().unwrap();
    assert_eq!(index.search(&q).unwrap().ids, vec![1]);
    index.delete(Deletion::Archive { archive_id: 1 }).unwrap();
    index.commit().unwrap();
    assert_eq!(
        index.search(&Query::archive(1)).unwrap().ids,
        Vec::<u64>::new()
    );
    index.close().unwrap();
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn committed_messages_survive_reopen_and_a_second_open_is_refused() {
    let dir = temp_dir("reopen");
    let mut index = MamIndex::open(&dir, Options::default()).unwrap();
    let msg = Message {
        archive_id: 7,
        mam_id: 42,
        remote_jid: "a@x".into(),
        remote_resource: "r".into(),
        is_groupchat: true,
        body: "persist me".into(),
    };
    index.index(std::slice::from_ref(&msg)).unwrap();
    index.commit().unwrap();
    assert!(matches!(
        MamIndex::open(&dir, Options::default()),
        Err(xmpp_accel_core::mam::MamError::AlreadyOpen)
    ));
    index.close().unwrap();
    drop(index);
    let index = MamIndex::open(&dir, Options::default()).unwrap();
    assert_eq!(
        index
            .search(&Query {
                text: Some("persist".into()),
                ..Query::archive(7)
            })
            .unwrap()
            .ids,
        vec![42]
    );
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn searchable_within_the_commit_interval() {
    let dir = temp_dir("interval");
    let index = MamIndex::open(
        &dir,
        Options {
            commit_interval_ms: 100,
            ..Options::default()
        },
    )
    .unwrap();
    let msg = Message {
        archive_id: 1,
        mam_id: 5,
        remote_jid: "a@x".into(),
        remote_resource: String::new(),
        is_groupchat: false,
        body: "soon".into(),
    };
    index.index(&[msg]).unwrap();
    let t = std::time::Instant::now();
    while index.search(&Query::archive(1)).unwrap().ids.is_empty() {
        assert!(
            t.elapsed() < std::time::Duration::from_secs(5),
            "not searchable after 5 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(t.elapsed() < std::time::Duration::from_secs(1));
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Feeding any (archive, mam id) keys in any order and any number of
    /// times, with the index closed and reopened between feeds, leaves each
    /// key exactly once, and `last_indexed_id` is each archive's highest id.
    #[test]
    fn any_feeding_order_leaves_each_message_once(
        feeds in prop::collection::vec(
            (prop::collection::vec((1u64..4, 1u64..30), 1..40), any::<bool>()),
            1..5,
        )
    ) {
        let dir = temp_dir("feeds");
        let mut index = MamIndex::open(&dir, Options::default()).unwrap();
        let mut expected = std::collections::BTreeSet::new();
        for (keys, reopen) in &feeds {
            let batch: Vec<Message> = keys
                .iter()
                .map(|&(archive_id, mam_id)| Message {
                    archive_id,
                    mam_id,
                    remote_jid: "bob@x".into(),
                    remote_resource: String::new(),
                    is_groupchat: false,
                    body: format!("body {mam_id}"),
                })
                .collect();
            index.index(&batch).unwrap();
            expected.extend(keys.iter().copied());
            if *reopen {
                index.close().unwrap();
                index = MamIndex::open(&dir, Options::default()).unwrap();
            }
        }
        index.commit().unwrap();
        for archive_id in 1u64..4 {
            let ids: Vec<u64> = expected.iter().filter(|k| k.0 == archive_id).map(|k| k.1).collect();
            let page = index
                .search(&Query { max: 100, count: true, ..Query::archive(archive_id) })
                .unwrap();
            prop_assert_eq!(&page.ids, &ids);
            prop_assert_eq!(page.count, Some(ids.len() as u64));
            prop_assert_eq!(index.last_indexed_id(archive_id).unwrap(), ids.last().copied());
        }
        index.close().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }
}
