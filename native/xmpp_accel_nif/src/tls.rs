//! fast_tls: a TLS session resource over `xmpp_accel_core::tls::Session`.
//!
//! Return shapes are fast_tls 1.1.26's NIF shapes (the facade in
//! `erlang/apps/fast_tls` relies on them): `loop` gives
//! `{init | ok | {error, Reason}, ToWrite, Plaintext}` or `{error, closed}`.
//! On a dirty CPU scheduler (the normal twin answers `dirty`): handshake
//! steps that sign with a key measured slow to sign with (RSA on a slow
//! machine, see `Session::step_is_heavy`), steps over
//! [`budget::TLS_BYTES`], the first open of a configuration (files to read)
//! and verify results (chain checks, CA roots read on first use). Other
//! handshake steps take well under 1 ms and stay on normal schedulers.

use std::sync::Mutex;

use rustler::{Atom, Binary, Encoder, Env, NifResult, OwnedBinary, Resource, ResourceArc, Term};
use xmpp_accel_core::tls::{self, Options, Role, Session, StepTag, TlsError};

use crate::{atoms, budget, term};

/// One session; `None` after `invalidate` (fast_tls's `valid = 0`).
pub struct TlsResource {
    session: Mutex<Option<Session>>,
}

#[rustler::resource_impl]
impl Resource for TlsResource {}

const CONNECT: u32 = 2;
const VERIFY_NONE: u32 = 0x10000;
const OVERRIDE_CERT_PURPOSE: u32 = 0x200000;

fn iodata(t: Term<'_>) -> NifResult<Binary<'_>> {
    match Binary::from_term(t) {
        Ok(b) => Ok(b),
        Err(_) => Binary::from_iolist(t),
    }
}

fn string(t: Term<'_>) -> NifResult<String> {
    let b = iodata(t)?;
    String::from_utf8(b.as_slice().to_vec()).map_err(|_| rustler::Error::BadArg)
}

/// ALPN as fast_tls passes it: length-prefixed protocol names.
fn alpn_list(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while let Some((&len, tail)) = rest.split_first() {
        let len = len as usize;
        if len == 0 || tail.len() < len {
            break;
        }
        out.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    out
}

fn error_term<'a>(env: Env<'a>, e: &TlsError) -> Term<'a> {
    match e {
        TlsError::Closed => (atoms::error(), atoms::closed()).encode(env),
        other => term::error_tuple(env, &other.to_string()),
    }
}

fn bin<'a>(env: Env<'a>, bytes: &[u8]) -> Term<'a> {
    term::wrap(env, term::binary(env, bytes))
}

/// fast_tls's ten `open_nif` arguments, as a list: `[Flags, CertFile,
/// KeyFile, Ciphers, ProtocolOpts, DH, DHFile, CAFile, SNI, ALPN]`.
fn options(args: Term<'_>) -> NifResult<Options> {
    let args: Vec<Term<'_>> = args.decode()?;
    let [flags, certfile, keyfile, ciphers, protocol_options, _dh, dhfile, cafile, sni, alpn] =
        args[..]
    else {
        return Err(rustler::Error::BadArg);
    };
    let flags: u32 = flags.decode()?;
    Ok(Options {
        role: Some(if flags & 0xffff == CONNECT {
            Role::Client
        } else {
            Role::Server
        }),
        verify_none: flags & VERIFY_NONE != 0,
        override_cert_purpose: flags & OVERRIDE_CERT_PURPOSE != 0,
        certfile: string(certfile)?,
        keyfile: string(keyfile)?,
        cafile: string(cafile)?,
        dhfile: string(dhfile)?,
        ciphers: string(ciphers)?,
        protocol_options: string(protocol_options)?,
        sni: string(sni)?,
        alpn: alpn_list(iodata(alpn)?.as_slice()),
    })
}

fn opened<'a>(env: Env<'a>, session: Result<Session, TlsError>) -> Term<'a> {
    match session {
        Ok(s) => {
            let res = ResourceArc::new(TlsResource {
                session: Mutex::new(Some(s)),
            });
            (atoms::ok(), res).encode(env)
        }
        Err(e) => error_term(env, &e),
    }
}

/// `tls_open(Args)` (see [`options`]) -> `{ok, Session} | {error, binary()}
/// | dirty`: on a normal scheduler when the configuration is cached (no file
/// to read), else `dirty` (the facade calls `tls_open_dirty`).
#[rustler::nif]
fn tls_open<'a>(env: Env<'a>, args: Term<'a>) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    Ok(match Session::new_if_cached(&options(args)?) {
        Some(session) => opened(env, session),
        None => atoms::dirty().to_term(env),
    })
}

/// As `tls_open/1` on a dirty CPU scheduler: reads and parses the
/// certificate, key and DH files of a new configuration.
#[rustler::nif(schedule = "DirtyCpu")]
fn tls_open_dirty<'a>(env: Env<'a>, args: Term<'a>) -> NifResult<Term<'a>> {
    Ok(opened(env, Session::new(&options(args)?)))
}

/// A step's ciphertext, encoded and encrypted by rustls straight into the
/// binary the step returns (no intermediate buffer).
#[derive(Default)]
struct BinOut {
    bin: Option<OwnedBinary>,
    len: usize,
}

impl BinOut {
    /// Room for `more` bytes after the `len` written.
    fn reserve(&mut self, more: usize) -> &mut [u8] {
        let need = self.len + more;
        match &mut self.bin {
            None => self.bin = Some(OwnedBinary::new(need)),
            Some(b) if b.len() < need => b.realloc_or_copy(need.max(2 * b.len())),
            Some(_) => {}
        }
        let len = self.len;
        &mut self.bin.as_mut().expect("allocated above").as_mut_slice()[len..need]
    }

    fn into_term(self, env: Env<'_>) -> rustler::sys::ErlNifTerm {
        match self.bin {
            Some(mut b) if self.len > 0 => {
                if b.len() != self.len {
                    b.realloc_or_copy(self.len);
                }
                b.release(env).to_term(env).as_c_arg()
            }
            _ => term::binary(env, b""),
        }
    }
}

impl tls::CipherSink for BinOut {
    fn with_room(&mut self, room: usize, f: &mut dyn FnMut(&mut [u8]) -> usize) {
        let written = f(self.reserve(room)).min(room);
        self.len += written;
    }
}

fn loop_impl<'a>(
    env: Env<'a>,
    res: &TlsResource,
    to_send: Term<'a>,
    received: Term<'a>,
    want: i64,
    on_dirty: bool,
) -> NifResult<Term<'a>> {
    let to_send = iodata(to_send)?;
    let received = iodata(received)?;
    let mut guard = res.session.lock().unwrap_or_else(|e| e.into_inner());
    let Some(session) = guard.as_mut() else {
        return Ok(error_term(env, &TlsError::Closed));
    };
    if !on_dirty {
        // a slow signature in a handshake step, or a big step
        let heavy = session.step_is_heavy(received.len())
            || to_send.len() + received.len() + session.buffered() > budget::TLS_BYTES;
        if heavy {
            return Ok(atoms::dirty().to_term(env));
        }
    }
    let mut to_write = BinOut::default();
    let (tag, plaintext) =
        session.step_into(to_send.as_slice(), received.as_slice(), want, &mut to_write);
    drop(guard);
    let tag = match &tag {
        StepTag::Init => atoms::init().to_term(env),
        StepTag::Ok => atoms::ok().to_term(env),
        StepTag::Error(e) => error_term(env, e),
    };
    let out = [
        tag.as_c_arg(),
        to_write.into_term(env),
        term::binary(env, &plaintext),
    ];
    Ok(term::wrap(env, term::tuple(env, &out)))
}

/// `loop_nif(S, ToSend, Received, Want)` on a normal scheduler, or `dirty`.
#[rustler::nif]
fn tls_loop<'a>(
    env: Env<'a>,
    res: ResourceArc<TlsResource>,
    to_send: Term<'a>,
    received: Term<'a>,
    want: i64,
) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    loop_impl(env, &res, to_send, received, want, false)
}

/// As `tls_loop/4`, on a dirty CPU scheduler; never `dirty`.
#[rustler::nif(schedule = "DirtyCpu")]
fn tls_loop_dirty<'a>(
    env: Env<'a>,
    res: ResourceArc<TlsResource>,
    to_send: Term<'a>,
    received: Term<'a>,
    want: i64,
) -> NifResult<Term<'a>> {
    loop_impl(env, &res, to_send, received, want, true)
}

fn with_session<'a, F>(env: Env<'a>, res: &TlsResource, f: F) -> Term<'a>
where
    F: FnOnce(&mut Session) -> Term<'a>,
{
    let mut guard = res.session.lock().unwrap_or_else(|e| e.into_inner());
    match guard.as_mut() {
        Some(s) => f(s),
        None => error_term(env, &TlsError::Closed),
    }
}

/// `{ok, DER} | {error, binary()} | {error, closed}`.
#[rustler::nif]
fn tls_peer_certificate(env: Env<'_>, res: ResourceArc<TlsResource>) -> Term<'_> {
    with_session(env, &res, |s| match s.peer_certificate() {
        Some(der) => {
            let der = bin(env, der);
            (atoms::ok(), der).encode(env)
        }
        None => term::error_tuple(env, "SSL_get_peer_certificate failed"),
    })
}

/// `{ok, X509VerifyCode} | {error, closed}`. Dirty: chain checks, and the
/// first use of the system roots reads them from disk.
#[rustler::nif(schedule = "DirtyCpu")]
fn tls_verify_result(env: Env<'_>, res: ResourceArc<TlsResource>) -> Term<'_> {
    with_session(env, &res, |s| (atoms::ok(), s.verify_result()).encode(env))
}

/// Frees the session; later calls give `{error, closed}`.
#[rustler::nif]
fn tls_invalidate(res: ResourceArc<TlsResource>) -> Atom {
    *res.session.lock().unwrap_or_else(|e| e.into_inner()) = None;
    atoms::ok()
}

/// `<<"TLSv1.3 TLS_AES_256_GCM_SHA384">>`, or `{error, closed}`.
#[rustler::nif]
fn tls_negotiated_cipher(env: Env<'_>, res: ResourceArc<TlsResource>) -> Term<'_> {
    with_session(env, &res, |s| {
        let text = s
            .negotiated_cipher()
            .unwrap_or_else(|| "(NONE) (NONE)".into());
        bin(env, text.as_bytes())
    })
}

/// tls-unique (RFC 5929) is not exposed by rustls: `{error, undefined}`
/// for both ends (fast_tls gives the same on TLS 1.3).
#[rustler::nif]
fn tls_finished(env: Env<'_>, res: ResourceArc<TlsResource>, _which: Atom) -> Term<'_> {
    with_session(env, &res, |_| {
        (atoms::error(), atoms::undefined()).encode(env)
    })
}

/// tls-exporter (RFC 9266): `{ok, <<_:256>>} | {error, undefined | closed}`.
#[rustler::nif]
fn tls_cb_exporter(env: Env<'_>, res: ResourceArc<TlsResource>) -> Term<'_> {
    with_session(env, &res, |s| match s.channel_binding_exporter() {
        Some(v) => {
            let v = bin(env, &v);
            (atoms::ok(), v).encode(env)
        }
        None => (atoms::error(), atoms::undefined()).encode(env),
    })
}

/// The ALPN protocol chosen: `{ok, binary()} | {error, undefined | closed}`.
#[rustler::nif]
fn tls_alpn(env: Env<'_>, res: ResourceArc<TlsResource>) -> Term<'_> {
    with_session(env, &res, |s| match s.alpn_protocol() {
        Some(p) => {
            let p = bin(env, p);
            (atoms::ok(), p).encode(env)
        }
        None => (atoms::error(), atoms::undefined()).encode(env),
    })
}

#[rustler::nif]
fn tls_add_certfile(domain: Term<'_>, file: Term<'_>) -> NifResult<Atom> {
    tls::certs::add_certfile(&string(domain)?, &string(file)?);
    Ok(atoms::ok())
}

#[rustler::nif]
fn tls_delete_certfile(domain: Term<'_>) -> NifResult<bool> {
    Ok(tls::certs::delete_certfile(&string(domain)?))
}

/// `{ok, File} | error`.
#[rustler::nif]
fn tls_get_certfile<'a>(env: Env<'a>, domain: Term<'a>) -> NifResult<Term<'a>> {
    Ok(match tls::certs::get_certfile(&string(domain)?) {
        Some(f) => {
            let f = bin(env, f.as_bytes());
            (atoms::ok(), f).encode(env)
        }
        None => atoms::error().to_term(env),
    })
}

#[rustler::nif]
fn tls_clear_cache() -> Atom {
    tls::clear_cache();
    atoms::ok()
}
