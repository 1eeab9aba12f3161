//! The wire format: MongooseIM's `mod_muc_light_codec` (the "modern" codec),
//! requests read from [`Element`]s and replies and notifications built as
//! [`Element`]s with their attributes in exml's (sorted) order.

use super::store::{BlockChange, BlockItem, BlockKind};
use super::{ns, Affiliation, StanzaError};
use crate::xml::{Element, Node};
use jid::{BareJid, Jid};

/// A decoded request (the `<query/>` of an IQ get or set).
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Request {
    ConfigGet {
        version: String,
    },
    ConfigSet {
        raw: Vec<(String, String)>,
    },
    AffGet {
        version: String,
    },
    AffSet {
        changes: Vec<(BareJid, Affiliation)>,
    },
    InfoGet {
        version: String,
    },
    BlockingGet,
    BlockingSet {
        changes: Vec<BlockChange>,
    },
    Create {
        raw: Vec<(String, String)>,
        occupants: Vec<(BareJid, Affiliation)>,
    },
    Destroy,
    DiscoItems {
        rsm: Option<RsmIn>,
    },
    DiscoInfo,
    /// An IQ in another namespace (MongooseIM hands it to `mod_muc_iq`).
    Other,
}

/// XEP-0059 request, as `jlib:rsm_decode/1` reads it (numbers that do not
/// parse are left unset).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RsmIn {
    pub max: Option<i64>,
    /// `Some(true)` for `<before/>`, `Some(false)` for `<after/>`.
    pub before: Option<bool>,
    pub id: Option<String>,
    pub index: Option<i64>,
}

/// XEP-0059 answer.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct RsmOut {
    pub count: usize,
    pub index: Option<usize>,
    pub first: Option<String>,
    pub last: Option<String>,
}

pub(crate) fn child_elements(e: &Element) -> impl Iterator<Item = &Element> {
    e.children.iter().filter_map(|c| match c {
        Node::Element(e) => Some(e),
        _ => None,
    })
}

pub(crate) fn child<'a>(e: &'a Element, name: &str) -> Option<&'a Element> {
    child_elements(e).find(|c| c.name == name)
}

/// The character data of an element whose children are all text (exml's
/// `[#xmlcdata{}]`), `None` if it has no text or has child elements.
pub(crate) fn text_only(e: &Element) -> Option<String> {
    let mut out = String::new();
    for c in &e.children {
        match c {
            Node::Text(t) | Node::CData(t) => out.push_str(t),
            Node::Element(_) => return None,
        }
    }
    (!e.children.is_empty()).then_some(out)
}

/// All text of an element's direct text children (`exml_query:cdata/1`).
pub(crate) fn cdata(e: &Element) -> String {
    let mut out = String::new();
    for c in &e.children {
        if let Node::Text(t) | Node::CData(t) = c {
            out.push_str(t);
        }
    }
    out
}

fn is_blank(n: &Node) -> bool {
    matches!(n, Node::Text(t) | Node::CData(t) if t.bytes().all(|b| b.is_ascii_whitespace()))
}

fn version_of(query: &Element) -> String {
    child(query, "version").map(cdata).unwrap_or_default()
}

fn bare(text: &str) -> Option<BareJid> {
    Jid::new(text).ok().map(|j| j.to_bare())
}

/// `<key>value</key>` children; an element that is not text only is skipped,
/// `<version/>` is refused (MongooseIM's `parse_config/1`). Pairs come in
/// reverse document order, as MongooseIM accumulates them.
fn parse_config(els: &[Node]) -> Result<Vec<(String, String)>, StanzaError> {
    let mut out = Vec::new();
    for n in els {
        if let Node::Element(e) = n {
            if e.name == "version" {
                return Err(StanzaError::bad_request());
            }
            if let Some(v) = text_only(e) {
                out.push((e.name.clone(), v));
            }
        }
    }
    out.reverse();
    Ok(out)
}

/// `<user affiliation='...'>jid</user>` items (resources dropped); anything
/// else but blank text is an error.
fn parse_users(els: &[Node]) -> Result<Vec<(BareJid, Affiliation)>, StanzaError> {
    let mut out = Vec::new();
    for n in els {
        match n {
            Node::Element(e) if e.name == "user" => {
                let aff = e.attr("affiliation").and_then(Affiliation::parse);
                let jid = text_only(e).as_deref().and_then(bare);
                match (aff, jid) {
                    (Some(a), Some(j)) => out.push((j, a)),
                    _ => return Err(StanzaError::bad_request()),
                }
            }
            Node::Text(_) | Node::CData(_) => {}
            Node::Element(_) => return Err(StanzaError::bad_request()),
        }
    }
    Ok(out)
}

fn parse_blocking(els: &[Node]) -> Result<Vec<BlockChange>, StanzaError> {
    let mut out = Vec::new();
    for n in els {
        match n {
            Node::Element(e) => {
                let kind = match e.name.as_str() {
                    "room" => BlockKind::Room,
                    "user" => BlockKind::User,
                    _ => return Err(StanzaError::bad_request()),
                };
                let deny = match e.attr("action") {
                    Some("deny") => true,
                    Some("allow") => false,
                    _ => return Err(StanzaError::bad_request()),
                };
                let jid = text_only(e)
                    .as_deref()
                    .and_then(bare)
                    .ok_or_else(StanzaError::bad_request)?;
                out.push(BlockChange {
                    item: BlockItem { kind, jid },
                    deny,
                });
            }
            n if is_blank(n) => {}
            _ => return Err(StanzaError::bad_request()),
        }
    }
    Ok(out)
}

/// `string:to_integer/1`: an optional sign and the leading digits.
fn leading_integer(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    let sign = usize::from(matches!(b.first(), Some(b'+' | b'-')));
    let digits = b[sign..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits == 0 {
        return None;
    }
    s[..sign + digits].trim_start_matches('+').parse().ok()
}

fn parse_rsm(query: &Element) -> Option<RsmIn> {
    let set = child(query, "set")?;
    let mut r = RsmIn::default();
    for e in child_elements(set) {
        if !e.attrs.is_empty() {
            continue;
        }
        match e.name.as_str() {
            "max" => r.max = leading_integer(&cdata(e)),
            "before" => {
                r.before = Some(true);
                r.id = Some(cdata(e));
            }
            "after" => {
                r.before = Some(false);
                r.id = Some(cdata(e));
            }
            "index" => r.index = leading_integer(&cdata(e)),
            _ => {}
        }
    }
    Some(r)
}

/// Decodes an IQ get or set (its `type` already checked) as MongooseIM's
/// `jlib:iq_query_info/1` and `mod_muc_light_codec:decode_iq/2`: exactly
/// one child element with a non-empty `xmlns` ("Unknown IQ format"
/// otherwise), then the request of its namespace.
pub(crate) fn decode_iq(iq: &Element, set: bool) -> Result<Request, StanzaError> {
    let mut els = child_elements(iq);
    let (Some(query), None) = (els.next(), els.next()) else {
        return Err(StanzaError::bad_request_text("Unknown IQ format"));
    };
    let xmlns = query.attr("xmlns").unwrap_or("");
    if xmlns.is_empty() {
        return Err(StanzaError::bad_request_text("Unknown IQ format"));
    }
    Ok(match (xmlns, set) {
        (ns::CONFIGURATION, false) => Request::ConfigGet {
            version: version_of(query),
        },
        (ns::CONFIGURATION, true) => Request::ConfigSet {
            raw: parse_config(&query.children)?,
        },
        (ns::AFFILIATIONS, false) => Request::AffGet {
            version: version_of(query),
        },
        (ns::AFFILIATIONS, true) => Request::AffSet {
            changes: parse_users(&query.children)?,
        },
        (ns::INFO, false) => Request::InfoGet {
            version: version_of(query),
        },
        (ns::BLOCKING, false) => Request::BlockingGet,
        (ns::BLOCKING, true) => Request::BlockingSet {
            changes: parse_blocking(&query.children)?,
        },
        (ns::CREATE, true) => {
            let raw = match child(query, "configuration") {
                Some(c) => parse_config(&c.children)?,
                None => Vec::new(),
            };
            let occupants = match child(query, "occupants") {
                Some(o) => parse_users(&o.children)?,
                None => Vec::new(),
            };
            Request::Create { raw, occupants }
        }
        (ns::DESTROY, true) => Request::Destroy,
        (ns::DISCO_ITEMS, false) => Request::DiscoItems {
            rsm: parse_rsm(query),
        },
        (ns::DISCO_INFO, false) => Request::DiscoInfo,
        _ => Request::Other,
    })
}

// ---- building ----

/// An element with `attrs` sorted by name (exml keeps attributes in a map).
pub(crate) fn el(name: &str, attrs: &[(&str, &str)], children: Vec<Node>) -> Element {
    let mut a: Vec<(String, String)> = attrs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    a.sort();
    Element {
        name: name.to_owned(),
        attrs: a,
        children,
    }
}

pub(crate) fn node(e: Element) -> Node {
    Node::Element(e)
}

/// `<key>value</key>`
pub(crate) fn kv(key: &str, value: &str) -> Node {
    node(el(key, &[], vec![Node::Text(value.to_owned())]))
}

/// `<user affiliation='aff'>jid</user>`
pub(crate) fn user(jid: &BareJid, aff: Affiliation) -> Node {
    node(el(
        "user",
        &[("affiliation", aff.as_str())],
        vec![Node::Text(jid.to_string())],
    ))
}

/// `<tag action='deny'>jid</tag>`
pub(crate) fn block_item(item: &BlockItem) -> Node {
    node(el(
        item.kind.as_str(),
        &[("action", "deny")],
        vec![Node::Text(item.jid.to_string())],
    ))
}

/// `[<x xmlns=ns>children</x>, <body/>]`, the notification envelope.
pub(crate) fn envelope(xmlns: &str, children: Vec<Node>) -> Vec<Node> {
    vec![
        node(el("x", &[("xmlns", xmlns)], children)),
        node(el("body", &[], vec![])),
    ]
}

/// `<set xmlns='http://jabber.org/protocol/rsm'>`: first (with index), last, count.
pub(crate) fn rsm_out(r: &RsmOut) -> Node {
    let mut ch = Vec::new();
    if let Some(first) = &r.first {
        let idx = r.index.map(|i| i.to_string());
        let attrs: Vec<(&str, &str)> = idx.as_deref().map(|i| ("index", i)).into_iter().collect();
        ch.push(node(el("first", &attrs, vec![Node::Text(first.clone())])));
    }
    if let Some(last) = &r.last {
        ch.push(kv("last", last));
    }
    ch.push(kv("count", &r.count.to_string()));
    node(el("set", &[("xmlns", ns::RSM)], ch))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iq(xml: &str) -> Element {
        Element::parse(xml.as_bytes()).unwrap()
    }

    #[test]
    fn decodes_requests() {
        let r = decode_iq(
            &iq("<iq type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'>\n  <user affiliation='member'>Hag66@Shakespeare.lit/pda</user>\n  <user affiliation='none'>b@x</user></query></iq>"),
            true,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::AffSet {
                changes: vec![
                    (
                        BareJid::new("hag66@shakespeare.lit").unwrap(),
                        Affiliation::Member
                    ),
                    (BareJid::new("b@x").unwrap(), Affiliation::None),
                ]
            }
        );
        let r = decode_iq(
            &iq("<iq type='set'><query xmlns='urn:xmpp:muclight:0#configuration'><roomname>A &amp; B</roomname><subject/><x><y/></x></query></iq>"),
            true,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::ConfigSet {
                raw: vec![("roomname".into(), "A & B".into())]
            }
        );
        let r = decode_iq(
            &iq("<iq type='get'><query xmlns='urn:xmpp:muclight:0#info'><version>v1</version></query></iq>"),
            false,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::InfoGet {
                version: "v1".into()
            }
        );
        let r = decode_iq(
            &iq("<iq type='get'><query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='http://jabber.org/protocol/rsm'><max>10x</max><before/></set></query></iq>"),
            false,
        )
        .unwrap();
        assert_eq!(
            r,
            Request::DiscoItems {
                rsm: Some(RsmIn {
                    max: Some(10),
                    before: Some(true),
                    id: Some(String::new()),
                    index: None
                })
            }
        );
        assert_eq!(
            decode_iq(
                &iq("<iq type='get'><query xmlns='jabber:iq:version'/></iq>"),
                false
            ),
            Ok(Request::Other)
        );
    }

    #[test]
    fn rejects_bad_requests() {
        let unknown = Err(StanzaError::bad_request_text("Unknown IQ format"));
        assert_eq!(decode_iq(&iq("<iq type='get'/>"), false), unknown);
        assert_eq!(
            decode_iq(
                &iq("<iq type='get'><a xmlns='x'/><b xmlns='y'/></iq>"),
                false
            ),
            unknown
        );
        assert_eq!(
            decode_iq(&iq("<iq type='get'><query/></iq>"), false),
            unknown
        );
        for q in [
            "<query xmlns='urn:xmpp:muclight:0#affiliations'><item role='participant'>a@b</item></query>",
            "<query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='admin'>a@b</user></query>",
            "<query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>@b</user></query>",
            "<query xmlns='urn:xmpp:muclight:0#affiliations'><user>a@b</user></query>",
            "<query xmlns='urn:xmpp:muclight:0#configuration'><version>1</version></query>",
            "<query xmlns='urn:xmpp:muclight:0#blocking'><room action='block'>a@b</room></query>",
            "<query xmlns='urn:xmpp:muclight:0#blocking'><item action='deny'>a@b</item></query>",
            "<query xmlns='urn:xmpp:muclight:0#create'><occupants><user affiliation='member'/></occupants></query>",
        ] {
            let r = decode_iq(&iq(&format!("<iq type='set'>{q}</iq>")), true);
            assert_eq!(r, Err(StanzaError::bad_request()), "{q}");
        }
    }
}
