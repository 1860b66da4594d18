//! A transparency log in the C2SP formats: an RFC 6962 Merkle tree stored as static tiles
//! (c2sp.org/tlog-tiles), checkpoints (c2sp.org/tlog-checkpoint) in signed notes
//! (c2sp.org/signed-note), and witness cosignatures (c2sp.org/tlog-cosignature). The byte
//! formats, with worked examples, are in `docs/formats.md`, "Transparency log".
//!
//! # Parts
//!
//! * [`merkle`] — the math. [`merkle::leaf_hash`], [`merkle::node_hash`],
//!   [`merkle::tree_hash`]; proofs generated from any [`HashSource`] (the hash of each complete
//!   subtree) by [`merkle::inclusion_proof`] and [`merkle::consistency_proof`], verified by
//!   [`merkle::verify_inclusion`] and [`merkle::verify_consistency`] (RFC 9162 §2.1.3.2,
//!   §2.1.4.2), failing with a typed [`ProofError`]. Proofs list hashes leaf (or old tree)
//!   first. [`MemoryTree`] is an in-memory source.
//! * [`tile`] — [`TileId`] (kind, index, width) and its path (`tile/<L>/<N>[.p/<W>]`,
//!   `tile/entries/<N>[.p/<W>]`), [`TileId::in_tree`] (the tile as a tree of a given size has
//!   it), entry bundles ([`tile::encode_entry_bundle`], [`TileId::parse_entries`]), hash tiles
//!   ([`TileId::parse_hashes`]); [`TileError`].
//! * [`store`] — reading and writing a log:
//!   - [`TileReader`]: "read this path, at most this many bytes"; [`DirTileReader`] reads a
//!     directory. An HTTP reader implements the same one method (GET `<prefix>/<path>`, a
//!     404 as [`FetchError::NotFound`], a body over the limit as [`FetchError::TooLarge`]).
//!   - [`TileHashes`]: the tiles of one [`Tree`] (size and root from a verified checkpoint),
//!     each checked before use. It is the [`HashSource`] for proofs —
//!     [`TileHashes::inclusion_proof`], [`TileHashes::consistency_proof`],
//!     [`TileHashes::root_at`] — and reads entries back ([`TileHashes::entry`],
//!     [`TileHashes::entries`]), each checked against its leaf hash. A lying source, a
//!     truncated or wrong-size tile, a missing tile: [`TlogError`], never a panic; reads are
//!     bounded (8 KiB a hash tile, 256 × 65,537 bytes an entry bundle).
//!   - [`store::inclusion_tiles`], [`store::consistency_tiles`], [`store::tree_hash_tiles`]:
//!     which hash tiles a proof or a tree hash reads (to prefetch them).
//!   - [`store::append`]: the writer. Given the directory, the published [`Tree`] and new
//!     entries, writes the new and grown entry bundles and hash tiles durably (one flush for
//!     the batch, each file atomic) and returns the new tree; then the caller signs a
//!     checkpoint for it and publishes it with [`store::write_checkpoint`].
//! * [`note`] — signed notes: [`Note::parse`] (strict: 64 KiB, at most 100 signatures),
//!   [`Note::to_bytes`], [`Note::sign`] through any [`crate::Ed25519Signer`] (file key,
//!   PKCS#11, YubiKey, KMS), [`Note::verify`] with known [`VerifierKey`]s (parsed from and
//!   printed as `name+keyid+base64(type||key)`); [`NoteError`].
//! * [`checkpoint`] — [`Checkpoint`] (origin, tree, extension lines): [`Checkpoint::body`],
//!   [`Checkpoint::parse_body`], [`Checkpoint::sign`] (key name = origin), and
//!   [`Checkpoint::open`] (parse, check origin, verify the log's signature) giving a
//!   [`SignedCheckpoint`]; [`CheckpointError`].
//! * [`cosignature`] — tlog-cosignature v1: [`cosignature::cosign`] makes a witness's
//!   signature line; [`SignedCheckpoint::cosignatures`] verifies those by known witness keys
//!   ([`KeyType::Cosignature`]) and returns their timestamps.
//!
//! # Crash safety: the write order
//!
//! 1. [`store::append`] writes entry bundles and hash tiles and flushes them. It never
//!    touches a tile the published tree covers: full tiles are immutable, and a partial tile
//!    keeps its path (`…/N.p/W`) while its wider successor gets a new one. Tiles beyond the
//!    published tree are invisible until a checkpoint names them; an append interrupted here
//!    is simply redone (its leftovers are overwritten) by the next append from the published
//!    tree.
//! 2. The caller records what it needs (its own state) and signs the checkpoint.
//! 3. [`store::write_checkpoint`] replaces `checkpoint` atomically. Only now is the new tree
//!    published.
//!
//! A kill at any point leaves a `checkpoint` that matches the tiles on disk.
//!
//! # Example
//!
//! ```
//! use hallmark_keyring::tlog::{self, Checkpoint, DirTileReader, KeyType, TileHashes, Tree, VerifierKey};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]);
//! let origin = "example.org/log";
//!
//! // Write: tiles first, then the signed checkpoint.
//! let tree = tlog::store::append(dir.path(), Tree::EMPTY, &[b"first".as_slice(), b"second"])?;
//! let note = Checkpoint::new(origin, tree)?.sign(&key)?;
//! tlog::store::write_checkpoint(dir.path(), &note.to_bytes())?;
//!
//! // Read, trusting nothing but the log's key.
//! let vkey = VerifierKey::new(origin, KeyType::Ed25519, hallmark_keyring::PublicKey::new(key.verifying_key()))?;
//! let reader = DirTileReader::new(dir.path());
//! let bytes = tlog::TileReader::read(&reader, "checkpoint", tlog::note::MAX_NOTE_BYTES as u64)?;
//! let signed = Checkpoint::open(&bytes, &vkey)?;
//! let mut tiles = TileHashes::new(&reader, signed.checkpoint.tree);
//! let proof = tiles.inclusion_proof(1)?;
//! tlog::merkle::verify_inclusion(&tlog::merkle::leaf_hash(b"second"), 1, 2, &proof, &tree.root)?;
//! assert_eq!(tiles.entry(0)?, b"first");
//! # Ok(())
//! # }
//! ```
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
