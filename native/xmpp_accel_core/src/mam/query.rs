//! MAM queries (XEP-0313 filters) with RSM paging (XEP-0059).

use super::index::{Fields, MamError};
use super::tokenize::{words, Tokenizer};
use std::ops::Bound;
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query as TQuery, RangeQuery, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{Order, Searcher, Term};

/// RSM (XEP-0059) paging of a query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Rsm {
    /// The first page.
    #[default]
    First,
    /// The page after this mam id.
    After(u64),
    /// The page before this mam id.
    Before(u64),
    /// The last page (`<before/>` without an id).
    Last,
    /// The page starting at this position (0-based) of the result set.
    Index(u64),
}

/// A MAM query: which messages of one archive, and which page of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Query {
    pub archive_id: u64,
    /// Words that must all be in the body (cut by the index's tokenizer).
    pub text: Option<String>,
    /// The other party: a bare JID (any resource) or a full JID.
    pub with: Option<String>,
    /// Mam ids from `start` to `end`, both included (XEP-0313 start/end as mam ids).
    pub start: Option<u64>,
    pub end: Option<u64>,
    /// Only mam ids after / before these (excluded): XEP-0313 after-id / before-id.
    pub after_id: Option<u64>,
    pub before_id: Option<u64>,
    /// Only these mam ids (XEP-0313 `ids`).
    pub ids: Option<Vec<u64>>,
    /// Include groupchat messages (default true).
    pub include_groupchat: bool,
    /// Page size (RSM `max`), default 50.
    pub max: usize,
    pub rsm: Rsm,
    /// Return the page newest first (XEP-0313 `flip-page`).
    pub flip_page: bool,
    /// Also count the whole result set (and the page's position in it).
    pub count: bool,
}

impl Query {
    /// All of an archive, first page of 50.
    pub fn archive(archive_id: u64) -> Query {
        Query {
            archive_id,
            text: None,
            with: None,
            start: None,
            end: None,
            after_id: None,
            before_id: None,
            ids: None,
            include_groupchat: true,
            max: 50,
            rsm: Rsm::First,
            flip_page: false,
            count: false,
        }
    }
}

/// One page of results.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub struct Page {
    /// Mam ids in page order: oldest first (newest first with `flip_page`).
    pub ids: Vec<u64>,
    /// Size of the whole result set, when asked for.
    pub count: Option<u64>,
    /// Position of the page's oldest message in the result set, when known.
    pub first_index: Option<u64>,
}

fn term(field: tantivy::schema::Field, value: u64) -> Box<dyn TQuery> {
    Box::new(TermQuery::new(
        Term::from_field_u64(field, value),
        IndexRecordOption::Basic,
    ))
}

fn range(field: tantivy::schema::Field, lo: Bound<u64>, hi: Bound<u64>) -> Box<dyn TQuery> {
    let t = |b: Bound<u64>| match b {
        Bound::Included(v) => Bound::Included(Term::from_field_u64(field, v)),
        Bound::Excluded(v) => Bound::Excluded(Term::from_field_u64(field, v)),
        Bound::Unbounded => Bound::Unbounded,
    };
    Box::new(RangeQuery::new(t(lo), t(hi)))
}

/// The filter part of `q` (everything but paging), with extra mam id bounds.
fn filter(
    f: Fields,
    tokenizer: Tokenizer,
    q: &Query,
    lo: Bound<u64>,
    hi: Bound<u64>,
) -> BooleanQuery {
    let mut clauses: Vec<(Occur, Box<dyn TQuery>)> =
        vec![(Occur::Must, term(f.archive, q.archive_id))];
    if let Some(text) = &q.text {
        for w in words(text, tokenizer) {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(
                    Term::from_field_text(f.body, &w),
                    IndexRecordOption::Basic,
                )),
            ));
        }
    }
    if let Some(with) = &q.with {
        let field = if with.contains('/') { f.full } else { f.bare };
        clauses.push((
            Occur::Must,
            Box::new(TermQuery::new(
                Term::from_field_text(field, with),
                IndexRecordOption::Basic,
            )),
        ));
    }
    // every bound on the mam id, combined
    let mut lows = vec![lo];
    let mut highs = vec![hi];
    lows.extend(q.start.map(Bound::Included));
    highs.extend(q.end.map(Bound::Included));
    lows.extend(q.after_id.map(Bound::Excluded));
    highs.extend(q.before_id.map(Bound::Excluded));
    let low = lows.into_iter().fold(Bound::Unbounded, tighter_low);
    let high = highs.into_iter().fold(Bound::Unbounded, tighter_high);
    if low != Bound::Unbounded || high != Bound::Unbounded {
        clauses.push((Occur::Must, range(f.mam_id, low, high)));
    }
    if let Some(ids) = &q.ids {
        let any: Vec<(Occur, Box<dyn TQuery>)> = ids
            .iter()
            .map(|&id| (Occur::Should, term(f.mam_id, id)))
            .collect();
        clauses.push((Occur::Must, Box::new(BooleanQuery::new(any))));
    }
    if !q.include_groupchat {
        clauses.push((Occur::MustNot, term(f.groupchat, 1)));
    }
    BooleanQuery::new(clauses)
}

fn tighter_low(a: Bound<u64>, b: Bound<u64>) -> Bound<u64> {
    let key = |x: &Bound<u64>| match *x {
        Bound::Unbounded => (0u128, 0u8),
        Bound::Included(v) => (v as u128, 0),
        Bound::Excluded(v) => (v as u128, 1),
    };
    if key(&a) >= key(&b) {
        a
    } else {
        b
    }
}

fn tighter_high(a: Bound<u64>, b: Bound<u64>) -> Bound<u64> {
    let key = |x: &Bound<u64>| match *x {
        Bound::Unbounded => (u128::MAX, 1u8),
        Bound::Included(v) => (v as u128, 1),
        Bound::Excluded(v) => (v as u128, 0),
    };
    if key(&a) <= key(&b) {
        a
    } else {
        b
    }
}

fn ids_in_order(
    searcher: &Searcher,
    query: &BooleanQuery,
    limit: usize,
    offset: usize,
    order: Order,
) -> Result<Vec<u64>, MamError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let top = TopDocs::with_limit(limit)
        .and_offset(offset)
        .order_by_fast_field::<u64>("mam_id", order);
    let hits = searcher.search(query, &top)?;
    Ok(hits.into_iter().filter_map(|(id, _)| id).collect())
}

fn count(searcher: &Searcher, query: &BooleanQuery) -> Result<u64, MamError> {
    Ok(searcher.search(query, &Count)? as u64)
}

pub(crate) fn search(
    searcher: &Searcher,
    f: Fields,
    tokenizer: Tokenizer,
    q: &Query,
) -> Result<Page, MamError> {
    use Bound::{Excluded, Unbounded};
    let all = filter(f, tokenizer, q, Unbounded, Unbounded);
    let total = if q.count {
        Some(count(searcher, &all)?)
    } else {
        None
    };
    let (mut ids, first_index) = match q.rsm {
        Rsm::First => (ids_in_order(searcher, &all, q.max, 0, Order::Asc)?, Some(0)),
        Rsm::Index(i) => (
            ids_in_order(searcher, &all, q.max, i as usize, Order::Asc)?,
            Some(i),
        ),
        Rsm::After(id) => {
            let ids = ids_in_order(
                searcher,
                &filter(f, tokenizer, q, Excluded(id), Unbounded),
                q.max,
                0,
                Order::Asc,
            )?;
            let first = match (q.count, total) {
                (true, Some(t)) => {
                    Some(t - count(searcher, &filter(f, tokenizer, q, Excluded(id), Unbounded))?)
                }
                _ => None,
            };
            (ids, first)
        }
        Rsm::Before(id) => {
            let before = filter(f, tokenizer, q, Unbounded, Excluded(id));
            let mut ids = ids_in_order(searcher, &before, q.max, 0, Order::Desc)?;
            ids.reverse();
            let first = if q.count {
                Some(count(searcher, &before)? - ids.len() as u64)
            } else {
                None
            };
            (ids, first)
        }
        Rsm::Last => {
            let mut ids = ids_in_order(searcher, &all, q.max, 0, Order::Desc)?;
            ids.reverse();
            let first = total.map(|t| t - ids.len() as u64);
            (ids, first)
        }
    };
    if q.flip_page {
        ids.reverse();
    }
    Ok(Page {
        ids,
        count: total,
        first_index,
    })
}

pub(crate) fn last_id(
    searcher: &Searcher,
    f: Fields,
    archive_id: u64,
) -> Result<Option<u64>, MamError> {
    let q = BooleanQuery::new(vec![(Occur::Must, term(f.archive, archive_id))]);
    Ok(ids_in_order(searcher, &q, 1, 0, Order::Desc)?
        .into_iter()
        .next())
}
