//! One TLS connection in fast_tls's memory-BIO style (see [`Session::step`]).
//!
//! On rustls's unbuffered API: the session owns no receive or send buffer
//! of rustls's (the buffered API keeps a 4 KB receive buffer for the life of
//! the connection); ciphertext that ends in the middle of a record is the
//! only input kept between steps, and ciphertext is written straight into
//! the caller's [`CipherSink`].

use std::cell::RefCell;
use std::sync::Arc;

use rustls::client::UnbufferedClientConnection;
use rustls::pki_types::ServerName;
use rustls::server::UnbufferedServerConnection;
use rustls::unbuffered::{ConnectionState, EncodeError, EncryptError, UnbufferedStatus};
use rustls::CommonState;

use super::config::{cached, config_for, Config, Kind};
use super::exporter::{self, ExporterSecret, HelloScan};
use super::verify::{roots_for, verify_code, Purpose, Roots};
use super::{Options, Role, TlsError};

/// Default limit of received ciphertext held while the caller reads
/// plaintext in small amounts (`recv(S, N)`): 16 MiB.
pub const DEFAULT_MAX_PENDING_INPUT: usize = 16 << 20;

/// The first element of fast_tls's `loop_nif` result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StepTag {
    /// The handshake is not finished (`init`).
    Init,
    /// Established (`ok`).
    Ok,
    /// Failed; the bytes to write usually hold a TLS alert.
    Error(TlsError),
}

/// What one step produced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    pub tag: StepTag,
    /// Ciphertext for the peer (write it to the socket).
    pub to_write: Vec<u8>,
    /// Plaintext received.
    pub plaintext: Vec<u8>,
}

/// Where a step writes the ciphertext for the peer: rustls encodes and
/// encrypts records straight into the room the sink gives.
pub trait CipherSink {
    /// Gives `f` at least `room` writable bytes after those written so far;
    /// `f` returns how many of them it wrote (0 to `room`).
    fn with_room(&mut self, room: usize, f: &mut dyn FnMut(&mut [u8]) -> usize);
}

impl CipherSink for Vec<u8> {
    fn with_room(&mut self, room: usize, f: &mut dyn FnMut(&mut [u8]) -> usize) {
        let len = self.len();
        self.resize(len + room, 0);
        let written = f(&mut self[len..]).min(room);
        self.truncate(len + written);
    }
}

/// One rustls connection, either side.
enum Conn {
    Server(UnbufferedServerConnection),
    Client(UnbufferedClientConnection),
}

impl Conn {
    fn common(&self) -> &CommonState {
        match self {
            Conn::Server(c) => c,
            Conn::Client(c) => c,
        }
    }
}

/// The exporter secret with the server random a TLS 1.2 exporter needs.
struct Exporter {
    secret: ExporterSecret,
    server_random: Option<[u8; 32]>,
}

/// A TLS client or server session.
pub struct Session {
    conn: Conn,
    /// Plaintext given before the handshake finished.
    queued: Vec<u8>,
    /// Ciphertext received that ends in the middle of a record.
    pending_in: Vec<u8>,
    /// Plaintext decrypted and not yet given (`want` was reached).
    pending_out: Vec<u8>,
    /// Bytes at the front of `pending_out` already given.
    pending_out_start: usize,
    failed: Option<TlsError>,
    /// No protocol version is left (`no_tlsv1_2|no_tlsv1_3`).
    refuse: bool,
    /// CA file for verify codes (its roots are read when first needed).
    cafile: String,
    roots: Option<Arc<Roots>>,
    purpose: Purpose,
    role: Role,
    /// Own key is slow to sign with (see [`Session::step_is_heavy`]).
    slow_to_sign: bool,
    verify_cache: Option<i64>,
    max_pending_input: usize,
    /// Reads the server random during the handshake (for TLS 1.2 exporters).
    hello_scan: Option<Box<HelloScan>>,
    exporter: Option<Box<Exporter>>,
}

/// fast_tls's text when neither SNI nor its own certfile gives a certificate.
const NO_CERTIFICATE: &str = "Failed to find a certificate matching the domain in SNI extension";

/// The ServerHello random that marks a HelloRetryRequest (RFC 8446
/// section 4.1.3).
const HELLO_RETRY_REQUEST_RANDOM: [u8; 32] = [
    0xcf, 0x21, 0xad, 0x74, 0xe5, 0x9a, 0x61, 0x11, 0xbe, 0x1d, 0x8c, 0x02, 0x1e, 0x65, 0xb8, 0x91,
    0xc2, 0xa2, 0x11, 0x16, 0x7a, 0xbb, 0x8c, 0x5e, 0x07, 0x9e, 0x09, 0xe2, 0xc8, 0xa8, 0x33, 0x9c,
];

/// Room first offered for one handshake record (most are smaller; a
/// bigger one is written on a second try with the size rustls asks for).
const HANDSHAKE_ROOM: usize = 2048;

/// Room per record of application data beyond its plaintext (header, AEAD
/// tag, TLS 1.3 content type, TLS 1.2 explicit nonce: 29 at most).
const RECORD_OVERHEAD: usize = 64;
/// Largest plaintext in one record (RFC 8446 section 5.1).
const MAX_FRAGMENT: usize = 16 * 1024;

/// Input buffers kept per thread up to this size between steps.
const SCRATCH_KEEP: usize = 64 * 1024;

thread_local! {
    /// The buffer a step decrypts in when the session holds no partial
    /// record, so that a session keeps no input buffer while idle.
    static SCRATCH: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

fn tls_error(e: &rustls::Error, handshaking: bool) -> TlsError {
    match e {
        // not TLS at all (HTTP, garbage): fast_tls reports `closed`
        rustls::Error::InvalidMessage(_) if handshaking => TlsError::Closed,
        // the resolver found nothing (see certs::SniResolver)
        rustls::Error::General(m) if handshaking && m.contains("no server certificate") => {
            TlsError::Config(NO_CERTIFICATE.into())
        }
        _ if handshaking => TlsError::Handshake(e.to_string()),
        _ => TlsError::Record(e.to_string()),
    }
}

/// What a state asked of the step loop.
enum Next {
    /// Call rustls again.
    Again,
    /// Nothing more to do in this step.
    Stop,
    /// Failed.
    Failed(rustls::Error),
}

/// Handles one state of rustls's unbuffered state machine: plaintext to
/// `plain`, records to `out` (the server's ServerHello also to `scan`);
/// `to_send` is taken and encrypted when rustls allows application data.
/// Gives what to do next and the input bytes to discard beyond rustls's.
fn handle_state<Data>(
    state: Result<ConnectionState<'_, '_, Data>, rustls::Error>,
    plain: &mut Vec<u8>,
    out: &mut dyn CipherSink,
    to_send: &mut Option<&[u8]>,
    scan: Option<&mut HelloScan>,
) -> (Next, usize) {
    let mut discard = 0;
    let next = match state {
        Err(e) => Next::Failed(e),
        Ok(ConnectionState::ReadTraffic(mut traffic)) => {
            while let Some(record) = traffic.next_record() {
                match record {
                    Ok(record) => {
                        discard += record.discard;
                        plain.extend_from_slice(record.payload);
                    }
                    Err(e) => return (Next::Failed(e), discard),
                }
            }
            Next::Again
        }
        Ok(ConnectionState::EncodeTlsData(mut encode)) => {
            let mut need = HANDSHAKE_ROOM;
            let mut scan = scan;
            for _ in 0..2 {
                let mut retry = None;
                out.with_room(need, &mut |room| match encode.encode(room) {
                    Ok(n) => {
                        if let Some(scan) = scan.as_deref_mut() {
                            scan.feed(&room[..n]);
                        }
                        n
                    }
                    Err(EncodeError::InsufficientSize(s)) => {
                        retry = Some(s.required_size);
                        0
                    }
                    Err(_) => 0,
                });
                match retry {
                    Some(n) => need = n,
                    None => break,
                }
            }
            Next::Again
        }
        Ok(ConnectionState::TransmitTlsData(transmit)) => {
            // the records are in `out` already
            transmit.done();
            Next::Again
        }
        Ok(ConnectionState::WriteTraffic(mut traffic)) => match to_send.take() {
            Some(data) => {
                let mut result = Ok(());
                for piece in data.chunks(MAX_FRAGMENT * 4) {
                    let mut need =
                        piece.len() + piece.len().div_ceil(MAX_FRAGMENT) * RECORD_OVERHEAD;
                    for _ in 0..2 {
                        let mut retry = None;
                        out.with_room(need, &mut |room| match traffic.encrypt(piece, room) {
                            Ok(n) => n,
                            Err(EncryptError::InsufficientSize(s)) => {
                                retry = Some(s.required_size);
                                0
                            }
                            Err(EncryptError::EncryptExhausted) => {
                                result = Err(rustls::Error::EncryptError);
                                0
                            }
                        });
                        match retry {
                            Some(n) => need = n,
                            None => break,
                        }
                    }
                    if result.is_err() {
                        break;
                    }
                }
                match result {
                    Ok(()) => Next::Stop,
                    Err(e) => Next::Failed(e),
                }
            }
            None => Next::Stop,
        },
        Ok(ConnectionState::PeerClosed) => Next::Again,
        // 0-RTT is never accepted (no tickets, `max_early_data_size` 0)
        Ok(ConnectionState::ReadEarlyData(_)) => {
            Next::Failed(rustls::Error::General("unexpected early data".into()))
        }
        Ok(ConnectionState::BlockedHandshake | ConnectionState::Closed) => Next::Stop,
        Ok(_) => Next::Stop,
    };
    (next, discard)
}

impl Session {
    /// A new session; a client's first step gives its ClientHello.
    /// Errors: certificate, key and DH file problems ([`TlsError::Config`]).
    pub fn new(opts: &Options) -> Result<Session, TlsError> {
        Session::with_config(opts, config_for(opts)?)
    }

    /// As [`Session::new`] when the configuration for `opts` is cached
    /// (nothing to read from files: about 10 us), else `None`.
    pub fn new_if_cached(opts: &Options) -> Option<Result<Session, TlsError>> {
        cached(opts).map(|config| Session::with_config(opts, config))
    }

    fn with_config(opts: &Options, config: Config) -> Result<Session, TlsError> {
        let flags = opts.protocol_flags();
        let refuse = !flags.tls12 && !flags.tls13;
        let conn = match config.kind {
            Kind::Server(cfg) => Conn::Server(
                UnbufferedServerConnection::new(cfg)
                    .map_err(|e| TlsError::Config(e.to_string()))?,
            ),
            Kind::Client(cfg) => {
                // without {sni, Name} no server name is sent (an IP address
                // name is never sent); names are not verified (see verify)
                let name = ServerName::try_from(opts.sni.clone()).unwrap_or(ServerName::IpAddress(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                ));
                Conn::Client(
                    UnbufferedClientConnection::new(cfg, name)
                        .map_err(|e| TlsError::Config(e.to_string()))?,
                )
            }
        };
        let role = opts.role();
        let purpose = match role {
            Role::Client => Purpose::Server,
            Role::Server if opts.override_cert_purpose => Purpose::Server,
            Role::Server => Purpose::Client,
        };
        Ok(Session {
            conn,
            queued: Vec::new(),
            pending_in: Vec::new(),
            pending_out: Vec::new(),
            pending_out_start: 0,
            failed: None,
            refuse,
            cafile: opts.cafile.clone(),
            roots: None,
            purpose,
            role,
            slow_to_sign: config.slow_to_sign,
            verify_cache: None,
            max_pending_input: DEFAULT_MAX_PENDING_INPUT,
            hello_scan: Some(Box::default()),
            exporter: None,
        })
    }

    /// Whether the next step with `received` bytes may sign with a key that
    /// is slow to sign with (measured when loaded: RSA-2048 takes 0.2 ms to
    /// over 1 ms depending on the machine; see `certs::SLOW_SIGNATURE`) and
    /// so belongs on a dirty scheduler: a server answering a ClientHello
    /// (with its own certificate, or possibly one chosen by SNI), a client
    /// with such a client certificate during its handshake. Other handshake
    /// work (ECDSA signing, X25519, ML-KEM, verifying) takes tens of us.
    pub fn step_is_heavy(&self, received: usize) -> bool {
        if !self.is_handshaking() || received + self.pending_in.len() == 0 {
            return false;
        }
        match self.role {
            Role::Server => {
                !self.answered_hello()
                    && (self.slow_to_sign || super::certs::registry_may_sign_slowly())
            }
            Role::Client => self.slow_to_sign,
        }
    }

    /// A server's ServerHello went out (read by the hello scan, which lives
    /// until the handshake ends). A HelloRetryRequest is not an answer: the
    /// signature comes with the next ClientHello.
    fn answered_hello(&self) -> bool {
        let random = self.hello_scan.as_ref().and_then(|scan| scan.random());
        random.is_some_and(|r| r != HELLO_RETRY_REQUEST_RANDOM)
    }

    /// True until the handshake has finished.
    pub fn is_handshaking(&self) -> bool {
        self.conn.common().is_handshaking()
    }

    /// fast_tls's `loop_nif(S, ToSend, Received, Want)`: takes the ciphertext
    /// `received` from the peer and the plaintext `to_send` (queued until the
    /// handshake is done), and gives the ciphertext to write and at most
    /// `want` bytes of plaintext (`want < 0`: all there is; `0`: none, the
    /// rest stays for later steps). A failure is sticky: later steps repeat it.
    pub fn step(&mut self, to_send: &[u8], received: &[u8], want: i64) -> Step {
        let mut to_write = Vec::new();
        let (tag, plaintext) = self.step_into(to_send, received, want, &mut to_write);
        Step {
            tag,
            to_write,
            plaintext,
        }
    }

    /// As [`Session::step`], with the ciphertext to write given to `out`
    /// (the NIF has rustls write it straight into the binary it returns).
    /// Gives the tag and the plaintext received.
    pub fn step_into(
        &mut self,
        to_send: &[u8],
        received: &[u8],
        want: i64,
        out: &mut dyn CipherSink,
    ) -> (StepTag, Vec<u8>) {
        if let Some(e) = &self.failed {
            // sticky: nothing more is read or given
            return (StepTag::Error(e.clone()), Vec::new());
        }
        if let Err(e) = self.run(to_send, received, out) {
            self.failed = Some(e);
            self.pending_in = Vec::new();
        }
        let plaintext = self.give_plaintext(want);
        if let Some(e) = &self.failed {
            return (StepTag::Error(e.clone()), plaintext);
        }
        let tag = if self.is_handshaking() {
            StepTag::Init
        } else {
            StepTag::Ok
        };
        (tag, plaintext)
    }

    /// At most `want` bytes of the decrypted plaintext (all when negative).
    fn give_plaintext(&mut self, want: i64) -> Vec<u8> {
        let held = self.pending_out.len() - self.pending_out_start;
        let limit = usize::try_from(want).unwrap_or(usize::MAX);
        if limit >= held {
            let mut all = std::mem::take(&mut self.pending_out);
            all.drain(..std::mem::take(&mut self.pending_out_start));
            return all;
        }
        let from = self.pending_out_start;
        self.pending_out_start += limit;
        let given = self.pending_out[from..from + limit].to_vec();
        if self.pending_out_start > self.pending_out.len() / 2 {
            self.pending_out.drain(..self.pending_out_start);
            self.pending_out_start = 0;
        }
        given
    }

    /// Feeds `received` to rustls until it needs more input, writing what it
    /// asks to `out`, and encrypts the queued and `to_send` plaintext once
    /// established.
    fn run(
        &mut self,
        to_send: &[u8],
        received: &[u8],
        out: &mut dyn CipherSink,
    ) -> Result<(), TlsError> {
        if self.refuse && !received.is_empty() {
            return Err(TlsError::Handshake("no protocols available".into()));
        }
        if self.buffered() + received.len() > self.max_pending_input {
            return Err(TlsError::TooMuchData);
        }
        let mut to_send = to_send;
        if self.is_handshaking() {
            // sent, after what was queued before, once established
            self.queued.extend_from_slice(to_send);
            to_send = b"";
            exporter::clear_captured();
            if self.role == Role::Client {
                if let Some(scan) = self.hello_scan.as_deref_mut() {
                    scan.feed(received);
                }
            }
        }
        // the step works in this thread's scratch buffer, a partial record
        // held from before first
        let mut input = SCRATCH.with(|s| std::mem::take(&mut *s.borrow_mut()));
        input.extend_from_slice(&std::mem::take(&mut self.pending_in));
        input.extend_from_slice(received);
        let result = self.process(&mut input, to_send, out);
        if result.is_ok() && !input.is_empty() {
            // only a partial record is held between steps, in a buffer of
            // its size
            self.pending_in = input.clone();
        }
        input.clear();
        if input.capacity() <= SCRATCH_KEEP {
            SCRATCH.with(|s| *s.borrow_mut() = input);
        }
        result
    }

    /// The step loop over `input`; leaves in `input` the bytes rustls has
    /// not taken (a partial record).
    fn process(
        &mut self,
        input: &mut Vec<u8>,
        to_send: &[u8],
        out: &mut dyn CipherSink,
    ) -> Result<(), TlsError> {
        let mut start = 0;
        let mut failure: Option<TlsError> = None;
        // rustls takes at least a record or gives a record per round; the
        // bound only guards against a state that never changes
        let max_rounds = input.len() + 64;
        for _ in 0..max_rounds {
            let handshaking = self.is_handshaking();
            let (next, discard) = self.process_once(&mut input[start..], &mut None, out);
            start += discard;
            if handshaking {
                self.after_handshake_round();
            }
            if failure.is_some() {
                // the one call after a failure gave the alert rustls queued;
                // calling again would read the bad record again
                break;
            }
            match next {
                Next::Again => {}
                Next::Failed(e) => failure = Some(tls_error(&e, handshaking)),
                Next::Stop => break,
            }
        }
        if failure.is_none() && !self.is_handshaking() {
            match self.send(&mut input[start..], to_send, out) {
                Ok(discard) => start += discard,
                Err(e) => failure = Some(e),
            }
        }
        input.drain(..start.min(input.len()));
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Encrypts the plaintext queued during the handshake, then `to_send`.
    /// All of `input` has been taken by rustls but a partial record, so
    /// rustls is ready for application data. Gives the input bytes rustls
    /// is done with (none expected).
    fn send(
        &mut self,
        input: &mut [u8],
        to_send: &[u8],
        out: &mut dyn CipherSink,
    ) -> Result<usize, TlsError> {
        let queued;
        let data = if self.queued.is_empty() {
            to_send
        } else {
            self.queued.extend_from_slice(to_send);
            queued = std::mem::take(&mut self.queued);
            &queued[..]
        };
        if data.is_empty() {
            return Ok(0);
        }
        let mut sending = Some(data);
        let mut start = 0;
        for _ in 0..8 {
            let (next, discard) = self.process_once(&mut input[start..], &mut sending, out);
            start += discard;
            match next {
                Next::Failed(e) => return Err(tls_error(&e, false)),
                Next::Again if sending.is_some() => {}
                _ => break,
            }
        }
        if let Some(data) = sending {
            // rustls did not get to sending (a closed connection): kept
            self.queued = data.to_vec();
        }
        Ok(start)
    }

    /// One call into rustls and the handling of the state it gives; returns
    /// what to do next and how many input bytes rustls is done with.
    fn process_once(
        &mut self,
        buf: &mut [u8],
        sending: &mut Option<&[u8]>,
        out: &mut dyn CipherSink,
    ) -> (Next, usize) {
        let scan = match (self.role, self.hello_scan.as_deref_mut()) {
            (Role::Server, Some(scan)) if !scan.is_done() => Some(scan),
            _ => None,
        };
        let plain = &mut self.pending_out;
        let (next, discard, extra) = match &mut self.conn {
            Conn::Server(c) => {
                let UnbufferedStatus { discard, state } = c.process_tls_records(buf);
                let (next, extra) = handle_state(state, plain, out, sending, scan);
                (next, discard, extra)
            }
            Conn::Client(c) => {
                let UnbufferedStatus { discard, state } = c.process_tls_records(buf);
                let (next, extra) = handle_state(state, plain, out, sending, scan);
                (next, discard, extra)
            }
        };
        (next, discard + extra)
    }

    /// After a call into rustls during the handshake: takes the exporter
    /// secret, and at the end keeps what exporters need.
    fn after_handshake_round(&mut self) {
        if self.exporter.is_none() {
            if let Some(secret) = exporter::take_captured() {
                self.exporter = Some(Box::new(Exporter {
                    secret,
                    server_random: None,
                }));
            }
        }
        if !self.is_handshaking() {
            self.finish_handshake();
        }
    }

    /// Keeps what exporters need once the handshake is over.
    fn finish_handshake(&mut self) {
        let random = self.hello_scan.take().and_then(|scan| scan.random());
        if let Some(exporter) = self.exporter.as_deref_mut() {
            exporter.server_random = random;
        }
    }

    /// The peer's certificate (DER), when it sent one.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn
            .common()
            .peer_certificates()?
            .first()
            .map(|c| c.as_ref())
    }

    /// OpenSSL's `X509_V_*` code for the peer's chain (0 when none was sent).
    pub fn verify_result(&mut self) -> i64 {
        if let Some(code) = self.verify_cache {
            return code;
        }
        let code = match self.conn.common().peer_certificates() {
            Some(chain) => {
                let roots = self.roots.get_or_insert_with(|| roots_for(&self.cafile));
                verify_code(chain, roots, self.purpose)
            }
            None => return 0,
        };
        if !self.is_handshaking() {
            self.verify_cache = Some(code);
        }
        code
    }

    /// `"<version> <cipher>"` with OpenSSL's names, e.g.
    /// `"TLSv1.3 TLS_AES_256_GCM_SHA384"`; `None` before the handshake.
    pub fn negotiated_cipher(&self) -> Option<String> {
        let version = match self.conn.common().protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "unknown",
        };
        let suite = self.conn.common().negotiated_cipher_suite()?.suite();
        Some(format!("{version} {}", super::ciphers::openssl_name(suite)))
    }

    /// The protocol chosen by ALPN (RFC 7301), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.common().alpn_protocol()
    }

    /// The tls-exporter channel binding (RFC 9266): 32 bytes exported with
    /// the label `EXPORTER-Channel-Binding` and an empty context.
    pub fn channel_binding_exporter(&self) -> Option<[u8; 32]> {
        if self.is_handshaking() {
            return None;
        }
        let exporter = self.exporter.as_deref()?;
        let suite = self.conn.common().negotiated_cipher_suite()?;
        let mut out = [0u8; 32];
        exporter::export(
            suite,
            &exporter.secret,
            exporter.server_random.as_ref(),
            b"EXPORTER-Channel-Binding",
            Some(b""),
            &mut out,
        )?;
        Some(out)
    }

    /// Bytes held for the caller: received ciphertext not yet processed and
    /// plaintext queued before the handshake or decrypted and not yet given.
    pub fn buffered(&self) -> usize {
        self.pending_in.len() + self.queued.len() + self.pending_out.len() - self.pending_out_start
    }
}
