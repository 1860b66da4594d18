//! A registry: checks every publish and every key event, countersigns what it accepts, and
//! keeps a signed, hash-chained log of it, which is also a C2SP transparency log.
//!
//! A registry is a directory:
//!
//! ```text
//! registry/
//!   registry.json   the registry's identity, the reference of its signing key, its log's origin
//!   registry.kel    the registry's key event log, for consumers to pin
//!   log.jsonl       the log ([`crate::hashlog`]), every entry signed by the registry
//!   checkpoint      the signed checkpoint of the transparency log ([`tiles`])
//!   tile/           its hash tiles and entry bundles (each line of log.jsonl is a leaf)
//!   state.db        the state the checks read ([`sqlite`]), derived from the log
//!   .lock           taken while writing
//! ```
//!
//! **Storage.** The log is the record: the state (the key event log held for each identity,
//! who registered which namespace, which versions exist, which are yanked) is kept in
//! `state.db` and read through the [`Store`] trait, caught up from the log's tail when a run
//! stopped between the two and rebuilt from the whole log when missing. Appends are one
//! `write` and one `fsync` per batch, so a batch of accepts costs one flush; a torn final line
//! from a killed process was never acknowledged and is cut off by the next append. After the
//! append come the state, the tiles and the checkpoint ([`tiles`]). Receipts are written into
//! bundles only after all that; they are a deterministic function of the log entry and the
//! published checkpoint (Ed25519 signatures are deterministic), so a receipt lost to a crash
//! is re-issued by submitting the bundle again or by [`Registry::receipt`] — byte for byte
//! while the log has not grown.
//!
//! **Log records** ([`RegistryRecord`], field `kind`):
//!
//! | kind | fields | attached |
//! | --- | --- | --- |
//! | `key-event` | `identity`, `sequence`, `event` | the event |
//! | `publish` | `identity`, `name`, `version`, `content`, `statement`, `sequence`, \[`override`\] | the statement |
//! | `yank` | `name`, `version`, `statement`, `reason` | |
//!
//! The registry's own inception is entry 0, a `key-event` of its own identity; every entry is
//! signed by the registry's keys current at that entry.

pub mod sqlite;
mod state;
pub mod store;
pub mod tiles;

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rayon::prelude::*;
use serde::{Deserialize, Serialize};

use crate::bundle::Bundle;
use crate::digest::ContentDigest;
use crate::encoding::base64_encode;
use crate::envelope::{Ed25519Signer, Envelope, SignError};
use crate::error::FormatError;
use crate::fsutil::{self, ReadError, WriteError};
use crate::hashlog::{self, Head, LogEntry, LogError, LogIoError, LogLine, Record};
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::file::{KelFile, KelFileError};
use crate::kel::{EventKind, Kel, KeyEvent};
use crate::key::{KeyId, PublicKey};
use crate::receipt::{Receipt, SubjectType, TlogProof};
use crate::statement::{Namespace, PackageName, Version};
use crate::time::Timestamp;
use crate::tlog::tile::TILE_WIDTH;
use crate::tlog::witness::{CosignatureCollector, WitnessOutcome};
use crate::tlog::{DirTileReader, TileHashes, Tree};

pub use sqlite::{STATE_FILE, SqliteStore};
pub use state::State;
pub use store::{
    Changes, Counts, EntryInfo, MemoryStore, Published, Release, Store, StoreError, StoreMut,
};

/// The registry configuration's media type.
pub const REGISTRY_MEDIA_TYPE: &str = "application/vnd.hallmark.registry.v1+json";
/// The configuration file.
pub const CONFIG_FILE: &str = "registry.json";
/// The registry's key event log.
pub const KEL_FILE: &str = "registry.kel";
/// The log.
pub const LOG_FILE: &str = "log.jsonl";
/// The lock file.
pub const LOCK_FILE: &str = ".lock";

/// What a registry log entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum RegistryRecord {
    /// A key event of a publisher (or of the registry itself), accepted.
    KeyEvent {
        /// The identity.
        identity: IdentityId,
        /// The event's position in the identity's log.
        sequence: u64,
        /// The event's digest.
        event: Sha256Digest,
    },
    /// A release, accepted.
    Publish {
        /// The signing identity.
        identity: IdentityId,
        /// The package.
        name: PackageName,
        /// The version.
        version: Version,
        /// The content digest.
        content: ContentDigest,
        /// The statement's payload digest.
        statement: Sha256Digest,
        /// The statement's position in the identity's log.
        sequence: u64,
        /// Why a look-alike name was allowed, if it was.
        #[serde(default, rename = "override", skip_serializing_if = "Option::is_none")]
        override_reason: Option<String>,
    },
    /// A version withdrawn from use (kept, never deleted or re-used).
    Yank {
        /// The package.
        name: PackageName,
        /// The version.
        version: Version,
        /// The statement's payload digest.
        statement: Sha256Digest,
        /// Why.
        reason: String,
    },
}

impl Record for RegistryRecord {
    fn attached_digests(&self) -> Vec<Sha256Digest> {
        match self {
            RegistryRecord::KeyEvent { event, .. } => vec![*event],
            RegistryRecord::Publish { statement, .. } => vec![*statement],
            RegistryRecord::Yank { .. } => Vec::new(),
        }
    }
}

/// The registry configuration (`registry.json`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct Config {
    /// Always [`REGISTRY_MEDIA_TYPE`].
    pub media_type: String,
    /// The registry's identity.
    pub identity: IdentityId,
    /// The key reference of its signing key (no secret in it).
    pub key: String,
    /// The origin of its transparency log (the checkpoint's first line and its note key's
    /// name); when absent, `hallmark.dev/registry/<identity hex>` ([`Config::origin`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
    /// The witnesses each new checkpoint is submitted to for cosignatures
    /// (c2sp.org/tlog-witness); see [`Registry::set_cosigner`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub witnesses: Vec<crate::tlog::witness::WitnessEndpoint>,
}

/// Why a registry operation failed (as opposed to a submission being refused).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RegistryError {
    /// No registry at the path.
    #[error("no registry at {}: create one", path.display())]
    NotARegistry {
        /// The directory.
        path: PathBuf,
    },
    /// A registry exists already.
    #[error("{} already holds a registry; refusing to overwrite it", path.display())]
    Exists {
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
    /// A directory could not be created.
    #[error("cannot use directory {}: {source}", path.display())]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is damaged.
    #[error("{} is damaged: {source}", path.display())]
    Format {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: FormatError,
    },
    /// The registry's key event log is damaged.
    #[error(transparent)]
    Kel(#[from] KelFileError),
    /// The log could not be read or appended.
    #[error(transparent)]
    LogIo(#[from] LogIoError),
    /// The log is broken.
    #[error("the registry log {} is broken at {source}", path.display())]
    Log {
        /// The log.
        path: PathBuf,
        /// Where and how.
        source: LogError,
    },
    /// The signing key is not a current key of the registry.
    #[error("key {} is not a current signing key of registry {identity}", key.short())]
    NotRegistryKey {
        /// The key offered.
        key: KeyId,
        /// The registry.
        identity: IdentityId,
    },
    /// Signing failed.
    #[error(transparent)]
    Sign(#[from] SignError),
    /// The lock could not be taken.
    #[error("cannot lock registry {}: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The registry's inception could not be built.
    #[error("cannot create the registry identity: {0}")]
    Inception(String),
    /// The transparency log (tiles, checkpoint) could not be read or written.
    #[error("{0}")]
    Tlog(String),
    /// The registry's state database could not be read or written.
    #[error(
        "the registry state {} cannot be used: {source}; rebuild it from the log",
        path.display()
    )]
    State {
        /// The database.
        path: PathBuf,
        /// The registry directory.
        dir: PathBuf,
        /// What went wrong.
        source: StoreError,
    },
}

/// Why a submission was refused. The message says what to do.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct Refusal {
    /// The check that refused it: `signature`, `key-event-log`, `equivocation`, `rollback`,
    /// `namespace`, `immutable-version`, `yanked`, `similar-name`, `digest`, `input`.
    pub check: &'static str,
    /// What was wrong; ends with the advice's words, if there is advice.
    pub message: String,
    /// What the submitter can do about it, when the message names a remedy.
    pub advice: Option<crate::verdict::Advice>,
}

fn refuse(check: &'static str, message: impl Into<String>) -> Refusal {
    Refusal {
        check,
        message: message.into(),
        advice: None,
    }
}

/// What a successful submission did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Accepted {
    /// The receipts: for a bundle, the statement's; for a key event log, one per event.
    pub receipts: Vec<Envelope>,
    /// Whether the submission was already in the log (re-issued receipts, nothing appended).
    pub already: bool,
    /// Key events appended.
    pub new_events: usize,
    /// `name@version` for a bundle.
    pub release: Option<String>,
}

/// A submission: a bundle (publish) or a key event log (rotation, transfer, revocation, …).
#[derive(Clone, Debug)]
pub enum Submission {
    /// A bundle.
    Bundle(Box<Bundle>),
    /// A bundle with the content digest of the artifact submitted beside it: refused unless
    /// the statement signs exactly that content, so the registry never countersigns a bundle
    /// next to other bytes.
    Artifact {
        /// The bundle.
        bundle: Box<Bundle>,
        /// The artifact's content digest, as computed by the submitter's side.
        content: ContentDigest,
    },
    /// A key event log file's events.
    Kel(Vec<Envelope>),
}

/// Options for accepting submissions.
#[derive(Clone, Debug, Default)]
pub struct AcceptOptions {
    /// Allow names within edit distance 2 of another publisher's name, recording this reason.
    pub allow_similar: Option<String>,
}

/// An open registry.
pub struct Registry {
    dir: PathBuf,
    config: Config,
    store: SqliteStore,
    /// The tree the tiles hold (at least the published checkpoint's).
    tree: Tree,
    /// The published checkpoint, if its tree is `tree`.
    checkpoint: Option<Vec<u8>>,
    /// Collects witness cosignatures for each new checkpoint, if set.
    cosigner: Option<Box<dyn CosignatureCollector>>,
    /// What the witnesses did with the checkpoints this registry published since it was
    /// opened, latest last.
    witnessed: Vec<WitnessOutcome>,
    _lock: Option<File>,
}

fn read_config(dir: &Path) -> Result<Config, RegistryError> {
    let path = dir.join(CONFIG_FILE);
    if !fsutil::exists_no_follow(&path) {
        return Err(RegistryError::NotARegistry {
            path: dir.to_owned(),
        });
    }
    let bytes = fsutil::read_bounded(&path, 64 * 1024).map_err(|source| RegistryError::Read {
        path: path.clone(),
        source,
    })?;
    let config: Config = serde_json::from_slice(&bytes).map_err(|e| RegistryError::Format {
        path: path.clone(),
        source: FormatError::json("registry configuration", &e),
    })?;
    if config.media_type != REGISTRY_MEDIA_TYPE {
        return Err(RegistryError::Format {
            path,
            source: FormatError::MediaType {
                found: config.media_type.chars().take(100).collect(),
                expected: REGISTRY_MEDIA_TYPE,
            },
        });
    }
    Ok(config)
}

fn lock(dir: &Path) -> Result<File, RegistryError> {
    let path = dir.join(LOCK_FILE);
    let file = fsutil::open_state_file(&path, fsutil::PUBLIC_FILE_MODE).map_err(|source| {
        RegistryError::Lock {
            path: path.clone(),
            source,
        }
    })?;
    file.lock()
        .map_err(|source| RegistryError::Lock { path, source })?;
    Ok(file)
}

/// Removes what an interrupted `init` left (it writes the key event log, then the log with
/// the inception, then the configuration, which makes the directory a registry): without a
/// configuration, a log of at most the inception entry and the key event log beside it were
/// never a registry's, and `init` may start again. Anything more is refused. Runs under the
/// lock.
fn clear_interrupted_init(dir: &Path) -> Result<(), RegistryError> {
    let exists = || RegistryError::Exists {
        path: dir.to_owned(),
    };
    if fsutil::exists_no_follow(&dir.join(CONFIG_FILE)) {
        return Err(exists());
    }
    let log = dir.join(LOG_FILE);
    if fsutil::exists_no_follow(&log) && hashlog::read(&log)?.lines.len() > 1 {
        return Err(exists());
    }
    SqliteStore::remove(&dir.join(STATE_FILE)).map_err(|source| RegistryError::Dir {
        path: dir.join(STATE_FILE),
        source,
    })?;
    let tiles = dir.join("tile");
    if let Err(source) = std::fs::remove_dir_all(&tiles)
        && source.kind() != std::io::ErrorKind::NotFound
    {
        return Err(RegistryError::Dir {
            path: tiles,
            source,
        });
    }
    for leftover in [log, dir.join(KEL_FILE), dir.join(tiles::CHECKPOINT_FILE)] {
        match std::fs::remove_file(&leftover) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(source) => {
                return Err(RegistryError::Dir {
                    path: leftover,
                    source,
                });
            }
        }
    }
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| RegistryError::Dir {
            path: dir.to_owned(),
            source,
        })
}

/// The result of verifying a registry log.
#[derive(Clone, Debug)]
pub struct LogReport {
    /// The registry identity (from entry 0).
    pub identity: IdentityId,
    /// Entries.
    pub entries: u64,
    /// Digest of the last entry.
    pub head: Option<Sha256Digest>,
    /// Bytes of an interrupted append at the end, not part of the log.
    pub torn_tail: usize,
    /// Publishes, key events and yanks.
    pub counts: Counts,
}

/// Verifies a registry log completely: the chain, every entry's signature by the registry's
/// keys current at that entry, every publisher's key event log as the entries build it, and
/// every statement's signature at its position. Names the first wrong position.
pub fn verify_log(path: &Path, expected: Option<IdentityId>) -> Result<LogReport, RegistryError> {
    // A log named to be verified must exist: a missing file is not an empty log here.
    std::fs::metadata(path).map_err(|source| RegistryError::Read {
        path: path.to_owned(),
        source: source.into(),
    })?;
    let raw = hashlog::read(path)?;
    let log_err = |source| RegistryError::Log {
        path: path.to_owned(),
        source,
    };
    let empty = MemoryStore::default();
    let mut state = State::new(&empty).map_err(|source| RegistryError::State {
        path: path.to_owned(),
        dir: path.parent().unwrap_or(Path::new(".")).to_owned(),
        source,
    })?;
    let (_, head) = hashlog::verify_lines::<RegistryRecord>(&raw.lines, |checked| {
        state
            .replay(checked, true)
            .map_err(hashlog::LogErrorKind::Invalid)
    })
    .map_err(log_err)?;
    let identity = state.registry().ok_or_else(|| {
        log_err(LogError {
            at: 0,
            kind: hashlog::LogErrorKind::Invalid(
                "the log does not start with the registry's inception".to_owned(),
            ),
        })
    })?;
    if let Some(expected) = expected
        && expected != identity
    {
        return Err(log_err(LogError {
            at: 0,
            kind: hashlog::LogErrorKind::Invalid(format!(
                "the log belongs to registry {identity}, not {expected}"
            )),
        }));
    }
    Ok(LogReport {
        identity,
        entries: head.len,
        head: head.digest,
        torn_tail: raw.torn_tail,
        counts: state.counts(),
    })
}

impl Registry {
    /// Creates a registry in `dir`: an identity whose inception names `signer`'s key, commits
    /// to `next` for its first rotation and claims `namespace`; writes the configuration, the
    /// registry's key event log, and the log with the inception as entry 0.
    pub fn init<S: Ed25519Signer + Sync + ?Sized>(
        dir: &Path,
        signer: &S,
        key_reference: &str,
        next: &PublicKey,
        namespace: Namespace,
        origin: Option<String>,
        now: Timestamp,
    ) -> Result<Registry, RegistryError> {
        if let Some(origin) = &origin {
            crate::tlog::note::check_key_name(origin)
                .map_err(|e| RegistryError::Tlog(format!("origin {origin:?}: {e}")))?;
        }
        if fsutil::exists_no_follow(&dir.join(CONFIG_FILE)) {
            return Err(RegistryError::Exists {
                path: dir.to_owned(),
            });
        }
        fsutil::create_dir_all(dir, fsutil::DIR_MODE).map_err(|source| RegistryError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let lock = lock(dir)?;
        clear_interrupted_init(dir)?;
        let key = PublicKey::new(signer.verifying_key());
        let mut event = KeyEvent::new(EventKind::Inception, 0, now);
        event.keys = Some(vec![key]);
        event.threshold = Some(1);
        event.next = Some(vec![next.key_id()]);
        event.next_threshold = Some(1);
        event.namespaces = Some(vec![namespace]);
        let mut envelope = event
            .to_envelope()
            .map_err(|e| RegistryError::Inception(e.to_string()))?;
        envelope.sign(signer)?;
        let kel = Kel::verify(std::slice::from_ref(&envelope))
            .map_err(|e| RegistryError::Inception(e.to_string()))?;
        let config = Config {
            media_type: REGISTRY_MEDIA_TYPE.to_owned(),
            identity: kel.identity(),
            key: key_reference.to_owned(),
            origin,
            witnesses: Vec::new(),
        };
        let record = RegistryRecord::KeyEvent {
            identity: kel.identity(),
            sequence: 0,
            event: envelope.payload_digest(),
        };
        let entry = Head::default().next_entry(now, record);
        let mut entry_env = entry
            .to_envelope()
            .map_err(|source| RegistryError::Format {
                path: dir.join(LOG_FILE),
                source,
            })?;
        entry_env.sign(signer)?;
        let line = LogLine {
            entry: entry_env,
            attached: vec![envelope],
        };
        fsutil::write_new(
            &dir.join(KEL_FILE),
            &KelFile::from_kel(&kel).to_json(),
            0o644,
        )?;
        hashlog::append(&dir.join(LOG_FILE), &[line.to_json()])?;
        let mut config_json = serde_json::to_vec_pretty(&config).unwrap_or_default();
        config_json.push(b'\n');
        fsutil::write_new(&dir.join(CONFIG_FILE), &config_json, 0o644)?;
        // Open builds the state and tiles from what was written, exactly as for any registry;
        // the first checkpoint is signed here.
        drop(lock);
        let mut registry = Registry::open(dir)?;
        registry.publish_checkpoint(signer)?;
        Ok(registry)
    }

    /// Opens the registry in `dir`, locked for writing. Reads the state from its database,
    /// catching it up from the log's tail if an earlier run stopped between the two (or
    /// building it from the whole log if the database is missing); the log's chain is checked
    /// over what is replayed (signatures are checked by [`verify_log`]).
    pub fn open(dir: &Path) -> Result<Registry, RegistryError> {
        let config = read_config(dir)?;
        let lock = lock(dir)?;
        // Temporary files of writers killed before they renamed them.
        let _ = fsutil::remove_stale_temps(dir);
        let db = dir.join(STATE_FILE);
        let state_err = |source| RegistryError::State {
            path: db.clone(),
            dir: dir.to_owned(),
            source,
        };
        let store = SqliteStore::open(&db).map_err(state_err)?;
        let mut registry = Registry {
            dir: dir.to_owned(),
            config,
            store,
            tree: Tree::EMPTY,
            checkpoint: None,
            cosigner: None,
            witnessed: Vec::new(),
            _lock: Some(lock),
        };
        registry.catch_up()?;
        registry.catch_up_tiles()?;
        let identity = registry.store.registry().map_err(state_err)?;
        if identity != Some(registry.config.identity) {
            return Err(RegistryError::Log {
                path: dir.join(LOG_FILE),
                source: LogError {
                    at: 0,
                    kind: hashlog::LogErrorKind::Invalid(format!(
                        "the log does not start with the inception of registry {}",
                        registry.config.identity
                    )),
                },
            });
        }
        Ok(registry)
    }

    fn state_error(&self, source: StoreError) -> RegistryError {
        RegistryError::State {
            path: self.dir.join(STATE_FILE),
            dir: self.dir.clone(),
            source,
        }
    }

    /// Brings the state up to the end of the log: replays the entries after the bytes it
    /// covers. Checks that the state's head is the log's where they meet.
    fn catch_up(&mut self) -> Result<(), RegistryError> {
        let path = self.dir.join(LOG_FILE);
        let covered = self.store.log_bytes().map_err(|e| self.state_error(e))?;
        let head = self.store.head().map_err(|e| self.state_error(e))?;
        let behind = |what: String| RegistryError::State {
            path: self.dir.join(STATE_FILE),
            dir: self.dir.clone(),
            source: StoreError(what),
        };
        let (raw, end) = hashlog::read_from(&path, covered).map_err(|e| {
            behind(format!(
                "it covers {covered} bytes of {}, which cannot be read from there ({e})",
                path.display()
            ))
        })?;
        if raw.lines.is_empty() {
            // Where state and log meet, the log's last entry must be the state's head.
            if covered > 0 {
                let tail = hashlog::read_tail::<RegistryRecord>(&path)?;
                let log_head = tail.map(|t| t.head).unwrap_or_default();
                if log_head != head {
                    return Err(behind(format!(
                        "its head (entry #{}, {}) is not the log's (entry #{}, {})",
                        head.len,
                        head.digest.map_or("none".to_owned(), |d| d.to_string()),
                        log_head.len,
                        log_head.digest.map_or("none".to_owned(), |d| d.to_string())
                    )));
                }
            }
            return Ok(());
        }
        let mut state = State::new(&self.store).map_err(|e| self.state_error(e))?;
        hashlog::verify_lines_from::<RegistryRecord>(head, &raw.lines, |checked| {
            state
                .replay(checked, false)
                .map_err(hashlog::LogErrorKind::Invalid)
        })
        .map_err(|source| RegistryError::Log {
            path: path.clone(),
            source,
        })?;
        let mut changes = state.into_changes().map_err(|e| self.state_error(e))?;
        changes.place(covered, raw.lines.iter().map(|l| l.len() as u64 + 1));
        self.store
            .commit(&changes, end)
            .map_err(|e| self.state_error(e))
    }

    /// Brings the tiles up to the state's head: appends the leaves after the published
    /// checkpoint's tree (left by a run killed before its checkpoint). The checkpoint for them
    /// is signed by the next run that holds the registry's key.
    fn catch_up_tiles(&mut self) -> Result<(), RegistryError> {
        let head = self.store.head().map_err(|e| self.state_error(e))?;
        let (published, bytes) = match tiles::read_checkpoint(&self.dir)? {
            Some((tree, bytes)) => (tree, Some(bytes)),
            None => (Tree::EMPTY, None),
        };
        if published.size > head.len {
            return Err(RegistryError::Tlog(format!(
                "the checkpoint of {} names {} entries, but the log holds {}: the log was cut short or the checkpoint replaced",
                self.dir.display(),
                published.size,
                head.len
            )));
        }
        if published.size == head.len {
            self.tree = published;
            self.checkpoint = bytes;
            return Ok(());
        }
        tiles::remove_stale_tile_temps(&self.dir, published.size, head.len);
        let offset = self
            .store
            .entry(published.size)
            .map_err(|e| self.state_error(e))?
            .map_or(0, |e| e.offset);
        self.tree = tiles::append_lines(&self.dir, published, offset, head.len)?;
        self.checkpoint = None;
        Ok(())
    }

    /// Signs and publishes a checkpoint of the tiles' tree, unless the published one is it.
    fn publish_checkpoint<S: Ed25519Signer + ?Sized>(
        &mut self,
        signer: &S,
    ) -> Result<(), RegistryError> {
        if self.checkpoint.is_none() {
            let (note, outcomes) = tiles::publish(
                &self.dir,
                &self.config.origin(),
                self.tree,
                signer,
                self.cosigner.as_deref(),
            )?;
            self.checkpoint = Some(note);
            self.witnessed = outcomes;
        }
        Ok(())
    }

    /// Has every checkpoint this registry publishes from now on submitted to witnesses
    /// before it is published, with the cosignatures that verify added to it (and so to the
    /// receipts proved against it). A witness that is down or refuses does not stop
    /// publishing; [`Registry::witness_outcomes`] says which witnesses cosigned.
    pub fn set_cosigner(&mut self, cosigner: Box<dyn CosignatureCollector>) {
        self.cosigner = Some(cosigner);
    }

    /// Adds a witness to the configuration (or replaces the URL of one with the same key),
    /// written atomically to `registry.json`. Returns whether anything changed.
    pub fn add_witness(
        &mut self,
        endpoint: crate::tlog::witness::WitnessEndpoint,
    ) -> Result<bool, RegistryError> {
        let mut config = self.config.clone();
        match config
            .witnesses
            .iter_mut()
            .find(|w| w.vkey == endpoint.vkey)
        {
            Some(w) if w.url == endpoint.url => return Ok(false),
            Some(w) => w.url = endpoint.url,
            None => config.witnesses.push(endpoint),
        }
        let mut json = serde_json::to_vec_pretty(&config).unwrap_or_default();
        json.push(b'\n');
        fsutil::write_replace(&self.dir.join(CONFIG_FILE), &json, 0o644)?;
        self.config = config;
        Ok(true)
    }

    /// What the witnesses did with the last checkpoint this registry published (empty when
    /// none was published since it was opened, or no cosigner is set).
    pub fn witness_outcomes(&self) -> &[WitnessOutcome] {
        &self.witnessed
    }

    /// The tree of the registry's transparency log.
    pub fn tree(&self) -> Tree {
        self.tree
    }

    /// The published checkpoint (a signed note), if it covers the whole log.
    pub fn checkpoint(&self) -> Option<&[u8]> {
        self.checkpoint.as_deref()
    }

    /// Rebuilds the state database of the registry in `dir` from its whole log: removes it and
    /// replays every entry. Writes again every tile of the published checkpoint's tree from
    /// the log too (so a damaged tile is repaired with its exact bytes), after checking that
    /// the log's first entries hash to the checkpoint's root. Returns the number of entries.
    pub fn rebuild_state(dir: &Path) -> Result<u64, RegistryError> {
        read_config(dir)?;
        let lock = lock(dir)?;
        tiles::rebuild(dir)?;
        let db = dir.join(STATE_FILE);
        SqliteStore::remove(&db).map_err(|source| RegistryError::Dir {
            path: db.clone(),
            source,
        })?;
        drop(lock);
        let registry = Registry::open(dir)?;
        registry
            .store
            .head()
            .map(|h| h.len)
            .map_err(|e| registry.state_error(e))
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The registry's state, read through its store.
    pub fn state(&self) -> Result<State<'_>, RegistryError> {
        State::new(&self.store).map_err(|e| self.state_error(e))
    }

    /// The store holding the registry's state.
    pub fn store(&self) -> &SqliteStore {
        &self.store
    }

    /// The registry's own key event log.
    pub fn kel(&self) -> Option<Arc<Kel>> {
        self.store.kel(&self.config.identity).ok().flatten()
    }

    fn check_signer<S: Ed25519Signer + ?Sized>(&self, signer: &S) -> Result<(), RegistryError> {
        let key = PublicKey::new(signer.verifying_key()).key_id();
        let kel = self
            .store
            .kel(&self.config.identity)
            .map_err(|e| self.state_error(e))?;
        if kel.is_some_and(|k| k.current().has_key(&key)) {
            Ok(())
        } else {
            Err(RegistryError::NotRegistryKey {
                key,
                identity: self.config.identity,
            })
        }
    }

    /// Signs staged entries (in parallel), appends them to the log with one flush, then
    /// commits the state changes. Returns the log's length in bytes.
    fn write<S: Ed25519Signer + Sync + ?Sized>(
        &mut self,
        signer: &S,
        pending: Vec<(Envelope, Vec<Envelope>)>,
        changes: Changes,
    ) -> Result<(), RegistryError> {
        if pending.is_empty() {
            return self.publish_checkpoint(signer);
        }
        let signed: Vec<Result<Vec<u8>, SignError>> = pending
            .into_par_iter()
            .map(|(entry, attached)| {
                let mut envelope = entry;
                envelope.sign(signer)?;
                Ok(LogLine {
                    entry: envelope,
                    attached,
                }
                .to_json())
            })
            .collect();
        let lines = signed.into_iter().collect::<Result<Vec<_>, _>>()?;
        let end = hashlog::append_at(&self.dir.join(LOG_FILE), &lines)?;
        let written: u64 = lines.iter().map(|l| l.len() as u64 + 1).sum();
        let mut changes = changes;
        changes.place(end - written, lines.iter().map(|l| l.len() as u64 + 1));
        self.store
            .commit(&changes, end)
            .map_err(|e| self.state_error(e))?;
        self.tree = tiles::append(&self.dir, self.tree, &lines)?;
        self.checkpoint = None;
        self.publish_checkpoint(signer)
    }

    /// Checks submissions in order and accepts those that pass: appends their entries to the
    /// log with one flush, then returns one result per submission (receipts for the accepted
    /// ones). Nothing is acknowledged before the log is durable.
    pub fn accept<S: Ed25519Signer + Sync + ?Sized>(
        &mut self,
        signer: &S,
        submissions: &[Submission],
        options: &AcceptOptions,
        now: Timestamp,
    ) -> Result<Vec<Result<Accepted, Refusal>>, RegistryError> {
        self.check_signer(signer)?;
        let registry_sequence = self.kel().map_or(0, |k| k.head().event.sequence);
        let mut staged = State::new(&self.store).map_err(|e| self.state_error(e))?;
        let mut plans = Vec::with_capacity(submissions.len());
        for submission in submissions {
            let result = match submission {
                Submission::Bundle(bundle) => staged.stage_bundle(bundle, None, options, now),
                Submission::Artifact { bundle, content } => {
                    staged.stage_bundle(bundle, Some(content), options, now)
                }
                Submission::Kel(events) => staged.stage_kel(events, now),
            };
            plans.push(result);
        }
        let pending = staged.take_pending();
        // What the receipts name, read before the state is committed.
        let mut infos = HashMap::new();
        for plan in plans.iter().flatten() {
            for (index, ..) in &plan.subjects {
                if let Some(info) = staged.entry_info(*index) {
                    infos.insert(*index, info);
                }
            }
        }
        let changes = staged.into_changes().map_err(|e| self.state_error(e))?;
        self.write(signer, pending, changes)?;
        let wanted: Vec<u64> = plans
            .iter()
            .flatten()
            .flat_map(|p| p.subjects.iter().map(|s| s.0))
            .collect();
        let proofs = self.proofs(&wanted)?;
        // Receipts, deterministic from the log.
        let log = self.dir.join(LOG_FILE);
        let mut results = Vec::with_capacity(plans.len());
        for plan in plans {
            results.push(match plan {
                Ok(plan) => {
                    let receipts = plan
                        .subjects
                        .par_iter()
                        .map(|(index, subject_type, subject, identity)| {
                            Registry::issue(
                                self.config.identity,
                                &log,
                                signer,
                                *index,
                                infos.get(index).copied(),
                                proofs.get(index).cloned(),
                                *subject_type,
                                *subject,
                                *identity,
                                registry_sequence,
                            )
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    Ok(Accepted {
                        receipts,
                        already: plan.already,
                        new_events: plan.new_events,
                        release: plan.release,
                    })
                }
                Err(refusal) => Err(refusal),
            });
        }
        Ok(results)
    }

    #[allow(clippy::too_many_arguments)]
    fn issue<S: Ed25519Signer + ?Sized>(
        registry: IdentityId,
        log: &Path,
        signer: &S,
        index: u64,
        info: Option<EntryInfo>,
        tlog: Option<TlogProof>,
        subject_type: SubjectType,
        subject: Sha256Digest,
        identity: IdentityId,
        current_sequence: u64,
    ) -> Result<Envelope, RegistryError> {
        let info = info.unwrap_or(EntryInfo {
            digest: subject,
            time: Timestamp::now(),
            registry_sequence: current_sequence,
            offset: 0,
        });
        let receipt = Receipt {
            registry,
            registry_sequence: info.registry_sequence,
            subject,
            subject_type,
            identity,
            log_index: index,
            log_entry: info.digest,
            time: info.time,
            tlog,
        };
        let mut envelope = receipt
            .to_envelope()
            .map_err(|source| RegistryError::Format {
                path: log.to_owned(),
                source,
            })?;
        envelope.sign(signer)?;
        Ok(envelope)
    }

    /// The transparency-log proofs of entries: each entry's line (read from the tiles, each
    /// bundle once) and its inclusion proof against the published checkpoint. Empty when no
    /// checkpoint covers the log (a registry opened without its key since a killed run).
    fn proofs(&self, indexes: &[u64]) -> Result<HashMap<u64, TlogProof>, RegistryError> {
        let mut out = HashMap::new();
        let Some(checkpoint) = self.checkpoint.as_ref() else {
            return Ok(out);
        };
        let checkpoint = String::from_utf8_lossy(checkpoint).into_owned();
        let reader = DirTileReader::new(&self.dir);
        let mut tiles = TileHashes::new(&reader, self.tree);
        let mut bundles: HashMap<u64, Vec<Vec<u8>>> = HashMap::new();
        let fail = |e: crate::tlog::TlogError| {
            RegistryError::Tlog(format!(
                "cannot prove entries of {} from its tiles: {e}",
                self.dir.display()
            ))
        };
        for &index in indexes {
            if out.contains_key(&index) {
                continue;
            }
            let inclusion = tiles.inclusion_proof(index).map_err(fail)?;
            let bundle = index / TILE_WIDTH;
            if let std::collections::hash_map::Entry::Vacant(slot) = bundles.entry(bundle) {
                slot.insert(tiles.entries(bundle).map_err(fail)?);
            }
            let bytes = bundles
                .get(&bundle)
                .and_then(|b| b.get((index % TILE_WIDTH) as usize))
                .ok_or_else(|| {
                    RegistryError::Tlog(format!("entry #{index} is not in the tiles"))
                })?;
            let line = LogLine::from_json(bytes).map_err(|source| RegistryError::Format {
                path: self.dir.join("tile/entries"),
                source,
            })?;
            out.insert(
                index,
                TlogProof {
                    checkpoint: checkpoint.clone(),
                    inclusion: inclusion.iter().map(|h| base64_encode(h)).collect(),
                    line,
                },
            );
        }
        Ok(out)
    }

    /// The receipt for a statement the registry has accepted (re-issued from the log, with
    /// its proof against the published checkpoint, which is signed first if a run stopped
    /// before it), or `None` if the log does not record it. A release yanked since is refused
    /// (check `yanked`, naming the yank's log entry) unless `include_yanked`: a receipt proves
    /// acceptance and says nothing of a later yank.
    pub fn receipt<S: Ed25519Signer + ?Sized>(
        &mut self,
        signer: &S,
        statement: &Sha256Digest,
        include_yanked: bool,
    ) -> Result<Option<Result<Envelope, Refusal>>, RegistryError> {
        self.check_signer(signer)?;
        self.publish_checkpoint(signer)?;
        let err = |e| self.state_error(e);
        let Some(published) = self.store.published(statement).map_err(err)? else {
            return Ok(None);
        };
        let info = self.store.entry(published.index).map_err(err)?;
        let seq = self.kel().map_or(0, |k| k.head().event.sequence);
        let tlog = self.proofs(&[published.index])?.remove(&published.index);
        if !include_yanked && let Some(refusal) = self.yanked(published.index, info, statement)? {
            return Ok(Some(Err(refusal)));
        }
        Registry::issue(
            self.config.identity,
            &self.dir.join(LOG_FILE),
            signer,
            published.index,
            info,
            tlog,
            SubjectType::Statement,
            *statement,
            published.identity,
            seq,
        )
        .map(|receipt| Some(Ok(receipt)))
    }

    /// The refusal of a receipt for `statement`, published in log entry `index`, if its
    /// release was yanked since: read from the log after the publish (only for a yanked
    /// release), naming the yank's entry.
    fn yanked(
        &self,
        index: u64,
        info: Option<EntryInfo>,
        statement: &Sha256Digest,
    ) -> Result<Option<Refusal>, RegistryError> {
        let path = self.dir.join(LOG_FILE);
        let (raw, _) = hashlog::read_from(&path, info.map_or(0, |i| i.offset))?;
        let damaged = |source| RegistryError::Format {
            path: path.clone(),
            source,
        };
        let mut records = raw.lines.iter().map(|line| {
            LogLine::from_json(line)
                .and_then(|l| LogEntry::<RegistryRecord>::from_envelope(&l.entry))
                .map_err(damaged)
        });
        let Some(first) = records.next().transpose()? else {
            return Ok(None);
        };
        let RegistryRecord::Publish { name, version, .. } = first.record else {
            return Err(RegistryError::Tlog(format!(
                "the state places the publish of {statement} at log entry #{index}, which records something else; rebuild the state with `hallmark registry rebuild-state`"
            )));
        };
        let release = self
            .store
            .release(&name, &version)
            .map_err(|e| self.state_error(e))?;
        if release.and_then(|r| r.yanked).is_none() {
            return Ok(None);
        }
        for entry in records {
            let entry = entry?;
            if let RegistryRecord::Yank {
                statement: yanked,
                reason,
                ..
            } = &entry.record
                && yanked == statement
            {
                return Ok(Some(refuse(
                    "yanked",
                    format!(
                        "{name}@{version} was yanked ({reason}) in log entry #{} after it was published (log entry #{index}); a receipt proves acceptance and says nothing of the yank, so none is re-issued for a yanked release",
                        entry.index
                    ),
                )));
            }
        }
        Err(RegistryError::Tlog(format!(
            "the state records {name}@{version} as yanked, but the log holds no yank of it after entry #{index}; rebuild the state with `hallmark registry rebuild-state`"
        )))
    }

    /// Yanks a published version: appends a `yank` entry. The version stays in the log and
    /// can never be published again.
    pub fn yank<S: Ed25519Signer + Sync + ?Sized>(
        &mut self,
        signer: &S,
        name: &PackageName,
        version: &Version,
        reason: &str,
        now: Timestamp,
    ) -> Result<Result<u64, Refusal>, RegistryError> {
        self.check_signer(signer)?;
        let mut staged = State::new(&self.store).map_err(|e| self.state_error(e))?;
        let index = match staged.stage_yank(name, version, reason, now) {
            Ok(index) => index,
            Err(refusal) => {
                if let Some(e) = staged.failure() {
                    return Err(self.state_error(e));
                }
                return Ok(Err(refusal));
            }
        };
        let pending = staged.take_pending();
        let changes = staged.into_changes().map_err(|e| self.state_error(e))?;
        self.write(signer, pending, changes)?;
        Ok(Ok(index))
    }

    /// The directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// What staging a submission planned.
#[derive(Clone, Debug)]
pub(crate) struct Plan {
    subjects: Vec<(u64, SubjectType, Sha256Digest, IdentityId)>,
    already: bool,
    new_events: usize,
    release: Option<String>,
}
