//! The fast_xml flavour: terms of processone/fast_xml 1.1.60, its error
//! terms, and its serialisation.
//!
//! - `#xmlel{name = binary(), attrs = [{binary(), binary()}], children = [...]}`
//! - `{xmlcdata, binary()}` for text
//! - with `use_maps`: Elixir structs (`%FastXML.El{}` ...), attributes as maps,
//!   text as bare binaries
//! - parse errors `{Code, Message}` with expat's code and text for the same fault

use crate::atoms;
use crate::budget;
use crate::intern::Interner;
use crate::term::{binary, list, list_cell, map, tuple, tuple_fields, wrap, NotAList};
use crate::xml_exml::{consume_estimate, with_out_buffer};
use rustler::sys::ErlNifTerm as ERL_NIF_TERM;
use rustler::{Binary, Env, NifResult, Term};
use std::ops::Range;
use xmpp_accel_core::xml::escape::{escape_text_fxml, write_attr_value_fxml};
use xmpp_accel_core::xml::fxml_ns::StanzaSink;
use xmpp_accel_core::xml::{Item, Limits, Mode, Parser, Tape, XmlError};

/// How fast_xml shapes its terms.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Shape {
    /// Records and `{xmlcdata, Bin}` (the default).
    Records,
    /// Elixir structs with attribute maps (the `use_maps` option).
    Maps,
}

/// The attributes among the items `attrs`, as `(name, value)`.
fn attrs_of(tape: &Tape, attrs: Range<usize>) -> impl Iterator<Item = (&[u8], &[u8])> + Clone {
    tape.items[attrs].iter().filter_map(move |it| match *it {
        Item::Attr { name, value } => Some((tape.get(name), tape.get(value))),
        _ => None,
    })
}

/// `[{Name, Value}]` (or a map with `Maps`) of the `Attr` items `attrs`,
/// declarations first; names shared through `names`. With `drop_undeclare`, an
/// `xmlns=''` (undeclaring the default namespace) is left out, as fast_xml's
/// `parse_element` leaves it out (expat reports that declaration with no
/// URI, and fast_xml's whole-element parse writes no attribute for it).
/// `scratch` is working space.
pub fn attrs_term(
    env: Env<'_>,
    shape: Shape,
    names: &mut Interner<'_, '_>,
    tape: &Tape,
    attrs: Range<usize>,
    drop_undeclare: bool,
    scratch: &mut Vec<ERL_NIF_TERM>,
) -> ERL_NIF_TERM {
    let is_decl = |k: &[u8]| k == b"xmlns" || k.starts_with(b"xmlns:");
    let base = scratch.len();
    // passes: declarations, then the others
    for decls in [true, false] {
        for (k, v) in attrs_of(tape, attrs.clone()) {
            if decls != is_decl(k) {
                continue;
            }
            if drop_undeclare && v.is_empty() && k == b"xmlns" {
                continue;
            }
            match shape {
                Shape::Records => scratch.push(tuple(env, &[names.binary(k), names.binary(v)])),
                Shape::Maps => {
                    // fast_xml's maps lose the declarations it read (it updates
                    // keys that are not there yet); only those it adds remain
                    if is_decl(k) {
                        continue;
                    }
                    scratch.push(names.binary(k));
                    scratch.push(binary(env, v));
                }
            }
        }
    }
    let term = match shape {
        Shape::Records => list(env, &scratch[base..]),
        Shape::Maps => {
            let pairs = &scratch[base..];
            let keys: Vec<ERL_NIF_TERM> = pairs.iter().step_by(2).copied().collect();
            let values: Vec<ERL_NIF_TERM> = pairs.iter().skip(1).step_by(2).copied().collect();
            // a repeated key cannot happen (the parser refuses duplicates)
            map(env, &keys, &values).unwrap_or_else(|| map(env, &[], &[]).unwrap_or_default())
        }
    };
    scratch.truncate(base);
    term
}

fn struct_term(env: Env<'_>, module: &str, fields: &[(&str, ERL_NIF_TERM)]) -> ERL_NIF_TERM {
    let mut keys = vec![rustler::Atom::from_str(env, "__struct__")
        .map(|a| a.to_term(env).as_c_arg())
        .unwrap_or_default()];
    let mut values = vec![rustler::Atom::from_str(env, module)
        .map(|a| a.to_term(env).as_c_arg())
        .unwrap_or_default()];
    for (k, v) in fields {
        keys.push(
            rustler::Atom::from_str(env, k)
                .map(|a| a.to_term(env).as_c_arg())
                .unwrap_or_default(),
        );
        values.push(*v);
    }
    map(env, &keys, &values).unwrap_or_default()
}

/// The element whose balanced items are `range` of `tape`.
pub fn element_term(
    env: Env<'_>,
    shape: Shape,
    names: &mut Interner<'_, '_>,
    tape: &Tape,
    range: Range<usize>,
) -> ERL_NIF_TERM {
    let xmlel = atoms::xmlel().to_term(env).as_c_arg();
    let xmlcdata = atoms::xmlcdata().to_term(env).as_c_arg();
    let mut children: Vec<ERL_NIF_TERM> = Vec::with_capacity(32);
    let mut open: Vec<(ERL_NIF_TERM, ERL_NIF_TERM, usize)> = Vec::with_capacity(16);
    let mut i = range.start;
    while i < range.end {
        match tape.items[i] {
            Item::Start { name, attrs } => {
                let attrs_t = attrs_term(
                    env,
                    shape,
                    names,
                    tape,
                    i + 1..i + 1 + attrs as usize,
                    true,
                    &mut children,
                );
                open.push((names.binary(tape.get(name)), attrs_t, children.len()));
                i += attrs as usize;
            }
            Item::Attr { .. } => {}
            Item::Text(span) => {
                let text = binary(env, tape.get(span));
                children.push(match shape {
                    Shape::Records => tuple(env, &[xmlcdata, text]),
                    Shape::Maps => text,
                });
            }
            Item::End => {
                if let Some((name, attrs, first)) = open.pop() {
                    let kids = list(env, &children[first..]);
                    children.truncate(first);
                    children.push(match shape {
                        Shape::Records => tuple(env, &[xmlel, name, attrs, kids]),
                        Shape::Maps => struct_term(
                            env,
                            "Elixir.FastXML.El",
                            &[("name", name), ("attrs", attrs), ("children", kids)],
                        ),
                    });
                }
            }
        }
        i += 1;
    }
    children
        .first()
        .copied()
        .unwrap_or_else(|| atoms::error().to_term(env).as_c_arg())
}

/// Builds a stanza's term from [`normalize_into`]'s walk: the elements and
/// text as they come, attributes as given (no reordering). The vectors are
/// working space, kept between stanzas.
///
/// [`normalize_into`]: xmpp_accel_core::xml::fxml_ns::normalize_into
#[derive(Default)]
pub struct StanzaBuilder {
    /// Finished children of the open elements, then the attributes (or
    /// map keys and values) of the element being started.
    terms: Vec<ERL_NIF_TERM>,
    /// Open elements: name, attributes, where their children start in `terms`.
    open: Vec<(ERL_NIF_TERM, ERL_NIF_TERM, usize)>,
    /// The name of the element being started and where its attributes start.
    name: ERL_NIF_TERM,
    attrs_at: usize,
}

impl StanzaBuilder {
    /// A sink that builds in `env`, sharing equal short names through
    /// `names`; [`StanzaTerms::finish`] gives the term.
    pub fn sink<'s, 'e, 'n, 't>(
        &'s mut self,
        env: Env<'e>,
        shape: Shape,
        names: &'n mut Interner<'e, 't>,
    ) -> StanzaTerms<'s, 'e, 'n, 't> {
        self.terms.clear();
        self.open.clear();
        StanzaTerms {
            env,
            shape,
            xmlel: atoms::xmlel().to_term(env).as_c_arg(),
            xmlcdata: atoms::xmlcdata().to_term(env).as_c_arg(),
            b: self,
            names,
        }
    }
}

/// A [`StanzaBuilder`] at work in one env.
pub struct StanzaTerms<'s, 'e, 'n, 't> {
    env: Env<'e>,
    shape: Shape,
    xmlel: ERL_NIF_TERM,
    xmlcdata: ERL_NIF_TERM,
    b: &'s mut StanzaBuilder,
    names: &'n mut Interner<'e, 't>,
}

impl StanzaTerms<'_, '_, '_, '_> {
    /// The stanza's element (the `error` atom if none was walked).
    pub fn finish(self) -> ERL_NIF_TERM {
        self.b
            .terms
            .first()
            .copied()
            .unwrap_or_else(|| atoms::error().to_term(self.env).as_c_arg())
    }
}

impl StanzaSink for StanzaTerms<'_, '_, '_, '_> {
    fn start(&mut self, name: &[u8]) {
        self.b.name = self.names.binary(name);
        self.b.attrs_at = self.b.terms.len();
    }

    fn attr(&mut self, name: &[u8], value: &[u8]) {
        let (env, terms) = (self.env, &mut self.b.terms);
        let name = self.names.binary(name);
        match self.shape {
            Shape::Records => terms.push(tuple(env, &[name, self.names.binary(value)])),
            Shape::Maps => {
                terms.push(name);
                terms.push(self.names.binary(value));
            }
        }
    }

    fn attrs_end(&mut self) {
        let (env, at) = (self.env, self.b.attrs_at);
        let attrs = match self.shape {
            Shape::Records => list(env, &self.b.terms[at..]),
            Shape::Maps => {
                let pairs = &self.b.terms[at..];
                let keys: Vec<ERL_NIF_TERM> = pairs.iter().step_by(2).copied().collect();
                let values: Vec<ERL_NIF_TERM> = pairs.iter().skip(1).step_by(2).copied().collect();
                // a repeated key cannot happen (the parser refuses duplicates)
                map(env, &keys, &values).unwrap_or_else(|| map(env, &[], &[]).unwrap_or_default())
            }
        };
        self.b.terms.truncate(at);
        self.b.open.push((self.b.name, attrs, at));
    }

    fn text(&mut self, text: &[u8]) {
        let text = binary(self.env, text);
        self.b.terms.push(match self.shape {
            Shape::Records => tuple(self.env, &[self.xmlcdata, text]),
            Shape::Maps => text,
        });
    }

    fn end(&mut self) {
        let env = self.env;
        if let Some((name, attrs, first)) = self.b.open.pop() {
            let kids = list(env, &self.b.terms[first..]);
            self.b.terms.truncate(first);
            self.b.terms.push(match self.shape {
                Shape::Records => tuple(env, &[self.xmlel, name, attrs, kids]),
                Shape::Maps => struct_term(
                    env,
                    "Elixir.FastXML.El",
                    &[("name", name), ("attrs", attrs), ("children", kids)],
                ),
            });
        }
    }
}

/// A stream header `{xmlstreamstart, Name, Attrs}` (or its struct) from
/// the `Start` item at `at` (declarations first, as fast_xml gives them).
pub fn stream_start_term(env: Env<'_>, shape: Shape, tape: &Tape, at: usize) -> ERL_NIF_TERM {
    let Item::Start { name, attrs } = tape.items[at] else {
        return atoms::error().to_term(env).as_c_arg();
    };
    let name = binary(env, tape.get(name));
    let attrs = Interner::with(env, |names| {
        let attrs = at + 1..at + 1 + attrs as usize;
        attrs_term(env, shape, names, tape, attrs, false, &mut Vec::new())
    });
    match shape {
        Shape::Records => tuple(
            env,
            &[atoms::xmlstreamstart().to_term(env).as_c_arg(), name, attrs],
        ),
        Shape::Maps => struct_term(
            env,
            "Elixir.FastXML.StreamStart",
            &[("name", name), ("attrs", attrs)],
        ),
    }
}

/// `{xmlstreamend, Name}` (or its struct).
pub fn stream_end_term(env: Env<'_>, shape: Shape, name: &[u8]) -> ERL_NIF_TERM {
    let name = binary(env, name);
    match shape {
        Shape::Records => tuple(env, &[atoms::xmlstreamend().to_term(env).as_c_arg(), name]),
        Shape::Maps => struct_term(env, "Elixir.FastXML.StreamEnd", &[("name", name)]),
    }
}

/// True for our own limits on an element (depth, attribute count, size):
/// `fxml_stream` reports them as fast_xml reports its size limit, with
/// `{xmlstreamerror, <<"XML stanza is too big">>}`, which ejabberd answers
/// with a `policy-violation` stream error (not `not-well-formed`).
pub fn is_limit(err: &XmlError) -> bool {
    matches!(
        err,
        XmlError::ElementTooBig | XmlError::TooDeep(_) | XmlError::TooManyAttributes(_)
    )
}

/// expat's error code and text for the fault that `err` describes (what
/// fast_xml reports for the same input). Our limits, which expat lacks,
/// keep code 1 and say which limit was hit.
pub fn expat_error(err: &XmlError) -> (u32, std::borrow::Cow<'static, str>) {
    if is_limit(err) {
        return (1, format!("XML stanza is too big: {err}").into());
    }
    let (code, text) = expat_code(err);
    (code, text.into())
}

fn expat_code(err: &XmlError) -> (u32, &'static str) {
    match err {
        XmlError::MismatchedTag { .. } | XmlError::UnexpectedEndTag(_) => (7, "mismatched tag"),
        XmlError::DuplicateAttribute(_) => (8, "duplicate attribute"),
        XmlError::UndefinedEntity(name) if name.starts_with('#') => {
            (14, "reference to invalid character number")
        }
        XmlError::UndefinedEntity(_) => (11, "undefined entity"),
        XmlError::InvalidChar(_) => (4, "not well-formed (invalid token)"),
        XmlError::InvalidUtf8 => (4, "not well-formed (invalid token)"),
        XmlError::Namespace(msg) if msg.starts_with("unbound") => (27, "unbound prefix"),
        XmlError::Namespace(msg) if msg.contains("undeclared") => (28, "must not undeclare prefix"),
        XmlError::Namespace(msg) if msg.contains("invalid namespace name") => (2, "syntax error"),
        XmlError::Namespace(_) => (4, "not well-formed (invalid token)"),
        XmlError::JunkAfterRoot => (9, "junk after document element"),
        XmlError::UnexpectedEof => (3, "no element found"),
        XmlError::DtdNotAllowed => (35, "parsing aborted"),
        XmlError::PiNotAllowed => (17, "XML or text declaration not at start of entity"),
        XmlError::CommentNotAllowed => (2, "syntax error"),
        XmlError::TextAtStreamLevel => (2, "syntax error"),
        XmlError::ElementTooBig | XmlError::TooDeep(_) | XmlError::TooManyAttributes(_) => {
            (1, "XML stanza is too big")
        }
        XmlError::Syntax(_) | XmlError::MalformedAttribute(_) | XmlError::InvalidName(_) => {
            (4, "not well-formed (invalid token)")
        }
    }
}

/// `{Code, Message}`
pub fn error_reason(env: Env<'_>, err: &XmlError) -> ERL_NIF_TERM {
    let (code, text) = expat_error(err);
    tuple(
        env,
        &[
            rustler::Encoder::encode(&code, env).as_c_arg(),
            binary(env, text.as_bytes()),
        ],
    )
}

// ---------------------------------------------------------------- parse_element

fn shape_of(env: Env<'_>, options: Option<Term<'_>>) -> NifResult<Shape> {
    let Some(options) = options else {
        return Ok(Shape::Records);
    };
    let mut shape = Shape::Records;
    for opt in options.into_list_iterator()? {
        if opt.as_c_arg() == atoms::use_maps().to_term(env).as_c_arg() {
            shape = Shape::Maps;
        }
    }
    Ok(shape)
}

thread_local! {
    /// One whole-element parser per scheduler thread, reused call after call.
    static DOC_PARSER: std::cell::RefCell<Parser> =
        std::cell::RefCell::new(Parser::new(Mode::Document, Limits::default()));
}

fn parse_element_impl<'a>(
    env: Env<'a>,
    input: Binary<'a>,
    options: Option<Term<'a>>,
) -> NifResult<Term<'a>> {
    let shape = shape_of(env, options)?;
    Ok(DOC_PARSER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut parser) => {
            parser.reset();
            let term = parse_element_with(env, shape, &mut parser, input.as_slice());
            if parser.buffered_bytes() > 256 * 1024 {
                *parser = Parser::new(Mode::Document, Limits::default());
            }
            term
        }
        Err(_) => {
            let mut parser = Parser::new(Mode::Document, Limits::default());
            parse_element_with(env, shape, &mut parser, input.as_slice())
        }
    }))
}

fn parse_element_with<'a>(
    env: Env<'a>,
    shape: Shape,
    parser: &mut Parser,
    input: &[u8],
) -> Term<'a> {
    let error = atoms::error().to_term(env).as_c_arg();
    let result = parser.feed(input).and_then(|_| parser.finish());
    let term = match (result, parser.tape().events.first()) {
        (Ok(()), Some(xmpp_accel_core::xml::Event::Element(range))) => {
            Interner::with(env, |names| {
                element_term(env, shape, names, parser.tape(), range.clone())
            })
        }
        (Ok(()), _) => tuple(env, &[error, error_reason(env, &XmlError::UnexpectedEof)]),
        (Err(e), _) => tuple(env, &[error, error_reason(env, &e)]),
    };
    wrap(env, term)
}

/// `fxml_stream:parse_element/1,2`: `#xmlel{} | {error, {Code, Msg}}`; `dirty` when large.
#[rustler::nif(name = "fxml_parse_element")]
fn fxml_parse_element<'a>(
    env: Env<'a>,
    input: Binary<'a>,
    options: Term<'a>,
) -> NifResult<Term<'a>> {
    if input.len() > budget::PARSE_BYTES {
        return Ok(atoms::dirty().to_term(env));
    }
    consume_estimate(env, input.len());
    parse_element_impl(env, input, Some(options))
}

/// The dirty-scheduler twin of `fxml_parse_element/2`.
#[rustler::nif(name = "fxml_parse_element_dirty", schedule = "DirtyCpu")]
fn fxml_parse_element_dirty<'a>(
    env: Env<'a>,
    input: Binary<'a>,
    options: Term<'a>,
) -> NifResult<Term<'a>> {
    parse_element_impl(env, input, Some(options))
}

// ---------------------------------------------------------------- serialisation

enum Walk {
    BadArg,
    TooBig,
}

impl From<NotAList> for Walk {
    fn from(_: NotAList) -> Self {
        Walk::BadArg
    }
}

fn iodata<'a>(env: Env<'a>, term: ERL_NIF_TERM) -> Result<&'a [u8], Walk> {
    let term = wrap(env, term);
    match Binary::from_term(term) {
        Ok(b) => Ok(b.as_slice()),
        Err(_) => Binary::from_iolist(term)
            .map(|b| b.as_slice())
            .map_err(|_| Walk::BadArg),
    }
}

/// Writes an fxml element (or, unless `header`, a `{xmlcdata, _}`) as fast_xml does.
fn write_fxml(
    env: Env<'_>,
    root: ERL_NIF_TERM,
    header: bool,
    limit: Option<usize>,
    out: &mut Vec<u8>,
) -> Result<(), Walk> {
    let xmlel = atoms::xmlel().to_term(env).as_c_arg();
    let xmlcdata = atoms::xmlcdata().to_term(env).as_c_arg();
    let mut stack: Vec<(&[u8], ERL_NIF_TERM)> = Vec::with_capacity(16);
    let mut next = Some(root);
    let mut nodes = 0usize;
    loop {
        if let Some(term) = next.take() {
            nodes += 1;
            if let Some(max) = limit {
                if nodes > budget::SERIALISE_NODES || out.len() > max {
                    return Err(Walk::TooBig);
                }
            }
            match tuple_fields(env, term).ok_or(Walk::BadArg)? {
                [tag, content] if *tag == xmlcdata && !header => {
                    let text = iodata(env, *content)?;
                    if limit.is_some_and(|max| out.len() + text.len() > max) {
                        return Err(Walk::TooBig);
                    }
                    escape_text_fxml(text, out);
                }
                [tag, name, attrs, children] if *tag == xmlel => {
                    let name = iodata(env, *name)?;
                    if header && stack.is_empty() {
                        out.extend_from_slice(b"<?xml version='1.0'?>");
                    }
                    out.push(b'<');
                    out.extend_from_slice(name);
                    // as fast_xml: attributes stop where the list does (a
                    // non-list or an improper tail ends them quietly)
                    let mut rest = *attrs;
                    while let Ok(Some((attr, tail))) = list_cell(env, rest) {
                        let [k, v] = tuple_fields(env, attr).ok_or(Walk::BadArg)? else {
                            return Err(Walk::BadArg);
                        };
                        let (k, v) = (iodata(env, *k)?, iodata(env, *v)?);
                        if limit.is_some_and(|max| out.len() + k.len() + v.len() > max) {
                            return Err(Walk::TooBig);
                        }
                        out.push(b' ');
                        out.extend_from_slice(k);
                        out.push(b'=');
                        write_attr_value_fxml(v, out);
                        rest = tail;
                    }
                    if header {
                        out.push(b'>');
                        return Ok(());
                    }
                    match list_cell(env, *children)? {
                        None => out.extend_from_slice(b"/>"),
                        Some(_) => {
                            out.push(b'>');
                            stack.push((name, *children));
                        }
                    }
                }
                _ => return Err(Walk::BadArg),
            }
        }
        let Some((name, rest)) = stack.last_mut() else {
            return Ok(());
        };
        // as fast_xml: an improper tail ends the children quietly
        match list_cell(env, *rest).unwrap_or(None) {
            Some((head, tail)) => {
                *rest = tail;
                next = Some(head);
            }
            None => {
                out.extend_from_slice(b"</");
                out.extend_from_slice(name);
                out.push(b'>');
                stack.pop();
            }
        }
    }
}

fn to_binary_impl<'a>(
    env: Env<'a>,
    el: Term<'a>,
    header: bool,
    limit: Option<usize>,
) -> NifResult<Term<'a>> {
    with_out_buffer(|out| {
        let result = write_fxml(env, el.as_c_arg(), header, limit, out);
        if limit.is_some() {
            consume_estimate(env, 2 * out.len());
        }
        match result {
            Ok(()) => Ok(wrap(env, binary(env, out))),
            Err(Walk::BadArg) => Err(rustler::Error::BadArg),
            Err(Walk::TooBig) => Ok(atoms::dirty().to_term(env)),
        }
    })
}

/// `fxml:element_to_binary/1`; `dirty` when large; `badarg` on a bad element.
#[rustler::nif(name = "fxml_element_to_binary")]
fn fxml_element_to_binary<'a>(env: Env<'a>, el: Term<'a>) -> NifResult<Term<'a>> {
    to_binary_impl(env, el, false, Some(budget::SERIALISE_BYTES))
}

/// The dirty-scheduler twin of `fxml_element_to_binary/1`.
#[rustler::nif(name = "fxml_element_to_binary_dirty", schedule = "DirtyCpu")]
fn fxml_element_to_binary_dirty<'a>(env: Env<'a>, el: Term<'a>) -> NifResult<Term<'a>> {
    to_binary_impl(env, el, false, None)
}

/// `fxml:element_to_header/1`: `<?xml version='1.0'?><name attrs>`.
#[rustler::nif(name = "fxml_element_to_header")]
fn fxml_element_to_header<'a>(env: Env<'a>, el: Term<'a>) -> NifResult<Term<'a>> {
    to_binary_impl(env, el, true, Some(budget::SERIALISE_BYTES))
}

/// The dirty-scheduler twin of `fxml_element_to_header/1`.
#[rustler::nif(name = "fxml_element_to_header_dirty", schedule = "DirtyCpu")]
fn fxml_element_to_header_dirty<'a>(env: Env<'a>, el: Term<'a>) -> NifResult<Term<'a>> {
    to_binary_impl(env, el, true, None)
}
