//! A differential check for [`RoomStore`] implementations: the same script
//! of stanzas through two services with the same clock, one on the store
//! under test and one on [`MemoryStore`], must give the same outputs and
//! leave the same state. The sidecar runs it against its SQLite and
//! PostgreSQL stores.

use super::{
    user_order, BareJid, Jid, MemoryStore, Options, Output, RoomStore, Service, StoreError,
};
use crate::xml::Element;
use std::time::{Duration, UNIX_EPOCH};

const MUC: &str = "muclight.conformance.test";

/// The script: (sender, stanza), `FROM` replaced by the sender's full JID.
fn script() -> Vec<(&'static str, String)> {
    let iq = |to: &str, ty: &str, ns: &str, body: &str| {
        format!(
            "<iq from='FROM' to='{to}' id='i' type='{ty}'><query xmlns='{ns}'>{body}</query></iq>"
        )
    };
    let room = |r: &str| format!("{r}@{MUC}");
    let create = "urn:xmpp:muclight:0#create";
    let affs = "urn:xmpp:muclight:0#affiliations";
    let config = "urn:xmpp:muclight:0#configuration";
    let blocking = "urn:xmpp:muclight:0#blocking";
    let items = "http://jabber.org/protocol/disco#items";
    vec![
        ("alice@a.test", iq(&room("coven"), "set", create,
            "<configuration><roomname>Coven</roomname></configuration><occupants><user affiliation='member'>bob@a.test</user><user affiliation='member'>kate@b.test</user></occupants>")),
        ("alice@a.test", iq(&room("coven"), "set", create, "")),
        ("bob@a.test", iq(MUC, "set", create, "<occupants><user affiliation='member'>alice@a.test</user></occupants>")),
        ("kate@b.test", iq(MUC, "set", blocking, "<user action='deny'>alice@a.test</user><room action='deny'>other@muclight.conformance.test</room>")),
        ("kate@b.test", iq(MUC, "get", blocking, "")),
        ("alice@a.test", iq(&room("coven"), "set", config, "<subject>brew</subject><roomname>The Coven</roomname>")),
        ("kate@b.test", iq(&room("coven"), "set", config, "<roomname>mine</roomname>")),
        ("kate@b.test", iq(&room("coven"), "set", config, "<subject>mine</subject>")),
        ("bob@a.test", iq(&room("coven"), "get", config, "<version>old</version>")),
        ("kate@b.test", format!("<message from='FROM' to='{}' id='m1' type='groupchat'><body>hello</body></message>", room("coven"))),
        ("mike@b.test", format!("<message from='FROM' to='{}' id='m2' type='groupchat'><body>intruder</body></message>", room("coven"))),
        ("alice@a.test", iq(&room("coven"), "set", affs,
            "<user affiliation='none'>kate@b.test</user><user affiliation='owner'>bob@a.test</user><user affiliation='member'>mike@b.test</user>")),
        ("bob@a.test", iq(&room("coven"), "set", affs, "<user affiliation='member'>kate@b.test</user>")),
        ("alice@a.test", iq(&room("other"), "set", create, "<occupants><user affiliation='member'>kate@b.test</user><user affiliation='member'>mike@b.test</user></occupants>")),
        ("mike@b.test", iq(&room("coven"), "get", "urn:xmpp:muclight:0#info", "")),
        ("mike@b.test", iq(MUC, "get", items, "")),
        ("mike@b.test", iq(MUC, "get", items, "<set xmlns='http://jabber.org/protocol/rsm'><max>1</max></set>")),
        ("kate@b.test", iq(MUC, "set", blocking, "<user action='allow'>alice@a.test</user>")),
        ("mike@b.test", iq(&room("other"), "set", affs, "<user affiliation='none'>mike@b.test</user>")),
        ("alice@a.test", iq(&room("other"), "set", affs, "<user affiliation='none'>alice@a.test</user>")),
        ("bob@a.test", iq(&room("coven"), "set", "urn:xmpp:muclight:0#destroy", "")),
    ]
}

fn service() -> Service {
    Service::new(MUC, Options::default())
        .expect("a domain")
        .with_clock(|| UNIX_EPOCH + Duration::from_secs(1_700_000_000))
}

fn state<S: RoomStore + ?Sized>(store: &mut S) -> Result<String, StoreError> {
    let users = ["alice@a.test", "bob@a.test", "kate@b.test", "mike@b.test"];
    let mut out = String::new();
    for u in users {
        let u = BareJid::new(u)?;
        let mut rooms = store.user_rooms(&u)?;
        rooms.sort_by(user_order);
        let mut blocking = store.blocking(&u)?;
        blocking.sort();
        out.push_str(&format!("{u}: rooms {rooms:?} blocking {blocking:?}\n"));
        for r in rooms {
            let mut room = store.room(&r)?;
            if let Some(room) = room.as_mut() {
                room.affiliations.sort_by(|a, b| user_order(&a.0, &b.0));
            }
            out.push_str(&format!("  {r}: {room:?}\n"));
        }
    }
    Ok(out)
}

/// Runs the script against `store` (which must start empty) and against a
/// [`MemoryStore`]; `Err` describes the first difference (or a storage
/// error). It creates rooms on `muclight.conformance.test` for users on
/// `a.test` and `b.test`.
pub fn check_store<S: RoomStore + ?Sized>(store: &mut S) -> Result<(), String> {
    let (ours, theirs) = (service(), service());
    let mut reference = MemoryStore::new();
    for (step, (sender, xml)) in script().into_iter().enumerate() {
        let from = Jid::new(&format!("{sender}/conformance")).map_err(|e| e.to_string())?;
        let xml = xml.replace("FROM", &from.to_string());
        let stanza = Element::parse(xml.as_bytes()).map_err(|e| e.to_string())?;
        let expected: Vec<Output> = theirs
            .handle(&mut reference, &from, &stanza)
            .map_err(|e| e.to_string())?;
        let got = ours
            .handle(store, &from, &stanza)
            .map_err(|e| format!("step {step}: {e}"))?;
        if got != expected {
            return Err(format!(
                "step {step} ({xml}): outputs differ\n got: {got:?}\n expected: {expected:?}"
            ));
        }
        let (a, b) = (
            state(store).map_err(|e| format!("step {step}: {e}"))?,
            state(&mut reference).map_err(|e| e.to_string())?,
        );
        if a != b {
            return Err(format!(
                "step {step} ({xml}): state differs\n got:\n{a}\n expected:\n{b}"
            ));
        }
    }
    let mike = BareJid::new("mike@b.test").map_err(|e| e.to_string())?;
    let got = ours.remove_user(store, &mike).map_err(|e| e.to_string())?;
    let expected = theirs
        .remove_user(&mut reference, &mike)
        .map_err(|e| e.to_string())?;
    if got != expected {
        return Err(format!(
            "remove_user: outputs differ\n got: {got:?}\n expected: {expected:?}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::muclight::{Affiliation, BlockChange, BlockItem, Room};

    #[test]
    fn memory_store_conforms() {
        check_store(&mut MemoryStore::new()).unwrap();
    }

    /// A store that forgets blocking lists must be caught.
    #[test]
    fn a_wrong_store_is_caught() {
        struct NoBlocking(MemoryStore);
        impl RoomStore for NoBlocking {
            fn room(&mut self, r: &BareJid) -> Result<Option<Room>, StoreError> {
                self.0.room(r)
            }
            fn create_room(&mut self, r: &BareJid, d: &Room) -> Result<bool, StoreError> {
                self.0.create_room(r, d)
            }
            fn set_config(
                &mut self,
                r: &BareJid,
                c: &[(String, String)],
                v: &str,
            ) -> Result<(), StoreError> {
                self.0.set_config(r, c, v)
            }
            fn set_affiliations(
                &mut self,
                r: &BareJid,
                a: &[(BareJid, Affiliation)],
                v: &str,
                j: &[BareJid],
                l: &[BareJid],
            ) -> Result<(), StoreError> {
                self.0.set_affiliations(r, a, v, j, l)
            }
            fn destroy_room(&mut self, r: &BareJid) -> Result<(), StoreError> {
                self.0.destroy_room(r)
            }
            fn user_rooms(&mut self, u: &BareJid) -> Result<Vec<BareJid>, StoreError> {
                self.0.user_rooms(u)
            }
            fn blocking(&mut self, _: &BareJid) -> Result<Vec<BlockItem>, StoreError> {
                Ok(Vec::new())
            }
            fn set_blocking(&mut self, _: &BareJid, _: &[BlockChange]) -> Result<(), StoreError> {
                Ok(())
            }
        }
        let err = check_store(&mut NoBlocking(MemoryStore::new())).unwrap_err();
        assert!(err.contains("differ"), "{err}");
    }
}
