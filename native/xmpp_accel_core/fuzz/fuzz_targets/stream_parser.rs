//! Fuzzes the stream parser with arbitrary bytes cut at arbitrary points:
//! it must never panic, and the events must not depend on the cut points.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_accel_core::xml::{Element, Event, Limits, Mode, Parser, Tape};

fn events(tape: &Tape) -> Vec<String> {
    tape.events
        .iter()
        .map(|ev| match ev {
            Event::StreamStart(r) | Event::Element(r) => format!("{:?}", Element::from_tape(tape, r.clone())),
            Event::StreamEnd(s) | Event::StreamText(s) => format!("{ev:?} {:?}", tape.get(*s)),
        })
        .collect()
}

fn run(chunks: &[&[u8]], limits: Limits) -> Result<Vec<String>, String> {
    let mut p = Parser::new(Mode::Stream, limits);
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c).map_err(|e| e.to_string())?;
        out.extend(events(p.tape()));
        p.clear_events();
    }
    Ok(out)
}

fuzz_target!(|data: &[u8]| {
    if data.is_empty() {
        return;
    }
    // the first byte chooses a chunk size
    let size = 1 + data[0] as usize % 64;
    let input = &data[1..];
    let limits = Limits { max_element_size: 0, max_depth: 64, max_attrs: 32 };
    let whole = run(&[input], limits);
    let chunks: Vec<&[u8]> = input.chunks(size).collect();
    let cut = run(&chunks, limits);
    if let (Ok(a), Ok(b)) = (&whole, &cut) {
        assert_eq!(a, b, "chunking changed the events");
    }
    assert_eq!(whole.is_ok(), cut.is_ok(), "chunking changed the verdict");
});
