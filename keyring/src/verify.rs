//! Verifying a bundle against keys the user gives.
//!
//! This is the check behind `hallmark verify --public-key`: the statement must be signed by one
//! of the given keys and the artifact must have the digest the statement names. Verification
//! against pinned identities and their key event logs builds on the same steps.

use crate::bundle::Bundle;
use crate::digest::ContentDigest;
use crate::error::FormatError;
use crate::key::{KeyId, PublicKey};
use crate::statement::{PackageName, Signer, Statement, Version};
use crate::threshold::{ThresholdError, check_threshold};
use crate::verdict::{Decision, Rejection, Verdict};

/// The release a caller expects an artifact to be (`hallmark verify --expect NAME@VERSION`).
///
/// A bundle is only as specific as its statement: a genuinely signed old release, served under
/// the file name of a newer one, or another package of the same publisher, verifies on its own.
/// Stating the expectation turns that substitution into a refusal.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ExpectedRelease {
    /// The package.
    pub name: PackageName,
    /// The version.
    pub version: Version,
}

impl std::str::FromStr for ExpectedRelease {
    type Err = FormatError;

    fn from_str(text: &str) -> Result<Self, FormatError> {
        let Some((name, version)) = text.split_once('@') else {
            return Err(FormatError::invalid(
                "expected release",
                format!(
                    "{:?} is not NAME@VERSION (e.g. org.example.tool@1.2.0)",
                    text.chars().take(200).collect::<String>()
                ),
            ));
        };
        let bad = |e: crate::statement::NameError| {
            FormatError::invalid("expected release", e.to_string())
        };
        Ok(ExpectedRelease {
            name: name.parse().map_err(bad)?,
            version: version.parse().map_err(bad)?,
        })
    }
}

impl std::fmt::Display for ExpectedRelease {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}@{}", self.name, self.version)
    }
}

/// Compares the release a statement names with the one the caller expects: any difference —
/// another version, another package — is `rejected: digest-mismatch` (the artifact is not the
/// release it should be).
#[allow(clippy::result_large_err)]
pub fn check_expected(statement: &Statement, expected: &ExpectedRelease) -> Result<(), Decision> {
    if statement.name == expected.name && statement.version == expected.version {
        return Ok(());
    }
    let release = statement.release();
    Err(Decision::new(
        Verdict::Rejected(Rejection::DigestMismatch),
        format!(
            "expected {expected}, but the bundle is for {release}: another release was served in its place"
        ),
        Some(release),
    ))
}

/// Compares the artifact's digest with the one the statement signed.
// A refusal is a whole decision (verdict, message, chain); these run once per artifact, so
// its size does not matter and boxing it would only burden every caller.
#[allow(clippy::result_large_err)]
pub fn check_digest(statement: &Statement, actual: &ContentDigest) -> Result<(), Decision> {
    if &statement.digest == actual {
        return Ok(());
    }
    let release = statement.release();
    let message = match (&statement.digest, actual) {
        (ContentDigest::File(_), ContentDigest::Tree(_)) => format!(
            "digest mismatch for {release}: the statement signs a file ({}), but a directory tree was given ({actual})",
            statement.digest
        ),
        (ContentDigest::Tree(_), ContentDigest::File(_)) => format!(
            "digest mismatch for {release}: the statement signs a directory tree ({}), but a file was given ({actual})",
            statement.digest
        ),
        _ => format!(
            "digest mismatch for {release}: expected {}, got {actual}; this artifact may have been tampered with",
            statement.digest
        ),
    };
    Err(Decision::new(
        Verdict::Rejected(Rejection::DigestMismatch),
        message,
        Some(release),
    ))
}

/// Checks that one of `expected` signed the statement and that a bare-key statement names the
/// key that signed it. Returns the ids of the expected keys that signed.
#[allow(clippy::result_large_err)]
pub fn check_signed_by(
    statement: &Statement,
    bundle: &Bundle,
    expected: &[PublicKey],
) -> Result<Vec<KeyId>, Decision> {
    let release = statement.release();
    let signers = match check_threshold(&bundle.statement, expected, 1) {
        Ok(signers) => signers,
        Err(ThresholdError::BadSignature { key }) => {
            return Err(Decision::new(
                Verdict::Rejected(Rejection::BadSignature),
                format!(
                    "the signature by key {} on {release} does not verify; the bundle was altered or is corrupt",
                    key.short()
                ),
                Some(release),
            ));
        }
        Err(_) => {
            let actual: Vec<String> = bundle
                .statement
                .signatures()
                .iter()
                .map(|s| s.keyid.short())
                .collect();
            let wanted: Vec<String> = expected.iter().map(|k| k.key_id().short()).collect();
            let by = if actual.is_empty() {
                "nobody".to_owned()
            } else {
                format!("key {}", actual.join(", "))
            };
            return Err(Decision::new(
                Verdict::Rejected(Rejection::UnlinkedSignerChange),
                format!(
                    "{release} is signed by {by}, not by the expected key {}, and nothing links them",
                    wanted.join(" or ")
                ),
                Some(release),
            ));
        }
    };
    if let Ok(Signer::Key(named)) = statement.signer.kind()
        && !signers.contains(&named.key_id())
    {
        return Err(Decision::new(
            Verdict::Rejected(Rejection::BadSignature),
            format!(
                "the statement for {release} names key {} as its signer but is signed by {}",
                named.key_id().short(),
                signers
                    .iter()
                    .map(KeyId::short)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Some(release),
        ));
    }
    Ok(signers)
}

/// Verifies a bundle against keys given by the user and the artifact's actual digest.
///
/// `Err` means the bundle could not be read as a Hallmark bundle at all (an input error, not a
/// verdict); otherwise exactly one [`Decision`] is returned.
pub fn verify_with_keys(
    bundle: &Bundle,
    expected: &[PublicKey],
    actual: &ContentDigest,
) -> Result<Decision, FormatError> {
    verify_with_keys_expecting(bundle, expected, actual, None)
}

/// [`verify_with_keys`], refusing a bundle for another release than `release` when one is
/// expected ([`check_expected`], checked first).
pub fn verify_with_keys_expecting(
    bundle: &Bundle,
    expected: &[PublicKey],
    actual: &ContentDigest,
    release: Option<&ExpectedRelease>,
) -> Result<Decision, FormatError> {
    let statement = bundle.statement()?;
    if let Some(release) = release
        && let Err(decision) = check_expected(&statement, release)
    {
        return Ok(decision);
    }
    let signers = match check_signed_by(&statement, bundle, expected) {
        Ok(signers) => signers,
        Err(decision) => return Ok(decision),
    };
    if let Err(decision) = check_digest(&statement, actual) {
        return Ok(decision);
    }
    let release = statement.release();
    Ok(Decision::new(
        Verdict::Trusted,
        format!(
            "{release} ({}) signed by key {} on {}",
            statement.digest,
            signers
                .iter()
                .map(KeyId::short)
                .collect::<Vec<_>>()
                .join(", "),
            statement.created
        ),
        Some(release),
    ))
}
