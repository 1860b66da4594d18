//! What the key operations report: the same types whether or not the SDK is built in.

use ed25519_dalek::VerifyingKey;

use super::reference::AwsKmsRef;

/// A key made by [`generate`](super::generate).
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct GeneratedKey {
    /// The public key.
    pub verifying_key: VerifyingKey,
    /// The reference to sign with: the alias, in the key's region.
    pub reference: AwsKmsRef,
    /// The key's ARN.
    pub arn: String,
    /// The region.
    pub region: String,
}

/// A key [`list`](super::list) found.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ListedKey {
    /// The alias naming the key.
    pub alias: String,
    /// A reference to the key by that alias, in the listed region.
    pub reference: AwsKmsRef,
    /// The key's id.
    pub key_id: String,
    /// The public key, when it could be read.
    pub verifying_key: Option<VerifyingKey>,
    /// The key's ARN, when it could be read.
    pub arn: Option<String>,
    /// Whether the key carries Hallmark's tag (`hallmark=package-signing`); `None` when the
    /// tags could not be read.
    pub hallmark_tag: Option<bool>,
    /// Why the key cannot sign (disabled, pending deletion, not readable), if it cannot.
    pub problem: Option<String>,
}

/// What [`list`](super::list) reports for one region.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Listing {
    /// The region listed.
    pub region: String,
    /// The endpoint asked.
    pub endpoint: String,
    /// Every alias naming an Ed25519 signing key.
    pub keys: Vec<ListedKey>,
}

/// Facts about the key, for ceremony transcripts and logs.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct KeyFacts {
    /// The key's ARN.
    pub arn: String,
    /// The region.
    pub region: String,
    /// The endpoint requests go to.
    pub endpoint: String,
    /// The key spec (always `ECC_NIST_EDWARDS25519`).
    pub key_spec: &'static str,
    /// The signing algorithm (always `ED25519_SHA_512`, pure Ed25519).
    pub signing_algorithm: &'static str,
}
