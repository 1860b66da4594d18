//! Content digests of files and directory trees.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::encoding::{EncodingError, hex_decode_array, hex_encode};

/// The SHA-256 content digest of a file (`sha256:<hex>`) or of a tree's canonical manifest
/// (`sha256-tree:<hex>`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub enum ContentDigest {
    /// SHA-256 of a file's bytes.
    File([u8; 32]),
    /// SHA-256 of a directory tree's canonical manifest.
    Tree([u8; 32]),
}

impl ContentDigest {
    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        match self {
            ContentDigest::File(d) | ContentDigest::Tree(d) => d,
        }
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ContentDigest::File(d) => write!(f, "sha256:{}", hex_encode(d)),
            ContentDigest::Tree(d) => write!(f, "sha256-tree:{}", hex_encode(d)),
        }
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

/// A content digest string that does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseDigestError {
    /// Neither `sha256:` nor `sha256-tree:`.
    #[error("a content digest starts with `sha256:` (file) or `sha256-tree:` (tree)")]
    Prefix,
    /// Bad hex.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
}

impl FromStr for ContentDigest {
    type Err = ParseDigestError;

    fn from_str(text: &str) -> Result<Self, ParseDigestError> {
        if let Some(hex) = text.strip_prefix("sha256:") {
            Ok(ContentDigest::File(hex_decode_array::<32>(
                "content digest",
                hex,
            )?))
        } else if let Some(hex) = text.strip_prefix("sha256-tree:") {
            Ok(ContentDigest::Tree(hex_decode_array::<32>(
                "content digest",
                hex,
            )?))
        } else {
            Err(ParseDigestError::Prefix)
        }
    }
}

impl Serialize for ContentDigest {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentDigest {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Options for [`digest_path`].
#[derive(Clone, Copy, Debug, Default)]
pub struct DigestOptions {}

/// Why a content digest could not be computed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The path could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        /// The path.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Computes the content digest of a file.
pub fn digest_path(
    path: &std::path::Path,
    _options: &DigestOptions,
) -> Result<ContentDigest, DigestError> {
    use sha2::Digest;
    use std::io::Read;
    let io = |source| DigestError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = std::fs::File::open(path).map_err(io)?;
    let mut hasher = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        let n = file.read(&mut buf).map_err(io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(ContentDigest::File(hasher.finalize().into()))
}
