//! Ed25519 keys in AWS KMS.
//!
//! Keys are named by `awskms:` references ([`AwsKmsRef`]): a key id, an alias or the ARN of
//! either, with an optional region.
//!
//! ```text
//! awskms:alias/release?region=eu-west-1
//! ```
//!
//! * [`generate`] creates a key (`CreateKey`: key spec `ECC_NIST_EDWARDS25519`, usage
//!   `SIGN_VERIFY`, tagged `hallmark=package-signing`) and its alias;
//! * [`AwsKmsSigner::open`] opens a key for signing: it implements
//!   [`signature::Signer<ed25519_dalek::Signature>`] and [`signature::Keypair`], signs pure
//!   Ed25519 (`ED25519_SHA_512` with `MessageType=RAW`) over messages of at most
//!   [`MAX_MESSAGE_LEN`] bytes, and verifies every signature strictly before returning it;
//!   [`AwsKmsSigner::sign_batch`] keeps several requests in flight ([`CONCURRENCY_ENV`]);
//! * [`public_key`] reads a key's public key; [`list`] reports the aliases of a region that
//!   name Ed25519 signing keys.
//!
//! Region, credentials and endpoint come from the standard AWS chain through the official SDK:
//! environment variables, the shared profile files, web identity (`AWS_ROLE_ARN` and
//! `AWS_WEB_IDENTITY_TOKEN_FILE`, as CI OIDC provides), container and instance roles;
//! `AWS_ENDPOINT_URL` (or `AWS_ENDPOINT_URL_KMS`) points requests at another endpoint. A
//! reference's `region` overrides the chain's region. Nothing secret ever comes from a
//! reference or the command line.
//!
//! Throttled requests are retried with exponential backoff and full jitter (up to 8 requests per
//! signature); dropped connections and internal errors of KMS up to 3. Every failure is an
//! [`Error`] naming the key, the region or endpoint, the call, and — for access denied — the
//! missing permission. See `docs/hardware/aws-kms.md` for the guide.
//!
//! The SDK is the cargo feature `awskms` (on by default). Without it, references still parse
//! and every operation returns [`Error::NotBuilt`].

mod error;
mod reference;
mod types;

#[cfg(feature = "awskms")]
mod client;
#[cfg(feature = "awskms")]
mod keys;
#[cfg(feature = "awskms")]
mod signer;

#[cfg(not(feature = "awskms"))]
mod disabled;

pub use error::{BatchError, Error};
pub use reference::{AwsKmsRef, KeyNameKind, MAX_ALIAS_LEN, RefError, SCHEME, is_region};
pub use types::{GeneratedKey, KeyFacts, ListedKey, Listing};

#[cfg(feature = "awskms")]
pub use client::{MAX_THROTTLED_ATTEMPTS, MAX_TRANSIENT_ATTEMPTS, SpkiError, decode_spki};
#[cfg(feature = "awskms")]
pub use keys::{generate, list, public_key};
#[cfg(feature = "awskms")]
pub use signer::AwsKmsSigner;

#[cfg(not(feature = "awskms"))]
pub use disabled::{AwsKmsSigner, generate, list, public_key};

/// The largest message AWS KMS signs with pure Ed25519 (`ED25519_SHA_512`, `MessageType=RAW`),
/// in bytes. Hallmark checks it before sending, whatever the endpoint enforces.
pub const MAX_MESSAGE_LEN: usize = 4096;

/// The environment variable that sets how many requests a batch keeps in flight: a whole
/// number from 1 to [`MAX_CONCURRENCY`] (default 8).
pub const CONCURRENCY_ENV: &str = "HALLMARK_AWSKMS_CONCURRENCY";

/// The most requests a batch keeps in flight.
pub const MAX_CONCURRENCY: usize = 64;

/// The tag Hallmark puts on the keys it creates, and looks for when listing.
pub const TAG_KEY: &str = "hallmark";

/// The value of [`TAG_KEY`].
pub const TAG_VALUE: &str = "package-signing";
