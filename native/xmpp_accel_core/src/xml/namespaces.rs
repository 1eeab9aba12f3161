//! Namespace well-formedness (Namespaces in XML 1.0, §5-6), as RFC 6120 §11.2
//! asks of XMPP: every prefix used on an element or attribute is declared
//! on it or an ancestor, names have at most one colon, and a prefix is never
//! undeclared (`xmlns:p=""`). Prefixes are only checked, never resolved:
//! names reach Erlang as written, as exml and fast_xml give them.

use super::error::{lossy, XmlError};
use memchr::memchr;

/// Declared prefixes of the open elements, innermost last.
#[derive(Debug, Default, Clone)]
pub struct Scopes {
    prefixes: Vec<u8>,
    lens: Vec<usize>,
    /// For each open element, how many prefixes were declared before it.
    marks: Vec<usize>,
}

impl Scopes {
    pub fn clear(&mut self) {
        self.prefixes.clear();
        self.lens.clear();
        self.marks.clear();
    }

    /// Opens an element whose attributes are `attrs` (name, value) and whose
    /// name is `name`: records its declarations, then checks its prefixes.
    pub fn open<'a>(
        &mut self,
        name: &[u8],
        attrs: impl Iterator<Item = (&'a [u8], &'a [u8])> + Clone,
    ) -> Result<(), XmlError> {
        self.marks.push(self.lens.len());
        for (key, value) in attrs.clone() {
            if let Some(prefix) = key.strip_prefix(b"xmlns:") {
                split(key)?;
                if value.is_empty() {
                    return Err(XmlError::Namespace(format!(
                        "prefix '{}' undeclared",
                        lossy(prefix)
                    )));
                }
                if prefix == b"xmlns" || (prefix == b"xml" && value != XML_NS) {
                    return Err(XmlError::Namespace(format!(
                        "prefix '{}' cannot be declared",
                        lossy(prefix)
                    )));
                }
                self.prefixes.extend_from_slice(prefix);
                self.lens.push(prefix.len());
            }
        }
        if let Some(prefix) = split(name)? {
            self.check_bound(prefix)?;
        }
        for (key, _) in attrs {
            if let Some(prefix) = split(key)? {
                if prefix != b"xmlns" {
                    self.check_bound(prefix)?;
                }
            }
        }
        Ok(())
    }

    /// Opens an element with no colon in its name or attribute names: it
    /// declares no prefix and uses none.
    #[inline]
    pub fn open_unprefixed(&mut self) {
        self.marks.push(self.lens.len());
    }

    /// Closes the innermost element, dropping its declarations.
    pub fn close(&mut self) {
        if let Some(mark) = self.marks.pop() {
            let drop: usize = self.lens[mark..].iter().sum();
            self.prefixes.truncate(self.prefixes.len() - drop);
            self.lens.truncate(mark);
        }
    }

    fn check_bound(&self, prefix: &[u8]) -> Result<(), XmlError> {
        if prefix == b"xml" {
            return Ok(());
        }
        let mut end = self.prefixes.len();
        for &len in self.lens.iter().rev() {
            if &self.prefixes[end - len..end] == prefix {
                return Ok(());
            }
            end -= len;
        }
        Err(XmlError::Namespace(format!(
            "unbound prefix '{}'",
            lossy(prefix)
        )))
    }
}

const XML_NS: &[u8] = b"http://www.w3.org/XML/1998/namespace";

/// The prefix of a qualified name, if any; errors on a name that is not a QName.
fn split(name: &[u8]) -> Result<Option<&[u8]>, XmlError> {
    let Some(colon) = memchr(b':', name) else {
        return Ok(None);
    };
    let (prefix, local) = (&name[..colon], &name[colon + 1..]);
    if prefix.is_empty() || local.is_empty() || memchr(b':', local).is_some() {
        return Err(XmlError::Namespace(format!(
            "'{}' is not a qualified name",
            lossy(name)
        )));
    }
    Ok(Some(prefix))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(s: &mut Scopes, name: &str, attrs: &[(&str, &str)]) -> Result<(), XmlError> {
        s.open(
            name.as_bytes(),
            attrs.iter().map(|(k, v)| (k.as_bytes(), v.as_bytes())),
        )
    }

    #[test]
    fn prefixes_must_be_bound() {
        let mut s = Scopes::default();
        open(
            &mut s,
            "stream:stream",
            &[("xmlns:stream", "x"), ("xmlns", "jabber:client")],
        )
        .unwrap();
        open(&mut s, "message", &[("xml:lang", "en")]).unwrap();
        open(&mut s, "stream:error", &[]).unwrap();
        s.close();
        assert!(open(&mut s, "cdo:data", &[]).is_err());
        open(&mut s, "a:b", &[("xmlns:a", "u"), ("a:c", "1")]).unwrap();
        s.close();
        assert!(
            open(&mut s, "a:b", &[]).is_err(),
            "scope ended with its element"
        );
        assert!(open(&mut s, "x", &[("xmlns:xdl:", "u")]).is_err());
        assert!(open(&mut s, "x", &[("xmlns:p", "")]).is_err());
        assert!(open(&mut s, ":x", &[]).is_err());
        assert!(open(&mut s, "x", &[("b:c", "1")]).is_err());
    }
}
