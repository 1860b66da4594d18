//! The release index: what each `name@version` was when this trust store first trusted it.
//!
//! A version's content never changes. A signature alone cannot show that: the same
//! `name@version` re-signed with other content (a re-publish, a rug pull, a stolen key that the
//! publisher has not yet rotated away) verifies on its own. So the trust store remembers, for
//! every release it found trusted, the content digest it had, and refuses a different content
//! for that release later: `rejected: digest-mismatch`, naming the recorded digest.
//!
//! One file per package name, `releases/<name>.json`, so a verification reads only the files
//! of the names it verifies, whatever the size of the store:
//!
//! ```json
//! {
//!   "mediaType": "application/vnd.hallmark.releases.v1+json",
//!   "name": "org.example.tool",
//!   "versions": {
//!     "1.0.0": {
//!       "content": "sha256:…",
//!       "statement": "sha256:…",
//!       "firstTrusted": "2027-01-15T08:00:00Z"
//!     }
//!   }
//! }
//! ```
//!
//! Files are written by [`super::TrustStore::record`] under the store's lock, replaced
//! atomically in one durable batch per run, and each first recording is marked in the audit
//! log (`recorded: true` on the `verdict` entry), from which the index can be checked.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;
use crate::error::FormatError;
use crate::fsutil;
use crate::ids::Sha256Digest;
use crate::statement::{PackageName, Version};
use crate::time::Timestamp;

/// The directory of release files inside a trust store.
pub const RELEASES_DIR: &str = "releases";
/// A release file's media type.
pub const RELEASES_MEDIA_TYPE: &str = "application/vnd.hallmark.releases.v1+json";
/// The `what` of the [`FormatError::Invalid`] a damaged release file gives, so that callers
/// can tell it from a damaged bundle.
pub const RELEASE_FILE_DAMAGED: &str = "trust store release file";
/// Largest release file read, in bytes (about 300,000 versions).
pub const MAX_RELEASES_BYTES: usize = 64 * 1024 * 1024;

/// What one release was when first trusted.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct RecordedRelease {
    /// The content digest.
    pub content: ContentDigest,
    /// The statement (payload digest) first trusted for it.
    pub statement: Sha256Digest,
    /// When.
    pub first_trusted: Timestamp,
}

/// The release file of one package name.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ReleasesFile {
    /// Always [`RELEASES_MEDIA_TYPE`].
    pub media_type: String,
    /// The package.
    pub name: PackageName,
    /// Its versions.
    pub versions: BTreeMap<Version, RecordedRelease>,
}

impl ReleasesFile {
    /// An empty file for `name`.
    pub fn new(name: PackageName) -> Self {
        ReleasesFile {
            media_type: RELEASES_MEDIA_TYPE.to_owned(),
            name,
            versions: BTreeMap::new(),
        }
    }

    /// Encodes as indented JSON with a final newline.
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).unwrap_or_default();
        out.push(b'\n');
        out
    }

    /// Decodes strictly.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_RELEASES_BYTES {
            return Err(FormatError::TooLarge {
                what: "release file",
                len: bytes.len(),
                max: MAX_RELEASES_BYTES,
            });
        }
        let file: ReleasesFile =
            serde_json::from_slice(bytes).map_err(|e| FormatError::json("release file", &e))?;
        if file.media_type != RELEASES_MEDIA_TYPE {
            return Err(FormatError::MediaType {
                found: file.media_type.chars().take(100).collect(),
                expected: RELEASES_MEDIA_TYPE,
            });
        }
        Ok(file)
    }
}

/// The path of `name`'s release file in the trust store `dir`.
pub fn releases_path(dir: &Path, name: &PackageName) -> PathBuf {
    dir.join(RELEASES_DIR).join(format!("{name}.json"))
}

/// The release index of a trust store, read lazily: one file per package name, read at most
/// once per process and shared by every verification (they run in parallel).
#[derive(Default)]
pub struct ReleaseIndex {
    dir: Option<PathBuf>,
    cache: Mutex<HashMap<PackageName, Arc<ReleasesFile>>>,
}

impl Clone for ReleaseIndex {
    fn clone(&self) -> Self {
        ReleaseIndex::new(self.dir.clone())
    }
}

impl std::fmt::Debug for ReleaseIndex {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReleaseIndex")
            .field("dir", &self.dir)
            .finish_non_exhaustive()
    }
}

impl ReleaseIndex {
    /// The index of the trust store in `dir`; `None`: an index that remembers nothing (a
    /// verification without a trust store).
    pub fn new(dir: Option<PathBuf>) -> Self {
        ReleaseIndex {
            dir,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The trust store directory, if any.
    pub fn dir(&self) -> Option<&Path> {
        self.dir.as_deref()
    }

    /// The release file of `name` (empty if there is none). `Err` names the damaged file.
    pub fn file(&self, name: &PackageName) -> Result<Arc<ReleasesFile>, FormatError> {
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(name)
        {
            return Ok(hit.clone());
        }
        let file = match &self.dir {
            None => ReleasesFile::new(name.clone()),
            Some(dir) => read_file(&releases_path(dir, name), name)?,
        };
        let file = Arc::new(file);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(name.clone(), file.clone());
        }
        Ok(file)
    }

    /// What `name@version` was when first trusted, if it was.
    pub fn get(
        &self,
        name: &PackageName,
        version: &Version,
    ) -> Result<Option<RecordedRelease>, FormatError> {
        Ok(self.file(name)?.versions.get(version).cloned())
    }

    /// Replaces the cached file of a name (after writing it).
    pub(crate) fn set(&self, file: ReleasesFile) {
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(file.name.clone(), Arc::new(file));
        }
    }
}

fn read_file(path: &Path, name: &PackageName) -> Result<ReleasesFile, FormatError> {
    let damaged = |reason: String| {
        FormatError::invalid(
            RELEASE_FILE_DAMAGED,
            format!(
                "{}: {reason}; restore it from version control, or remove it to forget what this store recorded",
                path.display()
            ),
        )
    };
    if !fsutil::exists_no_follow(path) {
        return Ok(ReleasesFile::new(name.clone()));
    }
    let bytes = fsutil::read_bounded(path, MAX_RELEASES_BYTES as u64)
        .map_err(|e| damaged(format!("cannot be read: {e}")))?;
    let file = ReleasesFile::from_json(&bytes).map_err(|e| damaged(e.to_string()))?;
    if &file.name != name {
        return Err(damaged(format!(
            "holds the releases of {}, not of {name}",
            file.name
        )));
    }
    Ok(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_strictness() {
        let name: PackageName = "org.example.tool".parse().unwrap();
        let mut file = ReleasesFile::new(name.clone());
        file.versions.insert(
            "1.0.0".parse().unwrap(),
            RecordedRelease {
                content: ContentDigest::File([7; 32]),
                statement: Sha256Digest::of(b"s"),
                first_trusted: Timestamp::from_unix(1_800_000_000).unwrap(),
            },
        );
        let json = file.to_json();
        assert_eq!(ReleasesFile::from_json(&json).unwrap(), file);
        let text = String::from_utf8(json).unwrap();
        assert!(
            text.contains("\"firstTrusted\": \"2027-01-15T08:00:00Z\""),
            "{text}"
        );
        let extra = text.replacen("\"name\"", "\"extra\": 1,\n  \"name\"", 1);
        assert!(ReleasesFile::from_json(extra.as_bytes()).is_err());
        let bad_version = text.replace("\"1.0.0\"", "\"1.0 beta\"");
        assert!(ReleasesFile::from_json(bad_version.as_bytes()).is_err());
    }

    #[test]
    fn index_reads_lazily_and_checks_the_name() {
        let dir = std::env::temp_dir().join(format!("hallmark-releases-{}", std::process::id()));
        std::fs::create_dir_all(dir.join(RELEASES_DIR)).unwrap();
        let name: PackageName = "org.example.tool".parse().unwrap();
        let other: PackageName = "org.example.other".parse().unwrap();
        let index = ReleaseIndex::new(Some(dir.clone()));
        assert!(index.file(&name).unwrap().versions.is_empty());
        std::fs::write(
            releases_path(&dir, &other),
            ReleasesFile::new(name.clone()).to_json(),
        )
        .unwrap();
        let err = index.file(&other).unwrap_err().to_string();
        assert!(
            err.contains("holds the releases of org.example.tool, not of org.example.other"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
