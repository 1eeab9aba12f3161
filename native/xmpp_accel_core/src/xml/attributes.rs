//! Attribute lists of start tags (XML 1.0 §3.1: `S Name Eq AttValue`).
//!
//! quick-xml finds where a tag ends; this splits its attribute text into
//! names and raw values, strictly: white space between attributes, quoted
//! values. Values are unescaped (and `<` in them refused) by the caller.

use super::error::{lossy, XmlError};
use memchr::memchr;

/// Iterates `(name, raw value)` pairs of a tag's attribute text.
pub struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Attributes<'a> {
    pub fn new(raw: &'a [u8]) -> Self {
        Attributes { rest: raw }
    }
}

#[inline]
fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r')
}

fn malformed(what: &str, at: &[u8]) -> XmlError {
    XmlError::MalformedAttribute(format!("{what} near '{}'", lossy(&at[..at.len().min(24)])))
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<(&'a [u8], &'a [u8]), XmlError>;

    fn next(&mut self) -> Option<Self::Item> {
        let s = self.rest;
        let start = s.iter().position(|&b| !is_space(b))?;
        let item = self.parse_one(start);
        if item.is_err() {
            self.rest = &[];
        }
        Some(item)
    }
}

impl<'a> Attributes<'a> {
    fn parse_one(&mut self, start: usize) -> Result<(&'a [u8], &'a [u8]), XmlError> {
        let s = self.rest;
        let name_end = start
            + s[start..]
                .iter()
                .position(|&b| b == b'=' || is_space(b))
                .unwrap_or(s.len() - start);
        let name = &s[start..name_end];
        if name.is_empty() {
            return Err(malformed("attribute name expected", &s[start..]));
        }
        let mut i = name_end;
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        if s.get(i) != Some(&b'=') {
            return Err(malformed("expected '=' after attribute name", &s[start..]));
        }
        i += 1;
        while i < s.len() && is_space(s[i]) {
            i += 1;
        }
        let quote = match s.get(i) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => return Err(malformed("attribute value must be quoted", &s[start..])),
        };
        let vstart = i + 1;
        let vlen = memchr(quote, &s[vstart..])
            .ok_or_else(|| malformed("unterminated attribute value", &s[start..]))?;
        let value = &s[vstart..vstart + vlen];
        if memchr(b'<', value).is_some() {
            return Err(XmlError::MalformedAttribute(
                "'<' in an attribute value".into(),
            ));
        }
        let after = vstart + vlen + 1;
        if after < s.len() && !is_space(s[after]) {
            return Err(malformed(
                "white space required between attributes",
                &s[start..],
            ));
        }
        self.rest = &s[after..];
        Ok((name, value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(s: &str) -> Result<Vec<(String, String)>, XmlError> {
        Attributes::new(s.as_bytes())
            .map(|r| r.map(|(k, v)| (lossy(k), lossy(v))))
            .collect()
    }

    #[test]
    fn splits() {
        assert_eq!(all("").unwrap(), vec![]);
        assert_eq!(all("  ").unwrap(), vec![]);
        assert_eq!(
            all(" a='1' b = \"x'y\"\n\tc=''").unwrap(),
            vec![
                ("a".into(), "1".into()),
                ("b".into(), "x'y".into()),
                ("c".into(), "".into())
            ]
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            " a=1",
            " a",
            " a='1'b='2'",
            " a='1",
            " a='<'",
            " ='1'",
            " a=='1'",
        ] {
            assert!(all(bad).is_err(), "{bad}");
        }
    }
}
