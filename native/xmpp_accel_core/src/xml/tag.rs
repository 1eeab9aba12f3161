//! The hot path of markup: start, empty-element and end tags (XML 1.0
//! §3.1), scanned in one pass over the bytes.
//!
//! Tags are nearly all of the markup in XMPP. quick-xml reads the rest
//! (comments, CDATA sections, processing instructions, declarations,
//! DOCTYPE), where its care matters more than its speed; for tags, one
//! table-driven pass that also splits the attributes avoids building a
//! reader and a string per event.
//!
//! The scanner only finds boundaries: names are checked and values
//! unescaped by the parser.

use super::error::{lossy, XmlError};
use memchr::memchr2;

/// Where a name ends: white space, `/`, `>`, `=`, quotes, `<`.
const fn delimiters() -> [bool; 256] {
    let mut t = [false; 256];
    t[b' ' as usize] = true;
    t[b'\t' as usize] = true;
    t[b'\n' as usize] = true;
    t[b'\r' as usize] = true;
    t[b'/' as usize] = true;
    t[b'>' as usize] = true;
    t[b'=' as usize] = true;
    t[b'\'' as usize] = true;
    t[b'"' as usize] = true;
    t[b'<' as usize] = true;
    t
}
const DELIMITER: [bool; 256] = delimiters();

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

/// Byte ranges of one attribute in the scanned buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AttrRange {
    pub name: (u32, u32),
    pub value: (u32, u32),
}

/// What [`scan_start`] or [`scan_end`] found.
#[derive(Debug, PartialEq, Eq)]
pub enum Scan {
    /// The tag is cut short by the end of the input.
    Incomplete,
    /// A start tag of `len` bytes; its name is `buf[1..name_end]`; its
    /// attributes were pushed to the caller's vector. `empty` for `<a/>`.
    Start {
        name_end: usize,
        len: usize,
        empty: bool,
    },
    /// An end tag of `len` bytes; its name is `buf[2..name_end]`.
    End { name_end: usize, len: usize },
}

#[inline]
fn name_end(buf: &[u8], from: usize) -> usize {
    let mut i = from;
    while i < buf.len() && !DELIMITER[buf[i] as usize] {
        i += 1;
    }
    i
}

#[inline]
fn skip_space(buf: &[u8], mut i: usize) -> usize {
    while i < buf.len() && is_space(buf[i]) {
        i += 1;
    }
    i
}

/// A syntax error at the offending byte `buf[at]`, shown with up to 24
/// bytes of the tag that end with it. Only bytes up to the fault are shown,
/// so the text does not depend on how much input followed it in the chunk.
fn malformed(buf: &[u8], at: usize, what: &str) -> XmlError {
    let end = (at + 1).min(buf.len());
    XmlError::Syntax(format!(
        "{what} near '{}'",
        lossy(&buf[end.saturating_sub(24)..end])
    ))
}

/// Scans a start or empty-element tag at `buf[0] == b'<'` (`buf[1]` is not
/// `/`, `!` or `?`), pushing its attributes' ranges to `attrs`.
pub fn scan_start(buf: &[u8], attrs: &mut Vec<AttrRange>) -> Result<Scan, XmlError> {
    attrs.clear();
    let name_end = name_end(buf, 1);
    if name_end == buf.len() {
        return Ok(Scan::Incomplete);
    }
    if name_end == 1 {
        return Err(malformed(buf, 1, "element name expected"));
    }
    let mut i = name_end;
    loop {
        let after_space = skip_space(buf, i);
        let Some(&b) = buf.get(after_space) else {
            return Ok(Scan::Incomplete);
        };
        match b {
            b'>' => {
                return Ok(Scan::Start {
                    name_end,
                    len: after_space + 1,
                    empty: false,
                })
            }
            b'/' => {
                return match buf.get(after_space + 1) {
                    None => Ok(Scan::Incomplete),
                    Some(b'>') => Ok(Scan::Start {
                        name_end,
                        len: after_space + 2,
                        empty: true,
                    }),
                    Some(_) => Err(malformed(buf, after_space, "'>' expected after '/'")),
                };
            }
            _ => {}
        }
        if after_space == i {
            return Err(malformed(
                buf,
                i,
                "white space required before an attribute",
            ));
        }
        // attribute name
        let n0 = after_space;
        let n1 = name_end_attr(buf, n0);
        if n1 == buf.len() {
            return Ok(Scan::Incomplete);
        }
        if n1 == n0 {
            return Err(malformed(buf, n0, "attribute name expected"));
        }
        // = and the quoted value
        let eq = skip_space(buf, n1);
        match buf.get(eq) {
            None => return Ok(Scan::Incomplete),
            Some(b'=') => {}
            Some(_) => return Err(malformed(buf, eq, "'=' expected after attribute name")),
        }
        let q = skip_space(buf, eq + 1);
        let quote = match buf.get(q) {
            None => return Ok(Scan::Incomplete),
            Some(&c @ (b'\'' | b'"')) => c,
            Some(_) => return Err(malformed(buf, q, "attribute value must be quoted")),
        };
        let v0 = q + 1;
        let v1 = match memchr2(quote, b'<', &buf[v0..]) {
            None => return Ok(Scan::Incomplete),
            Some(n) if buf[v0 + n] == b'<' => {
                return Err(XmlError::MalformedAttribute(
                    "'<' in an attribute value".into(),
                ))
            }
            Some(n) => v0 + n,
        };
        attrs.push(AttrRange {
            name: (n0 as u32, n1 as u32),
            value: (v0 as u32, v1 as u32),
        });
        i = v1 + 1;
        match buf.get(i) {
            None => return Ok(Scan::Incomplete),
            Some(&c) if is_space(c) || c == b'>' || c == b'/' => {}
            Some(_) => return Err(malformed(buf, i, "white space required between attributes")),
        }
    }
}

/// An attribute name ends at white space or `=` (other delimiters are errors later).
#[inline]
fn name_end_attr(buf: &[u8], from: usize) -> usize {
    name_end(buf, from)
}

/// Scans an end tag at `buf[0..2] == b"</"`.
pub fn scan_end(buf: &[u8]) -> Result<Scan, XmlError> {
    let name_end = name_end(buf, 2);
    if name_end == buf.len() {
        return Ok(Scan::Incomplete);
    }
    let close = skip_space(buf, name_end);
    match buf.get(close) {
        None => Ok(Scan::Incomplete),
        Some(b'>') if name_end > 2 => Ok(Scan::End {
            name_end,
            len: close + 1,
        }),
        Some(_) => Err(malformed(buf, close, "malformed end tag")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn start(s: &str) -> Result<(Scan, Vec<(String, String)>), XmlError> {
        let mut attrs = Vec::new();
        let scan = scan_start(s.as_bytes(), &mut attrs)?;
        let b = s.as_bytes();
        let pairs = attrs
            .iter()
            .map(|a| {
                (
                    lossy(&b[a.name.0 as usize..a.name.1 as usize]),
                    lossy(&b[a.value.0 as usize..a.value.1 as usize]),
                )
            })
            .collect();
        Ok((scan, pairs))
    }

    #[test]
    fn start_tags() {
        assert_eq!(
            start("<a>x").unwrap(),
            (
                Scan::Start {
                    name_end: 2,
                    len: 3,
                    empty: false
                },
                vec![]
            )
        );
        assert_eq!(
            start("<a/>").unwrap().0,
            Scan::Start {
                name_end: 2,
                len: 4,
                empty: true
            }
        );
        assert_eq!(
            start("<a\n/>").unwrap().0,
            Scan::Start {
                name_end: 2,
                len: 5,
                empty: true
            }
        );
        let (scan, attrs) = start("<p:m x='1' y = \"a'b\"\t/>").unwrap();
        assert_eq!(
            scan,
            Scan::Start {
                name_end: 4,
                len: 23,
                empty: true
            }
        );
        assert_eq!(
            attrs,
            vec![("x".into(), "1".into()), ("y".into(), "a'b".into())]
        );
    }

    #[test]
    fn incomplete_anywhere() {
        let full = "<message to='a@b' type=\"chat\"/>";
        for i in 1..full.len() {
            assert_eq!(
                start(&full[..i]).unwrap().0,
                Scan::Incomplete,
                "{}",
                &full[..i]
            );
        }
        let end = "</message >";
        for i in 2..end.len() {
            assert_eq!(scan_end(&end.as_bytes()[..i]).unwrap(), Scan::Incomplete);
        }
        assert_eq!(
            scan_end(end.as_bytes()).unwrap(),
            Scan::End {
                name_end: 9,
                len: 11
            }
        );
    }

    #[test]
    fn malformed_tags() {
        for bad in [
            "<a b>",
            "<a b=c>",
            "<a b='1'c='2'>",
            "<a / >",
            "<a b='<'/>",
            "< a>",
            "<a ='1'>",
            "<a b>",
        ] {
            assert!(start(bad).is_err(), "{bad}");
        }
        for bad in ["</>", "</a b>", "</a/>"] {
            assert!(scan_end(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
