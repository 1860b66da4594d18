//! A transparency log in the C2SP formats: RFC 6962 Merkle trees served as static tiles
//! (c2sp.org/tlog-tiles), checkpoints (c2sp.org/tlog-checkpoint) in signed notes
//! (c2sp.org/signed-note), and witness cosignatures (c2sp.org/tlog-cosignature).
//!
//! PLACEHOLDER
#![allow(clippy::module_name_repetitions)]

pub mod checkpoint;
pub mod cosignature;
pub mod merkle;
pub mod note;
pub mod store;
pub mod tile;
pub mod witness;

pub use checkpoint::{Checkpoint, CheckpointError, SignedCheckpoint};
pub use merkle::{Hash, HashSource, MemoryTree, ProofError};
pub use note::{KeyType, Note, NoteError, NoteSignError, NoteSignature, Verified, VerifierKey};
pub use store::{DirTileReader, FetchError, TileHashes, TileReader, TlogError, Tree};
pub use tile::{TileError, TileId, TileKind};
