//! Walking a tree: listing entries, checking names and links, and collecting the files to hash.

use std::cell::RefCell;
use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, RawDir};

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
            kind: special_kind(FileType::from_raw_mode(metadata.mode())),
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
    /// Length of the directory's path below the root, with its `/`: a file's name is its
    /// entry's path from there.
    pub(crate) prefix: usize,
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
                    prefix: name_offset(&rel),
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

/// Size of each thread's buffer for directory listings: one `getdents64` call fills it with a
/// few hundred entries.
const LISTING_BUFFER: usize = 32 * 1024;

thread_local! {
    static LISTING: RefCell<Vec<MaybeUninit<u8>>> = const { RefCell::new(Vec::new()) };
}

/// One entry of a directory being listed: its path below the root, as bytes until its name has
/// been checked, and its type from the listing.
struct Child {
    rel: Vec<u8>,
    file_type: FileType,
}

/// Lists one directory: checks every name, classifies every entry, checks links.
///
/// The directory is read with `getdents64` into a reused buffer; each entry costs one
/// allocation, its path below the root, which becomes the manifest entry's path.
fn list(
    root: &Path,
    canonical: &Path,
    dir_rel: &str,
    dir_abs: &Path,
    sizes: bool,
) -> Result<Listing, DigestError> {
    let dir = hash::open_dir(dir_abs, &root.join(dir_rel))?;
    let prefix = name_offset(dir_rel);
    let mut children = LISTING
        .with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => read_children(&dir, dir_rel, &mut buffer),
            // Only reachable if listing re-entered itself on this thread.
            Err(_) => read_children(&dir, dir_rel, &mut Vec::new()),
        })
        .map_err(|errno| DigestError::UnreadableDir {
            path: root.join(dir_rel),
            source: errno.into(),
        })?;
    // The digest does not depend on listing order, but errors are reported in name order. All
    // paths share the directory's prefix, so this sorts by name.
    children.sort_unstable_by(|a, b| a.rel.cmp(&b.rel));
    let mut listing = Listing {
        entries: Vec::with_capacity(children.len()),
        files: Vec::new(),
        subdirs: Vec::new(),
    };
    for Child { rel, file_type } in children {
        let rel = match String::from_utf8(rel) {
            Ok(rel) => rel,
            Err(e) => {
                let name = OsStr::from_bytes(&e.as_bytes()[prefix..]);
                return Err(DigestError::NonUtf8Name {
                    path: root.join(dir_rel).join(name),
                });
            }
        };
        let name = &rel[prefix..];
        let shown = || root.join(dir_rel).join(name);
        if let Some(reason) = component_problem(name) {
            return Err(DigestError::NonCanonicalName {
                path: shown(),
                reason,
            });
        }
        // From the listing's d_type where the file system gives it, else from `lstat`. Either
        // way, symbolic links are not followed.
        let lstat = || {
            rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|errno| {
                DigestError::UnreadableDir {
                    path: shown(),
                    source: errno.into(),
                }
            })
        };
        let (file_type, stat) = match file_type {
            FileType::Unknown => {
                let stat = lstat()?;
                (FileType::from_raw_mode(stat.st_mode), Some(stat))
            }
            known => (known, None),
        };
        match file_type {
            FileType::Directory => {
                listing.subdirs.push((rel.clone(), dir_abs.join(name)));
                listing.entries.push(Entry::directory(rel));
            }
            FileType::RegularFile => {
                let (size, executable) = if sizes {
                    let stat = match stat {
                        Some(stat) => stat,
                        None => lstat()?,
                    };
                    let size = u64::try_from(stat.st_size).unwrap_or(0);
                    (size, Some(mode_is_executable(stat.st_mode)))
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
            }
            FileType::Symlink => {
                let sha256 = check_symlink(&dir_abs.join(name), shown(), canonical)?;
                listing
                    .entries
                    .push(Entry::hashed(EntryKind::Symlink, sha256, rel));
            }
            special => {
                return Err(DigestError::SpecialFile {
                    path: shown(),
                    kind: special_kind(special),
                });
            }
        }
    }
    Ok(listing)
}

/// Where entry names start in the paths of a directory's entries: after the directory's own
/// path below the root and its `/` (at 0 for the root itself).
fn name_offset(dir_rel: &str) -> usize {
    if dir_rel.is_empty() {
        0
    } else {
        dir_rel.len() + 1
    }
}

/// Reads every entry of `dir` but `.` and `..`, through `buffer` (grown to
/// [`LISTING_BUFFER`] on first use).
fn read_children(
    dir: &OwnedFd,
    dir_rel: &str,
    buffer: &mut Vec<MaybeUninit<u8>>,
) -> rustix::io::Result<Vec<Child>> {
    if buffer.len() < LISTING_BUFFER {
        buffer.resize(LISTING_BUFFER, MaybeUninit::uninit());
    }
    let mut children = Vec::new();
    let mut entries = RawDir::new(dir, buffer);
    while let Some(entry) = entries.next() {
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        let mut rel = Vec::with_capacity(dir_rel.len() + 1 + name.len());
        if !dir_rel.is_empty() {
            rel.extend_from_slice(dir_rel.as_bytes());
            rel.push(b'/');
        }
        rel.extend_from_slice(name);
        children.push(Child {
            rel,
            file_type: entry.file_type(),
        });
    }
    Ok(children)
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
    mode_is_executable(metadata.permissions().mode())
}

fn mode_is_executable(mode: u32) -> bool {
    mode & 0o100 != 0
}

fn special_kind(file_type: FileType) -> SpecialKind {
    match file_type {
        FileType::Fifo => SpecialKind::Fifo,
        FileType::Socket => SpecialKind::Socket,
        FileType::CharacterDevice => SpecialKind::CharDevice,
        FileType::BlockDevice => SpecialKind::BlockDevice,
        _ => SpecialKind::Unknown,
    }
}
