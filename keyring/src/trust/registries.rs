//! What the trust store knows of each pinned registry's transparency log: the latest
//! checkpoint it verified, when, and checkpoints met in receipts that wait to be proved.
//!
//! ```text
//! trust/registries/<name>.json                       see [`KnownCheckpoint`]
//! trust/registries/<name>.equivocation/<n>.stored     evidence: the checkpoint held …
//! trust/registries/<name>.equivocation/<n>.offered    … and the one inconsistent with it
//! ```
//!
//! **Consistency.** Every checkpoint the store meets — fetched by [`TrustStore::refresh`], or
//! carried by a version 2 receipt — is compared with the one it holds. The same size with
//! another root, or a larger tree whose first leaves do not hash to the held root (the
//! consistency proof computed from the registry's tiles), is proof that the registry signed
//! two histories: `rejected: equivocation`, and both signed checkpoints are kept as evidence.
//! A receipt's checkpoint of another size cannot be proved consistent offline: the receipt
//! still counts (its inclusion proof holds against a checkpoint the pinned registry signed),
//! and the checkpoint is kept as pending; the next refresh proves it against the registry's
//! tiles, or reports the equivocation.
//!
//! **Freshness.** A checkpoint carries no time. What a store knows is when it last verified a
//! checkpoint fetched from the registry itself ([`KnownCheckpoint::verified`]); a registry
//! pinned with a maximum age (`--max-age 24h`) makes every verification fail closed once that
//! is older, until `hallmark keyring refresh` succeeds. A frozen store — one that never learns
//! of a compromise rotation the registry logged — cannot go on trusting the thief's releases.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::{AuditRecord, TrustError, TrustStore};
use crate::encoding::base64_encode;
use crate::fsutil::{self, ReadError};
use crate::hashlog::{LogEntry, LogLine};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::Kel;
use crate::kel::file::KelFile;
use crate::registry::RegistryRecord;
use crate::registry::tiles::checkpoint_keys;
use crate::time::Timestamp;
use crate::tlog::merkle::verify_consistency;
use crate::tlog::tile::TILE_WIDTH;
use crate::tlog::{
    Checkpoint, CheckpointError, FetchError, Note, TileHashes, TileReader, TlogError, Tree,
};
use crate::verdict::{Advice, Rejection, Verdict};

/// The directory of registry checkpoints in a trust store.
pub const REGISTRIES_DIR: &str = "registries";
/// The media type of `registries/<name>.json`.
pub const KNOWN_CHECKPOINT_MEDIA_TYPE: &str =
    "application/vnd.hallmark.registry-checkpoint.v1+json";
/// Largest `registry.kel` fetched, in bytes.
pub const MAX_REGISTRY_KEL_BYTES: u64 = 16 * 1024 * 1024;

/// The latest checkpoint a store verified for a registry.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct KnownCheckpoint {
    /// Always [`KNOWN_CHECKPOINT_MEDIA_TYPE`].
    pub media_type: String,
    /// The signed checkpoint (a C2SP signed note), as the registry signed it.
    pub checkpoint: String,
    /// When the store last verified a checkpoint fetched from the registry (not from a
    /// receipt); absent if it never refreshed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<Timestamp>,
    /// Checkpoints met in receipts, of other sizes, not yet proved consistent.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<String>,
}

impl KnownCheckpoint {
    /// The checkpoint's origin and tree.
    pub fn tree(&self) -> Result<(String, Tree), CheckpointError> {
        parse_note(&self.checkpoint).map(|c| (c.origin, c.tree))
    }
}

fn parse_note(note: &str) -> Result<Checkpoint, CheckpointError> {
    Checkpoint::parse_unverified(note.as_bytes())
}

fn state_path(dir: &Path, name: &str) -> PathBuf {
    dir.join(REGISTRIES_DIR).join(format!("{name}.json"))
}

/// Reads the checkpoints known for the pinned registries `names`.
pub(crate) fn load<'a>(
    dir: &Path,
    names: impl IntoIterator<Item = &'a str>,
) -> Result<HashMap<String, KnownCheckpoint>, TrustError> {
    let mut out = HashMap::new();
    for name in names {
        let path = state_path(dir, name);
        let bytes = match fsutil::read_bounded(&path, 4 * 1024 * 1024) {
            Ok(b) => b,
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(TrustError::Read { path, source }),
        };
        let known: KnownCheckpoint =
            serde_json::from_slice(&bytes).map_err(|e| TrustError::Format {
                path: path.clone(),
                source: crate::error::FormatError::json("registry checkpoint", &e),
            })?;
        out.insert(name.to_owned(), known);
    }
    Ok(out)
}

/// How a checkpoint offered in a receipt compares with the one the store holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Offered {
    /// The store holds no checkpoint of the registry: this one becomes pending.
    First,
    /// The same tree as the held checkpoint.
    Same,
    /// A checkpoint of another log (origin) than the one the store follows for the registry.
    OtherLog {
        /// The origin the store follows.
        held: String,
    },
    /// A size neither the held checkpoint nor a pending one has: not provable offline;
    /// pending until the next refresh.
    Unproven,
    /// The same size as the held checkpoint or a pending one, with another root: the registry
    /// signed two histories.
    Equivocation {
        /// The held (or pending) checkpoint it contradicts.
        held: String,
    },
}

/// Compares a (verified) checkpoint from a receipt with what the store holds.
pub fn compare_offered(known: Option<&KnownCheckpoint>, offered: &str) -> Offered {
    let Some(known) = known else {
        return Offered::First;
    };
    let Ok(new) = parse_note(offered) else {
        return Offered::Unproven;
    };
    if let Ok((origin, _)) = known.tree()
        && origin != new.origin
    {
        return Offered::OtherLog { held: origin };
    }
    // The held checkpoint, then the pending ones: two of one size must have one root.
    for note in std::iter::once(&known.checkpoint).chain(&known.pending) {
        let Ok(other) = parse_note(note) else {
            continue;
        };
        if other.tree.size != new.tree.size {
            continue;
        }
        return if other.tree.root == new.tree.root {
            Offered::Same
        } else {
            Offered::Equivocation { held: note.clone() }
        };
    }
    Offered::Unproven
}

/// At most this many checkpoints wait for a refresh; more are not kept (the next refresh
/// proves the registry's whole tree anyway).
pub const MAX_PENDING: usize = 64;

/// Why a refresh failed. The messages say what was wrong.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefreshError {
    /// No registry of that name is pinned.
    #[error("no registry `{0}` is pinned; pin it")]
    NotPinned(String),
    /// Something could not be fetched.
    #[error("cannot fetch from registry `{name}`: {source}")]
    Fetch {
        /// The registry's name.
        name: String,
        /// What failed.
        source: FetchError,
    },
    /// The registry's key event log does not verify or is another identity's.
    #[error("the key event log registry `{name}` serves is refused: {detail}")]
    Kel {
        /// The registry's name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint is malformed or not signed by the registry's current keys.
    #[error("the checkpoint of registry `{name}` does not verify: {detail}")]
    Checkpoint {
        /// The registry's name.
        name: String,
        /// What is wrong.
        detail: String,
    },
    /// The checkpoint lacks the witness cosignatures the pin's policy requires; nothing was
    /// changed.
    #[error(
        "rejected: unwitnessed: the checkpoint registry `{name}` serves is refused: {detail}; nothing was changed"
    )]
    Unwitnessed {
        /// The registry's name.
        name: String,
        /// Which policy, and what the checkpoint carries.
        detail: String,
    },
    /// The registry serves an older tree than the store verified.
    #[error(
        "registry `{name}` serves a checkpoint of {served} entries, older than the {held} entries this store verified: a stale mirror, or a registry hiding entries; nothing was changed"
    )]
    Older {
        /// The registry's name.
        name: String,
        /// Entries served.
        served: u64,
        /// Entries held.
        held: u64,
    },
    /// Two checkpoints signed by the registry that cannot both be true.
    #[error(
        "rejected: equivocation: registry `{name}` signed a checkpoint of {new_size} entries that is not consistent with the one of {held_size} entries this store holds ({detail}); both signed checkpoints are kept as evidence in {}",
        evidence.display()
    )]
    Equivocation {
        /// The registry's name.
        name: String,
        /// The held checkpoint's size.
        held_size: u64,
        /// The new checkpoint's size.
        new_size: u64,
        /// How they disagree.
        detail: String,
        /// The evidence directory.
        evidence: PathBuf,
    },
    /// The tiles do not match the checkpoint, or are damaged.
    #[error("the tiles of registry `{name}` do not match its checkpoint: {source}")]
    Tiles {
        /// The registry's name.
        name: String,
        /// What is wrong.
        source: TlogError,
    },
    /// An entry of the log does not decode.
    #[error("entry #{index} of registry `{name}` does not decode: {detail}")]
    Entry {
        /// The registry's name.
        name: String,
        /// The entry.
        index: u64,
        /// What is wrong.
        detail: String,
    },
    /// The store could not be read or written.
    #[error(transparent)]
    Store(#[from] TrustError),
}

/// What a refresh did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refreshed {
    /// The registry's name.
    pub name: String,
    /// Entries in the tree before (0 if the store held no checkpoint).
    pub from: u64,
    /// Entries now.
    pub to: u64,
    /// Identities whose key event logs grew, with their new length.
    pub extended: Vec<(IdentityId, u64)>,
    /// Pending checkpoints proved consistent.
    pub proved: usize,
}

/// Why a maximum age does not parse.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum MaxAgeError {
    /// It is not a positive number followed by a unit.
    #[error("maximum age {0:?} is not a positive number followed by s, m, h or d (e.g. 24h)")]
    Malformed(String),
    /// It does not fit in 64 bits of seconds.
    #[error("maximum age {0:?} is too large")]
    TooLarge(String),
}

/// Parses a maximum age: a number and a unit, `s`, `m`, `h` or `d` (`90m`, `24h`, `7d`).
pub fn parse_max_age(text: &str) -> Result<u64, MaxAgeError> {
    let (number, unit) = match text.char_indices().last() {
        Some((at, _)) => text.split_at(at),
        None => ("", ""),
    };
    let scale = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => 0,
    };
    match number.parse::<u64>() {
        Ok(n) if scale > 0 && n > 0 && !number.starts_with('+') => n
            .checked_mul(scale)
            .ok_or_else(|| MaxAgeError::TooLarge(text.to_owned())),
        _ => Err(MaxAgeError::Malformed(text.to_owned())),
    }
}

impl TrustStore {
    /// The checkpoint the store holds for a pinned registry.
    pub fn known_checkpoint(&self, name: &str) -> Option<&KnownCheckpoint> {
        self.view.checkpoints.get(name)
    }

    pub(super) fn write_known(
        &mut self,
        name: &str,
        known: KnownCheckpoint,
    ) -> Result<(), TrustError> {
        let dir = self.dir.join(REGISTRIES_DIR);
        fsutil::create_dir_all(&dir, fsutil::DIR_MODE).map_err(|source| TrustError::Dir {
            path: dir.clone(),
            source,
        })?;
        let mut bytes = serde_json::to_vec_pretty(&known).unwrap_or_default();
        bytes.push(b'\n');
        fsutil::write_replace(&state_path(&self.dir, name), &bytes, 0o644)?;
        self.view.checkpoints.insert(name.to_owned(), known);
        Ok(())
    }

    /// Keeps two inconsistent signed checkpoints of a registry as evidence; returns the
    /// directory they are in.
    pub fn keep_checkpoint_evidence(
        &self,
        name: &str,
        held: &str,
        offered: &str,
    ) -> Result<PathBuf, TrustError> {
        self.keep_evidence(name, held, offered).map(|(dir, _)| dir)
    }

    /// [`Self::keep_checkpoint_evidence`], also returning the digests of the two files (the
    /// held checkpoint, then the offered one).
    fn keep_evidence(
        &self,
        name: &str,
        held: &str,
        offered: &str,
    ) -> Result<(PathBuf, Vec<Sha256Digest>), TrustError> {
        let dir = self
            .dir
            .join(REGISTRIES_DIR)
            .join(format!("{name}.equivocation"));
        fsutil::create_dir_all(&dir, fsutil::DIR_MODE).map_err(|source| TrustError::Dir {
            path: dir.clone(),
            source,
        })?;
        let stamp = |note: &str| {
            parse_note(note).map_or_else(
                |_| "unparsed".to_owned(),
                |c| {
                    format!(
                        "{}-{}",
                        c.tree.size,
                        crate::encoding::hex_encode(&c.tree.root[..4])
                    )
                },
            )
        };
        let pair = format!("{}-vs-{}", stamp(held), stamp(offered));
        fsutil::write_replace(&dir.join(format!("{pair}.stored")), held.as_bytes(), 0o644)?;
        fsutil::write_replace(
            &dir.join(format!("{pair}.offered")),
            offered.as_bytes(),
            0o644,
        )?;
        let digests = vec![
            Sha256Digest::of(held.as_bytes()),
            Sha256Digest::of(offered.as_bytes()),
        ];
        Ok((dir, digests))
    }

    /// Records that a checkpoint registry `name` served was refused, and returns `error`.
    fn refuse_checkpoint(
        &mut self,
        name: &str,
        reason: &str,
        detail: String,
        evidence: Vec<Sha256Digest>,
        error: RefreshError,
        now: Timestamp,
    ) -> RefreshError {
        let record = AuditRecord::CheckpointRefused {
            registry: name.to_owned(),
            reason: reason.to_owned(),
            detail,
            evidence,
        };
        match self.append(vec![(record, Vec::new())], now) {
            Ok(()) => error,
            Err(e) => e.into(),
        }
    }

    /// Records checkpoints met in verified receipts: the first becomes the held one (not yet
    /// fresh: it was not fetched from the registry), those of other sizes wait as pending.
    pub(crate) fn note_checkpoints(
        &mut self,
        offered: &[(String, String)],
    ) -> Result<(), TrustError> {
        for (name, note) in offered {
            let known = self.view.checkpoints.get(name).cloned();
            match compare_offered(known.as_ref(), note) {
                Offered::First => self.write_known(
                    name,
                    KnownCheckpoint {
                        media_type: KNOWN_CHECKPOINT_MEDIA_TYPE.to_owned(),
                        checkpoint: note.clone(),
                        verified: None,
                        pending: Vec::new(),
                    },
                )?,
                Offered::Unproven => {
                    if let Some(mut known) = known
                        && known.pending.len() < MAX_PENDING
                    {
                        known.pending.push(note.clone());
                        self.write_known(name, known)?;
                    }
                }
                Offered::Same | Offered::OtherLog { .. } => {}
                Offered::Equivocation { held } => {
                    self.keep_checkpoint_evidence(name, &held, note)?;
                }
            }
        }
        Ok(())
    }

    /// Fetches the registry's latest checkpoint through `reader` (the registry directory or
    /// its URL), verifies it with the registry's current keys (after importing the registry's
    /// key event log it serves, which must extend the pinned one), proves it consistent with
    /// the checkpoint held and with pending ones, and extends the key event logs the store
    /// holds with the key events logged since. Records the checkpoint and the time.
    pub fn refresh<R: TileReader + ?Sized>(
        &mut self,
        name: &str,
        reader: &R,
        now: Timestamp,
    ) -> Result<Refreshed, RefreshError> {
        let pin = self
            .view
            .pins
            .registry(name)
            .cloned()
            .ok_or_else(|| RefreshError::NotPinned(name.to_owned()))?;
        let fetch = |path: &str, max: u64| {
            reader
                .read(path, max)
                .map_err(|source| RefreshError::Fetch {
                    name: name.to_owned(),
                    source,
                })
        };
        // The registry's key event log: its rotations are what sign newer checkpoints.
        let kel_bytes = fetch(crate::registry::KEL_FILE, MAX_REGISTRY_KEL_BYTES)?;
        let kel_err = |detail: String| RefreshError::Kel {
            name: name.to_owned(),
            detail,
        };
        let file = KelFile::from_json(&kel_bytes).map_err(|e| kel_err(e.to_string()))?;
        let kel = Kel::verify(&file.events).map_err(|e| kel_err(e.to_string()))?;
        if kel.identity() != pin.identity {
            return Err(kel_err(format!(
                "it is the log of identity {}, not of the pinned {}",
                kel.identity().short(),
                pin.identity.short()
            )));
        }
        self.import(kel, "refresh", now)?;
        let registry = self
            .view
            .kels
            .get(&pin.identity)
            .cloned()
            .ok_or_else(|| kel_err("the store holds no log of the registry".to_owned()))?;

        let note_bytes = fetch("checkpoint", crate::tlog::note::MAX_NOTE_BYTES as u64)?;
        let bad = |detail: String| RefreshError::Checkpoint {
            name: name.to_owned(),
            detail,
        };
        let note = Note::parse(&note_bytes).map_err(|e| bad(e.to_string()))?;
        let checkpoint = Checkpoint::parse_body(note.text()).map_err(|e| bad(e.to_string()))?;
        let keys = checkpoint_keys(&checkpoint.origin, registry.current());
        note.verify(&keys).map_err(|e| bad(e.to_string()))?;
        if let Some(policy) = pin.witness_policy().map_err(|e| bad(e.to_string()))?
            && let Err(e) = policy.check(&note)
        {
            let error = RefreshError::Unwitnessed {
                name: name.to_owned(),
                detail: e.to_string(),
            };
            let detail = format!("the checkpoint of {} entries: {e}", checkpoint.tree.size);
            return Err(self.refuse_checkpoint(
                name,
                Rejection::Unwitnessed.as_str(),
                detail,
                Vec::new(),
                error,
                now,
            ));
        }
        let known = self.view.checkpoints.get(name).cloned();
        let held = match &known {
            Some(k) => {
                let (origin, tree) = k.tree().map_err(|e| bad(format!("the held one: {e}")))?;
                if origin != checkpoint.origin {
                    let detail = format!(
                        "it is for log {:?}, but this store follows log {origin:?} of the registry",
                        checkpoint.origin
                    );
                    let error = bad(detail.clone());
                    return Err(self.refuse_checkpoint(
                        name,
                        "other-log",
                        detail,
                        Vec::new(),
                        error,
                        now,
                    ));
                }
                Some((tree, k.checkpoint.clone()))
            }
            None => None,
        };
        let new = checkpoint.tree;
        let note_text = String::from_utf8_lossy(&note_bytes).into_owned();
        let tiles_err = |source| RefreshError::Tiles {
            name: name.to_owned(),
            source,
        };
        let mut tiles = TileHashes::new(reader, new);
        let equivocation = |store: &mut TrustStore, held: &str, held_size: u64, detail: String| {
            let (evidence, digests) = store.keep_evidence(name, held, &note_text)?;
            let record = format!(
                "a checkpoint of {} entries not consistent with the one of {held_size} entries held: {detail}",
                new.size
            );
            let error = RefreshError::Equivocation {
                name: name.to_owned(),
                held_size,
                new_size: new.size,
                detail,
                evidence,
            };
            Ok::<_, RefreshError>(store.refuse_checkpoint(
                name,
                Rejection::Equivocation.as_str(),
                record,
                digests,
                error,
                now,
            ))
        };
        let from = match &held {
            None => 0,
            Some((tree, held_note)) => {
                if new.size < tree.size {
                    // An older tree must still be a prefix of the held one; it is refused either
                    // way, and kept as evidence if it is not.
                    let error = RefreshError::Older {
                        name: name.to_owned(),
                        served: new.size,
                        held: tree.size,
                    };
                    let detail = format!(
                        "a checkpoint of {} entries, older than the {} entries held",
                        new.size, tree.size
                    );
                    return Err(self.refuse_checkpoint(
                        name,
                        Rejection::Rollback.as_str(),
                        detail,
                        Vec::new(),
                        error,
                        now,
                    ));
                }
                if new.size == tree.size && new.root != tree.root {
                    return Err(equivocation(
                        self,
                        held_note,
                        tree.size,
                        "the same size with another root hash".to_owned(),
                    )?);
                }
                if new.size > tree.size {
                    let proof = tiles.consistency_proof(tree.size).map_err(tiles_err)?;
                    if let Err(e) =
                        verify_consistency(tree.size, new.size, &proof, &tree.root, &new.root)
                    {
                        return Err(equivocation(self, held_note, tree.size, e.to_string())?);
                    }
                }
                tree.size
            }
        };
        // Pending checkpoints from receipts: each must be a prefix of the new tree.
        let mut proved = 0;
        let mut still = Vec::new();
        for pending in known
            .as_ref()
            .map(|k| k.pending.clone())
            .unwrap_or_default()
        {
            let Ok(p) = parse_note(&pending) else {
                continue;
            };
            if p.tree.size > new.size {
                still.push(pending);
                continue;
            }
            let root = tiles.root_at(p.tree.size).map_err(tiles_err)?;
            if root != p.tree.root {
                return Err(equivocation(
                    self,
                    &pending,
                    p.tree.size,
                    format!(
                        "a receipt's checkpoint of {} entries has root {}, the registry's tree has {} there",
                        p.tree.size,
                        base64_encode(&p.tree.root),
                        base64_encode(&root)
                    ),
                )?);
            }
            proved += 1;
        }
        // Key events logged since, for the identities the store holds.
        let mut events: HashMap<IdentityId, Vec<(u64, crate::envelope::Envelope)>> = HashMap::new();
        let mut index = from;
        while index < new.size {
            let bundle = index / TILE_WIDTH;
            let entries = tiles.entries(bundle).map_err(tiles_err)?;
            let start = (index % TILE_WIDTH) as usize;
            for bytes in entries.iter().skip(start) {
                let entry_err = |detail: String| RefreshError::Entry {
                    name: name.to_owned(),
                    index,
                    detail,
                };
                let line = LogLine::from_json(bytes).map_err(|e| entry_err(e.to_string()))?;
                let entry = LogEntry::<RegistryRecord>::from_envelope(&line.entry)
                    .map_err(|e| entry_err(e.to_string()))?;
                if entry.index != index {
                    return Err(entry_err(format!("it says it is entry #{}", entry.index)));
                }
                if let RegistryRecord::KeyEvent {
                    identity, sequence, ..
                } = entry.record
                    && self.view.kels.contains_key(&identity)
                    && let Some(envelope) = line.attached.into_iter().next()
                {
                    events
                        .entry(identity)
                        .or_default()
                        .push((sequence, envelope));
                }
                index += 1;
            }
        }
        let mut extended = Vec::new();
        let mut ids: Vec<IdentityId> = events.keys().copied().collect();
        ids.sort();
        for id in ids {
            let Some(stored) = self.view.kels.get(&id).cloned() else {
                continue;
            };
            let mut log = stored.envelopes();
            for (sequence, envelope) in events.remove(&id).unwrap_or_default() {
                let at = usize::try_from(sequence).unwrap_or(usize::MAX);
                if at > log.len() {
                    continue;
                }
                log.truncate(at);
                log.push(envelope);
            }
            if log == stored.envelopes() {
                continue;
            }
            let kel = Kel::verify(&log).map_err(|e| {
                kel_err(format!(
                    "the key events it logged for identity {} do not verify: {e}",
                    id.short()
                ))
            })?;
            let len = kel.events().len() as u64;
            self.import(kel, "refresh", now)?;
            extended.push((id, len));
        }
        let known = KnownCheckpoint {
            media_type: KNOWN_CHECKPOINT_MEDIA_TYPE.to_owned(),
            checkpoint: note_text,
            verified: Some(now),
            pending: still,
        };
        // The held tree changes (a first checkpoint, or a larger one proved consistent): one
        // record, journalled with the checkpoint file. Otherwise only the time of verification
        // and the pending list change, which the audit log does not record.
        if held.as_ref().is_none_or(|(tree, _)| tree.size != new.size) {
            let record = AuditRecord::Checkpoint {
                registry: name.to_owned(),
                origin: checkpoint.origin.clone(),
                from,
                to: new.size,
                root: base64_encode(&new.root),
                consistent: held.is_some(),
            };
            self.commit(
                vec![(record, Vec::new())],
                Vec::new(),
                Some((name, known)),
                false,
                now,
            )?;
        } else {
            self.write_known(name, known)?;
        }
        Ok(Refreshed {
            name: name.to_owned(),
            from,
            to: new.size,
            extended,
            proved,
        })
    }
}

/// Refuses every outcome (`rejected: stale`) if a registry pinned with a maximum age is
/// [`stale`]: nothing is trusted, no first-use pin made, no longer log stored from the run.
pub fn fail_if_stale(view: &super::TrustView, now: Timestamp, outcomes: &mut [super::Outcome]) {
    let Some((message, advice)) = stale(view, now).into_iter().next() else {
        return;
    };
    for outcome in outcomes {
        let decision = &mut outcome.decision;
        decision.verdict = Verdict::Rejected(Rejection::Stale);
        decision.message = message.clone();
        decision.advice = advice.clone();
        decision.chain.clear();
        outcome.tofu_pin = None;
        outcome.longer_kels.clear();
        outcome.checkpoints.clear();
    }
}

/// Registries pinned with a maximum age whose checkpoint the store has not verified within
/// it, each with the message to show (ending with its advice's words): a verification must
/// not trust what a frozen store says.
pub fn stale(view: &super::TrustView, now: Timestamp) -> Vec<(String, Option<Advice>)> {
    let mut out = Vec::new();
    for pin in &view.pins.registries {
        let Some(max_age) = &pin.max_age else {
            continue;
        };
        let Ok(seconds) = parse_max_age(max_age) else {
            out.push((
                format!(
                    "registry `{}` is pinned with an unreadable maximum age {max_age:?}",
                    pin.name
                ),
                None,
            ));
            continue;
        };
        let verified = view.checkpoints.get(&pin.name).and_then(|k| k.verified);
        let fresh = verified.is_some_and(|t| now.unix() <= t.unix().saturating_add(seconds));
        if !fresh {
            let when = verified.map_or("never".to_owned(), |t| format!("last on {t}"));
            let advice = Advice::RefreshRegistry {
                name: pin.name.clone(),
                location_pinned: pin.location.is_some(),
            };
            out.push((
                format!(
                    "the trust store verified registry `{}`'s checkpoint {when}, and its pin requires one no older than {max_age}{}",
                    pin.name,
                    advice.words()
                ),
                Some(advice),
            ));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn note(size: u64, root: u8) -> String {
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let cp = Checkpoint::new(
            "registry.example/main",
            Tree {
                size,
                root: [root; 32],
            },
        )
        .unwrap();
        String::from_utf8(cp.sign(&key).unwrap().to_bytes()).unwrap()
    }

    #[test]
    fn offered_checkpoints_compare_with_the_held_and_the_pending_ones() {
        assert_eq!(compare_offered(None, &note(3, 1)), Offered::First);
        let known = KnownCheckpoint {
            media_type: KNOWN_CHECKPOINT_MEDIA_TYPE.to_owned(),
            checkpoint: note(3, 1),
            verified: None,
            pending: vec![note(5, 2)],
        };
        assert_eq!(compare_offered(Some(&known), &note(3, 1)), Offered::Same);
        assert_eq!(compare_offered(Some(&known), &note(5, 2)), Offered::Same);
        assert_eq!(
            compare_offered(Some(&known), &note(4, 9)),
            Offered::Unproven
        );
        let key = ed25519_dalek::SigningKey::from_bytes(&[5; 32]);
        let other = Checkpoint::new(
            "elsewhere.example/log",
            Tree {
                size: 3,
                root: [1; 32],
            },
        )
        .unwrap();
        let other = String::from_utf8(other.sign(&key).unwrap().to_bytes()).unwrap();
        assert_eq!(
            compare_offered(Some(&known), &other),
            Offered::OtherLog {
                held: "registry.example/main".to_owned()
            }
        );
        assert_eq!(
            compare_offered(Some(&known), &note(3, 7)),
            Offered::Equivocation { held: note(3, 1) }
        );
        assert_eq!(
            compare_offered(Some(&known), &note(5, 7)),
            Offered::Equivocation { held: note(5, 2) }
        );
    }

    #[test]
    fn max_age_needs_a_number_and_a_unit() {
        assert_eq!(parse_max_age("90m"), Ok(5400));
        assert_eq!(parse_max_age("24h"), Ok(86_400));
        assert_eq!(parse_max_age("7d"), Ok(604_800));
        assert_eq!(parse_max_age("30s"), Ok(30));
        for bad in [
            "",
            "h",
            "0h",
            "+5h",
            "5",
            "5w",
            "-1d",
            "99999999999999999999d",
            "5é",
            "é",
        ] {
            assert!(parse_max_age(bad).is_err(), "{bad}");
        }
    }
}
