//! Members' online resources.
//!
//! A component cannot send `type='groupchat'` to a bare JID (ejabberd
//! answers `service-unavailable`), so each room stanza goes to every online
//! resource of each recipient. The resources come from:
//! - XEP-0356 privileged presence (`managed_entity`): the server forwards
//!   every available and unavailable presence its users broadcast to the
//!   component (ejabberd's `mod_privilege`, Prosody's `mod_privilege`);
//! - the sender of any stanza that reaches the component (it is online);
//! - and a resource is dropped when the server bounces a stanza to it
//!   (`type='error'` from that full JID) or on unavailable presence.

use std::collections::{BTreeSet, HashMap};

use xmpp_accel_core::muclight::{BareJid, Jid};

/// Online resources per bare JID.
#[derive(Debug, Default)]
pub struct Resources {
    map: HashMap<BareJid, BTreeSet<String>>,
    /// Changes not yet stored: (bare JID, resource, online).
    changes: Vec<(String, String, bool)>,
}

impl Resources {
    /// Resources as stored by an earlier run.
    pub fn load(stored: Vec<(String, String)>) -> Resources {
        let mut r = Resources::default();
        for (u, res) in stored {
            if let Ok(j) = Jid::new(&format!("{u}/{res}")) {
                r.online(&j);
            }
        }
        r.changes.clear();
        r
    }

    /// The changes since the last call, to store.
    pub fn take_changes(&mut self) -> Vec<(String, String, bool)> {
        std::mem::take(&mut self.changes)
    }

    /// `full` is online.
    pub fn online(&mut self, full: &Jid) {
        if let Some(r) = full.resource() {
            let bare = full.to_bare();
            let set = self.map.entry(bare.clone()).or_default();
            if set.insert(r.as_str().to_owned()) {
                self.changes
                    .push((bare.to_string(), r.as_str().to_owned(), true));
            }
        }
    }

    /// `full` went away (a bare JID: all its resources).
    pub fn offline(&mut self, full: &Jid) {
        let bare = full.to_bare();
        match full.resource() {
            None => {
                for r in self.map.remove(&bare).unwrap_or_default() {
                    self.changes.push((bare.to_string(), r, false));
                }
            }
            Some(r) => {
                if let Some(set) = self.map.get_mut(&bare) {
                    if set.remove(r.as_str()) {
                        self.changes
                            .push((bare.to_string(), r.as_str().to_owned(), false));
                    }
                    if set.is_empty() {
                        self.map.remove(&bare);
                    }
                }
            }
        }
    }

    /// A change another instance stored (or this one: then nothing
    /// changes): applied, not recorded as a change to store.
    pub fn remote(&mut self, user: &str, resource: &str, online: bool) {
        let Ok(full) = Jid::new(&format!("{user}/{resource}")) else {
            return;
        };
        let before = self.changes.len();
        if online {
            self.online(&full);
        } else {
            self.offline(&full);
        }
        self.changes.truncate(before);
    }

    /// The online resources of `user`.
    pub fn of(&self, user: &BareJid) -> impl Iterator<Item = &str> {
        self.map
            .get(user)
            .into_iter()
            .flat_map(|s| s.iter().map(String::as_str))
    }

    /// Users with at least one resource online.
    pub fn users(&self) -> usize {
        self.map.len()
    }

    /// A presence stanza (`type` absent or `unavailable`) from `from`.
    pub fn presence(&mut self, from: &Jid, ty: Option<&str>) {
        match ty {
            None | Some("available") => self.online(from),
            Some("unavailable") => self.offline(from),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn online_offline() {
        let mut r = Resources::default();
        let a1 = Jid::new("alice@a.test/one").unwrap();
        let a2 = Jid::new("alice@a.test/two").unwrap();
        let alice = a1.to_bare();
        r.presence(&a1, None);
        r.presence(&a2, None);
        r.presence(&a2, Some("subscribe"));
        assert_eq!(r.of(&alice).collect::<Vec<_>>(), ["one", "two"]);
        r.presence(&a1, Some("unavailable"));
        assert_eq!(r.of(&alice).collect::<Vec<_>>(), ["two"]);
        r.offline(&Jid::new("alice@a.test").unwrap());
        assert_eq!(r.of(&alice).count(), 0);
        assert_eq!(r.users(), 0);
        let ch = r.take_changes();
        assert_eq!(ch.len(), 4, "{ch:?}");
        assert!(r.take_changes().is_empty());
        let r = Resources::load(vec![("bob@b.test".into(), "pc".into())]);
        let bob = BareJid::new("bob@b.test").unwrap();
        assert_eq!(r.of(&bob).collect::<Vec<_>>(), ["pc"]);
    }
}
