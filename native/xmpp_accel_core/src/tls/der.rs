//! The few DER reads the verify codes need: issuer and subject of an X.509
//! certificate (RFC 5280 §4.1), to tell a self-signed certificate.

/// One DER TLV: (tag, content, rest of input). None on malformed input.
fn tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (first as usize, rest)
    } else {
        let n = (first & 0x7f) as usize;
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | b as usize);
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// The DER bytes of (issuer, subject) of a certificate.
pub(crate) fn issuer_and_subject(cert: &[u8]) -> Option<(&[u8], &[u8])> {
    let (_, certificate, _) = tlv(cert)?;
    let (_, tbs, _) = tlv(certificate)?;
    let mut fields = tbs;
    // optional [0] version
    if fields.first() == Some(&0xa0) {
        fields = tlv(fields)?.2;
    }
    let (_, _serial, rest) = tlv(fields)?;
    let (_, _signature, rest) = tlv(rest)?;
    let (_, issuer, rest) = tlv(rest)?;
    let (_, _validity, rest) = tlv(rest)?;
    let (_, subject, _) = tlv(rest)?;
    Some((issuer, subject))
}

/// True when the certificate names itself as its issuer.
pub(crate) fn is_self_issued(cert: &[u8]) -> bool {
    matches!(issuer_and_subject(cert), Some((i, s)) if i == s)
}

/// The subject's common name (OID 2.5.4.3, RFC 5280 §4.1.2.6) of a
/// certificate, when it has one as a string.
pub fn subject_cn(cert: &[u8]) -> Option<String> {
    const CN: &[u8] = &[0x55, 0x04, 0x03];
    let (_, subject) = issuer_and_subject(cert)?;
    let mut rdns = subject;
    while !rdns.is_empty() {
        let (_, set, rest) = tlv(rdns)?;
        rdns = rest;
        let (_, attr, _) = tlv(set)?;
        let (oid_tag, oid, value) = tlv(attr)?;
        if oid_tag == 0x06 && oid == CN {
            let (_, text, _) = tlv(value)?;
            return Some(String::from_utf8_lossy(text).into_owned());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_is_none() {
        assert_eq!(issuer_and_subject(b""), None);
        assert_eq!(issuer_and_subject(&[0x30, 0x85, 1, 1, 1, 1, 1]), None);
        assert_eq!(issuer_and_subject(&[0x30, 0x03, 0x30, 0x01]), None);
        assert!(!is_self_issued(b"garbage"));
    }
}
