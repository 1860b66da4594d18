//! Durable file writes and bounded reads.
//!
//! Every file Hallmark writes — keys, bundles, trust-store and registry state — is written
//! atomically: to a temporary file in the same directory, flushed to disk, then moved into
//! place and the directory flushed. A reader, or a process killed at any point, sees the old
//! content or the new content, never a mixture or a truncated file. [`write_new`] never
//! replaces an existing file (it links the temporary file into place, which fails if the name
//! exists), so keys and bundles are not overwritten by accident.
//!
//! The temporary file is anonymous where the file system allows it (`O_TMPFILE`, linked into
//! place through `/proc/self/fd`): a process killed before the link leaves no file at all.
//! Replacing needs `rename(2)`, so a replaced file is first linked under a temporary name
//! `.hallmark-tmp-<pid>-<hex>`; where anonymous files are not available every temporary file is
//! named so. A kill can leave such a name behind; the next write into that directory removes
//! the ones whose process no longer runs ([`remove_stale_temps`]).

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Why a write failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WriteError {
    /// The target exists and replacing was not asked for.
    #[error("{} already exists; refusing to overwrite it", path.display())]
    Exists {
        /// The target.
        path: PathBuf,
    },
    /// An I/O error.
    #[error("cannot write {}: {source}", path.display())]
    Io {
        /// The target.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Why a bounded read failed. The messages do not name the file: callers say which file and
/// what it was for ("cannot read bundle PATH: …").
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// Not a regular file: a FIFO, a device, a socket or a directory. Reading a FIFO or a
    /// device could block forever or never end, so none of them is read.
    #[error("it is {0}, not a regular file; refusing to read it")]
    NotRegular(&'static str),
    /// A symbolic link where the caller asked for none to be followed.
    #[error("it is a symbolic link; refusing to follow it")]
    Symlink,
    /// The file is larger than the limit.
    #[error("it is larger than the limit of {max} bytes")]
    TooLarge {
        /// The limit.
        max: u64,
    },
    /// A line is longer than the limit.
    #[error("line {line} is longer than the limit of {max} bytes")]
    LineTooLong {
        /// The line number, from 1.
        line: u64,
        /// The limit.
        max: usize,
    },
}

impl From<ReadError> for std::io::Error {
    /// For callers that speak `std::io`: I/O errors keep their kind, the others become
    /// [`std::io::ErrorKind::InvalidInput`] with the message.
    fn from(error: ReadError) -> Self {
        match error {
            ReadError::Io(e) => e,
            other => std::io::Error::new(std::io::ErrorKind::InvalidInput, other.to_string()),
        }
    }
}

/// Whether something exists at `path`, without following a final symlink (a dangling symlink
/// counts as existing: writing through it would create a file elsewhere).
pub fn exists_no_follow(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}

fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// The prefix of every named temporary file Hallmark writes, followed by the writing
/// process's id and random hex: `.hallmark-tmp-<pid>-<hex>`.
pub const TEMP_PREFIX: &str = ".hallmark-tmp-";

/// A finished temporary file, not yet in place: an anonymous file (`O_TMPFILE`, no name at
/// all, so a killed process leaves nothing behind) or, where the file system cannot make one,
/// a named file `.hallmark-tmp-<pid>-<hex>` beside the target.
#[derive(Debug)]
enum Temp {
    Anonymous(File),
    Named(PathBuf),
}

impl Temp {
    /// Removes a named temporary file; an anonymous one vanishes when dropped.
    fn discard(self) {
        if let Temp::Named(path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn temp_name(dir: &Path) -> std::io::Result<PathBuf> {
    let mut rand = [0u8; 8];
    getrandom::fill(&mut rand).map_err(std::io::Error::other)?;
    Ok(dir.join(format!(
        "{TEMP_PREFIX}{}-{}",
        std::process::id(),
        crate::encoding::hex_encode(&rand)
    )))
}

/// Whether anonymous files can be linked by name: `linkat` of `/proc/self/fd/N` (with
/// `AT_SYMLINK_FOLLOW`) needs `/proc`; linking with `AT_EMPTY_PATH` would need
/// `CAP_DAC_READ_SEARCH`.
fn proc_fds() -> bool {
    static PROC: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *PROC.get_or_init(|| Path::new("/proc/self/fd").is_dir())
}

/// An anonymous file in `dir`, or `None` where the file system (or kernel) has no `O_TMPFILE`.
fn anonymous_in(dir: &Path, mode: u32) -> std::io::Result<Option<File>> {
    use rustix::fs::{CWD, Mode, OFlags};
    use rustix::io::Errno;
    if !proc_fds() {
        return Ok(None);
    }
    match rustix::fs::openat(
        CWD,
        dir,
        OFlags::WRONLY | OFlags::TMPFILE | OFlags::CLOEXEC,
        Mode::from_raw_mode(mode),
    ) {
        Ok(fd) => Ok(Some(File::from(fd))),
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => Ok(None),
        Err(errno) => Err(errno.into()),
    }
}

/// Gives an anonymous file the name `path`; fails with `AlreadyExists` if the name is taken.
fn link_anonymous(file: &File, path: &Path) -> std::io::Result<()> {
    use rustix::fs::{AtFlags, CWD};
    use std::os::fd::AsRawFd;
    let proc = format!("/proc/self/fd/{}", file.as_raw_fd());
    rustix::fs::linkat(CWD, proc.as_str(), CWD, path, AtFlags::SYMLINK_FOLLOW)
        .map_err(std::io::Error::from)
}

fn named_in(dir: &Path, mode: u32) -> std::io::Result<(File, PathBuf)> {
    for _ in 0..16 {
        let path = temp_name(dir)?;
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(mode)
            .open(&path)
        {
            Ok(file) => return Ok((file, path)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not create a temporary file"))
}

/// Writes `bytes` to a new temporary file in `dir` with exactly `mode`, flushed with `fsync`
/// when `sync`. With `keep_open`, an anonymous file is returned as is (it costs an open file
/// descriptor until it is placed); without, it is given a temporary name and closed.
fn write_temp_in(
    dir: &Path,
    bytes: &[u8],
    mode: u32,
    sync: bool,
    keep_open: bool,
) -> std::io::Result<Temp> {
    clean_stale_once(dir);
    let write = |file: &mut File| {
        // The umask may have narrowed the mode at creation; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        if sync { file.sync_all() } else { Ok(()) }
    };
    if let Some(mut file) = anonymous_in(dir, mode)? {
        write(&mut file)?;
        if keep_open {
            return Ok(Temp::Anonymous(file));
        }
        return name_anonymous(&file, dir).map(Temp::Named);
    }
    let (mut file, path) = named_in(dir, mode)?;
    if let Err(e) = write(&mut file) {
        let _ = std::fs::remove_file(&path);
        return Err(e);
    }
    Ok(Temp::Named(path))
}

/// Links an anonymous file under a fresh temporary name in `dir`.
fn name_anonymous(file: &File, dir: &Path) -> std::io::Result<PathBuf> {
    for _ in 0..16 {
        let path = temp_name(dir)?;
        match link_anonymous(file, &path) {
            Ok(()) => return Ok(path),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("could not name a temporary file"))
}

/// Removes named temporary files in `dir` left by Hallmark processes that no longer run
/// (killed between naming a temporary file and moving it into place): those whose process id
/// has no `/proc` entry. Files of running processes, of other hosts' processes sharing the
/// directory, or without a process id are left alone. Done once per directory per process.
fn clean_stale_once(dir: &Path) {
    use std::collections::HashSet;
    use std::sync::Mutex;
    static CLEANED: Mutex<Option<HashSet<PathBuf>>> = Mutex::new(None);
    {
        let Ok(mut cleaned) = CLEANED.lock() else {
            return;
        };
        if !cleaned
            .get_or_insert_with(HashSet::new)
            .insert(dir.to_owned())
        {
            return;
        }
    }
    let _ = remove_stale_temps(dir);
}

/// Removes stale named temporary files in `dir` (see the module's notes); returns how many.
pub fn remove_stale_temps(dir: &Path) -> std::io::Result<usize> {
    if !Path::new("/proc/self").is_dir() {
        return Ok(0);
    }
    let own = std::process::id();
    let mut removed = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(rest) = name.to_str().and_then(|n| n.strip_prefix(TEMP_PREFIX)) else {
            continue;
        };
        let Some(pid) = rest
            .split_once('-')
            .and_then(|(p, _)| p.parse::<u32>().ok())
        else {
            continue;
        };
        if pid == own || Path::new("/proc").join(pid.to_string()).exists() {
            continue;
        }
        if entry.file_type().is_ok_and(|t| t.is_file())
            && std::fs::remove_file(entry.path()).is_ok()
        {
            removed += 1;
        }
    }
    Ok(removed)
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Moves the finished temporary file to `path` unless something exists there, in which case
/// it fails with [`std::io::ErrorKind::AlreadyExists`] and discards the temporary file: a file
/// created meanwhile is never replaced. An anonymous file is linked into place (`linkat`,
/// which refuses an existing name); a named one is renamed with `RENAME_NOREPLACE` where the
/// file system has it, else linked and unlinked.
fn place_new(tmp: Temp, path: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    use rustix::io::Errno;
    let tmp = match tmp {
        Temp::Anonymous(file) => return link_anonymous(&file, path),
        Temp::Named(tmp) => tmp,
    };
    match rustix::fs::renameat_with(CWD, &tmp, CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        // Not supported by this file system or kernel: fall back to link and unlink.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
        Err(errno) => {
            let _ = std::fs::remove_file(&tmp);
            return Err(errno.into());
        }
    }
    let linked = std::fs::hard_link(&tmp, path);
    let _ = std::fs::remove_file(&tmp);
    linked
}

/// Moves the finished temporary file to `path`, replacing what is there. `rename(2)` is the
/// only atomic replacement, and it needs a name: an anonymous file is first linked under a
/// temporary name beside the target (left behind only by a kill in the instant between the two
/// calls, and removed by the next write in that directory).
fn place_replace(tmp: Temp, path: &Path) -> std::io::Result<()> {
    let named = match tmp {
        Temp::Anonymous(file) => name_anonymous(&file, parent_dir(path))?,
        Temp::Named(named) => named,
    };
    std::fs::rename(&named, path).inspect_err(|_| {
        let _ = std::fs::remove_file(&named);
    })
}

/// Writes a new file atomically with the given mode; fails with [`WriteError::Exists`] if
/// anything exists at `path`.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    if exists_no_follow(path) {
        return Err(WriteError::Exists {
            path: path.to_owned(),
        });
    }
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = write_temp_in(parent_dir(path), bytes, mode, true, true).map_err(io)?;
    match place_new(tmp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(WriteError::Exists {
                path: path.to_owned(),
            });
        }
        Err(source) => return Err(io(source)),
    }
    sync_dir(parent_dir(path)).map_err(io)
}

/// Writes a file atomically with the given mode, replacing any existing file.
pub fn write_replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let tmp = write_temp_in(parent_dir(path), bytes, mode, true, true).map_err(io)?;
    place_replace(tmp, path).map_err(io)?;
    sync_dir(parent_dir(path)).map_err(io)
}

/// How many staged files a batch keeps as anonymous, open files (an eighth of the usual
/// limit of 1,024 open files); later files in the batch are held in memory until the commit.
const ANONYMOUS_BATCH: usize = 128;

/// A batch of files written atomically and durably together: [`StagedWrites::stage`] writes
/// each file to a temporary file beside its target; [`StagedWrites::commit`] flushes the file
/// system once (`syncfs`), then moves each temporary file into place (with `replace`, renamed
/// over any existing file; without, linked, which fails if the target exists) and flushes each
/// directory once. Files staged but not committed are removed when the batch is dropped.
///
/// One flush for the batch instead of one per file: signing a thousand artifacts costs one
/// `syncfs` rather than a thousand `fsync`s, and staging can run while other work (a token
/// signing) goes on. Each file is all-or-nothing; if a commit stops part-way, the files moved
/// into place before the failure stay, and the error names the file that failed.
///
/// Staged files are anonymous (`O_TMPFILE`), so a process killed before the commit leaves
/// nothing behind. A batch holds at most 128 of them open; later files are kept in memory and
/// written, flushed (one more `syncfs` per 128) and placed in turn at the commit. Where the
/// file system has no anonymous files they are named `.hallmark-tmp-<pid>-<hex>`, and the next
/// write into the directory removes those of processes that no longer run.
#[derive(Debug)]
pub struct StagedWrites {
    mode: u32,
    replace: bool,
    staged: Vec<(PathBuf, Staged)>,
    anonymous_left: usize,
}

/// A staged file: written to a temporary file, or (past the batch's budget of open anonymous
/// files) held in memory until the commit writes it.
#[derive(Debug)]
enum Staged {
    Written(Temp),
    Held(Vec<u8>),
}

impl StagedWrites {
    /// An empty batch of files with this mode; `replace` allows overwriting existing targets.
    pub fn new(mode: u32, replace: bool) -> Self {
        StagedWrites {
            mode,
            replace,
            staged: Vec::new(),
            anonymous_left: ANONYMOUS_BATCH,
        }
    }

    /// Writes `bytes` to a temporary file beside `path`.
    pub fn stage(&mut self, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
        if !self.replace && exists_no_follow(path) {
            return Err(WriteError::Exists {
                path: path.to_owned(),
            });
        }
        if self.anonymous_left == 0 {
            self.staged
                .push((path.to_owned(), Staged::Held(bytes.to_vec())));
            return Ok(());
        }
        let tmp =
            write_temp_in(parent_dir(path), bytes, self.mode, false, true).map_err(|source| {
                WriteError::Io {
                    path: path.to_owned(),
                    source,
                }
            })?;
        if matches!(tmp, Temp::Anonymous(_)) {
            self.anonymous_left -= 1;
        }
        self.staged.push((path.to_owned(), Staged::Written(tmp)));
        Ok(())
    }

    /// How many files are staged.
    pub fn len(&self) -> usize {
        self.staged.len()
    }

    /// Whether nothing is staged.
    pub fn is_empty(&self) -> bool {
        self.staged.is_empty()
    }

    /// Flushes the staged files and moves them into place.
    pub fn commit(mut self) -> Result<(), WriteError> {
        let staged = std::mem::take(&mut self.staged);
        let mut written = Vec::new();
        let mut held = Vec::new();
        for (path, file) in staged {
            match file {
                Staged::Written(tmp) => written.push((path, tmp)),
                Staged::Held(bytes) => held.push((path, bytes)),
            }
        }
        let mut dirs: Vec<PathBuf> = Vec::new();
        self.place_batch(written, &mut dirs)?;
        // Files held in memory: written as anonymous files, flushed and placed a bounded
        // number at a time, so they never need a name before their own.
        let mut held = held.into_iter();
        loop {
            let chunk: Vec<(PathBuf, Vec<u8>)> = held.by_ref().take(ANONYMOUS_BATCH).collect();
            if chunk.is_empty() {
                break;
            }
            let mut batch = Vec::with_capacity(chunk.len());
            for (path, bytes) in chunk {
                match write_temp_in(parent_dir(&path), &bytes, self.mode, false, true) {
                    Ok(tmp) => batch.push((path, tmp)),
                    Err(source) => {
                        for (_, tmp) in batch {
                            tmp.discard();
                        }
                        return Err(WriteError::Io { path, source });
                    }
                }
            }
            self.place_batch(batch, &mut dirs)?;
        }
        for dir in dirs {
            sync_dir(&dir).map_err(|source| WriteError::Io { path: dir, source })?;
        }
        Ok(())
    }

    /// Flushes the file system once, then moves each written file into place, noting its
    /// directory for the final flush.
    fn place_batch(
        &self,
        batch: Vec<(PathBuf, Temp)>,
        dirs: &mut Vec<PathBuf>,
    ) -> Result<(), WriteError> {
        let Some(first) = batch.first().map(|(path, _)| path.clone()) else {
            return Ok(());
        };
        let cleanup = |rest: Vec<(PathBuf, Temp)>| {
            for (_, tmp) in rest {
                tmp.discard();
            }
        };
        let flushed = File::open(parent_dir(&first))
            .and_then(|dir| rustix::fs::syncfs(&dir).map_err(std::io::Error::from));
        if let Err(source) = flushed {
            cleanup(batch);
            return Err(WriteError::Io {
                path: first,
                source,
            });
        }
        let mut rest = batch.into_iter();
        while let Some((path, tmp)) = rest.next() {
            let moved = if self.replace {
                place_replace(tmp, &path)
            } else {
                place_new(tmp, &path)
            };
            if let Err(e) = moved {
                cleanup(rest.collect());
                return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    WriteError::Exists { path }
                } else {
                    WriteError::Io { path, source: e }
                });
            }
            let dir = parent_dir(&path);
            if !dirs.iter().any(|d| d == dir) {
                dirs.push(dir.to_owned());
            }
        }
        Ok(())
    }
}

impl Drop for StagedWrites {
    fn drop(&mut self) {
        for (_, file) in std::mem::take(&mut self.staged) {
            if let Staged::Written(tmp) = file {
                tmp.discard();
            }
        }
    }
}

/// Writes many files atomically and durably as one batch (see [`StagedWrites`]).
pub fn write_many(
    files: &[(PathBuf, Vec<u8>)],
    mode: u32,
    replace: bool,
) -> Result<(), WriteError> {
    let mut batch = StagedWrites::new(mode, replace);
    for (path, bytes) in files {
        batch.stage(path, bytes)?;
    }
    batch.commit()
}

/// Mode of the state directories Hallmark creates (trust store, registry, key event log
/// directories): readable by everyone, writable by the owner only, whatever the umask.
pub const DIR_MODE: u32 = 0o755;

/// Mode of the public state files Hallmark creates (logs, pins, lock files, bundles).
pub const PUBLIC_FILE_MODE: u32 = 0o644;

/// Mode of secret files (keys, backup shares) and of directories that hold them.
pub const SECRET_FILE_MODE: u32 = 0o600;

/// Mode of a directory created to hold secret files.
pub const SECRET_DIR_MODE: u32 = 0o700;

/// Whether a symbolic link at the final component of a path is followed when opening it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Follow {
    /// Follow it (a bundle or key file a user names may be a link).
    Yes,
    /// Refuse it (files inside a trust store or registry, which are never links).
    No,
}

fn kind_of(file_type: std::fs::FileType) -> &'static str {
    if file_type.is_dir() {
        "a directory"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() {
        "a character device"
    } else if file_type.is_block_device() {
        "a block device"
    } else if file_type.is_socket() {
        "a socket"
    } else {
        "not a regular file"
    }
}

/// Opens a file for reading without blocking and refuses it unless it is a regular file.
///
/// The file is opened with `O_NONBLOCK` (opening a FIFO for reading otherwise waits for a
/// writer, forever if none comes), `O_NOCTTY` and `O_CLOEXEC`, and with `O_NOFOLLOW` for
/// [`Follow::No`]; then `fstat` on the open file decides: a FIFO, a device, a socket or a
/// directory is refused before a byte is read. What is checked is the file that was opened,
/// so it cannot be swapped between the check and the read. For a regular file `O_NONBLOCK`
/// changes nothing.
pub fn open_regular(path: &Path, follow: Follow) -> Result<File, ReadError> {
    use rustix::fs::{Mode, OFlags};
    let mut flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    if follow == Follow::No {
        flags |= OFlags::NOFOLLOW;
    }
    let fd = rustix::fs::open(path, flags, Mode::empty()).map_err(|errno| {
        if follow == Follow::No && errno == rustix::io::Errno::LOOP {
            ReadError::Symlink
        } else {
            ReadError::Io(errno.into())
        }
    })?;
    let file = File::from(fd);
    let file_type = file.metadata()?.file_type();
    if !file_type.is_file() {
        return Err(ReadError::NotRegular(kind_of(file_type)));
    }
    Ok(file)
}

/// Reads a whole file, refusing anything but a regular file and files larger than `max`
/// bytes before reading them (see [`open_regular`]); symbolic links are followed.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    read_bounded_with(path, max, Follow::Yes)
}

/// [`read_bounded`], choosing whether a final symbolic link is followed.
pub fn read_bounded_with(path: &Path, max: u64, follow: Follow) -> Result<Vec<u8>, ReadError> {
    let file = open_regular(path, follow)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(ReadError::TooLarge { max });
    }
    read_to_limit(file, max, len as usize)
}

/// Reads a stream (standard input, a pipe the user chose) to its end, refusing it once it
/// passes `max` bytes: at most `max + 1` bytes are ever held.
pub fn read_stream_bounded(reader: impl Read, max: u64) -> Result<Vec<u8>, ReadError> {
    read_to_limit(reader, max, 0)
}

/// Reads at most `max + 1` bytes, so that a file that grows after its size was checked (or a
/// stream without end) is caught instead of read on.
fn read_to_limit(reader: impl Read, max: u64, capacity: usize) -> Result<Vec<u8>, ReadError> {
    let mut bytes = Vec::with_capacity(capacity);
    reader.take(max.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge { max });
    }
    Ok(bytes)
}

/// A file of lines as read by [`read_lines`]: the complete lines, and the size of an
/// incomplete final line, if any.
#[derive(Clone, Debug, Default)]
pub struct Lines {
    /// The complete lines, without their newlines.
    pub lines: Vec<Vec<u8>>,
    /// Bytes after the last newline.
    pub torn_tail: usize,
}

/// Reads a file of newline-terminated lines (an append-only log), bounded twice: no line may
/// be longer than `max_line` bytes (without its newline) and the file no larger than
/// `max_total` bytes. The file must be a regular file ([`open_regular`], links not followed
/// with [`Follow::No`]); its size is checked before reading, and a line is refused as soon as
/// it passes the limit, so neither an endless line nor a file growing meanwhile is read into
/// memory. `Ok(None)` if nothing exists at `path`.
pub fn read_lines(
    path: &Path,
    max_line: usize,
    max_total: u64,
    follow: Follow,
) -> Result<Option<Lines>, ReadError> {
    let file = match open_regular(path, follow) {
        Ok(file) => file,
        Err(ReadError::Io(e)) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if file.metadata()?.len() > max_total {
        return Err(ReadError::TooLarge { max: max_total });
    }
    let mut reader = BufReader::with_capacity(64 * 1024, file.take(max_total.saturating_add(1)));
    let mut out = Lines::default();
    let mut total: u64 = 0;
    let line_cap = (max_line as u64).saturating_add(1);
    loop {
        let mut line = Vec::new();
        let n = (&mut reader).take(line_cap).read_until(b'\n', &mut line)?;
        if n == 0 {
            break;
        }
        total += n as u64;
        if total > max_total {
            return Err(ReadError::TooLarge { max: max_total });
        }
        if line.last() == Some(&b'\n') {
            line.pop();
            out.lines.push(line);
        } else if n as u64 == line_cap {
            return Err(ReadError::LineTooLong {
                line: out.lines.len() as u64 + 1,
                max: max_line,
            });
        } else {
            // The end of the file without a newline: an interrupted append.
            out.torn_tail = n;
            break;
        }
    }
    Ok(Some(out))
}

/// Creates a directory and any missing parents, each with exactly `mode` whatever the umask.
/// Directories that already exist are left as they are.
pub fn create_dir_all(path: &Path, mode: u32) -> std::io::Result<()> {
    let mut missing = Vec::new();
    let mut cursor = Some(path);
    while let Some(dir) = cursor {
        if dir.as_os_str().is_empty() || std::fs::symlink_metadata(dir).is_ok() {
            break;
        }
        missing.push(dir);
        cursor = dir.parent();
    }
    for dir in missing.into_iter().rev() {
        match std::fs::DirBuilder::new().mode(mode).create(dir) {
            Ok(()) => std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode))?,
            // Created meanwhile by someone else: theirs to keep.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(e) => return Err(e),
        }
    }
    if !std::fs::metadata(path)?.is_dir() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::NotADirectory,
            format!("{} exists and is not a directory", path.display()),
        ));
    }
    Ok(())
}

/// Opens (creating it if missing, with exactly `mode` whatever the umask) a file to append to
/// or lock, for reading and writing. A final symbolic link is not followed.
pub fn open_state_file(path: &Path, mode: u32) -> std::io::Result<File> {
    let open = |create_new: bool| {
        let mut options = OpenOptions::new();
        options
            .read(true)
            .write(true)
            .custom_flags(rustix::fs::OFlags::NOFOLLOW.bits() as i32)
            .mode(mode);
        if create_new {
            options.create_new(true);
        }
        options.open(path)
    };
    match open(true) {
        Ok(file) => {
            file.set_permissions(std::fs::Permissions::from_mode(mode))?;
            Ok(file)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            let file = open(false)?;
            if !file.metadata()?.is_file() {
                return Err(std::io::Error::other(format!(
                    "{} is not a regular file",
                    path.display()
                )));
            }
            Ok(file)
        }
        Err(e) => Err(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn write_new_never_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_new(&path, b"one", 0o600).unwrap();
        assert!(matches!(
            write_new(&path, b"two", 0o600),
            Err(WriteError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&path).unwrap(), b"one");
        assert_eq!(
            std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // No temporary files are left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_new_refuses_dangling_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), &link).unwrap();
        assert!(matches!(
            write_new(&link, b"x", 0o600),
            Err(WriteError::Exists { .. })
        ));
        assert!(!dir.path().join("elsewhere").exists());
    }

    #[test]
    fn write_replace_replaces() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_replace(&path, b"one", 0o644).unwrap();
        write_replace(&path, b"two", 0o644).unwrap();
        assert_eq!(std::fs::read(&path).unwrap(), b"two");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn write_many_is_all_or_nothing_per_file() {
        let dir = tempfile::tempdir().unwrap();
        let files: Vec<(PathBuf, Vec<u8>)> = (0..5)
            .map(|i| (dir.path().join(format!("f{i}")), vec![b'a' + i as u8; 10]))
            .collect();
        write_many(&files, 0o644, false).unwrap();
        for (path, bytes) in &files {
            assert_eq!(&std::fs::read(path).unwrap(), bytes);
        }
        // Without replace, an existing target stops the batch before anything is written.
        let again: Vec<(PathBuf, Vec<u8>)> = files
            .iter()
            .map(|(p, _)| (p.clone(), b"new".to_vec()))
            .collect();
        assert!(matches!(
            write_many(&again, 0o644, false),
            Err(WriteError::Exists { .. })
        ));
        assert_eq!(std::fs::read(&files[0].0).unwrap(), files[0].1);
        write_many(&again, 0o644, true).unwrap();
        assert_eq!(std::fs::read(&files[4].0).unwrap(), b"new");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            5,
            "temporary files left behind"
        );
    }

    #[test]
    fn a_file_created_after_staging_is_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a"), dir.path().join("b"));
        let mut staged = StagedWrites::new(0o644, false);
        staged.stage(&a, b"ours a").unwrap();
        staged.stage(&b, b"ours b").unwrap();
        std::fs::write(&b, b"theirs").unwrap();
        assert!(matches!(
            staged.commit(),
            Err(WriteError::Exists { path }) if path == b
        ));
        assert_eq!(std::fs::read(&a).unwrap(), b"ours a");
        assert_eq!(std::fs::read(&b).unwrap(), b"theirs");
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            2,
            "temporary files left behind"
        );
    }

    #[test]
    fn stale_temporary_files_of_dead_processes_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        // A process id that cannot be running (above the kernel's maximum), one that is (this
        // process's parent), and a name without a process id.
        let dead = dir.path().join(format!("{TEMP_PREFIX}4294967295-00"));
        let alive = dir.path().join(format!(
            "{TEMP_PREFIX}{}-00",
            std::os::unix::process::parent_id()
        ));
        let other = dir.path().join(format!("{TEMP_PREFIX}abc"));
        for p in [&dead, &alive, &other] {
            std::fs::write(p, b"x").unwrap();
        }
        assert_eq!(remove_stale_temps(dir.path()).unwrap(), 1);
        assert!(!dead.exists());
        assert!(alive.exists() && other.exists());
    }

    #[test]
    fn a_batch_past_the_anonymous_budget_commits_every_file() {
        let dir = tempfile::tempdir().unwrap();
        let n = ANONYMOUS_BATCH * 2 + 5;
        let files: Vec<(PathBuf, Vec<u8>)> = (0..n)
            .map(|i| {
                (
                    dir.path().join(format!("f{i}")),
                    format!("{i}").into_bytes(),
                )
            })
            .collect();
        write_many(&files, 0o644, false).unwrap();
        for (path, bytes) in &files {
            assert_eq!(&std::fs::read(path).unwrap(), bytes);
        }
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), n);
        // The same with replace.
        write_many(&files, 0o644, true).unwrap();
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), n);
    }

    #[test]
    fn a_batch_dropped_before_commit_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = StagedWrites::new(0o644, false);
        for i in 0..(ANONYMOUS_BATCH + 3) {
            staged
                .stage(&dir.path().join(format!("f{i}")), b"x")
                .unwrap();
        }
        // Past the anonymous budget the rest are held in memory: nothing is named.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        drop(staged);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }

    #[test]
    fn anonymous_temporary_files_have_no_name_before_commit() {
        let dir = tempfile::tempdir().unwrap();
        let mut staged = StagedWrites::new(0o600, true);
        staged.stage(&dir.path().join("a"), b"one").unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            0,
            "tmpfs and ext4 have O_TMPFILE: nothing should be named yet"
        );
        staged.commit().unwrap();
        assert_eq!(std::fs::read(dir.path().join("a")).unwrap(), b"one");
        assert_eq!(
            std::fs::metadata(dir.path().join("a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o600
        );
    }

    #[test]
    fn bounded_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&path, 4),
            Err(ReadError::TooLarge { max: 4 })
        ));
        assert_eq!(
            read_bounded(&path, 4).unwrap_err().to_string(),
            "it is larger than the limit of 4 bytes"
        );
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        // Without O_NONBLOCK this open would wait for a writer forever.
        assert_eq!(
            read_bounded(&fifo, 10).unwrap_err().to_string(),
            "it is a FIFO (named pipe), not a regular file; refusing to read it"
        );
        assert_eq!(
            read_bounded(Path::new("/dev/zero"), 10)
                .unwrap_err()
                .to_string(),
            "it is a character device, not a regular file; refusing to read it"
        );
        assert_eq!(
            read_bounded(dir.path(), 10).unwrap_err().to_string(),
            "it is a directory, not a regular file; refusing to read it"
        );
        assert!(matches!(
            read_lines(Path::new("/dev/zero"), 10, 100, Follow::Yes),
            Err(ReadError::NotRegular("a character device"))
        ));
        let file = dir.path().join("f");
        std::fs::write(&file, b"x").unwrap();
        let link = dir.path().join("link");
        std::os::unix::fs::symlink(&file, &link).unwrap();
        assert_eq!(read_bounded(&link, 10).unwrap(), b"x");
        assert!(matches!(
            read_bounded_with(&link, 10, Follow::No),
            Err(ReadError::Symlink)
        ));
    }

    #[test]
    fn streams_are_bounded() {
        let zeros = std::io::repeat(0);
        assert!(matches!(
            read_stream_bounded(zeros, 1000),
            Err(ReadError::TooLarge { max: 1000 })
        ));
        assert_eq!(read_stream_bounded(&b"abc"[..], 3).unwrap(), b"abc");
    }

    #[test]
    fn lines_are_bounded_each_and_in_total() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log");
        assert!(read_lines(&path, 4, 100, Follow::No).unwrap().is_none());
        std::fs::write(&path, b"abcd\n\nxy").unwrap();
        let lines = read_lines(&path, 4, 100, Follow::No).unwrap().unwrap();
        assert_eq!(lines.lines, vec![b"abcd".to_vec(), Vec::new()]);
        assert_eq!(lines.torn_tail, 2);
        std::fs::write(&path, b"abcd\nabcde\n").unwrap();
        assert_eq!(
            read_lines(&path, 4, 100, Follow::No)
                .unwrap_err()
                .to_string(),
            "line 2 is longer than the limit of 4 bytes"
        );
        assert!(matches!(
            read_lines(&path, 10, 8, Follow::No),
            Err(ReadError::TooLarge { max: 8 })
        ));
    }

    #[test]
    fn directories_and_state_files_get_exactly_their_mode() {
        // Modes the usual umask (022) would narrow; the CLI tests run under umask 000 and 077.
        let dir = tempfile::tempdir().unwrap();
        let deep = dir.path().join("a/b/c");
        create_dir_all(&deep, 0o775).unwrap();
        for d in ["a", "a/b", "a/b/c"] {
            let mode = std::fs::metadata(dir.path().join(d))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o775, "{d}");
        }
        create_dir_all(&deep, 0o700).unwrap();
        let file = dir.path().join("state");
        std::fs::write(&file, b"").unwrap();
        assert!(create_dir_all(&file, 0o755).is_err());
        let lock = dir.path().join("a/.lock");
        open_state_file(&lock, 0o666).unwrap();
        let mode = std::fs::metadata(&lock).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o666);
        open_state_file(&lock, 0o666).unwrap();
    }
}
