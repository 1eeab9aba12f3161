//! Entity and character references (XML 1.0 §4.1, §4.6), line-end
//! normalisation (§2.11), attribute-value normalisation (§3.3.3), and the
//! escaping used when serialising.

use super::chars::is_xml_char;
use super::error::{lossy, XmlError};
use memchr::{memchr, memchr2};

/// Where decoded text goes: character data or an attribute value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Context {
    Text,
    Attribute,
}

/// Byte classes for the decoding scan.
const PLAIN: u8 = 0;
const CONTROL: u8 = 1; // a C0 control XML does not allow
const AMP: u8 = 2;
const CR: u8 = 3;
const SPACE: u8 = 4; // tab or newline in an attribute value: becomes a space
const NON_ASCII: u8 = 5;
const LT: u8 = 6; // '<' (never in text handed here; an error in an attribute value)

const fn class_table(attr: bool) -> [u8; 256] {
    let mut t = [PLAIN; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = if b < 0x20 {
            CONTROL
        } else if b >= 0x80 {
            NON_ASCII
        } else {
            PLAIN
        };
        b += 1;
    }
    t[b'&' as usize] = AMP;
    t[b'\r' as usize] = CR;
    t[b'<' as usize] = LT;
    if attr {
        t[b'\t' as usize] = SPACE;
        t[b'\n' as usize] = SPACE;
    } else {
        t[b'\t' as usize] = PLAIN;
        t[b'\n' as usize] = PLAIN;
    }
    t
}

const TEXT_CLASS: [u8; 256] = class_table(false);
const ATTR_CLASS: [u8; 256] = class_table(true);

/// Validates `raw` (UTF-8, XML `Char`s), resolves its references and
/// normalises line ends, appending the result to `out`, in one pass.
///
/// On an error, `out` holds the decoded text before the fault (a stream
/// parser passes text between stanzas on up to an error, as expat does).
///
/// `raw` must hold whole references only (the stream parser keeps an
/// unfinished `&...` for the next chunk). In an attribute value, literal
/// tab, newline and carriage return become a space, as XML 1.0 §3.3.3 asks,
/// and `<` is an error (WFC: No < in Attribute Values).
pub fn unescape_into(raw: &[u8], ctx: Context, out: &mut Vec<u8>) -> Result<(), XmlError> {
    let table = match ctx {
        Context::Text => &TEXT_CLASS,
        Context::Attribute => &ATTR_CLASS,
    };
    out.reserve(raw.len());
    let mut start = 0;
    let mut i = 0;
    while i < raw.len() {
        // Eight plain bytes at a time: printable ASCII other than `&` and `<`.
        if let Some(word) = raw.get(i..i + 8) {
            let w = u64::from_le_bytes(word.try_into().unwrap_or([0; 8]));
            if is_plain_word(w) {
                i += 8;
                continue;
            }
        }
        let class = table[raw[i] as usize];
        if class == PLAIN {
            i += 1;
            continue;
        }
        match class {
            NON_ASCII => match check_char_at(raw, i) {
                Ok(n) => i += n,
                Err(e) => {
                    out.extend_from_slice(&raw[start..i]);
                    return Err(e);
                }
            },
            AMP => {
                out.extend_from_slice(&raw[start..i]);
                let end = reference_end(raw, i)?;
                push_reference(&raw[i + 1..i + end], out)?;
                i += end + 1;
                start = i;
            }
            CR => {
                out.extend_from_slice(&raw[start..i]);
                out.push(if ctx == Context::Text { b'\n' } else { b' ' });
                i += if raw.get(i + 1) == Some(&b'\n') { 2 } else { 1 };
                start = i;
            }
            SPACE => {
                out.extend_from_slice(&raw[start..i]);
                out.push(b' ');
                i += 1;
                start = i;
            }
            LT => {
                return Err(XmlError::MalformedAttribute(
                    "'<' in an attribute value".into(),
                ))
            }
            _ => {
                out.extend_from_slice(&raw[start..i]);
                return Err(XmlError::InvalidChar(raw[i] as u32));
            }
        }
    }
    out.extend_from_slice(&raw[start..]);
    Ok(())
}

const LO: u64 = 0x0101_0101_0101_0101;
const HI: u64 = 0x8080_8080_8080_8080;

/// True when the word has a zero byte.
#[inline(always)]
fn has_zero(w: u64) -> bool {
    w.wrapping_sub(LO) & !w & HI != 0
}

/// True when all eight bytes are printable ASCII other than `&` and `<`.
#[inline(always)]
fn is_plain_word(w: u64) -> bool {
    (w.wrapping_sub(0x20 * LO) | w) & HI == 0
        && !has_zero(w ^ (b'&' as u64 * LO))
        && !has_zero(w ^ (b'<' as u64 * LO))
}

/// Checks the UTF-8 sequence starting at `raw[i]` (a byte >= 0x80) and that
/// it encodes an XML `Char`; returns its length.
#[inline]
fn check_char_at(raw: &[u8], i: usize) -> Result<usize, XmlError> {
    let len = match raw[i] {
        0xC2..=0xDF => 2,
        0xE0..=0xEF => 3,
        0xF0..=0xF4 => 4,
        _ => return Err(XmlError::InvalidUtf8),
    };
    let seq = raw.get(i..i + len).ok_or(XmlError::InvalidUtf8)?;
    let c = std::str::from_utf8(seq)
        .map_err(|_| XmlError::InvalidUtf8)?
        .chars()
        .next()
        .unwrap_or('\0');
    if !is_xml_char(c as u32) {
        return Err(XmlError::InvalidChar(c as u32));
    }
    Ok(len)
}

/// The longest reference, `&` and `;` included: a `;` must come within
/// this many bytes of its `&`.
pub const MAX_REFERENCE: usize = 64;

/// Where the reference at `raw[amp] == b'&'` ends: the offset of its `;`
/// from `amp`. A reference is cut short by the next `&` (no name holds one),
/// by the end of `raw`, or after [`MAX_REFERENCE`] bytes; the error then
/// names the bytes it read. The result depends only on the bytes up to the
/// `;` or the cut, so a stream parser that waits for a whole reference gives
/// the same answer however the input was chunked.
pub fn reference_end(raw: &[u8], amp: usize) -> Result<usize, XmlError> {
    let window = &raw[amp + 1..raw.len().min(amp + MAX_REFERENCE)];
    match memchr2(b';', b'&', window) {
        Some(n) if window[n] == b';' => Ok(n + 1),
        Some(n) => Err(XmlError::UndefinedEntity(lossy(&window[..n]))),
        None => Err(XmlError::UndefinedEntity(lossy(window))),
    }
}

/// Resolves one reference `&name;` (given without `&` and `;`).
fn push_reference(name: &[u8], out: &mut Vec<u8>) -> Result<(), XmlError> {
    let byte = match name {
        b"lt" => b'<',
        b"gt" => b'>',
        b"amp" => b'&',
        b"apos" => b'\'',
        b"quot" => b'"',
        [b'#', num @ ..] => {
            let code = parse_char_ref(num).ok_or_else(|| XmlError::UndefinedEntity(lossy(name)))?;
            if !is_xml_char(code) {
                return Err(XmlError::InvalidChar(code));
            }
            let c = char::from_u32(code).ok_or(XmlError::InvalidChar(code))?;
            let mut buf = [0u8; 4];
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            return Ok(());
        }
        _ => return Err(XmlError::UndefinedEntity(lossy(name))),
    };
    out.push(byte);
    Ok(())
}

fn parse_char_ref(num: &[u8]) -> Option<u32> {
    let (digits, radix) = match num {
        [b'x', hex @ ..] => (hex, 16),
        dec => (dec, 10),
    };
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let mut value: u32 = 0;
    for &d in digits {
        value = value
            .checked_mul(radix)?
            .checked_add((d as char).to_digit(radix)?)?;
    }
    Some(value)
}

/// Copies CDATA section content, normalising line ends (§2.11) only.
pub fn normalize_line_ends_into(raw: &[u8], out: &mut Vec<u8>) {
    let mut rest = raw;
    while let Some(i) = memchr(b'\r', rest) {
        out.extend_from_slice(&rest[..i]);
        out.push(b'\n');
        rest = if rest.get(i + 1) == Some(&b'\n') {
            &rest[i + 2..]
        } else {
            &rest[i + 1..]
        };
    }
    out.extend_from_slice(rest);
}

/// True when `bytes` holds only XML white space (`S`, §2.3).
#[inline]
pub fn is_whitespace(bytes: &[u8]) -> bool {
    bytes
        .iter()
        .all(|b| matches!(b, b' ' | b'\t' | b'\n' | b'\r'))
}

/// Replacement written for characters that XML 1.0 cannot carry at all
/// (C0 controls other than tab, newline, carriage return): U+FFFD.
const REPLACEMENT: &[u8] = "\u{FFFD}".as_bytes();

/// Bytes that character data cannot hold as they are: `< > & ' "`, `\r`,
/// and C0 controls other than tab and newline.
const TEXT_SPECIAL: [bool; 256] = special_table(b"<>&'\"\r", b"\t\n");
/// Bytes that an attribute value cannot hold as they are (both quotes are
/// listed; the one that is not the delimiter is written back as is).
const ATTR_SPECIAL: [bool; 256] = special_table(b"<>&'\"\t\n\r", &[]);

const fn special_table(specials: &[u8], allowed_controls: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        t[b] = true;
        b += 1;
    }
    let mut i = 0;
    while i < allowed_controls.len() {
        t[allowed_controls[i] as usize] = false;
        i += 1;
    }
    let mut i = 0;
    while i < specials.len() {
        t[specials[i] as usize] = true;
        i += 1;
    }
    t
}

/// True when no byte of the word is below 0x20 or one of `& < > ' "`:
/// nothing in it needs escaping, in text or in an attribute value.
#[inline(always)]
fn no_escape_in_word(w: u64) -> bool {
    let below_space = w.wrapping_sub(0x20 * LO) & !w & HI;
    below_space == 0
        && !has_zero(w ^ (b'&' as u64 * LO))
        && !has_zero(w ^ (b'<' as u64 * LO))
        && !has_zero(w ^ (b'>' as u64 * LO))
        && !has_zero(w ^ (b'\'' as u64 * LO))
        && !has_zero(w ^ (b'"' as u64 * LO))
}

/// False when no byte of `bytes` is below 0x20 or one of `& < > ' "`, so
/// that nothing in it needs escaping, in text or in an attribute value.
/// Checks a word at a time; the last word overlaps the one before it, and
/// fewer than eight bytes are padded, so no byte is looked at alone.
#[inline(always)]
fn may_need_escape(bytes: &[u8]) -> bool {
    let n = bytes.len();
    if n < 8 {
        // padded with 'a', which needs no escaping
        let mut padded = [b'a'; 8];
        padded[..n].copy_from_slice(bytes);
        return !no_escape_in_word(u64::from_le_bytes(padded));
    }
    let mut i = 0;
    while i + 8 <= n {
        if !no_escape_in_word(word_at(bytes, i)) {
            return true;
        }
        i += 8;
    }
    i < n && !no_escape_in_word(word_at(bytes, n - 8))
}

/// The eight bytes `bytes[i..i + 8]` as a little-endian word (0 past the end).
#[inline(always)]
fn word_at(bytes: &[u8], i: usize) -> u64 {
    bytes
        .get(i..i + 8)
        .map_or(0, |w| u64::from_le_bytes(w.try_into().unwrap_or([0; 8])))
}

/// Writes `bytes`, replacing each byte marked in `table` by `replace(byte)`.
#[inline(always)]
fn escape_with(
    bytes: &[u8],
    table: &[bool; 256],
    out: &mut Vec<u8>,
    replace: impl Fn(u8) -> &'static [u8],
) {
    escape_or_stop(bytes, table, out, |b| Some(replace(b)));
}

/// As [`escape_with`], but stops (returning false, with part of the bytes
/// written) at the first marked byte for which `replace` gives `None`.
#[inline(always)]
fn escape_or_stop(
    bytes: &[u8],
    table: &[bool; 256],
    out: &mut Vec<u8>,
    replace: impl Fn(u8) -> Option<&'static [u8]>,
) -> bool {
    if !may_need_escape(bytes) {
        out.extend_from_slice(bytes);
        return true;
    }
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if i + 8 <= bytes.len() && no_escape_in_word(word_at(bytes, i)) {
            i += 8;
            continue;
        }
        if table[bytes[i] as usize] {
            let Some(with) = replace(bytes[i]) else {
                return false;
            };
            out.extend_from_slice(&bytes[start..i]);
            out.extend_from_slice(with);
            start = i + 1;
        }
        i += 1;
    }
    out.extend_from_slice(&bytes[start..]);
    true
}

/// Escapes character data as exml does (`& < > ' "` as the five predefined
/// entities), plus `\r` as `&#xD;` so that a conforming parser reads it back,
/// and C0 controls that XML cannot carry as U+FFFD.
pub fn escape_text(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len());
    escape_with(text, &TEXT_SPECIAL, out, |b| match b {
        b'<' => b"&lt;",
        b'>' => b"&gt;",
        b'&' => b"&amp;",
        b'\'' => b"&apos;",
        b'"' => b"&quot;",
        b'\r' => b"&#xD;",
        _ => REPLACEMENT,
    });
}

/// Writes an attribute value with its quotes, as exml does: single quotes
/// unless the value holds `'`, then double quotes; the other quote character
/// is written as is. Tab, newline and carriage return are written as
/// character references (exml writes them raw, which a conforming parser
/// reads back as spaces).
pub fn write_attr_value(value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len() + 2);
    // single quotes, in one pass over the value; only a value that holds
    // `'` (rare) is written again, in double quotes
    let mark = out.len();
    out.push(b'\'');
    if write_attr_escaped(value, false, out) {
        out.push(b'\'');
        return;
    }
    out.truncate(mark);
    out.push(b'"');
    write_attr_escaped(value, true, out);
    out.push(b'"');
}

/// The escaped value for [`write_attr_value`]; in single quotes (not
/// `double`), stops and returns false at a `'`.
#[inline(always)]
fn write_attr_escaped(value: &[u8], double: bool, out: &mut Vec<u8>) -> bool {
    escape_or_stop(value, &ATTR_SPECIAL, out, |b| match b {
        b'<' => Some(b"&lt;"),
        b'>' => Some(b"&gt;"),
        b'&' => Some(b"&amp;"),
        b'"' if double => Some(b"&quot;"),
        b'"' => Some(b"\""),
        b'\'' if double => Some(b"'"),
        b'\'' => None,
        b'\t' => Some(b"&#x9;"),
        b'\n' => Some(b"&#xA;"),
        b'\r' => Some(b"&#xD;"),
        _ => Some(REPLACEMENT),
    })
}

/// Bytes that fast_xml escapes in text: `& < > " '` (and C0 controls, which
/// XML cannot carry, written as U+FFFD).
const FXML_TEXT_SPECIAL: [bool; 256] = special_table(b"<>&'\"", b"\t\n\r");
/// Bytes that fast_xml escapes in attribute values: `& < " '` and tab,
/// newline, carriage return (`>` is written as is).
const FXML_ATTR_SPECIAL: [bool; 256] = special_table(b"<&'\"\t\n\r", &[]);

/// Escapes character data as fast_xml's `element_to_binary/1` does.
pub fn escape_text_fxml(text: &[u8], out: &mut Vec<u8>) {
    out.reserve(text.len());
    escape_with(text, &FXML_TEXT_SPECIAL, out, |b| match b {
        b'<' => b"&lt;",
        b'>' => b"&gt;",
        b'&' => b"&amp;",
        b'\'' => b"&apos;",
        b'"' => b"&quot;",
        _ => REPLACEMENT,
    });
}

/// Writes an attribute value in single quotes as fast_xml does.
pub fn write_attr_value_fxml(value: &[u8], out: &mut Vec<u8>) {
    out.reserve(value.len() + 2);
    out.push(b'\'');
    escape_with(value, &FXML_ATTR_SPECIAL, out, |b| match b {
        b'<' => b"&lt;",
        b'&' => b"&amp;",
        b'\'' => b"&apos;",
        b'"' => b"&quot;",
        b'\t' => b"&#x9;",
        b'\n' => b"&#xA;",
        b'\r' => b"&#xD;",
        _ => REPLACEMENT,
    });
    out.push(b'\'');
}

/// Writes `text` as CDATA sections. A `]]>` inside the text is split across
/// two sections (`]]]]><![CDATA[>`), so the output is always well-formed
/// (exml writes it unsplit, which ends the section early).
pub fn write_cdata(text: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"<![CDATA[");
    let mut rest = text;
    while let Some(i) = memchr::memmem::find(rest, b"]]>") {
        out.extend_from_slice(&rest[..i + 2]);
        out.extend_from_slice(b"]]><![CDATA[");
        rest = &rest[i + 2..];
    }
    out.extend_from_slice(rest);
    out.extend_from_slice(b"]]>");
}

#[cfg(test)]
mod tests {
    use super::*;

    fn un(s: &str, ctx: Context) -> Result<String, XmlError> {
        let mut out = Vec::new();
        unescape_into(s.as_bytes(), ctx, &mut out).map(|_| String::from_utf8(out).unwrap())
    }

    #[test]
    fn references() {
        assert_eq!(
            un("a&amp;b&lt;&gt;&apos;&quot;", Context::Text).unwrap(),
            "a&b<>'\""
        );
        assert_eq!(
            un("&#65;&#x42;&#x10000;", Context::Text).unwrap(),
            "AB\u{10000}"
        );
        assert_eq!(un("&#0;", Context::Text), Err(XmlError::InvalidChar(0)));
        assert_eq!(
            un("&#xD800;", Context::Text),
            Err(XmlError::InvalidChar(0xD800))
        );
        assert_eq!(
            un("&#x110000;", Context::Text),
            Err(XmlError::InvalidChar(0x110000))
        );
        assert!(matches!(
            un("&nbsp;", Context::Text),
            Err(XmlError::UndefinedEntity(_))
        ));
        assert!(matches!(
            un("&#xZ;", Context::Text),
            Err(XmlError::UndefinedEntity(_))
        ));
        assert!(matches!(
            un("a & b", Context::Text),
            Err(XmlError::UndefinedEntity(_))
        ));
    }

    #[test]
    fn line_ends_and_attribute_normalisation() {
        assert_eq!(un("a\r\nb\rc\n", Context::Text).unwrap(), "a\nb\nc\n");
        assert_eq!(
            un("a\r\nb\tc\nd&#xA;", Context::Attribute).unwrap(),
            "a b c d\n"
        );
        assert_eq!(un("x\ty\tz", Context::Attribute).unwrap(), "x y z");
    }

    #[test]
    fn escaping() {
        let mut out = Vec::new();
        escape_text(b"<a href='x'>&\"\r\x01", &mut out);
        assert_eq!(
            out,
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&#xD;\u{FFFD}".as_bytes()
        );
        out.clear();
        write_attr_value(b"a\"b", &mut out);
        assert_eq!(out, b"'a\"b'");
        out.clear();
        write_attr_value(b"a'\"<\n", &mut out);
        assert_eq!(out, b"\"a'&quot;&lt;&#xA;\"");
        out.clear();
        write_cdata(b"x]]>y]]>", &mut out);
        assert_eq!(out, b"<![CDATA[x]]]]><![CDATA[>y]]]]><![CDATA[>]]>");
        out.clear();
        write_attr_value_fxml(b"a\t\n\r<>&\"'b", &mut out);
        assert_eq!(out, b"'a&#x9;&#xA;&#xD;&lt;>&amp;&quot;&apos;b'");
        out.clear();
        escape_text_fxml(b"a<>&\"'b\r", &mut out);
        assert_eq!(out, b"a&lt;&gt;&amp;&quot;&apos;b\r");
    }

    /// Byte at a time, straight from the tables: what the word-at-a-time
    /// scans must write.
    fn reference(
        bytes: &[u8],
        table: &[bool; 256],
        replace: impl Fn(u8) -> &'static [u8],
    ) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in bytes {
            if table[b as usize] {
                out.extend_from_slice(replace(b));
            } else {
                out.push(b);
            }
        }
        out
    }

    proptest::proptest! {
        /// Every length around the word size, specials at every position.
        #[test]
        fn escaping_matches_byte_at_a_time(
            bytes in proptest::collection::vec(
                proptest::prop_oneof![
                    8 => 0x20u8..0x7f,
                    2 => proptest::sample::select(b"<>&'\"\t\n\r\x01\x1f".to_vec()),
                    1 => 0x80u8..=0xff,
                ],
                0..40,
            )
        ) {
            let text = |b| match b {
                b'<' => &b"&lt;"[..], b'>' => b"&gt;", b'&' => b"&amp;", b'\'' => b"&apos;",
                b'"' => b"&quot;", b'\r' => b"&#xD;", _ => REPLACEMENT,
            };
            let mut out = Vec::new();
            escape_text(&bytes, &mut out);
            proptest::prop_assert_eq!(&out, &reference(&bytes, &TEXT_SPECIAL, text));

            let fxml_text = |b| match b {
                b'<' => &b"&lt;"[..], b'>' => b"&gt;", b'&' => b"&amp;", b'\'' => b"&apos;",
                b'"' => b"&quot;", _ => REPLACEMENT,
            };
            out.clear();
            escape_text_fxml(&bytes, &mut out);
            proptest::prop_assert_eq!(&out, &reference(&bytes, &FXML_TEXT_SPECIAL, fxml_text));

            let fxml_attr = |b| match b {
                b'<' => &b"&lt;"[..], b'&' => b"&amp;", b'\'' => b"&apos;", b'"' => b"&quot;",
                b'\t' => b"&#x9;", b'\n' => b"&#xA;", b'\r' => b"&#xD;", _ => REPLACEMENT,
            };
            out.clear();
            write_attr_value_fxml(&bytes, &mut out);
            let mut want = vec![b'\''];
            want.extend(reference(&bytes, &FXML_ATTR_SPECIAL, fxml_attr));
            want.push(b'\'');
            proptest::prop_assert_eq!(&out, &want);

            let double = bytes.contains(&b'\'');
            let attr = |b| match b {
                b'<' => &b"&lt;"[..], b'>' => b"&gt;", b'&' => b"&amp;",
                b'"' if double => b"&quot;", b'"' => b"\"", b'\'' => b"'",
                b'\t' => b"&#x9;", b'\n' => b"&#xA;", b'\r' => b"&#xD;", _ => REPLACEMENT,
            };
            out.clear();
            write_attr_value(&bytes, &mut out);
            let quote = if double { b'"' } else { b'\'' };
            let mut want = vec![quote];
            want.extend(reference(&bytes, &ATTR_SPECIAL, attr));
            want.push(quote);
            proptest::prop_assert_eq!(&out, &want);
        }
    }
}
