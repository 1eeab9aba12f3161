//! Fuzzes the whole-element parser: never a panic, and anything it accepts
//! serialises to bytes that parse back to the same element.
#![no_main]

use libfuzzer_sys::fuzz_target;
use xmpp_accel_core::xml::{Element, Style};

fuzz_target!(|data: &[u8]| {
    if let Ok(e) = Element::parse(data) {
        let bytes = e.to_bytes(Style::Compact);
        let back = Element::parse(&bytes).expect("our own output parses");
        assert_eq!(back.to_bytes(Style::Compact), bytes);
        let _ = Element::parse(&e.to_bytes(Style::Pretty)).expect("pretty output parses");
    }
});
