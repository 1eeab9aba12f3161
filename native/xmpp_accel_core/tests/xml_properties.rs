//! Properties of the XML core (proptest):
//! - serialise-then-parse gives back the same element (round trip), compact and pretty;
//! - a stream gives the same events however it is cut into chunks;
//! - arbitrary bytes never panic the parser, in any mode or chunking, and
//!   give the same events and the same verdict however they are cut (the
//!   chunking property stated in `src/xml/parser.rs`, also fuzzed by
//!   `fuzz/fuzz_targets/stream_parser.rs`);
//! - the parser agrees with a naive reference on which texts need escaping.

use proptest::prelude::*;
mod common;

use common::element;
use xmpp_accel_core::xml::{Element, Event, Limits, Mode, Node, Parser, Style, Tape};

/// What a parse of `e`'s serialisation must give: text pieces joined, CDATA
/// as text, `\r` as written (escaped), empty text dropped.
fn normal(e: &Element) -> Element {
    let mut children: Vec<Node> = Vec::new();
    for c in &e.children {
        let node = match c {
            Node::Element(x) => Node::Element(normal(x)),
            Node::Text(t) => Node::Text(t.clone()),
            // CDATA content is read back with line ends normalised
            Node::CData(t) => Node::Text(t.replace("\r\n", "\n").replace('\r', "\n")),
        };
        match (children.last_mut(), node) {
            (Some(Node::Text(prev)), Node::Text(t)) => prev.push_str(&t),
            (_, Node::Text(t)) if t.is_empty() => {}
            (_, n) => children.push(n),
        }
    }
    if let Some(Node::Text(t)) = children.last() {
        if t.is_empty() {
            children.pop();
        }
    }
    Element {
        name: e.name.clone(),
        attrs: e.attrs.clone(),
        children,
    }
}

fn events(tape: &Tape) -> Vec<String> {
    tape.events
        .iter()
        .map(|ev| match ev {
            Event::StreamStart(r) => format!("start {:?}", Element::from_tape(tape, r.clone())),
            Event::Element(r) => format!("{:?}", Element::from_tape(tape, r.clone())),
            Event::StreamEnd(s) => format!("end {}", String::from_utf8_lossy(tape.get(*s))),
            Event::StreamText(s) => format!("text {}", String::from_utf8_lossy(tape.get(*s))),
        })
        .collect()
}

fn parse_chunks(mode: Mode, chunks: &[&[u8]]) -> Result<Vec<String>, String> {
    let mut p = Parser::new(mode, Limits::default());
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c).map_err(|e| e.to_string())?;
        out.extend(events(p.tape()));
        p.clear_events();
    }
    Ok(out)
}

/// The events a caller sees, up to the first error, and the verdict once
/// all chunks are in (after `check_pending`).
fn seen_and_verdict(mode: Mode, chunks: &[&[u8]]) -> (Vec<String>, Result<(), String>) {
    let mut p = Parser::new(
        mode,
        Limits {
            max_element_size: 0,
            max_depth: 5,
            max_attrs: 4,
        },
    );
    let mut out = Vec::new();
    for c in chunks {
        let r = p.feed(c);
        out.extend(events(p.tape()));
        p.clear_events();
        if let Err(e) = r {
            return (out, Err(e.to_string()));
        }
    }
    (out, p.check_pending().map_err(|e| e.to_string()))
}

fn split_at_points(bytes: &[u8], mut points: Vec<usize>) -> Vec<&[u8]> {
    points.iter_mut().for_each(|p| *p %= bytes.len() + 1);
    points.sort_unstable();
    let mut out = Vec::new();
    let mut last = 0;
    for p in points {
        out.push(&bytes[last..p]);
        last = p;
    }
    out.push(&bytes[last..]);
    out
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn round_trip(e in element()) {
        let expected = normal(&e);
        let compact = e.to_bytes(Style::Compact);
        let back = Element::parse(&compact).map_err(|err| TestCaseError::fail(format!("{err}: {}", String::from_utf8_lossy(&compact))))?;
        prop_assert_eq!(&back, &expected);
        // serialising what was parsed is stable
        prop_assert_eq!(back.to_bytes(Style::Compact), expected.to_bytes(Style::Compact));
    }

    #[test]
    fn pretty_output_parses(e in element()) {
        let pretty = e.to_bytes(Style::Pretty);
        prop_assert!(Element::parse(&pretty).is_ok(), "{}", String::from_utf8_lossy(&pretty));
    }

    #[test]
    fn chunking_does_not_change_events(
        stanzas in prop::collection::vec(element(), 1..5),
        points in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut stream = b"<stream:stream xmlns:stream='http://etherx.jabber.org/streams' to='x'>".to_vec();
        for s in &stanzas {
            stream.extend_from_slice(&s.to_bytes(Style::Compact));
            stream.extend_from_slice(b"\n ");
        }
        stream.extend_from_slice(b"</stream:stream>");
        let whole = parse_chunks(Mode::Stream, &[&stream]).map_err(TestCaseError::fail)?;
        prop_assert_eq!(whole.len(), stanzas.len() + 2);
        let cut = parse_chunks(Mode::Stream, &split_at_points(&stream, points)).map_err(TestCaseError::fail)?;
        prop_assert_eq!(cut, whole);
    }

    #[test]
    fn byte_by_byte_equals_whole(e in element()) {
        let bytes = e.to_bytes(Style::Compact);
        let whole = parse_chunks(Mode::Elements, &[&bytes]).map_err(TestCaseError::fail)?;
        let singles: Vec<&[u8]> = bytes.chunks(1).collect();
        prop_assert_eq!(parse_chunks(Mode::Elements, &singles).map_err(TestCaseError::fail)?, whole);
    }

    #[test]
    fn arbitrary_bytes_never_panic(
        data in prop::collection::vec(any::<u8>(), 0..300),
        points in prop::collection::vec(any::<usize>(), 0..6),
    ) {
        for mode in [Mode::Stream, Mode::Elements, Mode::Document] {
            let _ = parse_chunks(mode, &split_at_points(&data, points.clone()));
            let mut p = Parser::new(mode, Limits { max_element_size: 64, max_depth: 4, max_attrs: 3 });
            let _ = p.feed(&data);
            let _ = p.finish();
        }
    }

    #[test]
    fn arbitrary_bytes_same_events_and_verdict_in_any_chunking(
        data in prop::collection::vec(any::<u8>(), 0..300),
        points in prop::collection::vec(any::<usize>(), 0..8),
        mode in prop::sample::select(vec![Mode::Stream, Mode::Elements]),
    ) {
        let whole = seen_and_verdict(mode, &[&data]);
        prop_assert_eq!(seen_and_verdict(mode, &split_at_points(&data, points)), whole);
    }

    #[test]
    fn mutated_stanzas_same_events_and_verdict_in_any_chunking(
        e in element(),
        at in any::<usize>(),
        byte in any::<u8>(),
        points in prop::collection::vec(any::<usize>(), 0..8),
    ) {
        let mut bytes = b"<stream:stream xmlns:stream='s'>".to_vec();
        bytes.extend_from_slice(&e.to_bytes(Style::Compact));
        let i = at % bytes.len();
        bytes[i] = byte;
        let whole = seen_and_verdict(Mode::Stream, &[&bytes]);
        prop_assert_eq!(seen_and_verdict(Mode::Stream, &split_at_points(&bytes, points)), whole);
    }

    #[test]
    fn mutated_stanzas_never_panic(e in element(), at in any::<usize>(), byte in any::<u8>()) {
        let mut bytes = e.to_bytes(Style::Compact);
        let i = at % bytes.len();
        bytes[i] = byte;
        let _ = Element::parse(&bytes);
        let chunks: Vec<&[u8]> = bytes.chunks(3).collect();
        let _ = parse_chunks(Mode::Elements, &chunks);
    }
}
