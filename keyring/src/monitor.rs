//! A monitor of registries' transparency logs: it follows a registry's checkpoints, proves
//! each consistent with the last one it saw, reads every new entry from the tiles, and raises
//! an [`Alert`] for every event that touches a watched namespace.
//!
//! **Position.** A monitor's state per registry ([`FollowState`]) holds the last checkpoint
//! it verified, the registry's identity, who holds each watched namespace, and an outbox of
//! alerts not yet delivered. A poll computes the alerts of the new entries and stores them
//! with the new checkpoint in one atomic write *before* any is delivered; each delivered alert
//! is then recorded. A monitor killed at any point resumes where it stopped: it never misses
//! an alert, and repeats one only if it was killed between delivering it and recording that
//! (each alert has a stable [`Alert::id`] for a receiver to recognise it).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::encoding::{base64_encode, hex_encode};
use crate::fsutil::{self, ReadError};
use crate::hashlog::{LogEntry, LogLine};
use crate::ids::IdentityId;
use crate::kel::file::KelFile;
use crate::kel::{EventKind, Kel, KeyEvent, Reason};
use crate::registry::RegistryRecord;
use crate::registry::tiles::checkpoint_keys;
use crate::statement::Namespace;
use crate::tlog::merkle::verify_consistency;
use crate::tlog::tile::TILE_WIDTH;
use crate::tlog::{Checkpoint, Note, TileHashes, TileReader, TlogError};

/// The media type of a monitor's state file.
pub const STATE_MEDIA_TYPE: &str = "application/vnd.hallmark.monitor-state.v1+json";

/// Largest `registry.kel` a monitor fetches.
const MAX_KEL_BYTES: u64 = 16 * 1024 * 1024;

/// What an alert is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AlertKind {
    /// An identity other than the watched namespace's holder claims it (in its inception).
    NewClaim,
    /// A release in a watched namespace signed by an identity not linked to its holder.
    UnlinkedPublish,
    /// The holder of a watched namespace handed names in it to another identity.
    Transfer,
    /// The holder of a watched namespace rotated its keys because they were compromised.
    CompromisedRotation,
    /// The holder of a watched namespace revoked keys.
    Revocation,
    /// A release in a watched namespace was yanked.
    Yank,
    /// Two different events at one position of a key event log.
    KelFork,
    /// The registry signed a checkpoint inconsistent with one it signed before.
    LogFork,
}

impl AlertKind {
    /// The kind's name, as printed.
    pub fn as_str(self) -> &'static str {
        match self {
            AlertKind::NewClaim => "new-claim",
            AlertKind::UnlinkedPublish => "unlinked-publish",
            AlertKind::Transfer => "transfer",
            AlertKind::CompromisedRotation => "compromised-rotation",
            AlertKind::Revocation => "revocation",
            AlertKind::Yank => "yank",
            AlertKind::KelFork => "kel-fork",
            AlertKind::LogFork => "log-fork",
        }
    }
}

/// One alert.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Alert {
    /// A stable id: the registry's origin, the entry index and the kind.
    pub id: String,
    /// What it is about.
    pub kind: AlertKind,
    /// The registry's log origin.
    pub origin: String,
    /// The log entry that raised it (for a log fork, the size of the newer checkpoint).
    pub index: u64,
    /// The watched namespace touched (empty for a log fork).
    pub namespace: String,
    /// The identity that acted.
    pub identity: String,
    /// One line for people.
    pub message: String,
    /// For a log fork: the files holding both signed checkpoints.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub evidence: Vec<String>,
}

/// A watched namespace, and its holder if known (from a pin); otherwise the first identity
/// the log shows claiming it is taken as its holder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Watch {
    /// The namespace.
    pub namespace: Namespace,
    /// The pinned holder.
    pub holder: Option<IdentityId>,
}

/// What a monitor keeps per registry.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct FollowState {
    /// Always [`STATE_MEDIA_TYPE`].
    pub media_type: String,
    /// The registry's identity (from its key event log, first seen).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<IdentityId>,
    /// The last checkpoint verified and read up to (a signed note).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoint: Option<String>,
    /// The holder of each watched namespace, and the identities it handed names to.
    #[serde(default)]
    pub holders: BTreeMap<String, BTreeSet<IdentityId>>,
    /// The event digest at each (identity, sequence) of watched identities, as
    /// `<identity>#<sequence>`.
    #[serde(default)]
    pub events: BTreeMap<String, String>,
    /// Alerts computed but not yet delivered, in order.
    #[serde(default)]
    pub outbox: Vec<Alert>,
    /// Set when a log fork was found: the monitor stops following until an operator looks.
    #[serde(default)]
    pub forked: bool,
}

/// Why a poll failed (nothing was recorded; the next poll starts again from the same place).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MonitorError {
    /// The log could not be read, or what it served does not match its checkpoint.
    #[error("{location}: {source}")]
    Log {
        /// Where the registry is.
        location: String,
        /// What failed.
        source: TlogError,
    },
    /// The registry's key event log or checkpoint does not verify.
    #[error("{location}: {detail}")]
    Invalid {
        /// Where the registry is.
        location: String,
        /// What is wrong.
        detail: String,
    },
    /// The state could not be read or written.
    #[error("monitor state {}: {detail}", path.display())]
    State {
        /// The file.
        path: PathBuf,
        /// What failed.
        detail: String,
    },
}

/// A followed registry: where it is and its state file.
#[derive(Debug)]
pub struct Follow {
    location: String,
    path: PathBuf,
    /// The state.
    pub state: FollowState,
}

impl Follow {
    /// Opens (or starts) the state of the registry at `location` under `state_dir`.
    pub fn open(state_dir: &Path, location: &str) -> Result<Follow, MonitorError> {
        let id = hex_encode(&<sha2::Sha256 as sha2::Digest>::digest(location.as_bytes())[..8]);
        let path = state_dir.join(format!("{id}.json"));
        let err = |detail: String| MonitorError::State {
            path: path.clone(),
            detail,
        };
        fsutil::create_dir_all(state_dir, fsutil::DIR_MODE).map_err(|e| err(e.to_string()))?;
        let state = match fsutil::read_bounded(&path, 256 * 1024 * 1024) {
            Ok(bytes) => {
                let state: FollowState =
                    serde_json::from_slice(&bytes).map_err(|e| err(e.to_string()))?;
                if state.media_type != STATE_MEDIA_TYPE {
                    return Err(err(format!("media type {:?}", state.media_type)));
                }
                state
            }
            Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => FollowState {
                media_type: STATE_MEDIA_TYPE.to_owned(),
                ..FollowState::default()
            },
            Err(e) => return Err(err(e.to_string())),
        };
        Ok(Follow {
            location: location.to_owned(),
            path,
            state,
        })
    }

    /// Where the registry is.
    pub fn location(&self) -> &str {
        &self.location
    }

    /// Writes the state atomically and durably.
    pub fn save(&self) -> Result<(), MonitorError> {
        let mut bytes = serde_json::to_vec_pretty(&self.state).unwrap_or_default();
        bytes.push(b'\n');
        fsutil::write_replace(&self.path, &bytes, fsutil::PUBLIC_FILE_MODE).map_err(|e| {
            MonitorError::State {
                path: self.path.clone(),
                detail: e.to_string(),
            }
        })
    }

    /// Records that the first alert of the outbox was delivered.
    pub fn delivered(&mut self) -> Result<(), MonitorError> {
        if !self.state.outbox.is_empty() {
            self.state.outbox.remove(0);
        }
        self.save()
    }

    /// Fetches the registry's checkpoint; if it is newer, proves it consistent with the one
    /// held, reads the new entries, and stores the alerts they raise in the outbox together
    /// with the new checkpoint (one atomic write). Returns how many entries were read.
    pub fn poll<R: TileReader + ?Sized>(
        &mut self,
        reader: &R,
        watches: &[Watch],
        evidence_dir: &Path,
    ) -> Result<u64, MonitorError> {
        if self.state.forked {
            return Ok(0);
        }
        let location = self.location.clone();
        let invalid = |detail: String| MonitorError::Invalid {
            location: location.clone(),
            detail,
        };
        let log = |source: TlogError| MonitorError::Log {
            location: location.clone(),
            source,
        };
        let kel_bytes = reader
            .read(crate::registry::KEL_FILE, MAX_KEL_BYTES)
            .map_err(|e| log(e.into()))?;
        let kel = KelFile::from_json(&kel_bytes)
            .map_err(|e| e.to_string())
            .and_then(|f| Kel::verify(&f.events).map_err(|e| e.to_string()))
            .map_err(|e| invalid(format!("its key event log does not verify: {e}")))?;
        match self.state.identity {
            Some(id) if id != kel.identity() => {
                return Err(invalid(format!(
                    "it now serves the key event log of identity {}, not of {} it served before",
                    kel.identity().short(),
                    id.short()
                )));
            }
            _ => self.state.identity = Some(kel.identity()),
        }
        let note_bytes = reader
            .read("checkpoint", crate::tlog::note::MAX_NOTE_BYTES as u64)
            .map_err(|e| log(e.into()))?;
        let note = Note::parse(&note_bytes)
            .map_err(|e| invalid(format!("its checkpoint is malformed: {e}")))?;
        let checkpoint = Checkpoint::parse_body(note.text())
            .map_err(|e| invalid(format!("its checkpoint is malformed: {e}")))?;
        note.verify(&checkpoint_keys(&checkpoint.origin, kel.current()))
            .map_err(|e| invalid(format!("its checkpoint does not verify: {e}")))?;
        let new = checkpoint.tree;
        let new_text = String::from_utf8_lossy(&note_bytes).into_owned();
        let held = match &self.state.checkpoint {
            Some(text) => Some((
                Checkpoint::parse_body(
                    Note::parse(text.as_bytes())
                        .map_err(|e| invalid(e.to_string()))?
                        .text(),
                )
                .map_err(|e| invalid(e.to_string()))?
                .tree,
                text.clone(),
            )),
            None => None,
        };
        let from = held.as_ref().map_or(0, |(t, _)| t.size);
        let mut tiles = TileHashes::new(reader, new);
        if let Some((old, old_text)) = &held {
            let fork = if new.size < old.size {
                Some(format!(
                    "it serves a checkpoint of {} entries, older than the {} it signed before",
                    new.size, old.size
                ))
            } else if new.size == old.size && new.root != old.root {
                Some(format!(
                    "it signed two checkpoints of {} entries with different roots",
                    new.size
                ))
            } else if new.size > old.size {
                let proof = tiles.consistency_proof(old.size).map_err(log)?;
                verify_consistency(old.size, new.size, &proof, &old.root, &new.root)
                    .err()
                    .map(|e| {
                        format!(
                            "its checkpoint of {} entries is not consistent with the one of {} it signed before ({e})",
                            new.size, old.size
                        )
                    })
            } else {
                None
            };
            if let Some(why) = fork {
                let evidence = keep_fork(evidence_dir, &checkpoint.origin, old_text, &new_text)
                    .map_err(|detail| MonitorError::State {
                        path: evidence_dir.to_owned(),
                        detail,
                    })?;
                self.state.outbox.push(Alert {
                    id: format!("{}#{}-log-fork", checkpoint.origin, new.size),
                    kind: AlertKind::LogFork,
                    origin: checkpoint.origin.clone(),
                    index: new.size,
                    namespace: String::new(),
                    identity: kel.identity().to_string(),
                    message: format!("registry {}: {why}: a split view", checkpoint.origin),
                    evidence,
                });
                self.state.forked = true;
                self.save()?;
                return Ok(0);
            }
            if new.size == old.size {
                return Ok(0);
            }
        }
        let mut index = from;
        let mut alerts = Vec::new();
        while index < new.size {
            let entries = tiles.entries(index / TILE_WIDTH).map_err(log)?;
            for bytes in entries.iter().skip((index % TILE_WIDTH) as usize) {
                let registry = kel.identity();
                self.entry(
                    &checkpoint.origin,
                    &registry,
                    index,
                    bytes,
                    watches,
                    &mut alerts,
                )
                .map_err(|detail| invalid(format!("entry #{index}: {detail}")))?;
                index += 1;
            }
        }
        self.state.outbox.extend(alerts);
        self.state.checkpoint = Some(new_text);
        self.save()?;
        Ok(new.size - from)
    }

    /// The alerts of one entry.
    fn entry(
        &mut self,
        origin: &str,
        registry: &IdentityId,
        index: u64,
        bytes: &[u8],
        watches: &[Watch],
        alerts: &mut Vec<Alert>,
    ) -> Result<(), String> {
        let line = LogLine::from_json(bytes).map_err(|e| e.to_string())?;
        let entry =
            LogEntry::<RegistryRecord>::from_envelope(&line.entry).map_err(|e| e.to_string())?;
        let mut alert = |kind: AlertKind, namespace: &Namespace, identity: &IdentityId, what| {
            alerts.push(Alert {
                id: format!("{origin}#{index}-{}-{}", kind.as_str(), namespace.as_str()),
                kind,
                origin: origin.to_owned(),
                index,
                namespace: namespace.as_str().to_owned(),
                identity: identity.to_string(),
                message: format!(
                    "{}: {} in watched namespace {}: {what} (registry {origin}, entry #{index})",
                    kind.as_str(),
                    identity.short(),
                    namespace.as_str()
                ),
                evidence: Vec::new(),
            });
        };
        match entry.record {
            RegistryRecord::KeyEvent {
                identity,
                sequence,
                event,
            } => {
                let key = format!("{identity}#{sequence}");
                let digest = event.to_string();
                let Some(envelope) = line.attached.first() else {
                    return Err("a key event entry without its event".into());
                };
                let ev = KeyEvent::from_envelope(envelope).map_err(|e| e.to_string())?;
                let touched: Vec<&Watch> = watches
                    .iter()
                    .filter(|w| self.holds(w, &identity) || claims(&ev, w))
                    .collect();
                if let Some(seen) = self.state.events.get(&key) {
                    if *seen != digest
                        && let Some(w) = touched.first()
                    {
                        alert(
                            AlertKind::KelFork,
                            &w.namespace,
                            &identity,
                            format!("a second event at position {sequence} of its key event log"),
                        );
                    }
                    return Ok(());
                }
                if !touched.is_empty() {
                    self.state.events.insert(key, digest);
                }
                for w in touched {
                    let ns = w.namespace.as_str().to_owned();
                    match ev.kind {
                        EventKind::Inception if claims(&ev, w) => {
                            let holders = self.state.holders.entry(ns).or_default();
                            let holder = w.holder.or_else(|| holders.first().copied());
                            match holder {
                                None => {
                                    holders.insert(identity);
                                }
                                Some(h) if h == identity || holders.contains(&identity) => {}
                                Some(_) => alert(
                                    AlertKind::NewClaim,
                                    &w.namespace,
                                    &identity,
                                    "a new identity claims it".to_owned(),
                                ),
                            }
                        }
                        EventKind::Transfer => {
                            if let Some(to) = ev.to {
                                self.state.holders.entry(ns).or_default().insert(to);
                                alert(
                                    AlertKind::Transfer,
                                    &w.namespace,
                                    &identity,
                                    format!("hands names to {}", to.short()),
                                );
                            }
                        }
                        EventKind::Rotation if ev.reason == Some(Reason::Compromised) => alert(
                            AlertKind::CompromisedRotation,
                            &w.namespace,
                            &identity,
                            "rotated its keys as compromised".to_owned(),
                        ),
                        EventKind::Revocation => alert(
                            AlertKind::Revocation,
                            &w.namespace,
                            &identity,
                            "revoked keys".to_owned(),
                        ),
                        _ => {}
                    }
                }
            }
            RegistryRecord::Publish {
                identity,
                name,
                version,
                ..
            } => {
                for w in watches.iter().filter(|w| w.namespace.covers(&name)) {
                    if !self.holds(w, &identity) {
                        alert(
                            AlertKind::UnlinkedPublish,
                            &w.namespace,
                            &identity,
                            format!(
                                "published {}@{} without a link to the namespace's holder",
                                name.as_str(),
                                version.as_str()
                            ),
                        );
                    }
                }
            }
            RegistryRecord::Yank {
                name,
                version,
                reason,
                ..
            } => {
                for w in watches.iter().filter(|w| w.namespace.covers(&name)) {
                    alert(
                        AlertKind::Yank,
                        &w.namespace,
                        registry,
                        format!(
                            "{}@{} yanked: {}",
                            name.as_str(),
                            version.as_str(),
                            reason.chars().take(200).collect::<String>()
                        ),
                    );
                }
            }
        }
        Ok(())
    }

    /// Whether `identity` holds the watched namespace (pinned, first claimant, or handed it).
    fn holds(&self, w: &Watch, identity: &IdentityId) -> bool {
        w.holder == Some(*identity)
            || self
                .state
                .holders
                .get(w.namespace.as_str())
                .is_some_and(|h| h.contains(identity))
    }
}

/// Whether an inception claims a namespace overlapping the watched one.
fn claims(ev: &KeyEvent, w: &Watch) -> bool {
    ev.kind == EventKind::Inception
        && ev.namespaces.as_ref().is_some_and(|nss| {
            nss.iter()
                .any(|n| n.contains(&w.namespace) || w.namespace.contains(n))
        })
}

/// Keeps two inconsistent signed checkpoints of `origin`; returns the two files.
fn keep_fork(dir: &Path, origin: &str, held: &str, new: &str) -> Result<Vec<String>, String> {
    fsutil::create_dir_all(dir, fsutil::DIR_MODE).map_err(|e| e.to_string())?;
    let stem = hex_encode(&<sha2::Sha256 as sha2::Digest>::digest(origin.as_bytes())[..8]);
    let tag = |text: &str| {
        base64_encode(&<sha2::Sha256 as sha2::Digest>::digest(text.as_bytes())[..6])
            .replace(['/', '+'], "_")
    };
    let mut files = Vec::new();
    for (which, text) in [("held", held), ("served", new)] {
        let path = dir.join(format!("{stem}-{}-{which}.checkpoint", tag(new)));
        fsutil::write_replace(&path, text.as_bytes(), fsutil::PUBLIC_FILE_MODE)
            .map_err(|e| e.to_string())?;
        files.push(path.display().to_string());
    }
    Ok(files)
}
