//! The AWS KMS API in a build without the `awskms` feature: the same types, and every
//! operation says that this build cannot use AWS KMS.

use std::convert::Infallible;
use std::num::NonZeroUsize;

use ed25519_dalek::{Signature, VerifyingKey};

use super::error::{BatchError, Error};
use super::reference::AwsKmsRef;
use super::types::{GeneratedKey, KeyFacts, Listing};

fn not_built(what: String) -> Error {
    Error::NotBuilt { reference: what }
}

/// Always [`Error::NotBuilt`].
pub fn generate(reference: &AwsKmsRef) -> Result<GeneratedKey, Error> {
    Err(not_built(reference.to_string()))
}

/// Always [`Error::NotBuilt`].
pub fn public_key(reference: &AwsKmsRef) -> Result<(VerifyingKey, String), Error> {
    Err(not_built(reference.to_string()))
}

/// Always [`Error::NotBuilt`].
pub fn list(region: Option<&str>) -> Result<Listing, Error> {
    Err(not_built(region.map_or_else(
        || "awskms:".to_owned(),
        |r| format!("awskms:?region={r}"),
    )))
}

/// A signer that cannot exist in this build: [`AwsKmsSigner::open`] always fails.
#[derive(Debug)]
pub struct AwsKmsSigner {
    never: Infallible,
}

impl AwsKmsSigner {
    /// Always [`Error::NotBuilt`].
    pub fn open(
        reference: &AwsKmsRef,
        _expected: Option<&VerifyingKey>,
    ) -> Result<AwsKmsSigner, Error> {
        Err(not_built(reference.to_string()))
    }

    /// Unreachable.
    pub fn reference(&self) -> &AwsKmsRef {
        match self.never {}
    }

    /// Unreachable.
    pub fn arn(&self) -> &str {
        match self.never {}
    }

    /// Unreachable.
    pub fn facts(&self) -> KeyFacts {
        match self.never {}
    }

    /// Unreachable.
    pub fn concurrency(&self) -> NonZeroUsize {
        match self.never {}
    }

    /// Unreachable.
    pub fn sign_message(&self, _message: &[u8]) -> Result<Signature, Error> {
        match self.never {}
    }

    /// Unreachable.
    pub fn sign_batch(
        &self,
        _messages: &[&[u8]],
        _progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Signature>, BatchError> {
        match self.never {}
    }
}

impl signature::Signer<Signature> for AwsKmsSigner {
    fn try_sign(&self, _msg: &[u8]) -> Result<Signature, signature::Error> {
        match self.never {}
    }
}

impl signature::Keypair for AwsKmsSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        match self.never {}
    }
}
