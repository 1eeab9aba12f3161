//! Character classes of XML 1.0 (Fifth Edition) §2.2-2.3 and their checks.

use super::error::XmlError;

/// `Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]`
#[inline]
pub fn is_xml_char(c: u32) -> bool {
    matches!(c, 0x9 | 0xA | 0xD | 0x20..=0xD7FF | 0xE000..=0xFFFD | 0x10000..=0x10FFFF)
}

#[inline]
fn is_name_start_char(c: char) -> bool {
    matches!(c,
        ':' | 'A'..='Z' | '_' | 'a'..='z'
        | '\u{C0}'..='\u{D6}' | '\u{D8}'..='\u{F6}' | '\u{F8}'..='\u{2FF}'
        | '\u{370}'..='\u{37D}' | '\u{37F}'..='\u{1FFF}' | '\u{200C}'..='\u{200D}'
        | '\u{2070}'..='\u{218F}' | '\u{2C00}'..='\u{2FEF}' | '\u{3001}'..='\u{D7FF}'
        | '\u{F900}'..='\u{FDCF}' | '\u{FDF0}'..='\u{FFFD}' | '\u{10000}'..='\u{EFFFF}')
}

#[inline]
fn is_name_char(c: char) -> bool {
    is_name_start_char(c)
        || matches!(c, '-' | '.' | '0'..='9' | '\u{B7}' | '\u{300}'..='\u{36F}' | '\u{203F}'..='\u{2040}')
}

/// ASCII bytes allowed in a name: 1 = anywhere, 2 = not first.
const fn ascii_name_table() -> [u8; 256] {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 128 {
        let c = b as u8;
        t[b] = if c.is_ascii_alphabetic() || c == b':' || c == b'_' {
            1
        } else if c.is_ascii_digit() || c == b'-' || c == b'.' {
            2
        } else {
            0
        };
        b += 1;
    }
    t
}
const ASCII_NAME: [u8; 256] = ascii_name_table();

/// Checks that `name` is an XML `Name` (§2.3), UTF-8 included.
pub fn check_name(name: &[u8]) -> Result<(), XmlError> {
    let bad = || XmlError::InvalidName(super::error::lossy(name));
    let first = *name.first().ok_or_else(bad)?;
    // ASCII fast path: the names of XMPP are ASCII.
    if ASCII_NAME[first as usize] == 1 && name[1..].iter().all(|&b| ASCII_NAME[b as usize] != 0) {
        return Ok(());
    }
    let s = std::str::from_utf8(name).map_err(|_| XmlError::InvalidUtf8)?;
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if is_name_start_char(c) => {}
        _ => return Err(bad()),
    }
    if chars.all(is_name_char) {
        Ok(())
    } else {
        Err(bad())
    }
}

/// Checks that `text` is UTF-8 made only of XML `Char`s.
///
/// Surrogates cannot appear in valid UTF-8, so the UTF-8 check covers them.
pub fn check_text(text: &[u8]) -> Result<(), XmlError> {
    const LO: u64 = 0x0101_0101_0101_0101;
    const HI: u64 = 0x8080_8080_8080_8080;
    let mut i = 0;
    // Eight bytes at a time: a word with no byte below 0x20 and none at or
    // above 0x80 is plain printable ASCII.
    while i + 8 <= text.len() {
        let w = u64::from_le_bytes(text[i..i + 8].try_into().unwrap_or([0; 8]));
        if (w.wrapping_sub(0x20 * LO) | w) & HI != 0 {
            break;
        }
        i += 8;
    }
    while i < text.len() {
        let b = text[i];
        if b >= 0x80 {
            return check_text_slow(&text[i..]);
        }
        if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') {
            return Err(XmlError::InvalidChar(b as u32));
        }
        i += 1;
    }
    Ok(())
}

#[cold]
fn check_text_slow(text: &[u8]) -> Result<(), XmlError> {
    let s = std::str::from_utf8(text).map_err(|_| XmlError::InvalidUtf8)?;
    for c in s.chars() {
        if !is_xml_char(c as u32) {
            return Err(XmlError::InvalidChar(c as u32));
        }
    }
    Ok(())
}

/// Length of an incomplete UTF-8 sequence at the end of `bytes` (0 to 3).
///
/// Used by the stream parser to hold back the first bytes of a character
/// that a chunk boundary cut in two.
pub fn incomplete_utf8_tail(bytes: &[u8]) -> usize {
    let n = bytes.len();
    for back in 1..=3.min(n) {
        let b = bytes[n - back];
        if b & 0xC0 == 0x80 {
            continue; // continuation byte: look further back
        }
        let need = if b >= 0xF0 {
            4
        } else if b >= 0xE0 {
            3
        } else if b >= 0xC0 {
            2
        } else {
            1
        };
        return if need > back { back } else { 0 };
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name(b"stream:stream").is_ok());
        assert!(check_name(b"xml:lang").is_ok());
        assert!(check_name("grzegrzółka".as_bytes()).is_ok());
        assert!(check_name(b"").is_err());
        assert!(check_name(b"1a").is_err());
        assert!(check_name(b"a b").is_err());
        assert!(check_name(b"a\x1b").is_err());
    }

    #[test]
    fn text() {
        assert!(check_text(b"hello\t\r\n").is_ok());
        assert!(check_text("żółw €".as_bytes()).is_ok());
        assert_eq!(check_text(b"a\0"), Err(XmlError::InvalidChar(0)));
        assert_eq!(check_text(b"\x1b"), Err(XmlError::InvalidChar(0x1b)));
        assert_eq!(check_text(b"\xff"), Err(XmlError::InvalidUtf8));
        assert_eq!(
            check_text("\u{FFFE}".as_bytes()),
            Err(XmlError::InvalidChar(0xFFFE))
        );
        // a UTF-8 encoded surrogate is invalid UTF-8
        assert_eq!(check_text(b"\xed\xa0\x80"), Err(XmlError::InvalidUtf8));
    }

    #[test]
    fn utf8_tail() {
        let s = "aż€😀".as_bytes();
        assert_eq!(incomplete_utf8_tail(s), 0);
        assert_eq!(incomplete_utf8_tail(&s[..s.len() - 1]), 3);
        assert_eq!(incomplete_utf8_tail(&s[..s.len() - 3]), 1);
        assert_eq!(incomplete_utf8_tail(&s[..2]), 1);
        assert_eq!(incomplete_utf8_tail(b"abc"), 0);
    }
}
