//! The MUC Light service: one incoming stanza in, the stanzas to send out.

use super::affs::{apply_changes, user_order, AffChange, Affiliation, OwnerRules};
use super::codec::{self, decode_iq, el, envelope, kv, node, Request, RsmIn, RsmOut};
use super::config::Options;
use super::store::{BlockChange, BlockItem, BlockKind, Room, RoomStore, StoreError};
use super::{ns, StanzaError};
use crate::fanout::Template;
use crate::xml::{Element, Node};
use jid::{BareJid, Jid};
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// One stanza to send.
#[derive(Clone, Debug, PartialEq)]
pub enum Output {
    /// A stanza for one entity (IQ results and errors, message errors),
    /// `to` set to the sender's full JID (also in `to`).
    Direct {
        /// The addressee (the sender of the request).
        to: Jid,
        /// The stanza, with `from`, `to`, `id` and `type`.
        stanza: Element,
    },
    /// A room stanza for room members.
    Broadcast(Broadcast),
    /// A stanza for the room archive.
    Archive(ArchiveEntry),
    /// The room is gone (destroyed, or its last occupant left): delete its
    /// archive, as MongooseIM's `forget_room` hook makes `mod_mam_muc` do.
    RoomDestroyed(BareJid),
}

/// A room stanza (`<message type='groupchat'/>`, `from` the room or the
/// room's JID with the sender's bare JID as resource) without `to`, and the
/// members that get it. Deliver one copy to each online resource of each
/// recipient (a server bounces groupchat sent to a bare JID); the copies
/// differ only in `to` ([`Broadcast::template`]).
#[derive(Clone, Debug, PartialEq)]
pub struct Broadcast {
    /// The room's bare JID.
    pub room: BareJid,
    /// The stanza, `to` left out.
    pub stanza: Element,
    /// Bare JIDs of the recipients, in [`super::user_order`].
    pub recipients: Vec<BareJid>,
    /// This stanza is also the one archived by the [`Output::Archive`] just
    /// before it (room messages, configuration changes, and the occupant
    /// change notification of staying members), so MongooseIM's MAM would
    /// give it the archive's XEP-0359 `<stanza-id/>`: add it before rendering.
    pub archived: bool,
}

impl Broadcast {
    /// The stanza serialised once (exml's compact layout), with a `to` slot.
    pub fn template(&self) -> Template {
        Template::new(&self.stanza.walk(), None)
    }

    /// The bytes of the copy for `to` (a full or bare JID).
    pub fn render(&self, to: &str) -> Vec<u8> {
        let mut out = Vec::new();
        self.template().render(to.as_bytes(), &mut out);
        out
    }
}

/// A stanza for the room archive (XEP-0313 over the room): `from` is the
/// room's JID with the sender's bare JID as resource for occupants'
/// messages, the room's bare JID for notifications; no `to`.
#[derive(Clone, Debug, PartialEq)]
pub struct ArchiveEntry {
    /// The room's bare JID.
    pub room: BareJid,
    /// The occupant who sent it; `None` for the room's own notifications.
    pub sender: Option<BareJid>,
    /// The stanza as MongooseIM archives it.
    pub stanza: Element,
}

/// Storage failed: nothing of the stanza's outputs should be sent, and a
/// store that is a transaction should be rolled back. `reply` is the
/// `internal-server-error` answer for the sender, when the stanza wants one.
#[derive(Debug, thiserror::Error)]
#[error("MUC Light storage: {source}")]
pub struct HandleError {
    /// The storage error.
    pub source: StoreError,
    /// The error answer to send, if any.
    pub reply: Option<Box<Output>>,
}

/// [`Service::new`] was given something that is not a domain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a component domain: {0:?}")]
pub struct InvalidDomain(pub String);

enum Flow {
    Stanza(StanzaError),
    Store(StoreError),
}

impl From<StanzaError> for Flow {
    fn from(e: StanzaError) -> Self {
        Flow::Stanza(e)
    }
}

impl From<StoreError> for Flow {
    fn from(e: StoreError) -> Self {
        Flow::Store(e)
    }
}

type R<T> = Result<T, Flow>;

/// What one incoming stanza is about.
struct Req<'a> {
    from: &'a Jid,
    sender: BareJid,
    /// The `to` of the stanza, bare (a resource is refused before this).
    to: BareJid,
    stanza: &'a Element,
    id: String,
    out: Vec<Output>,
}

/// The MUC Light service of one component domain.
///
/// Where it differs from MongooseIM (6.x) on purpose:
/// - presences, IQ results and stanzas of type `error` get no answer
///   (MongooseIM answers presences and IQ results with `bad-request`;
///   the extension says presences are ignored, RFC 6120 forbids answering
///   results and errors);
/// - blocking lists and `rooms_per_user` skip only users who would join the
///   room (MongooseIM also skips removing or promoting a user who blocked the
///   requester, so such a user cannot be kicked), for additions by owners and
///   by members alike (MongooseIM does not check additions by members), and
///   `rooms_per_user` counts the added user's rooms (MongooseIM counts the
///   requester's);
/// - the changed items of an occupant notification are in
///   [`super::user_order`] (MongooseIM's order is an artefact of its list
///   handling), and an occupant change that changes nothing (all additions
///   skipped) or empties the room is not archived (MongooseIM archives the
///   latter just after deleting the room's archive);
/// - disco#items with RSM `<before/>` near the start returns the items
///   before the given one only, `<after/>` the last item an empty page;
///   MongooseIM returns a wrong page or crashes there;
/// - blank text between `<user/>` and `<room/>` items of a blocking request
///   is accepted (MongooseIM refuses a pretty-printed blocking request);
/// - versions, generated room names and message ids are MongooseIM's
///   `Mega-Secs-Micro` timestamp with `-N` (a per-service counter) added, so
///   two changes in one microsecond still get distinct versions.
///
/// Not covered: `rooms_in_rosters` (a component cannot edit rosters), MAM
/// queries (the caller answers `urn:xmpp:mam:*` IQs to rooms before calling
/// [`Service::handle`], which gives other namespaces MongooseIM's
/// `feature-not-implemented` "mod_muc_iq returns error"), and XEP-0359
/// `<stanza-id/>` (the caller's archive assigns it; see
/// [`Broadcast::archived`]).
pub struct Service {
    domain: BareJid,
    options: Options,
    clock: Box<dyn Fn() -> SystemTime + Send + Sync>,
    counter: AtomicU64,
}

impl std::fmt::Debug for Service {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Service")
            .field("domain", &self.domain)
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// The service of component domain `domain` (a JID without node and
    /// resource, normalised by the `jid` crate).
    pub fn new(domain: &str, options: Options) -> Result<Self, InvalidDomain> {
        let invalid = || InvalidDomain(domain.to_owned());
        let d = BareJid::new(domain).map_err(|_| invalid())?;
        if d.node().is_some() {
            return Err(invalid());
        }
        Ok(Service {
            domain: d,
            options,
            clock: Box::new(SystemTime::now),
            counter: AtomicU64::new(0),
        })
    }

    /// Replaces the clock used for versions, generated room names and
    /// message ids (tests).
    pub fn with_clock(mut self, clock: impl Fn() -> SystemTime + Send + Sync + 'static) -> Self {
        self.clock = Box::new(clock);
        self
    }

    /// The component domain.
    pub fn domain(&self) -> &BareJid {
        &self.domain
    }

    /// The options it was made with.
    pub fn options(&self) -> &Options {
        &self.options
    }

    /// A string unique to this service: MongooseIM's
    /// `mongoose_bin:gen_from_timestamp/0` (`Mega-Secs-Micro`) and a counter.
    fn unique(&self) -> String {
        let t = (self.clock)()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let secs = t.as_secs();
        format!(
            "{}-{}-{}-{n}",
            secs / 1_000_000,
            secs % 1_000_000,
            t.subsec_micros()
        )
    }

    /// Handles one stanza sent by `from` (its full JID) to this service or
    /// one of its rooms (its `to`). Returns what to send, in order.
    ///
    /// Stanzas whose `to` is missing, is not a JID or is not on the service's
    /// domain are ignored (empty output).
    pub fn handle<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        from: &Jid,
        stanza: &Element,
    ) -> Result<Vec<Output>, HandleError> {
        let ty = stanza.attr("type").unwrap_or("");
        let answerable = match stanza.name.as_str() {
            "message" => ty != "error",
            "iq" => ty != "error" && ty != "result",
            _ => false,
        };
        if !answerable {
            return Ok(Vec::new());
        }
        let Some(to) = stanza.attr("to").and_then(|t| Jid::new(t).ok()) else {
            return Ok(Vec::new());
        };
        if to.domain() != self.domain.domain() {
            return Ok(Vec::new());
        }
        let mut req = Req {
            from,
            sender: from.to_bare(),
            to: to.to_bare(),
            stanza,
            id: stanza.attr("id").unwrap_or("").to_owned(),
            out: Vec::new(),
        };
        let result = if to.resource().is_some() {
            Err(StanzaError::bad_request_text("Resource expected to be empty").into())
        } else if stanza.name == "message" {
            self.message(store, &mut req, ty)
        } else {
            self.iq(store, &mut req, ty)
        };
        match result {
            Ok(()) => Ok(req.out),
            Err(Flow::Stanza(e)) => Ok(vec![error_reply(from, stanza, &e)]),
            Err(Flow::Store(source)) => Err(HandleError {
                source,
                reply: Some(Box::new(error_reply(
                    from,
                    stanza,
                    &StanzaError::InternalServerError,
                ))),
            }),
        }
    }

    // ---- messages ----

    fn message<S: RoomStore + ?Sized>(&self, store: &mut S, req: &mut Req, ty: &str) -> R<()> {
        if ty != "groupchat" || req.to.node().is_none() {
            return Err(StanzaError::bad_request().into());
        }
        let mut affs = match store.room_affiliations(&req.to)? {
            Some(a) if a.iter().any(|(u, _)| *u == req.sender) => a,
            _ => return Err(StanzaError::ItemNotFound.into()),
        };
        affs.sort_by(|a, b| user_order(&a.0, &b.0));
        let id = match req.stanza.attr("id") {
            Some(id) => id.to_owned(),
            None => self.unique(),
        };
        let from = format!("{}/{}", req.to, req.sender);
        let msg = el(
            "message",
            &[("from", &from), ("id", &id), ("type", "groupchat")],
            req.stanza.children.clone(),
        );
        req.out.push(Output::Archive(ArchiveEntry {
            room: req.to.clone(),
            sender: Some(req.sender.clone()),
            stanza: msg.clone(),
        }));
        req.out.push(Output::Broadcast(Broadcast {
            room: req.to.clone(),
            stanza: msg,
            recipients: affs.into_iter().map(|(u, _)| u).collect(),
            archived: true,
        }));
        Ok(())
    }

    /// The room of `req.to`, if the sender occupies it (`item-not-found`
    /// for a missing room and for non-occupants alike).
    fn member_room<S: RoomStore + ?Sized>(&self, store: &mut S, req: &Req) -> R<Room> {
        match store.room(&req.to)? {
            Some(mut room) if room.affiliation(&req.sender).is_some() => {
                room.affiliations.sort_by(|a, b| user_order(&a.0, &b.0));
                Ok(room)
            }
            _ => Err(StanzaError::ItemNotFound.into()),
        }
    }

    // ---- IQs ----

    fn iq<S: RoomStore + ?Sized>(&self, store: &mut S, req: &mut Req, ty: &str) -> R<()> {
        let set = match ty {
            "get" => false,
            "set" => true,
            _ => return Err(StanzaError::bad_request_text("Unknown IQ format").into()),
        };
        match decode_iq(req.stanza, set)? {
            Request::Create { raw, occupants } => self.create(store, req, raw, occupants),
            Request::DiscoInfo => {
                self.disco_info(req);
                Ok(())
            }
            Request::DiscoItems { rsm } => self.disco_items(store, req, rsm),
            Request::BlockingGet | Request::BlockingSet { .. } if !self.options.blocking => {
                Err(StanzaError::BadRequest(None).into())
            }
            Request::BlockingGet => {
                let items = store.blocking(&req.sender)?;
                let q = items.iter().map(codec::block_item).collect();
                self.result(req, Some((ns::BLOCKING, q)));
                Ok(())
            }
            Request::BlockingSet { changes } => self.set_blocking(store, req, changes),
            Request::Other => {
                Err(StanzaError::FeatureNotImplemented("mod_muc_iq returns error".into()).into())
            }
            _ if req.to.node().is_none() => Err(StanzaError::bad_request().into()),
            room_req => {
                let room = self.member_room(store, req)?;
                self.room_request(store, req, room, room_req)
            }
        }
    }

    fn room_request<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        room: Room,
        r: Request,
    ) -> R<()> {
        let aff = room.affiliation(&req.sender).unwrap_or(Affiliation::None);
        match r {
            Request::ConfigGet { version } => {
                let q = (version != room.version).then(|| {
                    let mut q = vec![kv("version", &room.version)];
                    q.extend(self.config_elements(&room));
                    (ns::CONFIGURATION, q)
                });
                self.result(req, q);
            }
            Request::AffGet { version } => {
                let q = (version != room.version).then(|| {
                    let mut q = vec![kv("version", &room.version)];
                    q.extend(room.affiliations.iter().map(|(u, a)| codec::user(u, *a)));
                    (ns::AFFILIATIONS, q)
                });
                self.result(req, q);
            }
            Request::InfoGet { version } => {
                let q = (version != room.version).then(|| {
                    let users = room.affiliations.iter().map(|(u, a)| codec::user(u, *a));
                    let q = vec![
                        kv("version", &room.version),
                        node(el("configuration", &[], self.config_elements(&room))),
                        node(el("occupants", &[], users.collect())),
                    ];
                    (ns::INFO, q)
                });
                self.result(req, q);
            }
            Request::ConfigSet { raw } => self.set_config(store, req, room, aff, raw)?,
            Request::AffSet { changes } => self.set_affiliations(store, req, room, aff, changes)?,
            Request::Destroy => {
                if aff != Affiliation::Owner {
                    return Err(StanzaError::NotAllowed.into());
                }
                store.destroy_room(&req.to)?;
                for (u, _) in &room.affiliations {
                    let mut children = vec![node(el("x", &[("xmlns", ns::DESTROY)], vec![]))];
                    children.extend(envelope(
                        ns::AFFILIATIONS,
                        vec![codec::user(u, Affiliation::None)],
                    ));
                    self.notify(req, children, vec![u.clone()], false);
                }
                req.out.push(Output::RoomDestroyed(req.to.clone()));
                self.result(req, None);
            }
            _ => return Err(StanzaError::bad_request().into()),
        }
        Ok(())
    }

    /// The room's configuration as `<field>value</field>`, in MongooseIM's
    /// order (schema fields by name, descending).
    fn config_elements(&self, room: &Room) -> Vec<Node> {
        let mut fields = self.options.config_schema.merge(&room.config, &[]);
        fields.reverse();
        fields.iter().map(|(k, v)| kv(k, v)).collect()
    }

    /// A room option that the room's configuration may override (a schema
    /// field with that internal key).
    fn room_flag(&self, room: &Room, key: &str, default: bool) -> bool {
        self.options
            .config_schema
            .by_internal_key(key)
            .and_then(|f| room.config.iter().find(|(k, _)| *k == f.field))
            .map(|(_, v)| v == "true")
            .unwrap_or(default)
    }

    fn set_config<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        room: Room,
        aff: Affiliation,
        raw: Vec<(String, String)>,
    ) -> R<()> {
        let subject_only = matches!(raw.as_slice(), [(k, _)] if k == "subject");
        let all_can = self.room_flag(&room, "all_can_configure", self.options.all_can_configure);
        if aff != Affiliation::Owner && !all_can && !subject_only {
            return Err(StanzaError::NotAllowed.into());
        }
        let changes = self
            .options
            .config_schema
            .check(&raw)
            .map_err(|_| StanzaError::BadRequest(None))?;
        let config = self.options.config_schema.merge(&room.config, &changes);
        let version = self.unique();
        store.set_config(&req.to, &config, &version)?;
        let mut x = vec![kv("prev-version", &room.version), kv("version", &version)];
        x.extend(raw.iter().map(|(k, v)| kv(k, v)));
        let children = envelope(ns::CONFIGURATION, x);
        self.archive(req, &children);
        let all = room.affiliations.iter().map(|(u, _)| u.clone()).collect();
        self.notify(req, children, all, true);
        self.result(req, None);
        Ok(())
    }

    /// Drops the additions that the added user's blocking list or
    /// `rooms_per_user` forbid (MongooseIM's `filter_out_prevented/4`).
    fn filter_prevented<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        requester: &BareJid,
        room: Option<&BareJid>,
        current: &[(BareJid, Affiliation)],
        changes: Vec<(BareJid, Affiliation)>,
    ) -> R<Vec<(BareJid, Affiliation)>> {
        let mut query = vec![BlockItem {
            kind: BlockKind::User,
            jid: requester.clone(),
        }];
        if let Some(r) = room {
            query.push(BlockItem {
                kind: BlockKind::Room,
                jid: r.clone(),
            });
        }
        let mut out = Vec::with_capacity(changes.len());
        for (user, aff) in changes {
            let joins = aff != Affiliation::None
                && user != *requester
                && !current.iter().any(|(u, _)| *u == user);
            if joins {
                if self.options.blocking && store.is_blocked(&user, &query)? {
                    continue;
                }
                if let Some(limit) = self.options.rooms_per_user {
                    if store.user_room_count(&user)? >= limit {
                        continue;
                    }
                }
            }
            out.push((user, aff));
        }
        Ok(out)
    }

    fn owner_rules(&self) -> OwnerRules {
        OwnerRules {
            allow_multiple_owners: self.options.allow_multiple_owners,
            promote_on_last_owner_leave: self.options.promote_on_last_owner_leave,
        }
    }

    fn set_affiliations<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        room: Room,
        aff: Affiliation,
        changes: Vec<(BareJid, Affiliation)>,
    ) -> R<()> {
        if aff != Affiliation::Owner {
            // a member may leave, and add members when the room allows it
            let all_can = self.room_flag(&room, "all_can_invite", self.options.all_can_invite);
            let ok = changes.iter().all(|(u, a)| match a {
                Affiliation::None => *u == req.sender,
                Affiliation::Member => all_can && room.affiliation(u) != Some(Affiliation::Owner),
                Affiliation::Owner => false,
            });
            if !ok {
                return Err(StanzaError::NotAllowed.into());
            }
        }
        let room_jid = req.to.clone();
        let changes = self.filter_prevented(
            store,
            &req.sender,
            Some(&room_jid),
            &room.affiliations,
            changes,
        )?;
        if changes.is_empty() {
            self.result(req, None);
            return Ok(());
        }
        let c = apply_changes(&room.affiliations, &changes, self.owner_rules())
            .map_err(StanzaError::bad_request_text)?;
        if let Some(max) = self.options.max_occupants {
            if c.new.len() > max {
                return Err(StanzaError::BadRequest(None).into());
            }
        }
        self.commit_affs(store, &req.to, &req.id, &room, &c, &mut req.out)?;
        self.result(req, None);
        Ok(())
    }

    /// Stores an occupant change and adds its outputs: the archive entry
    /// (new version, every change), the full change with both versions for
    /// staying occupants, `none` alone for leavers, their own affiliation and
    /// the new version for newcomers. A room left empty is destroyed instead
    /// of archiving ([`Output::RoomDestroyed`] after the notifications).
    fn commit_affs<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        room_jid: &BareJid,
        id: &str,
        room: &Room,
        c: &AffChange,
        out: &mut Vec<Output>,
    ) -> Result<(), StoreError> {
        let version = self.unique();
        if c.new.is_empty() {
            store.destroy_room(room_jid)?;
        } else {
            store.set_affiliations(room_jid, &c.new, &version, &c.joined, &c.left)?;
        }
        let items = || c.changed.iter().map(|(u, a)| codec::user(u, *a));
        if !c.new.is_empty() {
            let mut arch = vec![kv("version", &version)];
            arch.extend(items());
            archive(out, room_jid, id, &envelope(ns::AFFILIATIONS, arch));
        }
        let left: BTreeSet<&BareJid> = c.left.iter().collect();
        let joined: BTreeSet<&BareJid> = c.joined.iter().collect();
        let staying: Vec<BareJid> = room
            .affiliations
            .iter()
            .filter(|(u, _)| !left.contains(u))
            .map(|(u, _)| u.clone())
            .collect();
        if !staying.is_empty() {
            let mut x = vec![kv("prev-version", &room.version), kv("version", &version)];
            x.extend(items());
            notify(
                out,
                room_jid,
                id,
                envelope(ns::AFFILIATIONS, x),
                staying,
                true,
            );
        }
        for u in &c.left {
            let x = vec![codec::user(u, Affiliation::None)];
            notify(
                out,
                room_jid,
                id,
                envelope(ns::AFFILIATIONS, x),
                vec![u.clone()],
                false,
            );
        }
        for (u, a) in c.new.iter().filter(|(u, _)| joined.contains(u)) {
            let x = vec![kv("version", &version), codec::user(u, *a)];
            notify(
                out,
                room_jid,
                id,
                envelope(ns::AFFILIATIONS, x),
                vec![u.clone()],
                false,
            );
        }
        if c.new.is_empty() {
            out.push(Output::RoomDestroyed(room_jid.clone()));
        }
        Ok(())
    }

    /// Removes a deleted account from the service, as MongooseIM's
    /// `remove_user` hook: its blocking list is cleared, and it leaves every
    /// room it occupies (with the owner rules: a member may be promoted; a
    /// room whose change fails, as when the last owner leaves and promotion
    /// is off, is left as it is), each room notified as for an occupant
    /// change; rooms left empty are destroyed. A component is not told about
    /// deleted accounts: call this from an administrative interface.
    pub fn remove_user<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        user: &BareJid,
    ) -> Result<Vec<Output>, StoreError> {
        let mut out = Vec::new();
        let blocked = store.blocking(user)?;
        if !blocked.is_empty() {
            let unblock: Vec<BlockChange> = blocked
                .into_iter()
                .map(|item| BlockChange { item, deny: false })
                .collect();
            store.set_blocking(user, &unblock)?;
        }
        let id = self.unique();
        let mut rooms = store.user_rooms(user)?;
        rooms.sort_by(user_order);
        for r in rooms {
            let Some(mut room) = store.room(&r)? else {
                continue;
            };
            room.affiliations.sort_by(|a, b| user_order(&a.0, &b.0));
            if room.affiliation(user).is_none() {
                continue;
            }
            let leave = [(user.clone(), Affiliation::None)];
            if let Ok(c) = apply_changes(&room.affiliations, &leave, self.owner_rules()) {
                self.commit_affs(store, &r, &id, &room, &c, &mut out)?;
            }
        }
        Ok(out)
    }

    fn create<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        raw: Vec<(String, String)>,
        occupants: Vec<(BareJid, Affiliation)>,
    ) -> R<()> {
        if let Some(limit) = self.options.rooms_per_user {
            if store.user_room_count(&req.sender)? >= limit {
                return Err(StanzaError::BadRequest(None).into());
            }
        }
        let unique = req.to.node().is_none();
        let schema = &self.options.config_schema;
        let config = schema.check(&raw).map(|c| schema.merge(&[], &c));
        let named = (!unique).then(|| req.to.clone());
        let occupants =
            self.filter_prevented(store, &req.sender, named.as_ref(), &[], occupants)?;
        let affs = if occupants
            .iter()
            .any(|(u, a)| *u == req.sender || *a == Affiliation::None)
        {
            Err(StanzaError::bad_request())
        } else {
            let creator = if self.options.equal_occupants {
                Affiliation::Member
            } else {
                Affiliation::Owner
            };
            apply_changes(
                &[(req.sender.clone(), creator)],
                &occupants,
                self.owner_rules(),
            )
            .map(|c| c.new)
            .map_err(|t| StanzaError::BadRequest(Some(format!("bad_request:<<\"{t}\">>"))))
            .and_then(|new| match self.options.max_occupants {
                Some(max) if new.len() > max => {
                    Err(StanzaError::bad_request_text("max_occupants_reached"))
                }
                _ => Ok(new),
            })
        };
        let config = config.map_err(|t| StanzaError::BadRequest(Some(t)))?;
        let affs = affs?;
        let version = self.unique();
        let data = Room {
            config,
            affiliations: affs,
            version: version.clone(),
        };
        let room_jid = match named {
            Some(r) => {
                if !store.create_room(&r, &data)? {
                    return Err(StanzaError::Conflict("Room already exists".into()).into());
                }
                r
            }
            None => loop {
                let candidate = BareJid::new(&format!("{}@{}", self.unique(), self.domain))
                    .map_err(|e| -> StoreError { e.into() })?;
                if store.create_room(&candidate, &data)? {
                    break candidate;
                }
            },
        };
        req.to = room_jid;
        for (u, a) in &data.affiliations {
            let x = vec![kv("version", &version), codec::user(u, *a)];
            self.notify(req, envelope(ns::AFFILIATIONS, x), vec![u.clone()], false);
        }
        let all = data
            .affiliations
            .iter()
            .map(|(u, a)| codec::user(u, *a))
            .collect();
        self.archive(req, &envelope(ns::AFFILIATIONS, all));
        let result_from = if unique {
            self.domain.clone()
        } else {
            req.to.clone()
        };
        let iq = self.result_element(req, &result_from, None);
        req.out.push(Output::Direct {
            to: req.from.clone(),
            stanza: iq,
        });
        Ok(())
    }

    fn set_blocking<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        mut changes: Vec<BlockChange>,
    ) -> R<()> {
        if changes.iter().any(|c| c.item.jid.node().is_none()) {
            return Err(StanzaError::bad_request().into());
        }
        // MongooseIM applies the items last to first
        changes.reverse();
        store.set_blocking(&req.sender, &changes)?;
        self.result(req, None);
        Ok(())
    }

    fn disco_info(&self, req: &mut Req) {
        let mut features: Vec<&str> = vec![ns::MUCLIGHT];
        features.extend(self.options.extra_features.iter().map(String::as_str));
        features.sort_unstable();
        features.dedup();
        let mut q = vec![node(el(
            "identity",
            &[
                ("category", "conference"),
                ("name", &self.options.identity_name),
                ("type", "text"),
            ],
            vec![],
        ))];
        q.extend(
            features
                .iter()
                .map(|f| node(el("feature", &[("var", f)], vec![]))),
        );
        self.result(req, Some((ns::DISCO_INFO, q)));
    }

    fn disco_items<S: RoomStore + ?Sized>(
        &self,
        store: &mut S,
        req: &mut Req,
        rsm: Option<RsmIn>,
    ) -> R<()> {
        let mut rooms = store.user_rooms(&req.sender)?;
        rooms.sort_by(user_order);
        let mut infos: Vec<(BareJid, String, String)> = Vec::with_capacity(rooms.len());
        let name_field = self.options.config_schema.by_internal_key("roomname");
        for r in rooms {
            let Some(room) = store.room(&r)? else {
                continue;
            };
            let name = name_field
                .and_then(|f| room.config.iter().find(|(k, _)| *k == f.field))
                .map(|(_, v)| v.clone())
                .or_else(|| name_field.map(|f| f.default.to_text()))
                .unwrap_or_else(|| r.node().map(|n| n.to_string()).unwrap_or_default());
            infos.push((r, name, room.version));
        }
        let (range, out) = apply_rsm(&infos, rsm, self.options.rooms_per_page)?;
        let mut q: Vec<Node> = out.iter().map(codec::rsm_out).collect();
        for (jid, name, version) in &infos[range] {
            let jid = jid.to_string();
            q.push(node(el(
                "item",
                &[("jid", &jid), ("name", name), ("version", version)],
                vec![],
            )));
        }
        self.result(req, Some((ns::DISCO_ITEMS, q)));
        Ok(())
    }

    // ---- building outputs ----

    fn result_element(
        &self,
        req: &Req,
        from: &BareJid,
        query: Option<(&str, Vec<Node>)>,
    ) -> Element {
        let children = match query {
            Some((xmlns, q)) => vec![node(el("query", &[("xmlns", xmlns)], q))],
            None => vec![],
        };
        let from = from.to_string();
        let to = req.from.to_string();
        el(
            "iq",
            &[
                ("from", &from),
                ("id", &req.id),
                ("to", &to),
                ("type", "result"),
            ],
            children,
        )
    }

    /// The IQ result from the stanza's `to`.
    fn result(&self, req: &mut Req, query: Option<(&str, Vec<Node>)>) {
        let iq = self.result_element(req, &req.to, query);
        req.out.push(Output::Direct {
            to: req.from.clone(),
            stanza: iq,
        });
    }

    fn notify(&self, req: &mut Req, children: Vec<Node>, recipients: Vec<BareJid>, archived: bool) {
        notify(
            &mut req.out,
            &req.to,
            &req.id,
            children,
            recipients,
            archived,
        );
    }

    fn archive(&self, req: &mut Req, children: &[Node]) {
        archive(&mut req.out, &req.to, &req.id, children);
    }
}

/// A notification from the room: `<message from=room id type='groupchat'>`.
fn room_message(room: &BareJid, id: &str, children: Vec<Node>) -> Element {
    let from = room.to_string();
    el(
        "message",
        &[("from", &from), ("id", id), ("type", "groupchat")],
        children,
    )
}

fn notify(
    out: &mut Vec<Output>,
    room: &BareJid,
    id: &str,
    children: Vec<Node>,
    recipients: Vec<BareJid>,
    archived: bool,
) {
    out.push(Output::Broadcast(Broadcast {
        room: room.clone(),
        stanza: room_message(room, id, children),
        recipients,
        archived,
    }));
}

fn archive(out: &mut Vec<Output>, room: &BareJid, id: &str, children: &[Node]) {
    out.push(Output::Archive(ArchiveEntry {
        room: room.clone(),
        sender: None,
        stanza: room_message(room, id, children.to_vec()),
    }));
}

/// The error answer to `stanza` (MongooseIM's `jlib:make_error_reply/2` of
/// the stanza without its children): `from` and `to` swapped, `type='error'`.
fn error_reply(from: &Jid, stanza: &Element, e: &StanzaError) -> Output {
    let mut attrs: Vec<(String, String)> = stanza
        .attrs
        .iter()
        .filter(|(k, _)| k != "from" && k != "to" && k != "type")
        .cloned()
        .collect();
    if let Some(to) = stanza.attr("to") {
        attrs.push(("from".into(), to.to_owned()));
    }
    attrs.push((
        "to".into(),
        stanza
            .attr("from")
            .map(str::to_owned)
            .unwrap_or_else(|| from.to_string()),
    ));
    attrs.push(("type".into(), "error".into()));
    attrs.sort();
    Output::Direct {
        to: from.clone(),
        stanza: Element {
            name: stanza.name.clone(),
            attrs,
            children: vec![Node::Element(e.to_element())],
        },
    }
}

/// XEP-0059 paging of the user's rooms as MongooseIM's `apply_rsm/3`, with
/// `rooms_per_page` as the page limit. Returns the page and the `<set/>`.
fn apply_rsm(
    rooms: &[(BareJid, String, String)],
    rsm: Option<RsmIn>,
    per_page: Option<usize>,
) -> Result<(std::ops::Range<usize>, Option<RsmOut>), StanzaError> {
    let len = rooms.len();
    let mut rsm = match (rsm, per_page) {
        (None, None) => return Ok((0..len, None)),
        (None, Some(n)) => RsmIn {
            max: Some(n as i64),
            ..Default::default()
        },
        (Some(mut r), page) => {
            r.max = match (r.max, page) {
                (Some(m), Some(p)) => Some(m.min(p as i64)),
                (m, None) => m,
                (None, Some(p)) => Some(p as i64),
            };
            r
        }
    };
    let max = match rsm.max {
        Some(m) if m < 0 => return Err(StanzaError::ItemNotFound),
        Some(m) => m as usize,
        None => usize::MAX,
    };
    let count_only = RsmOut {
        count: len,
        ..Default::default()
    };
    if max == 0 {
        return Ok((0..0, Some(count_only)));
    }
    if rsm.before.is_none() && rsm.index.is_none() {
        if len == 0 {
            return Ok((0..0, None));
        }
        rsm.index = Some(0);
    }
    let page = |start: usize, end: usize| {
        let end = end.min(len);
        if start >= end {
            return (0..0, Some(count_only.clone()));
        }
        let out = RsmOut {
            count: len,
            index: Some(start),
            first: Some(rooms[start].0.to_string()),
            last: Some(rooms[end - 1].0.to_string()),
        };
        (start..end, Some(out))
    };
    if rsm.before == Some(true) && rsm.id.as_deref() == Some("") {
        return Ok(page(len.saturating_sub(max), len));
    }
    match (rsm.index, rsm.id) {
        (Some(i), _) => {
            if i < 0 || i as usize >= len {
                return Err(StanzaError::ItemNotFound);
            }
            let i = i as usize;
            Ok(page(i, i.saturating_add(max)))
        }
        (None, Some(id)) => {
            let target = Jid::new(&id)
                .map_err(|_| StanzaError::ItemNotFound)?
                .to_bare();
            let pos = rooms
                .iter()
                .position(|(r, _, _)| *r == target)
                .ok_or(StanzaError::ItemNotFound)?;
            if rsm.before == Some(true) {
                Ok(page(pos.saturating_sub(max), pos))
            } else {
                Ok(page(pos + 1, (pos + 1).saturating_add(max)))
            }
        }
        (None, None) => Err(StanzaError::ItemNotFound),
    }
}
