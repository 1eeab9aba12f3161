//! Affiliations and how a change request applies to a room's occupants
//! (MongooseIM's `mod_muc_light_utils:change_aff_users/3`).

use jid::BareJid;
use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};

/// A MUC Light affiliation (`affiliation='owner|member|none'`); `None` is
/// only used in requests and notifications, to remove a user.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Affiliation {
    /// `owner`: may do everything in the room.
    Owner,
    /// `member`: may send messages, and what the options allow.
    Member,
    /// `none`: not in the room.
    None,
}

impl Affiliation {
    /// The attribute value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Member => "member",
            Affiliation::None => "none",
        }
    }

    /// Parses an attribute value.
    pub fn parse(s: &str) -> Option<Affiliation> {
        match s {
            "owner" => Some(Affiliation::Owner),
            "member" => Some(Affiliation::Member),
            "none" => Some(Affiliation::None),
            _ => None,
        }
    }
}

/// The order MongooseIM keeps users in (`{LUser, LServer}` tuples): node,
/// then domain. Occupant lists, notifications and disco#items follow it.
pub fn user_order(a: &BareJid, b: &BareJid) -> Ordering {
    fn key(j: &BareJid) -> (&str, &str) {
        (
            j.node().map(|n| n.as_str()).unwrap_or(""),
            j.domain().as_str(),
        )
    }
    key(a).cmp(&key(b))
}

/// The owner rules of a change ([`super::Options`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OwnerRules {
    /// [`super::Options::allow_multiple_owners`]
    pub allow_multiple_owners: bool,
    /// [`super::Options::promote_on_last_owner_leave`]
    pub promote_on_last_owner_leave: bool,
}

/// The result of a valid change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AffChange {
    /// The occupants after the change, in [`user_order`].
    pub new: Vec<(BareJid, Affiliation)>,
    /// Every affiliation that changed, including the ones the rules implied
    /// (an old owner demoted, a member promoted), in [`user_order`].
    pub changed: Vec<(BareJid, Affiliation)>,
    /// Users who were not occupants before (in [`user_order`]).
    pub joined: Vec<BareJid>,
    /// Users who are occupants no more (in [`user_order`]).
    pub left: Vec<BareJid>,
}

/// Applies `changes` to `current` (occupants, no `None`), with MongooseIM's
/// rules and error texts (all `bad-request`):
/// - a user may appear once ("Cannot change affiliation for the same user
///   twice in the same request"), and every change must change something
///   ("Meaningless change": removing a non-occupant, or the same affiliation);
/// - a room without an owner cannot get one ("Ownerless room");
/// - with one owner allowed, making someone owner demotes the old owner
///   ("Failed to demote old owner" when that is ambiguous);
/// - when no owner is left, an unchanged member is promoted, else a member
///   who just joined, else the demoted owner ("Cannot remove the last owner"
///   when promotion is disabled).
pub fn apply_changes(
    current: &[(BareJid, Affiliation)],
    changes: &[(BareJid, Affiliation)],
    rules: OwnerRules,
) -> Result<AffChange, &'static str> {
    let had_owner = current.iter().any(|(_, a)| *a == Affiliation::Owner);
    let wants_owner = changes.iter().any(|(_, a)| *a == Affiliation::Owner);
    if !had_owner && wants_owner {
        return Err("Ownerless room");
    }
    let mut sorted: Vec<&(BareJid, Affiliation)> = changes.iter().collect();
    sorted.sort_by(|a, b| user_order(&a.0, &b.0).then(a.1.cmp(&b.1)));
    let mut map: BTreeMap<BareJid, Affiliation> = current.iter().cloned().collect();
    let mut changed: Vec<(BareJid, Affiliation)> = Vec::new();
    let mut joined: Vec<BareJid> = Vec::new();
    let mut left: Vec<BareJid> = Vec::new();
    for (i, (user, aff)) in sorted.iter().map(|c| (&c.0, c.1)).enumerate() {
        if sorted.get(i + 1).is_some_and(|next| next.0 == *user) {
            return Err("Cannot change affiliation for the same user twice in the same request");
        }
        let old = map.get(user).copied().unwrap_or(Affiliation::None);
        if old == aff {
            return Err("Meaningless change");
        }
        if aff == Affiliation::None {
            map.remove(user);
            left.push(user.clone());
        } else {
            if old == Affiliation::None {
                joined.push(user.clone());
            }
            map.insert(user.clone(), aff);
        }
        changed.push((user.clone(), aff));
    }
    let mut new: Vec<(BareJid, Affiliation)> = map.into_iter().collect();
    new.sort_by(|a, b| user_order(&a.0, &b.0));
    let mut out = AffChange {
        new,
        changed,
        joined,
        left,
    };
    if had_owner || wants_owner {
        if !rules.allow_multiple_owners {
            demote_old_owner(&mut out)?;
        }
        select_new_owner(&mut out, rules.promote_on_last_owner_leave)?;
    }
    out.changed.sort_by(|a, b| user_order(&a.0, &b.0));
    Ok(out)
}

fn demote_old_owner(c: &mut AffChange) -> Result<(), &'static str> {
    let owners: Vec<BareJid> = c
        .new
        .iter()
        .filter(|(_, a)| *a == Affiliation::Owner)
        .map(|(u, _)| u.clone())
        .collect();
    if owners.len() <= 1 {
        return Ok(());
    }
    let promoted = |u: &BareJid| {
        c.changed
            .iter()
            .any(|(cu, a)| cu == u && *a == Affiliation::Owner)
    };
    let old: Vec<&BareJid> = owners.iter().filter(|u| !promoted(u)).collect();
    match (owners.len(), old.as_slice()) {
        (2, [old_owner]) => {
            let old_owner = (*old_owner).clone();
            if let Some(e) = c.new.iter_mut().find(|(u, _)| *u == old_owner) {
                e.1 = Affiliation::Member;
            }
            c.changed.push((old_owner, Affiliation::Member));
            Ok(())
        }
        _ => Err("Failed to demote old owner"),
    }
}

fn select_new_owner(c: &mut AffChange, can_promote: bool) -> Result<(), &'static str> {
    if c.new.iter().any(|(_, a)| *a == Affiliation::Owner) {
        return Ok(());
    }
    if !can_promote {
        return Err("Cannot remove the last owner");
    }
    let to_member: BTreeSet<&BareJid> = c
        .changed
        .iter()
        .filter(|(_, a)| *a == Affiliation::Member)
        .map(|(u, _)| u)
        .collect();
    // 1) a member whose affiliation did not change
    let old_member = c
        .new
        .iter()
        .find(|(u, a)| *a == Affiliation::Member && !to_member.contains(u))
        .map(|(u, _)| u.clone());
    if let Some(u) = old_member {
        set_aff(&mut c.new, &u, Affiliation::Owner);
        c.changed.push((u, Affiliation::Owner));
        return Ok(());
    }
    // 2) a member who just joined
    let joined_member = c
        .joined
        .iter()
        .find(|u| {
            c.new
                .iter()
                .any(|(nu, a)| nu == *u && *a == Affiliation::Member)
        })
        .cloned();
    if let Some(u) = joined_member {
        set_aff(&mut c.new, &u, Affiliation::Owner);
        set_aff(&mut c.changed, &u, Affiliation::Owner);
        return Ok(());
    }
    // 3) an owner this request demoted: they stay owner, so no change for them
    let demoted = c
        .changed
        .iter()
        .find(|(u, a)| *a == Affiliation::Member && !c.joined.contains(u))
        .map(|(u, _)| u.clone());
    if let Some(u) = demoted {
        set_aff(&mut c.new, &u, Affiliation::Owner);
        c.changed.retain(|(cu, _)| *cu != u);
    }
    Ok(())
}

fn set_aff(list: &mut [(BareJid, Affiliation)], user: &BareJid, aff: Affiliation) {
    if let Some(e) = list.iter_mut().find(|(u, _)| u == user) {
        e.1 = aff;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use Affiliation::*;

    fn j(s: &str) -> BareJid {
        BareJid::new(s).unwrap()
    }

    fn list(v: &[(&str, Affiliation)]) -> Vec<(BareJid, Affiliation)> {
        v.iter().map(|(u, a)| (j(u), *a)).collect()
    }

    const ONE: OwnerRules = OwnerRules {
        allow_multiple_owners: false,
        promote_on_last_owner_leave: true,
    };

    fn room() -> Vec<(BareJid, Affiliation)> {
        list(&[("alice@x", Owner), ("bob@x", Member), ("kate@x", Member)])
    }

    #[test]
    fn handover_demotes_old_owner() {
        let c = apply_changes(&room(), &list(&[("kate@x", Owner)]), ONE).unwrap();
        assert_eq!(
            c.new,
            list(&[("alice@x", Member), ("bob@x", Member), ("kate@x", Owner)])
        );
        assert_eq!(c.changed, list(&[("alice@x", Member), ("kate@x", Owner)]));
        let multi = OwnerRules {
            allow_multiple_owners: true,
            ..ONE
        };
        let c = apply_changes(&room(), &list(&[("bob@x", Owner)]), multi).unwrap();
        assert_eq!(c.changed, list(&[("bob@x", Owner)]));
    }

    #[test]
    fn implicit_owner_change_promotes_unchanged_member() {
        let c =
            apply_changes(&room(), &list(&[("bob@x", None), ("alice@x", Member)]), ONE).unwrap();
        assert_eq!(c.new, list(&[("alice@x", Member), ("kate@x", Owner)]));
        assert_eq!(
            c.changed,
            list(&[("alice@x", Member), ("bob@x", None), ("kate@x", Owner)])
        );
        assert_eq!(c.left, vec![j("bob@x")]);
        let no = OwnerRules {
            promote_on_last_owner_leave: false,
            ..ONE
        };
        assert_eq!(
            apply_changes(&room(), &list(&[("bob@x", None), ("alice@x", Member)]), no),
            Err("Cannot remove the last owner")
        );
    }

    #[test]
    fn edge_case_demoted_owner_stays_owner() {
        let c = apply_changes(
            &room(),
            &list(&[("alice@x", Member), ("bob@x", None), ("kate@x", None)]),
            ONE,
        )
        .unwrap();
        assert_eq!(c.new, list(&[("alice@x", Owner)]));
        assert_eq!(c.changed, list(&[("bob@x", None), ("kate@x", None)]));
    }

    #[test]
    fn joined_member_promoted_when_no_old_member() {
        let cur = list(&[("alice@x", Owner)]);
        let c = apply_changes(&cur, &list(&[("alice@x", None), ("zed@x", Member)]), ONE).unwrap();
        assert_eq!(c.new, list(&[("zed@x", Owner)]));
        assert_eq!(c.changed, list(&[("alice@x", None), ("zed@x", Owner)]));
        assert_eq!(c.joined, vec![j("zed@x")]);
    }

    #[test]
    fn errors() {
        assert_eq!(
            apply_changes(&room(), &list(&[("bob@x", Member)]), ONE),
            Err("Meaningless change")
        );
        assert_eq!(
            apply_changes(&room(), &list(&[("zed@x", None)]), ONE),
            Err("Meaningless change")
        );
        assert_eq!(
            apply_changes(&room(), &list(&[("zed@x", Member), ("zed@x", None)]), ONE),
            Err("Cannot change affiliation for the same user twice in the same request")
        );
        let equal = list(&[("alice@x", Member)]);
        assert_eq!(
            apply_changes(&equal, &list(&[("bob@x", Owner)]), ONE),
            Err("Ownerless room")
        );
        assert_eq!(
            apply_changes(&room(), &list(&[("bob@x", Owner), ("kate@x", Owner)]), ONE),
            Err("Failed to demote old owner")
        );
    }

    #[test]
    fn order_is_node_then_domain() {
        // a@y sorts before a-b@x by (node, domain), though not as strings
        let mut v = vec![j("a-b@x"), j("a@y")];
        v.sort_by(user_order);
        assert_eq!(v, vec![j("a@y"), j("a-b@x")]);
    }
}
