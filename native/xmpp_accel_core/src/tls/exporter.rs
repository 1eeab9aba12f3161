//! Keying material exporters (RFC 5705 for TLS 1.2, RFC 8446 section 7.5
//! for TLS 1.3) for sessions on rustls's unbuffered API, which has no
//! `export_keying_material` of its own.
//!
//! The secret comes from rustls through a [`KeyLog`] that keeps it for the
//! session being stepped on this thread ([`take_captured`] after each call
//! into rustls): the TLS 1.3 exporter master secret (`EXPORTER_SECRET`), or
//! the TLS 1.2 master secret (`CLIENT_RANDOM`) with the client random. A
//! TLS 1.2 exporter also needs the server random, read from the ServerHello
//! as it passes ([`HelloScan`]). Secrets are zeroed when dropped.

use std::cell::RefCell;

use rustls::crypto::tls13::{HkdfExpander, OkmBlock};
use rustls::{KeyLog, SupportedCipherSuite};
use zeroize::Zeroizing;

/// What a finished handshake leaves for exporters.
pub(crate) enum ExporterSecret {
    /// TLS 1.3: the exporter master secret.
    Tls13(Zeroizing<Vec<u8>>),
    /// TLS 1.2: the master secret and the client random; the server random
    /// is added when the ServerHello has been seen.
    Tls12 {
        master: Zeroizing<Vec<u8>>,
        client_random: [u8; 32],
    },
}

thread_local! {
    static CAPTURED: RefCell<Option<ExporterSecret>> = const { RefCell::new(None) };
}

/// Drops whatever an earlier call on this thread left behind.
pub(crate) fn clear_captured() {
    CAPTURED.with(|c| c.borrow_mut().take());
}

/// The secret logged by the last calls into rustls on this thread, if any.
pub(crate) fn take_captured() -> Option<ExporterSecret> {
    CAPTURED.with(|c| c.borrow_mut().take())
}

/// The [`KeyLog`] of every fast_tls-style configuration: keeps the exporter
/// secrets of the session being stepped on this thread, logs nothing.
#[derive(Debug)]
pub(crate) struct CaptureExporterSecret;

impl KeyLog for CaptureExporterSecret {
    fn log(&self, label: &str, client_random: &[u8], secret: &[u8]) {
        let captured = match label {
            "EXPORTER_SECRET" => ExporterSecret::Tls13(Zeroizing::new(secret.to_vec())),
            "CLIENT_RANDOM" => {
                let Ok(client_random) = <[u8; 32]>::try_from(client_random) else {
                    return;
                };
                ExporterSecret::Tls12 {
                    master: Zeroizing::new(secret.to_vec()),
                    client_random,
                }
            }
            _ => return,
        };
        CAPTURED.with(|c| *c.borrow_mut() = Some(captured));
    }

    fn will_log(&self, label: &str) -> bool {
        matches!(label, "EXPORTER_SECRET" | "CLIENT_RANDOM")
    }
}

/// Exports `out.len()` bytes (RFC 5705 / RFC 8446 section 7.5) for `label`
/// and `context` (`None`: no context; for TLS 1.3 the same as empty).
/// `None` when the suite and secret do not match or, for TLS 1.2, the
/// server random was not seen.
pub(crate) fn export(
    suite: SupportedCipherSuite,
    secret: &ExporterSecret,
    server_random: Option<&[u8; 32]>,
    label: &[u8],
    context: Option<&[u8]>,
    out: &mut [u8],
) -> Option<()> {
    match (suite, secret) {
        (SupportedCipherSuite::Tls13(suite), ExporterSecret::Tls13(secret)) => {
            let hash = suite.common.hash_provider;
            // Derive-Secret(Secret, label, "")
            let first = suite.hkdf_provider.expander_for_okm(&OkmBlock::new(secret));
            let empty = hash.hash(b"");
            let derived = expand_label_block(&*first, label, empty.as_ref())?;
            // HKDF-Expand-Label(derived, "exporter", Hash(context), L)
            let second = suite.hkdf_provider.expander_for_okm(&derived);
            let context_hash = hash.hash(context.unwrap_or_default());
            expand_label_slice(&*second, b"exporter", context_hash.as_ref(), out)
        }
        (
            SupportedCipherSuite::Tls12(suite),
            ExporterSecret::Tls12 {
                master,
                client_random,
            },
        ) => {
            let mut seed = Vec::with_capacity(66 + context.map_or(0, <[u8]>::len));
            seed.extend_from_slice(client_random);
            seed.extend_from_slice(server_random?);
            if let Some(context) = context {
                let len = u16::try_from(context.len()).ok()?;
                seed.extend_from_slice(&len.to_be_bytes());
                seed.extend_from_slice(context);
            }
            suite.prf_provider.for_secret(out, master, label, &seed);
            Some(())
        }
        _ => None,
    }
}

/// The `HkdfLabel` of RFC 8446 section 7.1, as the pieces of `info`.
fn with_label_info<T>(
    len: usize,
    label: &[u8],
    context: &[u8],
    f: impl FnOnce(&[&[u8]]) -> T,
) -> Option<T> {
    let len = u16::try_from(len).ok()?.to_be_bytes();
    let label_len = [u8::try_from(6 + label.len()).ok()?];
    let context_len = [u8::try_from(context.len()).ok()?];
    Some(f(&[
        &len,
        &label_len,
        b"tls13 ",
        label,
        &context_len,
        context,
    ]))
}

fn expand_label_block(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
) -> Option<OkmBlock> {
    with_label_info(expander.hash_len(), label, context, |info| {
        expander.expand_block(info)
    })
}

fn expand_label_slice(
    expander: &dyn HkdfExpander,
    label: &[u8],
    context: &[u8],
    out: &mut [u8],
) -> Option<()> {
    with_label_info(out.len(), label, context, |info| {
        expander.expand_slice(info, out)
    })?
    .ok()
}

/// Reads the server random out of the first handshake message of a
/// plaintext record stream (a ServerHello: type 2, length, version, then
/// the 32-byte random), fed in pieces of any size. Records of other types
/// are skipped, handshake records are joined, so a fragmented ServerHello
/// is read too.
#[derive(Default)]
pub(crate) struct HelloScan {
    header: [u8; 5],
    header_len: usize,
    /// Payload bytes left in the current record.
    left: usize,
    /// The current record is a handshake record.
    handshake: bool,
    /// The first bytes of the handshake messages (at most 38).
    hello: Vec<u8>,
}

/// Handshake message type, version and random: 1 + 3 + 2 + 32.
const HELLO_PREFIX: usize = 38;

impl HelloScan {
    /// Feeds the next bytes of the stream; gives the random once it has
    /// been read. After the first 38 bytes of handshake messages
    /// ([`HelloScan::is_done`]) nothing more is read: if they were not a
    /// ServerHello, there is no random.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> Option<[u8; 32]> {
        while !bytes.is_empty() && self.hello.len() < HELLO_PREFIX {
            if self.header_len < 5 {
                let n = (5 - self.header_len).min(bytes.len());
                self.header[self.header_len..self.header_len + n].copy_from_slice(&bytes[..n]);
                self.header_len += n;
                bytes = &bytes[n..];
                if self.header_len == 5 {
                    self.left = usize::from(u16::from_be_bytes([self.header[3], self.header[4]]));
                    self.handshake = self.header[0] == 22;
                }
            } else {
                let n = self.left.min(bytes.len());
                if self.handshake {
                    let want = (HELLO_PREFIX - self.hello.len()).min(n);
                    self.hello.extend_from_slice(&bytes[..want]);
                }
                self.left -= n;
                bytes = &bytes[n..];
            }
            if self.header_len == 5 && self.left == 0 {
                self.header_len = 0;
            }
        }
        self.random()
    }

    /// The random, when a whole ServerHello prefix has been read.
    pub(crate) fn random(&self) -> Option<[u8; 32]> {
        if self.hello.len() < HELLO_PREFIX || self.hello[0] != 2 {
            return None;
        }
        self.hello[6..HELLO_PREFIX].try_into().ok()
    }

    /// True once nothing more can be learnt from the stream.
    pub(crate) fn is_done(&self) -> bool {
        self.hello.len() >= HELLO_PREFIX
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(payload.len() as u16).to_be_bytes());
        r.extend_from_slice(payload);
        r
    }

    fn server_hello(random: [u8; 32]) -> Vec<u8> {
        let mut m = vec![2, 0, 0, 70, 3, 3];
        m.extend_from_slice(&random);
        m.extend_from_slice(&[0; 38]);
        m
    }

    #[test]
    fn reads_the_random_in_pieces_of_any_size_and_across_records() {
        let random: [u8; 32] = std::array::from_fn(|i| i as u8 + 1);
        let hello = server_hello(random);
        // one record, or the message split over records of 7 bytes, after
        // a ChangeCipherSpec record
        let mut split = record(20, &[1]);
        for part in hello.chunks(7) {
            split.extend(record(22, part));
        }
        for stream in [record(22, &hello), split] {
            for piece in [1, 2, 5, 6, 13, stream.len()] {
                let mut scan = HelloScan::default();
                let mut got = None;
                for chunk in stream.chunks(piece) {
                    got = got.or(scan.feed(chunk));
                }
                assert_eq!(got, Some(random), "piece {piece}");
                assert!(scan.is_done());
            }
        }
    }

    #[test]
    fn anything_but_a_server_hello_gives_no_random() {
        let mut m = server_hello([9; 32]);
        m[0] = 1; // a ClientHello
        let mut scan = HelloScan::default();
        assert_eq!(scan.feed(&record(22, &m)), None);
        assert!(scan.is_done());
        let mut scan = HelloScan::default();
        assert_eq!(scan.feed(&record(22, &m[..20])), None);
        assert!(!scan.is_done());
    }
}
