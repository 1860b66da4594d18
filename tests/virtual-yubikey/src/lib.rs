//! A virtual YubiKey for Hallmark's tests: a PIV card emulator that pcscd reaches through
//! vsmartcard's vpcd driver, so the real `yubikey` crate, the real PC/SC stack and Hallmark's
//! YubiKey adapter run exactly as they would against a device.
//!
//! ```text
//! hallmark_hsm::yubikey → yubikey crate → libpcsclite → pcscd → vpcd → TCP → VirtualYubiKey
//! ```
//!
//! * [`piv`] — the PIV application: a pure state machine from command to response APDU with
//!   Ed25519 keys, PIN and management key, attestation, metadata, chaining and fault injection.
//! * [`authority`] — a deterministic test attestation hierarchy (root, intermediate, F9) and
//!   per-key attestation certificates in Yubico's format.
//! * [`vpcd`] — the card side of vpcd's TCP protocol (with `TCP_QUICKACK`) and
//!   [`VirtualYubiKey`], which inserts a card into a reader on a background thread.
//!
//! This crate is test tooling: it is never a dependency of a shipped crate, and its keys and
//! root certificate are public by construction.
//!
//! ```no_run
//! use virtual_yubikey::{CardConfig, Reader, VirtualYubiKey};
//!
//! let card = VirtualYubiKey::insert(CardConfig::new(12345678), Reader::First)?;
//! // … open it with the `yubikey` crate or `hallmark_hsm::yubikey` …
//! assert_eq!(card.card().counters.pin_attempts, 0);
//! # Ok::<(), virtual_yubikey::vpcd::Error>(())
//! ```
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod authority;
pub mod piv;
pub mod tlv;
pub mod vpcd;

pub use authority::TestAuthority;
pub use piv::{CardConfig, Counters, Faults, ManagementAlgorithm, PivCard, Touch};
pub use vpcd::{Reader, VirtualYubiKey, test_authority};
