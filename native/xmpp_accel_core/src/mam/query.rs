//! MAM queries (XEP-0313 filters) with RSM paging (XEP-0059).

use super::index::{Fields, MamError};
use super::tokenize::{words, Tokenizer};
use super::window::{self, Plan};
use super::zones::ZoneCache;
use std::ops::Bound;
use tantivy::collector::Count;
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

/// The filter part of `q` (everything but paging): a query without mam id
/// bounds, the terms every match has, and the bounds.
struct Filter {
    query: BooleanQuery,
    terms: Vec<Term>,
    at_most: Option<usize>,
    /// Mam ids from `lo` to `hi`, both included; `None`: no mam id fits.
    bounds: Option<(u64, u64)>,
    mam_id: tantivy::schema::Field,
}

impl Filter {
    fn new(f: Fields, tokenizer: Tokenizer, q: &Query) -> Filter {
        let mut terms = vec![Term::from_field_u64(f.archive, q.archive_id)];
        if let Some(text) = &q.text {
            for w in words(text, tokenizer) {
                terms.push(Term::from_field_text(f.body, &w));
            }
        }
        if let Some(with) = &q.with {
            let field = if with.contains('/') { f.full } else { f.bare };
            terms.push(Term::from_field_text(field, with));
        }
        let mut clauses: Vec<(Occur, Box<dyn TQuery>)> = Vec::new();
        for t in &terms {
            clauses.push((
                Occur::Must,
                Box::new(TermQuery::new(t.clone(), IndexRecordOption::Basic)),
            ));
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
        let filter = Filter {
            query: BooleanQuery::new(clauses),
            terms,
            at_most: q.ids.as_ref().map(Vec::len),
            bounds: Some((0, u64::MAX)),
            mam_id: f.mam_id,
        };
        // every bound on the mam id, combined
        let mut filter = filter;
        if let Some(s) = q.start {
            filter = filter.from(s);
        }
        if let Some(e) = q.end {
            filter = filter.to(e);
        }
        if let Some(a) = q.after_id {
            filter = filter.after(a);
        }
        if let Some(b) = q.before_id {
            filter = filter.before(b);
        }
        filter
    }

    /// Only mam ids from `lo` on.
    fn from(mut self, lo: u64) -> Filter {
        self.bounds = self
            .bounds
            .map(|(l, h)| (l.max(lo), h))
            .filter(|(l, h)| l <= h);
        self
    }

    /// Only mam ids up to `hi`.
    fn to(mut self, hi: u64) -> Filter {
        self.bounds = self
            .bounds
            .map(|(l, h)| (l, h.min(hi)))
            .filter(|(l, h)| l <= h);
        self
    }

    /// Only mam ids above `id`.
    fn after(mut self, id: u64) -> Filter {
        match id.checked_add(1) {
            Some(lo) => self.from(lo),
            None => {
                self.bounds = None;
                self
            }
        }
    }

    /// Only mam ids below `id`.
    fn before(mut self, id: u64) -> Filter {
        match id.checked_sub(1) {
            Some(hi) => self.to(hi),
            None => {
                self.bounds = None;
                self
            }
        }
    }

    /// Up to `limit` mam ids after skipping `offset`, in `order`.
    fn ids(
        &self,
        searcher: &Searcher,
        zones: &ZoneCache,
        limit: usize,
        offset: usize,
        order: Order,
    ) -> Result<Vec<u64>, MamError> {
        let Some((lo, hi)) = self.bounds else {
            return Ok(Vec::new());
        };
        if limit == 0 {
            return Ok(Vec::new());
        }
        let plan = Plan {
            query: &self.query,
            terms: &self.terms,
            at_most: self.at_most,
            lo,
            hi,
        };
        let ids = window::top(searcher, zones, &plan, offset.saturating_add(limit), order)?;
        Ok(ids.into_iter().skip(offset).collect())
    }

    /// The size of the result set.
    fn count(&self, searcher: &Searcher) -> Result<u64, MamError> {
        let Some((lo, hi)) = self.bounds else {
            return Ok(0);
        };
        let n = if (lo, hi) == (0, u64::MAX) {
            searcher.search(&self.query, &Count)?
        } else {
            let range = RangeQuery::new(
                Bound::Included(Term::from_field_u64(self.mam_id, lo)),
                Bound::Included(Term::from_field_u64(self.mam_id, hi)),
            );
            let both = BooleanQuery::new(vec![
                (Occur::Must, Box::new(self.query.clone())),
                (Occur::Must, Box::new(range)),
            ]);
            searcher.search(&both, &Count)?
        };
        Ok(n as u64)
    }
}

pub(crate) fn search(
    searcher: &Searcher,
    zones: &ZoneCache,
    f: Fields,
    tokenizer: Tokenizer,
    q: &Query,
) -> Result<Page, MamError> {
    let all = Filter::new(f, tokenizer, q);
    let total = if q.count {
        Some(all.count(searcher)?)
    } else {
        None
    };
    let (mut ids, first_index) = match q.rsm {
        Rsm::First => (all.ids(searcher, zones, q.max, 0, Order::Asc)?, Some(0)),
        Rsm::Index(i) => (
            all.ids(searcher, zones, q.max, i as usize, Order::Asc)?,
            Some(i),
        ),
        Rsm::After(id) => {
            let after = Filter::new(f, tokenizer, q).after(id);
            let ids = after.ids(searcher, zones, q.max, 0, Order::Asc)?;
            let first = match total {
                Some(t) => Some(t - after.count(searcher)?),
                None => None,
            };
            (ids, first)
        }
        Rsm::Before(id) => {
            let before = Filter::new(f, tokenizer, q).before(id);
            let mut ids = before.ids(searcher, zones, q.max, 0, Order::Desc)?;
            ids.reverse();
            let first = if q.count {
                Some(before.count(searcher)? - ids.len() as u64)
            } else {
                None
            };
            (ids, first)
        }
        Rsm::Last => {
            let mut ids = all.ids(searcher, zones, q.max, 0, Order::Desc)?;
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
    zones: &ZoneCache,
    f: Fields,
    archive_id: u64,
) -> Result<Option<u64>, MamError> {
    let archive = Term::from_field_u64(f.archive, archive_id);
    let plan = Plan {
        query: &TermQuery::new(archive.clone(), IndexRecordOption::Basic),
        terms: &[archive],
        at_most: None,
        lo: 0,
        hi: u64::MAX,
    };
    Ok(window::top(searcher, zones, &plan, 1, Order::Desc)?
        .into_iter()
        .next())
}
