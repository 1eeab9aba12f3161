//! The exml flavour: parse results as esl/exml 4.x records, and
//! serialisation of those records.
//!
//! - `#xmlel{name = binary(), attrs = #{binary() => binary()}, children = [...]}`
//! - `#xmlcdata{content = binary(), style = escaped}` for parsed text
//! - `#xmlstreamstart{name, attrs}`, `#xmlstreamend{name}`

use crate::atoms;
use crate::budget;
use crate::intern::Interner;
use crate::term::{binary, error_tuple, list, list_cell, map, tuple, tuple_fields, wrap, NotAList};
use rustler::sys::{
    enif_get_map_size, enif_map_iterator_create, enif_map_iterator_destroy,
    enif_map_iterator_get_pair, enif_map_iterator_next, ErlNifMapIterator, ErlNifMapIteratorEntry,
    ErlNifTerm as ERL_NIF_TERM,
};
use rustler::{Binary, Env, NifResult, Term};
use std::cell::RefCell;
use xmpp_accel_core::xml::serialize::{write_text, Writer};
use xmpp_accel_core::xml::{Event, Item, Limits, Mode, Parser, Style, Tape, Whitespace};

// ---------------------------------------------------------------- tape -> terms

/// Builds the term of one event.
pub fn event_term(
    env: Env<'_>,
    names: &mut Interner<'_, '_>,
    tape: &Tape,
    event: &Event,
    scratch: &mut Vec<ERL_NIF_TERM>,
) -> ERL_NIF_TERM {
    match event {
        Event::StreamStart(range) => match tape.items[range.start] {
            Item::Start { name, attrs } => {
                let name = names.binary(tape.get(name));
                let attrs = attrs_term(env, names, tape, range.start + 1, attrs as usize, scratch);
                tuple(
                    env,
                    &[atoms::xmlstreamstart().to_term(env).as_c_arg(), name, attrs],
                )
            }
            _ => unreachable_term(env),
        },
        Event::Element(range) => element_term(env, names, tape, range.clone(), scratch),
        Event::StreamEnd(name) => tuple(
            env,
            &[
                atoms::xmlstreamend().to_term(env).as_c_arg(),
                names.binary(tape.get(*name)),
            ],
        ),
        // the exml flavour's parsers never pass text between stanzas on
        Event::StreamText(_) => unreachable_term(env),
    }
}

#[cold]
fn unreachable_term(env: Env<'_>) -> ERL_NIF_TERM {
    // The tape always starts a stream header with `Start`; never reached.
    atoms::error().to_term(env).as_c_arg()
}

/// `#{Name => Value}` from `count` `Attr` items starting at `first`.
fn attrs_term(
    env: Env<'_>,
    names: &mut Interner<'_, '_>,
    tape: &Tape,
    first: usize,
    count: usize,
    scratch: &mut Vec<ERL_NIF_TERM>,
) -> ERL_NIF_TERM {
    let base = scratch.len();
    let attrs = &tape.items[first..first + count];
    // keys, then values, side by side in the scratch vector
    scratch.resize(base + 2 * count, ERL_NIF_TERM::default());
    for (i, item) in attrs.iter().enumerate() {
        if let Item::Attr { name, value } = *item {
            scratch[base + i] = names.binary(tape.get(name));
            // short values repeat within a stanza too (`chat`, `both`, `result`)
            scratch[base + count + i] = names.binary(tape.get(value));
        }
    }
    let (keys, values) = scratch[base..].split_at(count);
    // Keys are distinct: the parser rejects duplicate attributes.
    let m = map(env, keys, values).unwrap_or_else(|| map(env, &[], &[]).unwrap_or_default());
    scratch.truncate(base);
    m
}

/// Builds `#xmlel{}` for the balanced items `range`, without recursion.
fn element_term(
    env: Env<'_>,
    names: &mut Interner<'_, '_>,
    tape: &Tape,
    range: std::ops::Range<usize>,
    children: &mut Vec<ERL_NIF_TERM>,
) -> ERL_NIF_TERM {
    let xmlel = atoms::xmlel().to_term(env).as_c_arg();
    let xmlcdata = atoms::xmlcdata().to_term(env).as_c_arg();
    let escaped = atoms::escaped().to_term(env).as_c_arg();
    // Open elements: (name, attrs, index of the first child in `children`).
    let mut open: Vec<(ERL_NIF_TERM, ERL_NIF_TERM, usize)> = Vec::with_capacity(16);
    let base = children.len();
    let mut i = range.start;
    while i < range.end {
        match tape.items[i] {
            Item::Start { name, attrs } => {
                let name = names.binary(tape.get(name));
                let attrs_t = attrs_term(env, names, tape, i + 1, attrs as usize, children);
                open.push((name, attrs_t, children.len()));
                i += attrs as usize;
            }
            Item::Attr { .. } => {}
            Item::Text(span) => {
                // text rarely repeats: no lookup
                let text = binary(env, tape.get(span));
                children.push(tuple(env, &[xmlcdata, text, escaped]));
            }
            Item::End => {
                if let Some((name, attrs, first)) = open.pop() {
                    let kids = list(env, &children[first..]);
                    children.truncate(first);
                    children.push(tuple(env, &[xmlel, name, attrs, kids]));
                }
            }
        }
        i += 1;
    }
    let el = children
        .get(base)
        .copied()
        .unwrap_or_else(|| unreachable_term(env));
    children.truncate(base);
    el
}

// ---------------------------------------------------------------- exml:parse/1

thread_local! {
    /// One whole-element parser per scheduler thread: its buffers are reused
    /// from call to call instead of being allocated each time.
    static DOC_PARSER: RefCell<Parser> = RefCell::new(exml_parser(Mode::Document, Limits::default()));
    /// Term scratch space per scheduler thread (children of open elements).
    static SCRATCH: RefCell<Vec<ERL_NIF_TERM>> = const { RefCell::new(Vec::new()) };
    /// Serialisation output buffer per scheduler thread.
    static OUT: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// A parser with exml's behaviour: white-space-only text between markup is
/// dropped, as RapidXML (exml's parser) drops it.
pub fn exml_parser(mode: Mode, limits: Limits) -> Parser {
    Parser::new(mode, limits).with_whitespace(Whitespace::DropBetweenMarkup)
}

/// Buffers above this size are released after use rather than kept per thread.
const KEEP_BUFFER: usize = 256 * 1024;

fn parse_impl<'a>(env: Env<'a>, input: Term<'a>) -> NifResult<Term<'a>> {
    let bin = match Binary::from_term(input) {
        Ok(b) => b,
        Err(_) => Binary::from_iolist(input)?,
    };
    parse_binary(env, bin)
}

fn parse_binary<'a>(env: Env<'a>, bin: Binary<'a>) -> NifResult<Term<'a>> {
    DOC_PARSER.with(|cell| {
        let mut guard = cell.try_borrow_mut();
        let mut fresh;
        let parser: &mut Parser = match guard.as_deref_mut() {
            Ok(p) => p,
            // never re-entered in practice; stay correct if it were
            Err(_) => {
                fresh = exml_parser(Mode::Document, Limits::default());
                &mut fresh
            }
        };
        parser.reset();
        let result = parser.feed(bin.as_slice()).and_then(|_| parser.finish());
        let term = match result {
            Err(e) => error_tuple(env, &e.to_string()),
            Ok(()) => {
                let tape = parser.tape();
                match tape.events.first() {
                    Some(ev) => {
                        let el = with_scratch(|scratch| {
                            Interner::with(env, |names| event_term(env, names, tape, ev, scratch))
                        });
                        wrap(env, tuple(env, &[atoms::ok().to_term(env).as_c_arg(), el]))
                    }
                    None => error_tuple(env, "unexpected end of input"),
                }
            }
        };
        if parser.buffered_bytes() > KEEP_BUFFER {
            *parser = exml_parser(Mode::Document, Limits::default());
        }
        Ok(term)
    })
}

/// Reports to the VM the share of a timeslice a call used, estimated from
/// its work instead of read from the clock: `units` of about 10 ns each
/// (1 % of a 1 ms timeslice per 1,000 units, at least 1 %, at most 100 %).
/// A whole-stanza parse or a serialisation of a few hundred bytes takes
/// about a microsecond, so two clock reads per call were a visible part of
/// it (2-3 % of a serialisation in `perf`). The rates are conservative:
/// parsing and building terms run at well over 100 MB/s (1 unit per input
/// byte), walking and serialising at well over 50 MB/s of output (2 units
/// per output byte).
pub fn consume_estimate(env: Env<'_>, units: usize) {
    let percent = (1 + units / 1000).min(100) as i32;
    rustler::schedule::consume_timeslice(env, percent);
}

/// `exml:parse/1` on a normal scheduler; `dirty` when the input is large.
#[rustler::nif(name = "exml_parse")]
fn exml_parse<'a>(env: Env<'a>, input: Term<'a>) -> NifResult<Term<'a>> {
    match Binary::from_term(input) {
        Ok(bin) if bin.len() <= budget::PARSE_BYTES => {
            consume_estimate(env, bin.len());
            parse_binary(env, bin)
        }
        // large, or an iolist (its size is only known by walking it; lists
        // are rare here, so treat them as big: the dirty path is always safe)
        _ => Ok(atoms::dirty().to_term(env)),
    }
}

/// `exml:parse/1` on a dirty CPU scheduler.
#[rustler::nif(name = "exml_parse_dirty", schedule = "DirtyCpu")]
fn exml_parse_dirty<'a>(env: Env<'a>, input: Term<'a>) -> NifResult<Term<'a>> {
    parse_impl(env, input)
}

// ---------------------------------------------------------------- terms -> bytes

pub enum WalkError {
    BadArg,
    TooBig,
}

impl From<NotAList> for WalkError {
    fn from(_: NotAList) -> Self {
        WalkError::BadArg
    }
}

/// How much a normal-scheduler call may write; `None` on a dirty scheduler.
#[derive(Clone, Copy)]
pub struct Budget {
    bytes: usize,
    nodes: usize,
}

fn iodata<'a>(term: Term<'a>) -> Result<&'a [u8], WalkError> {
    match Binary::from_term(term) {
        Ok(b) => Ok(b.as_slice()),
        Err(_) => Binary::from_iolist(term)
            .map(|b| b.as_slice())
            .map_err(|_| WalkError::BadArg),
    }
}

struct Atoms {
    xmlel: ERL_NIF_TERM,
    xmlcdata: ERL_NIF_TERM,
    escaped: ERL_NIF_TERM,
    cdata: ERL_NIF_TERM,
}

/// What walking an `#xmlel{}` produces: the bytes (a [`Writer`]) or the
/// walk itself (for templates). The calls follow [`Writer`]'s.
pub trait ExmlSink<'a> {
    fn len(&self) -> usize;
    fn start(&mut self, name: &'a [u8]);
    fn attr(&mut self, key: &'a [u8], value: &'a [u8]);
    fn empty(&mut self);
    fn inline_text(&mut self, name: &'a [u8], text: &'a [u8]);
    fn open(&mut self);
    fn text(&mut self, text: &'a [u8], cdata: bool);
    fn close(&mut self, name: &'a [u8]);
}

impl<'a> ExmlSink<'a> for Writer<'_> {
    fn len(&self) -> usize {
        Writer::len(self)
    }
    fn start(&mut self, name: &'a [u8]) {
        Writer::start(self, name)
    }
    fn attr(&mut self, key: &'a [u8], value: &'a [u8]) {
        Writer::attr(self, key, value)
    }
    fn empty(&mut self) {
        Writer::empty(self)
    }
    fn inline_text(&mut self, name: &'a [u8], text: &'a [u8]) {
        Writer::inline_text(self, name, text)
    }
    fn open(&mut self) {
        Writer::open(self)
    }
    fn text(&mut self, text: &'a [u8], cdata: bool) {
        Writer::text(self, text, cdata)
    }
    fn close(&mut self, name: &'a [u8]) {
        Writer::close(self, name)
    }
}

/// Writes `#xmlel{}` while walking it, iteratively (any depth is safe).
pub fn write_xmlel<'a, S: ExmlSink<'a>>(
    env: Env<'a>,
    root: Term<'a>,
    budget: Option<Budget>,
    w: &mut S,
) -> Result<(), WalkError> {
    let atoms = Atoms {
        xmlel: atoms::xmlel().to_term(env).as_c_arg(),
        xmlcdata: atoms::xmlcdata().to_term(env).as_c_arg(),
        escaped: atoms::escaped().to_term(env).as_c_arg(),
        cdata: atoms::cdata().to_term(env).as_c_arg(),
    };
    let mut nodes = 0usize;
    // Open elements: their names and the rest of their children.
    let mut stack: Vec<(&'a [u8], ERL_NIF_TERM)> = Vec::with_capacity(16);
    let mut next = Some(root.as_c_arg());
    loop {
        if let Some(raw) = next.take() {
            nodes += 1;
            fits(budget, nodes, w.len())?;
            match tuple_fields(env, raw).ok_or(WalkError::BadArg)? {
                [tag, name, attrs, children] if *tag == atoms.xmlel => {
                    prefetch_term(*attrs);
                    prefetch_term(*children);
                    let name = Binary::from_term(wrap(env, *name))
                        .map_err(|_| WalkError::BadArg)?
                        .as_slice();
                    w.start(name);
                    for_each_attr(env, *attrs, |k, v| {
                        let (k, v) = (iodata(wrap(env, k))?, iodata(wrap(env, v))?);
                        fits(budget, nodes, w.len() + k.len() + v.len())?;
                        w.attr(k, v);
                        Ok(())
                    })?;
                    match list_cell(env, *children)? {
                        None => w.empty(),
                        Some((only, rest)) => {
                            match (escaped_text(env, &atoms, only)?, list_cell(env, rest)?) {
                                (Some(text), None) => {
                                    fits(budget, nodes, w.len() + text.len())?;
                                    w.inline_text(name, text)
                                }
                                _ => {
                                    w.open();
                                    stack.push((name, *children));
                                }
                            }
                        }
                    }
                }
                [tag, content, style] if *tag == atoms.xmlcdata => {
                    let content = iodata(wrap(env, *content))?;
                    fits(budget, nodes, w.len() + content.len())?;
                    let cdata = if *style == atoms.escaped {
                        false
                    } else if *style == atoms.cdata {
                        true
                    } else {
                        return Err(WalkError::BadArg);
                    };
                    w.text(content, cdata);
                }
                _ => return Err(WalkError::BadArg),
            }
        }
        let Some((name, rest)) = stack.last_mut() else {
            return Ok(());
        };
        match list_cell(env, *rest)? {
            Some((head, tail)) => {
                prefetch_term(tail);
                *rest = tail;
                next = Some(head);
            }
            None => {
                w.close(name);
                stack.pop();
            }
        }
    }
}

/// Calls `f` on each key and value of the map `map`, in the map's own
/// order (exml writes attributes in that order too); `BadArg` if not a map.
fn for_each_attr(
    env: Env<'_>,
    map: ERL_NIF_TERM,
    mut f: impl FnMut(ERL_NIF_TERM, ERL_NIF_TERM) -> Result<(), WalkError>,
) -> Result<(), WalkError> {
    let mut size: usize = 0;
    // SAFETY: plain term inspection in `env`.
    if unsafe { enif_get_map_size(env.as_c_arg(), map, &mut size) } == 0 {
        return Err(WalkError::BadArg);
    }
    if size == 0 {
        return Ok(());
    }
    let mut iter = std::mem::MaybeUninit::<ErlNifMapIterator>::uninit();
    // SAFETY: `map` is a map (checked above); the iterator is destroyed below
    // on every path, and only used while `env` lives.
    unsafe {
        if enif_map_iterator_create(
            env.as_c_arg(),
            map,
            iter.as_mut_ptr(),
            ErlNifMapIteratorEntry::ERL_NIF_MAP_ITERATOR_HEAD,
        ) == 0
        {
            return Err(WalkError::BadArg);
        }
        let it = iter.as_mut_ptr();
        // The pairs first, with a prefetch for each key's and value's
        // binary, so that their cache misses overlap instead of coming one
        // after another as each is inspected.
        let mut pairs = [(ERL_NIF_TERM::default(), ERL_NIF_TERM::default()); 16];
        let mut result = Ok(());
        'batches: loop {
            let mut n = 0;
            while n < pairs.len() {
                let (k, v) = &mut pairs[n];
                if enif_map_iterator_get_pair(env.as_c_arg(), it, k, v) == 0 {
                    break;
                }
                prefetch_term(*k);
                prefetch_term(*v);
                n += 1;
                enif_map_iterator_next(env.as_c_arg(), it);
            }
            for &(k, v) in &pairs[..n] {
                result = f(k, v);
                if result.is_err() {
                    break 'batches;
                }
            }
            if n < pairs.len() {
                break;
            }
        }
        enif_map_iterator_destroy(env.as_c_arg(), it);
        result
    }
}

/// A hint to the CPU to start loading what the term `t` points to, if it
/// is a list cell or a boxed term (a binary, a tuple): the word a term
/// points to is where inspecting it stalls when the terms are spread over
/// a large heap. Only a hint: an address that is not what the tag bits
/// suggest costs nothing, and the term's contents are never read here.
#[inline(always)]
fn prefetch_term(t: ERL_NIF_TERM) {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `ErlNifTerm` is a `repr(transparent)` machine word.
        let word: usize = unsafe { std::mem::transmute(t) };
        // the primary tag (two low bits): 1 = list cell, 2 = boxed
        if matches!(word & 3, 1 | 2) {
            // SAFETY: a prefetch never faults, whatever the address.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    (word & !3) as *const i8,
                )
            }
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = t;
}

/// Whether a normal-scheduler call may go on to `nodes` nodes and about `bytes` bytes.
#[inline]
fn fits(budget: Option<Budget>, nodes: usize, bytes: usize) -> Result<(), WalkError> {
    match budget {
        Some(b) if nodes > b.nodes || bytes > b.bytes => Err(WalkError::TooBig),
        _ => Ok(()),
    }
}

/// The content of an `#xmlcdata{style = escaped}`, if `term` is one.
fn escaped_text<'a>(
    env: Env<'a>,
    atoms: &Atoms,
    term: ERL_NIF_TERM,
) -> Result<Option<&'a [u8]>, WalkError> {
    match tuple_fields(env, term) {
        Some([tag, content, style]) if *tag == atoms.xmlcdata && *style == atoms.escaped => {
            iodata(wrap(env, *content)).map(Some)
        }
        _ => Ok(None),
    }
}

fn to_binary_impl<'a>(
    env: Env<'a>,
    el: Term<'a>,
    pretty: Term<'a>,
    budget: Option<Budget>,
) -> NifResult<Term<'a>> {
    let style = if pretty.as_c_arg() == atoms::pretty().to_term(env).as_c_arg() {
        Style::Pretty
    } else {
        Style::Compact
    };
    with_out_buffer(|out| {
        let mut w = Writer::new(out, style);
        let result = write_xmlel(env, el, budget, &mut w);
        if budget.is_some() {
            consume_estimate(env, 2 * w.len());
        }
        match result {
            Ok(()) => {
                w.finish();
                Ok(wrap(env, binary(env, out)))
            }
            Err(WalkError::BadArg) => Err(rustler::Error::BadArg),
            Err(WalkError::TooBig) => Ok(atoms::dirty().to_term(env)),
        }
    })
}

/// Runs `f` with this thread's (empty) term scratch vector.
fn with_scratch<R>(f: impl FnOnce(&mut Vec<ERL_NIF_TERM>) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut v) => {
            v.clear();
            let r = f(&mut v);
            if v.capacity() > KEEP_BUFFER / 8 {
                *v = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// Runs `f` with this thread's (empty) output buffer.
pub fn with_out_buffer<R>(f: impl FnOnce(&mut Vec<u8>) -> R) -> R {
    OUT.with(|cell| match cell.try_borrow_mut() {
        Ok(mut out) => {
            out.clear();
            let r = f(&mut out);
            if out.capacity() > KEEP_BUFFER {
                *out = Vec::new();
            }
            r
        }
        Err(_) => f(&mut Vec::new()),
    })
}

/// `exml_nif:to_binary/2`: `#xmlel{}` to bytes; `dirty` when the element is large; `badarg` on a bad record.
#[rustler::nif(name = "exml_to_binary")]
fn exml_to_binary<'a>(env: Env<'a>, el: Term<'a>, pretty: Term<'a>) -> NifResult<Term<'a>> {
    let budget = Budget {
        bytes: budget::SERIALISE_BYTES,
        nodes: budget::SERIALISE_NODES,
    };
    to_binary_impl(env, el, pretty, Some(budget))
}

/// The dirty-scheduler twin of `exml_to_binary/2`.
#[rustler::nif(name = "exml_to_binary_dirty", schedule = "DirtyCpu")]
fn exml_to_binary_dirty<'a>(env: Env<'a>, el: Term<'a>, pretty: Term<'a>) -> NifResult<Term<'a>> {
    to_binary_impl(env, el, pretty, None)
}

fn escape_cdata_impl<'a>(
    env: Env<'a>,
    content: Term<'a>,
    style: Term<'a>,
    limit: usize,
) -> NifResult<Term<'a>> {
    let text = iodata(content).map_err(|_| rustler::Error::BadArg)?;
    let cdata = if style.as_c_arg() == atoms::cdata().to_term(env).as_c_arg() {
        true
    } else if style.as_c_arg() == atoms::escaped().to_term(env).as_c_arg() {
        false
    } else {
        return Err(rustler::Error::BadArg);
    };
    if text.len() > limit {
        return Ok(atoms::dirty().to_term(env));
    }
    Ok(with_out_buffer(|out| {
        write_text(text, cdata, out);
        wrap(env, binary(env, out))
    }))
}

/// `exml_nif:escape_cdata/2`: character data as written inside an element.
/// `Style` is `escaped` or `cdata`; `badarg` otherwise; `dirty` when large.
#[rustler::nif(name = "exml_escape_cdata")]
fn exml_escape_cdata<'a>(env: Env<'a>, content: Term<'a>, style: Term<'a>) -> NifResult<Term<'a>> {
    let _slice = budget::Timeslice::start(env);
    escape_cdata_impl(env, content, style, budget::SERIALISE_BYTES)
}

/// The dirty-scheduler twin of `exml_escape_cdata/2`.
#[rustler::nif(name = "exml_escape_cdata_dirty", schedule = "DirtyCpu")]
fn exml_escape_cdata_dirty<'a>(
    env: Env<'a>,
    content: Term<'a>,
    style: Term<'a>,
) -> NifResult<Term<'a>> {
    escape_cdata_impl(env, content, style, usize::MAX)
}
