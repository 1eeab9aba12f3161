//! Properties of the edge framing (`xml::framing::Framer`): any chunking of
//! a stream gives the same forwarded bytes, the same frames and the same
//! verdict; forwarded bytes are the input's own bytes.

use proptest::prelude::*;
use xmpp_accel_core::xml::framing::{stream_error_condition, FrameKind, Framer};
use xmpp_accel_core::xml::Limits;

const HEADER: &str = "<?xml version='1.0'?><stream:stream xmlns='jabber:client' \
     xmlns:stream='http://etherx.jabber.org/streams' to='example.com' version='1.0'>";

fn stanza() -> impl Strategy<Value = String> {
    let text = "[a-z <>&'\"üé€𝄞]{0,30}".prop_map(|t| {
        t.replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;")
            .replace('\'', "&apos;")
            .replace('"', "&quot;")
    });
    prop_oneof![
        text.clone()
            .prop_map(|t| format!("<message to='b@example.com' type='chat'><body>{t}</body></message>")),
        Just("<presence/>".to_owned()),
        text.prop_map(|t| format!(
            "<iq type='set' id='x'><query xmlns='jabber:iq:roster'><item jid='c@d' name='{t}'/></query></iq>"
        )),
        Just("<r xmlns='urn:xmpp:sm:3'/>".to_owned()),
    ]
}

/// A bad unit and the condition it must give.
fn bad() -> impl Strategy<Value = (String, &'static str)> {
    prop_oneof![
        Just((
            "<message><body>x</bodyx></message>".to_owned(),
            "not-well-formed"
        )),
        Just(("<!-- c -->".to_owned(), "restricted-xml")),
        Just(("<a>".repeat(300), "policy-violation")),
        Just((format!("<m>{}</m>", "z".repeat(5000)), "policy-violation")),
        Just(("<m a='1' a='2'/>".to_owned(), "not-well-formed")),
        Just(("<m>&bogus;</m>".to_owned(), "not-well-formed")),
    ]
}

fn limits() -> Limits {
    Limits {
        max_element_size: 4096,
        ..Limits::default()
    }
}

type Run = (
    Vec<u8>,
    Vec<(FrameKind, String, Vec<u8>)>,
    Option<&'static str>,
);

fn run(input: &[u8], cuts: &[usize]) -> Run {
    let mut f = Framer::new(limits());
    let mut out = Vec::new();
    let mut frames = Vec::new();
    let mut at = 0;
    let mut bounds: Vec<usize> = cuts.iter().map(|c| c % (input.len() + 1)).collect();
    bounds.push(input.len());
    bounds.sort_unstable();
    for end in bounds {
        if end < at {
            continue;
        }
        let r = f.push(&input[at..end]);
        at = end;
        for fr in f.frames() {
            frames.push((
                fr.kind,
                fr.name.clone(),
                f.ready()[fr.range.clone()].to_vec(),
            ));
        }
        out.extend_from_slice(f.ready());
        if let Err(e) = r {
            return (out, frames, Some(stream_error_condition(&e)));
        }
        f.consume();
    }
    (out, frames, None)
}

fn trim_end(v: &[u8]) -> &[u8] {
    let end = v.len()
        - v.iter()
            .rev()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
    &v[..end]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn chunking_does_not_change_what_is_forwarded(
        stanzas in prop::collection::vec(stanza(), 0..8),
        bad in prop::option::of(bad()),
        end in any::<bool>(),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = HEADER.to_owned();
        for s in &stanzas {
            input.push_str(s);
            input.push('\n');
        }
        if let Some((b, _)) = &bad {
            input.push_str(b);
        }
        if end {
            input.push_str("</stream:stream>");
        }
        let whole = run(input.as_bytes(), &[]);
        let chunked = run(input.as_bytes(), &cuts);
        prop_assert_eq!(&whole, &chunked);
        let (out, frames, verdict) = whole;
        prop_assert!(input.as_bytes().starts_with(&out));
        prop_assert_eq!(verdict, bad.as_ref().map(|b| b.1));
        // every good stanza went through, byte for byte
        let stanza_frames: Vec<_> = frames.iter().filter(|f| f.0 == FrameKind::Stanza).collect();
        prop_assert_eq!(stanza_frames.len(), stanzas.len());
        for (f, s) in stanza_frames.iter().zip(&stanzas) {
            prop_assert_eq!(&f.2, s.as_bytes());
        }
    }

    #[test]
    fn arbitrary_bytes_forward_the_same_prefix_in_any_chunks(
        bytes in prop::collection::vec(any::<u8>(), 0..300),
        cuts in prop::collection::vec(any::<usize>(), 0..12),
    ) {
        let mut input = HEADER.as_bytes().to_vec();
        input.extend_from_slice(&bytes);
        let (whole, frames_whole, _) = run(&input, &[]);
        let (chunked, frames_chunked, _) = run(&input, &cuts);
        prop_assert!(input.starts_with(&whole));
        prop_assert!(input.starts_with(&chunked));
        // the same units; white space after the last one may have gone on
        // already when it came in its own chunk (keepalives are forwarded)
        prop_assert_eq!(frames_whole, frames_chunked);
        prop_assert_eq!(trim_end(&whole), trim_end(&chunked));
    }
}
