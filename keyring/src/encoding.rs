//! The two text encodings Hallmark uses, both strict.
//!
//! * **Base64** — RFC 4648 §4, standard alphabet, with padding. Decoding refuses the URL-safe
//!   alphabet, missing or extra padding, whitespace, and non-zero trailing bits, so every value
//!   has exactly one encoding.
//! * **Hex** — lowercase only, even length.

use base64ct::{Base64, Encoding};

/// Why a base64 or hex string was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EncodingError {
    /// The string is longer than the field allows; checked before decoding.
    #[error("{field}: {len} characters, more than the {max} allowed")]
    TooLong {
        /// The field being decoded.
        field: &'static str,
        /// The string's length.
        len: usize,
        /// The largest length allowed.
        max: usize,
    },
    /// Not canonical base64 (standard alphabet, padded, no whitespace, zero trailing bits).
    #[error("{field}: not canonical base64 (standard alphabet with padding)")]
    Base64 {
        /// The field being decoded.
        field: &'static str,
    },
    /// Not lowercase hex.
    #[error("{field}: not lowercase hexadecimal")]
    Hex {
        /// The field being decoded.
        field: &'static str,
    },
    /// Decoded to the wrong number of bytes.
    #[error("{field}: {got} bytes, expected {expected}")]
    Length {
        /// The field being decoded.
        field: &'static str,
        /// The length found.
        got: usize,
        /// The length required.
        expected: usize,
    },
}

/// Encodes bytes as padded standard base64.
pub fn base64_encode(bytes: &[u8]) -> String {
    Base64::encode_string(bytes)
}

/// Decodes padded standard base64 strictly, refusing inputs that would decode to more than
/// `max_bytes` before allocating.
pub fn base64_decode(
    field: &'static str,
    text: &str,
    max_bytes: usize,
) -> Result<Vec<u8>, EncodingError> {
    let max_len = max_bytes.div_ceil(3) * 4;
    if text.len() > max_len {
        return Err(EncodingError::TooLong {
            field,
            len: text.len(),
            max: max_len,
        });
    }
    let bytes = Base64::decode_vec(text).map_err(|_| EncodingError::Base64 { field })?;
    // base64ct is strict about padding and trailing bits; re-encoding guards the invariant.
    if Base64::encode_string(&bytes) != text {
        return Err(EncodingError::Base64 { field });
    }
    Ok(bytes)
}

/// Decodes padded standard base64 into exactly `N` bytes.
pub fn base64_decode_array<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], EncodingError> {
    let bytes = base64_decode(field, text, N)?;
    <[u8; N]>::try_from(bytes.as_slice()).map_err(|_| EncodingError::Length {
        field,
        got: bytes.len(),
        expected: N,
    })
}

/// Encodes bytes as lowercase hex.
pub fn hex_encode(bytes: &[u8]) -> String {
    base16ct::lower::encode_string(bytes)
}

/// Decodes lowercase hex into exactly `N` bytes.
pub fn hex_decode_array<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], EncodingError> {
    if text.len() != N * 2 {
        if text.len() > N * 2 + 2 {
            return Err(EncodingError::TooLong {
                field,
                len: text.len(),
                max: N * 2,
            });
        }
        return Err(EncodingError::Length {
            field,
            got: text.len() / 2,
            expected: N,
        });
    }
    let mut out = [0u8; N];
    base16ct::lower::decode(text, &mut out).map_err(|_| EncodingError::Hex { field })?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trip_and_strictness() {
        assert_eq!(base64_encode(b"hallmark"), "aGFsbG1hcms=");
        assert_eq!(base64_decode("f", "aGFsbG1hcms=", 64).unwrap(), b"hallmark");
        for bad in [
            "aGFsbG1hcms",   // missing padding
            "aGFsbG1hcmt=",  // non-zero trailing bits
            "aGFs bG1hcms=", // whitespace
            "aGFsbG1hcms==", // extra padding
            "_-8=",          // URL-safe alphabet
        ] {
            assert_eq!(
                base64_decode("f", bad, 64),
                Err(EncodingError::Base64 { field: "f" }),
                "{bad:?}"
            );
        }
        assert_eq!(
            base64_decode("f", "aGFsbG1hcms=", 3),
            Err(EncodingError::TooLong {
                field: "f",
                len: 12,
                max: 4
            })
        );
    }

    #[test]
    fn base64_array_length() {
        assert_eq!(base64_decode_array::<4>("f", "aGFsbA=="), Ok(*b"hall"),);
        assert_eq!(
            base64_decode_array::<4>("f", "aGFs"),
            Err(EncodingError::Length {
                field: "f",
                got: 3,
                expected: 4
            })
        );
    }

    #[test]
    fn hex_is_lowercase_and_exact() {
        assert_eq!(hex_encode(&[0x00, 0xab, 0xff]), "00abff");
        assert_eq!(hex_decode_array::<3>("f", "00abff"), Ok([0x00, 0xab, 0xff]));
        assert_eq!(
            hex_decode_array::<3>("f", "00ABff"),
            Err(EncodingError::Hex { field: "f" })
        );
        assert_eq!(
            hex_decode_array::<3>("f", "00ab"),
            Err(EncodingError::Length {
                field: "f",
                got: 2,
                expected: 3
            })
        );
        assert!(matches!(
            hex_decode_array::<3>("f", &"0".repeat(1000)),
            Err(EncodingError::TooLong { .. })
        ));
    }
}
