//! BER-TLV as PIV uses it: one- or two-byte tags, definite lengths up to 65,535 bytes.

/// One parsed TLV: its tag (one or two bytes, big-endian) and its value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tlv<'a> {
    /// The tag; two-byte tags (first byte `xF` low bits all set) are combined big-endian.
    pub tag: u16,
    /// The value bytes.
    pub value: &'a [u8],
}

/// Parses one TLV from the front of `input`; returns it and what follows.
pub fn parse(input: &[u8]) -> Option<(Tlv<'_>, &[u8])> {
    let (&first, rest) = input.split_first()?;
    let (tag, rest) = if first & 0x1f == 0x1f {
        let (&second, rest) = rest.split_first()?;
        (u16::from_be_bytes([first, second]), rest)
    } else {
        (u16::from(first), rest)
    };
    let (&len0, rest) = rest.split_first()?;
    let (len, rest) = match len0 {
        0x00..=0x7f => (usize::from(len0), rest),
        0x81 => {
            let (&l, rest) = rest.split_first()?;
            (usize::from(l), rest)
        }
        0x82 => {
            let l = rest.get(..2)?;
            (
                usize::from(u16::from_be_bytes([l[0], l[1]])),
                rest.get(2..)?,
            )
        }
        _ => return None,
    };
    let value = rest.get(..len)?;
    Some((Tlv { tag, value }, &rest[len..]))
}

/// Parses one TLV that fills `input` exactly.
pub fn parse_one(input: &[u8]) -> Option<Tlv<'_>> {
    match parse(input)? {
        (tlv, []) => Some(tlv),
        _ => None,
    }
}

/// Parses a sequence of TLVs that fills `input` exactly.
pub fn parse_all(mut input: &[u8]) -> Option<Vec<Tlv<'_>>> {
    let mut out = Vec::new();
    while !input.is_empty() {
        let (tlv, rest) = parse(input)?;
        out.push(tlv);
        input = rest;
    }
    Some(out)
}

/// Appends the BER encoding of a length.
pub fn push_len(out: &mut Vec<u8>, len: usize) {
    if len < 0x80 {
        out.push(len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0x81, len as u8]);
    } else {
        let len = u16::try_from(len).unwrap_or(u16::MAX);
        out.push(0x82);
        out.extend_from_slice(&len.to_be_bytes());
    }
}

/// Appends a TLV with a one- or two-byte tag.
pub fn push(out: &mut Vec<u8>, tag: u16, value: &[u8]) {
    if tag > 0xff {
        out.extend_from_slice(&tag.to_be_bytes());
    } else {
        out.push(tag as u8);
    }
    push_len(out, value.len());
    out.extend_from_slice(value);
}

/// Encodes a single TLV.
pub fn encode(tag: u16, value: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(value.len() + 5);
    push(&mut out, tag, value);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_every_length_form() {
        for len in [0usize, 1, 0x7f, 0x80, 0xff, 0x100, 0x3000] {
            let value = vec![0xab; len];
            for tag in [0x53u16, 0x7f49] {
                let encoded = encode(tag, &value);
                let (tlv, rest) = parse(&encoded).unwrap();
                assert_eq!((tlv.tag, tlv.value, rest), (tag, &value[..], &[][..]));
            }
        }
    }

    #[test]
    fn refuses_truncated_input() {
        assert_eq!(parse(&[0x53, 0x03, 0x01, 0x02]), None);
        assert_eq!(parse(&[0x53, 0x82, 0x01]), None);
        assert_eq!(parse(&[0x53, 0x84, 0, 0, 0, 1, 0]), None);
        assert_eq!(parse_all(&[0x80, 0x00, 0x81]), None);
    }
}
