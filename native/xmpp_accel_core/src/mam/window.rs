//! The N newest (or oldest) matches by mam id, reading as few matches as
//! possible: what a MAM page needs.
//!
//! Sorting every match by mam id costs as much as the matches (a frequent
//! word: a large part of the archive). Instead, with the zone maps of
//! `zones.rs`:
//! - oldest first: one pass from the first block that can hold a mam id in
//!   range, stopping at the first block from which on no mam id can still
//!   make the page;
//! - newest first: postings only go forward, so windows of blocks from the
//!   newest end backwards, the first sized from how often the query's terms
//!   occur in the segment to hold about the N matches, each next one twice
//!   as large, until the blocks before the window cannot make the page.
//!
//! Exact whatever the feeding order: the zone maps only bound what a block
//! can hold, every match read is checked against the bounds.

use super::index::MamError;
use super::zones::{ZoneCache, Zones};
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use tantivy::columnar::{Cardinality, Column};
use tantivy::query::{EnableScoring, Query as TQuery, Weight};
use tantivy::{DocId, DocSet, Order, Searcher, SegmentReader, Term, TERMINATED};

/// What to look for: a query without mam id bounds, and the bounds.
pub(crate) struct Plan<'a> {
    pub query: &'a dyn TQuery,
    /// Terms every match has (to estimate how many documents hold a match).
    pub terms: &'a [Term],
    /// At most this many matches (the `ids` filter), if known.
    pub at_most: Option<usize>,
    /// Mam ids from `lo` to `hi`, both included.
    pub lo: u64,
    pub hi: u64,
}

/// The best `k` mam ids seen so far: the highest (newest first) or the
/// lowest (oldest first), kept as the highest keys of a min-heap.
struct Best {
    k: usize,
    desc: bool,
    heap: BinaryHeap<Reverse<u64>>,
}

impl Best {
    fn key(&self, id: u64) -> u64 {
        if self.desc {
            id
        } else {
            !id
        }
    }
    /// Whether a mam id this good could still enter.
    fn open_to(&self, id: u64) -> bool {
        self.heap.len() < self.k || self.heap.peek().is_some_and(|m| self.key(id) > m.0)
    }
    fn offer(&mut self, id: u64) {
        let key = self.key(id);
        if self.heap.len() < self.k {
            self.heap.push(Reverse(key));
        } else if self.heap.peek().is_some_and(|m| key > m.0) {
            self.heap.pop();
            self.heap.push(Reverse(key));
        }
    }
    fn missing(&self) -> usize {
        self.k - self.heap.len()
    }
    /// In page order (ascending, or descending for `desc`).
    fn into_ids(self) -> Vec<u64> {
        let desc = self.desc;
        let mut keys: Vec<u64> = self.heap.into_iter().map(|r| r.0).collect();
        keys.sort_unstable_by(|a, b| b.cmp(a));
        keys.into_iter()
            .map(|k| if desc { k } else { !k })
            .collect()
    }
}

/// Up to `k` mam ids matching `plan`, the lowest in ascending order
/// (`Order::Asc`) or the highest in descending order (`Order::Desc`).
pub(crate) fn top(
    searcher: &Searcher,
    zones: &ZoneCache,
    plan: &Plan,
    k: usize,
    order: Order,
) -> Result<Vec<u64>, MamError> {
    let desc = order == Order::Desc;
    let mut best = Best {
        k,
        desc,
        heap: BinaryHeap::with_capacity(k.min(4096) + 1),
    };
    if k == 0 || plan.lo > plan.hi {
        return Ok(Vec::new());
    }
    let weight = plan
        .query
        .weight(EnableScoring::disabled_from_searcher(searcher))?;
    let mut segments = Vec::with_capacity(searcher.segment_readers().len());
    for reader in searcher.segment_readers() {
        segments.push((reader, zones.get(reader)?));
    }
    // the segment with the best mam ids first, so that later ones are skipped
    if desc {
        segments.sort_by_key(|(_, z)| Reverse(z.prefix_max[z.blocks()]));
    } else {
        segments.sort_by_key(|(_, z)| z.suffix_min[0]);
    }
    for (reader, z) in segments {
        // the best mam id in range the segment can hold
        let best_id = if desc {
            z.prefix_max[z.blocks()].min(plan.hi)
        } else {
            z.suffix_min[0].max(plan.lo)
        };
        let in_range = z.suffix_min[0] <= plan.hi && z.prefix_max[z.blocks()] >= plan.lo;
        if !in_range || !best.open_to(best_id) {
            continue;
        }
        let rate = hit_rate(reader, plan)?;
        if rate == 0.0 {
            continue;
        }
        let seg = Segment {
            weight: weight.as_ref(),
            reader,
            zones: &z,
            column: reader.fast_fields().u64("mam_id")?,
            lo: plan.lo,
            hi: plan.hi,
        };
        if desc {
            seg.newest(&mut best, rate)?;
        } else {
            seg.oldest(&mut best)?;
        }
    }
    Ok(best.into_ids())
}

/// The share of the segment's documents expected to match: the product of
/// the shares of its terms (as if independent), capped by `at_most`.
fn hit_rate(reader: &SegmentReader, plan: &Plan) -> Result<f64, MamError> {
    let n = reader.max_doc() as f64;
    if n == 0.0 {
        return Ok(0.0);
    }
    let mut rate = 1.0;
    for t in plan.terms {
        let df = reader
            .inverted_index(t.field())?
            .doc_freq(t)
            .map_err(|e| MamError::Index(e.to_string()))?;
        rate *= df as f64 / n;
    }
    if let Some(m) = plan.at_most {
        rate = rate.min(m as f64 / n);
    }
    Ok(rate)
}

struct Segment<'a> {
    weight: &'a dyn Weight,
    reader: &'a SegmentReader,
    zones: &'a Zones,
    column: Column<u64>,
    lo: u64,
    hi: u64,
}

impl Segment<'_> {
    fn mam_id(&self, doc: DocId) -> Option<u64> {
        if self.column.get_cardinality() == Cardinality::Full {
            Some(self.column.values.get_val(doc))
        } else {
            self.column.first(doc)
        }
    }

    /// Offers the document's mam id if it is alive and in range (then true).
    fn take(&self, doc: DocId, best: &mut Best) -> bool {
        if self
            .reader
            .alive_bitset()
            .is_none_or(|alive| alive.is_alive(doc))
        {
            if let Some(id) = self.mam_id(doc) {
                if self.lo <= id && id <= self.hi {
                    best.offer(id);
                    return true;
                }
            }
        }
        false
    }

    /// Oldest first: one pass, from the first block that can hold `lo`.
    fn oldest(&self, best: &mut Best) -> Result<(), MamError> {
        let z = self.zones;
        let first = z.prefix_max[1..].partition_point(|&m| m < self.lo);
        if first >= z.blocks() {
            return Ok(());
        }
        let mut scorer = self.weight.scorer(self.reader, 1.0)?;
        let start = first as DocId * z.block;
        let mut doc = scorer.doc();
        if doc < start {
            doc = scorer.seek(start);
        }
        let mut block = usize::MAX;
        while doc != TERMINATED {
            let b = (doc / z.block) as usize;
            if b != block {
                // the lowest mam id from here on
                let low = z.suffix_min[b];
                if low > self.hi || !best.open_to(low) {
                    break;
                }
                block = b;
            }
            self.take(doc, best);
            doc = scorer.advance();
        }
        Ok(())
    }

    /// Newest first: windows of blocks, growing backwards from the last
    /// block that can hold `hi`.
    fn newest(&self, best: &mut Best, rate: f64) -> Result<(), MamError> {
        let z = self.zones;
        let blocks = z.blocks();
        let mut end = z.suffix_min[..blocks].partition_point(|&m| m <= self.hi);
        let block = z.block as usize;
        let blocks_for = |missing: usize, rate: f64| {
            let docs = (missing.max(1) as f64 / rate * 1.5).min(u32::MAX as f64) as usize;
            docs / block + 1
        };
        let mut window = blocks_for(best.missing(), rate);
        let (mut scanned, mut hits) = (0usize, 0usize);
        let max_doc = self.reader.max_doc();
        while end > 0 {
            // the highest mam id before the window
            let high = z.prefix_max[end];
            if high < self.lo || !best.open_to(high) {
                break;
            }
            let start = end.saturating_sub(window);
            let (from, to) = (
                start as DocId * z.block,
                (end as DocId * z.block).min(max_doc),
            );
            let mut scorer = self.weight.scorer(self.reader, 1.0)?;
            let mut doc = scorer.doc();
            if doc < from {
                doc = scorer.seek(from);
            }
            while doc < to {
                hits += self.take(doc, best) as usize;
                doc = scorer.advance();
            }
            scanned += (to - from) as usize;
            end = start;
            // twice as large, or as large as the matches seen so far say
            // the missing ones need
            window = window.saturating_mul(2);
            if hits > 0 && best.missing() > 0 {
                window = window.max(blocks_for(best.missing(), hits as f64 / scanned as f64));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    //! `top` against sorting every match, with blocks of 1 to 5 documents
    //! so that every window and stopping rule is crossed.
    use super::*;
    use proptest::prelude::*;
    use tantivy::query::{AllQuery, TermQuery};
    use tantivy::schema::{IndexRecordOption, Schema, FAST, INDEXED, STRING};
    use tantivy::{doc, Index};

    /// (mam id, word) fed in this order, in `parts` commits; then `gone` deleted.
    fn build(docs: &[(u64, u8)], parts: usize, gone: &[u64]) -> (Index, Schema) {
        let mut b = Schema::builder();
        let mam = b.add_u64_field("mam_id", INDEXED | FAST);
        let word = b.add_text_field("word", STRING);
        let schema = b.build();
        let index = Index::create_in_ram(schema.clone());
        let mut w = index.writer_with_num_threads(1, 15_000_000).unwrap();
        let chunk = docs.len().div_ceil(parts).max(1);
        for part in docs.chunks(chunk) {
            for &(id, x) in part {
                w.add_document(doc!(mam => id, word => format!("w{x}")))
                    .unwrap();
            }
            w.commit().unwrap();
        }
        for &id in gone {
            w.delete_term(Term::from_field_u64(mam, id));
        }
        w.commit().unwrap();
        (index, schema)
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, failure_persistence: None, ..ProptestConfig::default() })]

        #[test]
        fn top_is_the_best_k_of_all_matches(
            (docs, gone) in prop::collection::btree_set(0u64..150, 0..120)
                .prop_flat_map(|ids| {
                    let ids: Vec<u64> = ids.into_iter().collect();
                    let n = ids.len();
                    let docs = (Just(ids), prop::collection::vec(0u8..3, n))
                        .prop_map(|(ids, ws)| ids.into_iter().zip(ws).collect::<Vec<_>>());
                    (
                        // fed in mam id order, the other way round, or any order
                        prop_oneof![
                            docs.clone(),
                            docs.clone().prop_map(|mut d| { d.reverse(); d }),
                            docs.prop_shuffle(),
                        ],
                        prop::collection::vec(0u64..150, 0..10),
                    )
                }),
            parts in 1usize..4,
            block in 1u32..6,
            queries in prop::collection::vec(
                (prop::option::of(0u8..3), 0u64..160, 0u64..160, 0usize..40, any::<bool>()),
                1..10,
            ),
        ) {
            let (index, schema) = build(&docs, parts, &gone);
            let searcher = index.reader().unwrap().searcher();
            let zones = ZoneCache::with_block(block);
            let word = schema.get_field("word").unwrap();
            for (x, lo, hi, k, desc) in queries {
                let term = x.map(|x| Term::from_field_text(word, &format!("w{x}")));
                let query: Box<dyn TQuery> = match &term {
                    Some(t) => Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic)),
                    None => Box::new(AllQuery),
                };
                let terms: Vec<Term> = term.into_iter().collect();
                let plan = Plan { query: query.as_ref(), terms: &terms, at_most: None, lo, hi };
                let order = if desc { Order::Desc } else { Order::Asc };
                let got = top(&searcher, &zones, &plan, k, order).unwrap();
                let mut want: Vec<u64> = docs
                    .iter()
                    .filter(|(id, w)| !gone.contains(id) && x.is_none_or(|x| x == *w))
                    .map(|&(id, _)| id)
                    .filter(|&id| lo <= id && id <= hi)
                    .collect();
                want.sort_unstable();
                if desc {
                    want.reverse();
                }
                want.truncate(k);
                prop_assert_eq!(got, want, "block {} lo {} hi {} k {} desc {}", block, lo, hi, k, desc);
            }
        }
    }
}
