//! Hallmark key ceremonies: building, co-signing and committing key events, ceremony
//! transcripts, and custodian backups.
//!
//! The crate works over public keys and the [`KeySource`] seam: it opens keys only through it.
//! The `hallmark` command's key references (`file:`, `pkcs11:`, `yubikey:`, `awskms:`)
//! implement it, so every backend takes part in every ceremony without this crate knowing it;
//! a service that keeps keys elsewhere implements it for its own.
//!
//! * [`event`] — the events of a ceremony, built against the log they extend and checked by the
//!   same rules [`Kel::verify`](hallmark_keyring::Kel::verify) applies, before any key is asked
//!   to sign;
//! * [`pending`] — an event on its way to the log: signed by some keys, co-signed by others on
//!   other machines, committed once its threshold is met (M-of-N ceremonies);
//! * [`transcript`] — the signed record of what each ceremony did, with which keys and devices;
//! * [`backup`] — splitting a file key into M-of-N custodian shares (Shamir over GF(256)), each
//!   encrypted with age, and rebuilding it against the identity's commitment;
//! * [`manual`] — the threat model: what each ceremony defends against, and what it cannot;
//! * [`run`] — the ceremonies themselves, one typed request each (init, rotate, transfer,
//!   accept, revoke, co-sign, commit, backup, restore, verify-transcript): entitlement checked
//!   before anything is unlocked, write order, compare-and-swap of log and pending files, and
//!   transcript naming, once;
//! * [`keys`] — the seam to whatever holds the keys ([`KeySource`], [`KeySink`]);
//! * [`files`] — the log, pending and transcript files a ceremony reads and writes.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
pub mod error;
pub mod event;
pub mod files;
pub mod keys;
pub mod manual;
pub mod pending;
pub mod run;
pub mod transcript;

pub use error::CeremonyError;
pub use keys::{KeySink, KeySource, OpenKey};
pub use pending::PendingEvent;
pub use transcript::{Participant, Transcript};
