//! Core-only throughput on the XEP corpus (no BEAM, no terms), with the exml
//! flavour's white-space rule: how fast the
//! parser fills its tape, whole stanzas and as a chunked stream, and how fast
//! the serialiser writes. A profiling aid, not the benchmark (see bench/).
//!
//! cargo run --release -p xmpp_accel_core --example throughput [corpus.jsonl]

use std::time::Instant;
use xmpp_accel_core::xml::{Element, Event, Limits, Mode, Parser, Style, Whitespace};

fn main() {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "../shared/corpus/xep-stanzas.jsonl".into());
    // ONLY=parse|stream|serialise runs one part (for profiling)
    let only = std::env::var("ONLY").unwrap_or_default();
    let run = |part: &str| only.is_empty() || only == part;
    let data = std::fs::read_to_string(&path).expect("corpus");
    let stanzas: Vec<String> = data
        .lines()
        .filter_map(|l| {
            let i = l.find("\"xml\": \"").map(|i| i + 8)?;
            Some(unjson(&l[i..]))
        })
        .filter(|s| {
            Element::parse(s.as_bytes()).is_ok() && !s.contains("<!--") && !s.contains("<?")
        })
        .collect();
    let total: usize = stanzas.iter().map(|s| s.len()).sum();
    println!("{} stanzas, {:.2} MB", stanzas.len(), total as f64 / 1e6);

    let rounds = if only.is_empty() { 20 } else { 100 };
    if run("parse") {
        let t = Instant::now();
        let mut p = Parser::new(Mode::Document, Limits::default())
            .with_whitespace(Whitespace::DropBetweenMarkup);
        for _ in 0..rounds {
            for s in &stanzas {
                p.reset();
                p.feed(s.as_bytes()).unwrap();
                p.finish().unwrap();
            }
        }
        report("whole-stanza parse (tape)", total * rounds, t);
    }

    let mut stream = String::from("<stream:stream xmlns='jabber:client' xmlns:stream='s'>");
    for s in &stanzas {
        stream.push_str(s);
    }
    stream.push_str("</stream:stream>");
    let bytes = stream.as_bytes();
    for chunk in [1460usize, 16384].into_iter().filter(|_| run("stream")) {
        let t = Instant::now();
        let mut n = 0;
        for _ in 0..rounds {
            let mut p = Parser::new(Mode::Stream, Limits::default())
                .with_whitespace(Whitespace::DropBetweenMarkup);
            for c in bytes.chunks(chunk) {
                p.feed(c).unwrap();
                n += p
                    .tape()
                    .events
                    .iter()
                    .filter(|e| matches!(e, Event::Element(_)))
                    .count();
                p.clear_events();
            }
        }
        assert_eq!(n, stanzas.len() * rounds);
        report(
            &format!("stream, {chunk} B chunks (tape)"),
            bytes.len() * rounds,
            t,
        );
    }

    if !run("serialise") {
        return;
    }
    let parsed: Vec<Element> = stanzas
        .iter()
        .map(|s| Element::parse(s.as_bytes()).unwrap())
        .collect();
    let walks: Vec<_> = parsed.iter().map(|e| e.walk()).collect();
    let t = Instant::now();
    let mut out = Vec::new();
    let mut written = 0;
    for _ in 0..rounds {
        for w in &walks {
            out.clear();
            xmpp_accel_core::xml::serialize::write_element(w, Style::Compact, &mut out);
            written += out.len();
        }
    }
    report("serialise (from walks)", written, t);
}

fn report(what: &str, bytes: usize, t: Instant) {
    let s = t.elapsed().as_secs_f64();
    println!("{what:32} {:8.1} MB/s", bytes as f64 / s / 1e6);
}

/// Decodes a JSON string body (up to the closing quote).
fn unjson(s: &str) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        match c {
            '"' => break,
            '\\' => match it.next() {
                Some('n') => out.push('\n'),
                Some('t') => out.push('\t'),
                Some('r') => out.push('\r'),
                Some('u') => {
                    let h: String = it.by_ref().take(4).collect();
                    let mut code = u32::from_str_radix(&h, 16).unwrap_or(0xFFFD);
                    if (0xD800..0xDC00).contains(&code) {
                        let rest: String = it.by_ref().take(6).collect();
                        let lo = u32::from_str_radix(&rest[2..], 16).unwrap_or(0xDC00);
                        code = 0x10000 + ((code - 0xD800) << 10) + (lo - 0xDC00);
                    }
                    out.push(char::from_u32(code).unwrap_or('\u{FFFD}'));
                }
                Some(c) => out.push(c),
                None => break,
            },
            c => out.push(c),
        }
    }
    out
}
