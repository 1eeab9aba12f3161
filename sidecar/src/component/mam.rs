//! XEP-0313 (`urn:xmpp:mam:2`) queries over a room archive: parsing the
//! query (data form, RSM, flip-page) into the core's [`Query`], and the
//! wire shapes of results (XEP-0297 forwarded with an XEP-0203 delay).
//!
//! Archive ids on the wire (`<stanza-id id/>`, `<result id/>`, RSM ids,
//! `before-id`, `after-id`, `ids`) are the decimal mam id: microseconds
//! since 1970 shifted left by 8 bits, so they sort by time.

use time::format_description::well_known::Rfc3339;
use time::OffsetDateTime;
use xmpp_accel_core::mam::{Query, Rsm};
use xmpp_accel_core::muclight::BareJid;
use xmpp_accel_core::xml::{Element, Node};

pub const NS_MAM: &str = "urn:xmpp:mam:2";
pub const NS_FULLTEXT: &str = "urn:xmpp:fulltext:0";
pub const NS_RSM: &str = "http://jabber.org/protocol/rsm";
pub const NS_DATA: &str = "jabber:x:data";
pub const NS_SID: &str = "urn:xmpp:sid:0";
pub const NS_FORWARD: &str = "urn:xmpp:forward:0";
pub const NS_DELAY: &str = "urn:xmpp:delay";

/// The field names clients use for full-text search.
pub const FULLTEXT_FIELDS: [&str; 4] = [
    "{urn:xmpp:fulltext:0}fulltext",
    "full-text-search",
    "fulltext",
    "withtext",
];

/// Why a query is refused: (condition, text).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub condition: &'static str,
    pub text: String,
}

fn bad(text: impl Into<String>) -> Refusal {
    Refusal {
        condition: "bad-request",
        text: text.into(),
    }
}

/// A parsed query: the core query (archive id left 0) and its queryid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub query: Query,
    pub queryid: Option<String>,
}

/// An element: name, attributes, children.
pub fn el(name: &str, attrs: &[(&str, &str)], children: Vec<Node>) -> Element {
    Element {
        name: name.to_owned(),
        attrs: attrs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect(),
        children,
    }
}

/// Text content of an element (its text children joined).
pub fn text(e: &Element) -> String {
    let mut s = String::new();
    for c in &e.children {
        if let Node::Text(t) | Node::CData(t) = c {
            s.push_str(t);
        }
    }
    s
}

/// Child elements of `e`.
pub fn children(e: &Element) -> impl Iterator<Item = &Element> {
    e.children.iter().filter_map(|c| match c {
        Node::Element(e) => Some(e),
        _ => None,
    })
}

/// The first child named `name` (namespace `ns` if given, as its `xmlns`).
pub fn child<'a>(e: &'a Element, name: &str, ns: Option<&str>) -> Option<&'a Element> {
    children(e).find(|c| c.name == name && (ns.is_none() || c.attr("xmlns") == ns))
}

/// A mam id from its wire form.
pub fn parse_id(s: &str) -> Option<u64> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// The mam id range of an XEP-0082 date-time: (first id of its microsecond).
fn time_id(s: &str) -> Result<i128, Refusal> {
    let t = OffsetDateTime::parse(s.trim(), &Rfc3339)
        .map_err(|_| bad(format!("not an XEP-0082 date-time: {s}")))?;
    Ok(t.unix_timestamp_nanos() / 1000)
}

/// XEP-0082 date-time (UTC, microseconds) of a mam id.
pub fn stamp(mam_id: u64) -> String {
    let micros = (mam_id >> 8) as i128;
    let t = OffsetDateTime::from_unix_timestamp_nanos(micros * 1000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        t.year(),
        t.month() as u8,
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.microsecond()
    )
}

/// Parses `<query xmlns='urn:xmpp:mam:2'/>` of a room's archive. `room` is
/// the archive's room (a `with` of `room/user` means the user); `max_page`
/// caps RSM `max`.
pub fn parse(q: &Element, room: &BareJid, max_page: usize) -> Result<Parsed, Refusal> {
    let mut query = Query::archive(0);
    query.max = max_page.min(50);
    query.count = true;
    let queryid = q.attr("queryid").map(str::to_owned);
    if let Some(x) = child(q, "x", Some(NS_DATA)) {
        for f in children(x).filter(|f| f.name == "field") {
            let var = f.attr("var").unwrap_or("");
            let values: Vec<String> = children(f)
                .filter(|v| v.name == "value")
                .map(text)
                .collect();
            let one = || values.first().cloned().unwrap_or_default();
            match var {
                "FORM_TYPE" => {
                    if one() != NS_MAM {
                        return Err(bad(format!("FORM_TYPE must be {NS_MAM}")));
                    }
                }
                "with" => query.with = Some(with_value(&one(), room)?),
                "start" => {
                    let us = time_id(&one())?;
                    query.start = Some(if us < 0 { 0 } else { clamp((us as u128) << 8) });
                }
                "end" => {
                    let us = time_id(&one())?;
                    if us < 0 {
                        // before every message: an empty result
                        query.ids = Some(Vec::new());
                    } else {
                        query.end = Some(clamp(((us as u128) << 8) | 0xff));
                    }
                }
                "before-id" => {
                    query.before_id =
                        Some(parse_id(&one()).ok_or_else(|| bad("before-id: not an archive id"))?)
                }
                "after-id" => {
                    query.after_id =
                        Some(parse_id(&one()).ok_or_else(|| bad("after-id: not an archive id"))?)
                }
                "ids" => {
                    let mut ids = Vec::new();
                    for v in &values {
                        // an id that cannot be ours matches nothing
                        if let Some(id) = parse_id(v) {
                            ids.push(id);
                        }
                    }
                    query.ids = Some(match query.ids.take() {
                        Some(prev) if prev.is_empty() => prev,
                        _ => ids,
                    });
                }
                v if FULLTEXT_FIELDS.contains(&v) => {
                    let t = one();
                    if !t.trim().is_empty() {
                        query.text = Some(t);
                    }
                }
                other => return Err(bad(format!("unknown field: {other}"))),
            }
        }
    }
    if let Some(set) = child(q, "set", Some(NS_RSM)) {
        for c in children(set) {
            match c.name.as_str() {
                "max" => {
                    let n: usize = text(c)
                        .trim()
                        .parse()
                        .map_err(|_| bad("RSM max: not a number"))?;
                    query.max = n.min(max_page);
                }
                "after" => {
                    let t = text(c);
                    query.rsm = Rsm::After(parse_id(&t).ok_or_else(|| Refusal {
                        condition: "item-not-found",
                        text: format!("RSM after: no such id {t}"),
                    })?);
                }
                "before" => {
                    let t = text(c);
                    query.rsm = if t.trim().is_empty() {
                        Rsm::Last
                    } else {
                        Rsm::Before(parse_id(&t).ok_or_else(|| Refusal {
                            condition: "item-not-found",
                            text: format!("RSM before: no such id {t}"),
                        })?)
                    };
                }
                "index" => {
                    let n: u64 = text(c)
                        .trim()
                        .parse()
                        .map_err(|_| bad("RSM index: not a number"))?;
                    query.rsm = Rsm::Index(n);
                }
                _ => {}
            }
        }
    }
    query.flip_page = child(q, "flip-page", None).is_some();
    Ok(Parsed { query, queryid })
}

fn clamp(v: u128) -> u64 {
    v.min(u64::MAX as u128) as u64
}

/// `with` of a room archive: the sender's bare JID (`user@host`), also
/// given as the occupant JID `room/user@host`.
fn with_value(v: &str, room: &BareJid) -> Result<String, Refusal> {
    let v = v.trim();
    let prefix = format!("{room}/");
    let user = v.strip_prefix(&prefix).unwrap_or(v);
    let j = xmpp_accel_core::muclight::Jid::new(user).map_err(|_| bad("with: not a JID"))?;
    Ok(j.to_string())
}

/// Whether the page ends the result set in the direction of paging.
pub fn complete(q: &Query, ids: usize, count: Option<u64>, first_index: Option<u64>) -> bool {
    match (&q.rsm, count, first_index) {
        (Rsm::Before(_) | Rsm::Last, _, Some(i)) => i == 0,
        (Rsm::Before(_) | Rsm::Last, Some(0), None) => true,
        (_, Some(c), Some(i)) => i + ids as u64 >= c,
        (_, Some(c), None) => ids == 0 || c == 0,
        _ => ids < q.max,
    }
}

/// The form a client gets for `<iq type='get'><query xmlns='urn:xmpp:mam:2'/>`.
pub fn form() -> Element {
    let field = |var: &str, ty: &str, value: Option<&str>| {
        let mut f = el("field", &[("var", var), ("type", ty)], vec![]);
        if let Some(v) = value {
            f.children.push(Node::Element(el(
                "value",
                &[],
                vec![Node::Text(v.to_owned())],
            )));
        }
        Node::Element(f)
    };
    let mut x = el("x", &[("xmlns", NS_DATA), ("type", "form")], vec![]);
    x.children.push(field("FORM_TYPE", "hidden", Some(NS_MAM)));
    x.children.push(field("with", "jid-single", None));
    x.children.push(field("start", "text-single", None));
    x.children.push(field("end", "text-single", None));
    x.children.push(field("before-id", "text-single", None));
    x.children.push(field("after-id", "text-single", None));
    x.children.push(field("ids", "text-multi", None));
    x.children
        .push(field("{urn:xmpp:fulltext:0}fulltext", "text-single", None));
    x.children
        .push(field("full-text-search", "text-single", None));
    el("query", &[("xmlns", NS_MAM)], vec![Node::Element(x)])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn room() -> BareJid {
        BareJid::new("coven@muclight.test").unwrap()
    }

    fn q(xml: &str) -> Result<Parsed, Refusal> {
        parse(&Element::parse(xml.as_bytes()).unwrap(), &room(), 100)
    }

    #[test]
    fn fields_rsm_and_flip() {
        let p = q("<query xmlns='urn:xmpp:mam:2' queryid='f1'><x xmlns='jabber:x:data' type='submit'>\
            <field var='FORM_TYPE' type='hidden'><value>urn:xmpp:mam:2</value></field>\
            <field var='with'><value>coven@muclight.test/Alice@A.test</value></field>\
            <field var='start'><value>2020-01-01T00:00:00Z</value></field>\
            <field var='end'><value>2020-01-01T00:00:01.5Z</value></field>\
            <field var='{urn:xmpp:fulltext:0}fulltext'><value>hello world</value></field>\
            <field var='ids'><value>5</value><value>junk</value><value>7</value></field>\
            </x><set xmlns='http://jabber.org/protocol/rsm'><max>500</max><before/></set><flip-page/></query>")
        .unwrap();
        assert_eq!(p.queryid.as_deref(), Some("f1"));
        let qq = p.query;
        assert_eq!(qq.with.as_deref(), Some("alice@a.test"));
        assert_eq!(qq.start, Some(1_577_836_800_000_000u64 << 8));
        assert_eq!(qq.end, Some((1_577_836_801_500_000u64 << 8) | 0xff));
        assert_eq!(qq.text.as_deref(), Some("hello world"));
        assert_eq!(qq.ids, Some(vec![5, 7]));
        assert_eq!(qq.max, 100);
        assert_eq!(qq.rsm, Rsm::Last);
        assert!(qq.flip_page);
        for name in FULLTEXT_FIELDS {
            let p = q(&format!("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='{name}'><value>x</value></field></x></query>")).unwrap();
            assert_eq!(p.query.text.as_deref(), Some("x"), "{name}");
        }
    }

    #[test]
    fn refusals() {
        let r = q("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='colour'><value>x</value></field></x></query>").unwrap_err();
        assert_eq!(r.condition, "bad-request");
        let r = q("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='start'><value>yesterday</value></field></x></query>").unwrap_err();
        assert_eq!(r.condition, "bad-request");
        let r = q("<query xmlns='urn:xmpp:mam:2'><set xmlns='http://jabber.org/protocol/rsm'><after>abc</after></set></query>").unwrap_err();
        assert_eq!(r.condition, "item-not-found");
        let p = q("<query xmlns='urn:xmpp:mam:2'><x xmlns='jabber:x:data'><field var='end'><value>1960-01-01T00:00:00Z</value></field></x></query>").unwrap();
        assert_eq!(p.query.ids, Some(vec![]));
    }

    #[test]
    fn stamps_and_completeness() {
        assert_eq!(
            stamp((1_577_836_801_500_000u64 << 8) | 3),
            "2020-01-01T00:00:01.500000Z"
        );
        let mut qq = Query::archive(1);
        qq.max = 10;
        assert!(!complete(&qq, 10, Some(25), Some(0)));
        assert!(complete(&qq, 5, Some(25), Some(20)));
        qq.rsm = Rsm::Last;
        assert!(!complete(&qq, 10, Some(25), Some(15)));
        assert!(complete(&qq, 5, Some(5), Some(0)));
    }
}
