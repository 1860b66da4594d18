//! A C2SP tlog-witness: it cosigns a log's checkpoint only when it is a consistent extension
//! of the last one it cosigned for that log, and keeps that checkpoint durably before it
//! answers.
//!
//! This module is the protocol without the transport: [`AddCheckpoint::parse`] reads an
//! `add-checkpoint` request body, and [`Witness::add_checkpoint`] decides it, answering with
//! cosignature lines or a [`Refusal`] that carries the spec's HTTP status. The HTTP server
//! lives with the command (`hallmark witness`).
//!
//! **State.** Under its state directory a witness keeps, per log, the signed checkpoint it
//! last cosigned (`logs/<id>.checkpoint`, where `<id>` is the first 16 hex digits of the
//! SHA-256 of the origin), and under `evidence/<id>/` every validly signed checkpoint it
//! refused as a fork, an inconsistent extension or a rollback, beside the checkpoint it had
//! cosigned. Checking a request against the stored checkpoint and storing the new one happen
//! under one lock, and the new checkpoint is written atomically and flushed before the
//! cosignature is returned; a process holds the state directory's lock file for its whole
//! life, so two witnesses never share one state.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use sha2::{Digest, Sha256};

use super::checkpoint::{Checkpoint, CheckpointError};
use super::cosignature;
use super::merkle::{self, EMPTY_ROOT, Hash};
use super::note::{
    KeyType, MAX_NOTE_BYTES, Note, NoteError, NoteSignature, VerifierKey, check_key_name,
};
use super::store::Tree;
use crate::encoding::{base64_decode_array, hex_encode};
use crate::envelope::Ed25519Signer;
use crate::fsutil;
use crate::key::PublicKey;

/// The most consistency-proof lines a request may carry (the spec's limit).
pub const MAX_PROOF_LINES: usize = 63;

/// The largest `add-checkpoint` request body: the old-size line, 63 proof lines, the blank
/// line and the largest note.
pub const MAX_REQUEST_BYTES: usize = 32 + MAX_PROOF_LINES * 45 + 1 + MAX_NOTE_BYTES;

/// The media type of a 409 answer's body: the size the witness last cosigned.
pub const SIZE_MEDIA_TYPE: &str = "text/x.tlog.size";

/// The state directory's lock file.
pub const LOCK_FILE: &str = "lock";

/// A parsed `add-checkpoint` request: the size the client believes the witness last
/// cosigned, a consistency proof from it, and the signed checkpoint (not yet verified).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AddCheckpoint {
    /// The old size.
    pub old: u64,
    /// The consistency proof from `old` to the checkpoint's size.
    pub proof: Vec<Hash>,
    /// The signed checkpoint's note (its signatures are not verified yet).
    pub note: Note,
    /// The checkpoint in the note.
    pub checkpoint: Checkpoint,
}

/// Why an `add-checkpoint` request body is malformed (HTTP 400).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// Larger than [`MAX_REQUEST_BYTES`].
    #[error("the request is {len} bytes, more than the {MAX_REQUEST_BYTES} allowed")]
    TooLarge {
        /// Its size.
        len: usize,
    },
    /// The first line is not `old <decimal size>`.
    #[error("the first line must be `old <size>` in decimal without leading zeros")]
    OldLine,
    /// A proof line is not base64 of a 32-byte hash.
    #[error("consistency proof line {line} is not canonical base64 of a 32-byte hash")]
    ProofLine {
        /// 1-based line number among the proof lines.
        line: usize,
    },
    /// More than [`MAX_PROOF_LINES`] proof lines.
    #[error("the consistency proof has more than {MAX_PROOF_LINES} lines")]
    TooManyProofLines,
    /// No blank line before the checkpoint.
    #[error("no blank line separates the consistency proof from the checkpoint")]
    NoCheckpoint,
    /// The checkpoint is not a well-formed signed note holding a checkpoint body.
    #[error("the checkpoint is malformed: {0}")]
    Checkpoint(CheckpointError),
}

/// Parses a decimal size without sign or leading zeros.
fn parse_size(text: &str) -> Option<u64> {
    let ok = !text.is_empty()
        && text.len() <= 20
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    if ok { text.parse().ok() } else { None }
}

impl AddCheckpoint {
    /// Parses a request body strictly: `old <size>\n`, at most 63 lines of base64 hashes,
    /// a blank line, then a signed note whose text is a checkpoint.
    pub fn parse(body: &[u8]) -> Result<AddCheckpoint, RequestError> {
        if body.len() > MAX_REQUEST_BYTES {
            return Err(RequestError::TooLarge { len: body.len() });
        }
        let (first, mut rest) = split_line(body).ok_or(RequestError::OldLine)?;
        let old = std::str::from_utf8(first)
            .ok()
            .and_then(|l| l.strip_prefix("old "))
            .and_then(parse_size)
            .ok_or(RequestError::OldLine)?;
        let mut proof = Vec::new();
        loop {
            let (line, tail) = split_line(rest).ok_or(RequestError::NoCheckpoint)?;
            rest = tail;
            if line.is_empty() {
                break;
            }
            if proof.len() == MAX_PROOF_LINES {
                return Err(RequestError::TooManyProofLines);
            }
            let hash = std::str::from_utf8(line)
                .ok()
                .and_then(|l| base64_decode_array::<32>("consistency proof hash", l).ok())
                .ok_or(RequestError::ProofLine {
                    line: proof.len() + 1,
                })?;
            proof.push(hash);
        }
        let note = Note::parse(rest).map_err(|e| RequestError::Checkpoint(e.into()))?;
        let checkpoint = Checkpoint::parse_body(note.text()).map_err(RequestError::Checkpoint)?;
        Ok(AddCheckpoint {
            old,
            proof,
            note,
            checkpoint,
        })
    }

    /// The request body: the exact inverse of [`AddCheckpoint::parse`].
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = format!("old {}\n", self.old).into_bytes();
        for hash in &self.proof {
            out.extend_from_slice(crate::encoding::base64_encode(hash).as_bytes());
            out.push(b'\n');
        }
        out.push(b'\n');
        out.extend_from_slice(&self.note.to_bytes());
        out
    }
}

/// The first line of `bytes` (without its newline) and what follows it.
fn split_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let at = bytes.iter().position(|&b| b == b'\n')?;
    Some((&bytes[..at], &bytes[at + 1..]))
}

/// Why a witness did not cosign, with the HTTP status the spec gives it.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The request body is malformed (400).
    #[error(transparent)]
    Malformed(#[from] RequestError),
    /// The old size is larger than the checkpoint's (400).
    #[error("the old size {old} is larger than the checkpoint's size {size}")]
    OldLargerThanNew {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
    },
    /// The witness does not follow this log (404).
    #[error("this witness does not follow the log {origin:?}")]
    UnknownOrigin {
        /// The checkpoint's origin.
        origin: String,
    },
    /// No signature by the log's key verifies (403).
    #[error("the checkpoint is not signed by the log's key: {0}")]
    NotSigned(NoteError),
    /// The old size is not the size last cosigned (409); `size` is that size.
    #[error("the old size {old} is not {size}, the size this witness last cosigned")]
    Conflict {
        /// The old size in the request.
        old: u64,
        /// The size last cosigned.
        size: u64,
    },
    /// A checkpoint of the size last cosigned with another root: a fork (409, kept as
    /// evidence).
    #[error(
        "the log signed two checkpoints of size {size} with different roots: a fork, kept as \
         evidence in {}",
        evidence.display()
    )]
    Fork {
        /// The size of both.
        size: u64,
        /// The evidence file.
        evidence: PathBuf,
    },
    /// The consistency proof does not verify (422, kept as evidence).
    #[error(
        "the consistency proof from size {old} to {size} does not verify ({reason}); kept as \
         evidence in {}",
        evidence.display()
    )]
    Inconsistent {
        /// The old size.
        old: u64,
        /// The checkpoint's size.
        size: u64,
        /// Why the proof failed.
        reason: merkle::ProofError,
        /// The evidence file.
        evidence: PathBuf,
    },
    /// The witness failed (500): its state could not be read or written, or its key could
    /// not sign. Nothing was cosigned.
    #[error("the witness failed: {0}")]
    Internal(String),
}

impl Refusal {
    /// The HTTP status code of this refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::Malformed(_) | Refusal::OldLargerThanNew { .. } => 400,
            Refusal::NotSigned(_) => 403,
            Refusal::UnknownOrigin { .. } => 404,
            Refusal::Conflict { .. } | Refusal::Fork { .. } => 409,
            Refusal::Inconsistent { .. } => 422,
            Refusal::Internal(_) => 500,
        }
    }

    /// For a 409, the size the witness last cosigned: the body of the answer, in the
    /// `text/x.tlog.size` media type.
    pub fn conflict_size(&self) -> Option<u64> {
        match self {
            Refusal::Conflict { size, .. } | Refusal::Fork { size, .. } => Some(*size),
            _ => None,
        }
    }
}

/// Why a witness could not be opened.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WitnessError {
    /// The witness's name is not a valid key name.
    #[error(transparent)]
    Name(#[from] NoteError),
    /// A log key is not an Ed25519 note key, or two logs have one origin.
    #[error("log key {key}: {detail}")]
    LogKey {
        /// The key.
        key: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// The state directory could not be created or locked.
    #[error("cannot use the state directory {}: {source}", path.display())]
    State {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// Another process holds the state directory.
    #[error("another witness is running on the state directory {}", path.display())]
    Busy {
        /// The directory.
        path: PathBuf,
    },
    /// A stored checkpoint does not open under its log's key.
    #[error(
        "the stored checkpoint {} does not verify under the log's key: {source}",
        path.display()
    )]
    Stored {
        /// The file.
        path: PathBuf,
        /// Why.
        source: CheckpointError,
    },
}

/// A witness: a name, a key that cosigns, the logs it follows and its durable state.
pub struct Witness {
    name: String,
    vkey: VerifierKey,
    logs: HashMap<String, VerifierKey>,
    state: PathBuf,
    /// The signer, under the lock that makes check-and-persist atomic. The lock file of the
    /// state directory is held as long as the witness lives.
    inner: Mutex<Inner>,
}

struct Inner {
    signer: Box<dyn Ed25519Signer + Send>,
    _lock: File,
}

impl std::fmt::Debug for Witness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Witness")
            .field("name", &self.name)
            .field("key", &self.vkey.to_string())
            .field("logs", &self.logs.keys().collect::<Vec<_>>())
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

/// The checkpoint a witness last cosigned for a log (size 0 and the empty root if none).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LogState {
    /// The tree last cosigned.
    pub tree: Tree,
    /// Its signed note as it was submitted, if any.
    pub note: Option<Vec<u8>>,
}

/// A successful `add-checkpoint`: the cosignature lines to answer with (HTTP 200).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Cosigned {
    /// The tree now recorded as last cosigned.
    pub tree: Tree,
    /// The response body: note signature lines, each ending in a newline.
    pub lines: String,
}

/// The file name stem of a log's state: the first 16 hex digits of SHA-256 of its origin.
pub fn log_id(origin: &str) -> String {
    hex_encode(&Sha256::digest(origin.as_bytes())[..8])
}

impl Witness {
    /// Opens a witness named `name` cosigning with `signer`, following the logs whose
    /// checkpoint keys are `logs` (each key's name is the log's origin), with its state
    /// under `state` (created if missing). Takes the state directory's lock for the
    /// witness's lifetime and checks every stored checkpoint under its log's key.
    pub fn open(
        name: &str,
        signer: Box<dyn Ed25519Signer + Send>,
        logs: &[VerifierKey],
        state: &Path,
    ) -> Result<Witness, WitnessError> {
        check_key_name(name)?;
        let mut by_origin = HashMap::new();
        for key in logs {
            if key.kind() != KeyType::Ed25519 {
                return Err(WitnessError::LogKey {
                    key: key.to_string(),
                    detail: "a log's checkpoint key is an Ed25519 note key (type 0x01)",
                });
            }
            if by_origin
                .insert(key.name().to_owned(), key.clone())
                .is_some()
            {
                return Err(WitnessError::LogKey {
                    key: key.to_string(),
                    detail: "another key is configured for the same origin",
                });
            }
        }
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| WitnessError::State { path, source }
        };
        for dir in [state.to_owned(), state.join("logs"), state.join("evidence")] {
            fsutil::create_dir_all(&dir, fsutil::DIR_MODE).map_err(io(&dir))?;
        }
        let lock_path = state.join(LOCK_FILE);
        let lock = fsutil::open_state_file(&lock_path, fsutil::PUBLIC_FILE_MODE)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(WitnessError::Busy {
                    path: state.to_owned(),
                });
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(io(&lock_path)(e)),
        }
        let vkey = VerifierKey::new(
            name,
            KeyType::Cosignature,
            PublicKey::new(signer.verifying_key()),
        )?;
        let witness = Witness {
            name: name.to_owned(),
            vkey,
            logs: by_origin,
            state: state.to_owned(),
            inner: Mutex::new(Inner {
                signer,
                _lock: lock,
            }),
        };
        for origin in witness.logs.keys() {
            witness.state_of(origin)?;
        }
        Ok(witness)
    }

    /// The witness's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The witness's cosignature verifier key (`<name>+<key id>+<base64(0x04 || key)>`),
    /// which logs and consumers configure.
    pub fn verifier_key(&self) -> &VerifierKey {
        &self.vkey
    }

    /// The origins of the logs this witness follows, sorted.
    pub fn origins(&self) -> Vec<&str> {
        let mut v: Vec<&str> = self.logs.keys().map(String::as_str).collect();
        v.sort_unstable();
        v
    }

    fn log_path(&self, origin: &str) -> PathBuf {
        self.state
            .join("logs")
            .join(format!("{}.checkpoint", log_id(origin)))
    }

    /// The checkpoint last cosigned for `origin` (a followed log), read from the state.
    pub fn state_of(&self, origin: &str) -> Result<LogState, WitnessError> {
        let path = self.log_path(origin);
        let Some(key) = self.logs.get(origin) else {
            return Ok(LogState {
                tree: Tree::EMPTY,
                note: None,
            });
        };
        match fsutil::read_bounded_with(&path, MAX_NOTE_BYTES as u64, fsutil::Follow::No) {
            Ok(bytes) => {
                let opened =
                    Checkpoint::open(&bytes, key).map_err(|source| WitnessError::Stored {
                        path: path.clone(),
                        source,
                    })?;
                Ok(LogState {
                    tree: opened.checkpoint.tree,
                    note: Some(bytes),
                })
            }
            Err(fsutil::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
                Ok(LogState {
                    tree: Tree::EMPTY,
                    note: None,
                })
            }
            Err(e) => Err(WitnessError::State {
                path,
                source: e.into(),
            }),
        }
    }

    /// Decides an `add-checkpoint` request body at the current time.
    pub fn add_checkpoint(&self, body: &[u8]) -> Result<Cosigned, Refusal> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        self.add_checkpoint_at(body, now)
    }

    /// Decides an `add-checkpoint` request body, cosigning at `timestamp` (seconds since the
    /// Unix epoch), in the order the spec gives: origin (404), log signature (403), sizes
    /// (400), the size last cosigned (409), equal sizes with other roots (409, a fork),
    /// the consistency proof (422). A cosigned checkpoint is stored durably before the
    /// cosignature is returned.
    pub fn add_checkpoint_at(&self, body: &[u8], timestamp: u64) -> Result<Cosigned, Refusal> {
        let request = AddCheckpoint::parse(body)?;
        let origin = request.checkpoint.origin.clone();
        let key = self
            .logs
            .get(&origin)
            .ok_or_else(|| Refusal::UnknownOrigin {
                origin: origin.clone(),
            })?;
        request
            .note
            .verify(std::slice::from_ref(key))
            .map_err(Refusal::NotSigned)?;
        let new = request.checkpoint.tree;
        if request.old > new.size {
            return Err(Refusal::OldLargerThanNew {
                old: request.old,
                size: new.size,
            });
        }
        // One request at a time from here: the check and the write are one step.
        let inner = self
            .inner
            .lock()
            .map_err(|_| Refusal::Internal("an earlier request failed mid-way".into()))?;
        let stored = self
            .state_of(&origin)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        if new.size < stored.tree.size {
            // A validly signed checkpoint smaller than the one cosigned: kept, as a rollback
            // may be the other side of a fork.
            self.keep_evidence("rollback", &origin, &stored, body)?;
        }
        if request.old != stored.tree.size {
            return Err(Refusal::Conflict {
                old: request.old,
                size: stored.tree.size,
            });
        }
        if new.size > 0 && new.size == stored.tree.size && new.root != stored.tree.root {
            let evidence = self.keep_evidence("fork", &origin, &stored, body)?;
            return Err(Refusal::Fork {
                size: new.size,
                evidence,
            });
        }
        let consistent = if new.size == 0 && new.root != EMPTY_ROOT {
            Err(merkle::ProofError::RootMismatch)
        } else {
            merkle::verify_consistency(
                request.old,
                new.size,
                &request.proof,
                &stored.tree.root,
                &new.root,
            )
        };
        if let Err(reason) = consistent {
            let evidence = self.keep_evidence("inconsistent", &origin, &stored, body)?;
            return Err(Refusal::Inconsistent {
                old: request.old,
                size: new.size,
                reason,
                evidence,
            });
        }
        let line = cosignature::cosign(
            &request.checkpoint,
            &self.name,
            timestamp,
            inner.signer.as_ref(),
        )
        .map_err(|e| Refusal::Internal(format!("the witness key could not sign: {e}")))?;
        let path = self.log_path(&origin);
        fsutil::write_replace(&path, &request.note.to_bytes(), fsutil::PUBLIC_FILE_MODE)
            .map_err(|e| Refusal::Internal(e.to_string()))?;
        drop(inner);
        Ok(Cosigned {
            tree: new,
            lines: line.line(),
        })
    }

    /// Keeps a refused, validly signed checkpoint beside the one cosigned, named by its kind
    /// and content (so a replay adds nothing).
    fn keep_evidence(
        &self,
        kind: &str,
        origin: &str,
        stored: &LogState,
        request: &[u8],
    ) -> Result<PathBuf, Refusal> {
        let mut text = format!(
            "hallmark witness evidence v1\nkind: {kind}\norigin: {origin}\n\
             --- the checkpoint this witness cosigned last\n"
        )
        .into_bytes();
        text.extend_from_slice(stored.note.as_deref().unwrap_or(b"(none: size 0)\n"));
        text.extend_from_slice(b"--- the add-checkpoint request it refused\n");
        text.extend_from_slice(request);
        let dir = self.state.join("evidence").join(log_id(origin));
        let internal = |e: &dyn std::fmt::Display| Refusal::Internal(e.to_string());
        fsutil::create_dir_all(&dir, fsutil::DIR_MODE).map_err(|e| internal(&e))?;
        let path = dir.join(format!(
            "{kind}-{}.txt",
            hex_encode(&Sha256::digest(&text)[..8])
        ));
        match fsutil::write_new(&path, &text, fsutil::PUBLIC_FILE_MODE) {
            Ok(()) | Err(fsutil::WriteError::Exists { .. }) => Ok(path),
            Err(e) => Err(internal(&e)),
        }
    }
}

/// A witness a log submits its checkpoints to: its cosignature verifier key and the URL
/// prefix of its `add-checkpoint` endpoint.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct WitnessEndpoint {
    /// The witness's cosignature verifier key (`<name>+<key id>+<base64(0x04 || key)>`).
    pub vkey: String,
    /// The submission prefix: the request goes to `<url>/add-checkpoint`.
    pub url: String,
}

/// What one witness did with a checkpoint submitted to it.
#[derive(Debug)]
pub struct WitnessOutcome {
    /// The witness's name.
    pub name: String,
    /// Its cosignature, verified under its key, or why there is none.
    pub result: Result<NoteSignature, CollectError>,
}

/// Why a witness's cosignature of a checkpoint was not collected. The log publishes without
/// it; the message says which witness side failed and how.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CollectError {
    /// The checkpoint to submit does not parse.
    #[error("the checkpoint is malformed: {0}")]
    MalformedCheckpoint(CheckpointError),
    /// The log could not compute the consistency proof from the witness's size.
    #[error("no consistency proof from size {old}: {source}")]
    Proof {
        /// The size the witness last cosigned.
        old: u64,
        /// Why the log's tiles could not give it.
        source: super::store::TlogError,
    },
    /// The request did not reach the witness, or its answer could not be read.
    #[error("{endpoint}: {detail}")]
    Transport {
        /// The endpoint submitted to.
        endpoint: String,
        /// What the HTTP client reported.
        detail: String,
    },
    /// A 409 answer whose body is not a size.
    #[error("{endpoint}: answered 409 with a malformed size {answer:?}")]
    MalformedSize {
        /// The endpoint submitted to.
        endpoint: String,
        /// The body it answered.
        answer: String,
    },
    /// The witness has cosigned a larger tree than the one submitted.
    #[error(
        "it has cosigned a larger tree ({theirs} entries) than this checkpoint ({size}): this \
         registry's log was cut short, or the witness saw another history"
    )]
    LargerTree {
        /// The size the witness last cosigned.
        theirs: u64,
        /// The size of the checkpoint submitted.
        size: u64,
    },
    /// The witness refused with an HTTP status.
    #[error("{endpoint}: HTTP {status}: {first_line}")]
    Status {
        /// The endpoint submitted to.
        endpoint: String,
        /// The HTTP status.
        status: u16,
        /// The first line of its answer (at most 300 characters).
        first_line: String,
    },
    /// The witness answered 409 on the retry too.
    #[error("{endpoint}: answered 409 twice; it is moving under this registry")]
    Moving {
        /// The endpoint submitted to.
        endpoint: String,
    },
    /// The answer is not note signature lines.
    #[error("the answer is not signature lines: {0}")]
    NotSignatureLines(NoteError),
    /// The answer's cosignature does not verify under the witness's key.
    #[error("its answer is not a valid cosignature: {0}")]
    BadCosignature(NoteError),
    /// The answer holds no line by the witness's key.
    #[error("its answer holds no cosignature by its key")]
    NoCosignature,
    /// Submitting to the witness stopped without an answer.
    #[error("submitting to it failed")]
    Failed,
}

/// Collects witness cosignatures for a checkpoint a log just signed: the log's side of
/// c2sp.org/tlog-witness. An implementation submits the checkpoint to each witness with a
/// consistency proof from the size the witness last cosigned (`proof(old)` computes it from
/// the log's tiles), verifies each cosignature under the witness's key, and returns one
/// outcome per witness. A witness that is down or refuses yields an error outcome; it never
/// stops the log from publishing.
pub trait CosignatureCollector: Send + Sync {
    /// Submits `note` (the signed checkpoint) to every witness. `previous` is the size of the
    /// log's previous checkpoint, the likeliest size a witness last cosigned.
    fn collect(
        &self,
        note: &Note,
        previous: u64,
        proof: &(dyn Fn(u64) -> Result<Vec<Hash>, super::store::TlogError> + Sync),
    ) -> Vec<WitnessOutcome>;
}

/// A consumer's witness policy: at least `threshold` of these witnesses must have cosigned a
/// checkpoint for it to count.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WitnessPolicy {
    /// How many distinct witnesses must have cosigned.
    pub threshold: usize,
    /// The witnesses' cosignature verifier keys.
    pub witnesses: Vec<VerifierKey>,
}

/// Why a checkpoint does not meet a witness policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The policy cannot be met: no witnesses, a threshold of 0, or more than the witnesses.
    #[error("the witness policy {policy} cannot be met: {detail}")]
    Invalid {
        /// The policy, described.
        policy: String,
        /// What is wrong.
        detail: &'static str,
    },
    /// Too few valid cosignatures.
    #[error(
        "the checkpoint is cosigned by {} of the witnesses the policy names ({}), and the \
         witness policy {policy} requires {needed}",
        signed.len(),
        if signed.is_empty() { "none".to_owned() } else { signed.join(", ") }
    )]
    NotMet {
        /// The policy, described.
        policy: String,
        /// The threshold.
        needed: usize,
        /// The witnesses whose cosignatures verified.
        signed: Vec<String>,
    },
    /// A cosignature by a witness of the policy does not verify.
    #[error("the cosignature by witness {name} does not verify (witness policy {policy})")]
    BadCosignature {
        /// The policy, described.
        policy: String,
        /// The witness.
        name: String,
    },
}

impl WitnessPolicy {
    /// A short description naming the policy: `2 of [w1, w2, w3]`.
    pub fn describe(&self) -> String {
        let names: Vec<&str> = self.witnesses.iter().map(VerifierKey::name).collect();
        format!("{} of [{}]", self.threshold, names.join(", "))
    }

    /// Checks that at least `threshold` distinct witnesses of the policy cosigned `note`
    /// (cosignature v1 under their keys); returns their names. Signatures by other keys are
    /// ignored; a witness counts once however many lines it has; a line by a witness of the
    /// policy that does not verify refuses the checkpoint.
    pub fn check(&self, note: &Note) -> Result<Vec<String>, PolicyError> {
        let policy = self.describe();
        let mut distinct: Vec<&VerifierKey> = Vec::new();
        for key in &self.witnesses {
            if !distinct
                .iter()
                .any(|k| k.name() == key.name() && k.key_id() == key.key_id())
            {
                distinct.push(key);
            }
        }
        if distinct.is_empty() || self.threshold == 0 || self.threshold > distinct.len() {
            return Err(PolicyError::Invalid {
                policy,
                detail: "the threshold must be between 1 and the number of distinct witnesses",
            });
        }
        if distinct.iter().any(|k| k.kind() != KeyType::Cosignature) {
            return Err(PolicyError::Invalid {
                policy,
                detail: "a witness key must be a cosignature key (type 0x04)",
            });
        }
        let keys: Vec<VerifierKey> = distinct.into_iter().cloned().collect();
        let signed = match note.verify(&keys) {
            Ok(verified) => {
                let mut names: Vec<String> = verified.into_iter().map(|v| v.name).collect();
                names.sort();
                names.dedup();
                names
            }
            Err(NoteError::NoKnownSignature { .. }) => Vec::new(),
            Err(NoteError::BadSignature { name, .. }) => {
                return Err(PolicyError::BadCosignature { policy, name });
            }
            Err(_) => Vec::new(),
        };
        if signed.len() < self.threshold {
            return Err(PolicyError::NotMet {
                policy,
                needed: self.threshold,
                signed,
            });
        }
        Ok(signed)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::tlog::merkle::MemoryTree;
    use ed25519_dalek::SigningKey;

    const ORIGIN: &str = "example.org/hallmark-log";
    const NAME: &str = "witness.example/w1";

    fn log_key() -> SigningKey {
        SigningKey::from_bytes(&std::array::from_fn(|i| i as u8))
    }

    fn log_vkey() -> VerifierKey {
        VerifierKey::new(
            ORIGIN,
            KeyType::Ed25519,
            PublicKey::new(log_key().verifying_key()),
        )
        .unwrap()
    }

    fn tree(n: u64) -> MemoryTree {
        let mut t = MemoryTree::new();
        for i in 0..n {
            t.push(format!("entry {i}").as_bytes());
        }
        t
    }

    fn signed(origin: &str, tree: Tree, key: &SigningKey) -> Note {
        let mut note = Note::new(
            Checkpoint {
                origin: origin.into(),
                tree,
                extensions: vec![],
            }
            .body(),
        )
        .unwrap();
        note.sign(origin, key).unwrap();
        note
    }

    /// A request moving `full` from `old` leaves to `new` leaves.
    fn request(full: &mut MemoryTree, old: u64, new: u64) -> Vec<u8> {
        let root = full.root(new).unwrap();
        AddCheckpoint {
            old,
            proof: merkle::consistency_proof(full, old, new).unwrap(),
            note: signed(ORIGIN, Tree { size: new, root }, &log_key()),
            checkpoint: Checkpoint::new(ORIGIN, Tree { size: new, root }).unwrap(),
        }
        .to_bytes()
    }

    fn witness(dir: &Path) -> Witness {
        Witness::open(
            NAME,
            Box::new(SigningKey::from_bytes(&[7; 32])),
            &[log_vkey()],
            dir,
        )
        .unwrap()
    }

    fn evidence_files(dir: &Path) -> Vec<String> {
        let d = dir.join("evidence").join(log_id(ORIGIN));
        let mut names: Vec<String> = match std::fs::read_dir(&d) {
            Ok(rd) => rd
                .map(|e| e.unwrap().file_name().into_string().unwrap())
                .collect(),
            Err(_) => vec![],
        };
        names.sort();
        names
    }

    #[test]
    fn requests_parse_strictly_and_round_trip() {
        let mut t = tree(20);
        let body = request(&mut t, 7, 20);
        let parsed = AddCheckpoint::parse(&body).unwrap();
        assert_eq!(parsed.old, 7);
        assert_eq!(
            parsed.proof.len(),
            merkle::consistency_proof_len(7, 20).unwrap()
        );
        assert_eq!(parsed.to_bytes(), body);
        let cp = String::from_utf8(signed(ORIGIN, Tree::EMPTY, &log_key()).to_bytes()).unwrap();
        let hash = "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n";
        for (text, expected) in [
            (format!("old 01\n\n{cp}"), RequestError::OldLine),
            (format!("old -1\n\n{cp}"), RequestError::OldLine),
            (format!("Old 1\n\n{cp}"), RequestError::OldLine),
            ("old 1".to_owned(), RequestError::OldLine),
            (
                format!("old 1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n\n{cp}"),
                RequestError::ProofLine { line: 1 },
            ),
            (
                format!("old 1\n{hash}AAAA\n\n{cp}"),
                RequestError::ProofLine { line: 2 },
            ),
            (format!("old 1\n{hash}"), RequestError::NoCheckpoint),
            (
                format!("old 1\n{}\n{cp}", hash.repeat(64)),
                RequestError::TooManyProofLines,
            ),
        ] {
            assert_eq!(
                AddCheckpoint::parse(text.as_bytes()),
                Err(expected),
                "{text:?}"
            );
        }
        assert!(
            AddCheckpoint::parse(format!("old 1\n{}\n{cp}", hash.repeat(63)).as_bytes()).is_ok()
        );
        assert!(matches!(
            AddCheckpoint::parse(b"old 0\n\nnot a note\n"),
            Err(RequestError::Checkpoint(_))
        ));
        assert!(matches!(
            AddCheckpoint::parse(&vec![b'\n'; MAX_REQUEST_BYTES + 1]),
            Err(RequestError::TooLarge { .. })
        ));
    }

    #[test]
    fn cosigns_consistent_extensions_and_answers_every_refusal_with_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let mut t = tree(300);

        // First contact: old 0, no proof.
        let first = w
            .add_checkpoint_at(&request(&mut t, 0, 10), 1_700_000_000)
            .unwrap();
        assert_eq!(first.tree.size, 10);
        // The answer appended to the checkpoint verifies under the witness's key.
        let mut note = signed(ORIGIN, first.tree, &log_key()).to_bytes();
        note.extend_from_slice(first.lines.as_bytes());
        let opened = Checkpoint::open(&note, &log_vkey()).unwrap();
        let got = opened.cosignatures(&[w.verifier_key().clone()]).unwrap();
        assert_eq!(got[0].timestamp, Some(1_700_000_000));
        assert_eq!(w.state_of(ORIGIN).unwrap().tree, first.tree);

        // A consistent extension.
        assert_eq!(
            w.add_checkpoint_at(&request(&mut t, 10, 257), 1)
                .unwrap()
                .tree
                .size,
            257
        );
        // The same checkpoint again is cosigned again.
        assert_eq!(
            w.add_checkpoint_at(&request(&mut t, 257, 257), 2)
                .unwrap()
                .tree
                .size,
            257
        );

        // A client behind: 409 with the size last cosigned.
        let stale = w
            .add_checkpoint_at(&request(&mut t, 10, 300), 3)
            .unwrap_err();
        assert_eq!((stale.status(), stale.conflict_size()), (409, Some(257)));

        // Old larger than new: 400.
        let mut bad = AddCheckpoint::parse(&request(&mut t, 0, 5)).unwrap();
        bad.old = 6;
        let e = w.add_checkpoint_at(&bad.to_bytes(), 4).unwrap_err();
        assert_eq!(e.status(), 400);
        assert!(matches!(e, Refusal::OldLargerThanNew { old: 6, size: 5 }));

        // Unknown origin: 404.
        let mut other = AddCheckpoint::parse(&request(&mut t, 257, 300)).unwrap();
        other.note = signed("example.com/other", other.checkpoint.tree, &log_key());
        assert_eq!(
            w.add_checkpoint_at(&other.to_bytes(), 5)
                .unwrap_err()
                .status(),
            404
        );

        // Signed by another key only: 403.
        let mut forged = AddCheckpoint::parse(&request(&mut t, 257, 300)).unwrap();
        forged.note = signed(
            ORIGIN,
            forged.checkpoint.tree,
            &SigningKey::from_bytes(&[9; 32]),
        );
        assert_eq!(
            w.add_checkpoint_at(&forged.to_bytes(), 6)
                .unwrap_err()
                .status(),
            403
        );

        // A wrong proof: 422, kept.
        let mut wrong = AddCheckpoint::parse(&request(&mut t, 257, 300)).unwrap();
        wrong.proof[0][0] ^= 1;
        let e = w.add_checkpoint_at(&wrong.to_bytes(), 7).unwrap_err();
        assert_eq!(e.status(), 422);
        assert_eq!(evidence_files(dir.path()).len(), 1);
        assert!(evidence_files(dir.path())[0].starts_with("inconsistent-"));

        // A fork at the size cosigned: 409, kept with both checkpoints.
        let fork_tree = Tree {
            size: 257,
            root: [1; 32],
        };
        let fork = AddCheckpoint {
            old: 257,
            proof: vec![],
            note: signed(ORIGIN, fork_tree, &log_key()),
            checkpoint: Checkpoint::new(ORIGIN, fork_tree).unwrap(),
        };
        let e = w.add_checkpoint_at(&fork.to_bytes(), 8).unwrap_err();
        assert_eq!((e.status(), e.conflict_size()), (409, Some(257)));
        let Refusal::Fork { evidence, .. } = e else {
            panic!("{e}")
        };
        let kept = std::fs::read_to_string(&evidence).unwrap();
        assert!(kept.contains("kind: fork\n"));
        assert!(kept.contains(&String::from_utf8(fork.note.to_bytes()).unwrap()));
        let stored = String::from_utf8(w.state_of(ORIGIN).unwrap().note.unwrap()).unwrap();
        assert!(kept.contains(&stored));
        // A replay of the same fork adds no file.
        w.add_checkpoint_at(&fork.to_bytes(), 9).unwrap_err();
        assert_eq!(evidence_files(dir.path()).len(), 2);

        // A rollback (a smaller signed checkpoint, from old 0): 409, kept.
        let e = w
            .add_checkpoint_at(&request(&mut t, 0, 100), 10)
            .unwrap_err();
        assert_eq!(e.conflict_size(), Some(257));
        assert!(
            evidence_files(dir.path())
                .iter()
                .any(|n| n.starts_with("rollback-"))
        );

        // Nothing refused changed the state.
        assert_eq!(w.state_of(ORIGIN).unwrap().tree.size, 257);
    }

    #[test]
    fn an_empty_tree_must_have_the_empty_root() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let t = Tree {
            size: 0,
            root: [5; 32],
        };
        let req = AddCheckpoint {
            old: 0,
            proof: vec![],
            note: signed(ORIGIN, t, &log_key()),
            checkpoint: Checkpoint::new(ORIGIN, t).unwrap(),
        };
        assert_eq!(
            w.add_checkpoint_at(&req.to_bytes(), 1)
                .unwrap_err()
                .status(),
            422
        );
    }

    #[test]
    fn state_survives_a_restart_and_one_process_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut t = tree(40);
        {
            let w = witness(dir.path());
            w.add_checkpoint_at(&request(&mut t, 0, 30), 1).unwrap();
            let second = Witness::open(
                NAME,
                Box::new(SigningKey::from_bytes(&[7; 32])),
                &[log_vkey()],
                dir.path(),
            )
            .unwrap_err();
            assert!(matches!(second, WitnessError::Busy { .. }), "{second}");
        }
        let w = witness(dir.path());
        assert_eq!(w.state_of(ORIGIN).unwrap().tree.size, 30);
        let e = w.add_checkpoint_at(&request(&mut t, 0, 40), 2).unwrap_err();
        assert_eq!(e.conflict_size(), Some(30));
        w.add_checkpoint_at(&request(&mut t, 30, 40), 3).unwrap();
        drop(w);
        // A damaged state is refused at open, not silently reset to size 0.
        let path = dir
            .path()
            .join("logs")
            .join(format!("{}.checkpoint", log_id(ORIGIN)));
        std::fs::write(&path, b"damaged\n").unwrap();
        let e = Witness::open(
            NAME,
            Box::new(SigningKey::from_bytes(&[7; 32])),
            &[log_vkey()],
            dir.path(),
        )
        .unwrap_err();
        assert!(matches!(e, WitnessError::Stored { .. }), "{e}");
    }

    #[test]
    fn racing_requests_never_cosign_two_extensions_of_one_size() {
        let dir = tempfile::tempdir().unwrap();
        let w = witness(dir.path());
        let mut t = tree(64);
        let bodies: Vec<Vec<u8>> = (1..=16).map(|n| request(&mut t, 0, n * 4)).collect();
        let results: Vec<Result<Cosigned, Refusal>> = std::thread::scope(|s| {
            let handles: Vec<_> = bodies
                .iter()
                .map(|b| s.spawn(|| w.add_checkpoint_at(b, 1)))
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).collect()
        });
        let won: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok().map(|c| c.tree.size))
            .collect();
        assert_eq!(won.len(), 1, "{won:?}");
        assert_eq!(w.state_of(ORIGIN).unwrap().tree.size, won[0]);
        assert!(
            results
                .iter()
                .filter_map(|r| r.as_ref().err())
                .all(|e| e.conflict_size() == Some(won[0]))
        );
    }

    #[test]
    fn configuration_mistakes_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let signer =
            || -> Box<dyn Ed25519Signer + Send> { Box::new(SigningKey::from_bytes(&[7; 32])) };
        let cosig = VerifierKey::new(
            ORIGIN,
            KeyType::Cosignature,
            PublicKey::new(log_key().verifying_key()),
        )
        .unwrap();
        assert!(matches!(
            Witness::open(NAME, signer(), &[cosig], dir.path()),
            Err(WitnessError::LogKey { .. })
        ));
        assert!(matches!(
            Witness::open(NAME, signer(), &[log_vkey(), log_vkey()], dir.path()),
            Err(WitnessError::LogKey { .. })
        ));
        assert!(matches!(
            Witness::open("bad name", signer(), &[log_vkey()], dir.path()),
            Err(WitnessError::Name(_))
        ));
    }

    /// The example of c2sp.org/tlog-cosignature: a checkpoint with its log's signature and a
    /// cosignature by `witness.example.com/w1` (whose public key the spec does not give, so
    /// only the framing can be checked): the line parses as a cosignature whose timestamp is
    /// the one of the spec's signed-message example.
    #[test]
    fn the_spec_example_cosignature_parses() {
        let example = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n\n\
            \u{2014} example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=\n\
            \u{2014} witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n";
        let note = Note::parse(example.as_bytes()).unwrap();
        let cp = Checkpoint::parse_body(note.text()).unwrap();
        assert_eq!(cp.tree.size, 20_852_163);
        let lines = cosignature::cosignature_lines(&note);
        assert_eq!(lines.len(), 1);
        assert_eq!(lines[0].name, "witness.example.com/w1");
        assert_eq!(hex_encode(&lines[0].key_id), "8d66cf3f");
        let (ts, _) = cosignature::split(&lines[0].signature).unwrap();
        assert_eq!(ts, 1_679_315_147);
        assert_eq!(
            String::from_utf8(cosignature::message(ts, note.text().as_bytes())).unwrap(),
            "cosignature/v1\ntime 1679315147\nexample.com/behind-the-sofa\n20852163\n\
             CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
        );
    }

    #[test]
    fn a_witness_policy_counts_distinct_valid_cosigners_and_refuses_a_bad_one() {
        let t = Tree {
            size: 9,
            root: [4; 32],
        };
        let cp = Checkpoint::new(ORIGIN, t).unwrap();
        let w = |n: u8| SigningKey::from_bytes(&[n; 32]);
        let vk = |name: &str, n: u8| {
            VerifierKey::new(
                name,
                KeyType::Cosignature,
                PublicKey::new(w(n).verifying_key()),
            )
            .unwrap()
        };
        let mut note = signed(ORIGIN, t, &log_key());
        for (name, n) in [("w1", 1), ("w2", 2), ("w1", 1), ("outsider", 9)] {
            note.push_signature(cosignature::cosign(&cp, name, 5, &w(n)).unwrap())
                .unwrap();
        }
        let policy = |k, keys: Vec<VerifierKey>| WitnessPolicy {
            threshold: k,
            witnesses: keys,
        };
        // Two distinct witnesses signed; w1's second line does not count twice; the
        // outsider counts for nothing.
        let all = vec![vk("w1", 1), vk("w2", 2), vk("w3", 3)];
        assert_eq!(
            policy(2, all.clone()).check(&note).unwrap(),
            vec!["w1".to_owned(), "w2".to_owned()]
        );
        let e = policy(3, all.clone()).check(&note).unwrap_err();
        assert_eq!(
            e.to_string(),
            "the checkpoint is cosigned by 2 of the witnesses the policy names (w1, w2), and the \
             witness policy 3 of [w1, w2, w3] requires 3"
        );
        // The same key listed twice is one witness.
        assert!(matches!(
            policy(2, vec![vk("w1", 1), vk("w1", 1)]).check(&note),
            Err(PolicyError::Invalid { .. })
        ));
        for k in [0, 4] {
            assert!(matches!(
                policy(k, all.clone()).check(&note),
                Err(PolicyError::Invalid { .. })
            ));
        }
        // A log key is not a witness key.
        assert!(matches!(
            policy(1, vec![log_vkey()]).check(&note),
            Err(PolicyError::Invalid { .. })
        ));
        // A cosignature by a policy witness over another checkpoint refuses the note.
        let other = Checkpoint::new(ORIGIN, Tree { size: 10, ..t }).unwrap();
        let mut forged = signed(ORIGIN, t, &log_key());
        forged
            .push_signature(cosignature::cosign(&other, "w1", 5, &w(1)).unwrap())
            .unwrap();
        assert!(matches!(
            policy(1, all).check(&forged),
            Err(PolicyError::BadCosignature { .. })
        ));
    }
}
