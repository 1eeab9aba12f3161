//! The JSON shapes of the index API: requests (checked, turned into the
//! core's types) and answers.
//!
//! Ids (`archive_id`, `mam_id`, `start`, `end`, `before_id`, `after_id`,
//! `ids`, `after`, `before`) are unsigned 64-bit integers, given as JSON
//! numbers or as decimal strings (for clients whose numbers are doubles:
//! MongooseIM-style mam ids are above 2^53). Absent and `null` are the same.

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use xmpp_accel_core::mam::{Deletion, Message, Page, Query, Rsm};

/// Most results in one page (`max` above it is lowered, as the NIF does).
pub const MAX_PAGE: u64 = 10_000;
/// Most ids in a query's `ids` filter.
pub const MAX_IDS: usize = 10_000;

/// An unsigned 64-bit id: a JSON number or a decimal string.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Id(pub u64);

struct IdVisitor;

impl Visitor<'_> for IdVisitor {
    type Value = Id;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an unsigned 64-bit integer (a number or a decimal string)")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Id, E> {
        Ok(Id(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Id, E> {
        u64::try_from(v)
            .map(Id)
            .map_err(|_| E::custom(format!("negative id {v}")))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Id, E> {
        if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom(format!("not a decimal id: {v:?}")));
        }
        v.parse()
            .map(Id)
            .map_err(|_| E::custom(format!("id out of range: {v}")))
    }
}

impl<'de> Deserialize<'de> for Id {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Id, D::Error> {
        d.deserialize_any(IdVisitor)
    }
}

/// RSM `before`: an id, or `"last"` / `""` for the last page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Before {
    Id(u64),
    Last,
}

struct BeforeVisitor;

impl Visitor<'_> for BeforeVisitor {
    type Value = Before;
    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("an id, \"last\" or \"\"")
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Before, E> {
        Ok(Before::Id(v))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Before, E> {
        IdVisitor.visit_i64(v).map(|Id(v)| Before::Id(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Before, E> {
        match v {
            "" | "last" => Ok(Before::Last),
            _ => IdVisitor.visit_str(v).map(|Id(v)| Before::Id(v)),
        }
    }
}

impl<'de> Deserialize<'de> for Before {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Before, D::Error> {
        d.deserialize_any(BeforeVisitor)
    }
}

/// One message of `POST /v1/index`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    pub archive_id: Id,
    pub mam_id: Id,
    pub remote_jid: String,
    #[serde(default)]
    pub remote_resource: Option<String>,
    #[serde(default)]
    pub is_groupchat: Option<bool>,
    pub body: String,
}

impl From<MessageIn> for Message {
    fn from(m: MessageIn) -> Message {
        Message {
            archive_id: m.archive_id.0,
            mam_id: m.mam_id.0,
            remote_jid: m.remote_jid,
            remote_resource: m.remote_resource.unwrap_or_default(),
            is_groupchat: m.is_groupchat.unwrap_or(false),
            body: m.body,
        }
    }
}

/// `POST /v1/index`: `{"messages": [...]}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexRequest {
    pub messages: Vec<MessageIn>,
}

/// `POST /v1/delete`: `{"archive_id": A, "mam_id": M}` (one message) or
/// `{"archive_id": A}` (the whole archive).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeleteRequest {
    pub archive_id: Id,
    #[serde(default)]
    pub mam_id: Option<Id>,
}

impl DeleteRequest {
    pub fn deletion(&self) -> Deletion {
        match self.mam_id {
            Some(m) => Deletion::Message {
                archive_id: self.archive_id.0,
                mam_id: m.0,
            },
            None => Deletion::Archive {
                archive_id: self.archive_id.0,
            },
        }
    }
}

/// `POST /v1/last_indexed_id`: `{"archive_id": A}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArchiveRequest {
    pub archive_id: Id,
}

/// `POST /v1/search`: the query map of `xmpp_accel_mam:search/2`, as JSON.
#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct SearchRequest {
    pub archive_id: Option<Id>,
    pub text: Option<String>,
    pub with: Option<String>,
    pub start: Option<Id>,
    pub end: Option<Id>,
    pub before_id: Option<Id>,
    pub after_id: Option<Id>,
    pub ids: Option<Vec<Id>>,
    pub include_groupchat: Option<bool>,
    pub max: Option<u64>,
    pub before: Option<Before>,
    pub after: Option<Id>,
    pub index: Option<u64>,
    pub flip_page: Option<bool>,
    pub count: Option<bool>,
}

impl SearchRequest {
    /// The core's query, or why not. As in the NIF: `max` defaults to 50
    /// and is lowered to [`MAX_PAGE`]; of `before`, `after` and `index`,
    /// `index` wins over `after`, which wins over `before`.
    pub fn query(self) -> Result<Query, String> {
        let archive_id = self.archive_id.ok_or("missing archive_id")?;
        let mut q = Query::archive(archive_id.0);
        q.text = self.text;
        q.with = self.with.filter(|w| !w.is_empty());
        q.start = self.start.map(|i| i.0);
        q.end = self.end.map(|i| i.0);
        q.before_id = self.before_id.map(|i| i.0);
        q.after_id = self.after_id.map(|i| i.0);
        if let Some(ids) = self.ids {
            if ids.len() > MAX_IDS {
                return Err(format!("ids: {} ids (at most {MAX_IDS})", ids.len()));
            }
            q.ids = Some(ids.into_iter().map(|i| i.0).collect());
        }
        q.include_groupchat = self.include_groupchat.unwrap_or(true);
        q.max = self.max.unwrap_or(50).min(MAX_PAGE) as usize;
        q.flip_page = self.flip_page.unwrap_or(false);
        q.count = self.count.unwrap_or(false);
        q.rsm = match self.before {
            Some(Before::Id(id)) => Rsm::Before(id),
            Some(Before::Last) => Rsm::Last,
            None => Rsm::First,
        };
        if let Some(a) = self.after {
            q.rsm = Rsm::After(a.0);
        }
        if let Some(i) = self.index {
            q.rsm = Rsm::Index(i);
        }
        Ok(q)
    }
}

/// The answer to a search: mam ids in page order, the result set's size
/// (when `count` was asked for) and the page's position in it.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct SearchResponse {
    pub ids: Vec<u64>,
    pub count: Option<u64>,
    pub first_index: Option<u64>,
}

impl From<Page> for SearchResponse {
    fn from(p: Page) -> SearchResponse {
        SearchResponse {
            ids: p.ids,
            count: p.count,
            first_index: p.first_index,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(json: &str) -> Result<Query, String> {
        serde_json::from_str::<SearchRequest>(json)
            .map_err(|e| e.to_string())?
            .query()
    }

    #[test]
    fn the_query_map() {
        let q = parse(
            r#"{"archive_id": 7, "text": "hello", "with": "a@b", "start": "1", "end": 99,
                         "max": 999999, "before": "last", "count": true, "ids": [1, "2"]}"#,
        )
        .unwrap();
        assert_eq!(q.archive_id, 7);
        assert_eq!(q.text.as_deref(), Some("hello"));
        assert_eq!((q.start, q.end), (Some(1), Some(99)));
        assert_eq!(q.max, MAX_PAGE as usize);
        assert_eq!(q.rsm, Rsm::Last);
        assert_eq!(q.ids, Some(vec![1, 2]));
        assert!(q.count && q.include_groupchat && !q.flip_page);
        let q =
            parse(r#"{"archive_id": "18446744073709551615", "before": 5, "after": null}"#).unwrap();
        assert_eq!(q.archive_id, u64::MAX);
        assert_eq!(q.rsm, Rsm::Before(5));
        assert_eq!(q.max, 50);
        let q = parse(r#"{"archive_id": 1, "before": 5, "after": 6, "index": 2}"#).unwrap();
        assert_eq!(q.rsm, Rsm::Index(2));
        let q = parse(r#"{"archive_id": 1, "before": ""}"#).unwrap();
        assert_eq!(q.rsm, Rsm::Last);
    }

    #[test]
    fn bad_query_maps() {
        for (json, why) in [
            (r#"{}"#, "missing archive_id"),
            (r#"{"archive_id": -1}"#, "negative"),
            (r#"{"archive_id": "x1"}"#, "not a decimal id"),
            (r#"{"archive_id": "18446744073709551616"}"#, "out of range"),
            (r#"{"archive_id": 1, "colour": "red"}"#, "unknown field"),
            (
                r#"{"archive_id": 1, "before": "first"}"#,
                "not a decimal id",
            ),
            (r#"{"archive_id": 1, "max": -3}"#, "invalid"),
            (r#"{"archive_id": 1.5}"#, "invalid type"),
            (r#""text""#, "invalid type"),
        ] {
            let e = parse(json).unwrap_err();
            assert!(e.contains(why), "{json}: {e}");
        }
    }
}
