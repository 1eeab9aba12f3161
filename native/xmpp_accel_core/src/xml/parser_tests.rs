//! Unit tests of the parser: framing, strictness, limits, chunking.

use super::*;

/// Parses `chunks` in stream mode; returns a compact text form of the events.
fn stream(mode: Mode, limits: Limits, chunks: &[&[u8]]) -> Result<Vec<String>, XmlError> {
    let mut p = Parser::new(mode, limits);
    let mut out = Vec::new();
    for c in chunks {
        p.feed(c)?;
        out.extend(render(p.tape()));
        p.clear_events();
    }
    Ok(out)
}

fn render(tape: &Tape) -> Vec<String> {
    tape.events
        .iter()
        .map(|ev| match ev {
            Event::StreamStart(r) => {
                let mut e = Element::from_tape(tape, r.start..r.end);
                e.children.clear();
                format!(
                    "start:{}",
                    String::from_utf8(e.to_bytes(Style::Compact)).unwrap()
                )
            }
            Event::Element(r) => {
                String::from_utf8(Element::from_tape(tape, r.clone()).to_bytes(Style::Compact))
                    .unwrap()
            }
            Event::StreamEnd(s) => format!("end:{}", String::from_utf8_lossy(tape.get(*s))),
            Event::StreamText(s) => format!("text:{}", String::from_utf8_lossy(tape.get(*s))),
        })
        .collect()
}

fn s(chunks: &[&str]) -> Result<Vec<String>, XmlError> {
    let chunks: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
    stream(Mode::Stream, Limits::default(), &chunks)
}

#[test]
fn stream_events() {
    let evs = s(&[
        "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='s' to='a'>",
        "\n <message to='b'><body>hi &amp; bye</body></message>  <iq/></stream:stream>",
    ])
    .unwrap();
    assert_eq!(
        evs,
        vec![
            "start:<stream:stream xmlns='jabber:client' xmlns:stream='s' to='a'/>",
            "<message to='b'><body>hi &amp; bye</body></message>",
            "<iq/>",
            "end:stream:stream"
        ]
    );
}

#[test]
fn stream_restart_inside_open_stream() {
    let evs =
        s(&["<stream:stream xmlns:stream='1'><a/><stream:stream xmlns:stream='2'><b/>"]).unwrap();
    assert_eq!(
        evs,
        vec![
            "start:<stream:stream xmlns:stream='1'/>",
            "<a/>",
            "start:<stream:stream xmlns:stream='2'/>",
            "<b/>"
        ]
    );
}

#[test]
fn text_is_merged_across_cdata_and_chunks() {
    let evs = s(&[
        "<s><a><![CDATA[hel",
        "lo]]>, wo",
        "rld &a",
        "mp; &#x4",
        "1;</a>",
    ])
    .unwrap();
    assert_eq!(evs, vec!["start:<s/>", "<a>hello, world &amp; A</a>"]);
}

#[test]
fn strictness() {
    let err = |x: &str| s(&[x]).unwrap_err();
    assert!(matches!(err("<s><a></b>"), XmlError::MismatchedTag { .. }));
    assert!(matches!(err("<s><a x='1' x='2'/>"), XmlError::DuplicateAttribute(n) if n == "x"));
    assert_eq!(err("<s><a>&#0;</a>"), XmlError::InvalidChar(0));
    assert_eq!(err("<s><a>&#xD800;</a>"), XmlError::InvalidChar(0xD800));
    assert!(matches!(
        err("<s><a>&foo;</a>"),
        XmlError::UndefinedEntity(_)
    ));
    assert_eq!(err("<s><a>\u{1}</a>"), XmlError::InvalidChar(1));
    assert_eq!(
        s(&["<s><a>\u{1b}</a>"]).unwrap_err(),
        XmlError::InvalidChar(0x1b)
    );
    assert_eq!(
        stream(Mode::Stream, Limits::default(), &[b"<s><a>\xff</a>"]).unwrap_err(),
        XmlError::InvalidUtf8
    );
    assert_eq!(err("<s><!-- c --><a/>"), XmlError::CommentNotAllowed);
    assert_eq!(err("<s><?pi x?>"), XmlError::PiNotAllowed);
    assert_eq!(err("<!DOCTYPE s><s>"), XmlError::DtdNotAllowed);
    assert_eq!(err("<s>hello</s>"), XmlError::TextAtStreamLevel);
    assert_eq!(err("top-level non-tag"), XmlError::TextAtStreamLevel);
    assert!(err("<s><a b=c/>").to_string().contains("attribute"));
    assert_eq!(
        err("<s><a b='<'/>"),
        XmlError::MalformedAttribute("'<' in an attribute value".into())
    );
    assert_eq!(err("<s>\0"), XmlError::TextAtStreamLevel);
    // errors stick
    let mut p = Parser::new(Mode::Stream, Limits::default());
    assert!(p.feed(b"<s></x>").is_err());
    assert!(p.feed(b"<s>").is_err());
    p.reset();
    assert!(p.feed(b"<s>").is_ok());
}

#[test]
fn attribute_normalisation() {
    let evs = s(&["<s><q a=\"&amp;&lt;&gt;&quot;&apos;&#xA;&#x9;&#xD;\" b='x\ty\nz'/>"]).unwrap();
    assert_eq!(
        evs[1],
        "<q a=\"&amp;&lt;&gt;&quot;'&#xA;&#x9;&#xD;\" b='x y z'/>"
    );
}

#[test]
fn element_size_limits_match_exml() {
    let lim = |n| Limits {
        max_element_size: n,
        ..Limits::default()
    };
    let run = |n, chunks: &[&str]| {
        let c: Vec<&[u8]> = chunks.iter().map(|c| c.as_bytes()).collect();
        stream(Mode::Stream, lim(n), &c)
    };
    assert!(run(10, &["<stream89><a></a>"]).is_ok());
    assert_eq!(run(9, &["<stream89><a></a>"]), Err(XmlError::ElementTooBig));
    assert_eq!(
        run(10, &["<stream><a></a>", "<c><d/></c>"]),
        Err(XmlError::ElementTooBig)
    );
    assert!(run(10, &["<stream><a>123</a><b>123</b>"]).is_ok());
    assert_eq!(
        run(10, &["<stream><a>123</a>", "<c>1234</c"]),
        Err(XmlError::ElementTooBig)
    );
    assert_eq!(
        run(10, &["<stream><a><b/>", "   "]),
        Err(XmlError::ElementTooBig)
    );
    let c: Vec<&[u8]> = vec![b"<a>123</a><b>123</b>", b"<c>1234</c"];
    assert_eq!(
        stream(Mode::Elements, lim(10), &c),
        Err(XmlError::ElementTooBig)
    );
}

#[test]
fn depth_and_attribute_limits() {
    let deep = "<a>".repeat(300);
    let lim = Limits::default();
    let r = stream(Mode::Elements, lim, &[deep.as_bytes()]);
    assert_eq!(r, Err(XmlError::TooDeep(lim.max_depth)));
    let attrs: String = (0..300).map(|i| format!(" a{i}='v'")).collect();
    let el = format!("<x{attrs}/>");
    assert_eq!(
        stream(Mode::Elements, lim, &[el.as_bytes()]),
        Err(XmlError::TooManyAttributes(lim.max_attrs))
    );
}

#[test]
fn elements_mode_frames_rfc7395() {
    let c: Vec<&[u8]> = vec![
        b"<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
        b"<a></a> <b></b",
        b">",
    ];
    let evs = stream(Mode::Elements, Limits::default(), &c).unwrap();
    assert_eq!(
        evs,
        vec![
            "<open xmlns='urn:ietf:params:xml:ns:xmpp-framing'/>",
            "<a/>",
            "<b/>"
        ]
    );
}

#[test]
fn whole_element_parse() {
    let e = Element::parse(b"<?xml version='1.0'?><a x='1'><!-- c -->t<b/>u<?pi?>v</a> ").unwrap();
    assert_eq!(e.to_bytes(Style::Compact), b"<a x='1'>t<b/>uv</a>");
    assert_eq!(Element::parse(b"<stream>"), Err(XmlError::UnexpectedEof));
    assert_eq!(Element::parse(b""), Err(XmlError::UnexpectedEof));
    assert_eq!(Element::parse(b"<a/><b/>"), Err(XmlError::JunkAfterRoot));
    assert_eq!(Element::parse(b"<a/>x"), Err(XmlError::JunkAfterRoot));
    assert_eq!(
        Element::parse(b"<!DOCTYPE a><a/>"),
        Err(XmlError::DtdNotAllowed)
    );
    assert_eq!(
        Element::parse(b"<body>\x1b</body>"),
        Err(XmlError::InvalidChar(0x1b))
    );
    assert!(Element::parse(b"<body\x1b></body\x1b>").is_err());
    assert!(Element::parse(b"<body lang='en' bad='\x1b'></body>").is_err());
}

#[test]
fn pretty_printing_layout() {
    let e = Element::parse(b"<a><b>t</b><c/>u<d><![CDATA[x]]></d></a>").unwrap();
    let out = String::from_utf8(e.to_bytes(Style::Pretty)).unwrap();
    assert_eq!(out, "<a>\n  <b>t</b>\n  <c/>\n  u\n  <d>x</d>\n</a>\n\n");
}

#[test]
fn every_split_point_gives_the_same_events() {
    let input = "<stream:stream xmlns:stream='s'><m a='&#x41;&amp;' b=\"ż\">x&#x10000;y\r\nz<![CDATA[<c>]]>\
                 <e/></m> <n>€&lt;</n></stream:stream>";
    let whole = s(&[input]).unwrap();
    let bytes = input.as_bytes();
    for i in 0..bytes.len() {
        for j in i..bytes.len() {
            let c: Vec<&[u8]> = vec![&bytes[..i], &bytes[i..j], &bytes[j..]];
            assert_eq!(
                stream(Mode::Stream, Limits::default(), &c).unwrap(),
                whole,
                "split at {i}, {j}"
            );
        }
    }
}

#[test]
fn namespace_well_formedness() {
    assert!(s(&["<stream:stream xmlns:stream='s'><stream:features/><a xmlns:p='u'><p:b/></a></stream:stream>"]).is_ok());
    assert!(matches!(
        s(&["<s><cdo:data/>"]).unwrap_err(),
        XmlError::Namespace(_)
    ));
    assert!(matches!(
        s(&["<s><a xmlns:p='u'/><p:b/>"]).unwrap_err(),
        XmlError::Namespace(_)
    ));
    assert!(matches!(
        s(&["<s><a xmlns:x:='u'/>"]).unwrap_err(),
        XmlError::Namespace(_)
    ));
    assert!(matches!(
        Element::parse(b"<a b:c='1'/>").unwrap_err(),
        XmlError::Namespace(_)
    ));
    assert!(Element::parse(b"<a xml:lang='en'/>").is_ok());
    // a stream restart replaces the header's declarations
    assert!(matches!(
        s(&["<stream:stream xmlns:stream='s'><stream:stream><x/>"]).unwrap_err(),
        XmlError::Namespace(_)
    ));
}

#[test]
fn bad_bang_markup_is_refused_in_any_chunking() {
    // found by the stream fuzzer: `<!` followed byte by byte by garbage
    let bytes = b"<!Ud\0\0";
    let chunks: Vec<&[u8]> = bytes.chunks(1).collect();
    assert!(stream(Mode::Stream, Limits::default(), &chunks).is_err());
}

#[test]
fn whitespace_between_markup_is_dropped_as_exml_does() {
    let run = |chunks: &[&str]| {
        let mut p = Parser::new(Mode::Stream, Limits::default())
            .with_whitespace(Whitespace::DropBetweenMarkup);
        let mut out = Vec::new();
        for c in chunks {
            p.feed(c.as_bytes()).unwrap();
            out.extend(render(p.tape()));
            p.clear_events();
        }
        out
    };
    let input = "<s><a>\n  <b/> x <c/>\n <!-- -->\n</a><d> </d><e>&#32;</e><f> <![CDATA[ ]]> </f><g>y\n</g></s>";
    let input = input.replace("<!-- -->", "");
    let expected = vec![
        "start:<s/>",
        "<a><b/> x <c/></a>",
        "<d/>",
        "<e> </e>",
        "<f> </f>",
        "<g>y\n</g>",
        "end:s",
    ];
    assert_eq!(run(&[&input]), expected);
    // the same however it is cut
    let b = input.as_bytes();
    for i in 0..b.len() {
        let (x, y) = b.split_at(i);
        let (x, y) = (
            std::str::from_utf8(x).unwrap(),
            std::str::from_utf8(y).unwrap(),
        );
        assert_eq!(run(&[x, y]), expected, "cut at {i}");
    }
    // the default keeps it
    assert_eq!(s(&["<s><d> </d>"]).unwrap()[1], "<d> </d>");
}

#[test]
fn stream_text_between_stanzas_on_request() {
    let mut p = Parser::new(Mode::Stream, Limits::default()).with_stream_text(true);
    p.feed(b"  <s>junk1<a/> &amp;\n<![CDATA[x]]><b/></s>")
        .unwrap();
    assert_eq!(
        render(p.tape()),
        vec![
            "start:<s/>",
            "text:junk1",
            "<a/>",
            "text: &\n",
            "text:x",
            "<b/>",
            "end:s"
        ]
    );
    // before the stream header it is still an error
    let mut p = Parser::new(Mode::Stream, Limits::default()).with_stream_text(true);
    assert!(p.feed(b"junk<s>").is_err());
}

#[test]
fn error_in_an_unfinished_tag_waits_for_its_end_or_check_pending() {
    // found by the stream fuzzer: fed whole, the bad attribute is refused at
    // once; fed in pieces, the unfinished tag is not scanned again until its
    // `>` comes, or until check_pending
    let input = b"<stream fssag to='a";
    let mut whole = Parser::new(Mode::Stream, Limits::default());
    let expected = whole.feed(input).unwrap_err();
    let mut cut = Parser::new(Mode::Stream, Limits::default());
    for c in input.chunks(5) {
        cut.feed(c).unwrap();
    }
    assert_eq!(cut.check_pending(), Err(expected.clone()));
    // final, as any error
    assert_eq!(cut.feed(b">"), Err(expected.clone()));
    assert_eq!(whole.check_pending(), Err(expected));
    // an unfinished but correct tag is no error
    let mut p = Parser::new(Mode::Stream, Limits::default());
    p.feed(b"<stream to='a").unwrap();
    p.check_pending().unwrap();
    p.feed(b"'><a/>").unwrap();
    assert_eq!(render(p.tape()), vec!["start:<stream to='a'/>", "<a/>"]);
}

#[test]
fn stream_text_is_the_same_in_any_chunking_when_white_space_is_dropped() {
    // found by the stream fuzzer: white space between stanzas was dropped
    // only when it came whole in one chunk
    let input = b"<s> x &lt; <![CDATA[y]]><a/>\n <b/></s>";
    let run = |size: usize| {
        let mut p = Parser::new(Mode::Stream, Limits::default())
            .with_stream_text(true)
            .with_whitespace(Whitespace::DropBetweenMarkup);
        let mut text = Vec::new();
        for c in input.chunks(size) {
            p.feed(c).unwrap();
            for ev in &p.tape().events {
                match ev {
                    Event::StreamText(s) => text.extend_from_slice(p.tape().get(*s)),
                    _ => text.push(b'|'),
                }
            }
            p.clear_events();
        }
        String::from_utf8(text).unwrap()
    };
    let whole = run(input.len());
    assert_eq!(whole, "| x < y|\n ||");
    for size in 1..input.len() {
        assert_eq!(run(size), whole, "chunks of {size}");
    }
}

#[test]
fn markup_between_stanzas_has_the_size_limit_in_any_chunking() {
    // found by the stream fuzzer: a CDATA section between stanzas (stream
    // text) over max_element_size was refused only when it came in pieces
    let limits = Limits {
        max_element_size: 20,
        ..Limits::default()
    };
    let input = b"<s><![CDATA[0123456789abcdef]]><a/>";
    for size in 1..=input.len() {
        let mut p = Parser::new(Mode::Stream, limits).with_stream_text(true);
        let mut texts = 0;
        let mut result = Ok(());
        for c in input.chunks(size) {
            result = p.feed(c);
            texts += p
                .tape()
                .events
                .iter()
                .filter(|e| matches!(e, Event::StreamText(_)))
                .count();
            p.clear_events();
            if result.is_err() {
                break;
            }
        }
        assert_eq!(result, Err(XmlError::ElementTooBig), "chunks of {size}");
        assert_eq!(texts, 0, "chunks of {size}");
    }
    // a text reference held back between stanzas is no unfinished element
    let mut p = Parser::new(
        Mode::Stream,
        Limits {
            max_element_size: 4,
            ..limits
        },
    )
    .with_stream_text(true);
    p.feed(b"<s>&#x41").unwrap();
    p.feed(b";<a/>").unwrap();
}
