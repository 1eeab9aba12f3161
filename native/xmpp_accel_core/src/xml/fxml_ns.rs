//! fast_xml's namespace normalisation of stanzas in a stream.
//!
//! ejabberd's stream parser (fast_xml on expat) does not hand stanzas over as
//! written: it resolves each element's namespace and rewrites names and
//! `xmlns` attributes so that every element carries its namespace the same
//! way, whatever prefixes the peer used. The rules, per element below the
//! stream root (its "parent namespace" is the one the parent ended up with;
//! for a stanza, the stream's default namespace):
//!
//! 1. If the element's prefix, with the namespace it is bound to, is one the
//!    stream header declared (`stream:error` with the streams namespace,
//!    `db:result` with dialback), and no ancestor redeclared a header
//!    prefix: the name keeps its prefix, the element's own repeated
//!    declaration of that prefix is dropped, and its children compare
//!    against the parent namespace.
//! 2. Otherwise the prefix is dropped from the name and, if the element's
//!    namespace is the parent namespace, its `xmlns` attribute is dropped;
//! 3. else its `xmlns` attribute is set to its namespace (added in front
//!    when the element had none).
//!
//! Declarations (`xmlns`, `xmlns:p`) come first among the attributes, in
//! document order, then the other attributes in document order; attribute
//! names keep their prefixes. The stream header itself is left as written
//! (declarations first). This module reproduces those rules on a parsed
//! tape; the parser has already checked that every prefix is bound.

use super::tape::{Item, Span, Tape};
use std::ops::Range;

/// What the stream header declared: its default namespace and its prefixes.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamNamespaces {
    pub default: Vec<u8>,
    pub prefixes: Vec<(Vec<u8>, Vec<u8>)>,
}

impl StreamNamespaces {
    /// Reads the declarations among a stream header's attributes.
    pub fn from_attrs<'a>(attrs: impl Iterator<Item = (&'a [u8], &'a [u8])>) -> Self {
        let mut ns = StreamNamespaces::default();
        for (k, v) in attrs {
            if k == b"xmlns" {
                ns.default = v.to_vec();
            } else if let Some(p) = k.strip_prefix(b"xmlns:") {
                ns.prefixes.push((p.to_vec(), v.to_vec()));
            }
        }
        ns
    }

    fn declares(&self, prefix: &[u8], uri: &[u8]) -> bool {
        self.prefixes.iter().any(|(p, u)| p == prefix && u == uri)
    }

    fn declares_prefix(&self, prefix: &[u8]) -> bool {
        self.prefixes.iter().any(|(p, _)| p == prefix)
    }
}

/// One open element while rewriting.
struct Frame<'a> {
    /// The namespace its children compare against.
    namespace: &'a [u8],
    /// The default namespace in scope inside it.
    default: &'a [u8],
    /// An ancestor (or itself) redeclared a prefix of the stream header.
    redefined: bool,
    /// How many declarations it added to the scope.
    declared: usize,
}

/// Receives a stanza as fast_xml's stream parser hands it over, node by
/// node, in document order (see [`normalize_into`]).
pub trait StanzaSink {
    /// An element starts; its attributes follow, then [`StanzaSink::attrs_end`].
    fn start(&mut self, name: &[u8]);
    /// One attribute of the element just started.
    fn attr(&mut self, name: &[u8], value: &[u8]);
    /// The element's attributes are complete; its children follow.
    fn attrs_end(&mut self);
    /// Character data (unescaped).
    fn text(&mut self, text: &[u8]);
    /// The innermost open element ends.
    fn end(&mut self);
}

/// Rewrites the stanza `range` of `tape` as fast_xml's stream parser would
/// hand it over, appending it to `out`; returns its items' range in `out`.
///
/// With `declarations` false, the element's own declarations are left out
/// and only an `xmlns` that the rules add is written (fast_xml's `use_maps`
/// mode loses declarations this way).
pub fn normalize_stanza(
    tape: &Tape,
    range: Range<usize>,
    stream: &StreamNamespaces,
    declarations: bool,
    out: &mut Tape,
) -> Range<usize> {
    let first = out.items.len();
    let mut sink = TapeSink {
        out,
        start_at: 0,
        count: 0,
    };
    normalize_into(tape, range, stream, declarations, &mut sink);
    first..out.items.len()
}

/// Walks the stanza `range` of `tape` as fast_xml's stream parser would
/// hand it over (the rules above), telling `sink` node by node; nothing
/// is copied. `declarations` as in [`normalize_stanza`].
pub fn normalize_into(
    tape: &Tape,
    range: Range<usize>,
    stream: &StreamNamespaces,
    declarations: bool,
    sink: &mut impl StanzaSink,
) {
    // Prefix bindings declared inside the stanza, innermost last:
    // (prefix, uri); the stream header's come after them in lookups.
    let mut scope: Vec<(&[u8], &[u8])> = Vec::new();
    let mut frames: Vec<Frame> = Vec::with_capacity(16);
    frames.push(Frame {
        namespace: &stream.default,
        default: &stream.default,
        redefined: false,
        declared: 0,
    });
    let is_decl =
        |k: &[u8]| k.len() >= 5 && k.starts_with(b"xmlns") && (k.len() == 5 || k[5] == b':');
    let mut i = range.start;
    while i < range.end {
        match tape.items[i] {
            Item::Start { name, attrs } => {
                let attrs_items = &tape.items[i + 1..i + 1 + attrs as usize];
                let attr = |it: &Item| match *it {
                    Item::Attr { name, value } => Some((tape.get(name), tape.get(value))),
                    _ => None,
                };
                let parent = frames.last().expect("the stream frame is never popped");
                // declarations of this element enter the scope first; the
                // default namespace is tracked per element (most elements
                // have no prefix and only need it)
                let mark = scope.len();
                let mut default = parent.default;
                let mut had_default = false;
                let mut decls = 0usize;
                for (k, v) in attrs_items.iter().filter_map(attr) {
                    if is_decl(k) {
                        decls += 1;
                        if k.len() == 5 {
                            default = v;
                            // `xmlns=''` undeclares the default namespace:
                            // expat reports it without a URI and fast_xml
                            // writes no attribute for it, so the rules below
                            // treat the element as having no xmlns of its own
                            had_default = !v.is_empty();
                        } else {
                            scope.push((&k[6..], v));
                        }
                    }
                }
                let full = tape.get(name);
                let (prefix, local) = match full.iter().position(|&b| b == b':') {
                    Some(c) => (&full[..c], &full[c + 1..]),
                    None => (&full[..0], full),
                };
                let uri = if prefix.is_empty() {
                    default
                } else {
                    let inner = scope.iter().rev().find(|(p, _)| *p == prefix);
                    match inner {
                        Some((_, u)) => u,
                        None => stream
                            .prefixes
                            .iter()
                            .rev()
                            .find(|(p, _)| p == prefix)
                            .map_or(&b""[..], |(_, u)| &u[..]),
                    }
                };
                let keep_prefix =
                    !prefix.is_empty() && !parent.redefined && stream.declares(prefix, uri);
                // most often the very same bytes: compare pointers first
                let same_ns = !keep_prefix
                    && ((uri.as_ptr() == parent.namespace.as_ptr()
                        && uri.len() == parent.namespace.len())
                        || uri == parent.namespace);
                let replace = !keep_prefix && !same_ns;
                let mut redefined = parent.redefined;
                let namespace = if keep_prefix { parent.namespace } else { uri };
                sink.start(if keep_prefix { full } else { local });
                // an element whose namespace must be spelled out gets an xmlns in front
                if replace && !had_default {
                    sink.attr(b"xmlns", uri);
                }
                if decls > 0 {
                    // declarations, in document order
                    for (k, v) in attrs_items.iter().filter_map(attr) {
                        if k.len() == 5 && k == b"xmlns" {
                            if same_ns || !declarations || v.is_empty() {
                                continue;
                            }
                            sink.attr(k, if replace { uri } else { v });
                        } else if is_decl(k) {
                            let p = &k[6..];
                            if keep_prefix && p == prefix {
                                continue;
                            }
                            if !redefined && stream.declares_prefix(p) {
                                redefined = true;
                            }
                            if declarations {
                                sink.attr(k, v);
                            }
                        }
                    }
                }
                // the other attributes, in document order
                for (k, v) in attrs_items.iter().filter_map(attr) {
                    if decls == 0 || !is_decl(k) {
                        sink.attr(k, v);
                    }
                }
                sink.attrs_end();
                frames.push(Frame {
                    namespace,
                    default,
                    redefined,
                    declared: scope.len() - mark,
                });
                i += attrs as usize;
            }
            Item::Attr { .. } => {}
            Item::Text(span) => sink.text(tape.get(span)),
            Item::End => {
                if let Some(frame) = frames.pop() {
                    scope.truncate(scope.len() - frame.declared);
                }
                sink.end();
            }
        }
        i += 1;
    }
}

/// Writes a normalised stanza to a tape.
struct TapeSink<'t> {
    out: &'t mut Tape,
    /// The `Start` item of the element whose attributes are being written.
    start_at: usize,
    count: u32,
}

impl StanzaSink for TapeSink<'_> {
    fn start(&mut self, name: &[u8]) {
        let name = self.out.push_bytes(name);
        self.start_at = self.out.items.len();
        self.count = 0;
        self.out.items.push(Item::Start { name, attrs: 0 });
    }

    fn attr(&mut self, key: &[u8], value: &[u8]) {
        let name: Span = self.out.push_bytes(key);
        let value = self.out.push_bytes(value);
        self.out.items.push(Item::Attr { name, value });
        self.count += 1;
    }

    fn attrs_end(&mut self) {
        if let Item::Start { attrs, .. } = &mut self.out.items[self.start_at] {
            *attrs = self.count;
        }
    }

    fn text(&mut self, text: &[u8]) {
        let text = self.out.push_bytes(text);
        self.out.items.push(Item::Text(text));
    }

    fn end(&mut self) {
        self.out.items.push(Item::End);
    }
}

/// Orders an element's attributes as fast_xml gives them when it does not
/// normalise (whole-element parse, stream header): declarations first, then
/// the others, each group in document order. Returns indexes into `attrs`.
pub fn declarations_first<'a>(
    attrs: &'a [(&'a [u8], &'a [u8])],
) -> impl Iterator<Item = usize> + 'a {
    let is_decl = |k: &[u8]| k == b"xmlns" || k.starts_with(b"xmlns:");
    let decls = attrs
        .iter()
        .enumerate()
        .filter(move |(_, (k, _))| is_decl(k))
        .map(|(i, _)| i);
    let others = attrs
        .iter()
        .enumerate()
        .filter(move |(_, (k, _))| !is_decl(k))
        .map(|(i, _)| i);
    decls.chain(others)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{Element, Event, Limits, Mode, Parser, Style};

    /// Parses a stream and renders every stanza after normalisation.
    fn normalized(chunks: &[&str]) -> Vec<String> {
        normalized_with(chunks, true)
    }

    fn normalized_with(chunks: &[&str], declarations: bool) -> Vec<String> {
        let mut p = Parser::new(Mode::Stream, Limits::default());
        let mut ns = StreamNamespaces::default();
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c.as_bytes()).unwrap();
            let tape = p.tape();
            for ev in &tape.events {
                match ev {
                    Event::StreamStart(r) => {
                        let attrs = tape.items[r.clone()].iter().filter_map(|it| match *it {
                            Item::Attr { name, value } => Some((tape.get(name), tape.get(value))),
                            _ => None,
                        });
                        ns = StreamNamespaces::from_attrs(attrs);
                    }
                    Event::Element(r) => {
                        let mut t = Tape::default();
                        let range = normalize_stanza(tape, r.clone(), &ns, declarations, &mut t);
                        let e = Element::from_tape(&t, range);
                        out.push(String::from_utf8(e.to_bytes(Style::Compact)).unwrap());
                    }
                    _ => {}
                }
            }
            p.clear_events();
        }
        out
    }

    #[test]
    fn fast_xml_rules() {
        let got = normalized(&[
            "<prefix:root prefix:r='1' xmlns='ns0' xmlns:t='ns1' xmlns:prefix='ns'>",
            "<a/><t:a><s:b xmlns:s='ns2'><c/></s:b></t:a>",
            "<prefix:n1/><prefix:n1 xmlns:prefix='ns'/>",
            "<a xmlns='ns5'><b xmlns='ns5'/><t:c xmlns:t='ns1'/></a><n2 xmlns='2'/>",
            "<t:n3/><v:n4 xmlns:v='3'/>",
            "<prefix:n5 xmlns:prefix='n4'><e1/><prefix:e2/></prefix:n5>",
        ]);
        assert_eq!(
            got,
            vec![
                "<a/>",
                "<t:a><b xmlns='ns2' xmlns:s='ns2'><c xmlns='ns0'/></b></t:a>",
                "<prefix:n1/>",
                "<prefix:n1/>",
                "<a xmlns='ns5'><b/><t:c/></a>",
                "<n2 xmlns='2'/>",
                "<t:n3/>",
                "<n4 xmlns='3' xmlns:v='3'/>",
                "<n5 xmlns='n4' xmlns:prefix='n4'><e1 xmlns='ns0'/><e2/></n5>",
            ]
        );
    }

    #[test]
    fn client_stream() {
        let got = normalized(&[
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
            "<message xmlns='jabber:client' to='a'><body>x</body></message>",
            "<stream:features><register xmlns='http://jabber.org/features/iq-register'/></stream:features>",
            "<a:a xmlns:a='b' a:x='1'><a:c/></a:a>",
        ]);
        assert_eq!(
            got,
            vec![
                "<message to='a'><body>x</body></message>",
                "<stream:features><register xmlns='http://jabber.org/features/iq-register'/></stream:features>",
                "<a xmlns='b' xmlns:a='b' a:x='1'><c/></a>",
            ]
        );
    }

    #[test]
    fn undeclared_default_namespace() {
        // what Debian's fast_xml (expat) hands over: `xmlns=''` is no
        // attribute of its own; where the element's namespace ('') differs
        // from its parent's, the rules put an xmlns='' in front
        let got = normalized(&[
            "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
            "<a><b xmlns=''/></a>",
            "<a xmlns:p='u' xmlns=''/>",
            "<p:a xmlns:p='u' xmlns=''><b/></p:a>",
            "<a xmlns='x'><b xmlns=''><c xmlns=''/></b></a>",
        ]);
        assert_eq!(
            got,
            vec![
                "<a><b xmlns=''/></a>",
                "<a xmlns='' xmlns:p='u'/>",
                "<a xmlns='u' xmlns:p='u'><b xmlns=''/></a>",
                "<a xmlns='x'><b xmlns=''><c/></b></a>",
            ]
        );
    }

    #[test]
    fn without_declarations() {
        // fast_xml's use_maps: only the xmlns the rules add is left
        let got = normalized_with(
            &[
                "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>",
                "<stream:features><register xmlns='urn:r'/></stream:features>",
                "<a:a xmlns:a='b' a:x='1'><a:c/><d xmlns='e' f='g'/></a:a>",
            ],
            false,
        );
        assert_eq!(
            got,
            vec![
                "<stream:features><register/></stream:features>",
                "<a xmlns='b' a:x='1'><c/><d f='g'/></a>",
            ]
        );
    }

    #[test]
    fn declarations_come_first() {
        let attrs: Vec<(&[u8], &[u8])> = vec![
            (b"to", b"x"),
            (b"xmlns:stream", b"s"),
            (b"v", b"1"),
            (b"xmlns", b"c"),
        ];
        let order: Vec<usize> = declarations_first(&attrs).collect();
        assert_eq!(order, vec![1, 3, 0, 2]);
    }
}
