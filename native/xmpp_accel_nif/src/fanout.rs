//! MUC Light fan-out: a template resource, rendering for many recipients,
//! and delivery straight from the NIF to local processes.
//!
//! Calls handle a bounded slice of the member list; the Erlang facade
//! (`xmpp_accel_fanout`) feeds large rooms in slices, so no call runs long
//! on a normal scheduler.

use crate::atoms;
use crate::budget;
use crate::term::{binary, list, tuple, tuple_fields, wrap};
use crate::xml_exml::{write_xmlel, ExmlSink};
use rustler::sys::{enif_get_local_pid, enif_send, ErlNifPid, ErlNifTerm as ERL_NIF_TERM};
use rustler::{Binary, Env, ListIterator, NifResult, Resource, ResourceArc, Term};
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
    let _slice = budget::Timeslice::start(env);
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
    let _slice = budget::Timeslice::start(env);
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

/// Where the recipient's parts go in the message `Wrap`.
enum Wrapping {
    /// `Wrap` is `'$stanza'`: the stanza alone.
    Bare,
    /// A tuple: its fields, with the positions of `'$stanza'` and `'$to'`.
    Tuple {
        fields: Vec<ERL_NIF_TERM>,
        stanza: Vec<usize>,
        to: Vec<usize>,
    },
}

/// A member `{Pid, BareJid}` of a fan-out list.
struct Member<'a> {
    pid_t: ERL_NIF_TERM,
    jid_t: ERL_NIF_TERM,
    jid: Binary<'a>,
    /// The pid, when it is a process of this node.
    local_pid: Option<ErlNifPid>,
    /// Whether `pid_t` is a pid at all (local or remote).
    is_pid: bool,
}

impl<'a> Member<'a> {
    fn decode(env: Env<'a>, member: Term<'a>) -> NifResult<Member<'a>> {
        let [pid_t, jid_t] = tuple_fields(env, member.as_c_arg()).ok_or(rustler::Error::BadArg)?
        else {
            return Err(rustler::Error::BadArg);
        };
        let jid = Binary::from_term(wrap(env, *jid_t))?;
        let mut pid = std::mem::MaybeUninit::<ErlNifPid>::uninit();
        // SAFETY: enif_get_local_pid fills `pid` when it returns true.
        let local_pid = (unsafe { enif_get_local_pid(env.as_c_arg(), *pid_t, pid.as_mut_ptr()) }
            != 0)
            .then(|| unsafe { pid.assume_init() });
        Ok(Member {
            pid_t: *pid_t,
            jid_t: *jid_t,
            jid,
            local_pid,
            is_pid: local_pid.is_some() || wrap(env, *pid_t).is_pid(),
        })
    }
}

impl Wrapping {
    fn new(
        env: Env<'_>,
        wrap_t: Term<'_>,
        atom_stanza: ERL_NIF_TERM,
        atom_to: ERL_NIF_TERM,
    ) -> NifResult<Wrapping> {
        if wrap_t.as_c_arg() == atom_stanza {
            return Ok(Wrapping::Bare);
        }
        let fields = tuple_fields(env, wrap_t.as_c_arg())
            .ok_or(rustler::Error::BadArg)?
            .to_vec();
        let at = |a: ERL_NIF_TERM| {
            fields
                .iter()
                .enumerate()
                .filter(|(_, f)| **f == a)
                .map(|(i, _)| i)
                .collect()
        };
        let (stanza, to) = (at(atom_stanza), at(atom_to));
        Ok(Wrapping::Tuple { fields, stanza, to })
    }

    /// The message for one recipient (terms of the caller's env).
    fn message(&mut self, env: Env<'_>, stanza: ERL_NIF_TERM, jid: ERL_NIF_TERM) -> ERL_NIF_TERM {
        match self {
            Wrapping::Bare => stanza,
            Wrapping::Tuple {
                fields,
                stanza: s,
                to,
            } => {
                for &i in s.iter() {
                    fields[i] = stanza;
                }
                for &i in to.iter() {
                    fields[i] = jid;
                }
                tuple(env, fields)
            }
        }
    }
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
    let _slice = budget::Timeslice::start(env);
    let atom_stanza = atoms::stanza_marker().to_term(env).as_c_arg();
    let atom_to = atoms::to_marker().to_term(env).as_c_arg();
    let mut wrapping = Wrapping::new(env, wrap_t, atom_stanza, atom_to)?;
    let mut sent: u64 = 0;
    let mut remote: Vec<ERL_NIF_TERM> = Vec::new();
    let mut buf = Vec::with_capacity(tpl.template.size_hint(64));
    for (n, member) in members.decode::<ListIterator>()?.enumerate() {
        if n >= MAX_MEMBERS_PER_CALL {
            return Err(rustler::Error::BadArg);
        }
        let m = Member::decode(env, member)?;
        buf.clear();
        tpl.template.render(m.jid.as_slice(), &mut buf);
        let stanza = binary(env, &buf);
        if let Some(pid) = m.local_pid {
            let msg = wrapping.message(env, stanza, m.jid_t);
            // SAFETY: `msg` is a term of the caller's env: enif_send copies it
            // to the receiver (a binary's bytes are shared, not copied).
            sent +=
                unsafe { enif_send(env.as_c_arg(), &pid, std::ptr::null_mut(), msg) != 0 } as u64;
        } else if m.is_pid {
            remote.push(tuple(env, &[m.pid_t, stanza]));
        } else {
            return Err(rustler::Error::BadArg);
        }
    }
    let sent_t = rustler::Encoder::encode(&sent, env).as_c_arg();
    Ok(wrap(env, tuple(env, &[sent_t, list(env, &remote)])))
}

// ------------------------------------------------------------ asynchronous delivery

/// A fan-out handed to the delivery thread: the sender's time is only the
/// time to hand over the member list; the messages go out from a thread of
/// ours, in order, one fan-out after another.
pub struct JobResource {
    job: std::sync::Mutex<Option<Job>>,
}

#[rustler::resource_impl]
impl Resource for JobResource {}

struct Job {
    template: ResourceArc<TemplateResource>,
    members: Vec<(ErlNifPid, Vec<u8>)>,
    /// Holds `wrap` and `reference` for the life of the job (only kept alive).
    _env: rustler::OwnedEnv,
    wrap: ERL_NIF_TERM,
    reference: ERL_NIF_TERM,
    reply_to: ErlNifPid,
}

// SAFETY: pids and terms are plain values; the terms live in `env`, which
// moves with the job and is only used by one thread at a time.
unsafe impl Send for Job {}

fn delivery_queue() -> &'static std::sync::Mutex<std::sync::mpsc::Sender<Job>> {
    static QUEUE: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    QUEUE.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        std::thread::Builder::new()
            .name("xmpp_accel_fanout".into())
            .spawn(move || {
                for job in rx {
                    deliver(job);
                }
            })
            .expect("the fan-out delivery thread starts");
        std::sync::Mutex::new(tx)
    })
}

/// Runs on the delivery thread (not a scheduler thread).
fn deliver(job: Job) {
    let mut msg_env = rustler::OwnedEnv::new();
    let mut buf = Vec::with_capacity(job.template.template.size_hint(64));
    let mut sent: u64 = 0;
    for (pid, jid) in &job.members {
        buf.clear();
        job.template.template.render(jid, &mut buf);
        let msg = msg_env.run(|m| {
            // SAFETY: copying terms of the job's env into this message env.
            let wrap_t = unsafe { rustler::sys::enif_make_copy(m.as_c_arg(), job.wrap) };
            let atom_stanza = atoms::stanza_marker().to_term(m).as_c_arg();
            let atom_to = atoms::to_marker().to_term(m).as_c_arg();
            let stanza = binary(m, &buf);
            let jid_t = binary(m, jid);
            match Wrapping::new(m, wrap(m, wrap_t), atom_stanza, atom_to) {
                Ok(mut w) => w.message(m, stanza, jid_t),
                Err(_) => stanza,
            }
        });
        // SAFETY: a thread of ours sends with a NULL caller env, `msg` living in `msg_env`.
        sent +=
            unsafe { enif_send(std::ptr::null_mut(), pid, msg_env_ptr(&msg_env), msg) != 0 } as u64;
        msg_env.clear();
    }
    let done = msg_env.run(|m| {
        let atom = atoms::xmpp_accel_fanout_done().to_term(m).as_c_arg();
        // SAFETY: copying the reference from the job's env.
        let reference = unsafe { rustler::sys::enif_make_copy(m.as_c_arg(), job.reference) };
        tuple(
            m,
            &[
                atom,
                reference,
                rustler::Encoder::encode(&sent, m).as_c_arg(),
            ],
        )
    });
    // SAFETY: as above.
    unsafe {
        enif_send(
            std::ptr::null_mut(),
            &job.reply_to,
            msg_env_ptr(&msg_env),
            done,
        )
    };
    msg_env.clear();
}

fn msg_env_ptr(env: &rustler::OwnedEnv) -> *mut rustler::sys::ErlNifEnv {
    env.run(|e| e.as_c_arg())
}

/// `fanout_job_new(Template, Wrap, ReplyTo, Ref) -> Job`.
#[rustler::nif]
fn fanout_job_new<'a>(
    tpl: ResourceArc<TemplateResource>,
    wrap_t: Term<'a>,
    reply_to: rustler::LocalPid,
    reference: Term<'a>,
) -> ResourceArc<JobResource> {
    let env = rustler::OwnedEnv::new();
    let (wrap_c, ref_c) = env.run(|e| {
        // SAFETY: copying the caller's terms into the job's own env.
        unsafe {
            (
                rustler::sys::enif_make_copy(e.as_c_arg(), wrap_t.as_c_arg()),
                rustler::sys::enif_make_copy(e.as_c_arg(), reference.as_c_arg()),
            )
        }
    });
    ResourceArc::new(JobResource {
        job: std::sync::Mutex::new(Some(Job {
            template: tpl,
            members: Vec::new(),
            _env: env,
            wrap: wrap_c,
            reference: ref_c,
            reply_to: *reply_to.as_c_arg(),
        })),
    })
}

/// `fanout_job_add(Job, [{Pid, BareJid}]) -> [{RemotePid, Stanza}]` (at most
/// `MAX_MEMBERS_PER_CALL` members): local members join the job, remote ones
/// come back rendered.
#[rustler::nif]
fn fanout_job_add<'a>(
    env: Env<'a>,
    job: ResourceArc<JobResource>,
    members: Term<'a>,
) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    let mut guard = job.job.lock().unwrap_or_else(|p| p.into_inner());
    let job = guard.as_mut().ok_or(rustler::Error::BadArg)?;
    let mut remote: Vec<ERL_NIF_TERM> = Vec::new();
    let mut buf = Vec::new();
    for (n, member) in members.decode::<ListIterator>()?.enumerate() {
        if n >= MAX_MEMBERS_PER_CALL {
            return Err(rustler::Error::BadArg);
        }
        let m = Member::decode(env, member)?;
        if let Some(pid) = m.local_pid {
            job.members.push((pid, m.jid.as_slice().to_vec()));
        } else if m.is_pid {
            buf.clear();
            job.template.template.render(m.jid.as_slice(), &mut buf);
            remote.push(tuple(env, &[m.pid_t, binary(env, &buf)]));
        } else {
            return Err(rustler::Error::BadArg);
        }
    }
    Ok(wrap(env, list(env, &remote)))
}

/// `fanout_job_start(Job) -> ok`: hands the job to the delivery thread.
#[rustler::nif]
fn fanout_job_start(job: ResourceArc<JobResource>) -> NifResult<rustler::Atom> {
    let job = job
        .job
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .take()
        .ok_or(rustler::Error::BadArg)?;
    delivery_queue()
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .send(job)
        .map_err(|_| rustler::Error::BadArg)?;
    Ok(crate::atoms::ok())
}
