//! The SSH wire encoding (RFC 4251 §5): `uint32` big-endian and `string` (a `uint32` length
//! followed by that many bytes). Reading is strict: a length is checked against what remains
//! before anything is taken, and every value must be read to its end.

/// Why SSH wire data was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// The data ends inside a field.
    #[error("{field}: truncated ({needed} bytes needed, {left} left)")]
    Truncated {
        /// The field being read.
        field: &'static str,
        /// How many bytes the field needs.
        needed: u64,
        /// How many bytes were left.
        left: usize,
    },
    /// Bytes follow the last field.
    #[error("{count} unexpected bytes after {field}")]
    Trailing {
        /// The structure that should have ended.
        field: &'static str,
        /// How many bytes follow it.
        count: usize,
    },
}

/// A strict reader over SSH wire data.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf }
    }

    /// Takes exactly `n` bytes.
    pub(crate) fn bytes(&mut self, n: usize, field: &'static str) -> Result<&'a [u8], WireError> {
        if self.buf.len() < n {
            return Err(WireError::Truncated {
                field,
                needed: n as u64,
                left: self.buf.len(),
            });
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    /// A big-endian `uint32`.
    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, WireError> {
        let b = self.bytes(4, field)?;
        Ok(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A `string`: its length is checked against the bytes left before anything is taken.
    pub(crate) fn string(&mut self, field: &'static str) -> Result<&'a [u8], WireError> {
        let len = self.u32(field)?;
        if u64::from(len) > self.buf.len() as u64 {
            return Err(WireError::Truncated {
                field,
                needed: u64::from(len),
                left: self.buf.len(),
            });
        }
        self.bytes(len as usize, field)
    }

    /// Ends reading: nothing may follow.
    pub(crate) fn finish(self, field: &'static str) -> Result<(), WireError> {
        if self.buf.is_empty() {
            Ok(())
        } else {
            Err(WireError::Trailing {
                field,
                count: self.buf.len(),
            })
        }
    }
}

/// Appends a `string`.
pub(crate) fn put_string(out: &mut Vec<u8>, value: &[u8]) {
    // Every value written here is far below 4 GiB (keys, signatures, short names, digests).
    let len = u32::try_from(value.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(value);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_round_trip_and_lengths_are_checked() {
        let mut out = Vec::new();
        put_string(&mut out, b"ssh-ed25519");
        put_string(&mut out, b"");
        let mut r = Reader::new(&out);
        assert_eq!(r.string("a").unwrap(), b"ssh-ed25519");
        assert_eq!(r.string("b").unwrap(), b"");
        r.finish("blob").unwrap();

        // A length larger than what is left is refused before anything is taken.
        let mut r = Reader::new(&[0xff, 0xff, 0xff, 0xff, 1, 2]);
        assert_eq!(
            r.string("key"),
            Err(WireError::Truncated {
                field: "key",
                needed: 0xffff_ffff,
                left: 2
            })
        );
        let mut r = Reader::new(&[0, 0]);
        assert!(matches!(r.u32("v"), Err(WireError::Truncated { .. })));
        let r = Reader::new(&[1]);
        assert_eq!(
            r.finish("blob"),
            Err(WireError::Trailing {
                field: "blob",
                count: 1
            })
        );
    }
}
