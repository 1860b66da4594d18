//! The AWS KMS backend's errors: each names the key, the region or the endpoint, the KMS call
//! that failed, and what the operator can do. None carries a credential.

use super::reference::RefError;

/// Where the guide for AWS KMS keys lives, for error messages.
pub(crate) const DOCS: &str = "docs/hardware/aws-kms.md";

/// Everything that can go wrong with an AWS KMS key.
///
/// [`Error::is_usage`] separates what is wrong with the request (a reference, a setting, a
/// message) from what KMS or the network reported, so a command line can map them to different
/// exit codes.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The reference does not parse.
    #[error(transparent)]
    Reference(#[from] RefError),
    /// This build has no AWS KMS support.
    #[error(
        "this Hallmark was built without AWS KMS support (cargo feature `awskms`), so it cannot \
         use {reference}; install a build with the feature (the default build has it)"
    )]
    NotBuilt {
        /// The reference.
        reference: String,
    },
    /// The reference cannot be used for this operation.
    #[error("{reference}: {reason}")]
    UnusableReference {
        /// The reference.
        reference: String,
        /// What is wrong and what to give instead.
        reason: String,
    },
    /// Neither the reference nor the AWS chain names a region.
    #[error(
        "no AWS region for {reference}: add ?region=REGION to the reference, set AWS_REGION, or \
         give the profile a region"
    )]
    NoRegion {
        /// The reference.
        reference: String,
    },
    /// The async runtime the SDK runs on could not start.
    #[error("cannot start the runtime for AWS KMS requests: {reason}")]
    Runtime {
        /// The operating system's reason.
        reason: String,
    },
    /// No credentials anywhere in the chain.
    #[error(
        "no AWS credentials: none of the standard sources has any (environment variables \
         AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, the profile in ~/.aws, web identity through \
         AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE, an instance or container role). In CI, \
         assume a role with OIDC; locally, set AWS_PROFILE (see {DOCS})"
    )]
    NoCredentials {
        /// What the chain reported.
        detail: String,
    },
    /// A credential source exists but failed.
    #[error("the AWS credentials could not be loaded: {detail}")]
    CredentialsUnavailable {
        /// What the chain reported.
        detail: String,
    },
    /// The credentials have expired.
    #[error(
        "the AWS credentials have expired ({detail}); get new ones (aws sso login, assume the \
         role again, or refresh the CI job's OIDC token) and run the command again"
    )]
    ExpiredCredentials {
        /// What KMS or the chain reported.
        detail: String,
    },
    /// KMS does not accept the credentials.
    #[error(
        "AWS KMS at {endpoint} refused the credentials ({code}: {message}); check the access \
         key, its secret and session token, and that they belong to this AWS partition"
    )]
    InvalidCredentials {
        /// The endpoint.
        endpoint: String,
        /// The error code.
        code: String,
        /// KMS's message.
        message: String,
    },
    /// The caller lacks a permission.
    #[error(
        "access denied: {operation} on {key} needs the IAM permission {permission}, which the \
         caller does not have; grant it in the role's policy or the key policy (see {DOCS}). \
         KMS said: {message}"
    )]
    AccessDenied {
        /// The KMS call.
        operation: &'static str,
        /// The missing permission, `kms:…`.
        permission: &'static str,
        /// The key or alias.
        key: String,
        /// KMS's message.
        message: String,
    },
    /// No such key in the account and region.
    #[error(
        "no AWS KMS key {key} in region {region}: check the key id or alias, and the region \
         (?region= in the reference, or AWS_REGION) — KMS keys live in one region"
    )]
    KeyNotFound {
        /// The key or alias.
        key: String,
        /// The region asked.
        region: String,
    },
    /// The key is disabled.
    #[error("the AWS KMS key {key} is disabled; enable it (aws kms enable-key) or use another key")]
    KeyDisabled {
        /// The key.
        key: String,
    },
    /// The key is scheduled for deletion.
    #[error(
        "the AWS KMS key {key} is pending deletion and cannot sign; cancel the deletion \
         (aws kms cancel-key-deletion, then enable-key) or use another key"
    )]
    KeyPendingDeletion {
        /// The key.
        key: String,
    },
    /// The key is in another state that cannot sign.
    #[error("the AWS KMS key {key} cannot be used now: {reason}")]
    KeyUnavailable {
        /// The key.
        key: String,
        /// KMS's reason.
        reason: String,
    },
    /// The key is not an Ed25519 key.
    #[error(
        "the AWS KMS key {key} has key spec {found}; Hallmark signs only with Ed25519 keys \
         (key spec ECC_NIST_EDWARDS25519)"
    )]
    WrongKeySpec {
        /// The key.
        key: String,
        /// Its key spec.
        found: String,
    },
    /// The key is not a signing key.
    #[error("the AWS KMS key {key} has key usage {found}; Hallmark needs key usage SIGN_VERIFY")]
    WrongKeyUsage {
        /// The key.
        key: String,
        /// Its key usage.
        found: String,
    },
    /// The key does not offer pure Ed25519.
    #[error(
        "the AWS KMS key {key} does not offer the signing algorithm ED25519_SHA_512 (it offers: \
         {offered}); Hallmark signs with pure Ed25519"
    )]
    NoEd25519Signing {
        /// The key.
        key: String,
        /// The algorithms it offers.
        offered: String,
    },
    /// KMS kept refusing for lack of capacity.
    #[error(
        "AWS KMS throttled {operation} on {key} {attempts} times in a row ({message}); lower \
         HALLMARK_AWSKMS_CONCURRENCY, spread the signing out, or ask AWS for a higher request \
         quota (see {DOCS})"
    )]
    Throttled {
        /// The KMS call.
        operation: &'static str,
        /// The key.
        key: String,
        /// How many requests were made.
        attempts: u32,
        /// KMS's last message.
        message: String,
    },
    /// The endpoint did not answer.
    #[error(
        "cannot reach AWS KMS at {endpoint} ({detail}) after {attempts} attempt(s); check the \
         network, the region, and AWS_ENDPOINT_URL if it is set"
    )]
    EndpointUnreachable {
        /// The endpoint.
        endpoint: String,
        /// What failed.
        detail: String,
        /// How many requests were tried.
        attempts: u32,
    },
    /// KMS holds another key than the one expected.
    #[error(
        "the AWS KMS key {key} is not the expected key: KMS holds {found}, the caller expected \
         {expected}. Check that the reference names the right key and region"
    )]
    KeyMismatch {
        /// The key's ARN.
        key: String,
        /// The expected public key, hex.
        expected: String,
        /// The key's public key, hex.
        found: String,
    },
    /// `GetPublicKey` returned something that is not an Ed25519 public key.
    #[error("the public key KMS returned for {key} is unusable: {reason}")]
    BadPublicKey {
        /// The key.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// A signature KMS returned does not verify.
    #[error(
        "a signature AWS KMS returned for {key} does not verify under the key's public key \
         ({reason}); it was not used"
    )]
    BadSignature {
        /// The key's ARN.
        key: String,
        /// What is wrong.
        reason: String,
    },
    /// The message is larger than KMS signs with pure Ed25519.
    #[error(
        "message of {len} bytes is larger than the {max} bytes AWS KMS signs with \
         ED25519_SHA_512; sign a digest of the payload instead"
    )]
    MessageTooLarge {
        /// The message length.
        len: usize,
        /// The limit.
        max: usize,
    },
    /// The concurrency setting holds no usable number.
    #[error(
        "{env}={value:?} is not a number of concurrent requests: give a whole number from 1 to \
         {max}, or unset it to let Hallmark choose"
    )]
    BadConcurrency {
        /// The variable.
        env: &'static str,
        /// Its value.
        value: String,
        /// The largest number accepted.
        max: usize,
    },
    /// Generation was refused because the alias exists.
    #[error(
        "the alias {alias} already exists in {region} (it names {existing}); choose another \
         alias, or use the existing key"
    )]
    AliasTaken {
        /// The alias.
        alias: String,
        /// The region.
        region: String,
        /// The key it names.
        existing: String,
    },
    /// Any other KMS failure.
    #[error("AWS KMS {operation} on {key} failed: {code}: {message}")]
    Service {
        /// The KMS call.
        operation: &'static str,
        /// The key or alias, or `-`.
        key: String,
        /// The error code.
        code: String,
        /// KMS's message.
        message: String,
    },
}

impl Error {
    /// Whether the error is about the request (a reference, a setting, a message, an alias that
    /// is taken) rather than about KMS, the credentials or the network. A command line maps
    /// usage errors to exit code 2 and the others to 4.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            Error::Reference(_)
                | Error::NotBuilt { .. }
                | Error::UnusableReference { .. }
                | Error::NoRegion { .. }
                | Error::MessageTooLarge { .. }
                | Error::BadConcurrency { .. }
                | Error::AliasTaken { .. }
        )
    }

    /// The permission an access-denied error names.
    pub fn missing_permission(&self) -> Option<&'static str> {
        match self {
            Error::AccessDenied { permission, .. } => Some(permission),
            _ => None,
        }
    }
}

/// A batch that stopped part-way: which messages were signed (with their signatures) and which
/// were not, and why.
#[derive(Debug, thiserror::Error)]
#[error(
    "signed {} of {total} messages (indices 0..{}), not signed: {} (indices {}..{total}): {cause}",
    .signatures.len(), .signatures.len(), .total - .signatures.len(), .signatures.len()
)]
pub struct BatchError {
    /// Signatures of the messages signed before the failure: `signatures[i]` signs message `i`.
    pub signatures: Vec<ed25519_dalek::Signature>,
    /// How many messages the batch had.
    pub total: usize,
    /// Why the batch stopped.
    #[source]
    pub cause: Box<Error>,
}

impl BatchError {
    /// Indices of the messages that were signed.
    pub fn signed(&self) -> std::ops::Range<usize> {
        0..self.signatures.len()
    }

    /// Indices of the messages that were not signed.
    pub fn not_signed(&self) -> std::ops::Range<usize> {
        self.signatures.len()..self.total
    }
}
