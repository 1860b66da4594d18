//! The consumer's trust store: pins, the longest key event log seen per identity, and the
//! audit log — a directory a team commits to its repository.
//!
//! ```text
//! trust/
//!   pins.json          pins (namespace → identity, policy) and pinned registries; see [`pins`]
//!   kels/<hex>.kel     the longest key event log seen for each identity (publishers and
//!                      registries), named by the identity's hex digest
//!   releases/<name>.json  what each name@version was when first trusted; see [`releases`]
//!   registries/<name>.json  the latest checkpoint verified of each pinned registry, and
//!                      equivocation evidence beside it; see [`registries`]
//!   audit.log          every pin, import, refresh, refusal and verdict, hash-chained; see
//!                      [`audit`]
//!   audit.pending      while a change is written: the audit records that describe it
//!   .gitignore         ignores the lock file
//!   .lock              taken while writing, so two processes never interleave writes
//! ```
//!
//! Every file is replaced atomically ([`crate::fsutil::write_replace`]: temporary file, fsync,
//! rename, fsync of the directory) and the audit log is appended durably
//! ([`crate::hashlog::append`]), so a process killed at any point leaves each file either as it
//! was or as it was meant to be. A change is written logs first, then a registry's checkpoint,
//! then pins, then the audit entry, so an interrupted change can leave a longer stored log
//! (which is always safe) but never a pin without its log. Before those writes, the audit records that describe the
//! change go to a journal, `audit.pending`, removed once they are appended: the next process
//! that opens the store for writing finds a journal left by a killed one and appends the
//! records of the changes that reached the files, so the audit log records every change.
//!
//! Appending needs only the audit log's head, which opening reads from the end of the file
//! (one line) whatever the log's length; `hallmark keyring log --verify` checks the whole
//! chain. Nothing else is read from the audit log when a store opens: the gate takes no
//! evidence from it, so opening costs the same whatever the log's length.
//!
//! Logs are stored only of identities the store trusts: those pinned or imported, and those a
//! trusted verdict rests on. A refused verification stores nothing from the bundle it refused.
//!
//! A stored log is only ever replaced by one that extends it, or by one that recovers it (a
//! rotation by the pre-committed next keys superseding events signed only by the current
//! keys; see [`crate::kel::log`]), the superseded events kept in the audit log as evidence. A
//! shorter log (rollback), a log that differs at a position (a fork: equivocation, kept as
//! evidence), a branch a stored recovery superseded, or one that does not verify is refused,
//! and the refusal is recorded in the audit log.
//!
//! The audit log is a record for people, not evidence for the gate: it is unsigned and lives
//! in a directory anyone with write access can rewrite, so no verdict depends on what it says
//! (only a pinned registry's receipt dates a statement).

pub mod audit;
pub mod gate;
pub mod pins;
pub mod registries;
pub mod releases;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::envelope::Envelope;
use crate::error::FormatError;
use crate::fsutil::{self, ReadError, WriteError};
use crate::hashlog::{self, Checked, Head, LogError, LogIoError, LogLine};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::file::{KelFile, KelFileError};
use crate::kel::{Comparison, Kel};
use crate::statement::{Namespace, PackageName};
use crate::time::Timestamp;
use crate::verdict::{Rejection, Verdict};

pub use audit::AuditRecord;
pub use gate::{
    AttestationError, AttestationVerifier, Gate, NoAttestationVerifier, Outcome, TrustView,
    settle_run,
};
pub use pins::{Pin, PinError, PinSource, PinsFile, Policy, RegistryPin};
pub use releases::{RecordedRelease, ReleaseIndex, ReleasesFile};

/// File names inside a trust store.
pub const PINS_FILE: &str = "pins.json";
/// The directory of stored key event logs.
pub const KELS_DIR: &str = "kels";
/// The audit log.
pub const AUDIT_FILE: &str = "audit.log";
/// The lock file.
pub const LOCK_FILE: &str = ".lock";
/// The journal of a change being made: the audit records that will describe it, written
/// before the change and removed once they are appended.
pub const JOURNAL_FILE: &str = "audit.pending";

/// Up to this many release files changed by one verification run are flushed one by one.
const RELEASE_FILES_PER_FSYNC: usize = 16;

/// Why a trust-store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TrustError {
    /// No trust store at the path.
    #[error("no trust store at {}", path.display())]
    NotAStore {
        /// The directory.
        path: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: ReadError,
    },
    /// A file could not be written.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A directory could not be created or listed.
    #[error("cannot use directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is not in its format.
    #[error("{} is damaged: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// A stored key event log is damaged.
    #[error(transparent)]
    Kel(#[from] KelFileError),
    /// A stored log is filed under the wrong identity.
    #[error("{} holds the log of identity {found}, not of the identity its name says", path.display())]
    Misfiled {
        /// The file.
        path: PathBuf,
        /// The identity inside.
        found: IdentityId,
    },
    /// The audit log could not be read or appended.
    #[error(transparent)]
    AuditIo(#[from] LogIoError),
    /// The audit log is broken.
    #[error("the audit log {} is broken at {source}", path.display())]
    Audit {
        /// The log.
        path: PathBuf,
        /// Where and how.
        source: LogError,
    },
    /// A pin was refused.
    #[error(transparent)]
    Pin(#[from] PinError),
    /// No registry of that name is pinned.
    #[error("no registry `{0}` is pinned; pin it")]
    RegistryNotPinned(String),
    /// The identity does not hold the namespace.
    #[error(
        "identity {identity} does not hold {namespace}: it claims {}",
        if held.is_empty() { "nothing".to_owned() } else { held.join(", ") }
    )]
    NotHeld {
        /// The identity.
        identity: IdentityId,
        /// The namespace asked for.
        namespace: Namespace,
        /// What it holds.
        held: Vec<String>,
    },
    /// A key event log was refused (and the refusal recorded).
    #[error("refused the key event log of {identity}: {verdict}: {detail}")]
    Refused {
        /// The identity.
        identity: IdentityId,
        /// `rejected: rollback` or `rejected: equivocation`.
        verdict: Verdict,
        /// What exactly.
        detail: String,
    },
    /// The lock could not be taken.
    #[error("cannot lock trust store {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// What happened to a key event log offered to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Imported {
    /// The store did not hold the identity; the log is now stored.
    New {
        /// Events stored.
        events: u64,
    },
    /// The log extends the stored one and replaced it.
    Extended {
        /// Events before.
        from: u64,
        /// Events after.
        to: u64,
    },
    /// The log recovers the stored one (a rotation by the pre-committed next keys superseding
    /// events signed only by the current keys) and replaced it.
    Recovered {
        /// The first position where the logs differ.
        at: u64,
        /// Position of the superseding rotation.
        rotation: u64,
        /// Events of the stored log superseded (kept in the audit log as evidence).
        superseded: u64,
    },
    /// The log is the stored one, or a prefix of it; nothing changed.
    Unchanged,
}

/// The audit record of a recovery that replaced a stored log.
fn recovered_record(
    kel: &Kel,
    at: u64,
    rotation: u64,
    via: &str,
    superseded: &[Envelope],
) -> AuditRecord {
    AuditRecord::KelRecovered {
        identity: kel.identity(),
        at,
        rotation,
        head: kel.head().digest,
        via: via.to_owned(),
        superseded: superseded.iter().map(Envelope::payload_digest).collect(),
    }
}

/// An open trust store.
pub struct TrustStore {
    dir: PathBuf,
    view: TrustView,
    head: Head,
    torn_tail: usize,
    _lock: Option<File>,
}

fn kel_path(dir: &Path, identity: &IdentityId) -> PathBuf {
    let text = identity.to_string();
    let hex = text.trim_start_matches("hid:");
    dir.join(KELS_DIR).join(format!("{hex}.kel"))
}

/// The audit log's entries, checked, and the size of a torn tail.
pub struct AuditLog {
    /// The entries.
    pub entries: Vec<Checked<AuditRecord>>,
    /// The head.
    pub head: Head,
    /// Bytes of an interrupted, unacknowledged append at the end (cut off by the next write).
    pub torn_tail: usize,
}

/// Reads and verifies a trust store's audit log.
pub fn read_audit_log(dir: &Path) -> Result<AuditLog, TrustError> {
    let path = dir.join(AUDIT_FILE);
    let raw = hashlog::read(&path)?;
    let (entries, head) = hashlog::verify_lines::<AuditRecord>(&raw.lines, |c| {
        if c.line.entry.signatures().is_empty() {
            Ok(())
        } else {
            Err(hashlog::LogErrorKind::Invalid(
                "audit entries are unsigned; this one carries signatures".to_owned(),
            ))
        }
    })
    .map_err(|source| TrustError::Audit {
        path: path.clone(),
        source,
    })?;
    Ok(AuditLog {
        entries,
        head,
        torn_tail: raw.torn_tail,
    })
}

/// The audit log's head and torn tail, read from the end of the file (the chain is checked by
/// [`read_audit_log`], which `hallmark keyring log --verify` runs); the whole log is read only
/// when its last line does not decode, to say where it is broken.
fn audit_tail(dir: &Path) -> Result<(Head, usize), TrustError> {
    match hashlog::read_tail::<AuditRecord>(&dir.join(AUDIT_FILE))? {
        Some(tail)
            if tail
                .last
                .as_ref()
                .is_none_or(|c| c.line.entry.signatures().is_empty()) =>
        {
            Ok((tail.head, tail.torn_tail))
        }
        _ => {
            let log = read_audit_log(dir)?;
            Ok((log.head, log.torn_tail))
        }
    }
}

/// Largest journal read, in bytes.
const MAX_JOURNAL_BYTES: u64 = 16 * 1024 * 1024;

/// The journal of a change ([`JOURNAL_FILE`]): the audit log's head when it was written, and
/// the records that describe the change.
#[derive(serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct Journal {
    base: u64,
    #[serde(rename = "baseDigest")]
    base_digest: Option<Sha256Digest>,
    records: Vec<AuditRecord>,
}

fn remove_journal(dir: &Path) -> Result<(), TrustError> {
    match std::fs::remove_file(dir.join(JOURNAL_FILE)) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(source) => Err(TrustError::Dir {
            path: dir.to_owned(),
            source,
        }),
    }
}

impl TrustStore {
    /// Opens the store at `dir`. With `create`, a missing store is created; with `lock`, the
    /// store is locked for writing until the value is dropped.
    pub fn open(dir: &Path, create: bool, lock: bool) -> Result<Self, TrustError> {
        let pins_path = dir.join(PINS_FILE);
        let dir_err = |source| TrustError::Dir {
            path: dir.to_owned(),
            source,
        };
        if !fsutil::exists_no_follow(&pins_path) {
            if !create {
                return Err(TrustError::NotAStore {
                    path: dir.to_owned(),
                });
            }
            fsutil::create_dir_all(&dir.join(KELS_DIR), fsutil::DIR_MODE).map_err(dir_err)?;
            // Several processes may create the store at once: whichever writes the file first
            // wins, and the others find it made.
            match fsutil::write_new(&dir.join(".gitignore"), b".lock\n", 0o644) {
                Ok(()) | Err(WriteError::Exists { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let lock = if lock {
            let path = dir.join(LOCK_FILE);
            let file =
                fsutil::open_state_file(&path, fsutil::PUBLIC_FILE_MODE).map_err(|source| {
                    TrustError::Lock {
                        path: path.clone(),
                        source,
                    }
                })?;
            file.lock()
                .map_err(|source| TrustError::Lock { path, source })?;
            Some(file)
        } else {
            None
        };
        let pins = if !fsutil::exists_no_follow(&pins_path) && lock.is_some() {
            // Under the lock nobody else writes pins: create the empty file.
            let pins = PinsFile::default();
            fsutil::write_replace(&pins_path, &pins.to_json(), 0o644)?;
            pins
        } else if fsutil::exists_no_follow(&pins_path) {
            let bytes = fsutil::read_bounded(&pins_path, pins::MAX_PINS_BYTES as u64).map_err(
                |source| TrustError::Read {
                    path: pins_path.clone(),
                    source,
                },
            )?;
            PinsFile::from_json(&bytes).map_err(|source| TrustError::Format {
                path: pins_path.clone(),
                source,
            })?
        } else {
            // Not locked: read as empty; the first locked writer creates the file.
            PinsFile::default()
        };
        let mut kels = HashMap::new();
        let kels_dir = dir.join(KELS_DIR);
        if let Ok(meta) = std::fs::symlink_metadata(&kels_dir)
            && !meta.is_dir()
        {
            return Err(TrustError::Dir {
                path: kels_dir,
                source: std::io::Error::new(
                    std::io::ErrorKind::NotADirectory,
                    "it is not a directory, but must be the directory of key event logs; move it away",
                ),
            });
        }
        if kels_dir.is_dir() {
            let entries = std::fs::read_dir(&kels_dir).map_err(|source| TrustError::Dir {
                path: kels_dir.clone(),
                source,
            })?;
            for entry in entries {
                let entry = entry.map_err(|source| TrustError::Dir {
                    path: kels_dir.clone(),
                    source,
                })?;
                let path = entry.path();
                if path.extension().is_none_or(|e| e != "kel") {
                    continue;
                }
                let kel = KelFile::read_verified(&path)?;
                if kel_path(dir, &kel.identity()) != path {
                    return Err(TrustError::Misfiled {
                        path,
                        found: kel.identity(),
                    });
                }
                kels.insert(kel.identity(), Arc::new(kel));
            }
        }
        let checkpoints = registries::load(dir, pins.registries.iter().map(|r| r.name.as_str()))?;
        let (head, torn_tail) = audit_tail(dir)?;
        let locked = lock.is_some();
        let mut store = TrustStore {
            dir: dir.to_owned(),
            view: TrustView {
                pins,
                kels,
                releases: ReleaseIndex::new(Some(dir.to_owned())),
                checkpoints,
            },
            head,
            torn_tail,
            _lock: lock,
        };
        if locked {
            // Temporary files of writers killed before they renamed them.
            for d in [dir.to_owned(), dir.join(KELS_DIR)] {
                let _ = fsutil::remove_stale_temps(&d);
            }
            store.recover(Timestamp::now())?;
        }
        Ok(store)
    }

    /// Finishes a change interrupted before its audit records were appended: if the journal
    /// was written against the audit log's current head, appends the records of the changes
    /// that reached the files (a stored log of that length and head, a pin as recorded); if the
    /// log moved on, they were appended. Then removes the journal.
    fn recover(&mut self, now: Timestamp) -> Result<(), TrustError> {
        let path = self.dir.join(JOURNAL_FILE);
        if !fsutil::exists_no_follow(&path) {
            return Ok(());
        }
        let bytes =
            fsutil::read_bounded(&path, MAX_JOURNAL_BYTES).map_err(|source| TrustError::Read {
                path: path.clone(),
                source,
            })?;
        // A journal that does not parse was cut short while it was written, before any change.
        if let Ok(journal) = serde_json::from_slice::<Journal>(&bytes)
            && journal.base == self.head.len
            && journal.base_digest == self.head.digest
        {
            let done: Vec<(AuditRecord, Vec<Envelope>)> = journal
                .records
                .into_iter()
                .filter(|r| self.took_effect(r))
                .map(|r| (r, Vec::new()))
                .collect();
            self.append(done, now)?;
        }
        remove_journal(&self.dir)
    }

    /// Whether the change a journalled record describes is in the store's files.
    fn took_effect(&self, record: &AuditRecord) -> bool {
        let pins = &self.view.pins;
        match record {
            AuditRecord::KelExtended {
                identity, to, head, ..
            } => self
                .view
                .kels
                .get(identity)
                .is_some_and(|k| k.events().len() as u64 == *to && k.head().digest == *head),
            AuditRecord::KelRecovered { identity, head, .. } => self
                .view
                .kels
                .get(identity)
                .is_some_and(|k| k.head().digest == *head),
            AuditRecord::Pin {
                namespace,
                identity,
                ..
            } => pins
                .pins
                .iter()
                .any(|p| &p.namespace == namespace && &p.identity == identity),
            AuditRecord::Unpin { namespace, .. } => {
                !pins.pins.iter().any(|p| &p.namespace == namespace)
            }
            AuditRecord::PinRegistry { name, identity } => {
                pins.registry(name).is_some_and(|r| &r.identity == identity)
            }
            AuditRecord::Checkpoint {
                registry, to, root, ..
            } => self
                .view
                .checkpoints
                .get(registry)
                .and_then(|k| k.tree().ok())
                .is_some_and(|(_, tree)| {
                    tree.size == *to && crate::encoding::base64_encode(&tree.root) == *root
                }),
            _ => false,
        }
    }

    /// Writes a change and its audit records so that a kill at any point leaves the records
    /// and the files in agreement, or a journal from which the next locked open makes them
    /// agree: the journal of the records that describe changes first, then the stored logs
    /// `kels`, then a registry's checkpoint, then the pins (with `pins`), then the audit
    /// entries; the journal is removed last.
    fn commit_change(
        &mut self,
        records: Vec<(AuditRecord, Vec<Envelope>)>,
        kels: Vec<Arc<Kel>>,
        pins: bool,
        now: Timestamp,
    ) -> Result<(), TrustError> {
        self.commit(records, kels, None, pins, now)
    }

    /// [`Self::commit_change`], also writing a registry's checkpoint file (after the stored
    /// logs, before the pins).
    fn commit(
        &mut self,
        records: Vec<(AuditRecord, Vec<Envelope>)>,
        kels: Vec<Arc<Kel>>,
        checkpoint: Option<(&str, registries::KnownCheckpoint)>,
        pins: bool,
        now: Timestamp,
    ) -> Result<(), TrustError> {
        let changes: Vec<AuditRecord> = records
            .iter()
            .map(|(r, _)| r)
            .filter(|r| {
                !matches!(
                    r,
                    AuditRecord::Verdict { .. }
                        | AuditRecord::KelRefused { .. }
                        | AuditRecord::CheckpointRefused { .. }
                )
            })
            .cloned()
            .collect();
        let journalled = !changes.is_empty() && (!kels.is_empty() || checkpoint.is_some() || pins);
        if journalled {
            let journal = Journal {
                base: self.head.len,
                base_digest: self.head.digest,
                records: changes,
            };
            let bytes = serde_json::to_vec(&journal).map_err(|e| TrustError::Format {
                path: self.dir.join(JOURNAL_FILE),
                source: FormatError::json("audit journal", &e),
            })?;
            fsutil::write_replace(&self.dir.join(JOURNAL_FILE), &bytes, 0o644)?;
        }
        for kel in kels {
            self.write_kel(kel)?;
        }
        if let Some((name, known)) = checkpoint {
            self.write_known(name, known)?;
        }
        if pins {
            self.write_pins()?;
        }
        self.append(records, now)?;
        if journalled {
            remove_journal(&self.dir)?;
        }
        Ok(())
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// What the gate decides against.
    pub fn view(&self) -> &TrustView {
        &self.view
    }

    /// The audit log's head.
    pub fn audit_head(&self) -> Head {
        self.head
    }

    /// Bytes of an interrupted append at the end of the audit log.
    pub fn audit_torn_tail(&self) -> usize {
        self.torn_tail
    }

    fn append(
        &mut self,
        records: Vec<(AuditRecord, Vec<Envelope>)>,
        now: Timestamp,
    ) -> Result<(), TrustError> {
        if records.is_empty() {
            return Ok(());
        }
        let mut head = self.head;
        let mut lines = Vec::with_capacity(records.len());
        for (record, attached) in records {
            let entry = head.next_entry(now, record);
            head.advance(&entry);
            let envelope = entry.to_envelope().map_err(|source| TrustError::Format {
                path: self.dir.join(AUDIT_FILE),
                source,
            })?;
            lines.push(
                LogLine {
                    entry: envelope,
                    attached,
                }
                .to_json(),
            );
        }
        hashlog::append(&self.dir.join(AUDIT_FILE), &lines)?;
        self.head = head;
        self.torn_tail = 0;
        Ok(())
    }

    fn write_kel(&mut self, kel: Arc<Kel>) -> Result<(), TrustError> {
        let path = kel_path(&self.dir, &kel.identity());
        fsutil::create_dir_all(&self.dir.join(KELS_DIR), fsutil::DIR_MODE).map_err(|source| {
            TrustError::Dir {
                path: self.dir.join(KELS_DIR),
                source,
            }
        })?;
        fsutil::write_replace(&path, &KelFile::from_kel(&kel).to_json(), 0o644)?;
        self.view.kels.insert(kel.identity(), kel);
        Ok(())
    }

    fn write_pins(&self) -> Result<(), TrustError> {
        fsutil::write_replace(&self.dir.join(PINS_FILE), &self.view.pins.to_json(), 0o644)?;
        Ok(())
    }

    /// Offers a key event log: stored if new, if it extends the stored one, or if it recovers
    /// it (superseding recovery; the superseded events are recorded as evidence); refused — and
    /// the refusal recorded — if it is shorter (rollback), forked (equivocation) or a branch
    /// the stored log's recovery superseded.
    pub fn import(&mut self, kel: Kel, via: &str, now: Timestamp) -> Result<Imported, TrustError> {
        let identity = kel.identity();
        let Some(stored) = self.view.kels.get(&identity).cloned() else {
            let events = kel.events().len() as u64;
            let head = kel.head().digest;
            self.commit_change(
                vec![(
                    AuditRecord::KelExtended {
                        identity,
                        from: 0,
                        to: events,
                        head,
                        via: via.to_owned(),
                    },
                    Vec::new(),
                )],
                vec![Arc::new(kel)],
                false,
                now,
            )?;
            return Ok(Imported::New { events });
        };
        match stored.compare(&kel) {
            Comparison::Same => Ok(Imported::Unchanged),
            Comparison::Extends { .. } => {
                let from = stored.events().len() as u64;
                let to = kel.events().len() as u64;
                let head = kel.head().digest;
                self.commit_change(
                    vec![(
                        AuditRecord::KelExtended {
                            identity,
                            from,
                            to,
                            head,
                            via: via.to_owned(),
                        },
                        Vec::new(),
                    )],
                    vec![Arc::new(kel)],
                    false,
                    now,
                )?;
                Ok(Imported::Extended { from, to })
            }
            Comparison::Shorter { missing } => {
                let detail = format!(
                    "the offered log has {} event{}, the stored one {}: it lacks the {missing} newest (a rollback would hide them)",
                    kel.events().len(),
                    if kel.events().len() == 1 { "" } else { "s" },
                    stored.events().len()
                );
                self.refuse(identity, Rejection::Rollback, detail, Vec::new(), now)
            }
            Comparison::Forked { at, ours, theirs } => {
                let detail = format!(
                    "the offered log differs from the stored one at event #{at} (stored {}, offered {}): two histories signed by the identity's keys, which only a compromise explains; both events are kept as evidence",
                    ours.payload_digest().short(),
                    theirs.payload_digest().short()
                );
                self.refuse(
                    identity,
                    Rejection::Equivocation,
                    detail,
                    vec![*ours, *theirs],
                    now,
                )
            }
            Comparison::Recovered {
                at,
                rotation,
                superseded,
            } => {
                let record = recovered_record(&kel, at, rotation, via, &superseded);
                let count = superseded.len() as u64;
                self.commit_change(vec![(record, superseded)], vec![Arc::new(kel)], false, now)?;
                Ok(Imported::Recovered {
                    at,
                    rotation,
                    superseded: count,
                })
            }
            Comparison::Supersedes {
                at,
                rotation,
                superseded,
            } => {
                let detail = format!(
                    "the offered log differs from the stored one from event #{at}, where it holds only events signed by the current keys, which the stored rotation #{rotation} by the pre-committed next keys superseded (a recovery); the superseded events are kept as evidence"
                );
                self.refuse(identity, Rejection::Equivocation, detail, superseded, now)
            }
            Comparison::DifferentIdentity => Ok(Imported::Unchanged),
        }
    }

    /// Records that a key event log offered for `identity` (the digest of its first event)
    /// does not verify — rewritten, spliced or forged — and returns the refusal.
    pub fn refuse_invalid(
        &mut self,
        identity: IdentityId,
        detail: String,
        now: Timestamp,
    ) -> TrustError {
        match self.refuse(identity, Rejection::BadSignature, detail, Vec::new(), now) {
            Err(e) => e,
            Ok(_) => TrustError::Refused {
                identity,
                verdict: Verdict::Rejected(Rejection::BadSignature),
                detail: String::new(),
            },
        }
    }

    fn refuse(
        &mut self,
        identity: IdentityId,
        rejection: Rejection,
        detail: String,
        evidence: Vec<Envelope>,
        now: Timestamp,
    ) -> Result<Imported, TrustError> {
        let digests = evidence.iter().map(Envelope::payload_digest).collect();
        self.append(
            vec![(
                AuditRecord::KelRefused {
                    identity,
                    reason: rejection.as_str().to_owned(),
                    detail: detail.clone(),
                    evidence: digests,
                },
                evidence,
            )],
            now,
        )?;
        Err(TrustError::Refused {
            identity,
            verdict: Verdict::Rejected(rejection),
            detail,
        })
    }

    /// Pins `namespace` to `kel`'s identity with `policy`, storing the log. Refused if the
    /// identity does not hold the namespace, if the namespace is pinned to another identity,
    /// or if the log does not extend the stored one. Returns whether anything changed.
    pub fn pin(
        &mut self,
        namespace: Namespace,
        kel: Kel,
        policy: Policy,
        now: Timestamp,
    ) -> Result<bool, TrustError> {
        let identity = kel.identity();
        let as_name: Option<PackageName> = namespace.as_str().parse().ok();
        if !as_name.is_some_and(|n| kel.owns(&n)) {
            return Err(TrustError::NotHeld {
                identity,
                namespace,
                held: kel
                    .claimed()
                    .iter()
                    .chain(kel.received().iter().map(|r| &r.name))
                    .map(ToString::to_string)
                    .collect(),
            });
        }
        // Check the conflict before storing anything.
        if let Some(existing) = self
            .view
            .pins
            .pins
            .iter()
            .find(|p| p.namespace == namespace)
            && existing.identity != identity
        {
            return Err(PinError::Conflict {
                namespace,
                existing: existing.identity,
            }
            .into());
        }
        for name in &policy.require_receipt {
            if self.view.pins.registry(name).is_none() {
                return Err(PinError::UnknownRegistry(name.clone()).into());
            }
        }
        self.import(kel, "pin", now)?;
        let pinned_at = self
            .view
            .kels
            .get(&identity)
            .map_or(0, |k| k.head().event.sequence);
        let pin = Pin {
            namespace: namespace.clone(),
            identity,
            pinned_at,
            policy: policy.clone(),
            source: PinSource::Manual,
            created: now,
        };
        if !self.view.pins.add(pin)? {
            return Ok(false);
        }
        self.commit_change(
            vec![(
                AuditRecord::Pin {
                    namespace,
                    identity,
                    pinned_at,
                    policy,
                    source: PinSource::Manual,
                },
                Vec::new(),
            )],
            Vec::new(),
            true,
            now,
        )?;
        Ok(true)
    }

    /// Removes a pin.
    pub fn unpin(&mut self, namespace: &Namespace, now: Timestamp) -> Result<Pin, TrustError> {
        let pin = self.view.pins.remove(namespace)?;
        self.commit_change(
            vec![(
                AuditRecord::Unpin {
                    namespace: namespace.clone(),
                    identity: pin.identity,
                },
                Vec::new(),
            )],
            Vec::new(),
            true,
            now,
        )?;
        Ok(pin)
    }

    /// Pins a registry under `name`, storing its log. Returns whether anything changed.
    pub fn pin_registry(
        &mut self,
        name: &str,
        kel: Kel,
        now: Timestamp,
    ) -> Result<bool, TrustError> {
        pins::check_registry_name(name).map_err(|source| TrustError::Format {
            path: self.dir.join(PINS_FILE),
            source,
        })?;
        let identity = kel.identity();
        if let Some(existing) = self.view.pins.registry(name)
            && existing.identity != identity
        {
            return Err(PinError::RegistryConflict {
                name: name.to_owned(),
                existing: existing.identity,
            }
            .into());
        }
        self.import(kel, "pin-registry", now)?;
        let added = self.view.pins.add_registry(RegistryPin {
            name: name.to_owned(),
            identity,
            created: now,
            location: None,
            max_age: None,
            witnesses: Vec::new(),
            witness_threshold: None,
        })?;
        if !added {
            return Ok(false);
        }
        self.commit_change(
            vec![(
                AuditRecord::PinRegistry {
                    name: name.to_owned(),
                    identity,
                },
                Vec::new(),
            )],
            Vec::new(),
            true,
            now,
        )?;
        Ok(true)
    }

    /// Sets where a pinned registry's log is served and how fresh its checkpoint must be
    /// (`None` leaves a setting as it is). Returns whether anything changed.
    pub fn follow_registry(
        &mut self,
        name: &str,
        location: Option<String>,
        max_age: Option<String>,
        now: Timestamp,
    ) -> Result<bool, TrustError> {
        if let Some(age) = &max_age {
            registries::parse_max_age(age).map_err(|e| TrustError::Format {
                path: self.dir.join(PINS_FILE),
                source: FormatError::invalid("maximum age", e.to_string()),
            })?;
        }
        let Some(pin) = self
            .view
            .pins
            .registries
            .iter_mut()
            .find(|r| r.name == name)
        else {
            return Err(TrustError::RegistryNotPinned(name.to_owned()));
        };
        let mut changed = false;
        if location.is_some() && pin.location != location {
            pin.location = location;
            changed = true;
        }
        if max_age.is_some() && pin.max_age != max_age {
            pin.max_age = max_age;
            changed = true;
        }
        if changed {
            self.commit_change(Vec::new(), Vec::new(), true, now)?;
        }
        Ok(changed)
    }

    /// Sets the witness policy of a pinned registry: at least `threshold` of `witnesses`
    /// (cosignature verifier keys) must have cosigned its checkpoints. The policy is checked
    /// before it is stored. Returns whether anything changed.
    pub fn require_witnesses(
        &mut self,
        name: &str,
        witnesses: Vec<String>,
        threshold: u64,
        now: Timestamp,
    ) -> Result<bool, TrustError> {
        let invalid = |detail: String| TrustError::Format {
            path: self.dir.join(PINS_FILE),
            source: FormatError::invalid("witness policy", detail),
        };
        let Some(pin) = self
            .view
            .pins
            .registries
            .iter()
            .find(|r| r.name == name)
            .cloned()
        else {
            return Err(TrustError::RegistryNotPinned(name.to_owned()));
        };
        let mut wanted = pin.clone();
        wanted.witnesses = witnesses;
        wanted.witness_threshold = Some(threshold);
        let policy = wanted
            .witness_policy()
            .map_err(|e| invalid(e.to_string()))?;
        if let Some(policy) = &policy {
            // An empty note checks the policy's own shape (threshold, key types) only.
            if let Err(e @ crate::tlog::witness::PolicyError::Invalid { .. }) =
                policy.check(&crate::tlog::Note::new("x\n").map_err(|e| invalid(e.to_string()))?)
            {
                return Err(invalid(e.to_string()));
            }
        }
        if wanted == pin {
            return Ok(false);
        }
        if let Some(slot) = self
            .view
            .pins
            .registries
            .iter_mut()
            .find(|r| r.name == name)
        {
            *slot = wanted;
        }
        self.commit_change(Vec::new(), Vec::new(), true, now)?;
        Ok(true)
    }

    /// Records the outcomes of a verification run: settles what the run decides together
    /// ([`settle_run`]: conflicting first-use pins and contents refuse every artifact
    /// involved), makes trust-on-first-use pins, stores longer logs — of identities the store
    /// already holds, or that a trusted verdict rests on, never from a refused bundle alone —
    /// records the content of each release trusted for the first time in the release index,
    /// and appends one audit entry per verdict, all with one flush of the audit log. Pins made
    /// by `hallmark keyring pin` are never changed.
    pub fn record(&mut self, outcomes: &mut [Outcome], now: Timestamp) -> Result<(), TrustError> {
        settle_run(outcomes);
        // Checkpoints from receipts: kept from trusted verdicts, and as evidence from a verdict
        // of equivocation; a refused bundle's are otherwise not stored.
        let offered: Vec<(String, String)> = outcomes
            .iter_mut()
            .filter(|o| {
                o.decision.verdict.is_trusted()
                    || o.decision.verdict == Verdict::Rejected(Rejection::Equivocation)
            })
            .flat_map(|o| std::mem::take(&mut o.checkpoints))
            .collect();
        self.note_checkpoints(&offered)?;
        let mut records = Vec::with_capacity(outcomes.len());
        let mut pins_changed = false;
        let mut releases: HashMap<PackageName, ReleasesFile> = HashMap::new();
        let mut first: Vec<bool> = Vec::with_capacity(outcomes.len());
        let mut entries: Vec<Vec<(AuditRecord, Vec<Envelope>)>> =
            Vec::with_capacity(outcomes.len());
        let mut kels = Vec::new();
        for outcome in outcomes.iter_mut() {
            let mut own = Vec::new();
            let mut pin_record = None;
            if let Some(pin) = outcome.tofu_pin.take() {
                let covering = self
                    .view
                    .pins
                    .pins
                    .iter()
                    .filter(|p| p.namespace.contains(&pin.namespace))
                    .max_by_key(|p| p.namespace.depth());
                match covering {
                    Some(existing) if existing.identity != pin.identity => {
                        outcome.decision.verdict =
                            Verdict::Rejected(Rejection::UnlinkedSignerChange);
                        outcome.decision.message = format!(
                            "{} is signed by identity {}, but {} is pinned to identity {}",
                            outcome.decision.release.clone().unwrap_or_default(),
                            pin.identity.short(),
                            existing.namespace,
                            existing.identity.short()
                        );
                        outcome.decision.chain.clear();
                    }
                    Some(_) => {}
                    None => {
                        pin_record = Some((
                            AuditRecord::Pin {
                                namespace: pin.namespace.clone(),
                                identity: pin.identity,
                                pinned_at: pin.pinned_at,
                                policy: Policy::default(),
                                source: PinSource::TrustOnFirstUse,
                            },
                            Vec::new(),
                        ));
                        self.view.pins.add(pin)?;
                        pins_changed = true;
                    }
                }
            }
            let trusted = outcome.decision.verdict.is_trusted();
            for kel in &outcome.longer_kels {
                let stored = self.view.kels.get(&kel.identity());
                // A refused bundle's logs are the attacker's word: only extensions of logs
                // the store already holds are kept from it.
                if stored.is_none() && !trusted {
                    continue;
                }
                let comparison = stored.map(|s| s.compare(kel));
                if let Some(Comparison::Recovered {
                    at,
                    rotation,
                    superseded,
                }) = comparison
                {
                    let record = recovered_record(kel, at, rotation, "verify", &superseded);
                    self.view.kels.insert(kel.identity(), kel.clone());
                    kels.push(kel.clone());
                    own.push((record, superseded));
                    continue;
                }
                let extends = match comparison {
                    None => true,
                    Some(c) => matches!(c, Comparison::Extends { .. }),
                };
                if extends {
                    let from = stored.map_or(0, |s| s.events().len() as u64);
                    let (identity, to, head) =
                        (kel.identity(), kel.events().len() as u64, kel.head().digest);
                    self.view.kels.insert(identity, kel.clone());
                    kels.push(kel.clone());
                    own.push((
                        AuditRecord::KelExtended {
                            identity,
                            from,
                            to,
                            head,
                            via: "verify".to_owned(),
                        },
                        Vec::new(),
                    ));
                }
            }
            own.extend(pin_record);
            entries.push(own);
            let mut recorded = false;
            if trusted {
                let file = match releases.entry(outcome.name.clone()) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => {
                        let current = self.view.releases.file(&outcome.name).map_err(|source| {
                            TrustError::Format {
                                path: releases::releases_path(&self.dir, &outcome.name),
                                source,
                            }
                        })?;
                        e.insert((*current).clone())
                    }
                };
                if !file.versions.contains_key(&outcome.version) {
                    file.versions.insert(
                        outcome.version.clone(),
                        RecordedRelease {
                            content: outcome.content,
                            statement: outcome.statement,
                            first_trusted: now,
                        },
                    );
                    recorded = true;
                }
            }
            first.push(recorded);
        }
        // The release index first (one durable batch), then the audit entries that mark it.
        let changed: Vec<ReleasesFile> = releases
            .into_values()
            .filter(|f| {
                self.view
                    .releases
                    .file(&f.name)
                    .map_or(true, |old| old.versions.len() != f.versions.len())
            })
            .collect();
        if !changed.is_empty() {
            let dir = self.dir.join(releases::RELEASES_DIR);
            fsutil::create_dir_all(&dir, fsutil::DIR_MODE).map_err(|source| TrustError::Dir {
                path: dir.clone(),
                source,
            })?;
            let files: Vec<(PathBuf, Vec<u8>)> = changed
                .iter()
                .map(|f| (releases::releases_path(&self.dir, &f.name), f.to_json()))
                .collect();
            // A few files: one fsync each. Many: one batch, flushed once (`syncfs`, which also
            // waits for every other write pending on the file system, so only worth it then).
            if files.len() <= RELEASE_FILES_PER_FSYNC {
                for (path, bytes) in &files {
                    fsutil::write_replace(path, bytes, 0o644)?;
                }
            } else {
                fsutil::write_many(&files, 0o644, true)?;
            }
            for file in changed {
                self.view.releases.set(file);
            }
        }
        for ((outcome, recorded), own) in outcomes.iter_mut().zip(first).zip(entries) {
            records.extend(own);
            let evidence = std::mem::take(&mut outcome.evidence);
            let decision = &outcome.decision;
            records.push((
                AuditRecord::Verdict {
                    release: decision.release.clone().unwrap_or_default(),
                    statement: outcome.statement,
                    content: outcome.content,
                    identity: decision.identity,
                    verdict: decision.verdict.to_string(),
                    message: decision.message.clone(),
                    evidence: evidence.iter().map(Envelope::payload_digest).collect(),
                    recorded,
                },
                evidence,
            ));
        }
        self.commit_change(records, kels, pins_changed, now)
    }
}
