//! The files a ceremony reads and writes: the identity's log and pending events, replaced only
//! if nobody changed them while the ceremony ran (compare and swap), and transcripts, written
//! before the event they record reaches a log.
//!
//! Every write is atomic ([`hallmark_keyring::fsutil`]): a crash leaves the old file or the new
//! one, never half of either.

use std::path::{Path, PathBuf};

use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::fsutil;
use hallmark_keyring::kel::file::MAX_KEL_FILE_BYTES;
use hallmark_keyring::kel::{Kel, KelFile};

use crate::error::CeremonyError;
use crate::keys::Opened;
use crate::pending::{MAX_PENDING_BYTES, PendingEvent};
use crate::transcript::{self, EventStatus, Transcript};

/// The largest transcript read.
pub const MAX_TRANSCRIPT_BYTES: u64 = 16 * 1024 * 1024;

/// A verified key event log file, with the exact bytes read, so that a change made while the
/// ceremony ran is noticed before the file is replaced.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    bytes: Vec<u8>,
    kel: Kel,
}

impl LogFile {
    /// Reads and verifies a log file.
    pub fn read(path: &Path) -> Result<Self, CeremonyError> {
        let bytes = fsutil::read_bounded(path, MAX_KEL_FILE_BYTES as u64).map_err(|source| {
            CeremonyError::Read {
                what: "key event log",
                path: path.to_owned(),
                source,
            }
        })?;
        let file = KelFile::from_json(&bytes).map_err(|source| CeremonyError::NotALog {
            path: path.to_owned(),
            source,
        })?;
        let kel = Kel::verify(&file.events).map_err(|source| CeremonyError::LogInvalid {
            path: path.to_owned(),
            source,
        })?;
        Ok(LogFile {
            path: path.to_owned(),
            bytes,
            kel,
        })
    }

    /// The path read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The verified log.
    pub fn kel(&self) -> &Kel {
        &self.kel
    }

    /// Refuses to go on if the file changed since it was read.
    pub fn check_unchanged(&self) -> Result<(), CeremonyError> {
        unchanged(&self.path, &self.bytes, MAX_KEL_FILE_BYTES as u64).map_err(|e| match e {
            Changed::Reread(e) => e,
            Changed::Changed => CeremonyError::LogChanged {
                path: self.path.clone(),
            },
        })
    }

    /// Replaces the file with `kel`, atomically, unless the file changed since it was read.
    pub fn replace(&self, kel: &Kel) -> Result<(), CeremonyError> {
        self.check_unchanged()?;
        fsutil::write_replace(&self.path, &KelFile::from_kel(kel).to_json(), 0o644)?;
        Ok(())
    }
}

/// A pending event file, with the exact bytes read (compare and swap, as [`LogFile`]).
#[derive(Debug)]
pub struct PendingFile {
    path: PathBuf,
    bytes: Vec<u8>,
    /// The pending event.
    pub pending: PendingEvent,
}

impl PendingFile {
    /// Reads a pending event file.
    pub fn read(path: &Path) -> Result<Self, CeremonyError> {
        let bytes = fsutil::read_bounded(path, MAX_PENDING_BYTES as u64).map_err(|source| {
            CeremonyError::Read {
                what: "pending event",
                path: path.to_owned(),
                source,
            }
        })?;
        let pending = PendingEvent::from_json(&bytes).map_err(|e| CeremonyError::InFile {
            path: path.to_owned(),
            source: Box::new(e),
        })?;
        Ok(PendingFile {
            path: path.to_owned(),
            bytes,
            pending,
        })
    }

    /// The path read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Replaces the file with `pending`, unless the file changed since it was read.
    pub(crate) fn replace(&self, pending: &PendingEvent) -> Result<(), CeremonyError> {
        unchanged(&self.path, &self.bytes, MAX_PENDING_BYTES as u64).map_err(|e| match e {
            Changed::Reread(e) => e,
            Changed::Changed => CeremonyError::PendingChanged {
                path: self.path.clone(),
            },
        })?;
        fsutil::write_replace(&self.path, &pending.to_json(), 0o644)?;
        Ok(())
    }
}

enum Changed {
    Reread(CeremonyError),
    Changed,
}

fn unchanged(path: &Path, read: &[u8], max: u64) -> Result<(), Changed> {
    let now = fsutil::read_bounded(path, max).map_err(|source| {
        Changed::Reread(CeremonyError::Reread {
            path: path.to_owned(),
            source,
        })
    })?;
    if now != read {
        return Err(Changed::Changed);
    }
    Ok(())
}

/// Refuses a path that exists (an output that must be new), naming it as `what`.
pub fn must_be_new(path: &Path, what: &'static str) -> Result<(), CeremonyError> {
    if fsutil::exists_no_follow(path) {
        return Err(CeremonyError::Exists {
            what,
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// `path` with `suffix` appended to its last component: `org.example.kel` and
/// `.1-rotate.transcript.json` give `org.example.kel.1-rotate.transcript.json`.
pub fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut text = path.as_os_str().to_owned();
    text.push(suffix);
    PathBuf::from(text)
}

pub(crate) fn sign_transcript(
    transcript: &Transcript,
    opened: &[Opened<'_>],
) -> Result<Envelope, CeremonyError> {
    let signers: Vec<&dyn hallmark_keyring::Ed25519Signer> = opened
        .iter()
        .map(|o| o.key.as_ref() as &dyn hallmark_keyring::Ed25519Signer)
        .collect();
    transcript.sign(&signers)
}

fn transcript_bytes(envelope: &Envelope) -> Vec<u8> {
    let mut bytes = envelope.to_json();
    bytes.push(b'\n');
    bytes
}

/// Writes a transcript to a path that must be new.
pub(crate) fn write_transcript(path: &Path, envelope: &Envelope) -> Result<(), CeremonyError> {
    fsutil::write_new(path, &transcript_bytes(envelope), 0o644)?;
    Ok(())
}

/// A transcript at `path` that verifies, if there is one.
fn read_transcript(path: &Path) -> Option<Transcript> {
    fsutil::read_bounded(path, MAX_TRANSCRIPT_BYTES)
        .ok()
        .and_then(|bytes| Envelope::from_json(bytes.trim_ascii_end()).ok())
        .and_then(|envelope| transcript::verify(&envelope).ok())
}

/// Checks the transcript path of a ceremony that commits an event: free, or holding the
/// transcript of a run killed after it wrote its transcript and before its event reached the
/// log — every event the transcript marks committed is missing from `log` (the identity's log;
/// `None` before the inception) — which this run replaces. Returns whether there is such a
/// transcript; anything else at the path is refused.
pub(crate) fn transcript_slot(path: &Path, log: Option<&Kel>) -> Result<bool, CeremonyError> {
    if !fsutil::exists_no_follow(path) {
        return Ok(false);
    }
    let interrupted = read_transcript(path).is_some_and(|t| {
        let committed: Vec<_> = t
            .events
            .iter()
            .filter(|e| e.status == EventStatus::Committed)
            .collect();
        !committed.is_empty()
            && committed.iter().all(|e| {
                log.is_none_or(|kel| {
                    t.identity != Some(kel.identity())
                        || kel.event(e.sequence).is_none_or(|f| f.digest != e.digest)
                })
            })
    });
    if interrupted {
        return Ok(true);
    }
    must_be_new(path, "transcript").map(|()| false)
}

/// Writes the transcript of a committed event, then `commit` writes the event: a kill between
/// the two leaves a transcript whose event is not in the log, which the next run of the
/// ceremony replaces ([`transcript_slot`]) — never a committed event without its transcript.
pub(crate) fn write_transcript_then(
    path: &Path,
    envelope: &Envelope,
    log: Option<&Kel>,
    notice: &dyn Fn(&crate::run::Notice),
    commit: impl FnOnce() -> Result<(), CeremonyError>,
) -> Result<(), CeremonyError> {
    let bytes = transcript_bytes(envelope);
    if transcript_slot(path, log)? {
        notice(&crate::run::Notice::ReplacingTranscript(path.to_owned()));
        fsutil::write_replace(path, &bytes, 0o644)?;
    } else {
        fsutil::write_new(path, &bytes, 0o644)?;
    }
    commit()
}

/// Writes a restore's transcript. Something at the path is replaced only if it is the
/// transcript of a restore of this very key that was killed before it wrote the key (the key
/// file is known to be absent); anything else is refused.
pub(crate) fn write_restore_transcript(
    path: &Path,
    envelope: &Envelope,
    restored: &hallmark_keyring::PublicKey,
) -> Result<(), CeremonyError> {
    if !fsutil::exists_no_follow(path) {
        return write_transcript(path, envelope);
    }
    let interrupted = read_transcript(path).is_some_and(|t| {
        t.action == "restore"
            && t.participants.len() == 1
            && t.participants[0].public_key == *restored
    });
    if !interrupted {
        return must_be_new(path, "transcript");
    }
    fsutil::write_replace(path, &transcript_bytes(envelope), 0o644)?;
    Ok(())
}
