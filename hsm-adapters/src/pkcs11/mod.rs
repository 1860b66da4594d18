//! Ed25519 keys inside PKCS#11 tokens: HSMs, cloud HSMs through their PKCS#11 modules,
//! SoftHSM2.
//!
//! Keys are named by RFC 7512 URIs ([`Pkcs11Uri`]):
//!
//! ```text
//! pkcs11:token=ci;object=release?module-name=softhsm2&pin-source=file:/run/secrets/hsm-pin
//! ```
//!
//! * [`generate`] makes a key pair inside a token and returns its public key and the URI that
//!   names it;
//! * [`Pkcs11Signer::open`] opens a key for signing: it implements
//!   [`signature::Signer<ed25519_dalek::Signature>`] and [`signature::Keypair`], and
//!   [`Pkcs11Signer::sign_batch`] signs many messages with one login, through a few sessions
//!   in parallel ([`SESSIONS_ENV`]);
//! * [`list`] reports a module's slots, tokens and Ed25519 keys, with a URI for each key.
//!
//! The module is `module-path`, else `module-name` (looked up in p11-kit's configuration and
//! the usual module directories), else the environment variable [`MODULE_ENV`]
//! (`HALLMARK_PKCS11_MODULE`). Each module is loaded and initialised once per process.
//!
//! The PIN comes from `pin-source` (`file:PATH`, a path, `env:NAME` or `prompt`), else a prompt
//! through the [`Interaction`](crate::interact::Interaction). Hallmark never spends a PIN try
//! it was not asked to: a locked PIN or a PIN of the wrong length is refused before anything is
//! sent, the final try only with [`LoginOptions::allow_final_pin_try`], and a wrong PIN is
//! never retried.
//!
//! Every failure is an [`Error`] naming the module, token or key and what to do; see
//! `docs/hardware/pkcs11.md` for the guide.

mod error;
mod generate;
mod keys;
mod list;
mod module;
mod signer;
mod token;
mod uri;

pub use error::{BatchError, Error, PinRetryState, TokenName};
pub use generate::{
    GeneratedKey, KEY_ID_LEN, PENDING_LABEL_PREFIX, generate, generate_with, import_with,
};
pub use keys::{
    EC_PARAMS_ED25519_NAME, EC_PARAMS_ED25519_OID, KeyDecodeError, decode_ec_params,
    decode_ec_point, decode_public_key,
};
pub use list::{KeyReport, OrphanAction, SlotReport, TokenReport, list, remove_orphans};
pub use module::{LibraryInfo, MODULE_ENV, Module, ModuleSearch, resolve_module_path};
pub use signer::{DeviceInfo, MAX_MESSAGE_LEN, MAX_SESSIONS, Pkcs11Signer, SESSIONS_ENV};
pub use token::{LoginOptions, TokenFlags};
pub use uri::{ObjectType, PathAttr, Pkcs11Uri, UriError};
