//! Walking a tree: listing entries, checking names and links, and collecting the files to hash.

use std::fs::{self, FileType, Metadata};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rayon::prelude::*;

use super::error::{DigestError, SpecialKind};
use super::hash;
use super::manifest::{Entry, EntryKind, component_problem};

/// What the path given by the caller turned out to be, after following symbolic links.
pub(crate) enum Root {
    File { canonical: PathBuf, size: u64 },
    Dir { canonical: PathBuf },
}

/// Resolves the caller's path (following links: the caller named it) and classifies it.
pub(crate) fn open_root(path: &Path) -> Result<Root, DigestError> {
    let root_error = |source| DigestError::Root {
        path: path.to_path_buf(),
        source,
    };
    let canonical = fs::canonicalize(path).map_err(root_error)?;
    let metadata = fs::metadata(&canonical).map_err(root_error)?;
    let file_type = metadata.file_type();
    if file_type.is_dir() {
        Ok(Root::Dir { canonical })
    } else if file_type.is_file() {
        Ok(Root::File {
            canonical,
            size: metadata.len(),
        })
    } else {
        Err(DigestError::SpecialFile {
            path: path.to_path_buf(),
            kind: special_kind(file_type),
        })
    }
}

/// A regular file found by the walk, to be hashed.
pub(crate) struct FileJob {
    /// Index of its entry in [`Walked::entries`]; its name is the last component of that path.
    pub(crate) entry: usize,
    /// Its size when listed, if the walk looked (for progress totals); else 0.
    pub(crate) size: u64,
    /// Its owner-execute bit when listed, if the walk looked; hashing reads it again anyway.
    pub(crate) executable: Option<bool>,
}

/// The regular files of one directory. Files are opened relative to the directory, which is
/// opened once for all of them.
pub(crate) struct DirJob {
    /// Where to open the directory: below the canonical root.
    pub(crate) open: PathBuf,
    /// How errors name it: below the path the caller gave.
    pub(crate) display: PathBuf,
    pub(crate) files: Vec<FileJob>,
    /// Total size of `files` (0 if the walk did not look at sizes).
    pub(crate) bytes: u64,
}

/// Everything below a root: entries (files still without their digest) and the files to hash.
pub(crate) struct Walked {
    pub(crate) entries: Vec<Entry>,
    pub(crate) dirs: Vec<DirJob>,
}

/// What listing one directory found.
struct Listing {
    entries: Vec<Entry>,
    /// (index in `entries`, size, executable) of each regular file.
    files: Vec<(usize, u64, Option<bool>)>,
    /// Subdirectories to list next: (relative path, absolute path).
    subdirs: Vec<(String, PathBuf)>,
}

/// Lists every entry below `canonical` without following links. `root` is the path as the
/// caller gave it, used to name entries in errors.
///
/// Types come from the directory listing itself (`d_type`). Regular files are only `stat`ed
/// if `sizes` is set (to give progress totals): hashing reads their mode from the open file,
/// so a walk without sizes costs one system call less per file.
///
/// Directories are listed level by level, each level in parallel; errors are reported in that
/// order (by depth, then by name), so the same tree always gives the same error.
pub(crate) fn walk(root: &Path, canonical: &Path, sizes: bool) -> Result<Walked, DigestError> {
    let mut walked = Walked {
        entries: Vec::new(),
        dirs: Vec::new(),
    };
    let mut level = vec![(String::new(), canonical.to_path_buf())];
    while !level.is_empty() {
        let listings: Vec<_> = level
            .par_iter()
            .map(|(rel, abs)| list(root, canonical, rel, abs, sizes))
            .collect();
        let mut next = Vec::new();
        for ((rel, abs), listing) in level.into_iter().zip(listings) {
            let listing = listing?;
            let offset = walked.entries.len();
            let files: Vec<FileJob> = listing
                .files
                .into_iter()
                .map(|(index, size, executable)| FileJob {
                    entry: offset + index,
                    size,
                    executable,
                })
                .collect();
            walked.entries.extend(listing.entries);
            if !files.is_empty() {
                walked.dirs.push(DirJob {
                    open: abs,
                    display: root.join(&rel),
                    bytes: files.iter().map(|f| f.size).sum(),
                    files,
                });
            }
            next.extend(listing.subdirs);
        }
        level = next;
    }
    Ok(walked)
}

/// Lists one directory: checks every name, classifies every entry, checks links.
fn list(
    root: &Path,
    canonical: &Path,
    dir_rel: &str,
    dir_abs: &Path,
    sizes: bool,
) -> Result<Listing, DigestError> {
    let unreadable = |source| DigestError::UnreadableDir {
        path: root.join(dir_rel),
        source,
    };
    let mut children = fs::read_dir(dir_abs)
        .map_err(unreadable)?
        .map(|child| child.map(|child| (child.file_name(), child)))
        .collect::<Result<Vec<_>, _>>()
        .map_err(unreadable)?;
    // The digest does not depend on listing order, but errors are reported in name order.
    children.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut listing = Listing {
        entries: Vec::with_capacity(children.len()),
        files: Vec::new(),
        subdirs: Vec::new(),
    };
    for (name, child) in children {
        let shown = || root.join(dir_rel).join(&name);
        let Some(name) = name.to_str() else {
            return Err(DigestError::NonUtf8Name { path: shown() });
        };
        if let Some(reason) = component_problem(name) {
            return Err(DigestError::NonCanonicalName {
                path: shown(),
                reason,
            });
        }
        let rel = if dir_rel.is_empty() {
            name.to_owned()
        } else {
            format!("{dir_rel}/{name}")
        };
        // From the listing's d_type where the file system gives it; std falls back to
        // lstat otherwise. Either way, symbolic links are not followed.
        let file_type = child
            .file_type()
            .map_err(|source| DigestError::UnreadableDir {
                path: shown(),
                source,
            })?;
        if file_type.is_dir() {
            listing.entries.push(Entry::directory(rel.clone()));
            listing.subdirs.push((rel, child.path()));
        } else if file_type.is_file() {
            let (size, executable) = if sizes {
                // `DirEntry::metadata` does not follow symbolic links either.
                let metadata = child
                    .metadata()
                    .map_err(|source| DigestError::UnreadableDir {
                        path: shown(),
                        source,
                    })?;
                (metadata.len(), Some(is_executable(&metadata)))
            } else {
                (0, None)
            };
            listing
                .files
                .push((listing.entries.len(), size, executable));
            // The kind (f or x) and digest are filled in once the file is open and hashed.
            listing
                .entries
                .push(Entry::hashed(EntryKind::File, [0; 32], rel));
        } else if file_type.is_symlink() {
            let sha256 = check_symlink(&child.path(), shown(), canonical)?;
            listing
                .entries
                .push(Entry::hashed(EntryKind::Symlink, sha256, rel));
        } else {
            return Err(DigestError::SpecialFile {
                path: shown(),
                kind: special_kind(file_type),
            });
        }
    }
    Ok(listing)
}

/// Checks that the link at `abs` is relative and resolves, through the file system, to a place
/// inside `canonical_root`; returns the SHA-256 of its target string.
fn check_symlink(
    abs: &Path,
    shown: PathBuf,
    canonical_root: &Path,
) -> Result<[u8; 32], DigestError> {
    let target = fs::read_link(abs).map_err(|source| DigestError::UnreadableFile {
        path: shown.clone(),
        source,
    })?;
    if target.is_absolute() {
        return Err(DigestError::SymlinkAbsolute {
            path: shown,
            target,
        });
    }
    // Resolve through the file system, not lexically: in `sub/../x` with `sub -> .`, the `..`
    // leaves the directory `sub` resolves to, not the one that contains `sub`.
    match fs::canonicalize(abs) {
        Err(source) => Err(DigestError::SymlinkUnresolved {
            path: shown,
            target,
            source,
        }),
        Ok(resolved) if !resolved.starts_with(canonical_root) => Err(DigestError::SymlinkEscapes {
            path: shown,
            target,
            resolved,
            root: canonical_root.to_path_buf(),
        }),
        Ok(_) => Ok(hash::sha256(target.as_os_str().as_bytes())),
    }
}

/// The owner-execute bit, as git records it.
pub(crate) fn is_executable(metadata: &Metadata) -> bool {
    metadata.permissions().mode() & 0o100 != 0
}

fn special_kind(file_type: FileType) -> SpecialKind {
    if file_type.is_fifo() {
        SpecialKind::Fifo
    } else if file_type.is_socket() {
        SpecialKind::Socket
    } else if file_type.is_char_device() {
        SpecialKind::CharDevice
    } else if file_type.is_block_device() {
        SpecialKind::BlockDevice
    } else {
        SpecialKind::Unknown
    }
}
