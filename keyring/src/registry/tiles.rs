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

use std::path::Path;

use super::{Config, LOG_FILE, RegistryError};
use crate::envelope::Ed25519Signer;
use crate::fsutil::{self, ReadError};
use crate::hashlog;
use crate::ids::IdentityId;
use crate::kel::Epoch;
use crate::key::PublicKey;
use crate::tlog::witness::{CosignatureCollector, WitnessOutcome};
use crate::tlog::{self, Checkpoint, KeyType, Tree, VerifierKey};

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
