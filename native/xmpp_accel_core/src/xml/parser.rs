//! The incremental XML parser behind both the stream parser and the
//! whole-element parse.
//!
//! Input comes in chunks of any size, cut anywhere (inside a tag, an
//! attribute, a reference, a UTF-8 sequence). Bytes are parsed once: complete
//! text is decoded as soon as it arrives, and only an unfinished markup token
//! (or the last few bytes of text that may start a reference or a character)
//! is kept for the next chunk. quick-xml reads each markup token; text,
//! references and all well-formedness checks are done here.
//!
//! Chunking: however the input is cut, the caller sees the same thing.
//! Precisely, for any input and any way of cutting it into chunks, fed in
//! order and followed by [`Parser::check_pending`]:
//! - the events are the same (elements with the same names, attributes,
//!   children and text; the same stream headers and ends), in the same
//!   order, up to the first error; text between stanzas
//!   ([`Parser::with_stream_text`]) may come in more, shorter
//!   [`Event::StreamText`] pieces, whose concatenation is the same (it is
//!   passed on up to an error inside it, as expat does);
//! - the verdict is the same: no error, or the same error (same variant,
//!   same text).
//!
//! Without the final [`Parser::check_pending`] one thing may differ: a start
//! or end tag that is still unfinished is not scanned again while chunks
//! without a `>` extend it (so a huge tag fed in small chunks costs linear
//! time), so an error inside it is reported when its `>` arrives, or by
//! [`Parser::check_pending`], not by the chunk that brought the bad byte.
//! Every other error comes from the chunk that completes the faulty token.
//!
//! With a `max_element_size`, an unfinished stanza is measured after each
//! chunk (exml's rule: one that already holds the limit can only grow past
//! it). So the verdict is still the same (an error or none) and so are the
//! events, but which error may differ: cut early, `element too big`; fed
//! whole, possibly an error in a later token of that oversized stanza.
//!
//! Restricted XML (RFC 6120 §11.1): in a stream, comments, processing
//! instructions and DTDs are errors; an XML declaration may precede a
//! stream header. In a whole-element parse, comments and processing
//! instructions are skipped (as exml and fast_xml do) and DTDs are errors.

use super::chars::{check_name, check_text, incomplete_utf8_tail};
use super::error::{lossy, XmlError};
use super::escape::{
    is_whitespace, normalize_line_ends_into, unescape_into, Context, MAX_REFERENCE,
};
use super::limits::Limits;
use super::namespaces::Scopes;
use super::tag::{is_ascii_name_start, scan_end, scan_start, AttrRange, Scan, COLON, OTHER};
use super::tape::{Event, Item, Tape};
use memchr::{memchr, memrchr};
use quick_xml::errors::{Error as QxError, SyntaxError};
use quick_xml::events::Event as QxEvent;
use quick_xml::Reader;

/// How top-level content is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// An XMPP stream (RFC 6120 §4): a stream header, stanzas, the closing tag.
    /// A new stream header with the root's name inside an open stream starts a
    /// new stream (stream restart after STARTTLS or SASL), as exml does.
    Stream,
    /// A sequence of whole top-level elements, as framed by RFC 7395
    /// (XMPP over WebSocket: `<open/>`, stanzas, `<close/>`).
    Elements,
    /// Exactly one root element (a whole-element parse).
    Document,
}

/// What becomes of character data made only of white space between two
/// pieces of markup (indentation, typically).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Whitespace {
    /// Kept as text, as XML 1.0 and expat (fast_xml) do.
    Keep,
    /// Dropped, as exml (RapidXML) does: a run of raw white space between
    /// two markup tokens inside a stanza is no child at all (text between
    /// stanzas, see [`Parser::with_stream_text`], is passed on as it is). White space inside other text,
    /// in CDATA sections, or written as references (`&#32;`) is kept.
    DropBetweenMarkup,
}

/// An incremental parser. Feed it chunks; complete events appear on its tape.
#[derive(Debug)]
pub struct Parser {
    mode: Mode,
    limits: Limits,
    tape: Tape,
    /// Bytes of an unfinished token kept from the previous chunk.
    pending: Vec<u8>,
    /// Absolute input offset of the first byte not yet consumed.
    offset: u64,
    /// Names of the open elements of the current stanza, concatenated.
    open_names: Vec<u8>,
    open_lens: Vec<usize>,
    /// Absolute offset of the current stanza's `<`, and where its items and bytes begin on the tape.
    elem_start: u64,
    elem_item: usize,
    elem_byte: usize,
    /// The stream root's name while a stream is open.
    stream_name: Option<Vec<u8>>,
    /// Namespace prefixes in scope (the stream header's, then the open elements').
    scopes: Scopes,
    /// Document mode: the root element has been parsed.
    root_done: bool,
    /// A parser that failed stays failed until reset.
    failed: Option<XmlError>,
    whitespace: Whitespace,
    /// The run of character data since the last markup token: where its
    /// decoded bytes start on the tape, and whether it is white space only.
    segment: Option<(usize, bool)>,
    /// Scratch: attribute ranges of the tag being read.
    attr_ranges: Vec<AttrRange>,
    /// Character data between stanzas becomes [`Event::StreamText`] instead
    /// of an error (fast_xml passes it on as `xmlstreamcdata`).
    stream_text: bool,
    /// For each event on the tape, the absolute input offsets of its first
    /// byte and just past its last (see [`Parser::event_spans`]).
    event_spans: Vec<(u64, u64)>,
}

enum Step {
    /// Consumed this many bytes.
    Advance(usize),
    /// The token at this position is incomplete: wait for more input.
    Wait,
}

impl Parser {
    pub fn new(mode: Mode, limits: Limits) -> Self {
        Parser {
            mode,
            limits,
            tape: Tape::default(),
            pending: Vec::new(),
            offset: 0,
            open_names: Vec::new(),
            open_lens: Vec::new(),
            elem_start: 0,
            elem_item: 0,
            elem_byte: 0,
            stream_name: None,
            scopes: Scopes::default(),
            root_done: false,
            failed: None,
            whitespace: Whitespace::Keep,
            segment: None,
            attr_ranges: Vec::new(),
            stream_text: false,
            event_spans: Vec::new(),
        }
    }

    /// Passes character data between stanzas on as [`Event::StreamText`]
    /// (default: only white space may stand there, and it is dropped).
    pub fn with_stream_text(mut self, on: bool) -> Self {
        self.stream_text = on;
        self
    }

    /// Chooses what becomes of white-space-only text between markup (default: kept).
    pub fn with_whitespace(mut self, whitespace: Whitespace) -> Self {
        self.whitespace = whitespace;
        self
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn limits(&self) -> Limits {
        self.limits
    }

    /// Forgets all state: the next byte starts a new stream (as after STARTTLS).
    pub fn reset(&mut self) {
        // Clear in place: the buffers keep their capacity for the next stream.
        self.tape.clear();
        self.pending.clear();
        self.offset = 0;
        self.open_names.clear();
        self.open_lens.clear();
        self.elem_start = 0;
        self.elem_item = 0;
        self.elem_byte = 0;
        self.stream_name = None;
        self.scopes.clear();
        self.root_done = false;
        self.failed = None;
        self.segment = None;
        self.event_spans.clear();
    }

    /// Frees buffers that hold more than `keep` bytes while no stanza is in
    /// progress (after a large stanza, or on an idle stream), so that a
    /// long-lived parser's memory follows its load. Parsing goes on as before.
    pub fn shrink_buffers(&mut self, keep: usize) {
        if !self.open_lens.is_empty() || !self.tape.events.is_empty() {
            return;
        }
        fn free<T>(v: &mut Vec<T>, keep: usize) {
            if v.is_empty() && v.capacity() * std::mem::size_of::<T>() > keep {
                *v = Vec::new();
            }
        }
        free(&mut self.tape.bytes, keep);
        free(&mut self.tape.items, keep);
        free(&mut self.tape.events, keep);
        free(&mut self.event_spans, keep);
        free(&mut self.pending, keep);
        free(&mut self.attr_ranges, keep);
        free(&mut self.open_names, keep);
        free(&mut self.open_lens, keep);
    }

    /// Changes the limits in place (a configuration reload); the stream goes
    /// on. Each limit is checked when its unit is read, so the new values
    /// hold from the next check on.
    pub fn set_limits(&mut self, limits: Limits) {
        self.limits = limits;
    }

    /// Resets and changes mode and limits (to reuse one parser's buffers).
    pub fn reconfigure(&mut self, mode: Mode, limits: Limits) {
        self.reset();
        self.mode = mode;
        self.limits = limits;
    }

    /// The tape: complete events are in `tape().events`.
    pub fn tape(&self) -> &Tape {
        &self.tape
    }

    /// Drops the complete events (after the caller has used them), keeping
    /// the part of the tape that belongs to an unfinished stanza.
    pub fn clear_events(&mut self) {
        self.tape.events.clear();
        self.event_spans.clear();
        if self.open_lens.is_empty() {
            self.tape.clear();
            self.elem_item = 0;
            self.elem_byte = 0;
        } else if self.elem_byte >= self.tape.bytes.len() - self.elem_byte {
            // Compact only when the finished part outweighs the unfinished one,
            // so a large stanza arriving in small chunks is not copied again and again.
            self.tape.drop_before(self.elem_item, self.elem_byte);
            if let Some((start, _)) = &mut self.segment {
                *start -= self.elem_byte;
            }
            self.elem_item = 0;
            self.elem_byte = 0;
        }
    }

    /// The items of the stanza still being parsed (empty when none is).
    pub fn open_stanza_items(&self) -> &[Item] {
        if self.open_lens.is_empty() {
            &[]
        } else {
            &self.tape.items[self.elem_item..]
        }
    }

    /// Where each event of `tape().events` stands in the input: absolute
    /// offsets (bytes fed since the last [`Parser::reset`]) of its first
    /// byte (a stanza's or stream header's `<`) and just past its last, one
    /// entry per event. A framer cuts the input into the byte ranges of the
    /// stream header and of each stanza with these.
    pub fn event_spans(&self) -> &[(u64, u64)] {
        &self.event_spans
    }

    /// The absolute input offset up to which every byte belongs to a
    /// complete top-level unit (stream header, stanza, stream end, or white
    /// space between them): the start of an unfinished stanza or token.
    pub fn committed_offset(&self) -> u64 {
        if self.open_lens.is_empty() {
            self.offset
        } else {
            self.elem_start
        }
    }

    /// True when no stanza is in progress and no bytes are waiting.
    pub fn is_idle(&self) -> bool {
        self.open_lens.is_empty() && self.pending.is_empty()
    }

    /// Bytes currently buffered (unfinished token) and held on the tape.
    pub fn buffered_bytes(&self) -> usize {
        self.pending.len() + self.tape.bytes.len()
    }

    /// Parses one chunk. Complete events are appended to the tape.
    ///
    /// Errors are final: every later call returns the same error until [`Parser::reset`].
    pub fn feed(&mut self, data: &[u8]) -> Result<(), XmlError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let result = self.feed_inner(data);
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Checks the bytes held back from earlier chunks now: an unfinished
    /// start or end tag is scanned again, and an error the bytes received so
    /// far already hold is returned (and is final, as from [`Parser::feed`]).
    /// Call it when the input has ended (the peer closed the connection) to
    /// get the verdict a parse of the whole input at once would have given;
    /// an unfinished but so far correct token is no error. Cheap: at most
    /// one scan of the held-back bytes.
    pub fn check_pending(&mut self) -> Result<(), XmlError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let mut buf = std::mem::take(&mut self.pending);
        let result = self.run(&buf).map(|used| {
            buf.drain(..used);
        });
        self.pending = buf;
        if let Err(e) = &result {
            self.failed = Some(e.clone());
        }
        result
    }

    /// Ends a whole-element parse: errors unless exactly one root element was read.
    pub fn finish(&mut self) -> Result<(), XmlError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        if !self.root_done || !self.pending.iter().all(|b| b.is_ascii_whitespace()) {
            let e = if self.root_done {
                XmlError::JunkAfterRoot
            } else {
                XmlError::UnexpectedEof
            };
            self.failed = Some(e.clone());
            return Err(e);
        }
        Ok(())
    }

    fn feed_inner(&mut self, data: &[u8]) -> Result<(), XmlError> {
        if self.pending.is_empty() {
            let used = self.run(data)?;
            self.pending.extend_from_slice(&data[used..]);
        } else if self.pending[0] == b'<'
            && !matches!(self.pending.get(1), Some(b'!' | b'?') | None)
            && memchr(b'>', data).is_none()
        {
            // An unfinished start or end tag cannot end without '>': do not
            // parse it again. (`<!` and `<?` constructs are rare: always re-read,
            // so that a bad one is refused at once.)
            self.pending.extend_from_slice(data);
        } else {
            let mut buf = std::mem::take(&mut self.pending);
            buf.extend_from_slice(data);
            let used = self.run(&buf)?;
            buf.drain(..used);
            self.pending = buf;
        }
        self.check_unfinished_size()
    }

    /// exml's rule: an unfinished stanza that already holds `max_element_size`
    /// bytes can only grow past it.
    fn check_unfinished_size(&self) -> Result<(), XmlError> {
        let max = self.limits.max_element_size as u64;
        if max == 0 {
            return Ok(());
        }
        let end = self.offset + self.pending.len() as u64;
        let size = if self.open_lens.is_empty() {
            // an unfinished tag or other markup between stanzas (held-back
            // text is at most a reference long)
            if self.pending.first() == Some(&b'<') {
                self.pending.len() as u64
            } else {
                0
            }
        } else {
            end - self.elem_start
        };
        if size >= max {
            return Err(XmlError::ElementTooBig);
        }
        Ok(())
    }

    /// Parses as much of `buf` as is complete; returns the bytes consumed.
    ///
    /// Tags are scanned here ([`super::tag`]); other markup (comments, CDATA,
    /// processing instructions, declarations, DOCTYPE) is read by quick-xml.
    /// An unfinished token, or text that may end in a partial reference or
    /// character, waits for the next chunk.
    fn run(&mut self, buf: &[u8]) -> Result<usize, XmlError> {
        let base = self.offset;
        let mut pos = 0;
        while pos < buf.len() {
            self.offset = base + pos as u64;
            let rest = &buf[pos..];
            let step = if rest[0] != b'<' {
                self.text(rest)?
            } else {
                match rest.get(1) {
                    None => Step::Wait,
                    Some(b'/') => self.end_tag_scan(rest)?,
                    Some(b'!' | b'?') => self.other_markup(rest)?,
                    Some(_) => self.start_tag_scan(rest)?,
                }
            };
            match step {
                Step::Advance(0) | Step::Wait => break,
                Step::Advance(n) => {
                    let start = base + pos as u64;
                    pos += n;
                    let end = base + pos as u64;
                    for i in self.event_spans.len()..self.tape.events.len() {
                        let first = match self.tape.events[i] {
                            Event::Element(_) => self.elem_start,
                            _ => start,
                        };
                        self.event_spans.push((first, end));
                    }
                }
            }
        }
        self.offset = base + pos as u64;
        Ok(pos)
    }

    fn start_tag_scan(&mut self, rest: &[u8]) -> Result<Step, XmlError> {
        let mut attrs = std::mem::take(&mut self.attr_ranges);
        let result = match scan_start(rest, &mut attrs) {
            Ok(Scan::Start {
                name_end,
                len,
                empty,
                names,
            }) => {
                self.end_segment();
                let tag = Tag {
                    buf: rest,
                    attrs: &attrs,
                    names,
                };
                self.start_tag(&rest[1..name_end], tag, len, empty)
                    .map(|_| Step::Advance(len))
            }
            Ok(_) => Ok(Step::Wait),
            Err(e) => Err(e),
        };
        self.attr_ranges = attrs;
        result
    }

    fn end_tag_scan(&mut self, rest: &[u8]) -> Result<Step, XmlError> {
        match scan_end(rest)? {
            Scan::End { name_end, len } => {
                self.end_segment();
                self.end_tag(&rest[2..name_end], len)?;
                Ok(Step::Advance(len))
            }
            _ => Ok(Step::Wait),
        }
    }

    /// Character data up to the next `<` (or as much of it as is complete).
    fn text(&mut self, rest: &[u8]) -> Result<Step, XmlError> {
        let raw = match memchr(b'<', rest) {
            Some(i) => {
                let raw = &rest[..i];
                // A whole run of white space between markup inside a stanza
                // that is dropped anyway: skip it without writing it
                // (validity is trivial). Between stanzas, text_piece decides.
                if self.segment.is_none()
                    && !self.open_lens.is_empty()
                    && self.whitespace == Whitespace::DropBetweenMarkup
                    && is_whitespace(raw)
                {
                    return Ok(Step::Advance(i));
                }
                raw
            }
            None => {
                // (all of it: the bytes kept back are not white space either)
                if self.open_lens.is_empty() && !self.stream_text_allowed() && !is_whitespace(rest)
                {
                    return Err(self.stray_text_error());
                }
                &rest[..safe_text_end(rest)]
            }
        };
        if raw.is_empty() {
            return Ok(Step::Wait);
        }
        self.text_piece(raw)?;
        Ok(Step::Advance(raw.len()))
    }

    /// One comment, CDATA section, processing instruction, declaration or
    /// DOCTYPE at `rest[0] == b'<'`, read by quick-xml.
    fn other_markup(&mut self, rest: &[u8]) -> Result<Step, XmlError> {
        let mut reader = Reader::from_reader(rest);
        reader.config_mut().check_comments = true;
        let event = match reader.read_event() {
            Ok(ev) => ev,
            Err(e) if is_incomplete(&e, rest) => return Ok(Step::Wait),
            Err(e) => return Err(convert_error(e)),
        };
        let len = reader.buffer_position() as usize;
        let max = self.limits.max_element_size;
        if self.open_lens.is_empty() && max != 0 && len > max {
            // between stanzas (a CDATA section passed on as stream text, say),
            // as when it arrives in pieces (check_unfinished_size)
            return Err(XmlError::ElementTooBig);
        }
        self.markup(event)?;
        Ok(Step::Advance(len))
    }

    /// One complete run of text (no `<` in it, no reference cut short).
    fn text_piece(&mut self, raw: &[u8]) -> Result<(), XmlError> {
        if self.open_lens.is_empty() {
            if self.stream_text_allowed() {
                // passed on up to an error in it, however it was chunked
                let start = self.tape.bytes.len();
                let decoded = unescape_into(raw, Context::Text, &mut self.tape.bytes);
                if self.tape.bytes.len() > start {
                    let span = self.tape.span_from(start);
                    self.tape.events.push(Event::StreamText(span));
                }
                decoded?;
            } else if !is_whitespace(raw) {
                // Stream level: only white space may stand between elements.
                return Err(self.stray_text_error());
            }
        } else {
            let start = self.tape.bytes.len();
            let blank = is_whitespace(raw);
            self.in_segment(start, blank);
            unescape_into(raw, Context::Text, &mut self.tape.bytes)?;
            self.tape.commit_text(start);
        }
        Ok(())
    }

    /// Notes text (from tape byte `start`) in the current run of character data.
    #[inline]
    fn in_segment(&mut self, start: usize, blank: bool) {
        match &mut self.segment {
            None => self.segment = Some((start, blank)),
            Some((_, all_blank)) => *all_blank &= blank,
        }
    }

    /// A markup token begins: the run of character data before it is over.
    #[inline]
    fn end_segment(&mut self) {
        if let Some((start, blank)) = self.segment.take() {
            if blank && self.whitespace == Whitespace::DropBetweenMarkup {
                self.tape.truncate_text(start);
            }
        }
    }

    /// Text is passed on between stanzas only inside an open stream.
    #[inline]
    fn stream_text_allowed(&self) -> bool {
        self.stream_text && self.stream_name.is_some()
    }

    fn stray_text_error(&self) -> XmlError {
        match (self.mode, self.root_done) {
            (Mode::Document, true) => XmlError::JunkAfterRoot,
            (Mode::Document, false) => XmlError::syntax("character data outside the root element"),
            _ => XmlError::TextAtStreamLevel,
        }
    }

    /// One markup token of `len` bytes, read by quick-xml.
    fn markup(&mut self, event: QxEvent<'_>) -> Result<(), XmlError> {
        self.end_segment();
        match event {
            QxEvent::CData(cdata) => {
                let content: &[u8] = cdata.as_bytes();
                if self.open_lens.is_empty() && self.stream_text_allowed() {
                    check_text(content)?;
                    let start = self.tape.bytes.len();
                    normalize_line_ends_into(content, &mut self.tape.bytes);
                    let span = self.tape.span_from(start);
                    self.tape.events.push(Event::StreamText(span));
                } else if self.open_lens.is_empty() {
                    if !is_whitespace(content) {
                        return Err(XmlError::TextAtStreamLevel);
                    }
                } else {
                    check_text(content)?;
                    let start = self.tape.bytes.len();
                    normalize_line_ends_into(content, &mut self.tape.bytes);
                    self.tape.commit_text(start);
                }
            }
            QxEvent::Comment(_) => {
                if self.mode != Mode::Document {
                    return Err(XmlError::CommentNotAllowed);
                }
            }
            QxEvent::PI(_) => {
                if self.mode != Mode::Document {
                    return Err(XmlError::PiNotAllowed);
                }
            }
            QxEvent::Decl(_) => {
                // An XML declaration may open a document or precede a (re)opened stream.
                let allowed = match self.mode {
                    Mode::Document => !self.root_done && self.open_lens.is_empty(),
                    _ => self.open_lens.is_empty(),
                };
                if !allowed {
                    return Err(XmlError::PiNotAllowed);
                }
            }
            QxEvent::DocType(_) => return Err(XmlError::DtdNotAllowed),
            // other_markup only reads at `<!` or `<?`
            QxEvent::Start(_)
            | QxEvent::Empty(_)
            | QxEvent::End(_)
            | QxEvent::Text(_)
            | QxEvent::GeneralRef(_)
            | QxEvent::Eof => {
                return Err(XmlError::syntax("unexpected markup"));
            }
        }
        Ok(())
    }

    /// A start tag named `name` of `len` bytes.
    fn start_tag(
        &mut self,
        name: &[u8],
        tag: Tag<'_>,
        len: usize,
        empty: bool,
    ) -> Result<(), XmlError> {
        tag.check_name(name)?;
        if self.open_lens.is_empty() {
            match self.mode {
                Mode::Stream
                    if self.stream_name.is_none() || self.stream_name.as_deref() == Some(name) =>
                {
                    return self.stream_header(name, tag, len, empty);
                }
                Mode::Document if self.root_done => return Err(XmlError::JunkAfterRoot),
                _ => {}
            }
            self.elem_start = self.offset;
            self.elem_item = self.tape.items.len();
            self.elem_byte = self.tape.bytes.len();
        } else if self.open_lens.len() >= self.limits.max_depth {
            return Err(XmlError::TooDeep(self.limits.max_depth));
        }
        self.push_start(name, tag)?;
        if empty {
            self.scopes.close();
            self.tape.items.push(Item::End);
            if self.open_lens.is_empty() {
                self.element_done(len)?;
            }
        } else {
            self.open_names.extend_from_slice(name);
            self.open_lens.push(name.len());
        }
        Ok(())
    }

    fn stream_header(
        &mut self,
        name: &[u8],
        tag: Tag<'_>,
        len: usize,
        empty: bool,
    ) -> Result<(), XmlError> {
        let max = self.limits.max_element_size;
        if max != 0 && len > max {
            return Err(XmlError::ElementTooBig);
        }
        let first = self.tape.items.len();
        // a new stream header starts a new namespace scope
        self.scopes.clear();
        self.push_start(name, tag)?;
        self.tape
            .events
            .push(Event::StreamStart(first..self.tape.items.len()));
        if empty {
            self.scopes.clear();
            let span = self.tape.push_bytes(name);
            self.tape.events.push(Event::StreamEnd(span));
        } else {
            self.stream_name = Some(name.to_vec());
        }
        Ok(())
    }

    /// Pushes a `Start` item and its attributes.
    fn push_start(&mut self, name: &[u8], tag: Tag<'_>) -> Result<(), XmlError> {
        let Tag {
            buf,
            attrs: ranges,
            names,
        } = tag;
        let name = self.tape.push_bytes(name);
        let at = self.tape.items.len();
        self.tape.items.push(Item::Start { name, attrs: 0 });
        let mut count = 0u32;
        // the scan saw every byte of the names: a ':' among them is a prefix
        let prefixed = names & COLON != 0;
        for r in ranges {
            let key = &buf[r.name.0 as usize..r.name.1 as usize];
            let raw = &buf[r.value.0 as usize..r.value.1 as usize];
            count += 1;
            if count as usize > self.limits.max_attrs {
                return Err(XmlError::TooManyAttributes(self.limits.max_attrs));
            }
            tag.check_name(key)?;
            let tape = &self.tape;
            let duplicate = tape.items[at + 1..]
                .iter()
                .any(|it| matches!(*it, Item::Attr { name, .. } if tape.get(name) == key));
            if duplicate {
                return Err(XmlError::DuplicateAttribute(lossy(key)));
            }
            let is_decl = key.starts_with(b"xmlns");
            let key = self.tape.push_bytes(key);
            let vstart = self.tape.bytes.len();
            unescape_into(raw, Context::Attribute, &mut self.tape.bytes)?;
            let value = self.tape.span_from(vstart);
            if is_decl
                && self
                    .tape
                    .get(value)
                    .iter()
                    .any(|&b| matches!(b, b'\t' | b'\n' | b'\r'))
            {
                // a namespace name is a URI reference: no white space controls
                // (expat refuses them too, CVE-2022-25236)
                return Err(XmlError::Namespace("invalid namespace name".into()));
            }
            self.tape.items.push(Item::Attr { name: key, value });
        }
        if let Item::Start { attrs, .. } = &mut self.tape.items[at] {
            *attrs = count;
        }
        if !prefixed {
            self.scopes.open_unprefixed();
            return Ok(());
        }
        let tape = &self.tape;
        let attrs = tape.items[at + 1..].iter().filter_map(|it| match *it {
            Item::Attr { name, value } => Some((tape.get(name), tape.get(value))),
            _ => None,
        });
        self.scopes.open(tape.get(name), attrs)
    }

    fn end_tag(&mut self, name: &[u8], len: usize) -> Result<(), XmlError> {
        let Some(&top) = self.open_lens.last() else {
            if self.mode == Mode::Stream && self.stream_name.as_deref() == Some(name) {
                self.stream_name = None;
                self.scopes.clear();
                let span = self.tape.push_bytes(name);
                self.tape.events.push(Event::StreamEnd(span));
                return Ok(());
            }
            return Err(XmlError::UnexpectedEndTag(lossy(name)));
        };
        let open = &self.open_names[self.open_names.len() - top..];
        if open != name {
            return Err(XmlError::MismatchedTag {
                expected: lossy(open),
                found: lossy(name),
            });
        }
        if self.open_lens.len() == 1 {
            // the stanza ends here: refuse it while it is still open, so
            // that `committed_offset` stays before it
            self.check_element_size(len)?;
        }
        self.open_names.truncate(self.open_names.len() - top);
        self.open_lens.pop();
        self.scopes.close();
        self.tape.items.push(Item::End);
        if self.open_lens.is_empty() {
            self.element_done(len)?;
        }
        Ok(())
    }

    /// `max_element_size` for the stanza that began at `elem_start` and ends
    /// with a token of `len` bytes.
    fn check_element_size(&self, len: usize) -> Result<(), XmlError> {
        let size = self.offset + len as u64 - self.elem_start;
        let max = self.limits.max_element_size as u64;
        if max != 0 && size > max {
            return Err(XmlError::ElementTooBig);
        }
        Ok(())
    }

    /// The stanza that began at `elem_start` ended with a token of `len` bytes.
    fn element_done(&mut self, len: usize) -> Result<(), XmlError> {
        self.check_element_size(len)?;
        self.tape
            .events
            .push(Event::Element(self.elem_item..self.tape.items.len()));
        if self.mode == Mode::Document {
            self.root_done = true;
        }
        Ok(())
    }
}

/// A start tag as scanned: its bytes, its attributes' ranges in them, and
/// the classes of its names' bytes.
#[derive(Clone, Copy)]
struct Tag<'b> {
    buf: &'b [u8],
    attrs: &'b [AttrRange],
    names: u8,
}

impl Tag<'_> {
    /// Checks that `name` (the element's or an attribute's, from this tag)
    /// is an XML `Name`. When the scan saw only ASCII name characters in
    /// the tag's names, only the first byte needs a look (it may not be a
    /// digit, `-` or `.`); otherwise the full check runs.
    #[inline]
    fn check_name(&self, name: &[u8]) -> Result<(), XmlError> {
        match name.first() {
            Some(&b) if self.names & OTHER == 0 && is_ascii_name_start(b) => Ok(()),
            _ => check_name(name),
        }
    }
}

/// How much of a trailing run of text (no `<` in it) can be decoded now:
/// all but an unfinished reference, a carriage return that may be followed by
/// a newline, or the first bytes of a UTF-8 sequence.
fn safe_text_end(text: &[u8]) -> usize {
    if let Some(amp) = memrchr(b'&', text) {
        if memchr(b';', &text[amp..]).is_none() {
            if text.len() - amp >= MAX_REFERENCE {
                // it can no longer end: decode up to where its error shows
                // (after any error in the text before it)
                return amp + MAX_REFERENCE;
            }
            return amp;
        }
    }
    let mut end = text.len() - incomplete_utf8_tail(text);
    if end > 0 && text[end - 1] == b'\r' {
        end -= 1;
    }
    end
}

/// True when quick-xml stopped only because the input ended inside a token.
fn is_incomplete(err: &QxError, rest: &[u8]) -> bool {
    match err {
        QxError::Syntax(
            SyntaxError::UnclosedTag
            | SyntaxError::UnclosedSingleQuotedAttributeValue
            | SyntaxError::UnclosedDoubleQuotedAttributeValue
            | SyntaxError::UnclosedComment
            | SyntaxError::UnclosedCData
            | SyntaxError::UnclosedPI
            | SyntaxError::UnclosedXmlDecl
            | SyntaxError::UnclosedDoctype,
        ) => true,
        QxError::Syntax(SyntaxError::InvalidBangMarkup) => {
            [&b"<![CDATA["[..], b"<!--", b"<!DOCTYPE"]
                .iter()
                .any(|p| p.starts_with(rest))
        }
        _ => false,
    }
}

fn convert_error(err: QxError) -> XmlError {
    match err {
        QxError::Syntax(e) => XmlError::Syntax(e.to_string()),
        QxError::IllFormed(e) => XmlError::Syntax(e.to_string()),
        QxError::InvalidAttr(e) => XmlError::MalformedAttribute(e.to_string()),
        QxError::Encoding(_) => XmlError::InvalidUtf8,
        other => XmlError::Syntax(other.to_string()),
    }
}
