//! The sidecar edge's framing (`xml::framing::Framer`) on arbitrary bytes in
//! arbitrary chunks. Properties:
//! - nothing panics, and memory stays within the limits;
//! - what is ready to forward is a prefix of the input, cut at unit
//!   boundaries, and each frame's bytes are a complete unit;
//! - the bytes forwarded are the same whether the input came whole or in
//!   chunks (the chunking is taken from the first input bytes), but for
//!   white space after the last unit: white space between units goes on as
//!   soon as it arrives (keepalives), so a fault right after it may find it
//!   forwarded or not.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_accel_core::xml::framing::Framer;
use xmpp_accel_core::xml::Limits;

fn limits() -> Limits {
    Limits {
        max_element_size: 4096,
        ..Limits::default()
    }
}

/// Feeds `chunks`, returns (bytes forwarded, error seen).
fn run<'a>(input: &[u8], chunks: impl Iterator<Item = &'a [u8]>) -> (Vec<u8>, bool) {
    let mut f = Framer::new(limits());
    let mut out = Vec::new();
    for c in chunks {
        let r = f.push(c);
        let ready = f.ready();
        for fr in f.frames() {
            assert!(fr.range.end <= ready.len());
            assert!(fr.range.start <= fr.range.end);
        }
        out.extend_from_slice(ready);
        assert!(
            input.starts_with(&out),
            "forwarded bytes are not a prefix of the input"
        );
        if r.is_err() {
            return (out, true);
        }
        f.consume();
        assert!(
            f.held_bytes() <= 4 * 4096 + 2 * input.len(),
            "held more than the input"
        );
    }
    (out, false)
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 2 {
        return;
    }
    let (sizes, input) = data.split_at(2.min(data.len()));
    let (whole, _) = run(input, std::iter::once(input));
    let step = 1 + (sizes[0] as usize % 64);
    let (chunked, _) = run(input, input.chunks(step));
    let step2 = 1 + (sizes[1] as usize % 7);
    let (small, _) = run(input, input.chunks(step2));
    let trim = |v: &[u8]| -> Vec<u8> {
        let end = v.len()
            - v.iter()
                .rev()
                .take_while(|b| b.is_ascii_whitespace())
                .count();
        v[..end].to_vec()
    };
    assert_eq!(
        trim(&whole),
        trim(&chunked),
        "forwarded bytes depend on chunking ({step})"
    );
    assert_eq!(
        trim(&whole),
        trim(&small),
        "forwarded bytes depend on chunking ({step2})"
    );
});
