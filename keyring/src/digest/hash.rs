//! Streaming SHA-256 of files through one fixed buffer per thread.

use std::cell::RefCell;
use std::fs::File;
use std::io::{self, Read};
use std::path::PathBuf;

use rustix::fs::{Mode, OFlags};
use sha2::{Digest, Sha256};

use super::Progress;
use super::error::DigestError;
use super::walk::is_executable;

/// Size of each thread's read buffer. Small files are read whole in one call; large files
/// stream through it, so memory stays at this size per thread whatever the file size. 256 KiB
/// keeps a chunk in the L2 cache between the copy from the page cache and the hash.
pub(crate) const BUFFER_SIZE: usize = 256 * 1024;

thread_local! {
    static BUFFER: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// SHA-256 of bytes in memory.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// A regular file to hash.
pub(crate) struct FileJob {
    /// How errors name it: below the path the caller gave.
    pub(crate) display: PathBuf,
    /// Where to open it: below the canonical root.
    pub(crate) open: PathBuf,
    /// The owner-execute bit seen by the walk, checked again once the file is open.
    pub(crate) executable: Option<bool>,
}

/// Hashes one regular file, refusing it if it stopped being one since the walk (a link or a
/// FIFO swapped in would otherwise be followed or block).
pub(crate) fn hash_file(job: &FileJob, progress: &dyn Progress) -> Result<[u8; 32], DigestError> {
    let unreadable = |source| DigestError::UnreadableFile {
        path: job.display.clone(),
        source,
    };
    let changed = |what| DigestError::Changed {
        path: job.display.clone(),
        what,
    };
    let flags =
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = rustix::fs::open(&job.open, flags, Mode::empty()).map_err(|errno| {
        if errno == rustix::io::Errno::LOOP {
            changed("it became a symbolic link")
        } else {
            unreadable(errno.into())
        }
    })?;
    let mut file = File::from(fd);
    let metadata = file.metadata().map_err(unreadable)?;
    if !metadata.file_type().is_file() {
        return Err(changed("it is no longer a regular file"));
    }
    if job
        .executable
        .is_some_and(|was| was != is_executable(&metadata))
    {
        return Err(changed("its executable bit flipped"));
    }
    BUFFER
        .with(|cell| match cell.try_borrow_mut() {
            Ok(mut buffer) => {
                if buffer.len() < BUFFER_SIZE {
                    buffer.resize(BUFFER_SIZE, 0);
                }
                stream(&mut file, &mut buffer, progress)
            }
            // Only reachable if a progress hook hashes from inside a callback.
            Err(_) => stream(&mut file, &mut vec![0; BUFFER_SIZE], progress),
        })
        .map_err(unreadable)
}

/// Reads `reader` to its end through `buffer`, hashing as it goes.
fn stream(
    reader: &mut impl Read,
    buffer: &mut [u8],
    progress: &dyn Progress,
) -> io::Result<[u8; 32]> {
    let mut hasher = Sha256::new();
    // Bytes hashed but not yet reported: the last chunk is reported with the file's completion.
    let mut unreported = 0u64;
    loop {
        let n = match reader.read(buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buffer[..n]);
        if unreported > 0 {
            progress.advance(0, unreported);
        }
        unreported = n as u64;
    }
    progress.advance(1, unreported);
    Ok(hasher.finalize().into())
}
