//! Content digests: SHA-256 of a file, or of a directory tree through a canonical manifest.
//!
//! A release is signed by its digest, never by its bytes, so this module decides what "the same
//! artifact" means. The format is specified byte for byte in `docs/formats.md` ("Content
//! digests"); in short:
//!
//! - a **file digest** is `sha256:` followed by the lowercase hex SHA-256 of the file's bytes;
//! - a **tree digest** is `sha256-tree:` followed by the lowercase hex SHA-256 of the tree's
//!   [`Manifest`]: the line `hallmark-tree-v1`, then one line `<type> <digest> <path>` per entry
//!   (`f` file, `x` executable file, `l` symbolic link, `d` directory), sorted by path bytes.
//!
//! Modification times, owners, permissions other than the owner-execute bit, and the order in
//! which the file system lists a directory do not change a tree digest; any changed byte, a
//! rename, an added or removed entry (empty directories included) or a flipped executable bit
//! does. Symbolic links must be relative and resolve inside the tree; special files, names that
//! are not UTF-8 or contain control characters, and unreadable entries are errors naming the path.
//!
//! Files are hashed in parallel on the current [rayon] pool (wrap the call in
//! `ThreadPool::install` to choose the number of threads) and streamed through a fixed buffer
//! per thread, so memory does not grow with file size. SHA-256 comes from `sha2`, which uses
//! the CPU's SHA extensions when the processor has them.
//!
//! ```no_run
//! use hallmark_keyring::digest::{digest_path, DigestOptions};
//!
//! let digest = digest_path("dist/my-tool".as_ref(), &DigestOptions::new())?;
//! println!("{digest}"); // sha256-tree:3f5a…
//! # Ok::<(), hallmark_keyring::digest::DigestError>(())
//! ```

mod error;
mod hash;
mod manifest;
mod walk;

use std::fmt;
use std::path::Path;
use std::str::FromStr;

pub use error::{DigestError, ManifestError, ManifestErrorReason, ParseDigestError, SpecialKind};
pub use manifest::{Entry, EntryKind, MANIFEST_HEADER, Manifest};

/// Prefix of a file digest's text form.
pub const FILE_PREFIX: &str = "sha256:";
/// Prefix of a tree digest's text form.
pub const TREE_PREFIX: &str = "sha256-tree:";

/// The content digest of a file or of a directory tree.
///
/// Its text form (used by [`Display`](fmt::Display), [`FromStr`] and serde) is
/// `sha256:<64 lowercase hex>` for a file and `sha256-tree:<64 lowercase hex>` for a tree.
/// Parsing is strict: a known prefix, exactly 64 hex digits, lowercase only.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ContentDigest {
    /// SHA-256 of a single file's bytes.
    File([u8; 32]),
    /// SHA-256 of a tree's canonical [`Manifest`].
    Tree([u8; 32]),
}

impl ContentDigest {
    /// The 32 bytes of the SHA-256 value, whichever kind of digest this is.
    pub fn sha256(&self) -> &[u8; 32] {
        match self {
            Self::File(bytes) | Self::Tree(bytes) => bytes,
        }
    }

    /// The prefix of the text form, `sha256:` or `sha256-tree:`.
    pub fn prefix(&self) -> &'static str {
        match self {
            Self::File(_) => FILE_PREFIX,
            Self::Tree(_) => TREE_PREFIX,
        }
    }

    /// The file digest of `bytes` held in memory.
    pub fn of_bytes(bytes: &[u8]) -> Self {
        Self::File(hash::sha256(bytes))
    }
}

impl fmt::Display for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())?;
        f.write_str(&crate::encoding::hex_encode(self.sha256()))
    }
}

impl fmt::Debug for ContentDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentDigest({self})")
    }
}

impl FromStr for ContentDigest {
    type Err = ParseDigestError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (tree, hex_part) = if let Some(rest) = s.strip_prefix(TREE_PREFIX) {
            (true, rest)
        } else if let Some(rest) = s.strip_prefix(FILE_PREFIX) {
            (false, rest)
        } else {
            return Err(ParseDigestError::UnknownPrefix {
                found: s.chars().take(16).collect(),
            });
        };
        let bytes = parse_hex32(hex_part.as_bytes()).map_err(|problem| match problem {
            HexProblem::Length(len) => ParseDigestError::Length { found: len },
            HexProblem::Char(position) => ParseDigestError::NotLowercaseHex {
                // `position` counts bytes of the hex part; report it in the whole string.
                position: position + s.len() - hex_part.len(),
            },
        })?;
        Ok(if tree {
            Self::Tree(bytes)
        } else {
            Self::File(bytes)
        })
    }
}

impl serde::Serialize for ContentDigest {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for ContentDigest {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ContentDigest;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a content digest such as \"sha256:<64 lowercase hex digits>\"")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<ContentDigest, E> {
                v.parse().map_err(E::custom)
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

/// Receives progress while a file or tree is hashed, e.g. to drive a progress bar.
///
/// Methods are called from the hashing threads, concurrently, hence `Sync`; keep them cheap
/// (an atomic add). All methods default to doing nothing.
pub trait Progress: Sync {
    /// Called once, when the walk is done and the work is known: how many regular files will
    /// be hashed and their total size in bytes (as listed; a file growing meanwhile is hashed
    /// whole).
    fn start(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }

    /// Called as work completes: `files` files finished (0 or 1) and `bytes` more bytes hashed.
    /// Large files report in chunks with `files == 0`, then once with `files == 1`.
    fn advance(&self, files: u64, bytes: u64) {
        let _ = (files, bytes);
    }
}

/// Options for [`digest_path`] and [`Manifest::build`].
#[derive(Clone, Copy, Default)]
#[non_exhaustive]
pub struct DigestOptions<'a> {
    progress: Option<&'a dyn Progress>,
}

impl<'a> DigestOptions<'a> {
    /// Default options: no progress reporting.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports progress to `progress`.
    ///
    /// To give the totals before hashing starts, the walk then reads each regular file's size,
    /// one `stat` per file that a walk without progress does not need (a few percent on trees
    /// of small files).
    pub fn with_progress(mut self, progress: &'a dyn Progress) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Whether the walk must find the total size before hashing starts.
    pub(crate) fn wants_totals(&self) -> bool {
        self.progress.is_some()
    }

    pub(crate) fn progress(&self) -> &'a dyn Progress {
        struct Silent;
        impl Progress for Silent {}
        static SILENT: Silent = Silent;
        self.progress.unwrap_or(&SILENT)
    }
}

impl fmt::Debug for DigestOptions<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestOptions")
            .field("progress", &self.progress.is_some())
            .finish()
    }
}

/// The content digest of `path`: a [`ContentDigest::File`] for a regular file, a
/// [`ContentDigest::Tree`] for a directory.
///
/// If `path` itself is a symbolic link it is followed (the user named it); links inside a tree
/// are recorded, not followed. Errors name the offending path and say what to do.
pub fn digest_path(path: &Path, options: &DigestOptions<'_>) -> Result<ContentDigest, DigestError> {
    match walk::open_root(path)? {
        walk::Root::File { canonical, size } => {
            let progress = options.progress();
            progress.start(1, size);
            let display = || path.to_path_buf();
            let (_, sha256) =
                hash::hash_file(rustix::fs::CWD, &canonical, &display, None, progress)?;
            Ok(ContentDigest::File(sha256))
        }
        walk::Root::Dir { canonical } => {
            Ok(Manifest::build_from_canonical(path, &canonical, options)?.digest())
        }
    }
}

pub(crate) enum HexProblem {
    /// Not 64 characters long: how long it was.
    Length(usize),
    /// Not a lowercase hex digit at this byte offset.
    Char(usize),
}

/// Parses exactly 64 lowercase hex digits.
pub(crate) fn parse_hex32(text: &[u8]) -> Result<[u8; 32], HexProblem> {
    // Report a bad character before a bad length: it is the more precise complaint.
    if let Some(position) = text
        .iter()
        .position(|c| !matches!(c, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(HexProblem::Char(position));
    }
    let mut out = [0u8; 32];
    match base16ct::lower::decode(text, &mut out) {
        Ok(decoded) if decoded.len() == 32 => Ok(out),
        _ => Err(HexProblem::Length(text.len())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HELLO: &str = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";

    #[test]
    fn text_form_round_trips() {
        let file: ContentDigest = format!("sha256:{HELLO}").parse().unwrap();
        assert_eq!(file, ContentDigest::of_bytes(b"hello\n"));
        assert_eq!(file.to_string(), format!("sha256:{HELLO}"));
        let tree: ContentDigest = format!("sha256-tree:{HELLO}").parse().unwrap();
        assert_eq!(tree, ContentDigest::Tree(*file.sha256()));
        assert_eq!(tree.to_string(), format!("sha256-tree:{HELLO}"));
        assert_ne!(file, tree);
    }

    #[test]
    fn parsing_is_strict() {
        let upper = format!("sha256:{}", HELLO.to_uppercase());
        assert_eq!(
            upper.parse::<ContentDigest>(),
            Err(ParseDigestError::NotLowercaseHex { position: 7 + 4 })
        );
        assert_eq!(
            format!("sha256:{}", &HELLO[1..]).parse::<ContentDigest>(),
            Err(ParseDigestError::Length { found: 63 })
        );
        assert_eq!(
            format!("sha256:{HELLO}0").parse::<ContentDigest>(),
            Err(ParseDigestError::Length { found: 65 })
        );
        assert_eq!(
            format!("sha256:{HELLO}\n").parse::<ContentDigest>(),
            Err(ParseDigestError::NotLowercaseHex { position: 71 })
        );
        assert_eq!(
            format!(" sha256:{HELLO}").parse::<ContentDigest>(),
            Err(ParseDigestError::UnknownPrefix {
                found: " sha256:5891b5b5".into()
            })
        );
        assert_eq!(
            format!("SHA256:{HELLO}").parse::<ContentDigest>(),
            Err(ParseDigestError::UnknownPrefix {
                found: "SHA256:5891b5b52".into()
            })
        );
        assert_eq!(
            format!("sha512:{HELLO}").parse::<ContentDigest>(),
            Err(ParseDigestError::UnknownPrefix {
                found: "sha512:5891b5b52".into()
            })
        );
        assert_eq!(
            "sha256:".parse::<ContentDigest>(),
            Err(ParseDigestError::Length { found: 0 })
        );
    }

    #[test]
    fn serde_uses_the_text_form() {
        let digest = ContentDigest::of_bytes(b"hello\n");
        let json = serde_json::to_string(&digest).unwrap();
        assert_eq!(json, format!("\"sha256:{HELLO}\""));
        assert_eq!(
            serde_json::from_str::<ContentDigest>(&json).unwrap(),
            digest
        );
        let err = serde_json::from_str::<ContentDigest>(&format!("\"sha256:{HELLO}x\""))
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "a content digest is written in lowercase hex digits (0-9, a-f); byte 71 is not one"
            ),
            "{err}"
        );
        assert!(serde_json::from_str::<ContentDigest>("42").is_err());
    }

    #[test]
    fn debug_shows_the_text_form() {
        assert_eq!(
            format!("{:?}", ContentDigest::of_bytes(b"hello\n")),
            format!("ContentDigest(sha256:{HELLO})")
        );
    }
}
