//! Fuzzes the stream parser with arbitrary bytes cut at arbitrary points:
//! it must never panic, and cutting the input must not change what a caller
//! sees: the same events (names, attributes, children, text) and the same
//! verdict (no error, or the same error) once all the bytes are in and
//! `Parser::check_pending` has run. This is the chunking property stated in
//! `src/xml/parser.rs`; `tests/xml_properties.rs` checks the same one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_accel_core::xml::{Element, Event, Limits, Mode, Parser, Tape, Whitespace};

/// One event as a caller sees it (no offsets, no tape positions).
#[derive(Debug, PartialEq)]
enum Seen {
    Start(Element),
    Element(Element),
    End(Vec<u8>),
    Text(Vec<u8>),
}

fn seen(tape: &Tape, out: &mut Vec<Seen>) {
    for ev in &tape.events {
        let s = match ev {
            Event::StreamStart(r) => Seen::Start(Element::from_tape(tape, r.clone())),
            Event::Element(r) => Seen::Element(Element::from_tape(tape, r.clone())),
            Event::StreamEnd(s) => Seen::End(tape.get(*s).to_vec()),
            Event::StreamText(s) => {
                // text between stanzas may come in more pieces when cut: join them
                if let Some(Seen::Text(prev)) = out.last_mut() {
                    prev.extend_from_slice(tape.get(*s));
                    continue;
                }
                Seen::Text(tape.get(*s).to_vec())
            }
        };
        out.push(s);
    }
}

#[derive(Clone, Copy)]
struct Config {
    mode: Mode,
    limits: Limits,
    stream_text: bool,
    whitespace: Whitespace,
}

fn run(chunks: &[&[u8]], c: Config) -> (Vec<Seen>, Result<(), String>) {
    let mut p = Parser::new(c.mode, c.limits)
        .with_stream_text(c.stream_text)
        .with_whitespace(c.whitespace);
    let mut out = Vec::new();
    for chunk in chunks {
        let r = p.feed(chunk);
        seen(p.tape(), &mut out);
        p.clear_events();
        if let Err(e) = r {
            return (out, Err(e.to_string()));
        }
    }
    let r = p.check_pending().map_err(|e| e.to_string());
    (out, r)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    // the first byte chooses a chunk size, the second the configuration
    let size = 1 + data[0] as usize % 64;
    let flags = data[1];
    let input = &data[2..];
    let config = Config {
        mode: if flags & 1 == 0 {
            Mode::Stream
        } else {
            Mode::Elements
        },
        limits: Limits {
            max_element_size: if flags & 16 == 0 { 0 } else { 200 },
            max_depth: if flags & 2 == 0 { 64 } else { 4 },
            max_attrs: if flags & 2 == 0 { 32 } else { 3 },
        },
        stream_text: flags & 4 != 0,
        whitespace: if flags & 8 == 0 {
            Whitespace::Keep
        } else {
            Whitespace::DropBetweenMarkup
        },
    };
    let whole = run(&[input], config);
    let chunks: Vec<&[u8]> = input.chunks(size).collect();
    let cut = run(&chunks, config);
    assert_eq!(whole.0, cut.0, "chunking changed the events");
    if config.limits.max_element_size == 0 {
        assert_eq!(whole.1, cut.1, "chunking changed the verdict");
    } else {
        // an oversized stanza may be refused as such before a later error in it
        assert_eq!(
            whole.1.is_ok(),
            cut.1.is_ok(),
            "chunking changed the verdict"
        );
    }
});
