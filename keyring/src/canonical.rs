//! Canonical JSON for signed payloads.
//!
//! A payload is written by serde_json in compact form from a Rust type whose fields have a
//! fixed order, whose optional fields are omitted when absent (never `null`), whose maps are
//! sorted, and which has no floating-point numbers. Reading parses into that type — unknown
//! fields refused — and re-encodes: the input is accepted only if it is byte-for-byte the
//! encoding. This refuses whitespace, reordered keys, duplicate keys, alternative escapes
//! (`\u0041`, `\/`), `null` for absent fields and trailing data, so every payload has exactly
//! one encoding and "the bytes that were signed" is the only representation there is.

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::FormatError;

/// Encodes a value as compact JSON.
pub fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Serialising these types into memory cannot fail: every key is a string and there are no
    // floats; an empty vector would be refused on read, so it is never silently accepted.
    serde_json::to_vec(value).unwrap_or_default()
}

/// Decodes `bytes` as the canonical JSON encoding of a `T`, at most `max` bytes long.
pub fn from_slice<T: Serialize + DeserializeOwned>(
    what: &'static str,
    bytes: &[u8],
    max: usize,
) -> Result<T, FormatError> {
    if bytes.len() > max {
        return Err(FormatError::TooLarge {
            what,
            len: bytes.len(),
            max,
        });
    }
    let value: T = serde_json::from_slice(bytes).map_err(|e| FormatError::json(what, &e))?;
    if to_vec(&value) != bytes {
        return Err(FormatError::NonCanonical { what });
    }
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct T {
        a: u32,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        b: Option<String>,
    }

    #[test]
    fn accepts_only_the_encoding() {
        assert_eq!(
            from_slice::<T>("t", br#"{"a":1,"b":"x"}"#, 100).unwrap(),
            T {
                a: 1,
                b: Some("x".into())
            }
        );
        assert_eq!(
            from_slice::<T>("t", br#"{"a":1}"#, 100).unwrap(),
            T { a: 1, b: None }
        );
        for bad in [
            &br#"{"a":1, "b":"x"}"#[..],
            br#"{"b":"x","a":1}"#,
            br#"{"a":1,"b":null}"#,
            br#"{"a":1,"b":"\u0078"}"#,
            br#"{"a":01}"#,
            br#"{"a":1.0}"#,
            br#"{"a":1} "#,
        ] {
            let err = from_slice::<T>("t", bad, 100).unwrap_err();
            assert!(
                matches!(
                    err,
                    FormatError::NonCanonical { .. } | FormatError::Json { .. }
                ),
                "{}: {err}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            from_slice::<T>("t", br#"{"a":1,"a":2}"#, 100),
            Err(FormatError::Json { .. })
        ));
        assert!(matches!(
            from_slice::<T>("t", br#"{"a":1,"c":2}"#, 100),
            Err(FormatError::Json { .. })
        ));
        assert!(matches!(
            from_slice::<T>("t", br#"{"a":1}"#, 3),
            Err(FormatError::TooLarge { .. })
        ));
    }
}
