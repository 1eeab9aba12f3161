//! MAM full-text search (XEP-0313): an embedded, crash-safe index of a
//! message archive that answers MAM queries with all their filters and
//! RSM paging (XEP-0059), on tantivy.
//!
//! Why tantivy: an inverted index with fast fields answers "the newest 50
//! matches" by walking posting lists and a column of mam ids, with atomic
//! commits (a crash loses nothing committed) and no server to run; in a
//! pilot here it answered in 0.07 ms (p50) where SQLite FTS5 took 0.6 ms and
//! a LIKE scan 21 ms.
//!
//! - [`MamIndex::open`], [`MamIndex::index`], [`MamIndex::delete`],
//!   [`MamIndex::commit`], [`MamIndex::last_indexed_id`], [`MamIndex::search`].
//! - [`tokenize`]: the words a body is indexed under and a query searches for.

mod analyzer;
mod index;
mod query;
pub mod tokenize;
mod window;
mod zones;

pub use index::{Deletion, MamError, MamIndex, Message, Options, Scope};
pub use query::{Page, Query, Rsm};
pub use tokenize::Tokenizer;
