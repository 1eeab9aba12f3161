//! One TLS connection in fast_tls's memory-BIO style (see [`Session::step`]).

use std::io::{Read, Write};
use std::sync::Arc;

use rustls::pki_types::ServerName;
use rustls::{ClientConnection, Connection, ServerConnection};

use super::config::{cached, config_for, Config, Kind};
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

/// A TLS client or server session.
pub struct Session {
    conn: Connection,
    /// Plaintext given before the handshake finished.
    queued: Vec<u8>,
    /// Ciphertext received but not yet given to rustls.
    pending_in: Vec<u8>,
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
    /// A server has answered the ClientHello.
    answered_hello: bool,
    verify_cache: Option<i64>,
    max_pending_input: usize,
}

/// fast_tls's text when neither SNI nor its own certfile gives a certificate.
const NO_CERTIFICATE: &str = "Failed to find a certificate matching the domain in SNI extension";

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
        let mut conn: Connection = match config.kind {
            Kind::Server(cfg) => ServerConnection::new(cfg)
                .map_err(|e| TlsError::Config(e.to_string()))?
                .into(),
            Kind::Client(cfg) => {
                // without {sni, Name} no server name is sent (an IP address
                // name is never sent); names are not verified (see verify)
                let name = ServerName::try_from(opts.sni.clone()).unwrap_or(ServerName::IpAddress(
                    std::net::Ipv4Addr::UNSPECIFIED.into(),
                ));
                ClientConnection::new(cfg, name)
                    .map_err(|e| TlsError::Config(e.to_string()))?
                    .into()
            }
        };
        conn.set_buffer_limit(None);
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
            failed: None,
            refuse,
            cafile: opts.cafile.clone(),
            roots: None,
            purpose,
            role,
            slow_to_sign: config.slow_to_sign,
            answered_hello: false,
            verify_cache: None,
            max_pending_input: DEFAULT_MAX_PENDING_INPUT,
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
        if !self.conn.is_handshaking() || received + self.pending_in.len() == 0 {
            return false;
        }
        match self.role {
            Role::Server => {
                !self.answered_hello
                    && (self.slow_to_sign || super::certs::registry_may_sign_slowly())
            }
            Role::Client => self.slow_to_sign,
        }
    }

    /// True until the handshake has finished.
    pub fn is_handshaking(&self) -> bool {
        self.conn.is_handshaking()
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

    /// As [`Session::step`], with the ciphertext to write appended to `out`
    /// (the NIF writes it straight into the binary it returns: one
    /// allocation and one copy less per record than `step`). Gives the tag
    /// and the plaintext received.
    pub fn step_into(
        &mut self,
        to_send: &[u8],
        received: &[u8],
        want: i64,
        out: &mut dyn Write,
    ) -> (StepTag, Vec<u8>) {
        let mut plaintext = Vec::new();
        if self.failed.is_none() {
            if let Err(e) = self.take_input(received, want, &mut plaintext) {
                self.failed = Some(e);
            }
        }
        if let Some(e) = &self.failed {
            let tag = StepTag::Error(e.clone());
            self.drain_output(out);
            return (tag, plaintext);
        }
        let tag = if self.conn.is_handshaking() {
            self.queued.extend_from_slice(to_send);
            StepTag::Init
        } else {
            let mut w = self.conn.writer();
            // the buffer limit is off: writes never fall short
            if !self.queued.is_empty() {
                let queued = std::mem::take(&mut self.queued);
                let _ = w.write_all(&queued);
            }
            if !to_send.is_empty() {
                let _ = w.write_all(to_send);
            }
            StepTag::Ok
        };
        self.drain_output(out);
        (tag, plaintext)
    }

    fn take_input(
        &mut self,
        received: &[u8],
        want: i64,
        out: &mut Vec<u8>,
    ) -> Result<(), TlsError> {
        if self.refuse && !received.is_empty() {
            return Err(TlsError::Handshake("no protocols available".into()));
        }
        if self.pending_in.len() + received.len() > self.max_pending_input {
            return Err(TlsError::TooMuchData);
        }
        // held-back ciphertext comes first; without any, `received` is read
        // in place
        let held;
        let mut rest: &[u8] = if self.pending_in.is_empty() {
            received
        } else {
            let mut input = std::mem::take(&mut self.pending_in);
            input.extend_from_slice(received);
            held = input;
            &held
        };
        let limit = if want < 0 { usize::MAX } else { want as usize };
        loop {
            self.read_plaintext(limit, out);
            // handshake records are always processed (even with want = 0);
            // once established, ciphertext waits while the caller has enough
            if rest.is_empty() || (out.len() >= limit && !self.conn.is_handshaking()) {
                break;
            }
            let handshaking = self.conn.is_handshaking();
            match self.conn.read_tls(&mut rest) {
                Ok(0) => break,
                Ok(_) => {}
                Err(e) => return Err(TlsError::Record(e.to_string())),
            }
            if let Err(e) = self.conn.process_new_packets() {
                return Err(tls_error(&e, handshaking));
            }
        }
        self.read_plaintext(limit, out);
        self.pending_in = rest.to_vec();
        Ok(())
    }

    fn read_plaintext(&mut self, limit: usize, out: &mut Vec<u8>) {
        let room = limit.saturating_sub(out.len());
        if room > 0 {
            // ends at WouldBlock (nothing more for now) or at the peer's
            // close_notify; the bytes read are in `out` either way
            let _ = self.conn.reader().take(room as u64).read_to_end(out);
        }
    }

    fn drain_output(&mut self, out: &mut dyn Write) {
        while self.conn.wants_write() {
            match self.conn.write_tls(out) {
                Ok(0) | Err(_) => break,
                Ok(_) => {}
            }
        }
    }

    /// The peer's certificate (DER), when it sent one.
    pub fn peer_certificate(&self) -> Option<&[u8]> {
        self.conn.peer_certificates()?.first().map(|c| c.as_ref())
    }

    /// OpenSSL's `X509_V_*` code for the peer's chain (0 when none was sent).
    pub fn verify_result(&mut self) -> i64 {
        if let Some(code) = self.verify_cache {
            return code;
        }
        let code = match self.conn.peer_certificates() {
            Some(chain) => {
                let roots = self.roots.get_or_insert_with(|| roots_for(&self.cafile));
                verify_code(chain, roots, self.purpose)
            }
            None => return 0,
        };
        if !self.conn.is_handshaking() {
            self.verify_cache = Some(code);
        }
        code
    }

    /// `"<version> <cipher>"` with OpenSSL's names, e.g.
    /// `"TLSv1.3 TLS_AES_256_GCM_SHA384"`; `None` before the handshake.
    pub fn negotiated_cipher(&self) -> Option<String> {
        let version = match self.conn.protocol_version()? {
            rustls::ProtocolVersion::TLSv1_3 => "TLSv1.3",
            rustls::ProtocolVersion::TLSv1_2 => "TLSv1.2",
            _ => "unknown",
        };
        let suite = self.conn.negotiated_cipher_suite()?.suite();
        Some(format!("{version} {}", super::ciphers::openssl_name(suite)))
    }

    /// The protocol chosen by ALPN (RFC 7301), if any.
    pub fn alpn_protocol(&self) -> Option<&[u8]> {
        self.conn.alpn_protocol()
    }

    /// The tls-exporter channel binding (RFC 9266): 32 bytes exported with
    /// the label `EXPORTER-Channel-Binding` and an empty context.
    pub fn channel_binding_exporter(&self) -> Option<[u8; 32]> {
        if self.conn.is_handshaking() {
            return None;
        }
        self.conn
            .export_keying_material([0u8; 32], b"EXPORTER-Channel-Binding", Some(b""))
            .ok()
    }

    /// Bytes held for the caller: received ciphertext not yet processed and
    /// plaintext queued before the handshake.
    pub fn buffered(&self) -> usize {
        self.pending_in.len() + self.queued.len()
    }
}
