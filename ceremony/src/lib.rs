//! Hallmark key ceremonies: building, co-signing and committing key events, ceremony
//! transcripts, and custodian backups.
//!
//! The crate works over public keys and `&dyn Ed25519Signer`: it never opens a key itself. The
//! `hallmark` command resolves key references (`file:`, `pkcs11:`, `yubikey:`) to signers and
//! hands them in, so every backend takes part in every ceremony without this crate knowing it.
//!
//! * [`event`] — the events of a ceremony, built against the log they extend and checked by the
//!   same rules [`Kel::verify`](hallmark_keyring::Kel::verify) applies, before any key is asked
//!   to sign;
//! * [`pending`] — an event on its way to the log: signed by some keys, co-signed by others on
//!   other machines, committed once its threshold is met (M-of-N ceremonies);
//! * [`transcript`] — the signed record of what each ceremony did, with which keys and devices;
//! * [`backup`] — splitting a file key into M-of-N custodian shares (Shamir over GF(256)), each
//!   encrypted with age, and rebuilding it against the identity's commitment;
//! * [`manual`] — the threat model: what each ceremony defends against, and what it cannot.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod backup;
pub mod error;
pub mod event;
pub mod manual;
pub mod pending;
pub mod transcript;

pub use error::CeremonyError;
pub use pending::PendingEvent;
pub use transcript::{Participant, Transcript};
