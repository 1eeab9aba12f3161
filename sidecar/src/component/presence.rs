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
}

impl Resources {
    /// `full` is online.
    pub fn online(&mut self, full: &Jid) {
        if let Some(r) = full.resource() {
            self.map
                .entry(full.to_bare())
                .or_default()
                .insert(r.as_str().to_owned());
        }
    }

    /// `full` went away (a bare JID: all its resources).
    pub fn offline(&mut self, full: &Jid) {
        let bare = full.to_bare();
        match full.resource() {
            None => {
                self.map.remove(&bare);
            }
            Some(r) => {
                if let Some(set) = self.map.get_mut(&bare) {
                    set.remove(r.as_str());
                    if set.is_empty() {
                        self.map.remove(&bare);
                    }
                }
            }
        }
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
    }
}
