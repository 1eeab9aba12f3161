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

// Keys and values are atoms made when the library loads (`atoms.rs`).
fn get<'a>(env: Env<'a>, m: Term<'a>, key: Atom) -> Option<Term<'a>> {
    m.map_get(key.to_term(env)).ok()
}

fn is_atom(t: Term<'_>, atom: Atom) -> bool {
    atom == t
}

/// The name of a key, for error texts (only on the error path).
fn name(env: Env<'_>, key: Atom) -> String {
    key.to_term(env).atom_to_string().unwrap_or_default()
}

fn text<'a>(t: Term<'a>) -> Result<String, String> {
    let b = Binary::from_term(t).map_err(|_| "expected a binary".to_string())?;
    String::from_utf8(b.as_slice().to_vec()).map_err(|_| "invalid UTF-8".to_string())
}

fn field<'a, T: rustler::Decoder<'a>>(env: Env<'a>, m: Term<'a>, key: Atom) -> Result<T, String> {
    get(env, m, key)
        .ok_or_else(|| format!("missing {}", name(env, key)))?
        .decode()
        .map_err(|_| format!("bad {}", name(env, key)))
}

fn opt_field<'a, T: rustler::Decoder<'a>>(
    env: Env<'a>,
    m: Term<'a>,
    key: Atom,
) -> Result<Option<T>, String> {
    match get(env, m, key) {
        None => Ok(None),
        Some(t) if is_atom(t, atoms::undefined()) => Ok(None),
        Some(t) => t
            .decode()
            .map(Some)
            .map_err(|_| format!("bad {}", name(env, key))),
    }
}

fn message<'a>(env: Env<'a>, m: Term<'a>) -> Result<Message, String> {
    if !m.is_map() {
        return Err("a message is a map".into());
    }
    Ok(Message {
        archive_id: field(env, m, atoms::archive_id())?,
        mam_id: field(env, m, atoms::mam_id())?,
        remote_jid: text(get(env, m, atoms::remote_jid()).ok_or("missing remote_jid")?)?,
        remote_resource: match get(env, m, atoms::remote_resource()) {
            None => String::new(),
            Some(t) => text(t)?,
        },
        is_groupchat: opt_field(env, m, atoms::is_groupchat())?.unwrap_or(false),
        body: text(get(env, m, atoms::body()).ok_or("missing body")?)?,
    })
}

fn options<'a>(env: Env<'a>, m: Term<'a>) -> Result<Options, String> {
    let mut o = Options::default();
    if let Some(t) = get(env, m, atoms::tokenizer()) {
        o.tokenizer = if is_atom(t, atoms::unicode()) {
            Tokenizer::Unicode {
                fold_diacritics: opt_field(env, m, atoms::fold_diacritics())?.unwrap_or(false),
            }
        } else if is_atom(t, atoms::mongoose_compat()) {
            Tokenizer::MongooseCompat
        } else {
            return Err("tokenizer: unicode | mongoose_compat".into());
        };
    } else if let Some(fold) = opt_field::<bool>(env, m, atoms::fold_diacritics())? {
        o.tokenizer = Tokenizer::Unicode {
            fold_diacritics: fold,
        };
    }
    if let Some(ms) = opt_field(env, m, atoms::commit_interval())? {
        o.commit_interval_ms = ms;
    }
    if let Some(bytes) = opt_field(env, m, atoms::writer_memory())? {
        o.writer_memory = bytes;
    }
    if let Some(bytes) = opt_field(env, m, atoms::max_body())? {
        o.max_body = bytes;
    }
    Ok(o)
}

fn query<'a>(env: Env<'a>, m: Term<'a>) -> Result<Query, String> {
    if !m.is_map() {
        return Err("a query is a map".into());
    }
    let mut q = Query::archive(field(env, m, atoms::archive_id())?);
    q.text = match get(env, m, atoms::text()) {
        Some(t) if !is_atom(t, atoms::undefined()) => Some(text(t)?),
        _ => None,
    };
    q.with = match get(env, m, atoms::with()) {
        Some(t) if !is_atom(t, atoms::undefined()) => Some(text(t)?),
        _ => None,
    };
    q.start = opt_field(env, m, atoms::start())?;
    q.end = opt_field(env, m, atoms::end())?;
    q.before_id = opt_field(env, m, atoms::before_id())?;
    q.after_id = opt_field(env, m, atoms::after_id())?;
    q.ids = opt_field(env, m, atoms::ids())?;
    q.include_groupchat = opt_field(env, m, atoms::include_groupchat())?.unwrap_or(true);
    q.max = opt_field::<u64>(env, m, atoms::max())?
        .unwrap_or(50)
        .min(10_000) as usize;
    q.flip_page = opt_field(env, m, atoms::flip_page())?.unwrap_or(false);
    q.count = opt_field(env, m, atoms::count())?.unwrap_or(false);
    q.rsm = if let Some(b) = get(env, m, atoms::before()) {
        if is_atom(b, atoms::last()) || Binary::from_term(b).map(|b| b.is_empty()).unwrap_or(false)
        {
            Rsm::Last
        } else if is_atom(b, atoms::undefined()) {
            Rsm::First
        } else {
            Rsm::Before(b.decode().map_err(|_| "bad before".to_string())?)
        }
    } else {
        Rsm::First
    };
    if let Some(a) = opt_field(env, m, atoms::after())? {
        q.rsm = Rsm::After(a);
    }
    if let Some(i) = opt_field(env, m, atoms::index())? {
        q.rsm = Rsm::Index(i);
    }
    Ok(q)
}

fn mam_error<'a>(env: Env<'a>, e: &MamError) -> Term<'a> {
    match e {
        MamError::AlreadyOpen => error_atom(env, atoms::already_open()),
        MamError::Closed => error_atom(env, atoms::closed()),
        MamError::BadInput(why) => bad_input(env, why),
        other => error_tuple(env, &other.to_string()),
    }
}

/// `{error, Reason}` with an atom reason.
fn error_atom(env: Env<'_>, reason: Atom) -> Term<'_> {
    wrap(
        env,
        tuple(env, &[atom(env, atoms::error()), atom(env, reason)]),
    )
}

fn atom(env: Env<'_>, atom: Atom) -> ERL_NIF_TERM {
    atom.to_term(env).as_c_arg()
}

fn bad_input<'a>(env: Env<'a>, why: &str) -> Term<'a> {
    let reason = tuple(
        env,
        &[atom(env, atoms::bad_input()), binary(env, why.as_bytes())],
    );
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
        [tag, a, m] if is_atom(*tag, atoms::message()) => Deletion::Message {
            archive_id: a.decode()?,
            mam_id: m.decode()?,
        },
        [tag, a] if is_atom(*tag, atoms::archive()) => Deletion::Archive {
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
            None => wrap(env, atom(env, atoms::undefined())),
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
        let undefined = atom(env, atoms::undefined());
        let ids: Vec<ERL_NIF_TERM> = page
            .ids
            .iter()
            .map(|id| id.encode(env).as_c_arg())
            .collect();
        let keys = [
            atom(env, atoms::ids()),
            atom(env, atoms::count()),
            atom(env, atoms::first_index()),
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
