//! Stream framing for an edge that forwards validated bytes (the sidecar).
//!
//! A [`Framer`] takes the bytes a client sends, in chunks of any size, runs
//! every byte through the strict stream [`Parser`] (XML 1.0 restricted as in
//! RFC 6120 §11, with [`Limits`] checked before memory is spent) and hands
//! back the bytes of complete top-level units only: the stream header, each
//! stanza, white space between them, the stream's end. Those bytes are the
//! client's own, never re-serialised. Bytes of a unit still in progress are
//! held until it completes, so a unit that turns out to be bad is never
//! forwarded: the error ([`XmlError`]) comes instead, with the RFC 6120
//! §4.9.3 stream error condition for it ([`stream_error_condition`]).
//!
//! ```
//! use xmpp_accel_core::xml::framing::{Framer, FrameKind};
//! let mut f = Framer::new(Default::default());
//! f.push(b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a'><message><bo").unwrap();
//! assert_eq!(f.ready(), &b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='a'>"[..]);
//! assert!(matches!(f.frames()[0].kind, FrameKind::StreamHeader));
//! f.consume();
//! f.push(b"dy>hi</body></message>").unwrap();
//! assert_eq!(f.ready(), &b"<message><body>hi</body></message>"[..]);
//! assert_eq!(f.frames()[0].name, "message");
//! ```

use std::ops::Range;

use super::error::XmlError;
use super::limits::Limits;
use super::parser::{Mode, Parser};
use super::tape::{Event, Item};
use super::tree::Element;

/// What a frame holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameKind {
    /// A stream header `<stream:stream ...>` (RFC 6120 §4.2), or a restart of it.
    StreamHeader,
    /// A top-level element: a stanza or a stream-level element (`<starttls/>`, `<auth/>`...).
    Stanza,
    /// The stream's closing tag (RFC 6120 §4.4).
    StreamEnd,
}

/// One complete unit among the bytes of [`Framer::ready`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Frame {
    pub kind: FrameKind,
    /// Its bytes in [`Framer::ready`], from its `<` to its last `>` (white
    /// space or an XML declaration before it are outside the range, but
    /// forwarded all the same).
    pub range: Range<usize>,
    /// The element's qualified name as written (`message`, `stream:stream`,
    /// `starttls`); empty for none.
    pub name: String,
    /// Its item range on the parser's tape (for [`Framer::element`]).
    items: Range<usize>,
}

/// An incremental framer over one client-to-server byte stream.
#[derive(Debug)]
pub struct Framer {
    parser: Parser,
    /// Bytes received and not yet consumed: `held[..ready]` is complete.
    held: Vec<u8>,
    /// Absolute offset (in the parser's count) of `held[0]`.
    base: u64,
    ready: usize,
    frames: Vec<Frame>,
}

/// Buffers larger than this are freed when they empty, so an idle
/// connection does not keep the memory of its largest stanza.
const KEEP_CAPACITY: usize = 512;

impl Framer {
    /// A framer for an XMPP stream (RFC 6120) with these limits.
    pub fn new(limits: Limits) -> Self {
        Self::with_mode(Mode::Stream, limits)
    }

    /// A framer for `mode`: [`Mode::Stream`] for TCP streams, [`Mode::Elements`]
    /// for RFC 7395 (XMPP over WebSocket: `<open/>`, stanzas, `<close/>`).
    pub fn with_mode(mode: Mode, limits: Limits) -> Self {
        Framer {
            parser: Parser::new(mode, limits),
            held: Vec::new(),
            base: 0,
            ready: 0,
            frames: Vec::new(),
        }
    }

    /// The limits in force.
    pub fn limits(&self) -> Limits {
        self.parser.limits()
    }

    /// Changes the limits (a reload); the stream goes on where it was.
    pub fn set_limits(&mut self, limits: Limits) {
        self.parser.set_limits(limits);
    }

    /// Reads one more chunk. On success, [`Framer::ready`] may have grown.
    ///
    /// Errors are final for this stream (the caller ends it). Units that
    /// were complete before the fault are still in [`Framer::ready`] (the
    /// caller may forward them before ending the stream): what is ready
    /// after an error does not depend on how the input was chunked.
    pub fn push(&mut self, data: &[u8]) -> Result<(), XmlError> {
        self.held.extend_from_slice(data);
        let before = self.parser.tape().events.len();
        let fed = self.parser.feed(data);
        self.harvest(before);
        // Up to the first byte of the unit in progress (or at fault): the
        // same bytes whatever the chunking.
        self.ready = (self.parser.committed_offset() - self.base) as usize;
        fed
    }

    /// Frames for the events the last feed added.
    fn harvest(&mut self, before: usize) {
        let spans = self.parser.event_spans();
        let tape = self.parser.tape();
        let new = tape.events.len().min(spans.len());
        for (event, &(start, end)) in tape.events[before.min(new)..new]
            .iter()
            .zip(&spans[before.min(new)..new])
        {
            let (start, end) = ((start - self.base) as usize, (end - self.base) as usize);
            let (kind, items) = match event {
                Event::StreamStart(r) => (FrameKind::StreamHeader, r.clone()),
                Event::Element(r) => (FrameKind::Stanza, r.clone()),
                Event::StreamEnd(_) => (FrameKind::StreamEnd, 0..0),
                Event::StreamText(_) => continue,
            };
            let name = match (kind, tape.items.get(items.start)) {
                (FrameKind::StreamEnd, _) => match event {
                    Event::StreamEnd(span) => String::from_utf8_lossy(tape.get(*span)).into_owned(),
                    _ => String::new(),
                },
                (_, Some(Item::Start { name, .. })) => {
                    String::from_utf8_lossy(tape.get(*name)).into_owned()
                }
                _ => String::new(),
            };
            self.frames.push(Frame {
                kind,
                range: start..end,
                name,
                items,
            });
        }
    }

    /// The bytes of complete units, as received: forward these.
    pub fn ready(&self) -> &[u8] {
        &self.held[..self.ready]
    }

    /// The complete units among [`Framer::ready`], in order.
    pub fn frames(&self) -> &[Frame] {
        &self.frames
    }

    /// The element of a frame (a stream header comes with its attributes and
    /// no children), for the few the edge reads itself (`<starttls/>`).
    pub fn element(&self, frame: &Frame) -> Option<Element> {
        if frame.kind == FrameKind::StreamEnd {
            return None;
        }
        Some(Element::from_tape(self.parser.tape(), frame.items.clone()))
    }

    /// Drops [`Framer::ready`] and its frames (after forwarding them).
    pub fn consume(&mut self) {
        self.held.drain(..self.ready);
        self.base += self.ready as u64;
        self.ready = 0;
        self.frames.clear();
        self.parser.clear_events();
        if self.held.is_empty() && self.held.capacity() > KEEP_CAPACITY {
            self.held = Vec::new();
        }
        self.parser.shrink_buffers(KEEP_CAPACITY);
    }

    /// Every byte received and not yet consumed, complete or not (for a
    /// caller that gives up framing and passes bytes on as they are).
    pub fn held(&self) -> &[u8] {
        &self.held
    }

    /// Bytes held for an unfinished unit (and ready bytes not yet consumed).
    pub fn held_bytes(&self) -> usize {
        self.held.len() + self.parser.buffered_bytes()
    }

    /// Starts a new stream (after STARTTLS, SASL or a WebSocket reopen):
    /// forgets all state and any bytes not yet consumed.
    pub fn restart(&mut self) {
        self.parser.reset();
        self.held.clear();
        self.base = 0;
        self.ready = 0;
        self.frames.clear();
    }
}

/// The RFC 6120 §4.9.3 stream error condition for a refused stream.
///
/// - `restricted-xml` (§4.9.3.18): comments, processing instructions, DTDs (§11.1);
/// - `policy-violation` (§4.9.3.14): a stanza over a configured limit (size, depth, attributes);
/// - `not-well-formed` (§4.9.3.13): everything else.
pub fn stream_error_condition(error: &XmlError) -> &'static str {
    match error {
        XmlError::CommentNotAllowed | XmlError::PiNotAllowed | XmlError::DtdNotAllowed => {
            "restricted-xml"
        }
        XmlError::ElementTooBig | XmlError::TooDeep(_) | XmlError::TooManyAttributes(_) => {
            "policy-violation"
        }
        _ => "not-well-formed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Run = (Vec<u8>, Vec<(FrameKind, String, Vec<u8>)>, Option<XmlError>);

    const HEADER: &[u8] =
        b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

    fn run(chunks: &[&[u8]], limits: Limits) -> Run {
        let mut f = Framer::new(limits);
        let mut out = Vec::new();
        let mut frames = Vec::new();
        for c in chunks {
            if let Err(e) = f.push(c) {
                return (out, frames, Some(e));
            }
            for fr in f.frames() {
                frames.push((
                    fr.kind,
                    fr.name.clone(),
                    f.ready()[fr.range.clone()].to_vec(),
                ));
            }
            out.extend_from_slice(f.ready());
            f.consume();
        }
        (out, frames, None)
    }

    #[test]
    fn frames_header_stanzas_and_end() {
        let mut input = HEADER.to_vec();
        input.extend_from_slice(
            b"\n <message to='b@x'><body>a &amp; b</body></message><presence/></stream:stream>",
        );
        let (out, frames, err) = run(&[&input], Limits::default());
        assert_eq!(err, None);
        assert_eq!(out, input);
        let kinds: Vec<_> = frames.iter().map(|f| (f.0, f.1.as_str())).collect();
        assert_eq!(
            kinds,
            [
                (FrameKind::StreamHeader, "stream:stream"),
                (FrameKind::Stanza, "message"),
                (FrameKind::Stanza, "presence"),
                (FrameKind::StreamEnd, "stream:stream")
            ]
        );
        assert_eq!(
            frames[1].2,
            b"<message to='b@x'><body>a &amp; b</body></message>"
        );
        assert_eq!(frames[2].2, b"<presence/>");
    }

    #[test]
    fn holds_an_unfinished_stanza_and_never_forwards_a_bad_one() {
        let mut f = Framer::new(Limits::default());
        f.push(HEADER).unwrap();
        f.consume();
        f.push(b"<message><body>half").unwrap();
        assert!(f.ready().is_empty());
        let e = f.push(b"</bodx></message>").unwrap_err();
        assert!(matches!(e, XmlError::MismatchedTag { .. }));
        assert_eq!(stream_error_condition(&e), "not-well-formed");
    }

    #[test]
    fn limits_give_policy_violation_before_the_stanza_completes() {
        let limits = Limits {
            max_element_size: 200,
            ..Limits::default()
        };
        let mut f = Framer::new(limits);
        f.push(HEADER).unwrap();
        f.consume();
        f.push(b"<a>").unwrap();
        let e = f.push(&[b'x'; 300]).unwrap_err();
        assert_eq!(stream_error_condition(&e), "policy-violation");
        let mut f = Framer::new(Limits::default());
        f.push(HEADER).unwrap();
        let e = f.push(&b"<a>".repeat(300)).unwrap_err();
        assert_eq!(stream_error_condition(&e), "policy-violation");
        let mut f = Framer::new(Limits::default());
        f.push(HEADER).unwrap();
        let e = f.push(b"<!-- hi -->").unwrap_err();
        assert_eq!(stream_error_condition(&e), "restricted-xml");
    }

    #[test]
    fn element_of_a_frame_and_restart() {
        let mut f = Framer::new(Limits::default());
        f.push(HEADER).unwrap();
        let header = f.element(&f.frames()[0].clone()).unwrap();
        assert_eq!(header.attr("to"), Some("example.com"));
        f.consume();
        f.push(b"<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>")
            .unwrap();
        let el = f.element(&f.frames()[0].clone()).unwrap();
        assert_eq!(el.name, "starttls");
        assert_eq!(el.attr("xmlns"), Some("urn:ietf:params:xml:ns:xmpp-tls"));
        f.restart();
        f.push(HEADER).unwrap();
        assert_eq!(f.frames()[0].kind, FrameKind::StreamHeader);
        assert_eq!(f.ready(), HEADER);
    }
}
