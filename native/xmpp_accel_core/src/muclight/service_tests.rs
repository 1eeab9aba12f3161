//! Unit tests of the service, after MongooseIM's `muc_light_SUITE` and the
//! extension's examples.

use super::*;
use crate::xml::Style;
use std::time::{Duration, UNIX_EPOCH};

const MUC: &str = "muclight.example.com";

fn service(opts: Options) -> Service {
    Service::new(MUC, opts)
        .unwrap()
        .with_clock(|| UNIX_EPOCH + Duration::from_micros(1_700_000_000_123_456))
}

fn jid(s: &str) -> BareJid {
    BareJid::new(s).unwrap()
}

struct World {
    svc: Service,
    store: MemoryStore,
}

impl World {
    fn new(opts: Options) -> Self {
        World {
            svc: service(opts),
            store: MemoryStore::new(),
        }
    }

    /// `user` (a bare JID) sends `xml` from resource `res`.
    fn send(&mut self, user: &str, xml: &str) -> Vec<Output> {
        let from = Jid::new(&format!("{user}/res")).unwrap();
        let xml = xml.replace("FROM", &from.to_string());
        let el = Element::parse(xml.as_bytes()).unwrap();
        self.svc.handle(&mut self.store, &from, &el).unwrap()
    }

    /// A room `name` with `owner` and `members`.
    fn room(&mut self, name: &str, owner: &str, members: &[&str]) -> Vec<Output> {
        let users: String = members
            .iter()
            .map(|m| format!("<user affiliation='member'>{m}</user>"))
            .collect();
        let out = self.send(
            owner,
            &format!("<iq from='FROM' to='{name}@{MUC}' id='c1' type='set'><query xmlns='urn:xmpp:muclight:0#create'><occupants>{users}</occupants></query></iq>"),
        );
        assert!(is_result(out.last().unwrap()), "{out:?}");
        out
    }

    fn affs(&self, room: &str) -> Vec<(String, Affiliation)> {
        self.store.rooms()[&jid(&format!("{room}@{MUC}"))]
            .affiliations
            .iter()
            .map(|(u, a)| (u.to_string(), *a))
            .collect()
    }

    fn version(&self, room: &str) -> String {
        self.store.rooms()[&jid(&format!("{room}@{MUC}"))]
            .version
            .clone()
    }
}

fn xml(e: &Element) -> String {
    String::from_utf8(e.to_bytes(Style::Compact)).unwrap()
}

fn is_result(o: &Output) -> bool {
    matches!(o, Output::Direct { stanza, .. } if stanza.attr("type") == Some("result"))
}

/// The one direct output, as XML.
fn direct(out: &[Output]) -> String {
    let d: Vec<String> = out
        .iter()
        .filter_map(|o| match o {
            Output::Direct { stanza, .. } => Some(xml(stanza)),
            _ => None,
        })
        .collect();
    assert_eq!(d.len(), 1, "{out:?}");
    d[0].clone()
}

/// Each broadcast as (recipients, XML).
fn broadcasts(out: &[Output]) -> Vec<(Vec<String>, String)> {
    out.iter()
        .filter_map(|o| match o {
            Output::Broadcast(b) => Some((
                b.recipients.iter().map(|r| r.to_string()).collect(),
                xml(&b.stanza),
            )),
            _ => None,
        })
        .collect()
}

fn archives(out: &[Output]) -> Vec<String> {
    out.iter()
        .filter_map(|o| match o {
            Output::Archive(a) => Some(xml(&a.stanza)),
            _ => None,
        })
        .collect()
}

fn error_of(out: &[Output]) -> String {
    let d = direct(out);
    assert!(d.contains("type='error'"), "{d}");
    let start = d.find("<error").unwrap();
    d[start..d.rfind("</").unwrap()].to_owned()
}

const BAD_REQUEST: &str =
    "<error code='400' type='modify'><bad-request xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>";
const NOT_FOUND: &str = "<error code='404' type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";
const NOT_ALLOWED: &str = "<error code='405' type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>";

fn bad_request(text: Option<&str>) -> String {
    match text {
        Some(t) => format!(
            "{BAD_REQUEST}<text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>{t}</text></error>"
        ),
        None => format!("{BAD_REQUEST}</error>"),
    }
}

#[test]
fn create_room_notifies_each_occupant_with_own_affiliation() {
    let mut w = World::new(Options::default());
    let out = w.send(
        "crone1@shakespeare.lit",
        &format!("<iq from='FROM' to='coven@{MUC}' id='create1' type='set'><query xmlns='urn:xmpp:muclight:0#create'><configuration><roomname>A Dark Cave</roomname></configuration><occupants><user affiliation='member'>user2@shakespeare.lit</user><user affiliation='member'>User1@Shakespeare.lit</user></occupants></query></iq>"),
    );
    let v = w.version("coven");
    let notif = |u: &str, a: &str| {
        (
            vec![u.to_string()],
            format!("<message from='coven@{MUC}' id='create1' type='groupchat'><x xmlns='urn:xmpp:muclight:0#affiliations'><version>{v}</version><user affiliation='{a}'>{u}</user></x><body/></message>"),
        )
    };
    assert_eq!(
        broadcasts(&out),
        vec![
            notif("crone1@shakespeare.lit", "owner"),
            notif("user1@shakespeare.lit", "member"),
            notif("user2@shakespeare.lit", "member"),
        ]
    );
    assert_eq!(
        archives(&out),
        vec![format!("<message from='coven@{MUC}' id='create1' type='groupchat'><x xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='owner'>crone1@shakespeare.lit</user><user affiliation='member'>user1@shakespeare.lit</user><user affiliation='member'>user2@shakespeare.lit</user></x><body/></message>")]
    );
    assert_eq!(
        direct(&out),
        format!(
            "<iq from='coven@{MUC}' id='create1' to='crone1@shakespeare.lit/res' type='result'/>"
        )
    );
    assert!(is_result(out.last().unwrap()));
    let room = &w.store.rooms()[&jid(&format!("coven@{MUC}"))];
    assert_eq!(
        room.config,
        vec![
            ("roomname".to_string(), "A Dark Cave".to_string()),
            ("subject".to_string(), String::new())
        ]
    );
    // a second create of the same room
    let out = w.send(
        "hag66@shakespeare.lit",
        &format!("<iq from='FROM' to='coven@{MUC}' id='c2' type='set'><query xmlns='urn:xmpp:muclight:0#create'/></iq>"),
    );
    assert_eq!(
        direct(&out),
        format!("<iq from='coven@{MUC}' id='c2' to='hag66@shakespeare.lit/res' type='error'><error code='409' type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Room already exists</text></error></iq>")
    );
}

#[test]
fn service_domain_must_be_a_domain() {
    assert!(Service::new("MUC.Example.com", Options::default()).is_ok());
    for bad in ["a@muc.example.com", "muc.example.com/r", "", "a@@b"] {
        assert_eq!(
            Service::new(bad, Options::default()).unwrap_err(),
            InvalidDomain(bad.into())
        );
    }
}

#[test]
fn create_unique_room_answers_from_the_service() {
    let mut w = World::new(Options::default());
    let out = w.send(
        "bob@x",
        &format!("<iq from='FROM' to='{MUC}' id='r1' type='set'><query xmlns='urn:xmpp:muclight:0#create'><configuration><roomname>Random Cave</roomname></configuration></query></iq>"),
    );
    let (room, _) = w.store.rooms().iter().next().unwrap();
    assert_eq!(room.domain().as_str(), MUC);
    assert!(room.node().unwrap().as_str().starts_with("1700-0-123456-"));
    let b = broadcasts(&out);
    assert_eq!(b.len(), 1);
    assert!(
        b[0].1
            .starts_with(&format!("<message from='{room}' id='r1'")),
        "{}",
        b[0].1
    );
    assert!(b[0].1.contains("<user affiliation='owner'>bob@x</user>"));
    assert_eq!(
        direct(&out),
        format!("<iq from='{MUC}' id='r1' to='bob@x/res' type='result'/>")
    );
}

#[test]
fn create_errors() {
    let mut w = World::new(Options {
        equal_occupants: true,
        ..Options::default()
    });
    let create = |occ: &str, cfg: &str| {
        format!("<iq from='FROM' to='r@{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'><configuration>{cfg}</configuration><occupants>{occ}</occupants></query></iq>")
    };
    let out = w.send("bob@x", &create("<user affiliation='owner'>a@x</user>", ""));
    assert_eq!(
        error_of(&out),
        bad_request(Some(
            "bad_request:&lt;&lt;&quot;Ownerless room&quot;&gt;&gt;"
        ))
    );
    let out = w.send(
        "bob@x",
        &create("<user affiliation='member'>bob@x</user>", ""),
    );
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
    let out = w.send("bob@x", &create("<user affiliation='none'>a@x</user>", ""));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
    let out = w.send("bob@x", &create("", "<colour>red</colour>"));
    assert_eq!(error_of(&out), bad_request(Some("colour:not_found")));
    assert!(w.store.rooms().is_empty());
    // equal occupants: the creator is a member
    let out = w.send(
        "bob@x",
        &create("<user affiliation='member'>a@x</user>", ""),
    );
    assert!(is_result(out.last().unwrap()));
    assert_eq!(
        w.affs("r"),
        vec![
            ("a@x".into(), Affiliation::Member),
            ("bob@x".into(), Affiliation::Member)
        ]
    );
}

#[test]
fn groupchat_goes_to_every_member_sender_included() {
    let mut w = World::new(Options::default());
    w.room("coven", "hag66@s", &["crone1@s", "crone2@s"]);
    let out = w.send(
        "hag66@s",
        &format!("<message from='FROM' to='coven@{MUC}' id='msg111' type='groupchat' xml:lang='en'><body>Harpier cries: 'tis time.</body><x xmlns='elixir:ingredient'>bat-wing</x></message>"),
    );
    let expected = format!("<message from='coven@{MUC}/hag66@s' id='msg111' type='groupchat'><body>Harpier cries: &apos;tis time.</body><x xmlns='elixir:ingredient'>bat-wing</x></message>");
    assert_eq!(archives(&out), vec![expected.clone()]);
    assert_eq!(
        broadcasts(&out),
        vec![(
            vec!["crone1@s".into(), "crone2@s".into(), "hag66@s".into()],
            expected
        )]
    );
    let Output::Broadcast(b) = &out[1] else {
        panic!()
    };
    assert!(b.archived);
    assert_eq!(
        String::from_utf8(b.render("crone1@s/phone")).unwrap(),
        format!("<message from='coven@{MUC}/hag66@s' id='msg111' to='crone1@s/phone' type='groupchat'><body>Harpier cries: &apos;tis time.</body><x xmlns='elixir:ingredient'>bat-wing</x></message>")
    );
    // without an id, one is generated
    let out = w.send(
        "crone1@s",
        &format!("<message from='FROM' to='coven@{MUC}' type='groupchat'><body>x</body></message>"),
    );
    assert!(broadcasts(&out)[0].1.contains(" id='1700-0-123456-"));
}

#[test]
fn unauthorized_and_invalid_stanzas() {
    let mut w = World::new(Options::default());
    w.room("coven", "kate@s", &[]);
    let out = w.send("alice@s", &format!("<message from='FROM' to='coven@{MUC}' id='u' type='groupchat'><body>malicious</body></message>"));
    assert_eq!(
        direct(&out),
        format!("<message from='coven@{MUC}' id='u' to='alice@s/res' type='error'>{NOT_FOUND}</message>")
    );
    let out = w.send(
        "kate@s",
        &format!(
            "<message from='FROM' to='coven@{MUC}' id='b' type='chat'><body>x</body></message>"
        ),
    );
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
    let out = w.send(
        "kate@s",
        &format!("<message from='FROM' to='nope@{MUC}' type='groupchat'><body>x</body></message>"),
    );
    assert_eq!(error_of(&out), NOT_FOUND);
    let out = w.send("kate@s", &format!("<iq from='FROM' to='coven@{MUC}/x' id='1' type='get'><query xmlns='urn:xmpp:muclight:0#info'/></iq>"));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Resource expected to be empty"))
    );
    let out = w.send(
        "kate@s",
        &format!(
            "<iq from='FROM' to='coven@{MUC}' id='1' type='get'><a xmlns='x'/><b xmlns='y'/></iq>"
        ),
    );
    assert_eq!(error_of(&out), bad_request(Some("Unknown IQ format")));
    let out = w.send(
        "kate@s",
        &format!(
            "<iq from='FROM' to='coven@{MUC}' id='1' type='get'><ping xmlns='urn:xmpp:ping'/></iq>"
        ),
    );
    assert_eq!(
        error_of(&out),
        "<error code='501' type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>mod_muc_iq returns error</text></error>"
    );
    let out = w.send("kate@s", &format!("<iq from='FROM' to='{MUC}' id='1' type='get'><query xmlns='urn:xmpp:muclight:0#info'/></iq>"));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
    let out = w.send("kate@s", &format!("<iq from='FROM' to='coven@{MUC}' id='1' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><item role='participant'>hag66@s</item></query></iq>"));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
    // no answers to presences, results, errors, or other domains
    for s in [
        format!("<presence from='FROM' to='coven@{MUC}'/>"),
        format!("<iq from='FROM' to='coven@{MUC}' id='1' type='result'/>"),
        format!("<message from='FROM' to='coven@{MUC}' type='error'/>"),
        "<message from='FROM' to='coven@elsewhere' type='groupchat'/>".to_string(),
        "<message from='FROM' type='groupchat'/>".to_string(),
    ] {
        assert_eq!(w.send("kate@s", &s), vec![], "{s}");
    }
}

#[test]
fn configuration_get_set_and_rights() {
    let mut w = World::new(Options::default());
    w.room("coven", "alice@s", &["bob@s", "kate@s"]);
    let v1 = w.version("coven");
    let get = |v: &str| {
        format!("<iq from='FROM' to='coven@{MUC}' id='g' type='get'><query xmlns='urn:xmpp:muclight:0#configuration'><version>{v}</version></query></iq>")
    };
    let out = w.send("bob@s", &get("old"));
    assert_eq!(
        direct(&out),
        format!("<iq from='coven@{MUC}' id='g' to='bob@s/res' type='result'><query xmlns='urn:xmpp:muclight:0#configuration'><version>{v1}</version><subject></subject><roomname>Untitled</roomname></query></iq>")
    );
    let out = w.send("bob@s", &get(&v1));
    assert_eq!(
        direct(&out),
        format!("<iq from='coven@{MUC}' id='g' to='bob@s/res' type='result'/>")
    );
    let out = w.send("mike@s", &get("old"));
    assert_eq!(error_of(&out), NOT_FOUND);

    let set = |body: &str| {
        format!("<iq from='FROM' to='coven@{MUC}' id='conf2' type='set'><query xmlns='urn:xmpp:muclight:0#configuration'>{body}</query></iq>")
    };
    let out = w.send("kate@s", &set("<roomname>new</roomname>"));
    assert_eq!(error_of(&out), NOT_ALLOWED);
    assert_eq!(w.version("coven"), v1);
    // everyone may change the subject alone
    let out = w.send("kate@s", &set("<subject>To be</subject>"));
    let v2 = w.version("coven");
    assert_ne!(v1, v2);
    let notif = format!("<message from='coven@{MUC}' id='conf2' type='groupchat'><x xmlns='urn:xmpp:muclight:0#configuration'><prev-version>{v1}</prev-version><version>{v2}</version><subject>To be</subject></x><body/></message>");
    assert_eq!(archives(&out), vec![notif.clone()]);
    assert_eq!(
        broadcasts(&out),
        vec![(
            vec!["alice@s".into(), "bob@s".into(), "kate@s".into()],
            notif
        )]
    );
    assert!(is_result(out.last().unwrap()));
    // owner: delta config, fields in reverse request order, last duplicate wins
    let out = w.send(
        "alice@s",
        &set("<subject>a</subject><roomname>The Coven</roomname><subject>b</subject>"),
    );
    assert!(broadcasts(&out)[0]
        .1
        .contains("<subject>b</subject><roomname>The Coven</roomname><subject>a</subject>"));
    let room = &w.store.rooms()[&jid(&format!("coven@{MUC}"))];
    assert_eq!(
        room.config,
        vec![
            ("roomname".into(), "The Coven".into()),
            ("subject".into(), "b".into())
        ]
    );
    let out = w.send("alice@s", &set("<background>x</background>"));
    assert_eq!(error_of(&out), bad_request(None));
    let out = w.send("alice@s", &set("<version>x</version>"));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );
}

#[test]
fn all_can_configure_and_invite_options_and_room_overrides() {
    let mut w = World::new(Options {
        all_can_configure: true,
        ..Options::default()
    });
    w.room("r", "alice@s", &["kate@s"]);
    let set = format!("<iq from='FROM' to='r@{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#configuration'><roomname>n</roomname></query></iq>");
    assert!(is_result(w.send("kate@s", &set).last().unwrap()));

    let schema = ConfigSchema::new(vec![
        SchemaField {
            field: "all_can_invite".into(),
            default: ConfigValue::Boolean(false),
            internal_key: "all_can_invite".into(),
        },
        SchemaField {
            field: "roomname".into(),
            default: ConfigValue::String("Untitled".into()),
            internal_key: "roomname".into(),
        },
    ])
    .unwrap();
    let mut w = World::new(Options {
        config_schema: schema,
        ..Options::default()
    });
    w.room("r", "alice@s", &["kate@s"]);
    let add = format!("<iq from='FROM' to='r@{MUC}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>mike@s</user></query></iq>");
    assert_eq!(error_of(&w.send("kate@s", &add)), NOT_ALLOWED);
    let enable = format!("<iq from='FROM' to='r@{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#configuration'><all_can_invite>true</all_can_invite></query></iq>");
    assert!(is_result(w.send("alice@s", &enable).last().unwrap()));
    assert!(is_result(w.send("kate@s", &add).last().unwrap()));
    assert_eq!(w.affs("r").len(), 3);
    // members still cannot remove others or make owners
    for body in [
        "<user affiliation='none'>alice@s</user>",
        "<user affiliation='owner'>kate@s</user>",
        "<user affiliation='member'>alice@s</user>",
    ] {
        let s = format!("<iq from='FROM' to='r@{MUC}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'>{body}</query></iq>");
        assert_eq!(error_of(&w.send("kate@s", &s)), NOT_ALLOWED, "{body}");
    }
}

#[test]
fn affiliation_change_as_the_extension_describes() {
    let mut w = World::new(Options::default());
    w.room("coven", "crone1@s", &["hag77@s", "hag88@s"]);
    let v1 = w.version("coven");
    let out = w.send(
        "crone1@s",
        &format!("<iq from='FROM' to='coven@{MUC}' id='member1' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>hag66@s</user><user affiliation='owner'>hag77@s</user><user affiliation='none'>hag88@s</user></query></iq>"),
    );
    let v2 = w.version("coven");
    let items = "<user affiliation='member'>crone1@s</user><user affiliation='member'>hag66@s</user><user affiliation='owner'>hag77@s</user><user affiliation='none'>hag88@s</user>";
    let msg = |x: &str| {
        format!("<message from='coven@{MUC}' id='member1' type='groupchat'><x xmlns='urn:xmpp:muclight:0#affiliations'>{x}</x><body/></message>")
    };
    assert_eq!(
        archives(&out),
        vec![msg(&format!("<version>{v2}</version>{items}"))]
    );
    assert_eq!(
        broadcasts(&out),
        vec![
            (
                vec!["crone1@s".into(), "hag77@s".into()],
                msg(&format!(
                    "<prev-version>{v1}</prev-version><version>{v2}</version>{items}"
                ))
            ),
            (
                vec!["hag88@s".into()],
                msg("<user affiliation='none'>hag88@s</user>")
            ),
            (
                vec!["hag66@s".into()],
                msg(&format!(
                    "<version>{v2}</version><user affiliation='member'>hag66@s</user>"
                ))
            ),
        ]
    );
    assert!(is_result(out.last().unwrap()));
    assert_eq!(
        w.affs("coven"),
        vec![
            ("crone1@s".into(), Affiliation::Member),
            ("hag66@s".into(), Affiliation::Member),
            ("hag77@s".into(), Affiliation::Owner)
        ]
    );
    // errors leave the room unchanged
    let out = w.send(
        "hag77@s",
        &format!("<iq from='FROM' to='coven@{MUC}' id='m' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>hag66@s</user></query></iq>"),
    );
    assert_eq!(error_of(&out), bad_request(Some("Meaningless change")));
    assert_eq!(w.version("coven"), v2);
}

#[test]
fn leaving_one_by_one_destroys_the_room() {
    let mut w = World::new(Options::default());
    w.room("coven", "alice@s", &["bob@s", "kate@s"]);
    let leave = format!("<iq from='FROM' to='coven@{MUC}' id='l' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='none'>FROM</user></query></iq>");
    let leave = |u: &str| leave.replace("FROM</user>", &format!("{u}</user>"));
    let out = w.send("kate@s", &leave("kate@s"));
    let b = broadcasts(&out);
    assert_eq!(b[0].0, vec!["alice@s".to_string(), "bob@s".to_string()]);
    assert!(b[0]
        .1
        .contains("<user affiliation='none'>kate@s</user></x>"));
    assert_eq!(b[1].0, vec!["kate@s".to_string()]);
    // the owner leaves: bob is promoted
    let out = w.send("alice@s", &leave("alice@s"));
    assert!(broadcasts(&out)[0]
        .1
        .contains("<user affiliation='none'>alice@s</user><user affiliation='owner'>bob@s</user>"));
    assert_eq!(w.affs("coven"), vec![("bob@s".into(), Affiliation::Owner)]);
    let out = w.send("bob@s", &leave("bob@s"));
    assert_eq!(broadcasts(&out).len(), 1);
    assert!(archives(&out).is_empty());
    assert_eq!(
        out[out.len() - 2],
        Output::RoomDestroyed(jid(&format!("coven@{MUC}")))
    );
    assert!(w.store.rooms().is_empty());
    assert!(w.store.user_rooms(&jid("bob@s")).unwrap().is_empty());
}

#[test]
fn removing_a_user_leaves_their_rooms() {
    let mut w = World::new(Options::default());
    w.room("solo", "carol@s", &[]);
    w.room("coven", "carol@s", &["bob@s"]);
    w.room("other", "bob@s", &[]);
    let block = format!("<iq from='FROM' to='{MUC}' id='b' type='set'><query xmlns='urn:xmpp:muclight:0#blocking'><user action='deny'>bob@s</user></query></iq>");
    w.send("carol@s", &block);
    let v = w.version("coven");
    let out = w.svc.remove_user(&mut w.store, &jid("carol@s")).unwrap();
    assert!(!w.store.rooms().contains_key(&jid(&format!("solo@{MUC}"))));
    assert_eq!(w.affs("coven"), vec![("bob@s".into(), Affiliation::Owner)]);
    assert_eq!(w.affs("other").len(), 1);
    assert!(w.store.blocking(&jid("carol@s")).unwrap().is_empty());
    let b = broadcasts(&out);
    // coven: bob (staying) gets both versions and the promotion; carol gets none twice (two rooms)
    assert!(b.iter().any(|(to, x)| to == &vec!["bob@s".to_string()]
        && x.contains(&format!("<prev-version>{v}</prev-version>"))
        && x.contains(
            "<user affiliation='owner'>bob@s</user><user affiliation='none'>carol@s</user>"
        )));
    assert_eq!(
        b.iter()
            .filter(|(to, _)| to == &vec!["carol@s".to_string()])
            .count(),
        2
    );
    assert_eq!(archives(&out).len(), 1);
    let gone: Vec<&Output> = out
        .iter()
        .filter(|o| matches!(o, Output::RoomDestroyed(_)))
        .collect();
    assert_eq!(
        gone,
        vec![&Output::RoomDestroyed(jid(&format!("solo@{MUC}")))]
    );
    assert!(!out.iter().any(|o| matches!(o, Output::Direct { .. })));
}

#[test]
fn destroy_room() {
    let mut w = World::new(Options::default());
    w.room("coven", "alice@s", &["bob@s"]);
    let destroy = format!("<iq from='FROM' to='coven@{MUC}' id='d1' type='set'><query xmlns='urn:xmpp:muclight:0#destroy'/></iq>");
    assert_eq!(error_of(&w.send("bob@s", &destroy)), NOT_ALLOWED);
    let out = w.send("alice@s", &destroy);
    let msg = |u: &str| {
        format!("<message from='coven@{MUC}' id='d1' type='groupchat'><x xmlns='urn:xmpp:muclight:0#destroy'/><x xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='none'>{u}</user></x><body/></message>")
    };
    assert_eq!(
        broadcasts(&out),
        vec![
            (vec!["alice@s".into()], msg("alice@s")),
            (vec!["bob@s".into()], msg("bob@s"))
        ]
    );
    assert!(archives(&out).is_empty());
    assert_eq!(
        out[out.len() - 2],
        Output::RoomDestroyed(jid(&format!("coven@{MUC}")))
    );
    assert!(is_result(out.last().unwrap()));
    assert!(w.store.rooms().is_empty());
    assert_eq!(error_of(&w.send("alice@s", &destroy)), NOT_FOUND);
}

#[test]
fn affiliations_and_info_get() {
    let mut w = World::new(Options::default());
    w.room("coven", "user1@s", &["user3@s", "user2@s"]);
    let v = w.version("coven");
    let out = w.send("user2@s", &format!("<iq from='FROM' to='coven@{MUC}' id='i' type='get'><query xmlns='urn:xmpp:muclight:0#info'><version>abc</version></query></iq>"));
    let users = "<user affiliation='owner'>user1@s</user><user affiliation='member'>user2@s</user><user affiliation='member'>user3@s</user>";
    assert_eq!(
        direct(&out),
        format!("<iq from='coven@{MUC}' id='i' to='user2@s/res' type='result'><query xmlns='urn:xmpp:muclight:0#info'><version>{v}</version><configuration><subject></subject><roomname>Untitled</roomname></configuration><occupants>{users}</occupants></query></iq>")
    );
    let out = w.send("user2@s", &format!("<iq from='FROM' to='coven@{MUC}' id='a' type='get'><query xmlns='urn:xmpp:muclight:0#affiliations'/></iq>"));
    assert_eq!(
        direct(&out),
        format!("<iq from='coven@{MUC}' id='a' to='user2@s/res' type='result'><query xmlns='urn:xmpp:muclight:0#affiliations'><version>{v}</version>{users}</query></iq>")
    );
}

#[test]
fn blocking_lists() {
    let mut w = World::new(Options::default());
    w.room("coven", "alice@s", &["bob@s", "kate@s"]);
    let get = format!("<iq from='FROM' to='{MUC}' id='b' type='get'><query xmlns='urn:xmpp:muclight:0#blocking'/></iq>");
    let set = |items: &str| {
        format!("<iq from='FROM' to='{MUC}' id='b' type='set'><query xmlns='urn:xmpp:muclight:0#blocking'>{items}</query></iq>")
    };
    assert_eq!(
        direct(&w.send("bob@s", &get)),
        format!("<iq from='{MUC}' id='b' to='bob@s/res' type='result'><query xmlns='urn:xmpp:muclight:0#blocking'/></iq>")
    );
    let out = w.send(
        "bob@s",
        &set(&format!(
            "<room action='deny'>coven@{MUC}</room>\n<user action='deny'>Alice@s/x</user>"
        )),
    );
    assert!(is_result(&out[0]));
    let list = direct(&w.send("bob@s", &get));
    assert!(
        list.contains(&format!("<room action='deny'>coven@{MUC}</room>")),
        "{list}"
    );
    assert!(
        list.contains("<user action='deny'>alice@s</user>"),
        "{list}"
    );
    let out = w.send("bob@s", &set("<user action='deny'>s</user>"));
    assert_eq!(
        error_of(&out),
        bad_request(Some("Uncategorized bad request"))
    );

    // bob leaves; alice cannot add him back, nor into a new room
    let leave = format!("<iq from='FROM' to='coven@{MUC}' id='l' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='none'>bob@s</user></query></iq>");
    w.send("bob@s", &leave);
    let readd = format!("<iq from='FROM' to='coven@{MUC}' id='r' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>bob@s</user></query></iq>");
    let out = w.send("alice@s", &readd);
    assert_eq!(out.len(), 1);
    assert!(is_result(&out[0]));
    w.room("new", "alice@s", &["bob@s"]);
    assert_eq!(w.affs("new"), vec![("alice@s".into(), Affiliation::Owner)]);
    // members may not invite (all_can_invite is off)
    let out = w.send("kate@s", &readd);
    assert_eq!(error_of(&out), NOT_ALLOWED);
    // unblocked, alice may add bob again
    w.send("bob@s", &set(&format!("<room action='allow'>coven@{MUC}</room><user action='allow'>nobody@s</user><user action='allow'>alice@s</user>")));
    w.room("other", "kate@s", &["bob@s"]);
    assert_eq!(w.affs("other").len(), 2);
    assert!(is_result(w.send("alice@s", &readd).last().unwrap()));
    assert_eq!(w.affs("coven").len(), 3);

    let mut off = World::new(Options {
        blocking: false,
        ..Options::default()
    });
    assert_eq!(error_of(&off.send("bob@s", &get)), bad_request(None));
    assert_eq!(
        error_of(&off.send("bob@s", &set("<user action='deny'>a@s</user>"))),
        bad_request(None)
    );
}

#[test]
fn limits() {
    let mut w = World::new(Options {
        rooms_per_user: Some(1),
        ..Options::default()
    });
    w.room("testroom", "alice@s", &["bob@s", "kate@s"]);
    let create = format!("<iq from='FROM' to='{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'/></iq>");
    assert_eq!(error_of(&w.send("bob@s", &create)), bad_request(None));
    w.room("mikeroom", "mike@s", &[]);
    let add = format!("<iq from='FROM' to='mikeroom@{MUC}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>kate@s</user></query></iq>");
    let out = w.send("mike@s", &add);
    assert_eq!(out.len(), 1);
    assert!(is_result(&out[0]));

    let mut w = World::new(Options {
        max_occupants: Some(1),
        ..Options::default()
    });
    let out = w.send(
        "bob@s",
        &format!("<iq from='FROM' to='{MUC}' id='c' type='set'><query xmlns='urn:xmpp:muclight:0#create'><occupants><user affiliation='member'>alice@s</user></occupants></query></iq>"),
    );
    assert_eq!(error_of(&out), bad_request(Some("max_occupants_reached")));
    w.room("r", "alice@s", &[]);
    let add = format!("<iq from='FROM' to='r@{MUC}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'><user affiliation='member'>mike@s</user></query></iq>");
    assert_eq!(error_of(&w.send("alice@s", &add)), bad_request(None));
}

#[test]
fn disco() {
    let mut w = World::new(Options {
        rooms_per_page: Some(1),
        extra_features: vec!["urn:xmpp:mam:2".into(), "urn:xmpp:fulltext:0".into()],
        ..Options::default()
    });
    let out = w.send("alice@s", &format!("<iq from='FROM' to='{MUC}' id='i' type='get'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"));
    assert_eq!(
        direct(&out),
        format!("<iq from='{MUC}' id='i' to='alice@s/res' type='result'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='conference' name='MUC Light' type='text'/><feature var='urn:xmpp:fulltext:0'/><feature var='urn:xmpp:mam:2'/><feature var='urn:xmpp:muclight:0'/></query></iq>")
    );
    let items = |rsm: &str| {
        format!("<iq from='FROM' to='{MUC}' id='d' type='get'><query xmlns='http://jabber.org/protocol/disco#items'>{rsm}</query></iq>")
    };
    assert_eq!(
        direct(&w.send("alice@s", &items(""))),
        format!("<iq from='{MUC}' id='d' to='alice@s/res' type='result'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>")
    );
    w.room("testroom", "alice@s", &["bob@s"]);
    w.room("testroom2", "alice@s", &[]);
    w.room("kroom", "kate@s", &[]);
    let v1 = w.version("testroom");
    assert_eq!(
        direct(&w.send("alice@s", &items(""))),
        format!("<iq from='{MUC}' id='d' to='alice@s/res' type='result'><query xmlns='http://jabber.org/protocol/disco#items'><set xmlns='http://jabber.org/protocol/rsm'><first index='0'>testroom@{MUC}</first><last>testroom@{MUC}</last><count>2</count></set><item jid='testroom@{MUC}' name='Untitled' version='{v1}'/></query></iq>")
    );
    let rsm = |x: &str| format!("<set xmlns='http://jabber.org/protocol/rsm'>{x}</set>");
    let d = direct(&w.send("alice@s", &items(&rsm("<max>10</max><before/>"))));
    assert!(d.contains(&format!("<item jid='testroom2@{MUC}'")), "{d}");
    assert!(!d.contains(&format!("<item jid='testroom@{MUC}'")), "{d}");
    let d = direct(&w.send(
        "alice@s",
        &items(&rsm(&format!("<after>testroom@{MUC}</after>"))),
    ));
    assert!(
        d.contains(&format!("<first index='1'>testroom2@{MUC}</first>")),
        "{d}"
    );
    let out = w.send(
        "alice@s",
        &items(&rsm(&format!("<max>10</max><after>oops@{MUC}</after>"))),
    );
    assert_eq!(error_of(&out), NOT_FOUND);
    let d = direct(&w.send("alice@s", &items(&rsm("<max>0</max>"))));
    assert!(
        d.contains("<set xmlns='http://jabber.org/protocol/rsm'><count>2</count></set></query>"),
        "{d}"
    );
    let out = w.send("alice@s", &items(&rsm("<index>5</index>")));
    assert_eq!(error_of(&out), NOT_FOUND);
}

#[test]
fn storage_errors_become_internal_server_error() {
    struct Broken;
    impl RoomStore for Broken {
        fn room(&mut self, _: &BareJid) -> Result<Option<Room>, StoreError> {
            Err("disk on fire".into())
        }
        fn create_room(&mut self, _: &BareJid, _: &Room) -> Result<bool, StoreError> {
            Err("disk on fire".into())
        }
        fn set_config(
            &mut self,
            _: &BareJid,
            _: &[(String, String)],
            _: &str,
        ) -> Result<(), StoreError> {
            Err("disk on fire".into())
        }
        fn set_affiliations(
            &mut self,
            _: &BareJid,
            _: &[(BareJid, Affiliation)],
            _: &str,
            _: &[BareJid],
            _: &[BareJid],
        ) -> Result<(), StoreError> {
            Err("disk on fire".into())
        }
        fn destroy_room(&mut self, _: &BareJid) -> Result<(), StoreError> {
            Err("disk on fire".into())
        }
        fn user_rooms(&mut self, _: &BareJid) -> Result<Vec<BareJid>, StoreError> {
            Err("disk on fire".into())
        }
        fn blocking(&mut self, _: &BareJid) -> Result<Vec<BlockItem>, StoreError> {
            Err("disk on fire".into())
        }
        fn set_blocking(&mut self, _: &BareJid, _: &[BlockChange]) -> Result<(), StoreError> {
            Err("disk on fire".into())
        }
    }
    let svc = service(Options::default());
    let from = Jid::new("a@s/r").unwrap();
    let el = Element::parse(
        format!(
            "<message from='a@s/r' to='r@{MUC}' id='x' type='groupchat'><body>x</body></message>"
        )
        .as_bytes(),
    )
    .unwrap();
    let err = svc.handle(&mut Broken, &from, &el).unwrap_err();
    assert_eq!(err.source.to_string(), "disk on fire");
    let Some(Output::Direct { stanza, .. }) = err.reply.as_deref() else {
        panic!()
    };
    assert!(xml(stanza).contains("<internal-server-error"));
}

#[test]
fn custom_config_schema() {
    let field = |f: &str, v: &str| SchemaField {
        field: f.into(),
        default: ConfigValue::String(v.into()),
        internal_key: f.into(),
    };
    let schema = ConfigSchema::new(vec![
        field("music", "builtin:screams"),
        field("background", "builtin:hell"),
    ])
    .unwrap();
    let mut w = World::new(Options {
        config_schema: schema,
        ..Options::default()
    });
    w.room("testroom", "alice@s", &["bob@s"]);
    let v = w.version("testroom");
    let out = w.send("bob@s", &format!("<iq from='FROM' to='testroom@{MUC}' id='g' type='get'><query xmlns='urn:xmpp:muclight:0#configuration'/></iq>"));
    assert_eq!(
        direct(&out),
        format!("<iq from='testroom@{MUC}' id='g' to='bob@s/res' type='result'><query xmlns='urn:xmpp:muclight:0#configuration'><version>{v}</version><music>builtin:screams</music><background>builtin:hell</background></query></iq>")
    );
    let set = |body: &str| {
        format!("<iq from='FROM' to='testroom@{MUC}' id='s' type='set'><query xmlns='urn:xmpp:muclight:0#configuration'>{body}</query></iq>")
    };
    assert_eq!(
        error_of(&w.send("alice@s", &set("<roomname>The Coven</roomname>"))),
        bad_request(None)
    );
    let out = w.send(
        "alice@s",
        &set("<background>builtin:unicorns</background><music>builtin:rainbow</music>"),
    );
    assert!(broadcasts(&out)[0]
        .1
        .contains("<music>builtin:rainbow</music><background>builtin:unicorns</background>"));
    // no roomname in the schema: disco#items names the room by its node
    let out = w.send("bob@s", &format!("<iq from='FROM' to='{MUC}' id='d' type='get'><query xmlns='http://jabber.org/protocol/disco#items'/></iq>"));
    assert!(direct(&out).contains(&format!(
        "<item jid='testroom@{MUC}' name='testroom' version='"
    )));
}

#[test]
fn explicit_owner_change_and_multiple_owners() {
    let mut w = World::new(Options::default());
    w.room("r", "alice@s", &["bob@s", "kate@s"]);
    let set = |body: &str| {
        format!("<iq from='FROM' to='r@{MUC}' id='a' type='set'><query xmlns='urn:xmpp:muclight:0#affiliations'>{body}</query></iq>")
    };
    let out = w.send("alice@s", &set("<user affiliation='none'>bob@s</user><user affiliation='none'>alice@s</user><user affiliation='owner'>kate@s</user>"));
    assert!(is_result(out.last().unwrap()));
    assert_eq!(w.affs("r"), vec![("kate@s".into(), Affiliation::Owner)]);

    let mut w = World::new(Options {
        allow_multiple_owners: true,
        ..Options::default()
    });
    w.room("r", "alice@s", &["bob@s", "kate@s"]);
    let out = w.send("alice@s", &set("<user affiliation='owner'>bob@s</user>"));
    assert!(
        broadcasts(&out)[0].1.contains("<version>")
            && broadcasts(&out)[0]
                .1
                .ends_with("<user affiliation='owner'>bob@s</user></x><body/></message>")
    );
    assert_eq!(
        w.affs("r"),
        vec![
            ("alice@s".into(), Affiliation::Owner),
            ("bob@s".into(), Affiliation::Owner),
            ("kate@s".into(), Affiliation::Member)
        ]
    );
}
