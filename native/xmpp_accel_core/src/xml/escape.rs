//! Entity and character references (XML 1.0 §4.1, §4.6), line-end
//! normalisation (§2.11), attribute-value normalisation (§3.3.3), and the
//! escaping used when serialising.

use super::chars::{check_text, is_xml_char};
use super::error::{lossy, XmlError};
use memchr::{memchr, memchr2};

/// Where decoded text goes: character data or an attribute value.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Context {
    Text,
    Attribute,
}

/// Validates `raw` (UTF-8, XML `Char`s), resolves its references and
/// normalises line ends, appending the result to `out`.
///
/// `raw` must hold whole references only (the stream parser keeps an
/// unfinished `&...` for the next chunk). In an attribute value, literal
/// tab, newline and carriage return become a space, as XML 1.0 §3.3.3 asks.
pub fn unescape_into(raw: &[u8], ctx: Context, out: &mut Vec<u8>) -> Result<(), XmlError> {
    check_text(raw)?;
    let mut rest = raw;
    loop {
        let next = match ctx {
            Context::Text => memchr2(b'&', b'\r', rest),
            // attribute values are short: a plain scan is as fast as two memchr passes
            Context::Attribute => rest
                .iter()
                .position(|b| matches!(b, b'&' | b'\r' | b'\n' | b'\t')),
        };
        let Some(i) = next else {
            out.extend_from_slice(rest);
            return Ok(());
        };
        out.extend_from_slice(&rest[..i]);
        match rest[i] {
            b'&' => {
                let end = memchr(b';', &rest[i..])
                    .ok_or_else(|| XmlError::UndefinedEntity(lossy(&rest[i + 1..])))?;
                let name = &rest[i + 1..i + end];
                push_reference(name, out)?;
                rest = &rest[i + end + 1..];
            }
            b'\r' => {
                out.push(if ctx == Context::Text { b'\n' } else { b' ' });
                rest = if rest.get(i + 1) == Some(&b'\n') {
                    &rest[i + 2..]
                } else {
                    &rest[i + 1..]
                };
            }
            _ => {
                // tab or newline in an attribute value
                out.push(b' ');
                rest = &rest[i + 1..];
            }
        }
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

#[inline]
fn needs_text_escape(b: u8) -> bool {
    matches!(b, b'<' | b'>' | b'&' | b'\'' | b'"' | b'\r') || (b < 0x20 && b != b'\t' && b != b'\n')
}

/// Escapes character data as exml does (`& < > ' "` as the five predefined
/// entities), plus `\r` as `&#xD;` so that a conforming parser reads it back,
/// and C0 controls that XML cannot carry as U+FFFD.
pub fn escape_text(text: &[u8], out: &mut Vec<u8>) {
    let mut start = 0;
    for (i, &b) in text.iter().enumerate() {
        if !needs_text_escape(b) {
            continue;
        }
        out.extend_from_slice(&text[start..i]);
        out.extend_from_slice(match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'\'' => b"&apos;",
            b'"' => b"&quot;",
            b'\r' => b"&#xD;",
            _ => REPLACEMENT,
        });
        start = i + 1;
    }
    out.extend_from_slice(&text[start..]);
}

/// Writes an attribute value with its quotes, as exml does: single quotes
/// unless the value holds `'`, then double quotes; the other quote character
/// is written as is. Tab, newline and carriage return are written as
/// character references (exml writes them raw, which a conforming parser
/// reads back as spaces).
pub fn write_attr_value(value: &[u8], out: &mut Vec<u8>) {
    let quote = if memchr(b'\'', value).is_some() {
        b'"'
    } else {
        b'\''
    };
    out.push(quote);
    let mut start = 0;
    for (i, &b) in value.iter().enumerate() {
        let rep: &[u8] = match b {
            b'<' => b"&lt;",
            b'>' => b"&gt;",
            b'&' => b"&amp;",
            b'"' if quote == b'"' => b"&quot;",
            b'\t' => b"&#x9;",
            b'\n' => b"&#xA;",
            b'\r' => b"&#xD;",
            b if b < 0x20 => REPLACEMENT,
            _ => continue,
        };
        out.extend_from_slice(&value[start..i]);
        out.extend_from_slice(rep);
        start = i + 1;
    }
    out.extend_from_slice(&value[start..]);
    out.push(quote);
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
    }
}
