//! Hallmark's formats and trust decisions, with no hardware dependencies.
//!
//! Registries and consumers embed this crate to verify what publishers sign:
//!
//! * [`encoding`] — strict base64 and hex;
//! * [`key`] — Ed25519 public keys, key ids, and [`key::verify_signature`], the one strict
//!   signature check;
//! * [`ids`] — payload digests and self-certifying identity names;
//! * [`digest`] — content digests of files and directory trees;
//! * [`fsutil`] — atomic, durable writes and bounded reads;
//! * [`canonical`] — the one JSON encoding of signed payloads;
//! * [`envelope`] — payloads with signatures over a bounded, domain-separated signing input;
//! * [`threshold`] — the one "signed by M of these keys" check;
//! * [`statement`] — package statements (name, version, digest, signer);
//! * [`kel`] — key event logs: pre-rotation, rotation, transfer, revocation, and their walk;
//! * [`bundle`] — the file that travels beside an artifact;
//! * [`verdict`] — the closed set of verification outcomes;
//! * [`verify`] — verifying a bundle against keys;
//! * [`hashlog`] — append-only, hash-chained logs (the registry's log, the audit log);
//! * [`receipt`] — registry receipts (countersignatures);
//! * [`similar`] — look-alike names (typosquats);
//! * [`trust`] — the consumer's trust store (pins, policy, audit log) and the gatekeeper
//!   ([`trust::Gate`]) that turns a bundle into one verdict;
//! * [`registry`] — a registry's checks, its log and its receipts;
//! * [`tlog`] — transparency logs in the C2SP formats: Merkle proofs, tiles, checkpoints,
//!   signed notes and cosignatures.
//!
//! The byte-level formats are specified, with worked examples that the tests check, in
//! `docs/formats.md`.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod bundle;
pub mod canonical;
pub mod digest;
pub mod encoding;
pub mod envelope;
pub mod error;
pub mod fsutil;
pub mod hashlog;
pub mod ids;
pub mod kel;
pub mod key;
pub mod monitor;
pub mod receipt;
pub mod registry;
pub mod similar;
pub mod statement;
pub mod threshold;
pub mod time;
pub mod tlog;
pub mod trust;
pub mod verdict;
pub mod verify;

pub use bundle::Bundle;
pub use digest::ContentDigest;
pub use envelope::{Ed25519Signer, Envelope, PayloadType};
pub use error::FormatError;
pub use ids::{IdentityId, Sha256Digest};
pub use kel::{Kel, KelFile, KeyEvent};
pub use key::{KeyId, PublicKey};
pub use statement::{Namespace, PackageName, Statement, Version};
pub use time::Timestamp;
pub use verdict::{Decision, Rejection, Verdict};
