//! Append-only, hash-chained logs: the registry's log and the consumer's audit log.
//!
//! A log is a file of lines, one [`LogLine`] per line in compact JSON:
//!
//! ```json
//! {"entry":{"payloadType":"application/vnd.hallmark.log-entry.v1+json","payload":"…","signatures":[…]},"attached":[…]}
//! ```
//!
//! * `entry` — an envelope of type [`PayloadType::LogEntry`] whose payload is the canonical JSON
//!   of a [`LogEntry`]: its `index` (0, 1, 2, … — its position), `previous` (the SHA-256 of the
//!   previous entry's payload; absent for entry 0), `time` (never decreasing) and `record` (what
//!   happened). A registry signs every entry with its key; a consumer's audit log is unsigned
//!   (an envelope with no signatures), its integrity rests on the chain.
//! * `attached` — envelopes the record names by digest (a statement, a key event, the two
//!   events of an equivocation), so the log is self-contained evidence.
//!
//! Editing an entry changes its digest and breaks the next entry's `previous` (or its
//! signature, for the last entry of a signed log); removing or reordering entries breaks the
//! `index` sequence and the chain. [`verify_lines`] names the first position that is wrong.
//!
//! Appends are durable before they are acknowledged: the new lines are written with one
//! `write` and flushed with `fsync` ([`append`]), so a batch of entries costs one flush. A
//! process killed mid-append can leave an incomplete final line (no trailing newline): it was
//! never acknowledged, [`read`] reports it as a torn tail rather than an entry, and the next
//! [`append`] cuts it off before writing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::canonical;
use crate::envelope::{Envelope, MAX_PAYLOAD_BYTES, PayloadType};
use crate::error::FormatError;
use crate::ids::Sha256Digest;
use crate::time::Timestamp;

/// Largest log file read, in bytes.
pub const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// Largest single line, in bytes (an entry plus attached envelopes).
pub const MAX_LINE_BYTES: usize = 1024 * 1024;

/// One log entry: position, chain link, time and record.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry<R> {
    /// Position in the log, from 0.
    pub index: u64,
    /// SHA-256 of the previous entry's payload; absent for entry 0.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Sha256Digest>,
    /// When the entry was written (never before the previous entry's time).
    pub time: Timestamp,
    /// What happened.
    pub record: R,
}

impl<R: Serialize + DeserializeOwned> LogEntry<R> {
    /// The canonical payload bytes.
    pub fn to_payload(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// An unsigned envelope carrying this entry.
    pub fn to_envelope(&self) -> Result<Envelope, FormatError> {
        Envelope::new(PayloadType::LogEntry, self.to_payload())
    }

    /// Decodes the entry an envelope carries (type and canonical encoding checked).
    pub fn from_envelope(envelope: &Envelope) -> Result<Self, FormatError> {
        envelope.expect_type(PayloadType::LogEntry)?;
        canonical::from_slice("log entry", envelope.payload(), MAX_PAYLOAD_BYTES)
    }
}

/// One line of a log file.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogLine {
    /// The entry envelope.
    pub entry: Envelope,
    /// Envelopes the entry's record names by digest.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attached: Vec<Envelope>,
}

impl LogLine {
    /// The line as compact JSON, without the newline.
    pub fn to_json(&self) -> Vec<u8> {
        canonical::to_vec(self)
    }

    /// Parses one line.
    pub fn from_json(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > MAX_LINE_BYTES {
            return Err(FormatError::TooLarge {
                what: "log line",
                len: bytes.len(),
                max: MAX_LINE_BYTES,
            });
        }
        serde_json::from_slice(bytes).map_err(|e| FormatError::json("log line", &e))
    }
}

/// A record kind that can name attached envelopes by digest.
pub trait Record: Serialize + DeserializeOwned + Clone {
    /// The digests of the envelopes that must be attached to the entry, in order.
    fn attached_digests(&self) -> Vec<Sha256Digest>;
}

/// Where a log is wrong, and how.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("log entry #{at}: {kind}")]
pub struct LogError {
    /// The position (line number from 0) of the first wrong entry.
    pub at: u64,
    /// What is wrong there.
    pub kind: LogErrorKind,
}

/// The ways a log can be wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LogErrorKind {
    /// The line or its entry does not decode.
    #[error("the entry does not decode ({0}); it was edited or damaged")]
    Malformed(FormatError),
    /// The entry's index is not its position.
    #[error("the entry says it is #{found}: entries were removed, inserted or reordered before it")]
    Index {
        /// The index written in the entry.
        found: u64,
    },
    /// `previous` does not name the previous entry.
    #[error(
        "`previous` is {found}, but the previous entry's digest is {expected}: an earlier entry was edited, removed or reordered"
    )]
    BrokenChain {
        /// The digest of the previous entry.
        expected: String,
        /// What the entry says.
        found: String,
    },
    /// Time goes backwards.
    #[error("the entry's time {found} is before the previous entry's time {previous}")]
    TimeRegression {
        /// The previous entry's time.
        previous: Timestamp,
        /// This entry's time.
        found: Timestamp,
    },
    /// The attached envelopes are not the ones the record names.
    #[error("the attached envelopes are not the ones the entry names: {0}")]
    Attached(String),
    /// The entry's signature (or the record's content) does not check.
    #[error("{0}")]
    Invalid(String),
}

/// A log file as read: complete lines, and the size of an incomplete final line, if any.
#[derive(Clone, Debug, Default)]
pub struct RawLog {
    /// The complete lines, without their newlines.
    pub lines: Vec<Vec<u8>>,
    /// Bytes after the last newline: an append that was interrupted before it was flushed and
    /// acknowledged. Not part of the log.
    pub torn_tail: usize,
}

/// Why a log file could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LogIoError {
    /// An I/O error.
    #[error("cannot {action} log {}: {source}", path.display())]
    Io {
        /// "read" or "append to".
        action: &'static str,
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file could not be read: not a regular file, larger than [`MAX_LOG_BYTES`], a line
    /// longer than [`MAX_LINE_BYTES`], or an I/O error.
    #[error("cannot read log {}: {source}", path.display())]
    Read {
        /// The log file.
        path: PathBuf,
        /// What went wrong.
        source: crate::fsutil::ReadError,
    },
}

/// Reads a log file; a missing file is an empty log. Only a regular file is read (a FIFO or a
/// device named as a log is refused without blocking), no larger than [`MAX_LOG_BYTES`], and
/// no line longer than [`MAX_LINE_BYTES`] is read into memory.
pub fn read(path: &Path) -> Result<RawLog, LogIoError> {
    let read = crate::fsutil::read_lines(
        path,
        MAX_LINE_BYTES,
        MAX_LOG_BYTES,
        crate::fsutil::Follow::Yes,
    )
    .map_err(|source| LogIoError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(read.map_or_else(RawLog::default, |lines| RawLog {
        lines: lines.lines,
        torn_tail: lines.torn_tail,
    }))
}

/// Opens a log for reading: only a regular file, opened without blocking (a FIFO named as a
/// log is refused), no larger than [`MAX_LOG_BYTES`]; `None` if it does not exist. Returns the
/// file and its length.
fn open_log(path: &Path) -> Result<Option<(File, u64)>, LogIoError> {
    let file = match crate::fsutil::open_regular(path, crate::fsutil::Follow::Yes) {
        Ok(f) => f,
        Err(crate::fsutil::ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(None);
        }
        Err(source) => {
            return Err(LogIoError::Read {
                path: path.to_owned(),
                source,
            });
        }
    };
    let len = file
        .metadata()
        .map_err(|source| LogIoError::Io {
            action: "read",
            path: path.to_owned(),
            source,
        })?
        .len();
    if len > MAX_LOG_BYTES {
        return Err(LogIoError::Read {
            path: path.to_owned(),
            source: crate::fsutil::ReadError::TooLarge { max: MAX_LOG_BYTES },
        });
    }
    Ok(Some((file, len)))
}

/// The end of a log as read by [`read_tail`]: its head, from the last complete line alone,
/// and the size of a torn tail.
#[derive(Clone, Debug)]
pub struct Tail<R> {
    /// The head (entry count from the last entry's index).
    pub head: Head,
    /// The last entry, if the log has one.
    pub last: Option<Checked<R>>,
    /// Bytes after the last newline (see [`RawLog::torn_tail`]).
    pub torn_tail: usize,
}

/// Reads a log's head from its end: seeks back to the last complete line and decodes that
/// entry alone, so the cost does not grow with the log. The chain before it is not checked
/// ([`verify_lines`] over [`read`] does that). Returns `Ok(None)` if the last line does not
/// decode as an entry (the full check then says where the log is wrong); a missing file is an
/// empty log.
pub fn read_tail<R: Record>(path: &Path) -> Result<Option<Tail<R>>, LogIoError> {
    let io = |source| LogIoError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let Some((mut file, len)) = open_log(path)? else {
        return Ok(Some(Tail {
            head: Head::default(),
            last: None,
            torn_tail: 0,
        }));
    };
    // Read back from the end, block by block, until the last complete line is in memory (or
    // the line is longer than any entry may be).
    let mut buf: Vec<u8> = Vec::new();
    let mut start = len;
    let limit = (MAX_LINE_BYTES as u64 + 2) * 2;
    let (complete, line_start) = loop {
        let newlines: Vec<usize> = buf
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .rev()
            .take(2)
            .collect();
        let at_start = start == 0;
        match newlines.as_slice() {
            [last, before, ..] => break (Some(*last), *before + 1),
            [last] if at_start => break (Some(*last), 0),
            [] if at_start => break (None, 0),
            _ => {}
        }
        if len - start > limit {
            return Ok(None);
        }
        let from = start.saturating_sub(64 * 1024);
        let mut block = vec![0u8; (start - from) as usize];
        file.seek(SeekFrom::Start(from)).map_err(io)?;
        file.read_exact(&mut block).map_err(io)?;
        block.extend_from_slice(&buf);
        buf = block;
        start = from;
    };
    let Some(last) = complete else {
        return Ok(Some(Tail {
            head: Head::default(),
            last: None,
            torn_tail: buf.len(),
        }));
    };
    let torn_tail = buf.len() - (last + 1);
    let Ok(line) = LogLine::from_json(&buf[line_start..last]) else {
        return Ok(None);
    };
    let Ok(entry) = LogEntry::<R>::from_envelope(&line.entry) else {
        return Ok(None);
    };
    let digest = line.entry.payload_digest();
    let head = Head {
        len: entry.index + 1,
        digest: Some(digest),
        time: Some(entry.time),
    };
    Ok(Some(Tail {
        head,
        last: Some(Checked {
            line,
            entry,
            digest,
        }),
        torn_tail,
    }))
}

/// The complete lines of a log from byte `offset` on (the end of a line, as recorded by
/// [`append_at`]), and the byte offset after the last complete line. Each line is bounded by
/// [`MAX_LINE_BYTES`], the file by [`MAX_LOG_BYTES`]; an offset past the end of the file is an
/// error (the log was cut short).
pub fn read_from(path: &Path, offset: u64) -> Result<(RawLog, u64), LogIoError> {
    let io = |source| LogIoError::Io {
        action: "read",
        path: path.to_owned(),
        source,
    };
    let Some((mut file, len)) = open_log(path)? else {
        if offset == 0 {
            return Ok((RawLog::default(), 0));
        }
        return Err(io(std::io::ErrorKind::NotFound.into()));
    };
    if offset > len {
        return Err(io(std::io::Error::new(
            std::io::ErrorKind::UnexpectedEof,
            format!("the log is {len} bytes long, shorter than the {offset} bytes already read"),
        )));
    }
    file.seek(SeekFrom::Start(offset)).map_err(io)?;
    let mut buf = Vec::with_capacity((len - offset) as usize);
    file.take(len - offset).read_to_end(&mut buf).map_err(io)?;
    let mut raw = RawLog::default();
    let mut start = 0;
    for (i, b) in buf.iter().enumerate() {
        if *b == b'\n' {
            if i - start > MAX_LINE_BYTES {
                return Err(LogIoError::Read {
                    path: path.to_owned(),
                    source: crate::fsutil::ReadError::LineTooLong {
                        line: raw.lines.len() as u64 + 1,
                        max: MAX_LINE_BYTES,
                    },
                });
            }
            raw.lines.push(buf[start..i].to_vec());
            start = i + 1;
        }
    }
    raw.torn_tail = buf.len() - start;
    Ok((raw, offset + start as u64))
}

/// Appends lines to a log durably: cuts off a torn tail left by an interrupted append, writes
/// every line with its newline in one write, and flushes the file (and, for a new file, its
/// directory) before returning.
pub fn append(path: &Path, lines: &[Vec<u8>]) -> Result<(), LogIoError> {
    append_at(path, lines).map(|_| ())
}

/// [`append`], returning the log's length in bytes after the new lines.
pub fn append_at(path: &Path, lines: &[Vec<u8>]) -> Result<u64, LogIoError> {
    let io = |source| LogIoError::Io {
        action: "append to",
        path: path.to_owned(),
        source,
    };
    let existed = crate::fsutil::exists_no_follow(path);
    // Created 0644 whatever the umask: anyone may read the log, only its owner append to it.
    let mut file =
        crate::fsutil::open_state_file(path, crate::fsutil::PUBLIC_FILE_MODE).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    let mut complete = 0;
    if len > 0 {
        // Find the end of the last complete line, reading backwards in blocks.
        let mut end = len;
        let mut last_newline = None;
        let mut block = vec![0u8; 64 * 1024];
        while end > 0 && last_newline.is_none() {
            let start = end.saturating_sub(block.len() as u64);
            let n = (end - start) as usize;
            file.seek(SeekFrom::Start(start)).map_err(io)?;
            file.read_exact(&mut block[..n]).map_err(io)?;
            if let Some(pos) = block[..n].iter().rposition(|&b| b == b'\n') {
                last_newline = Some(start + pos as u64 + 1);
            }
            end = start;
        }
        complete = last_newline.unwrap_or(0);
        if complete != len {
            file.set_len(complete).map_err(io)?;
            file.sync_data().map_err(io)?;
        }
        file.seek(SeekFrom::Start(complete)).map_err(io)?;
    }
    let total: usize = lines.iter().map(|l| l.len() + 1).sum();
    let mut buf = Vec::with_capacity(total);
    for line in lines {
        buf.extend_from_slice(line);
        buf.push(b'\n');
    }
    if let Err(e) = file.write_all(&buf).and_then(|()| file.sync_data()) {
        // A failed write (a full disk) or flush may have left some of the new lines in the
        // file: none of them is acknowledged, so none may stay to be read as committed.
        let _ = file.set_len(complete).and_then(|()| file.sync_data());
        return Err(io(e));
    }
    if !existed {
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p,
            _ => Path::new("."),
        };
        File::open(dir).and_then(|d| d.sync_all()).map_err(io)?;
    }
    Ok(complete + buf.len() as u64)
}

/// A decoded, chain-checked line.
#[derive(Clone, Debug)]
pub struct Checked<R> {
    /// The line.
    pub line: LogLine,
    /// Its entry.
    pub entry: LogEntry<R>,
    /// SHA-256 of the entry payload (what the next entry's `previous` names).
    pub digest: Sha256Digest,
}

/// The state at the end of a log: how many entries, the last digest and time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Head {
    /// Number of entries.
    pub len: u64,
    /// Digest of the last entry's payload.
    pub digest: Option<Sha256Digest>,
    /// Time of the last entry.
    pub time: Option<Timestamp>,
}

impl Head {
    /// The entry that would come next, with `time` raised to the last entry's if it is earlier.
    pub fn next_entry<R>(&self, time: Timestamp, record: R) -> LogEntry<R> {
        LogEntry {
            index: self.len,
            previous: self.digest,
            time: self.time.map_or(time, |t| t.max(time)),
            record,
        }
    }

    /// Advances past an entry.
    pub fn advance<R: Serialize + DeserializeOwned>(&mut self, entry: &LogEntry<R>) {
        self.len += 1;
        self.digest = Some(Sha256Digest::of(&entry.to_payload()));
        self.time = Some(entry.time);
    }
}

/// Decodes lines and checks the chain — index, `previous`, time, attached envelopes — then
/// calls `check` on each entry in order (signatures, record rules). Returns the entries and
/// the head, or the first position that is wrong (with what `check` found there, usually
/// [`LogErrorKind::Invalid`]).
pub fn verify_lines<R: Record>(
    lines: &[Vec<u8>],
    check: impl FnMut(&Checked<R>) -> Result<(), LogErrorKind>,
) -> Result<(Vec<Checked<R>>, Head), LogError> {
    verify_lines_from(Head::default(), lines, check)
}

/// [`verify_lines`] for lines that continue a log whose head is `head` (read with
/// [`read_from`]): the first line must be entry `head.len` and name `head.digest`.
pub fn verify_lines_from<R: Record>(
    mut head: Head,
    lines: &[Vec<u8>],
    mut check: impl FnMut(&Checked<R>) -> Result<(), LogErrorKind>,
) -> Result<(Vec<Checked<R>>, Head), LogError> {
    let mut out: Vec<Checked<R>> = Vec::with_capacity(lines.len());
    let first = head.len;
    for (i, raw) in lines.iter().enumerate() {
        let at = first + i as u64;
        let fail = |kind| LogError { at, kind };
        let line = LogLine::from_json(raw).map_err(|e| fail(LogErrorKind::Malformed(e)))?;
        let entry: LogEntry<R> =
            LogEntry::from_envelope(&line.entry).map_err(|e| fail(LogErrorKind::Malformed(e)))?;
        if entry.index != at {
            return Err(fail(LogErrorKind::Index { found: entry.index }));
        }
        if entry.previous != head.digest {
            let show = |d: Option<Sha256Digest>| d.map_or("absent".to_owned(), |d| d.to_string());
            return Err(fail(LogErrorKind::BrokenChain {
                expected: show(head.digest),
                found: show(entry.previous),
            }));
        }
        if let Some(previous) = head.time
            && entry.time < previous
        {
            return Err(fail(LogErrorKind::TimeRegression {
                previous,
                found: entry.time,
            }));
        }
        let named = entry.record.attached_digests();
        let actual: Vec<Sha256Digest> =
            line.attached.iter().map(Envelope::payload_digest).collect();
        if named != actual {
            return Err(fail(LogErrorKind::Attached(format!(
                "the entry names {} envelope(s), {} attached{}",
                named.len(),
                actual.len(),
                if named.len() == actual.len() {
                    " with other digests"
                } else {
                    ""
                }
            ))));
        }
        let digest = line.entry.payload_digest();
        let checked = Checked {
            line,
            entry,
            digest,
        };
        check(&checked).map_err(fail)?;
        head.len += 1;
        head.digest = Some(digest);
        head.time = Some(checked.entry.time);
        out.push(checked);
    }
    Ok((out, head))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Note {
        text: String,
    }

    impl Record for Note {
        fn attached_digests(&self) -> Vec<Sha256Digest> {
            Vec::new()
        }
    }

    fn t(s: u64) -> Timestamp {
        Timestamp::from_unix(1_800_000_000 + s).unwrap()
    }

    fn build(n: usize) -> Vec<Vec<u8>> {
        let mut head = Head::default();
        let mut lines = Vec::new();
        for i in 0..n {
            let entry = head.next_entry(
                t(i as u64),
                Note {
                    text: format!("n{i}"),
                },
            );
            head.advance(&entry);
            lines.push(
                LogLine {
                    entry: entry.to_envelope().unwrap(),
                    attached: vec![],
                }
                .to_json(),
            );
        }
        lines
    }

    fn verify(lines: &[Vec<u8>]) -> Result<Head, LogError> {
        verify_lines::<Note>(lines, |_| Ok(())).map(|(_, h)| h)
    }

    #[test]
    fn intact_log_verifies() {
        let lines = build(5);
        assert_eq!(verify(&lines).unwrap().len, 5);
    }

    #[test]
    fn edits_removals_and_reorders_are_located() {
        let lines = build(5);
        let mut removed = lines.clone();
        removed.remove(2);
        assert_eq!(
            verify(&removed).unwrap_err().kind,
            LogErrorKind::Index { found: 3 }
        );
        assert_eq!(verify(&removed).unwrap_err().at, 2);

        let mut swapped = lines.clone();
        swapped.swap(1, 3);
        assert_eq!(verify(&swapped).unwrap_err().at, 1);

        // Re-number an edited entry consistently: the chain still breaks at the next one.
        let mut edited = lines.clone();
        let line = LogLine::from_json(&edited[2]).unwrap();
        let mut entry: LogEntry<Note> = LogEntry::from_envelope(&line.entry).unwrap();
        entry.record.text = "forged".into();
        edited[2] = LogLine {
            entry: entry.to_envelope().unwrap(),
            attached: vec![],
        }
        .to_json();
        let err = verify(&edited).unwrap_err();
        assert_eq!(err.at, 3);
        assert!(matches!(err.kind, LogErrorKind::BrokenChain { .. }));
    }

    #[test]
    fn the_tail_gives_the_head_the_full_read_gives() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert_eq!(
            read_tail::<Note>(&path).unwrap().unwrap().head,
            Head::default()
        );
        let lines = build(5);
        for n in 1..=5 {
            std::fs::remove_file(&path).ok();
            append(&path, &lines[..n]).unwrap();
            let tail = read_tail::<Note>(&path).unwrap().unwrap();
            assert_eq!(tail.head, verify(&lines[..n]).unwrap());
            assert_eq!(tail.torn_tail, 0);
        }
        // A torn tail is reported and not taken for an entry.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&lines[0][..7]).unwrap();
        drop(f);
        let tail = read_tail::<Note>(&path).unwrap().unwrap();
        assert_eq!((tail.head.len, tail.torn_tail), (5, 7));
        // Only a torn line: an empty log.
        std::fs::write(&path, &lines[0][..7]).unwrap();
        let tail = read_tail::<Note>(&path).unwrap().unwrap();
        assert_eq!((tail.head, tail.torn_tail), (Head::default(), 7));
        // A damaged last line is left to the full check.
        let mut damaged = lines[0].clone();
        damaged.extend_from_slice(b"\nnot json\n");
        std::fs::write(&path, &damaged).unwrap();
        assert!(read_tail::<Note>(&path).unwrap().is_none());
    }

    #[test]
    fn torn_tail_is_cut_before_the_next_append() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        let lines = build(3);
        append(&path, &lines[..2]).unwrap();
        // An interrupted append: half of the third line, no newline.
        let mut f = std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap();
        f.write_all(&lines[2][..10]).unwrap();
        drop(f);
        let raw = read(&path).unwrap();
        assert_eq!(raw.lines.len(), 2);
        assert_eq!(raw.torn_tail, 10);
        append(&path, &lines[2..]).unwrap();
        let raw = read(&path).unwrap();
        assert_eq!(raw.torn_tail, 0);
        assert_eq!(verify(&raw.lines).unwrap().len, 3);
    }
}
