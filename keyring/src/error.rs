//! Errors from reading Hallmark documents.

use crate::encoding::EncodingError;
use crate::envelope::PayloadType;
use crate::key::KeyId;

/// Why a document (bundle, envelope, payload) was refused while reading it.
///
/// Every variant names the document part (`what`) so the message says where the problem is.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FormatError {
    /// Larger than the format allows; checked before allocating.
    #[error("{what} is {len} bytes, more than the {max} allowed")]
    TooLarge {
        /// The document part.
        what: &'static str,
        /// Its size.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// More items than the format allows (signatures, keys, …); checked before using them.
    #[error("{what} has {count} {unit}, more than the {max} allowed")]
    TooMany {
        /// The document part.
        what: &'static str,
        /// What is counted, plural (`signatures`).
        unit: &'static str,
        /// How many there are.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// Not valid JSON for this document, or a required field is missing or unknown.
    #[error("{what} is malformed: {detail}")]
    Json {
        /// The document part.
        what: &'static str,
        /// serde_json's description, with line and column.
        detail: String,
    },
    /// Valid, but not in the one canonical encoding (whitespace, key order, escapes, `null`).
    #[error("{what} is not in canonical form; signed payloads have exactly one encoding")]
    NonCanonical {
        /// The document part.
        what: &'static str,
    },
    /// A base64 or hex field is wrong.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The payload type is not one Hallmark defines.
    #[error("unknown payload type {0:?}")]
    UnknownPayloadType(String),
    /// The payload type is not the one expected here (e.g. a key event given as a statement).
    #[error("expected a {expected} envelope, found a {found} envelope")]
    WrongPayloadType {
        /// The type required here.
        expected: PayloadType,
        /// The type found.
        found: PayloadType,
    },
    /// The same key signed an envelope twice.
    #[error("key {} appears twice among the envelope's signatures", .0.short())]
    DuplicateSignature(KeyId),
    /// A field's value is out of its domain.
    #[error("{what}: {reason}")]
    Invalid {
        /// The field.
        what: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// The bundle's media type is not one this version reads.
    #[error("not a Hallmark bundle (media type {found:?}, expected {expected:?})")]
    MediaType {
        /// The media type found.
        found: String,
        /// The media type this version reads.
        expected: &'static str,
    },
}

impl FormatError {
    pub(crate) fn json(what: &'static str, err: &serde_json::Error) -> Self {
        FormatError::Json {
            what,
            detail: err.to_string(),
        }
    }

    pub(crate) fn invalid(what: &'static str, reason: impl Into<String>) -> Self {
        FormatError::Invalid {
            what,
            reason: reason.into(),
        }
    }
}
