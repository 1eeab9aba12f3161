//! c2s over WebSocket (RFC 7395), forwarded to the backend as a plain TCP
//! XMPP stream.
//!
//! Client to server: each WebSocket text message holds one element, checked
//! by the core's framer in [`Mode::Elements`]: `<open/>` becomes a stream
//! header, `<close/>` the stream's end, stanzas go on as the client wrote
//! them. Server to client: the server's stream is framed, its header becomes
//! `<open/>`, its end `<close/>`, and each stanza one message, with the
//! namespace declarations RFC 7395 §3.3.3 asks for added to its first tag
//! (`xmlns='jabber:client'`, or `xmlns:stream=...` for `stream:features` and
//! `stream:error`).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::{sleep_until, Instant};
use tokio_tungstenite::tungstenite::handshake::server::{ErrorResponse, Request, Response};
use tokio_tungstenite::tungstenite::http::{HeaderValue, StatusCode};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::WebSocketStream;
use xmpp_accel_core::xml::framing::{stream_error_condition, FrameKind, Framer};
use xmpp_accel_core::xml::{Element, Limits as XmlLimits, Mode};

use super::conn::Close;
use super::Ctx;
use super::Phase;

const NS_FRAMING: &str = "urn:ietf:params:xml:ns:xmpp-framing";
const NS_STREAMS: &str = "http://etherx.jabber.org/streams";
const NS_STREAM_ERRORS: &str = "urn:ietf:params:xml:ns:xmpp-streams";

/// The WebSocket opening handshake with subprotocol `xmpp` (RFC 7395 §3.2);
/// a client that does not offer it is refused with 400.
pub async fn accept<S>(io: S, max_message: usize) -> Result<WebSocketStream<S>, String>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    // the error type is tungstenite's Callback contract
    #[allow(clippy::result_large_err)]
    let check = |req: &Request, mut resp: Response| -> Result<Response, ErrorResponse> {
        let offers_xmpp = req
            .headers()
            .get_all("Sec-WebSocket-Protocol")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|p| p.trim().eq_ignore_ascii_case("xmpp"));
        if !offers_xmpp {
            let mut e =
                ErrorResponse::new(Some("the xmpp subprotocol is required (RFC 7395)".into()));
            *e.status_mut() = StatusCode::BAD_REQUEST;
            return Err(e);
        }
        resp.headers_mut()
            .insert("Sec-WebSocket-Protocol", HeaderValue::from_static("xmpp"));
        Ok(resp)
    };
    let mut config = WebSocketConfig::default();
    config.max_message_size = Some(max_message);
    config.max_frame_size = Some(max_message);
    tokio_tungstenite::accept_hdr_async_with_config(io, check, Some(config))
        .await
        .map_err(|e| e.to_string())
}

/// `<open/>` as a stream header for the backend.
fn stream_header_from_open(open: &Element) -> Vec<u8> {
    let mut out = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'".to_vec();
    for (k, v) in &open.attrs {
        if k == "xmlns" {
            continue;
        }
        out.push(b' ');
        out.extend_from_slice(k.as_bytes());
        out.push(b'=');
        xmpp_accel_core::xml::escape::write_attr_value(v.as_bytes(), &mut out);
    }
    out.push(b'>');
    out
}

/// The server's stream header as `<open/>`.
fn open_from_stream_header(header: &Element) -> String {
    let mut out = format!("<open xmlns='{NS_FRAMING}'");
    let mut buf = Vec::new();
    for (k, v) in &header.attrs {
        if k == "xmlns" || k.starts_with("xmlns:") {
            continue;
        }
        buf.clear();
        xmpp_accel_core::xml::escape::write_attr_value(v.as_bytes(), &mut buf);
        out.push(' ');
        out.push_str(k);
        out.push('=');
        out.push_str(&String::from_utf8_lossy(&buf));
    }
    out.push_str("/>");
    out
}

/// A stanza from the TCP stream, namespace-complete for RFC 7395 §3.3.3.
fn namespaced(bytes: &[u8], name: &str, has_xmlns: bool) -> String {
    let at = 1 + name.len();
    let decl = if name.starts_with("stream:") {
        format!(" xmlns:stream='{NS_STREAMS}'")
    } else if !has_xmlns && !name.contains(':') {
        " xmlns='jabber:client'".to_owned()
    } else {
        String::new()
    };
    let mut s = String::with_capacity(bytes.len() + decl.len());
    s.push_str(&String::from_utf8_lossy(&bytes[..at]));
    s.push_str(&decl);
    s.push_str(&String::from_utf8_lossy(&bytes[at..]));
    s
}

fn ws_stream_error(condition: &str, text: &str) -> String {
    let mut t = Vec::new();
    xmpp_accel_core::xml::escape::escape_text(text.as_bytes(), &mut t);
    let text = if text.is_empty() {
        String::new()
    } else {
        format!(
            "<text xmlns='{NS_STREAM_ERRORS}'>{}</text>",
            String::from_utf8_lossy(&t)
        )
    };
    format!("<stream:error xmlns:stream='{NS_STREAMS}'><{condition} xmlns='{NS_STREAM_ERRORS}'/>{text}</stream:error>")
}

/// Forwards both ways until one side ends.
pub async fn pump<S, B>(ctx: &Ctx, ws: &mut WebSocketStream<S>, backend: &mut B) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let limits = **ctx.limits.load();
    let mut inbound = Framer::with_mode(Mode::Elements, limits.xml());
    let mut outbound = Framer::new(XmlLimits {
        max_element_size: 0,
        max_depth: usize::MAX,
        max_attrs: usize::MAX,
    });
    let idle = Duration::from_secs(limits.idle_timeout_secs);
    let mut idle_at = Instant::now() + idle;
    let mut first_stanza =
        Some(Instant::now() + Duration::from_millis(limits.first_stanza_timeout_ms));
    let mut shutdown = ctx.shutdown.clone();
    let mut buf = vec![0u8; 16 * 1024];
    let mut bucket = super::shaper::TokenBucket::new(limits.rate_bytes_per_sec, limits.burst_bytes);
    loop {
        if *shutdown.borrow() == Phase::Stop {
            return end(
                ctx,
                ws,
                backend,
                "system-shutdown",
                "the edge is shutting down",
            )
            .await;
        }
        let deadline = first_stanza.map_or(idle_at, |f| f.min(idle_at));
        tokio::select! {
            msg = ws.next() => {
                idle_at = Instant::now() + idle;
                let data = match msg {
                    None => { let _ = backend.shutdown().await; return Close::ClientClosed; }
                    Some(Err(e)) => return Close::Io(format!("websocket: {e}")),
                    Some(Ok(Message::Text(t))) => t.as_str().as_bytes().to_vec(),
                    Some(Ok(Message::Binary(_))) => {
                        return end(ctx, ws, backend, "bad-format", "binary WebSocket messages are not allowed (RFC 7395)").await;
                    }
                    Some(Ok(Message::Close(_))) => {
                        let _ = backend.write_all(b"</stream:stream>").await;
                        let _ = backend.shutdown().await;
                        return Close::ClientClosed;
                    }
                    Some(Ok(_)) => continue, // ping/pong: tungstenite answers pings
                };
                let wait = bucket.take(data.len());
                if !wait.is_zero() {
                    ctx.metrics.refused("rate");
                    tokio::time::sleep(wait).await;
                }
                let pushed = inbound.push(&data);
                let mut out = Vec::with_capacity(data.len() + 128);
                let mut closing = false;
                for f in inbound.frames() {
                    if f.kind != FrameKind::Stanza {
                        continue;
                    }
                    let local = f.name.rsplit(':').next().unwrap_or(&f.name);
                    let el = inbound.element(f);
                    let framing_ns = el.as_ref().and_then(|e| e.attr("xmlns")) == Some(NS_FRAMING);
                    match (local, framing_ns) {
                        ("open", true) => out.extend_from_slice(&stream_header_from_open(&el.unwrap_or_default())),
                        ("close", true) => { out.extend_from_slice(b"</stream:stream>"); closing = true; }
                        _ => {
                            first_stanza = None;
                            ctx.metrics.stanzas_in.count(&f.name);
                            out.extend_from_slice(&inbound.ready()[f.range.clone()]);
                        }
                    }
                }
                if !out.is_empty() {
                    if let Err(e) = backend.write_all(&out).await {
                        return Close::Io(format!("backend: {e}"));
                    }
                }
                if let Err(e) = pushed {
                    let cond = stream_error_condition(&e);
                    return end(ctx, ws, backend, cond, &e.to_string()).await;
                }
                inbound.consume();
                if closing {
                    let _ = backend.shutdown().await;
                }
            }
            n = backend.read(&mut buf) => {
                idle_at = Instant::now() + idle;
                let n = match n {
                    Ok(0) | Err(_) => {
                        let _ = ws.close(None).await;
                        return Close::BackendClosed;
                    }
                    Ok(n) => n,
                };
                if let Err(e) = outbound.push(&buf[..n]) {
                    tracing::warn!(listener = %ctx.metrics.name, error = %e, "backend stream not framed");
                    let _ = ws.close(None).await;
                    return Close::Io(format!("backend stream: {e}"));
                }
                let mut msgs = Vec::new();
                for f in outbound.frames() {
                    let bytes = &outbound.ready()[f.range.clone()];
                    match f.kind {
                        FrameKind::StreamHeader => {
                            msgs.push(open_from_stream_header(&outbound.element(f).unwrap_or_default()));
                        }
                        FrameKind::Stanza => {
                            ctx.metrics.stanzas_out.count(&f.name);
                            let has_xmlns = outbound.element(f).is_some_and(|e| e.attr("xmlns").is_some());
                            msgs.push(namespaced(bytes, &f.name, has_xmlns));
                        }
                        FrameKind::StreamEnd => msgs.push(format!("<close xmlns='{NS_FRAMING}'/>")),
                    }
                }
                outbound.consume();
                for m in msgs {
                    if let Err(e) = ws.feed(Message::text(m)).await {
                        return Close::Io(format!("websocket: {e}"));
                    }
                }
                if let Err(e) = ws.flush().await {
                    return Close::Io(format!("websocket: {e}"));
                }
            }
            _ = sleep_until(deadline) => {
                let limit = if first_stanza.is_some_and(|f| f <= Instant::now()) { "first_stanza_timeout" } else { "idle_timeout" };
                ctx.metrics.refused(limit);
                return end(ctx, ws, backend, "connection-timeout", "").await;
            }
            _ = shutdown.changed() => continue,
        }
    }
}

async fn end<S, B>(
    ctx: &Ctx,
    ws: &mut WebSocketStream<S>,
    backend: &mut B,
    condition: &'static str,
    text: &str,
) -> Close
where
    S: AsyncRead + AsyncWrite + Unpin,
    B: AsyncWrite + Unpin,
{
    ctx.metrics.stream_error(condition);
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        ws.send(Message::text(ws_stream_error(condition, text)))
            .await?;
        ws.send(Message::text(format!("<close xmlns='{NS_FRAMING}'/>")))
            .await?;
        ws.close(None).await
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        backend.write_all(b"</stream:stream>").await?;
        backend.shutdown().await
    })
    .await;
    Close::StreamError(condition, text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn translations() {
        let open = Element::parse(
            b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' to='example.com' version='1.0'/>",
        )
        .unwrap();
        let h = String::from_utf8(stream_header_from_open(&open)).unwrap();
        assert!(
            h.ends_with(
                "xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>"
            ),
            "{h}"
        );
        let hdr = Element::parse(b"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='a&amp;b' from='example.com' version='1.0'/>").unwrap();
        assert_eq!(
            open_from_stream_header(&hdr),
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing' id='a&amp;b' from='example.com' version='1.0'/>"
        );
        assert_eq!(
            namespaced(b"<message to='a'/>", "message", false),
            "<message xmlns='jabber:client' to='a'/>"
        );
        assert_eq!(
            namespaced(b"<iq xmlns='jabber:client'/>", "iq", true),
            "<iq xmlns='jabber:client'/>"
        );
        assert_eq!(
            namespaced(b"<stream:features><bind/></stream:features>", "stream:features", false),
            "<stream:features xmlns:stream='http://etherx.jabber.org/streams'><bind/></stream:features>"
        );
        assert_eq!(
            namespaced(b"<r xmlns='urn:xmpp:sm:3'/>", "r", true),
            "<r xmlns='urn:xmpp:sm:3'/>"
        );
    }
}
