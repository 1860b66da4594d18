//! Durable file writes and bounded reads.
//!
//! Every file Hallmark writes — keys, bundles, trust-store and registry state — is written
//! atomically: to a temporary file in the same directory, flushed to disk, then renamed into
//! place and the directory flushed. A reader, or a process killed at any point, sees the old
//! content or the new content, never a mixture or a truncated file. [`write_new`] never
//! replaces an existing file (it links the temporary file into place, which fails if the name
//! exists), so keys and bundles are not overwritten by accident.

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
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

/// Why a bounded read failed.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// An I/O error.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The file is larger than the limit.
    #[error("{0} bytes, larger than allowed")]
    TooLarge(u64),
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

fn temp_in(dir: &Path, mode: u32) -> std::io::Result<(File, PathBuf)> {
    for _ in 0..16 {
        let mut rand = [0u8; 8];
        getrandom::fill(&mut rand).map_err(std::io::Error::other)?;
        let name = format!(".hallmark-tmp-{}", crate::encoding::hex_encode(&rand));
        let path = dir.join(name);
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

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

fn write_temp(path: &Path, bytes: &[u8], mode: u32) -> Result<PathBuf, WriteError> {
    let io = |source| WriteError::Io {
        path: path.to_owned(),
        source,
    };
    let dir = parent_dir(path);
    let (mut file, tmp) = temp_in(dir, mode).map_err(io)?;
    let result = (|| {
        // The umask may have narrowed the mode at creation; set it exactly.
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
        file.write_all(bytes)?;
        file.sync_all()
    })();
    if let Err(e) = result {
        let _ = std::fs::remove_file(&tmp);
        return Err(io(e));
    }
    Ok(tmp)
}

/// Moves the finished file `tmp` to `path` unless something exists there, in which case it
/// fails with [`std::io::ErrorKind::AlreadyExists`] and removes `tmp`: a file created
/// meanwhile is never replaced. One `renameat2(RENAME_NOREPLACE)` where the file system has it,
/// else `link(2)` (which also refuses an existing name) and `unlink(2)`.
fn move_new(tmp: &Path, path: &Path) -> std::io::Result<()> {
    use rustix::fs::{CWD, RenameFlags};
    use rustix::io::Errno;
    match rustix::fs::renameat_with(CWD, tmp, CWD, path, RenameFlags::NOREPLACE) {
        Ok(()) => return Ok(()),
        // Not supported by this file system or kernel: fall back to link and unlink.
        Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
        Err(errno) => {
            let _ = std::fs::remove_file(tmp);
            return Err(errno.into());
        }
    }
    let linked = std::fs::hard_link(tmp, path);
    let _ = std::fs::remove_file(tmp);
    linked
}

/// Writes a new file atomically with the given mode; fails with [`WriteError::Exists`] if
/// anything exists at `path`.
pub fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    if exists_no_follow(path) {
        return Err(WriteError::Exists {
            path: path.to_owned(),
        });
    }
    let tmp = write_temp(path, bytes, mode)?;
    match move_new(&tmp, path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(WriteError::Exists {
                path: path.to_owned(),
            });
        }
        Err(source) => {
            return Err(WriteError::Io {
                path: path.to_owned(),
                source,
            });
        }
    }
    sync_dir(parent_dir(path)).map_err(|source| WriteError::Io {
        path: path.to_owned(),
        source,
    })
}

/// Writes a file atomically with the given mode, replacing any existing file.
pub fn write_replace(path: &Path, bytes: &[u8], mode: u32) -> Result<(), WriteError> {
    let tmp = write_temp(path, bytes, mode)?;
    if let Err(source) = std::fs::rename(&tmp, path) {
        let _ = std::fs::remove_file(&tmp);
        return Err(WriteError::Io {
            path: path.to_owned(),
            source,
        });
    }
    sync_dir(parent_dir(path)).map_err(|source| WriteError::Io {
        path: path.to_owned(),
        source,
    })
}

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
#[derive(Debug)]
pub struct StagedWrites {
    mode: u32,
    replace: bool,
    staged: Vec<(PathBuf, PathBuf)>,
}

impl StagedWrites {
    /// An empty batch of files with this mode; `replace` allows overwriting existing targets.
    pub fn new(mode: u32, replace: bool) -> Self {
        StagedWrites {
            mode,
            replace,
            staged: Vec::new(),
        }
    }

    /// Writes `bytes` to a temporary file beside `path`.
    pub fn stage(&mut self, path: &Path, bytes: &[u8]) -> Result<(), WriteError> {
        if !self.replace && exists_no_follow(path) {
            return Err(WriteError::Exists {
                path: path.to_owned(),
            });
        }
        let io = |source| WriteError::Io {
            path: path.to_owned(),
            source,
        };
        let (mut file, tmp) = temp_in(parent_dir(path), self.mode).map_err(io)?;
        let written = file
            .set_permissions(std::fs::Permissions::from_mode(self.mode))
            .and_then(|()| file.write_all(bytes));
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(io(e));
        }
        self.staged.push((path.to_owned(), tmp));
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
        let Some((first, _)) = staged.first() else {
            return Ok(());
        };
        let cleanup = |rest: &[(PathBuf, PathBuf)]| {
            for (_, tmp) in rest {
                let _ = std::fs::remove_file(tmp);
            }
        };
        let flushed = File::open(parent_dir(first))
            .and_then(|dir| rustix::fs::syncfs(&dir).map_err(std::io::Error::from));
        if let Err(source) = flushed {
            cleanup(&staged);
            return Err(WriteError::Io {
                path: first.clone(),
                source,
            });
        }
        let mut dirs: Vec<&Path> = Vec::new();
        for (index, (path, tmp)) in staged.iter().enumerate() {
            let moved = if self.replace {
                std::fs::rename(tmp, path)
            } else {
                move_new(tmp, path)
            };
            if let Err(e) = moved {
                cleanup(&staged[index + 1..]);
                return Err(if e.kind() == std::io::ErrorKind::AlreadyExists {
                    WriteError::Exists { path: path.clone() }
                } else {
                    WriteError::Io {
                        path: path.clone(),
                        source: e,
                    }
                });
            }
            let dir = parent_dir(path);
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
        for dir in dirs {
            sync_dir(dir).map_err(|source| WriteError::Io {
                path: dir.to_owned(),
                source,
            })?;
        }
        Ok(())
    }
}

impl Drop for StagedWrites {
    fn drop(&mut self) {
        for (_, tmp) in &self.staged {
            let _ = std::fs::remove_file(tmp);
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

/// Reads a whole file, refusing files larger than `max` bytes before reading them.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, ReadError> {
    let file = File::open(path)?;
    let len = file.metadata()?.len();
    if len > max {
        return Err(ReadError::TooLarge(len));
    }
    let mut bytes = Vec::with_capacity(len as usize);
    file.take(max + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > max {
        return Err(ReadError::TooLarge(bytes.len() as u64));
    }
    Ok(bytes)
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
    fn bounded_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        std::fs::write(&path, b"12345").unwrap();
        assert_eq!(read_bounded(&path, 5).unwrap(), b"12345");
        assert!(matches!(
            read_bounded(&path, 4),
            Err(ReadError::TooLarge(5))
        ));
    }
}
