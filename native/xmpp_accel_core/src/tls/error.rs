/// Errors of the TLS core. Texts follow fast_tls's where it has one
/// (`"SSL_do_handshake failed: ..."`), since callers log them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsError {
    /// The session was closed (`invalidate`) or the peer's first bytes are not
    /// TLS at all (garbage, an HTTP request): fast_tls's `{error, closed}`.
    #[error("closed")]
    Closed,
    /// Certificate, key, CA or DH file problems when opening a session.
    #[error("{0}")]
    Config(String),
    /// The handshake failed (a TLS alert is usually in the bytes to write).
    #[error("SSL_do_handshake failed: {0}")]
    Handshake(String),
    /// A record after the handshake was bad (bad MAC, unexpected message...).
    #[error("SSL_read failed: {0}")]
    Record(String),
    /// More ciphertext is waiting than [`crate::tls::DEFAULT_MAX_PENDING_INPUT`]
    /// (the caller fed data without reading the plaintext).
    #[error("too much data buffered")]
    TooMuchData,
}
