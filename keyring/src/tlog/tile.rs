//! C2SP tlog-tiles: tile coordinates, paths and entry bundles.

use super::merkle::Hash;

/// Hashes in a full tile: tiles have height 8.
pub const TILE_WIDTH: u64 = 256;

/// Tile height: a tile at level `L` holds hashes of subtrees of level `8·L`.
pub const TILE_HEIGHT: u8 = 8;

/// Bytes in one hash of a hash tile.
pub const HASH_SIZE: usize = 32;

/// The longest entry an entry bundle can hold (its length is a big-endian `u16`).
pub const MAX_ENTRY_BYTES: usize = u16::MAX as usize;

/// The largest a full hash tile can be: 256 hashes.
pub const MAX_HASH_TILE_BYTES: usize = 256 * HASH_SIZE;

/// The largest an entry bundle can be: 256 entries of the longest length.
pub const MAX_ENTRY_BUNDLE_BYTES: usize = 256 * (2 + MAX_ENTRY_BYTES);

/// Which kind of tile: hashes at a level, or entries.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum TileKind {
    /// A hash tile at this level (0 holds leaf hashes).
    Hashes(u8),
    /// An entry bundle.
    Entries,
}

/// One tile: its kind, its index `N` at its level, and its width `W` (1..=256 hashes or
/// entries; 256 is a full tile).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TileId {
    /// Hash tile at a level, or entry bundle.
    pub kind: TileKind,
    /// The tile's index at its level.
    pub index: u64,
    /// How many hashes (or entries) it holds, 1..=256.
    pub width: u16,
}

/// Why a tile or entry bundle was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TileError {
    /// A hash tile whose length is not 32 times its width.
    #[error("hash tile {path} is {len} bytes; with width {width} it must be {expected}")]
    WrongSize {
        /// The tile's path.
        path: String,
        /// Its length.
        len: usize,
        /// Its width.
        width: u16,
        /// The length it must have.
        expected: usize,
    },
    /// An entry bundle that ends inside an entry, holds the wrong number of entries or has
    /// bytes after its last entry.
    #[error("entry bundle {path} is malformed: {detail}")]
    BadBundle {
        /// The bundle's path.
        path: String,
        /// What is wrong.
        detail: String,
    },
    /// An entry longer than an entry bundle can hold.
    #[error("a log entry is {len} bytes; entries are at most 65,535 bytes")]
    EntryTooLong {
        /// Its length.
        len: usize,
    },
    /// A path that is not a tile path.
    #[error("not a tile path: {0:?}")]
    BadPath(String),
}

impl TileId {
    /// The tile at `kind`, `index` as it is in a tree of `size` leaves, or `None` if the tree
    /// has nothing in it yet (empty tiles do not exist).
    pub fn in_tree(kind: TileKind, index: u64, size: u64) -> Option<TileId> {
        let count = match kind {
            TileKind::Hashes(level) => level_count(level, size),
            TileKind::Entries => size,
        };
        let start = index.checked_mul(TILE_WIDTH)?;
        if start >= count {
            return None;
        }
        // At most 256, so the cast cannot truncate.
        let width = (count - start).min(TILE_WIDTH) as u16;
        Some(TileId { kind, index, width })
    }

    /// Whether the tile holds all 256 hashes or entries.
    pub fn is_full(&self) -> bool {
        u64::from(self.width) == TILE_WIDTH
    }

    /// The tile's path under the log's prefix: `tile/<L>/<N>[.p/<W>]` or
    /// `tile/entries/<N>[.p/<W>]`.
    pub fn path(&self) -> String {
        let level = match self.kind {
            TileKind::Hashes(l) => l.to_string(),
            TileKind::Entries => "entries".to_owned(),
        };
        let mut path = format!("tile/{level}/{}", index_path(self.index));
        if !self.is_full() {
            path.push_str(&format!(".p/{}", self.width));
        }
        path
    }

    /// Parses a tile path (the inverse of [`TileId::path`]), strictly: no leading zeros in
    /// levels or widths, three-digit groups, `x` before all but the last.
    pub fn parse_path(path: &str) -> Result<TileId, TileError> {
        let bad = || TileError::BadPath(path.to_owned());
        let rest = path.strip_prefix("tile/").ok_or_else(bad)?;
        let (level, rest) = rest.split_once('/').ok_or_else(bad)?;
        let kind = if level == "entries" {
            TileKind::Entries
        } else {
            TileKind::Hashes(
                parse_decimal(level)
                    .and_then(|l| u8::try_from(l).ok())
                    .ok_or_else(bad)?,
            )
        };
        let (index_part, width) = match rest.split_once(".p/") {
            Some((index_part, w)) => {
                let w = parse_decimal(w).ok_or_else(bad)?;
                if w == 0 || w >= TILE_WIDTH {
                    return Err(bad());
                }
                (index_part, w as u16)
            }
            None => (rest, TILE_WIDTH as u16),
        };
        let groups: Vec<&str> = index_part.split('/').collect();
        let mut index: u64 = 0;
        for (i, group) in groups.iter().enumerate() {
            let last = i + 1 == groups.len();
            let digits = if last {
                *group
            } else {
                group.strip_prefix('x').ok_or_else(bad)?
            };
            if digits.len() != 3 || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let value: u64 = digits.parse().map_err(|_| bad())?;
            index = index
                .checked_mul(1000)
                .and_then(|x| x.checked_add(value))
                .ok_or_else(bad)?;
        }
        let id = TileId { kind, index, width };
        // The canonical form: no leading all-zero groups.
        if id.path() != path {
            return Err(bad());
        }
        Ok(id)
    }

    /// The tile's index range of hashes (or entries) at its level: `N·256 .. N·256+W`.
    pub fn range(&self) -> std::ops::Range<u64> {
        let start = self.index * TILE_WIDTH;
        start..start + u64::from(self.width)
    }

    /// Checks a hash tile's bytes have the right length and splits them into hashes.
    pub fn parse_hashes(&self, bytes: &[u8]) -> Result<Vec<Hash>, TileError> {
        let expected = usize::from(self.width) * HASH_SIZE;
        if bytes.len() != expected {
            return Err(TileError::WrongSize {
                path: self.path(),
                len: bytes.len(),
                width: self.width,
                expected,
            });
        }
        Ok(bytes
            .chunks_exact(HASH_SIZE)
            .map(|c| {
                let mut h = [0u8; HASH_SIZE];
                h.copy_from_slice(c);
                h
            })
            .collect())
    }

    /// Splits an entry bundle into exactly `width` entries.
    pub fn parse_entries(&self, bytes: &[u8]) -> Result<Vec<Vec<u8>>, TileError> {
        let entries = parse_entry_bundle(bytes).map_err(|e| TileError::BadBundle {
            path: self.path(),
            detail: e.to_string(),
        })?;
        if entries.len() != usize::from(self.width) {
            return Err(TileError::BadBundle {
                path: self.path(),
                detail: format!(
                    "it holds {} entries, the tile's width is {}",
                    entries.len(),
                    self.width
                ),
            });
        }
        Ok(entries)
    }
}

/// How many complete subtrees of level `8·level` a tree of `size` leaves has: the number of
/// hashes at that tile level.
pub fn level_count(level: u8, size: u64) -> u64 {
    let shift = u32::from(level) * u32::from(TILE_HEIGHT);
    size.checked_shr(shift).unwrap_or(0)
}

/// `N` as a path: three-digit groups, `x` before all but the last (1234067 →
/// `x001/x234/067`).
pub fn index_path(mut index: u64) -> String {
    let mut groups = vec![format!("{:03}", index % 1000)];
    index /= 1000;
    while index > 0 {
        groups.push(format!("x{:03}", index % 1000));
        index /= 1000;
    }
    groups.reverse();
    groups.join("/")
}

fn parse_decimal(text: &str) -> Option<u64> {
    if text.is_empty() || text.len() > 20 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    if text.len() > 1 && text.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

/// Encodes entries as an entry bundle: each as a big-endian `u16` length, then its bytes.
pub fn encode_entry_bundle<E: AsRef<[u8]>>(entries: &[E]) -> Result<Vec<u8>, TileError> {
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.as_ref();
        let len =
            u16::try_from(entry.len()).map_err(|_| TileError::EntryTooLong { len: entry.len() })?;
        out.extend_from_slice(&len.to_be_bytes());
        out.extend_from_slice(entry);
    }
    Ok(out)
}

/// Why an entry bundle does not split into entries.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// Bytes follow a full bundle.
    #[error("bytes after the 256th entry")]
    TooManyEntries,
    /// The bundle ends within an entry's two-byte length.
    #[error("it ends inside the length of entry {entry}")]
    TruncatedLength {
        /// The entry's position in the bundle.
        entry: usize,
    },
    /// An entry's length runs past the end.
    #[error("entry {entry} claims {len} bytes but only {remaining} remain")]
    TruncatedEntry {
        /// The entry's position in the bundle.
        entry: usize,
        /// Its length.
        len: usize,
        /// The bytes left.
        remaining: usize,
    },
}

/// Splits an entry bundle into its entries (any number, at most 256).
pub fn parse_entry_bundle(bytes: &[u8]) -> Result<Vec<Vec<u8>>, BundleError> {
    let mut entries = Vec::new();
    let mut rest = bytes;
    while !rest.is_empty() {
        if entries.len() as u64 == TILE_WIDTH {
            return Err(BundleError::TooManyEntries);
        }
        let [a, b, tail @ ..] = rest else {
            return Err(BundleError::TruncatedLength {
                entry: entries.len(),
            });
        };
        let len = usize::from(u16::from_be_bytes([*a, *b]));
        if tail.len() < len {
            return Err(BundleError::TruncatedEntry {
                entry: entries.len(),
                len,
                remaining: tail.len(),
            });
        }
        entries.push(tail[..len].to_vec());
        rest = &tail[len..];
    }
    Ok(entries)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn paths_follow_the_spec() {
        assert_eq!(index_path(1234067), "x001/x234/067");
        assert_eq!(index_path(0), "000");
        assert_eq!(index_path(1000), "x001/000");
        let t = TileId {
            kind: TileKind::Hashes(0),
            index: 1234067,
            width: 256,
        };
        assert_eq!(t.path(), "tile/0/x001/x234/067");
        let p = TileId {
            kind: TileKind::Entries,
            index: 1234067,
            width: 8,
        };
        assert_eq!(p.path(), "tile/entries/x001/x234/067.p/8");
        for id in [t, p] {
            assert_eq!(TileId::parse_path(&id.path()).unwrap(), id);
        }
        for bad in [
            "tile/0/x000/067",
            "tile/0/67",
            "tile/00/067",
            "tile/0/067.p/0",
            "tile/0/067.p/256",
            "tile/0/067.p/08",
            "tile/0/001/067",
            "tile/entries/x1/067",
            "tiles/0/000",
            "tile/256/000",
        ] {
            assert!(TileId::parse_path(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn widths_in_a_tree() {
        // 70,000 leaves: 273 full level-0 tiles and one of 112; level 1 has 273 hashes.
        let size = 70_000;
        assert_eq!(
            TileId::in_tree(TileKind::Hashes(0), 273, size)
                .unwrap()
                .width,
            112
        );
        assert!(
            TileId::in_tree(TileKind::Hashes(0), 272, size)
                .unwrap()
                .is_full()
        );
        assert_eq!(TileId::in_tree(TileKind::Hashes(0), 274, size), None);
        assert_eq!(
            TileId::in_tree(TileKind::Hashes(1), 1, size).unwrap().width,
            17
        );
        assert_eq!(
            TileId::in_tree(TileKind::Hashes(2), 0, size).unwrap().width,
            1
        );
        assert_eq!(TileId::in_tree(TileKind::Hashes(3), 0, size), None);
        assert_eq!(TileId::in_tree(TileKind::Entries, 0, 0), None);
    }

    #[test]
    fn entry_bundles_round_trip_and_refuse_damage() {
        let entries = vec![b"one".to_vec(), Vec::new(), vec![7u8; 300]];
        let bytes = encode_entry_bundle(&entries).unwrap();
        assert_eq!(&bytes[..5], &[0, 3, b'o', b'n', b'e']);
        let id = TileId {
            kind: TileKind::Entries,
            index: 0,
            width: 3,
        };
        assert_eq!(id.parse_entries(&bytes).unwrap(), entries);
        assert!(matches!(
            id.parse_entries(&bytes[..bytes.len() - 1]),
            Err(TileError::BadBundle { .. })
        ));
        let mut extra = bytes.clone();
        extra.push(0);
        assert!(id.parse_entries(&extra).is_err());
        assert_eq!(
            encode_entry_bundle(&[vec![0u8; 65_536]]),
            Err(TileError::EntryTooLong { len: 65_536 })
        );
        assert!(encode_entry_bundle(&[vec![0u8; 65_535]]).is_ok());
    }
}
