//! Key event logs: an identity's append-only, hash-chained history.
//!
//! * [`event`] — the event payloads (inception, rotation, transfer, acceptance, revocation);
//! * [`log`] — [`Kel::verify`], the walk from inception that every consumer and registry uses;
//!   key sets by position, revocations, ownership of names, comparison of two logs (extension,
//!   rollback, fork), and transfer links between identities;
//! * [`file`](mod@file) — the log file (`org.example.kel`);
//! * [`signing`] — who may sign statements in the identity's name, checked before signing;
//! * [`binding`] — [`binding::bind`], whether a signed statement is bound to the log at the
//!   position it names, the rule the gatekeeper and the registry share.

pub mod binding;
pub mod event;
pub mod file;
pub mod log;
pub mod signing;

pub use event::{EventKind, KeyEvent, Reason};
pub use file::KelFile;
pub use log::{Comparison, Epoch, Kel, KelError, KelErrorKind, TransferLink, find_transfer};
pub use signing::SigningError;
