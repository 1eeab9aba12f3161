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

/// Byte classes of the name scan, as bits: a name ends at a `DELIMITER`
/// (white space, `/`, `>`, `=`, quotes, `<`); `COLON` and `OTHER` are
/// or-ed into [`Scan::Start::names`] for every byte of the tag's names.
const PLAIN: u8 = 0;
/// `:` (a prefixed name).
pub const COLON: u8 = 1;
/// A byte that is neither an ASCII name character nor a delimiter
/// (non-ASCII, or an ASCII byte names cannot hold): the names need the
/// full [`super::chars::check_name`].
pub const OTHER: u8 = 2;
const DELIMITER: u8 = 4;

const fn name_classes() -> [u8; 256] {
    let mut t = [OTHER; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_alphanumeric() || c == b'-' || c == b'.' || c == b'_' {
            t[b] = PLAIN;
        }
        b += 1;
    }
    t[b':' as usize] = COLON;
    t[b' ' as usize] = DELIMITER;
    t[b'\t' as usize] = DELIMITER;
    t[b'\n' as usize] = DELIMITER;
    t[b'\r' as usize] = DELIMITER;
    t[b'/' as usize] = DELIMITER;
    t[b'>' as usize] = DELIMITER;
    t[b'=' as usize] = DELIMITER;
    t[b'\'' as usize] = DELIMITER;
    t[b'"' as usize] = DELIMITER;
    t[b'<' as usize] = DELIMITER;
    t
}
const NAME_CLASS: [u8; 256] = name_classes();

/// True when `b` may start a name that is made of ASCII name characters
/// only (letters, `_`, `:`); with [`Scan::Start::names`] free of `OTHER`,
/// a name whose first byte passes this is a valid XML `Name`.
#[inline]
pub fn is_ascii_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_' || b == b':'
}

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
    /// `names`: the [`COLON`] and [`OTHER`] bits of the bytes of the
    /// element's and the attributes' names.
    Start {
        name_end: usize,
        len: usize,
        empty: bool,
        names: u8,
    },
    /// An end tag of `len` bytes; its name is `buf[2..name_end]`.
    End { name_end: usize, len: usize },
}

/// Where the name starting at `from` ends; or-s its bytes' classes into `classes`.
#[inline]
fn scan_name(buf: &[u8], from: usize, classes: &mut u8) -> usize {
    let mut i = from;
    let mut acc = PLAIN;
    while i < buf.len() {
        let c = NAME_CLASS[buf[i] as usize];
        if c == DELIMITER {
            break;
        }
        acc |= c;
        i += 1;
    }
    *classes |= acc;
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
    let mut names = PLAIN;
    let name_end = scan_name(buf, 1, &mut names);
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
                    names,
                })
            }
            b'/' => {
                return match buf.get(after_space + 1) {
                    None => Ok(Scan::Incomplete),
                    Some(b'>') => Ok(Scan::Start {
                        name_end,
                        len: after_space + 2,
                        empty: true,
                        names,
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
        let n1 = scan_name(buf, n0, &mut names);
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
        let v1 = match find_value_end(quote, &buf[v0..]) {
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

/// The first `quote` or `<` in `value`: eight bytes at a time over the
/// first 64 bytes (attribute values of XMPP are short: a library call costs
/// more than the search), then `memchr2`.
#[inline]
fn find_value_end(quote: u8, value: &[u8]) -> Option<usize> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let has_zero = |w: u64| w.wrapping_sub(LO) & !w & HI;
    let (q, lt) = (quote as u64 * LO, b'<' as u64 * LO);
    let mut i = 0;
    let short = value.len().min(64);
    while i + 8 <= short {
        let w = u64::from_le_bytes(value[i..i + 8].try_into().unwrap_or([0; 8]));
        let hits = has_zero(w ^ q) | has_zero(w ^ lt);
        if hits != 0 {
            // the lowest flagged byte is the first match (flags above a
            // true match may be false positives, never below it)
            return Some(i + (hits.trailing_zeros() / 8) as usize);
        }
        i += 8;
    }
    if i < short && value.len() < 64 {
        return value[i..]
            .iter()
            .position(|&b| b == quote || b == b'<')
            .map(|n| i + n);
    }
    memchr2(quote, b'<', &value[i..]).map(|n| i + n)
}

/// Scans an end tag at `buf[0..2] == b"</"`.
pub fn scan_end(buf: &[u8]) -> Result<Scan, XmlError> {
    let mut classes = PLAIN;
    let name_end = scan_name(buf, 2, &mut classes);
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
                    empty: false,
                    names: 0
                },
                vec![]
            )
        );
        assert_eq!(
            start("<a/>").unwrap().0,
            Scan::Start {
                name_end: 2,
                len: 4,
                empty: true,
                names: 0
            }
        );
        assert_eq!(
            start("<a\n/>").unwrap().0,
            Scan::Start {
                name_end: 2,
                len: 5,
                empty: true,
                names: 0
            }
        );
        let (scan, attrs) = start("<p:m x='1' y = \"a'b\"\t/>").unwrap();
        assert_eq!(
            scan,
            Scan::Start {
                name_end: 4,
                len: 23,
                empty: true,
                names: COLON
            }
        );
        assert_eq!(
            attrs,
            vec![("x".into(), "1".into()), ("y".into(), "a'b".into())]
        );
    }

    #[test]
    fn value_end() {
        // every position, both quotes, '<' first, short and long values
        for len in 0..150 {
            for quote in [b'\'', b'"'] {
                for stop in [quote, b'<'] {
                    for at in [0, len / 2, len] {
                        let mut v: Vec<u8> = (0..len).map(|i| b'a' + (i % 26) as u8).collect();
                        // the other quote never stops the value
                        if len > 3 {
                            v[1] = if quote == b'"' { b'\'' } else { b'"' };
                        }
                        let expect = if at < len {
                            v[at] = stop;
                            v.iter().position(|&b| b == quote || b == b'<')
                        } else {
                            None
                        };
                        assert_eq!(find_value_end(quote, &v), expect, "{len} {at}");
                    }
                }
            }
        }
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
