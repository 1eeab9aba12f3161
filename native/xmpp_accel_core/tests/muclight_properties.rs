//! Properties of the MUC Light service (`muclight` feature): occupant changes
//! against a small reference model (who gets which notification, with which
//! versions; what is stored; which error), and room messages reaching every
//! member once with copies that differ only in `to`.
#![cfg(feature = "muclight")]

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};
use xmpp_accel_core::muclight::{
    Affiliation, BareJid, Jid, MemoryStore, Options, Output, RoomStore, Service,
};
use xmpp_accel_core::xml::{Element, Node};

const MUC: &str = "muclight.example.com";
const ROOM: &str = "coven@muclight.example.com";
const USERS: usize = 6;

fn user(i: usize) -> String {
    format!("u{i}@s")
}

fn aff_of(i: u8) -> Affiliation {
    match i % 3 {
        0 => Affiliation::Owner,
        1 => Affiliation::Member,
        _ => Affiliation::None,
    }
}

fn send(svc: &Service, store: &mut MemoryStore, from: &str, xml: &str) -> Vec<Output> {
    let from = Jid::new(&format!("{from}/r")).unwrap();
    let el = Element::parse(xml.replace("FROM", &from.to_string()).as_bytes()).unwrap();
    svc.handle(store, &from, &el).unwrap()
}

fn children(e: &Element) -> impl Iterator<Item = &Element> {
    e.children.iter().filter_map(|c| match c {
        Node::Element(e) => Some(e),
        _ => None,
    })
}

fn text(e: &Element) -> String {
    e.children
        .iter()
        .filter_map(|c| match c {
            Node::Text(t) => Some(t.as_str()),
            _ => None,
        })
        .collect()
}

/// What an affiliation notification says.
#[derive(Debug, PartialEq, Eq)]
struct Notice {
    prev_version: Option<String>,
    version: Option<String>,
    items: BTreeMap<String, Affiliation>,
}

fn notice(msg: &Element) -> Notice {
    let x = children(msg)
        .find(|c| c.attr("xmlns") == Some("urn:xmpp:muclight:0#affiliations"))
        .expect("an affiliations <x/>");
    notice_of(x)
}

/// Reads `<prev-version/>`, `<version/>` and `<user/>` items of `x`.
fn notice_of(x: &Element) -> Notice {
    let mut n = Notice {
        prev_version: None,
        version: None,
        items: BTreeMap::new(),
    };
    for c in children(x) {
        match c.name.as_str() {
            "prev-version" => n.prev_version = Some(text(c)),
            "version" => n.version = Some(text(c)),
            "user" => {
                let a = Affiliation::parse(c.attr("affiliation").unwrap()).unwrap();
                assert!(n.items.insert(text(c), a).is_none(), "one item per user");
            }
            other => panic!("unexpected <{other}/>"),
        }
    }
    n
}

#[derive(Clone, Copy, Debug)]
struct Opts {
    multi: bool,
    promote: bool,
    invite: bool,
    max: Option<usize>,
}

/// The model's answer to an occupant change.
#[derive(Debug, PartialEq)]
enum Expect {
    NotFound,
    NotAllowed,
    BadRequest(Option<&'static str>),
    /// Everything skipped: a bare result.
    NoChange,
    Changed {
        new: BTreeMap<String, Affiliation>,
        changed: BTreeMap<String, Affiliation>,
    },
}

/// A naive reference of MongooseIM's rules (the extension's §5.4 and
/// `mod_muc_light_utils`), on maps. Users sort as strings here, which for
/// `uN@s` is MongooseIM's (node, domain) order.
fn model(
    cur: &BTreeMap<String, Affiliation>,
    blocks: &BTreeSet<(String, Option<String>)>,
    requester: &str,
    req: &[(String, Affiliation)],
    o: Opts,
) -> Expect {
    use Affiliation::*;
    let Some(&my) = cur.get(requester) else {
        return Expect::NotFound;
    };
    if my != Owner {
        for (u, a) in req {
            let ok = match a {
                None => u == requester,
                Member => o.invite && cur.get(u) != Some(&Owner),
                Owner => false,
            };
            if !ok {
                return Expect::NotAllowed;
            }
        }
    }
    // additions that the added user's blocking list forbids are skipped
    let req: Vec<(String, Affiliation)> = req
        .iter()
        .filter(|(u, a)| {
            let joins = *a != None && u != requester && !cur.contains_key(u);
            !(joins
                && (blocks.contains(&(u.clone(), Some(requester.to_string())))
                    || blocks.contains(&(u.clone(), Option::None))))
        })
        .cloned()
        .collect();
    if req.is_empty() {
        return Expect::NoChange;
    }
    let had_owner = cur.values().any(|a| *a == Owner);
    let wants_owner = req.iter().any(|(_, a)| *a == Owner);
    if !had_owner && wants_owner {
        return Expect::BadRequest(Some("Ownerless room"));
    }
    let mut by_user: BTreeMap<&str, Vec<Affiliation>> = BTreeMap::new();
    for (u, a) in &req {
        by_user.entry(u).or_default().push(*a);
    }
    let mut new = cur.clone();
    let mut changed = BTreeMap::new();
    for (u, affs) in &by_user {
        if affs.len() > 1 {
            return Expect::BadRequest(Some(
                "Cannot change affiliation for the same user twice in the same request",
            ));
        }
        let a = affs[0];
        if cur.get(*u).copied().unwrap_or(None) == a {
            return Expect::BadRequest(Some("Meaningless change"));
        }
        if a == None {
            new.remove(*u);
        } else {
            new.insert(u.to_string(), a);
        }
        changed.insert(u.to_string(), a);
    }
    if had_owner || wants_owner {
        let owners: Vec<String> = new
            .iter()
            .filter(|(_, a)| **a == Owner)
            .map(|(u, _)| u.clone())
            .collect();
        if !o.multi && owners.len() > 1 {
            let old: Vec<&String> = owners
                .iter()
                .filter(|u| changed.get(*u) != Some(&Owner))
                .collect();
            if owners.len() == 2 && old.len() == 1 {
                let old = old[0].clone();
                new.insert(old.clone(), Member);
                changed.insert(old, Member);
            } else {
                return Expect::BadRequest(Some("Failed to demote old owner"));
            }
        }
        if !new.values().any(|a| *a == Owner) {
            if !o.promote {
                return Expect::BadRequest(Some("Cannot remove the last owner"));
            }
            let unchanged = new
                .iter()
                .find(|(u, a)| **a == Member && changed.get(*u) != Some(&Member));
            let joined = new
                .iter()
                .find(|(u, a)| **a == Member && !cur.contains_key(*u));
            let demoted = changed
                .iter()
                .find(|(u, a)| **a == Member && cur.contains_key(*u));
            if let Some((u, _)) = unchanged {
                let u = u.clone();
                new.insert(u.clone(), Owner);
                changed.insert(u, Owner);
            } else if let Some((u, _)) = joined {
                let u = u.clone();
                new.insert(u.clone(), Owner);
                changed.insert(u, Owner);
            } else if let Some((u, _)) = demoted {
                let u = u.clone();
                new.insert(u.clone(), Owner);
                changed.remove(&u);
            }
        }
    }
    if o.max.is_some_and(|m| new.len() > m) {
        return Expect::BadRequest(Option::None);
    }
    Expect::Changed { new, changed }
}

fn stored(store: &mut MemoryStore) -> Option<(BTreeMap<String, Affiliation>, String)> {
    let room = store.room(&BareJid::new(ROOM).unwrap()).unwrap()?;
    let affs = room
        .affiliations
        .iter()
        .map(|(u, a)| (u.to_string(), *a))
        .collect();
    Some((affs, room.version))
}

fn error_condition(out: &[Output]) -> Option<(String, Option<String>)> {
    let [Output::Direct { stanza, .. }] = out else {
        return None;
    };
    if stanza.attr("type") != Some("error") {
        return None;
    }
    let err = children(stanza).find(|c| c.name == "error")?;
    let cond = children(err).next()?.name.clone();
    let text = children(err).find(|c| c.name == "text").map(text);
    Some((cond, text))
}

fn opts_strategy() -> impl Strategy<Value = Opts> {
    (
        any::<bool>(),
        any::<bool>(),
        any::<bool>(),
        prop::option::of(2usize..6),
    )
        .prop_map(|(multi, promote, invite, max)| Opts {
            multi,
            promote,
            invite,
            max,
        })
}

type Step = (usize, Vec<(usize, u8)>);

fn steps_strategy() -> impl Strategy<Value = Vec<Step>> {
    prop::collection::vec(
        (
            0..2 * USERS,
            prop::collection::vec((0..USERS, 0u8..3), 0..4),
        ),
        1..10,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn affiliation_changes_follow_the_model(
        o in opts_strategy(),
        members in prop::collection::vec(any::<bool>(), USERS - 1),
        blocks in prop::collection::vec((1..USERS, prop::option::of(0..USERS)), 0..4),
        steps in steps_strategy(),
    ) {
        let options = Options {
            allow_multiple_owners: o.multi,
            promote_on_last_owner_leave: o.promote,
            all_can_invite: o.invite,
            ..Options::default()
        };
        let svc = Service::new(MUC, options).unwrap();
        let mut store = MemoryStore::new();
        let initial: Vec<String> = (1..USERS).filter(|i| members[i - 1]).map(user).collect();
        let occupants: String = initial
            .iter()
            .map(|u| format!("<user affiliation='member'>{u}</user>"))
            .collect();
        let out = send(&svc, &mut store, &user(0), &format!(
            "<iq from='FROM' to='{ROOM}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'><occupants>{occupants}</occupants></query></iq>"));
        let created = matches!(out.last(), Some(Output::Direct { stanza, .. }) if stanza.attr("type") == Some("result"));
        prop_assert!(created, "{:?}", out);
        // max_occupants only from here on (the initial room may be larger)
        let svc = Service::new(MUC, Options { max_occupants: o.max, ..svc.options().clone() }).unwrap();

        let mut block_set = BTreeSet::new();
        for (blocker, blocked) in &blocks {
            let item = match blocked {
                Some(b) => format!("<user action='deny'>{}</user>", user(*b)),
                None => format!("<room action='deny'>{ROOM}</room>"),
            };
            let out = send(&svc, &mut store, &user(*blocker), &format!(
                "<iq from='FROM' to='{MUC}' id='b' type='set'><query xmlns='urn:xmpp:muclight:0#blocking'>{item}</query></iq>"));
            prop_assert_eq!(out.len(), 1);
            block_set.insert((user(*blocker), blocked.map(user)));
        }

        for (requester, changes) in steps {
            let Some((cur, version)) = stored(&mut store) else { break };
            // half of the requests come from an owner (or the first occupant)
            let requester = if requester < USERS {
                user(requester)
            } else {
                cur.iter()
                    .find(|(_, a)| **a == Affiliation::Owner)
                    .or_else(|| cur.iter().next())
                    .map(|(u, _)| u.clone())
                    .unwrap()
            };
            let req: Vec<(String, Affiliation)> =
                changes.iter().map(|(u, a)| (user(*u), aff_of(*a))).collect();
            let items: String = req
                .iter()
                .map(|(u, a)| format!("<user affiliation='{}'>{u}</user>", a.as_str()))
                .collect();
            let out = send(&svc, &mut store, &requester, &format!(
                "<iq from='FROM' to='{ROOM}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'>{items}</query></iq>"));
            let expect = model(&cur, &block_set, &requester, &req, o);
            let unchanged = |store: &mut MemoryStore| stored(store) == Some((cur.clone(), version.clone()));
            match expect {
                Expect::NotFound => {
                    prop_assert_eq!(error_condition(&out), Some(("item-not-found".into(), None)));
                    prop_assert!(unchanged(&mut store));
                }
                Expect::NotAllowed => {
                    prop_assert_eq!(error_condition(&out), Some(("not-allowed".into(), None)));
                    prop_assert!(unchanged(&mut store));
                }
                Expect::BadRequest(t) => {
                    prop_assert_eq!(error_condition(&out), Some(("bad-request".into(), t.map(String::from))));
                    prop_assert!(unchanged(&mut store));
                }
                Expect::NoChange => {
                    prop_assert_eq!(out.len(), 1);
                    let bare_result = matches!(&out[0], Output::Direct { stanza, .. } if stanza.attr("type") == Some("result") && stanza.children.is_empty());
                    prop_assert!(bare_result, "{:?}", out);
                    prop_assert!(unchanged(&mut store));
                }
                Expect::Changed { new, changed } => {
                    let after = stored(&mut store);
                    let new_version = match &after {
                        Some((affs, v)) => {
                            prop_assert_eq!(affs, &new);
                            prop_assert_ne!(v, &version);
                            v.clone()
                        }
                        None => {
                            prop_assert!(new.is_empty());
                            String::new()
                        }
                    };
                    if !o.multi {
                        prop_assert!(new.values().filter(|a| **a == Affiliation::Owner).count() <= 1);
                    }
                    if o.promote && !new.is_empty() && cur.values().any(|a| *a == Affiliation::Owner) {
                        prop_assert!(new.values().any(|a| *a == Affiliation::Owner));
                    }
                    // the archive: the new version and every change, no prev-version
                    let archived: Vec<&Element> = out.iter().filter_map(|o| match o {
                        Output::Archive(a) => Some(&a.stanza),
                        _ => None,
                    }).collect();
                    let destroyed = out.iter().filter(|o| matches!(o, Output::RoomDestroyed(r) if r.to_string() == ROOM)).count();
                    if new.is_empty() {
                        // the room is gone, and so is its archive
                        prop_assert_eq!(archived.len(), 0);
                        prop_assert_eq!(destroyed, 1);
                    } else {
                        prop_assert_eq!(destroyed, 0);
                        prop_assert_eq!(archived.len(), 1);
                        let a = notice(archived[0]);
                        prop_assert_eq!(a.prev_version, None);
                        prop_assert_eq!(&a.items, &changed);
                    }
                    // who gets what
                    let mut got: BTreeMap<String, Vec<Notice>> = BTreeMap::new();
                    for o in &out {
                        if let Output::Broadcast(b) = o {
                            prop_assert_eq!(b.stanza.attr("from"), Some(ROOM));
                            prop_assert_eq!(b.stanza.attr("type"), Some("groupchat"));
                            prop_assert_eq!(b.stanza.attr("to"), None);
                            for r in &b.recipients {
                                got.entry(r.to_string()).or_default().push(notice(&b.stanza));
                            }
                        }
                    }
                    let everyone: BTreeSet<&String> = cur.keys().chain(new.keys()).collect();
                    prop_assert_eq!(got.keys().collect::<BTreeSet<_>>(), everyone);
                    for (u, notices) in got {
                        prop_assert_eq!(notices.len(), 1, "{} got {:?}", u, notices);
                        let n = &notices[0];
                        match (cur.contains_key(&u), new.get(&u)) {
                            (true, Some(_)) => prop_assert_eq!(n, &Notice {
                                prev_version: Some(version.clone()),
                                version: Some(new_version.clone()),
                                items: changed.clone(),
                            }),
                            (true, None) => prop_assert_eq!(n, &Notice {
                                prev_version: None,
                                version: None,
                                items: [(u.clone(), Affiliation::None)].into(),
                            }),
                            (false, Some(a)) => prop_assert_eq!(n, &Notice {
                                prev_version: None,
                                version: Some(new_version.clone()),
                                items: [(u.clone(), *a)].into(),
                            }),
                            (false, None) => prop_assert!(false, "{} is no occupant", u),
                        }
                    }
                    let last = out.last().unwrap();
                    let answered = matches!(last, Output::Direct { to, stanza } if stanza.attr("type") == Some("result") && to.to_string() == format!("{requester}/r"));
                    prop_assert!(answered, "{:?}", last);
                }
            }
            // the stored occupants are what everyone reads back
            if let Some((affs, v)) = stored(&mut store) {
                let member = affs.keys().next().unwrap().clone();
                let out = send(&svc, &mut store, &member, &format!(
                    "<iq from='FROM' to='{ROOM}' id='g' type='get'><query xmlns='urn:xmpp:muclight:0#affiliations'/></iq>"));
                let [Output::Direct { stanza, .. }] = out.as_slice() else { panic!("{out:?}") };
                let n = notice_of(children(stanza).next().unwrap());
                prop_assert_eq!(n.version, Some(v));
                prop_assert_eq!(n.items, affs);
            }
        }
    }

    #[test]
    fn room_messages_reach_every_member_once(
        members in prop::collection::vec(any::<bool>(), USERS - 1),
        sender in 0..USERS,
        body in "[a-z<>&'\"][a-z<>&'\" ]{0,19}",
        id in prop::option::of("[a-z0-9]{1,8}"),
    ) {
        let svc = Service::new(MUC, Options::default()).unwrap();
        let mut store = MemoryStore::new();
        let occupants: String = (1..USERS)
            .filter(|i| members[i - 1])
            .map(|i| format!("<user affiliation='member'>{}</user>", user(i)))
            .collect();
        send(&svc, &mut store, &user(0), &format!(
            "<iq from='FROM' to='{ROOM}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'><occupants>{occupants}</occupants></query></iq>"));
        let (affs, _) = stored(&mut store).unwrap();
        let mut body_el = Element::new("body");
        body_el.children.push(Node::Text(body.clone()));
        let mut msg = Element::new("message");
        msg.attrs.push(("from".into(), format!("{}/r", user(sender))));
        msg.attrs.push(("to".into(), ROOM.into()));
        msg.attrs.push(("type".into(), "groupchat".into()));
        if let Some(id) = &id {
            msg.attrs.push(("id".into(), id.clone()));
        }
        msg.children.push(Node::Element(body_el));
        let from = Jid::new(&format!("{}/r", user(sender))).unwrap();
        let out = svc.handle(&mut store, &from, &msg).unwrap();
        if !affs.contains_key(&user(sender)) {
            prop_assert_eq!(error_condition(&out), Some(("item-not-found".into(), None)));
            return Ok(());
        }
        prop_assert_eq!(out.len(), 2);
        let (Output::Archive(a), Output::Broadcast(b)) = (&out[0], &out[1]) else { panic!("{out:?}") };
        prop_assert_eq!(&a.stanza, &b.stanza);
        prop_assert_eq!(a.sender.as_ref().map(|s| s.to_string()), Some(user(sender)));
        let recipients: Vec<String> = b.recipients.iter().map(|r| r.to_string()).collect();
        prop_assert_eq!(recipients, affs.keys().cloned().collect::<Vec<_>>());
        let expected_from = format!("{ROOM}/{}", user(sender));
        prop_assert_eq!(b.stanza.attr("from"), Some(expected_from.as_str()));
        if let Some(id) = &id {
            prop_assert_eq!(b.stanza.attr("id"), Some(id.as_str()));
        }
        // copies differ only in `to`, and each is the element with that `to`
        let t = b.template();
        for r in &b.recipients {
            let to = format!("{r}/phone");
            let mut bytes = Vec::new();
            t.render(to.as_bytes(), &mut bytes);
            let parsed = Element::parse(&bytes).unwrap();
            prop_assert_eq!(parsed.attr("to"), Some(to.as_str()));
            let mut without_to = parsed.clone();
            without_to.attrs.retain(|(k, _)| k != "to");
            prop_assert_eq!(&without_to, &b.stanza);
            prop_assert_eq!(bytes, b.render(&to));
        }
    }
}

fn items_and_set(out: &[Output]) -> (Vec<String>, BTreeMap<String, String>) {
    let [Output::Direct { stanza, .. }] = out else {
        panic!("{out:?}")
    };
    let q = children(stanza).next().expect("a query");
    let items = children(q)
        .filter(|c| c.name == "item")
        .map(|c| c.attr("jid").unwrap().to_string())
        .collect();
    let set = children(q)
        .find(|c| c.name == "set")
        .map(|s| children(s).map(|c| (c.name.clone(), text(c))).collect())
        .unwrap_or_default();
    (items, set)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// Paging disco#items forwards with `<after/>` and backwards with
    /// `<before/>` visits every room of the user once, in order.
    #[test]
    fn disco_pages_cover_the_rooms(
        rooms in prop::collection::btree_set("[a-z]{1,6}", 0..20),
        others in prop::collection::btree_set("[a-z]{1,6}", 0..5),
        per_page in prop::option::of(1usize..6),
        max in prop::option::of(1i64..8),
    ) {
        let svc = Service::new(MUC, Options { rooms_per_page: per_page, ..Options::default() }).unwrap();
        let mut store = MemoryStore::new();
        let create = |room: &str| format!(
            "<iq from='FROM' to='{room}@{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'/></iq>");
        for r in &rooms {
            send(&svc, &mut store, "alice@s", &create(r));
        }
        for r in others.difference(&rooms) {
            send(&svc, &mut store, "bob@s", &create(r));
        }
        let expected: Vec<String> = rooms.iter().map(|r| format!("{r}@{MUC}")).collect();
        let query = |rsm: &str| format!(
            "<iq from='FROM' to='{MUC}' id='d' type='get'><query xmlns='http://jabber.org/protocol/disco#items'>{rsm}</query></iq>");
        let max_el = max.map(|m| format!("<max>{m}</max>")).unwrap_or_default();
        let page = (match (max, per_page) {
            (Some(m), Some(p)) => Some((m as usize).min(p)),
            (Some(m), None) => Some(m as usize),
            (None, p) => p,
        }).unwrap_or(usize::MAX);
        // forwards
        let mut seen: Vec<String> = Vec::new();
        let mut rsm = format!("<set xmlns='http://jabber.org/protocol/rsm'>{max_el}</set>");
        loop {
            let (items, set) = items_and_set(&send(&svc, &mut store, "alice@s", &query(&rsm)));
            prop_assert!(items.len() <= page);
            if !expected.is_empty() {
                prop_assert_eq!(set.get("count"), Some(&expected.len().to_string()));
            }
            if items.is_empty() {
                break;
            }
            prop_assert_eq!(set.get("first"), items.first());
            prop_assert_eq!(set.get("last"), items.last());
            seen.extend(items.iter().cloned());
            rsm = format!("<set xmlns='http://jabber.org/protocol/rsm'>{max_el}<after>{}</after></set>", items.last().unwrap());
        }
        prop_assert_eq!(&seen, &expected);
        // backwards, from the end
        let mut seen: Vec<String> = Vec::new();
        let mut rsm = format!("<set xmlns='http://jabber.org/protocol/rsm'>{max_el}<before/></set>");
        loop {
            let (items, _) = items_and_set(&send(&svc, &mut store, "alice@s", &query(&rsm)));
            if items.is_empty() {
                break;
            }
            seen.splice(0..0, items.iter().cloned());
            rsm = format!("<set xmlns='http://jabber.org/protocol/rsm'>{max_el}<before>{}</before></set>", items[0]);
        }
        prop_assert_eq!(&seen, &expected);
        // without RSM: the first page (rooms_per_page), or everything
        let (items, _) = items_and_set(&send(&svc, &mut store, "alice@s", &query("")));
        let n = per_page.unwrap_or(usize::MAX).min(expected.len());
        prop_assert_eq!(&items[..], &expected[..n]);
    }

    /// A blocking list is what its denials and allows left, in any order.
    #[test]
    fn blocking_list_follows_its_changes(
        ops in prop::collection::vec(prop::collection::vec((any::<bool>(), any::<bool>(), 0..4usize), 1..4), 1..12),
    ) {
        let svc = Service::new(MUC, Options::default()).unwrap();
        let mut store = MemoryStore::new();
        let mut model: BTreeSet<(String, String)> = BTreeSet::new();
        for batch in ops {
            let mut items = String::new();
            // MongooseIM applies a request's items last to first
            for (room, deny, i) in batch.iter().rev() {
                let (kind, jid) = if *room { ("room", format!("r{i}@{MUC}")) } else { ("user", format!("u{i}@s")) };
                if *deny {
                    model.insert((kind.to_string(), jid));
                } else {
                    model.remove(&(kind.to_string(), jid));
                }
            }
            for (room, deny, i) in &batch {
                let (kind, jid) = if *room { ("room", format!("r{i}@{MUC}")) } else { ("user", format!("u{i}@s")) };
                let action = if *deny { "deny" } else { "allow" };
                items.push_str(&format!("<{kind} action='{action}'>{jid}</{kind}>"));
            }
            let out = send(&svc, &mut store, "alice@s", &format!(
                "<iq from='FROM' to='{MUC}' id='b' type='set'><query xmlns='urn:xmpp:muclight:0#blocking'>{items}</query></iq>"));
            prop_assert_eq!(out.len(), 1);
            let out = send(&svc, &mut store, "alice@s", &format!(
                "<iq from='FROM' to='{MUC}' id='g' type='get'><query xmlns='urn:xmpp:muclight:0#blocking'/></iq>"));
            let [Output::Direct { stanza, .. }] = out.as_slice() else { panic!("{out:?}") };
            let q = children(stanza).next().unwrap();
            let listed: BTreeSet<(String, String)> = children(q)
                .map(|c| {
                    assert_eq!(c.attr("action"), Some("deny"));
                    (c.name.clone(), text(c))
                })
                .collect();
            prop_assert_eq!(&listed, &model);
        }
    }
}
