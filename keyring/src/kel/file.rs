//! The key event log file: an identity's events, as a publisher keeps them and a consumer
//! imports them (`org.example.kel`).
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.hallmark.kel.v1+json",
//!   "events": [ { "payloadType": "application/vnd.hallmark.key-event.v1+json", … }, … ]
//! }
//! ```
//!
//! Like a bundle, the file itself is not signed (every event in it is) and is written as
//! indented JSON; its fields are parsed strictly.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, PayloadType};
use crate::error::FormatError;
use crate::fsutil::{self, ReadError};
use crate::kel::log::{Kel, KelError};

/// The log file's media type.
pub const KEL_MEDIA_TYPE: &str = "application/vnd.hallmark.kel.v1+json";

/// Largest log file read, in bytes.
pub const MAX_KEL_FILE_BYTES: usize = 256 * 1024 * 1024;

/// The file form of a log.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KelFile {
    /// Always [`KEL_MEDIA_TYPE`].
    pub media_type: String,
    /// The events, from inception.
    pub events: Vec<Envelope>,
}

/// Why a log file could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KelFileError {
    /// The file could not be read.
    #[error("cannot read key event log {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// What went wrong.
        source: ReadError,
    },
    /// The file is not a log file.
    #[error("{} is not a Hallmark key event log: {source}", path.display())]
    Format {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// The log does not verify.
    #[error("{}: {source}", path.display())]
    Invalid {
        /// The file.
        path: std::path::PathBuf,
        /// What is wrong.
        source: KelError,
    },
}

impl KelFile {
    /// The file form of a verified log.
    pub fn from_kel(kel: &Kel) -> Self {
        KelFile {
            media_type: KEL_MEDIA_TYPE.to_owned(),
            events: kel.envelopes(),
        }
    }

    /// Encodes as indented JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Decodes strictly (size, media type, fields, every envelope a key event).
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_KEL_FILE_BYTES {
            return Err(FormatError::TooLarge {
                what: "key event log",
                len: bytes.len(),
                max: MAX_KEL_FILE_BYTES,
            });
        }
        let file: KelFile =
            serde_json::from_slice(bytes).map_err(|e| FormatError::json("key event log", &e))?;
        if file.media_type != KEL_MEDIA_TYPE {
            return Err(FormatError::MediaType {
                found: file.media_type.chars().take(100).collect(),
                expected: KEL_MEDIA_TYPE,
            });
        }
        for event in &file.events {
            event.expect_type(PayloadType::KeyEvent)?;
        }
        Ok(file)
    }

    /// Reads and verifies a log file.
    pub fn read_verified(path: &Path) -> Result<Kel, KelFileError> {
        let bytes = fsutil::read_bounded(path, MAX_KEL_FILE_BYTES as u64).map_err(|source| {
            KelFileError::Read {
                path: path.to_owned(),
                source,
            }
        })?;
        let file = KelFile::from_json(&bytes).map_err(|source| KelFileError::Format {
            path: path.to_owned(),
            source,
        })?;
        Kel::verify(&file.events).map_err(|source| KelFileError::Invalid {
            path: path.to_owned(),
            source,
        })
    }
}
