//! Errors of content digests: hashing a path, parsing a digest's text, parsing a manifest.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a file or tree could not be digested. Every variant names the offending path (as reached
/// from the path the caller gave) and its message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DigestError {
    /// The path to digest could not be opened or resolved.
    #[error("cannot open {}: {source}; check that the path exists and is readable", path.display())]
    Root {
        /// The path as given.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A tree was required but the path is not a directory.
    #[error(
        "{} is not a directory; a manifest describes a directory tree (hash a single file with its file digest)",
        path.display()
    )]
    NotADirectory {
        /// The path as given.
        path: PathBuf,
    },

    /// A symbolic link in the tree has an absolute target.
    #[error(
        "symbolic link {} points to the absolute path {}; a tree may only contain relative links that stay inside it: make the link relative, or replace it with what it points to",
        path.display(), target.display()
    )]
    SymlinkAbsolute {
        /// The link.
        path: PathBuf,
        /// Its target, as stored.
        target: PathBuf,
    },

    /// A symbolic link in the tree resolves to a place outside the tree.
    #[error(
        "symbolic link {} (-> {}) resolves to {}, outside the tree {}; replace it with a copy of what it points to, or remove it",
        path.display(), target.display(), resolved.display(), root.display()
    )]
    SymlinkEscapes {
        /// The link.
        path: PathBuf,
        /// Its target, as stored.
        target: PathBuf,
        /// Where the file system resolves it to.
        resolved: PathBuf,
        /// The canonical root of the tree.
        root: PathBuf,
    },

    /// A symbolic link in the tree does not resolve (dangling, a loop, or through a file).
    #[error(
        "symbolic link {} (-> {}) does not resolve: {source}; fix its target or remove it",
        path.display(), target.display()
    )]
    SymlinkUnresolved {
        /// The link.
        path: PathBuf,
        /// Its target, as stored.
        target: PathBuf,
        /// What the operating system said while resolving it.
        source: io::Error,
    },

    /// The tree contains a FIFO, socket or device.
    #[error(
        "{} is a {kind}; a tree may only contain regular files, directories and symbolic links: remove it before hashing",
        path.display()
    )]
    SpecialFile {
        /// The special file.
        path: PathBuf,
        /// What kind of special file it is.
        kind: SpecialKind,
    },

    /// A name in the tree is not valid UTF-8.
    #[error(
        "the name of {} is not valid UTF-8; manifests name entries by UTF-8 paths: rename it",
        path.display()
    )]
    NonUtf8Name {
        /// The entry, with its name shown lossily.
        path: PathBuf,
    },

    /// A name in the tree is not canonical (for example, it contains a control character).
    #[error("the name of {} {reason}; rename it", path.display())]
    NonCanonicalName {
        /// The entry.
        path: PathBuf,
        /// What is wrong with the name.
        reason: String,
    },

    /// A directory could not be listed, or an entry's metadata could not be read.
    #[error("cannot list {}: {source}; {}", path.display(), advice(source))]
    UnreadableDir {
        /// The directory or entry.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// A file could not be opened or read.
    #[error("cannot read {}: {source}; {}", path.display(), advice(source))]
    UnreadableFile {
        /// The file.
        path: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// An entry changed type or executable bit between the walk and hashing.
    #[error(
        "{} changed while the tree was being hashed ({what}); hash again once nothing writes to the tree",
        path.display()
    )]
    Changed {
        /// The entry.
        path: PathBuf,
        /// What changed.
        what: &'static str,
    },
}

/// What to do about an error opening or reading part of a tree.
fn advice(error: &io::Error) -> &'static str {
    if error.raw_os_error() == Some(rustix::io::Errno::NAMETOOLONG.raw_os_error()) {
        "the path is longer than the operating system allows (4096 bytes): the tree is nested \
         too deeply to hash; flatten it, or hash a subdirectory"
    } else {
        "check its permissions"
    }
}

impl DigestError {
    /// The path this error is about.
    pub fn path(&self) -> &std::path::Path {
        match self {
            Self::Root { path, .. }
            | Self::NotADirectory { path }
            | Self::SymlinkAbsolute { path, .. }
            | Self::SymlinkEscapes { path, .. }
            | Self::SymlinkUnresolved { path, .. }
            | Self::SpecialFile { path, .. }
            | Self::NonUtf8Name { path }
            | Self::NonCanonicalName { path, .. }
            | Self::UnreadableDir { path, .. }
            | Self::UnreadableFile { path, .. }
            | Self::Changed { path, .. } => path,
        }
    }
}

/// The kind of a special file found in a tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SpecialKind {
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Something else the file system reported.
    Unknown,
}

impl fmt::Display for SpecialKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Fifo => "FIFO (named pipe)",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "file of unknown type",
        })
    }
}

/// Why a string is not a content digest.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseDigestError {
    /// It starts with neither `sha256:` nor `sha256-tree:`.
    #[error(
        "a content digest starts with \"sha256:\" (file) or \"sha256-tree:\" (tree), not {found:?}"
    )]
    UnknownPrefix {
        /// The first characters of the input.
        found: String,
    },
    /// The hex part is not 64 characters long.
    #[error("a content digest has exactly 64 hex digits after its prefix, this one has {found}")]
    Length {
        /// How many characters follow the prefix.
        found: usize,
    },
    /// A character of the hex part is not one of `0-9a-f`.
    #[error(
        "a content digest is written in lowercase hex digits (0-9, a-f); byte {position} is not one"
    )]
    NotLowercaseHex {
        /// Byte offset of the first bad character in the whole string.
        position: usize,
    },
}

/// Why bytes are not a canonical manifest: the line (1-based, the header is line 1) and the
/// reason.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a canonical hallmark-tree-v1 manifest: line {line}: {reason}")]
pub struct ManifestError {
    line: usize,
    reason: ManifestErrorReason,
}

impl ManifestError {
    pub(crate) fn new(line: usize, reason: ManifestErrorReason) -> Self {
        Self { line, reason }
    }

    /// The offending line, counting the header as line 1.
    pub fn line(&self) -> usize {
        self.line
    }

    /// What is wrong with it.
    pub fn reason(&self) -> &ManifestErrorReason {
        &self.reason
    }
}

/// What is wrong with a manifest line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ManifestErrorReason {
    /// The input does not start with `hallmark-tree-v1\n`.
    #[error("missing the header line \"hallmark-tree-v1\"")]
    MissingHeader,
    /// The last line does not end with `\n`.
    #[error("the line does not end with a newline (truncated or trailing data)")]
    MissingNewline,
    /// The line is not `<type> <digest> <path>`.
    #[error("expected \"<type> <digest> <path>\" with single spaces")]
    Malformed,
    /// The type is not one of `f`, `x`, `l`, `d`.
    #[error("unknown entry type {0:?} (expected f, x, l or d)")]
    BadType(String),
    /// The digest field is not 64 lowercase hex digits (or `-` for a directory).
    #[error("the digest must be 64 lowercase hex digits for f, x and l, and \"-\" for d")]
    BadDigest,
    /// The path is not canonical.
    #[error("path {path:?} is not canonical: {why}")]
    BadPath {
        /// The path as found (lossily decoded).
        path: String,
        /// What is wrong with it.
        why: String,
    },
    /// The path sorts before the previous line's.
    #[error("entries are not sorted by path bytes: {path:?} comes after {previous:?}")]
    Unsorted {
        /// This line's path.
        path: String,
        /// The previous line's path.
        previous: String,
    },
    /// The path repeats the previous line's.
    #[error("duplicate entry {0:?}")]
    Duplicate(String),
    /// The entry's parent directory has no `d` line before it.
    #[error("{path:?} is inside {parent:?}, which is not listed as a directory")]
    MissingParent {
        /// This line's path.
        path: String,
        /// Its parent.
        parent: String,
    },
}
