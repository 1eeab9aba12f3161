//! MUC Light fan-out: a template resource, rendering for many recipients,
//! and delivery straight from the NIF to local processes.
//!
//! Calls handle a bounded slice of the member list; the Erlang facade
//! (`xmpp_accel_fanout`) feeds large rooms in slices, so no call runs long
//! on a normal scheduler.

use crate::term::{binary, list, tuple, wrap};
use crate::xml_exml::{write_xmlel, ExmlSink};
use rustler::sys::{
    enif_get_local_pid, enif_get_tuple, enif_send, ErlNifPid, ErlNifTerm as ERL_NIF_TERM,
};
use rustler::{Binary, Env, ListIterator, NifResult, OwnedEnv, Resource, ResourceArc, Term};
use xmpp_accel_core::fanout::Template;
use xmpp_accel_core::xml::serialize::Node;

/// Most members one call may handle (the facade slices longer lists).
pub const MAX_MEMBERS_PER_CALL: usize = 2000;

pub struct TemplateResource {
    template: Template,
}

#[rustler::resource_impl]
impl Resource for TemplateResource {}

/// Collects the walk of an `#xmlel{}` (instead of writing it).
struct Collector<'a> {
    nodes: Vec<Node<'a>>,
}

impl<'a> ExmlSink<'a> for Collector<'a> {
    fn len(&self) -> usize {
        self.nodes.len()
    }
    fn start(&mut self, name: &'a [u8]) {
        self.nodes.push(Node::Start(name));
    }
    fn attr(&mut self, key: &'a [u8], value: &'a [u8]) {
        self.nodes.push(Node::Attr(key, value));
    }
    fn empty(&mut self) {
        self.nodes.push(Node::End);
    }
    fn inline_text(&mut self, _name: &'a [u8], text: &'a [u8]) {
        self.nodes.push(Node::Text(text));
        self.nodes.push(Node::End);
    }
    fn open(&mut self) {}
    fn text(&mut self, text: &'a [u8], cdata: bool) {
        self.nodes.push(if cdata {
            Node::CData(text)
        } else {
            Node::Text(text)
        });
    }
    fn close(&mut self, _name: &'a [u8]) {
        self.nodes.push(Node::End);
    }
}

/// `fanout_template(Element, RecipientMarker | undefined) -> Template`.
#[rustler::nif]
fn fanout_template<'a>(
    env: Env<'a>,
    el: Term<'a>,
    marker: Term<'a>,
) -> NifResult<ResourceArc<TemplateResource>> {
    let marker = Binary::from_term(marker).ok().map(|b| b.as_slice());
    let mut collector = Collector {
        nodes: Vec::with_capacity(64),
    };
    write_xmlel(env, el, None, &mut collector).map_err(|_| rustler::Error::BadArg)?;
    Ok(ResourceArc::new(TemplateResource {
        template: Template::new(&collector.nodes, marker),
    }))
}

fn jids(list: Term<'_>) -> NifResult<ListIterator<'_>> {
    let iter: ListIterator = list.decode()?;
    Ok(iter)
}

/// `fanout_render(Template, [BareJid]) -> [binary()]` for at most
/// `MAX_MEMBERS_PER_CALL` JIDs.
#[rustler::nif]
fn fanout_render<'a>(
    env: Env<'a>,
    tpl: ResourceArc<TemplateResource>,
    jid_list: Term<'a>,
) -> NifResult<Term<'a>> {
    let mut out: Vec<ERL_NIF_TERM> = Vec::new();
    let mut buf = Vec::with_capacity(tpl.template.size_hint(64));
    for (n, jid) in jids(jid_list)?.enumerate() {
        if n >= MAX_MEMBERS_PER_CALL {
            return Err(rustler::Error::BadArg);
        }
        let jid = Binary::from_term(jid)?;
        buf.clear();
        tpl.template.render(jid.as_slice(), &mut buf);
        out.push(binary(env, &buf));
    }
    Ok(wrap(env, list(env, &out)))
}

/// Builds the message for one recipient in `m`: `wrap` with the atom
/// `'$stanza'` replaced by the stanza and `'$to'` by the JID (in a tuple, one
/// level deep), or the stanza alone when `wrap` is `'$stanza'`.
fn message(
    m: Env<'_>,
    wrap_t: Term<'_>,
    stanza: &[u8],
    jid: &[u8],
    atom_stanza: ERL_NIF_TERM,
    atom_to: ERL_NIF_TERM,
) -> ERL_NIF_TERM {
    let stanza_t = binary(m, stanza);
    if wrap_t.as_c_arg() == atom_stanza {
        return stanza_t;
    }
    let mut arity: i32 = 0;
    let mut fields: *const ERL_NIF_TERM = std::ptr::null();
    // SAFETY: plain term inspection; `fields` lives as long as `wrap_t`.
    let fields = unsafe {
        if enif_get_tuple(
            wrap_t.get_env().as_c_arg(),
            wrap_t.as_c_arg(),
            &mut arity,
            &mut fields,
        ) == 0
        {
            return stanza_t;
        }
        std::slice::from_raw_parts(fields, arity as usize)
    };
    let copied: Vec<ERL_NIF_TERM> = fields
        .iter()
        .map(|&f| {
            if f == atom_stanza {
                stanza_t
            } else if f == atom_to {
                binary(m, jid)
            } else {
                // SAFETY: copying a term of the caller's env into `m`
                unsafe { rustler::sys::enif_make_copy(m.as_c_arg(), f) }
            }
        })
        .collect();
    tuple(m, &copied)
}

/// `fanout_send(Template, [{Pid, BareJid}], Wrap) -> {Sent, [{RemotePid, Stanza}]}`
/// for at most `MAX_MEMBERS_PER_CALL` members. Local live processes get
/// their message now; remote pids come back with their stanza; dead local
/// processes are passed over (not counted).
#[rustler::nif]
fn fanout_send<'a>(
    env: Env<'a>,
    tpl: ResourceArc<TemplateResource>,
    members: Term<'a>,
    wrap_t: Term<'a>,
) -> NifResult<Term<'a>> {
    let atom_stanza = rustler::Atom::from_str(env, "$stanza")?
        .to_term(env)
        .as_c_arg();
    let atom_to = rustler::Atom::from_str(env, "$to")?.to_term(env).as_c_arg();
    let mut sent: u64 = 0;
    let mut remote: Vec<ERL_NIF_TERM> = Vec::new();
    let mut buf = Vec::with_capacity(tpl.template.size_hint(64));
    let mut msg_env = OwnedEnv::new();
    for (n, member) in members.decode::<ListIterator>()?.enumerate() {
        if n >= MAX_MEMBERS_PER_CALL {
            return Err(rustler::Error::BadArg);
        }
        let (pid_t, jid_t): (Term, Term) = member.decode()?;
        let jid = Binary::from_term(jid_t)?;
        buf.clear();
        tpl.template.render(jid.as_slice(), &mut buf);
        let mut pid = std::mem::MaybeUninit::<ErlNifPid>::uninit();
        // SAFETY: enif_get_local_pid fills `pid` when it returns true.
        let local =
            unsafe { enif_get_local_pid(env.as_c_arg(), pid_t.as_c_arg(), pid.as_mut_ptr()) } != 0;
        if local {
            let pid = unsafe { pid.assume_init() };
            let delivered = msg_env.run(|m| {
                let msg = message(m, wrap_t, &buf, jid.as_slice(), atom_stanza, atom_to);
                // SAFETY: `msg` lives in the process-independent env `m`.
                unsafe { enif_send(env.as_c_arg(), &pid, m.as_c_arg(), msg) != 0 }
            });
            msg_env.clear();
            sent += delivered as u64;
        } else if pid_t.is_pid() {
            remote.push(tuple(env, &[pid_t.as_c_arg(), binary(env, &buf)]));
        } else {
            return Err(rustler::Error::BadArg);
        }
    }
    let sent_t = rustler::Encoder::encode(&sent, env).as_c_arg();
    Ok(wrap(env, tuple(env, &[sent_t, list(env, &remote)])))
}
