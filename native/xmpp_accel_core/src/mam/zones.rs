//! Zone maps of the mam id column: per segment, for every block of
//! [`BLOCK`] documents, the highest mam id before it and the lowest from it
//! on. They let a search for the newest (or oldest) N matches read only the
//! documents that can still make the page (see `window.rs`), whatever order
//! the messages were fed in; fed in mam id order, the usual case, the blocks
//! are disjoint and the search reads about N matches.
//!
//! Built once per segment (about 1 ms per million documents) after each
//! reload of the reader and kept until the segment is gone.

use super::index::MamError;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tantivy::columnar::{Cardinality, Column};
use tantivy::index::SegmentId;
use tantivy::{DocId, Searcher, SegmentReader};

/// Documents per block.
const BLOCK: u32 = 64;

/// The zone map of one segment.
pub(crate) struct Zones {
    /// Documents per block.
    pub block: u32,
    /// `prefix_max[b]`: the highest mam id in blocks `0..b` (0 for `b = 0`).
    pub prefix_max: Vec<u64>,
    /// `suffix_min[b]`: the lowest mam id in blocks `b..` (`u64::MAX` at the end).
    pub suffix_min: Vec<u64>,
}

impl Zones {
    /// Number of blocks.
    pub fn blocks(&self) -> usize {
        self.suffix_min.len() - 1
    }

    fn build(column: &Column<u64>, max_doc: DocId, block: u32) -> Zones {
        let blocks = max_doc.div_ceil(block) as usize;
        let mut min = vec![u64::MAX; blocks];
        let mut max = vec![0u64; blocks];
        if column.get_cardinality() == Cardinality::Full {
            let mut buf = vec![0u64; block as usize];
            for b in 0..blocks {
                let start = b as u32 * block;
                let n = (max_doc - start).min(block) as usize;
                column.values.get_range(start as u64, &mut buf[..n]);
                for &v in &buf[..n] {
                    min[b] = min[b].min(v);
                    max[b] = max[b].max(v);
                }
            }
        } else {
            for doc in 0..max_doc {
                let b = (doc / block) as usize;
                for v in column.values_for_doc(doc) {
                    min[b] = min[b].min(v);
                    max[b] = max[b].max(v);
                }
            }
        }
        let mut prefix_max = Vec::with_capacity(blocks + 1);
        prefix_max.push(0);
        for b in 0..blocks {
            prefix_max.push(prefix_max[b].max(max[b]));
        }
        let mut suffix_min = vec![u64::MAX; blocks + 1];
        for b in (0..blocks).rev() {
            suffix_min[b] = suffix_min[b + 1].min(min[b]);
        }
        Zones {
            block,
            prefix_max,
            suffix_min,
        }
    }
}

/// Zone maps by segment, shared by the searches and the commit thread.
pub(crate) struct ZoneCache {
    block: u32,
    zones: Mutex<HashMap<SegmentId, Arc<Zones>>>,
}

impl Default for ZoneCache {
    fn default() -> Self {
        ZoneCache::with_block(BLOCK)
    }
}

impl ZoneCache {
    /// Zone maps of blocks of `block` documents (at least 1).
    pub fn with_block(block: u32) -> ZoneCache {
        ZoneCache {
            block: block.max(1),
            zones: Mutex::default(),
        }
    }

    /// The zone map of a segment, built now if it is not known yet.
    pub fn get(&self, reader: &SegmentReader) -> Result<Arc<Zones>, MamError> {
        let id = reader.segment_id();
        if let Some(z) = self.lock().get(&id) {
            return Ok(z.clone());
        }
        let column = reader.fast_fields().u64("mam_id")?;
        let zones = Arc::new(Zones::build(&column, reader.max_doc(), self.block));
        self.lock().insert(id, zones.clone());
        Ok(zones)
    }

    /// Builds the zone maps of the searcher's new segments and forgets those
    /// of segments it no longer has.
    pub fn warm(&self, searcher: &Searcher) -> Result<(), MamError> {
        for reader in searcher.segment_readers() {
            self.get(reader)?;
        }
        let live: Vec<SegmentId> = searcher
            .segment_readers()
            .iter()
            .map(SegmentReader::segment_id)
            .collect();
        self.lock().retain(|id, _| live.contains(id));
        Ok(())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<SegmentId, Arc<Zones>>> {
        self.zones.lock().unwrap_or_else(|p| p.into_inner())
    }
}
