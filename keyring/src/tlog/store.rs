//! Reading tiles from a source nobody trusts, and writing them.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::merkle::{self, Hash, HashSource, ProofError, root_of};
use super::tile::{
    MAX_ENTRY_BUNDLE_BYTES, MAX_HASH_TILE_BYTES, TILE_HEIGHT, TILE_WIDTH, TileError, TileId,
    TileKind, encode_entry_bundle, level_count,
};
use crate::fsutil::{self, Follow, ReadError, WriteError};

/// A tree: its size and root hash, as a checkpoint states them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tree {
    /// Number of leaves.
    pub size: u64,
    /// RFC 6962 root hash.
    pub root: Hash,
}

impl Tree {
    /// The empty tree.
    pub const EMPTY: Tree = Tree {
        size: 0,
        root: merkle::EMPTY_ROOT,
    };
}

/// Why an object could not be fetched from a [`TileReader`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// The source has no such object.
    #[error("{path}: not found")]
    NotFound {
        /// The object's path under the log's prefix.
        path: String,
    },
    /// The object is larger than it may be.
    #[error("{path}: larger than the {max} bytes it may have")]
    TooLarge {
        /// The object's path.
        path: String,
        /// The limit.
        max: u64,
    },
    /// Any other failure (I/O, network), described.
    #[error("{path}: {detail}")]
    Other {
        /// The object's path.
        path: String,
        /// What went wrong.
        detail: String,
    },
}

/// Where a log's objects come from: a directory, an HTTP server, an object store. Paths are
/// relative to the log's prefix (`checkpoint`, `tile/0/000`, `tile/entries/x001/234.p/7`);
/// an implementation must refuse to return more than `max_bytes` (and should stop reading
/// there). Nothing read is trusted: [`TileHashes`] verifies it.
pub trait TileReader {
    /// Reads the object at `path`, at most `max_bytes`.
    fn read(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>, FetchError>;
}

/// A [`TileReader`] over a directory (a registry's own, or a copy). Symbolic links are not
/// followed.
#[derive(Clone, Debug)]
pub struct DirTileReader {
    dir: PathBuf,
}

impl DirTileReader {
    /// Reads the log under `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        DirTileReader { dir: dir.into() }
    }
}

impl TileReader for DirTileReader {
    fn read(&self, path: &str, max_bytes: u64) -> Result<Vec<u8>, FetchError> {
        let full = self.dir.join(path);
        fsutil::read_bounded_with(&full, max_bytes, Follow::No).map_err(|e| match e {
            ReadError::Io(io) if io.kind() == std::io::ErrorKind::NotFound => {
                FetchError::NotFound {
                    path: path.to_owned(),
                }
            }
            ReadError::TooLarge { max } => FetchError::TooLarge {
                path: path.to_owned(),
                max,
            },
            other => FetchError::Other {
                path: path.to_owned(),
                detail: other.to_string(),
            },
        })
    }
}

/// Why reading or writing a log failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TlogError {
    /// An object could not be fetched.
    #[error("cannot read the log: {0}")]
    Fetch(#[from] FetchError),
    /// A tile or entry bundle is malformed (truncated, wrong size).
    #[error(transparent)]
    Tile(#[from] TileError),
    /// A proof could not be made or did not verify.
    #[error(transparent)]
    Proof(#[from] ProofError),
    /// Tile contents that do not hash to the signed root: the source lies, or serves another
    /// tree.
    #[error(
        "{path} does not match the checkpoint's root hash: the log serves tiles of another tree"
    )]
    Inconsistent {
        /// The tile that does not match.
        path: String,
    },
    /// A write failed.
    #[error(transparent)]
    Write(#[from] WriteError),
    /// A directory could not be created.
    #[error("cannot create {}: {source}", path.display())]
    CreateDir {
        /// The directory.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
}

/// Tiles of one tree, each checked against the tree's root before use: a [`HashSource`]
/// for proofs, and a reader of entries. Tiles fetched are kept (a few kilobytes each).
///
/// Partial tiles (the tree's right edge) are checked together by recomputing the root from
/// them; a full tile is checked against its hash in the tile above. A partial tile that is not
/// found is read from the full tile at the same index, if the log has grown.
pub struct TileHashes<'r, R: TileReader + ?Sized> {
    reader: &'r R,
    tree: Tree,
    tiles: HashMap<(u8, u64), Vec<Hash>>,
}

impl<'r, R: TileReader + ?Sized> TileHashes<'r, R> {
    /// Tiles of `tree` (from a verified checkpoint) read through `reader`.
    pub fn new(reader: &'r R, tree: Tree) -> Self {
        TileHashes {
            reader,
            tree,
            tiles: HashMap::new(),
        }
    }

    /// The tree these tiles are checked against.
    pub fn tree(&self) -> Tree {
        self.tree
    }

    /// The inclusion proof of leaf `index` in this tree.
    pub fn inclusion_proof(&mut self, index: u64) -> Result<Vec<Hash>, TlogError> {
        merkle::inclusion_proof(self, index, self.tree.size)
    }

    /// The consistency proof from the tree's first `old` leaves to this tree.
    pub fn consistency_proof(&mut self, old: u64) -> Result<Vec<Hash>, TlogError> {
        merkle::consistency_proof(self, old, self.tree.size)
    }

    /// The root of the tree's first `size` leaves, from the tiles.
    pub fn root_at(&mut self, size: u64) -> Result<Hash, TlogError> {
        if size > self.tree.size {
            return Err(ProofError::OldLargerThanNew {
                old: size,
                new: self.tree.size,
            }
            .into());
        }
        merkle::tree_hash(self, size)
    }

    /// The verified hashes of hash tile `index` at tile level `level`.
    pub fn tile(&mut self, level: u8, index: u64) -> Result<&[Hash], TlogError> {
        self.load(level, index)?;
        Ok(self.tiles.get(&(level, index)).map_or(&[][..], |v| &v[..]))
    }

    /// The entries of entry bundle `index`, checked against the tree.
    pub fn entries(&mut self, index: u64) -> Result<Vec<Vec<u8>>, TlogError> {
        let id = TileId::in_tree(TileKind::Entries, index, self.tree.size).ok_or(
            ProofError::IndexOutOfRange {
                index: index.saturating_mul(TILE_WIDTH),
                size: self.tree.size,
            },
        )?;
        let bytes = self.fetch(&id, MAX_ENTRY_BUNDLE_BYTES)?;
        let entries = id.parse_entries(&bytes)?;
        let hashes = self.tile(0, index)?;
        for (entry, hash) in entries.iter().zip(hashes) {
            if merkle::leaf_hash(entry) != *hash {
                return Err(TlogError::Inconsistent { path: id.path() });
            }
        }
        Ok(entries)
    }

    /// Entry `index` of the log, checked against the tree.
    pub fn entry(&mut self, index: u64) -> Result<Vec<u8>, TlogError> {
        let mut entries = self.entries(index / TILE_WIDTH)?;
        // index % 256 < the bundle's width, since the bundle was sized by the tree.
        let at = (index % TILE_WIDTH) as usize;
        if at >= entries.len() {
            return Err(ProofError::IndexOutOfRange {
                index,
                size: self.tree.size,
            }
            .into());
        }
        Ok(entries.swap_remove(at))
    }

    /// Fetches a tile; for a partial tile that is gone, its full successor's prefix.
    fn fetch(&self, id: &TileId, max: usize) -> Result<Vec<u8>, TlogError> {
        match self.reader.read(&id.path(), max as u64) {
            Ok(bytes) => Ok(bytes),
            Err(FetchError::NotFound { .. }) if !id.is_full() => {
                let full = TileId {
                    width: TILE_WIDTH as u16,
                    ..*id
                };
                let bytes = self
                    .reader
                    .read(&full.path(), max as u64)
                    .map_err(|_| FetchError::NotFound { path: id.path() })?;
                Ok(prefix_of_full(id, bytes))
            }
            Err(e) => Err(e.into()),
        }
    }

    fn fetch_hashes(&self, id: &TileId) -> Result<Vec<Hash>, TlogError> {
        let bytes = self.fetch(id, MAX_HASH_TILE_BYTES)?;
        Ok(id.parse_hashes(&bytes)?)
    }

    fn load(&mut self, level: u8, index: u64) -> Result<(), TlogError> {
        if self.tiles.contains_key(&(level, index)) {
            return Ok(());
        }
        let id = TileId::in_tree(TileKind::Hashes(level), index, self.tree.size).ok_or(
            ProofError::IndexOutOfRange {
                index,
                size: level_count(level, self.tree.size),
            },
        )?;
        if !id.is_full() {
            return self.load_right_edge();
        }
        // A full tile hashes to one hash in the tile above.
        let parent = index / TILE_WIDTH;
        let at = (index % TILE_WIDTH) as usize;
        let expected = self.tile(level + 1, parent)?.get(at).copied();
        let hashes = self.fetch_hashes(&id)?;
        if Some(root_of(&hashes)) != expected {
            return Err(TlogError::Inconsistent { path: id.path() });
        }
        self.tiles.insert((level, index), hashes);
        Ok(())
    }

    /// Fetches every partial tile of the tree and checks that they hash to its root.
    fn load_right_edge(&mut self) -> Result<(), TlogError> {
        let size = self.tree.size;
        let mut edge = HashMap::new();
        let mut paths = Vec::new();
        let mut level = 0u8;
        while level_count(level, size) > 0 {
            let count = level_count(level, size);
            if !count.is_multiple_of(TILE_WIDTH) {
                let Some(id) = TileId::in_tree(TileKind::Hashes(level), count / TILE_WIDTH, size)
                else {
                    break;
                };
                let hashes = self.fetch_hashes(&id)?;
                paths.push(id.path());
                edge.insert((level, id.index), hashes);
            }
            level += 1;
        }
        let mut src = Fixed(&edge);
        let root = merkle::tree_hash(&mut src, size).map_err(|_| TlogError::Inconsistent {
            path: paths.join(", "),
        })?;
        if root != self.tree.root {
            return Err(TlogError::Inconsistent {
                path: paths.join(", "),
            });
        }
        self.tiles.extend(edge);
        Ok(())
    }
}

/// The first `width` hashes (or entries) of a full tile read in place of a partial one.
fn prefix_of_full(id: &TileId, bytes: Vec<u8>) -> Vec<u8> {
    match id.kind {
        TileKind::Hashes(_) => {
            let n = usize::from(id.width) * super::tile::HASH_SIZE;
            if bytes.len() == MAX_HASH_TILE_BYTES {
                bytes[..n].to_vec()
            } else {
                bytes
            }
        }
        TileKind::Entries => {
            // Keep the first `width` entries; a malformed bundle is left for the parser.
            let mut rest = &bytes[..];
            let mut taken = 0usize;
            for _ in 0..id.width {
                let [a, b, tail @ ..] = rest else {
                    return bytes;
                };
                let len = usize::from(u16::from_be_bytes([*a, *b]));
                if tail.len() < len {
                    return bytes;
                }
                taken += 2 + len;
                rest = &tail[len..];
            }
            bytes[..taken].to_vec()
        }
    }
}

/// The subtree hash of `2^r` hashes of a tile starting at `offset`.
fn node_in_tile(hashes: &[Hash], offset: usize, r: u8) -> Option<Hash> {
    hashes.get(offset..offset + (1usize << r)).map(root_of)
}

fn split_level(level: u8, index: u64) -> (u8, u64, usize, u8) {
    let tile_level = level / TILE_HEIGHT;
    let r = level % TILE_HEIGHT;
    let first = index << r;
    (
        tile_level,
        first / TILE_WIDTH,
        (first % TILE_WIDTH) as usize,
        r,
    )
}

impl<R: TileReader + ?Sized> HashSource for TileHashes<'_, R> {
    type Error = TlogError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, TlogError> {
        let size = self.tree.size;
        let fits = index
            .checked_add(1)
            .and_then(|n| n.checked_shl(u32::from(level)))
            .is_some_and(|hi| hi <= size && level < 64);
        if !fits {
            return Err(ProofError::IndexOutOfRange { index, size }.into());
        }
        let (tl, n, offset, r) = split_level(level, index);
        let hashes = self.tile(tl, n)?;
        node_in_tile(hashes, offset, r).ok_or(TlogError::Proof(ProofError::IndexOutOfRange {
            index,
            size,
        }))
    }
}

/// Tiles already in memory, looked up as they are.
struct Fixed<'a>(&'a HashMap<(u8, u64), Vec<Hash>>);

impl HashSource for Fixed<'_> {
    type Error = ProofError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        let (tl, n, offset, r) = split_level(level, index);
        self.0
            .get(&(tl, n))
            .and_then(|h| node_in_tile(h, offset, r))
            .ok_or(ProofError::IndexOutOfRange { index, size: 0 })
    }
}

/// New tiles in memory first, then the old tree's (verified) tiles.
struct Layered<'a, 'r> {
    new: &'a HashMap<(u8, u64), Vec<Hash>>,
    old: &'a mut TileHashes<'r, DirTileReader>,
}

impl HashSource for Layered<'_, '_> {
    type Error = TlogError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, TlogError> {
        let (tl, n, offset, r) = split_level(level, index);
        if let Some(hashes) = self.new.get(&(tl, n)) {
            return node_in_tile(hashes, offset, r).ok_or(TlogError::Proof(
                ProofError::IndexOutOfRange { index, size: 0 },
            ));
        }
        self.old.node(level, index)
    }
}

/// Records the nodes a computation asks for, answering with zeros.
struct Recorder {
    nodes: Vec<(u8, u64)>,
}

impl HashSource for Recorder {
    type Error = ProofError;
    fn node(&mut self, level: u8, index: u64) -> Result<Hash, ProofError> {
        self.nodes.push((level, index));
        Ok([0; 32])
    }
}

/// The hash tiles (as the tree of `size` has them) holding the hashes a computation over
/// that tree reads.
fn tiles_read(
    size: u64,
    run: impl FnOnce(&mut Recorder) -> Result<Vec<Hash>, ProofError>,
) -> Result<Vec<TileId>, ProofError> {
    let mut rec = Recorder { nodes: Vec::new() };
    run(&mut rec)?;
    let mut tiles: Vec<TileId> = rec
        .nodes
        .iter()
        .filter_map(|&(level, index)| {
            let (tl, n, _, _) = split_level(level, index);
            TileId::in_tree(TileKind::Hashes(tl), n, size)
        })
        .collect();
    tiles.sort();
    tiles.dedup();
    Ok(tiles)
}

/// The hash tiles holding the hashes of the inclusion proof of leaf `index` in a tree of
/// `size`. [`TileHashes`] also reads the tree's partial tiles and the parents of full tiles,
/// to verify them.
pub fn inclusion_tiles(index: u64, size: u64) -> Result<Vec<TileId>, ProofError> {
    tiles_read(size, |r| merkle::inclusion_proof(r, index, size))
}

/// The hash tiles holding the hashes of the consistency proof from `old` to `new` leaves.
pub fn consistency_tiles(old: u64, new: u64) -> Result<Vec<TileId>, ProofError> {
    tiles_read(new, |r| merkle::consistency_proof(r, old, new))
}

/// The hash tiles from which the root of a tree of `size` leaves is computed: its partial
/// tiles, the right edge (every tile of the tree that is not full).
pub fn tree_hash_tiles(size: u64) -> Vec<TileId> {
    tiles_read(size, |r| merkle::tree_hash(r, size).map(|h| vec![h])).unwrap_or_default()
}

/// Appends `entries` to the tiled log in `dir`, whose published tree is `old`, and returns
/// the new tree. Writes the new and grown entry bundles and hash tiles — durably, each file
/// atomically, all flushed together — and nothing else: the caller signs a checkpoint for the
/// returned tree and then writes it with [`write_checkpoint`].
///
/// **Write order and crashes.** Tiles and bundles are written first, the checkpoint last. A
/// process killed at any point leaves the published checkpoint matching the tiles: tiles the
/// old tree covers are never touched (a tile full in `old` is never rewritten; a partial tile
/// of `old` keeps its path, `…/N.p/W`, while its successor gets a new one), and tiles beyond
/// `old` are unpublished until the checkpoint names them — the next append from `old`
/// replaces them. The old tree's tiles read here are checked against `old.root` first, so a
/// damaged directory is refused rather than extended.
///
/// One writer at a time: the caller serialises appends to a directory (the registry holds its
/// lock).
///
/// Every entry must be at most 65,535 bytes ([`TileError::EntryTooLong`], checked before
/// anything is written). An empty batch writes nothing and returns `old`.
pub fn append<E: AsRef<[u8]>>(dir: &Path, old: Tree, entries: &[E]) -> Result<Tree, TlogError> {
    for entry in entries {
        if entry.as_ref().len() > super::tile::MAX_ENTRY_BYTES {
            return Err(TileError::EntryTooLong {
                len: entry.as_ref().len(),
            }
            .into());
        }
    }
    if entries.is_empty() {
        return Ok(old);
    }
    let reader = DirTileReader::new(dir);
    let mut old_tiles = TileHashes::new(&reader, old);
    let mut files: Vec<(String, Vec<u8>)> = Vec::new();

    // Entry bundles: the old partial bundle's entries, then the new ones.
    let first_bundle = old.size / TILE_WIDTH;
    let mut bundle: Vec<Vec<u8>> = if !old.size.is_multiple_of(TILE_WIDTH) {
        old_tiles.entries(first_bundle)?
    } else {
        Vec::new()
    };
    bundle.extend(entries.iter().map(|e| e.as_ref().to_vec()));
    for (j, chunk) in bundle.chunks(TILE_WIDTH as usize).enumerate() {
        let id = TileId {
            kind: TileKind::Entries,
            index: first_bundle + j as u64,
            width: chunk.len() as u16,
        };
        files.push((id.path(), encode_entry_bundle(chunk)?));
    }

    // Hash tiles, level by level, while a level gains hashes.
    let mut new_tiles: HashMap<(u8, u64), Vec<Hash>> = HashMap::new();
    let mut gained: Vec<Hash> = entries
        .iter()
        .map(|e| merkle::leaf_hash(e.as_ref()))
        .collect();
    let mut level = 0u8;
    while !gained.is_empty() {
        let old_count = level_count(level, old.size);
        let first = old_count / TILE_WIDTH;
        let mut hashes: Vec<Hash> = if !old_count.is_multiple_of(TILE_WIDTH) {
            old_tiles.tile(level, first)?.to_vec()
        } else {
            Vec::new()
        };
        hashes.append(&mut gained);
        for (j, chunk) in hashes.chunks(TILE_WIDTH as usize).enumerate() {
            let id = TileId {
                kind: TileKind::Hashes(level),
                index: first + j as u64,
                width: chunk.len() as u16,
            };
            files.push((id.path(), chunk.concat()));
            if id.is_full() {
                gained.push(root_of(chunk));
            }
            new_tiles.insert((level, id.index), chunk.to_vec());
        }
        level += 1;
    }

    let size = old.size + entries.len() as u64;
    let root = merkle::tree_hash(
        &mut Layered {
            new: &new_tiles,
            old: &mut old_tiles,
        },
        size,
    )?;

    let mut batch = fsutil::StagedWrites::new(fsutil::PUBLIC_FILE_MODE, true);
    let mut made: Vec<PathBuf> = Vec::new();
    for (path, bytes) in &files {
        let full = dir.join(path);
        if let Some(parent) = full.parent()
            && !made.iter().any(|m| m == parent)
        {
            fsutil::create_dir_all(parent, fsutil::DIR_MODE).map_err(|source| {
                TlogError::CreateDir {
                    path: parent.to_owned(),
                    source,
                }
            })?;
            made.push(parent.to_owned());
        }
        batch.stage(&full, bytes)?;
    }
    batch.commit()?;
    Ok(Tree { size, root })
}

/// Publishes a signed checkpoint as `dir/checkpoint`, atomically and durably. Call it only
/// after [`append`] has returned for the tree the checkpoint names.
pub fn write_checkpoint(dir: &Path, signed_note: &[u8]) -> Result<(), TlogError> {
    Ok(fsutil::write_replace(
        &dir.join("checkpoint"),
        signed_note,
        fsutil::PUBLIC_FILE_MODE,
    )?)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::tlog::merkle::MemoryTree;

    fn entry(i: u64) -> Vec<u8> {
        format!("entry {i}").into_bytes()
    }

    /// Appends `batches` to a fresh log and checks every tree against memory.
    fn grow(dir: &Path, batches: &[u64]) -> (Tree, MemoryTree) {
        let mut tree = Tree::EMPTY;
        let mut mem = MemoryTree::new();
        for &n in batches {
            let entries: Vec<Vec<u8>> = (mem.size()..mem.size() + n).map(entry).collect();
            for e in &entries {
                mem.push(e);
            }
            tree = append(dir, tree, &entries).unwrap();
            assert_eq!(tree.size, mem.size());
            assert_eq!(tree.root, mem.root(mem.size()).unwrap());
        }
        (tree, mem)
    }

    #[test]
    fn appended_tiles_give_the_same_roots_proofs_and_entries_as_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, mut mem) = grow(dir.path(), &[1, 254, 1, 1, 300, 65_000, 3]);
        let reader = DirTileReader::new(dir.path());
        let mut tiles = TileHashes::new(&reader, tree);
        for index in [0, 1, 255, 256, 257, 511, 65_535, 65_536, tree.size - 1] {
            assert_eq!(
                tiles.inclusion_proof(index).unwrap(),
                merkle::inclusion_proof(&mut mem, index, tree.size).unwrap()
            );
            assert_eq!(tiles.entry(index).unwrap(), entry(index));
        }
        for old in [0, 1, 255, 256, 257, 300, 65_536, tree.size] {
            assert_eq!(
                tiles.consistency_proof(old).unwrap(),
                merkle::consistency_proof(&mut mem, old, tree.size).unwrap()
            );
            assert_eq!(tiles.root_at(old).unwrap(), mem.root(old).unwrap());
        }
        assert!(matches!(
            tiles.entry(tree.size),
            Err(TlogError::Proof(ProofError::IndexOutOfRange { .. }))
        ));
        // The paths the spec names.
        assert!(dir.path().join("tile/0/000").is_file());
        // 65,560 leaves: 256 full level-0 tiles and one of 24; one full level-1 tile; one
        // level-2 hash.
        assert_eq!(tree.size, 65_560);
        assert!(dir.path().join("tile/0/000").is_file());
        assert!(dir.path().join("tile/0/256.p/24").is_file());
        assert!(dir.path().join("tile/1/000").is_file());
        assert!(!dir.path().join("tile/1/001.p/1").exists());
        assert!(dir.path().join("tile/2/000.p/1").is_file());
        assert!(dir.path().join("tile/entries/256.p/24").is_file());
    }

    #[test]
    fn old_tiles_are_never_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, _) = grow(dir.path(), &[300]);
        use std::os::unix::fs::MetadataExt;
        let ino = |p: &str| std::fs::metadata(dir.path().join(p)).unwrap().ino();
        let full = ino("tile/0/000");
        let partial = ino("tile/0/001.p/44");
        let bundle = ino("tile/entries/001.p/44");
        append(dir.path(), tree, &[b"more".to_vec()]).unwrap();
        assert_eq!(ino("tile/0/000"), full);
        assert_eq!(ino("tile/0/001.p/44"), partial);
        assert_eq!(ino("tile/entries/001.p/44"), bundle);
        assert!(dir.path().join("tile/0/001.p/45").is_file());
    }

    #[test]
    fn an_interrupted_append_is_replaced_by_the_next() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, _) = grow(dir.path(), &[100]);
        // Tiles for 300 entries written, checkpoint never published; the next append from
        // the published tree writes other entries over them.
        let lost: Vec<Vec<u8>> = (0..200).map(|i| format!("lost {i}").into_bytes()).collect();
        append(dir.path(), tree, &lost).unwrap();
        let kept: Vec<Vec<u8>> = (100..300).map(entry).collect();
        let new = append(dir.path(), tree, &kept).unwrap();
        let mut mem = MemoryTree::new();
        (0..300).for_each(|i| mem.push(&entry(i)));
        assert_eq!(new.root, mem.root(300).unwrap());
        let reader = DirTileReader::new(dir.path());
        assert_eq!(
            TileHashes::new(&reader, new).entry(200).unwrap(),
            entry(200)
        );
    }

    #[test]
    fn a_lying_or_damaged_source_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let (tree, _) = grow(dir.path(), &[600]);
        let reader = DirTileReader::new(dir.path());
        let tamper = |path: &str, f: &dyn Fn(&mut Vec<u8>)| {
            let p = dir.path().join(path);
            let good = std::fs::read(&p).unwrap();
            let mut bad = good.clone();
            f(&mut bad);
            std::fs::write(&p, &bad).unwrap();
            good
        };
        let restore =
            |path: &str, good: Vec<u8>| std::fs::write(dir.path().join(path), good).unwrap();

        // A flipped bit in a full tile: its parent disagrees.
        let good = tamper("tile/0/001", &|b| b[40] ^= 1);
        let err = TileHashes::new(&reader, tree)
            .inclusion_proof(300)
            .unwrap_err();
        assert!(
            matches!(&err, TlogError::Inconsistent { path } if path == "tile/0/001"),
            "{err}"
        );
        restore("tile/0/001", good);

        // A truncated tile: the wrong size.
        let good = tamper("tile/0/002.p/88", &|b| b.truncate(100));
        let err = TileHashes::new(&reader, tree)
            .inclusion_proof(599)
            .unwrap_err();
        assert!(
            matches!(
                &err,
                TlogError::Tile(TileError::WrongSize {
                    len: 100,
                    width: 88,
                    expected: 2816,
                    ..
                })
            ),
            "{err}"
        );
        restore("tile/0/002.p/88", good);

        // An edge tile of another tree: the root differs.
        let good = tamper("tile/1/000.p/2", &|b| b[0] ^= 1);
        let err = TileHashes::new(&reader, tree)
            .consistency_proof(10)
            .unwrap_err();
        assert!(matches!(err, TlogError::Inconsistent { .. }), "{err}");
        restore("tile/1/000.p/2", good);

        // An entry that does not hash to its leaf.
        let good = tamper("tile/entries/000", &|b| b[3] ^= 1);
        let err = TileHashes::new(&reader, tree).entry(0).unwrap_err();
        assert!(matches!(&err, TlogError::Inconsistent { path } if path == "tile/entries/000"));
        restore("tile/entries/000", good);

        // A missing tile, and a checkpoint for another tree.
        std::fs::remove_file(dir.path().join("tile/0/000")).unwrap();
        assert!(matches!(
            TileHashes::new(&reader, tree).inclusion_proof(0),
            Err(TlogError::Fetch(FetchError::NotFound { .. }))
        ));
        let other = Tree {
            size: 600,
            root: [7; 32],
        };
        assert!(matches!(
            TileHashes::new(&reader, other).inclusion_proof(599),
            Err(TlogError::Inconsistent { .. })
        ));
        // Appending onto a damaged tree is refused, and writes nothing.
        assert!(append(dir.path(), other, &[b"x"]).is_err());
        assert!(!dir.path().join("tile/0/002.p/89").exists());
    }

    #[test]
    fn a_full_tile_stands_in_for_a_removed_partial_one() {
        let dir = tempfile::tempdir().unwrap();
        let (small, _) = grow(dir.path(), &[10]);
        let big = append(dir.path(), small, &(10..300).map(entry).collect::<Vec<_>>()).unwrap();
        std::fs::remove_file(dir.path().join("tile/0/000.p/10")).unwrap();
        std::fs::remove_file(dir.path().join("tile/entries/000.p/10")).unwrap();
        let reader = DirTileReader::new(dir.path());
        let mut tiles = TileHashes::new(&reader, small);
        assert_eq!(tiles.entry(9).unwrap(), entry(9));
        assert_eq!(tiles.inclusion_proof(3).unwrap().len(), 4);
        assert_eq!(big.size, 300);
    }

    #[test]
    fn the_tiles_a_proof_needs() {
        let t = |level, index, width| TileId {
            kind: TileKind::Hashes(level),
            index,
            width,
        };
        // Leaf 3 of 70,000: its level-0 tile, the level-1 tile for its siblings above 256,
        // and level 2's single hash for the right side.
        assert_eq!(
            inclusion_tiles(3, 70_000).unwrap(),
            vec![t(0, 0, 256), t(1, 0, 256), t(1, 1, 17), t(0, 273, 112)]
                .into_iter()
                .collect::<std::collections::BTreeSet<_>>()
                .into_iter()
                .collect::<Vec<_>>()
        );
        assert_eq!(
            tree_hash_tiles(70_000),
            vec![t(0, 273, 112), t(1, 1, 17), t(2, 0, 1)]
        );
        assert_eq!(tree_hash_tiles(65_536), vec![t(2, 0, 1)]);
        assert_eq!(tree_hash_tiles(0), vec![]);
        assert_eq!(consistency_tiles(70_000, 70_000).unwrap(), vec![]);
        assert!(matches!(
            inclusion_tiles(5, 5),
            Err(ProofError::IndexOutOfRange { index: 5, size: 5 })
        ));
        // What the tiles give is what the proof used: a reader that serves only these tiles
        // and the ones verification adds computes the proof.
        let dir = tempfile::tempdir().unwrap();
        let (tree, mut mem) = grow(dir.path(), &[1_000]);
        let needed = consistency_tiles(300, 1_000).unwrap();
        assert!(needed.iter().all(|id| dir.path().join(id.path()).is_file()));
        let reader = DirTileReader::new(dir.path());
        assert_eq!(
            TileHashes::new(&reader, tree)
                .consistency_proof(300)
                .unwrap(),
            merkle::consistency_proof(&mut mem, 300, 1_000).unwrap()
        );
    }

    #[test]
    fn long_entries_are_refused_before_writing() {
        let dir = tempfile::tempdir().unwrap();
        let err = append(dir.path(), Tree::EMPTY, &[vec![0u8; 65_536]]).unwrap_err();
        assert!(matches!(
            err,
            TlogError::Tile(TileError::EntryTooLong { len: 65_536 })
        ));
        assert!(!dir.path().join("tile").exists());
    }
}
