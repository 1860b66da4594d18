//! The registry's log as a C2SP transparency log: every line of `log.jsonl` is one leaf, the
//! registry directory holds its tiles (`tile/…`) and signed `checkpoint`, so any static web
//! server serves it (see [`crate::tlog`]).
//!
//! **Write order.** A run appends its lines to `log.jsonl` (durable: that acknowledges them),
//! commits the state database, writes the entry bundles and hash tiles of the new leaves, and
//! last signs and replaces `checkpoint` — one checkpoint per run. A process killed between any
//! two steps leaves the published checkpoint matching the tiles; the next open appends the
//! leaves the log holds beyond the checkpoint (read from the log's tail) and the next run that
//! holds the registry's key signs a checkpoint for them.
//!
//! **Checkpoint key.** The checkpoint is a signed note whose key name is the origin
//! ([`Config::origin`]), signed by the registry key that signs the run — a current key of the
//! registry's key event log, through the same signer seam as entries and receipts (file key,
//! PKCS#11, YubiKey, KMS). A consumer knows the checkpoint keys from the registry's key event
//! log it pinned: the note key is `<origin>+<key id>+<base64(0x01 || public key)>` for each
//! current key. After a rotation, checkpoints are signed by the new key; the consumer learns
//! it from the registry's extended key event log (`registry.kel`, self-certifying: the
//! rotation is signed by the keys the previous event committed to).

use std::path::{Path, PathBuf};

use super::{Config, LOG_FILE, RegistryError};
use crate::envelope::Ed25519Signer;
use crate::fsutil::{self, ReadError};
use crate::hashlog;
use crate::ids::IdentityId;
use crate::kel::Epoch;
use crate::key::PublicKey;
use crate::tlog::witness::{CosignatureCollector, WitnessOutcome};
use crate::tlog::{self, Checkpoint, CheckpointError, KeyType, Tree, VerifierKey};

/// The checkpoint file, under the registry directory.
pub const CHECKPOINT_FILE: &str = "checkpoint";

/// The origin a registry uses when its configuration names none.
pub fn default_origin(identity: &IdentityId) -> String {
    let text = identity.to_string();
    format!(
        "hallmark.dev/registry/{}",
        text.strip_prefix("hid:").unwrap_or(&text)
    )
}

impl Config {
    /// The origin of the registry's transparency log: the configured one, or
    /// `hallmark.dev/registry/<identity hex>`.
    pub fn origin(&self) -> String {
        self.origin
            .clone()
            .unwrap_or_else(|| default_origin(&self.identity))
    }
}

/// The note verifier keys of an epoch of the registry's key event log, for `origin`.
pub fn checkpoint_keys(origin: &str, epoch: &Epoch) -> Vec<VerifierKey> {
    epoch
        .keys
        .iter()
        .filter_map(|k| VerifierKey::new(origin, KeyType::Ed25519, *k).ok())
        .collect()
}

/// The published checkpoint of the registry in `dir`: its tree and its bytes, or `None` if
/// the registry has published none yet. Only the body is parsed: the registry wrote it.
pub(crate) fn read_checkpoint(dir: &Path) -> Result<Option<(Tree, Vec<u8>)>, RegistryError> {
    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fsutil::read_bounded(&path, tlog::note::MAX_NOTE_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(source) => return Err(RegistryError::Read { path, source }),
    };
    let checkpoint = Checkpoint::parse_unverified(&bytes)
        .map_err(|e| RegistryError::Tlog(format!("{} is damaged: {e}", path.display())))?;
    Ok(Some((checkpoint.tree, bytes)))
}

/// Removes the temporary files a run killed while writing the tiles of leaves `old..new`
/// left in their directories (only those: the tile tree is never walked whole).
pub(crate) fn remove_stale_tile_temps(dir: &Path, old: u64, new: u64) {
    use crate::tlog::tile::{TILE_WIDTH, index_path, level_count};
    let mut dirs = std::collections::BTreeSet::new();
    let mut add = |prefix: String, from: u64, to: u64| {
        if to <= from {
            return;
        }
        for n in from / TILE_WIDTH..=(to - 1) / TILE_WIDTH {
            let path = dir.join(format!("{prefix}/{}", index_path(n)));
            if let Some(parent) = path.parent() {
                dirs.insert(parent.to_owned());
            }
            let mut partial = path.into_os_string();
            partial.push(".p");
            dirs.insert(partial.into());
        }
    };
    add("tile/entries".to_owned(), old, new);
    let mut level = 0u8;
    while level_count(level, new) > 0 {
        add(
            format!("tile/{level}"),
            level_count(level, old),
            level_count(level, new),
        );
        level += 1;
    }
    for d in dirs {
        let _ = fsutil::remove_stale_temps(&d);
    }
}

/// Appends to the tiles the log lines from entry `from` (at byte `offset`) up to entry
/// `to`: what a run wrote, or what a killed run left for the next open.
pub(crate) fn append_lines(
    dir: &Path,
    tree: Tree,
    offset: u64,
    to: u64,
) -> Result<Tree, RegistryError> {
    if tree.size >= to {
        return Ok(tree);
    }
    let (raw, _) = hashlog::read_from(&dir.join(LOG_FILE), offset)?;
    let want = (to - tree.size) as usize;
    if raw.lines.len() < want {
        return Err(RegistryError::Tlog(format!(
            "the log holds {} entries after entry #{}, fewer than the {want} the state records",
            raw.lines.len(),
            tree.size
        )));
    }
    append(dir, tree, &raw.lines[..want])
}

/// Writes again every tile of the published checkpoint's tree from the log: tiles are a
/// function of the log's lines, so a damaged or lost tile gets back its exact bytes. Refused,
/// writing nothing, unless the log's first entries hash to the checkpoint's root.
pub(crate) fn rebuild(dir: &Path) -> Result<(), RegistryError> {
    let Some((published, _)) = read_checkpoint(dir)? else {
        return Ok(());
    };
    let lines = hashlog::read(&dir.join(LOG_FILE))?.lines;
    let Some(lines) = lines.get(..published.size as usize) else {
        return Err(RegistryError::Tlog(format!(
            "the checkpoint of {} names {} entries, but the log holds {}: the log was cut short or the checkpoint replaced; the tiles were not rebuilt",
            dir.display(),
            published.size,
            lines.len()
        )));
    };
    if log_root(lines) != published.root {
        return Err(RegistryError::Tlog(format!(
            "the checkpoint of {} is not of its log (its root hash is not the log's first {} entries'); the tiles were not rebuilt",
            dir.display(),
            published.size
        )));
    }
    remove_stale_tile_temps(dir, 0, published.size);
    append(dir, Tree::EMPTY, lines).map(|_| ())
}

/// The root hash of the tree whose leaves are these log lines.
fn log_root(lines: &[Vec<u8>]) -> tlog::Hash {
    let leaves: Vec<tlog::Hash> = lines.iter().map(|l| tlog::merkle::leaf_hash(l)).collect();
    tlog::merkle::root_of(&leaves)
}

/// Appends leaves to the tiles.
pub(crate) fn append(dir: &Path, tree: Tree, lines: &[Vec<u8>]) -> Result<Tree, RegistryError> {
    tlog::store::append(dir, tree, lines).map_err(|e| {
        RegistryError::Tlog(format!("cannot write the tiles of {}: {e}", dir.display()))
    })
}

/// Signs a checkpoint of `tree` for `origin` with `signer`, has `cosigner`'s witnesses
/// cosign it (if any), and publishes it with the cosignatures that verified. Returns the
/// note and what each witness did.
pub(crate) fn publish<S: Ed25519Signer + ?Sized>(
    dir: &Path,
    origin: &str,
    tree: Tree,
    signer: &S,
    cosigner: Option<&dyn CosignatureCollector>,
) -> Result<(Vec<u8>, Vec<WitnessOutcome>), RegistryError> {
    let checkpoint = Checkpoint::new(origin, tree)
        .map_err(|e| RegistryError::Tlog(format!("origin {origin:?}: {e}")))?;
    let mut note = checkpoint
        .sign(signer)
        .map_err(|e| RegistryError::Tlog(format!("cannot sign the checkpoint: {e}")))?;
    let mut outcomes = Vec::new();
    if let Some(cosigner) = cosigner {
        let previous = read_checkpoint(dir)?.map_or(0, |(t, _)| t.size);
        let reader = tlog::DirTileReader::new(dir);
        let proof = |old: u64| tlog::TileHashes::new(&reader, tree).consistency_proof(old);
        outcomes = cosigner.collect(&note, previous, &proof);
        for outcome in &outcomes {
            if let Ok(line) = &outcome.result {
                // Only lines the collector verified; a full note keeps the log's own line.
                let _ = note.push_signature(line.clone());
            }
        }
    }
    let bytes = note.to_bytes();
    tlog::store::write_checkpoint(dir, &bytes).map_err(|e| {
        RegistryError::Tlog(format!(
            "cannot write the checkpoint of {}: {e}",
            dir.display()
        ))
    })?;
    Ok((bytes, outcomes))
}

/// The registry key as a note verifier key (for messages and docs).
pub fn verifier_key(origin: &str, key: &PublicKey) -> Option<VerifierKey> {
    VerifierKey::new(origin, KeyType::Ed25519, *key).ok()
}

/// What [`verify_published`] found: the checkpoint the registry publishes, verified against
/// its key event log and its log, and every tile of its tree checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Published {
    /// The checkpoint's tree; `None` when the registry has published no checkpoint yet (a
    /// run stopped before it signed the first one).
    pub tree: Option<Tree>,
    /// Entries in the log. A checkpoint of fewer covers a prefix of it: a run stopped before
    /// it signed the checkpoint of its entries; the next run holding the key signs one.
    pub log_entries: u64,
    /// The current key of `registry.kel` that signed the checkpoint.
    pub signed_by: Option<PublicKey>,
}

impl Published {
    /// Whether the checkpoint covers the whole log.
    pub fn complete(&self) -> bool {
        self.tree.map_or(0, |t| t.size) == self.log_entries
    }
}

/// Why what a registry publishes does not match its log. The message says what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublishedError {
    /// The log, the checkpoint or the key event log could not be read.
    #[error("cannot read {}: {detail}", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// `registry.kel` is not this registry's verified key event log.
    #[error(
        "{} is not the key event log of registry {identity}: {detail}; restore it from a backup or mirror",
        path.display()
    )]
    Kel {
        /// The key event log file.
        path: PathBuf,
        /// The registry.
        identity: IdentityId,
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint is not a well-formed signed checkpoint.
    #[error(
        "{} is damaged: {source}; the next `hallmark registry accept`, `yank` or `receipt` run signs it again",
        path.display()
    )]
    Damaged {
        /// The checkpoint file.
        path: PathBuf,
        /// What is wrong.
        source: CheckpointError,
    },
    /// The checkpoint names another log.
    #[error(
        "the checkpoint is for log {found:?}, but this registry's origin is {expected:?}: it is another log's checkpoint"
    )]
    WrongOrigin {
        /// The registry's origin.
        expected: String,
        /// The checkpoint's.
        found: String,
    },
    /// No current key of `registry.kel` signed the checkpoint.
    #[error(
        "the checkpoint is not signed by a current key of {} ({keys}): {source}; it was signed by another key, or replaced",
        kel.display()
    )]
    NotSigned {
        /// The key event log file.
        kel: PathBuf,
        /// Its current keys (`key <short id>`, comma-separated).
        keys: String,
        /// Why the note did not verify.
        source: crate::tlog::NoteError,
    },
    /// The checkpoint names more entries than the log holds.
    #[error(
        "the checkpoint names {size} entries, but the log holds {entries}: entries were removed from the end of the log, or the checkpoint was replaced"
    )]
    Ahead {
        /// The checkpoint's size.
        size: u64,
        /// The log's entries.
        entries: u64,
    },
    /// The checkpoint's root is not the root of the log's first entries.
    #[error(
        "the checkpoint's root hash for {size} entries is {found}, but the log's first {size} entries hash to {expected}: the checkpoint is for another tree"
    )]
    OtherRoot {
        /// The checkpoint's size.
        size: u64,
        /// The checkpoint's root (base64).
        found: String,
        /// The log's root (base64).
        expected: String,
    },
    /// A tile or entry bundle of the checkpoint's tree is missing, malformed, or does not
    /// hash to the checkpoint's root.
    #[error(
        "the tiles do not match the log: {detail}; rebuild them from the log with `hallmark registry rebuild-state --registry {}`",
        dir.display()
    )]
    Tile {
        /// The registry directory.
        dir: PathBuf,
        /// Which tile and how.
        detail: String,
    },
}

/// Checks what consumers read from the registry in `dir` against its log: that `checkpoint`
/// is signed by a current key of `registry.kel`, names the registry's origin, and states the
/// size and root of the log (or of a prefix of it, left by a run stopped before it signed the
/// checkpoint); and that every hash tile and entry bundle of the checkpoint's tree is there
/// and hashes to that root, each entry bundle holding the log's lines byte for byte. The log's
/// own entries are checked by [`super::verify_log`].
pub fn verify_published(dir: &Path, config: &Config) -> Result<Published, PublishedError> {
    use crate::tlog::tile::{TILE_WIDTH, TileId, TileKind, level_count};
    use crate::tlog::{DirTileReader, Note, TileHashes};

    let log_path = dir.join(LOG_FILE);
    let lines = hashlog::read(&log_path)
        .map_err(|e| PublishedError::Unreadable {
            path: log_path.clone(),
            detail: e.to_string(),
        })?
        .lines;
    let entries = lines.len() as u64;
    let kel_path = dir.join(super::KEL_FILE);
    let kel_error = |detail: String| PublishedError::Kel {
        path: kel_path.clone(),
        identity: config.identity,
        detail,
    };
    let kel_bytes = fsutil::read_bounded(&kel_path, crate::kel::file::MAX_KEL_FILE_BYTES as u64)
        .map_err(|e| PublishedError::Unreadable {
            path: kel_path.clone(),
            detail: e.to_string(),
        })?;
    let kel = crate::kel::file::KelFile::from_json(&kel_bytes)
        .map_err(|e| kel_error(e.to_string()))
        .and_then(|file| {
            crate::kel::Kel::verify(&file.events).map_err(|e| kel_error(e.to_string()))
        })?;
    if kel.identity() != config.identity {
        return Err(kel_error(format!("it is the log of {}", kel.identity())));
    }

    let path = dir.join(CHECKPOINT_FILE);
    let bytes = match fsutil::read_bounded(&path, tlog::note::MAX_NOTE_BYTES as u64) {
        Ok(bytes) => bytes,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Published {
                tree: None,
                log_entries: entries,
                signed_by: None,
            });
        }
        Err(e) => {
            return Err(PublishedError::Unreadable {
                path,
                detail: e.to_string(),
            });
        }
    };
    let damaged = |source: CheckpointError| PublishedError::Damaged {
        path: path.clone(),
        source,
    };
    let note = Note::parse(&bytes).map_err(|e| damaged(e.into()))?;
    let checkpoint = Checkpoint::parse_body(note.text()).map_err(damaged)?;
    let origin = config.origin();
    if checkpoint.origin != origin {
        return Err(PublishedError::WrongOrigin {
            expected: origin,
            found: checkpoint.origin,
        });
    }
    let keys = checkpoint_keys(&origin, kel.current());
    let verified = note
        .verify(&keys)
        .map_err(|source| PublishedError::NotSigned {
            kel: kel_path.clone(),
            keys: kel
                .current()
                .keys
                .iter()
                .map(|k| format!("key {}", k.key_id().short()))
                .collect::<Vec<_>>()
                .join(", "),
            source,
        })?;
    let signed_by = verified.first().and_then(|v| {
        keys.iter()
            .find(|k| k.key_id() == v.key_id)
            .map(|k| *k.key())
    });

    let tree = checkpoint.tree;
    if tree.size > entries {
        return Err(PublishedError::Ahead {
            size: tree.size,
            entries,
        });
    }
    let expected = log_root(&lines[..tree.size as usize]);
    if expected != tree.root {
        return Err(PublishedError::OtherRoot {
            size: tree.size,
            found: crate::encoding::base64_encode(&tree.root),
            expected: crate::encoding::base64_encode(&expected),
        });
    }

    // Every tile of the tree, from the top level down, so that a tile is checked against the
    // tile above it (already checked) and the right edge against the root.
    let reader = DirTileReader::new(dir);
    let mut tiles = TileHashes::new(&reader, tree);
    let tile_error = |detail: String| PublishedError::Tile {
        dir: dir.to_owned(),
        detail,
    };
    let mut levels = 0u8;
    while level_count(levels, tree.size) > 0 {
        levels += 1;
    }
    for level in (0..levels).rev() {
        let count = level_count(level, tree.size).div_ceil(TILE_WIDTH);
        for index in 0..count {
            tiles
                .tile(level, index)
                .map_err(|e| tile_error(e.to_string()))?;
        }
    }
    for (index, expected) in lines[..tree.size as usize]
        .chunks(TILE_WIDTH as usize)
        .enumerate()
    {
        let index = index as u64;
        let found = tiles
            .entries(index)
            .map_err(|e| tile_error(e.to_string()))?;
        if found != expected {
            let path = TileId::in_tree(TileKind::Entries, index, tree.size)
                .map_or_else(String::new, |id| id.path());
            return Err(tile_error(format!(
                "entry bundle {path} does not hold the log's lines"
            )));
        }
    }
    Ok(Published {
        tree: Some(tree),
        log_entries: entries,
        signed_by,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use ed25519_dalek::SigningKey;

    use super::*;
    use crate::registry::Registry;
    use crate::time::Timestamp;

    /// A registry whose log holds 301 leaves (so level 0 has a full tile and a partial one),
    /// its checkpoint signed: `verify_published` checks the full tiles too, and `rebuild`
    /// writes a damaged one again with its exact bytes.
    #[test]
    fn full_tiles_are_checked_and_rebuilt_from_the_log() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::from_bytes(&[3; 32]);
        let next = PublicKey::new(SigningKey::from_bytes(&[4; 32]).verifying_key());
        let registry = Registry::init(
            dir.path(),
            &key,
            "file:unused",
            &next,
            "org.test".parse().unwrap(),
            None,
            Timestamp::now(),
        )
        .unwrap();
        let config = registry.config().clone();
        let tree = registry.tree();
        drop(registry);
        // The tiles hash the log's lines, whatever they hold.
        let lines: Vec<Vec<u8>> = (0..300)
            .map(|i| format!("{{\"line\":{i:03}}}").into_bytes())
            .collect();
        hashlog::append(&dir.path().join(LOG_FILE), &lines).unwrap();
        let tree = append(dir.path(), tree, &lines).unwrap();
        assert_eq!(tree.size, 301);
        publish(dir.path(), &config.origin(), tree, &key, None).unwrap();
        let published = verify_published(dir.path(), &config).unwrap();
        assert_eq!(
            published,
            Published {
                tree: Some(tree),
                log_entries: 301,
                signed_by: Some(PublicKey::new(key.verifying_key())),
            }
        );
        let advice = format!(
            "rebuild them from the log with `hallmark registry rebuild-state --registry {}`",
            dir.path().display()
        );

        // A flipped byte in the full level-0 hash tile.
        let tile = dir.path().join("tile/0/000");
        let pristine = std::fs::read(&tile).unwrap();
        let mut flipped = pristine.clone();
        flipped[100] ^= 1;
        std::fs::write(&tile, &flipped).unwrap();
        assert_eq!(
            verify_published(dir.path(), &config)
                .unwrap_err()
                .to_string(),
            format!(
                "the tiles do not match the log: tile/0/000 does not match the checkpoint's root hash: the log serves tiles of another tree; {advice}"
            )
        );
        rebuild(dir.path()).unwrap();
        assert_eq!(std::fs::read(&tile).unwrap(), pristine);

        // A full entry bundle holding another line of the same length.
        let bundle = dir.path().join("tile/entries/000");
        let pristine = std::fs::read(&bundle).unwrap();
        let line = b"{\"line\":100}";
        let at = pristine
            .windows(line.len())
            .position(|w| w == line)
            .unwrap();
        let mut other = pristine.clone();
        other[at + 8..at + 11].copy_from_slice(b"999");
        std::fs::write(&bundle, &other).unwrap();
        assert_eq!(
            verify_published(dir.path(), &config)
                .unwrap_err()
                .to_string(),
            format!(
                "the tiles do not match the log: tile/entries/000 does not match the checkpoint's root hash: the log serves tiles of another tree; {advice}"
            )
        );
        rebuild(dir.path()).unwrap();
        assert_eq!(std::fs::read(&bundle).unwrap(), pristine);
        assert_eq!(verify_published(dir.path(), &config).unwrap(), published);

        // A log cut short under its checkpoint: refused, and not "rebuilt".
        let log = dir.path().join(LOG_FILE);
        let bytes = std::fs::read(&log).unwrap();
        let cut = bytes[..bytes.len() - 1]
            .rsplitn(2, |b| *b == b'\n')
            .nth(1)
            .unwrap()
            .len()
            + 1;
        std::fs::write(&log, &bytes[..cut]).unwrap();
        assert_eq!(
            verify_published(dir.path(), &config)
                .unwrap_err()
                .to_string(),
            "the checkpoint names 301 entries, but the log holds 300: entries were removed from the end of the log, or the checkpoint was replaced"
        );
        assert!(rebuild(dir.path()).unwrap_err().to_string().ends_with(
            " names 301 entries, but the log holds 300: the log was cut short or the checkpoint replaced; the tiles were not rebuilt"
        ));
    }
}
