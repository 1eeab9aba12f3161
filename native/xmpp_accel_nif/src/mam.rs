//! MAM full-text index as a NIF resource (Erlang: `xmpp_accel_mam`).
//!
//! Opening, committing and closing touch the disk (dirty I/O schedulers);
//! searching runs on dirty CPU schedulers. Indexing and deleting also run on
//! dirty I/O schedulers: they wait for the writer, which a commit holds while
//! it writes segments and syncs, so they may not run on a normal scheduler.
//! One `mam_index` call takes at most `MAX_MESSAGES_PER_CALL` messages (about
//! 1 ms of work); the facade slices longer lists.

use crate::atoms;
use crate::term::{binary, error_tuple, list, map, tuple, wrap};
use rustler::sys::ErlNifTerm as ERL_NIF_TERM;
use rustler::{Atom, Binary, Encoder, Env, ListIterator, NifResult, Resource, ResourceArc, Term};
use std::sync::Mutex;
use xmpp_accel_core::mam::{Deletion, MamError, MamIndex, Message, Options, Query, Rsm, Tokenizer};

/// Most messages one `mam_index` call takes.
pub const MAX_MESSAGES_PER_CALL: usize = 200;

pub struct MamResource {
    index: Mutex<Option<MamIndex>>,
}

#[rustler::resource_impl]
impl Resource for MamResource {}

fn get<'a>(env: Env<'a>, m: Term<'a>, key: &str) -> Option<Term<'a>> {
    let k = Atom::from_str(env, key).ok()?;
    m.map_get(k.to_term(env)).ok()
}

fn is_atom(env: Env<'_>, t: Term<'_>, name: &str) -> bool {
    Atom::from_str(env, name)
        .map(|a| a.to_term(env).as_c_arg() == t.as_c_arg())
        .unwrap_or(false)
}

fn text<'a>(t: Term<'a>) -> Result<String, String> {
    let b = Binary::from_term(t).map_err(|_| "expected a binary".to_string())?;
    String::from_utf8(b.as_slice().to_vec()).map_err(|_| "invalid UTF-8".to_string())
}

fn field<'a, T: rustler::Decoder<'a>>(env: Env<'a>, m: Term<'a>, key: &str) -> Result<T, String> {
    get(env, m, key)
        .ok_or_else(|| format!("missing {key}"))?
        .decode()
        .map_err(|_| format!("bad {key}"))
}

fn opt_field<'a, T: rustler::Decoder<'a>>(
    env: Env<'a>,
    m: Term<'a>,
    key: &str,
) -> Result<Option<T>, String> {
    match get(env, m, key) {
        None => Ok(None),
        Some(t) if is_atom(env, t, "undefined") => Ok(None),
        Some(t) => t.decode().map(Some).map_err(|_| format!("bad {key}")),
    }
}

fn message<'a>(env: Env<'a>, m: Term<'a>) -> Result<Message, String> {
    if !m.is_map() {
        return Err("a message is a map".into());
    }
    Ok(Message {
        archive_id: field(env, m, "archive_id")?,
        mam_id: field(env, m, "mam_id")?,
        remote_jid: text(get(env, m, "remote_jid").ok_or("missing remote_jid")?)?,
        remote_resource: match get(env, m, "remote_resource") {
            None => String::new(),
            Some(t) => text(t)?,
        },
        is_groupchat: opt_field(env, m, "is_groupchat")?.unwrap_or(false),
        body: text(get(env, m, "body").ok_or("missing body")?)?,
    })
}

fn options<'a>(env: Env<'a>, m: Term<'a>) -> Result<Options, String> {
    let mut o = Options::default();
    if let Some(t) = get(env, m, "tokenizer") {
        o.tokenizer = if is_atom(env, t, "unicode") {
            Tokenizer::Unicode {
                fold_diacritics: opt_field(env, m, "fold_diacritics")?.unwrap_or(false),
            }
        } else if is_atom(env, t, "mongoose_compat") {
            Tokenizer::MongooseCompat
        } else {
            return Err("tokenizer: unicode | mongoose_compat".into());
        };
    } else if let Some(fold) = opt_field::<bool>(env, m, "fold_diacritics")? {
        o.tokenizer = Tokenizer::Unicode {
            fold_diacritics: fold,
        };
    }
    if let Some(ms) = opt_field(env, m, "commit_interval")? {
        o.commit_interval_ms = ms;
    }
    if let Some(bytes) = opt_field(env, m, "writer_memory")? {
        o.writer_memory = bytes;
    }
    if let Some(bytes) = opt_field(env, m, "max_body")? {
        o.max_body = bytes;
    }
    Ok(o)
}

fn query<'a>(env: Env<'a>, m: Term<'a>) -> Result<Query, String> {
    if !m.is_map() {
        return Err("a query is a map".into());
    }
    let mut q = Query::archive(field(env, m, "archive_id")?);
    q.text = match get(env, m, "text") {
        Some(t) if !is_atom(env, t, "undefined") => Some(text(t)?),
        _ => None,
    };
    q.with = match get(env, m, "with") {
        Some(t) if !is_atom(env, t, "undefined") => Some(text(t)?),
        _ => None,
    };
    q.start = opt_field(env, m, "start")?;
    q.end = opt_field(env, m, "end")?;
    q.before_id = opt_field(env, m, "before_id")?;
    q.after_id = opt_field(env, m, "after_id")?;
    q.ids = opt_field(env, m, "ids")?;
    q.include_groupchat = opt_field(env, m, "include_groupchat")?.unwrap_or(true);
    q.max = opt_field::<u64>(env, m, "max")?.unwrap_or(50).min(10_000) as usize;
    q.flip_page = opt_field(env, m, "flip_page")?.unwrap_or(false);
    q.count = opt_field(env, m, "count")?.unwrap_or(false);
    q.rsm = if let Some(b) = get(env, m, "before") {
        if is_atom(env, b, "last") || Binary::from_term(b).map(|b| b.is_empty()).unwrap_or(false) {
            Rsm::Last
        } else if is_atom(env, b, "undefined") {
            Rsm::First
        } else {
            Rsm::Before(b.decode().map_err(|_| "bad before".to_string())?)
        }
    } else {
        Rsm::First
    };
    if let Some(a) = opt_field(env, m, "after")? {
        q.rsm = Rsm::After(a);
    }
    if let Some(i) = opt_field(env, m, "index")? {
        q.rsm = Rsm::Index(i);
    }
    Ok(q)
}

fn mam_error<'a>(env: Env<'a>, e: &MamError) -> Term<'a> {
    match e {
        MamError::AlreadyOpen => wrap(
            env,
            tuple(
                env,
                &[
                    atoms::error().to_term(env).as_c_arg(),
                    atom(env, "already_open"),
                ],
            ),
        ),
        MamError::Closed => wrap(
            env,
            tuple(
                env,
                &[atoms::error().to_term(env).as_c_arg(), atom(env, "closed")],
            ),
        ),
        MamError::BadInput(why) => bad_input(env, why),
        other => error_tuple(env, &other.to_string()),
    }
}

fn atom(env: Env<'_>, name: &str) -> ERL_NIF_TERM {
    Atom::from_str(env, name)
        .map(|a| a.to_term(env).as_c_arg())
        .unwrap_or_default()
}

fn bad_input<'a>(env: Env<'a>, why: &str) -> Term<'a> {
    let reason = tuple(env, &[atom(env, "bad_input"), binary(env, why.as_bytes())]);
    wrap(
        env,
        tuple(env, &[atoms::error().to_term(env).as_c_arg(), reason]),
    )
}

fn with_index<'a>(
    env: Env<'a>,
    res: &MamResource,
    f: impl FnOnce(&mut MamIndex) -> Result<Term<'a>, MamError>,
) -> Term<'a> {
    let mut guard = res.index.lock().unwrap_or_else(|p| p.into_inner());
    match guard.as_mut() {
        Some(index) => f(index).unwrap_or_else(|e| mam_error(env, &e)),
        None => mam_error(env, &MamError::Closed),
    }
}

/// `mam_open(Dir, Options) -> {ok, Index} | {error, Reason}`.
#[rustler::nif(schedule = "DirtyIo")]
fn mam_open<'a>(env: Env<'a>, dir: Term<'a>, opts: Term<'a>) -> NifResult<Term<'a>> {
    let dir = match Binary::from_term(dir).or_else(|_| Binary::from_iolist(dir)) {
        Ok(b) => String::from_utf8(b.as_slice().to_vec()).map_err(|_| rustler::Error::BadArg)?,
        Err(_) => return Err(rustler::Error::BadArg),
    };
    if !opts.is_map() {
        return Err(rustler::Error::BadArg);
    }
    let options = match options(env, opts) {
        Ok(o) => o,
        Err(why) => return Ok(bad_input(env, &why)),
    };
    Ok(match MamIndex::open(std::path::Path::new(&dir), options) {
        Ok(index) => {
            let res = ResourceArc::new(MamResource {
                index: Mutex::new(Some(index)),
            });
            wrap(
                env,
                tuple(
                    env,
                    &[
                        atoms::ok().to_term(env).as_c_arg(),
                        res.encode(env).as_c_arg(),
                    ],
                ),
            )
        }
        Err(e) => mam_error(env, &e),
    })
}

/// `mam_index(Index, [Message]) -> ok | {error, Reason}` (at most 500 messages).
#[rustler::nif(schedule = "DirtyIo")]
fn mam_index<'a>(
    env: Env<'a>,
    res: ResourceArc<MamResource>,
    msgs: Term<'a>,
) -> NifResult<Term<'a>> {
    let mut batch = Vec::new();
    for (n, m) in msgs.decode::<ListIterator>()?.enumerate() {
        if n >= MAX_MESSAGES_PER_CALL {
            return Err(rustler::Error::BadArg);
        }
        match message(env, m) {
            Ok(msg) => batch.push(msg),
            Err(why) => return Ok(bad_input(env, &why)),
        }
    }
    Ok(with_index(env, &res, |index| {
        index.index(&batch).map(|_| atoms::ok().to_term(env))
    }))
}

/// `mam_delete(Index, {message, ArchiveId, MamId} | {archive, ArchiveId}) -> ok`.
#[rustler::nif(schedule = "DirtyIo")]
fn mam_delete<'a>(
    env: Env<'a>,
    res: ResourceArc<MamResource>,
    what: Term<'a>,
) -> NifResult<Term<'a>> {
    let parts = rustler::types::tuple::get_tuple(what)?;
    let deletion = match parts.as_slice() {
        [tag, a, m] if is_atom(env, *tag, "message") => Deletion::Message {
            archive_id: a.decode()?,
            mam_id: m.decode()?,
        },
        [tag, a] if is_atom(env, *tag, "archive") => Deletion::Archive {
            archive_id: a.decode()?,
        },
        _ => return Err(rustler::Error::BadArg),
    };
    Ok(with_index(env, &res, |index| {
        index.delete(deletion).map(|_| atoms::ok().to_term(env))
    }))
}

/// `mam_commit(Index) -> ok | {error, Reason}`.
#[rustler::nif(schedule = "DirtyIo")]
fn mam_commit<'a>(env: Env<'a>, res: ResourceArc<MamResource>) -> Term<'a> {
    with_index(env, &res, |index| {
        index.commit().map(|_| atoms::ok().to_term(env))
    })
}

/// `mam_last_indexed_id(Index, ArchiveId) -> MamId | undefined`.
#[rustler::nif(schedule = "DirtyCpu")]
fn mam_last_indexed_id<'a>(
    env: Env<'a>,
    res: ResourceArc<MamResource>,
    archive_id: u64,
) -> Term<'a> {
    with_index(env, &res, |index| {
        Ok(match index.last_indexed_id(archive_id)? {
            Some(id) => id.encode(env),
            None => wrap(env, atom(env, "undefined")),
        })
    })
}

/// `mam_search(Index, Query) -> {ok, #{ids, count, first_index}} | {error, Reason}`.
#[rustler::nif(schedule = "DirtyCpu")]
fn mam_search<'a>(env: Env<'a>, res: ResourceArc<MamResource>, q: Term<'a>) -> Term<'a> {
    let q = match query(env, q) {
        Ok(q) => q,
        Err(why) => return bad_input(env, &why),
    };
    with_index(env, &res, |index| {
        let page = index.search(&q)?;
        let undefined = atom(env, "undefined");
        let ids: Vec<ERL_NIF_TERM> = page
            .ids
            .iter()
            .map(|id| id.encode(env).as_c_arg())
            .collect();
        let keys = [
            atom(env, "ids"),
            atom(env, "count"),
            atom(env, "first_index"),
        ];
        let values = [
            list(env, &ids),
            page.count
                .map(|c| c.encode(env).as_c_arg())
                .unwrap_or(undefined),
            page.first_index
                .map(|i| i.encode(env).as_c_arg())
                .unwrap_or(undefined),
        ];
        let result = map(env, &keys, &values).unwrap_or_default();
        Ok(wrap(
            env,
            tuple(env, &[atoms::ok().to_term(env).as_c_arg(), result]),
        ))
    })
}

/// `mam_close(Index) -> ok`: commits, releases the directory.
#[rustler::nif(schedule = "DirtyIo")]
fn mam_close<'a>(env: Env<'a>, res: ResourceArc<MamResource>) -> Term<'a> {
    let taken = res.index.lock().unwrap_or_else(|p| p.into_inner()).take();
    match taken {
        Some(mut index) => match index.close() {
            Ok(()) => atoms::ok().to_term(env),
            Err(e) => mam_error(env, &e),
        },
        None => mam_error(env, &MamError::Closed),
    }
}
