//! Who may sign statements in an identity's name: the publisher's side of the rules that
//! [`Kel::verify`] and the trust gate apply to what arrives.
//!
//! A statement signed for an identity names a package inside the identity's namespaces, is
//! signed by current keys only, by at least the current threshold of them, and names the log's
//! newest event as its position. [`Kel::may_sign_for`], [`Kel::current_key`] and
//! [`Kel::signer_ref`] check each of these before anything is signed, so that a publisher finds
//! out at signing time what every verifier would refuse later.

use super::log::Kel;
use crate::IdentityId;
use crate::key::{KeyId, PublicKey};
use crate::statement::{Namespace, PackageName, SignerRef};

/// Why keys may not sign a statement in an identity's name.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SigningError {
    /// The package is outside the namespaces the identity owns.
    #[error("{name} is not in the namespaces of identity {} ({})", identity.short(), list(owned))]
    NotOwned {
        /// The package.
        name: PackageName,
        /// The identity.
        identity: IdentityId,
        /// The namespaces it owns now: claimed, then received.
        owned: Vec<Namespace>,
    },
    /// A key is not one of the identity's current keys.
    #[error(
        "key {} ({label}) is not a current signing key of identity {}{}; current keys: {}",
        key.short(),
        identity.short(),
        rotated_out_by.map(|end| format!("; it was rotated out by event #{end}")).unwrap_or_default(),
        current.iter().map(KeyId::short).collect::<Vec<_>>().join(", ")
    )]
    NotCurrent {
        /// The key.
        key: KeyId,
        /// Where the key came from, as the caller names it (a key reference).
        label: String,
        /// The identity.
        identity: IdentityId,
        /// The rotation that retired the key, when it was a current key once.
        rotated_out_by: Option<u64>,
        /// The current keys.
        current: Box<[KeyId]>,
    },
    /// Fewer keys than the current threshold.
    #[error("identity {} needs {threshold} of its {keys} keys to sign", identity.short())]
    BelowThreshold {
        /// The identity.
        identity: IdentityId,
        /// How many must sign.
        threshold: u64,
        /// How many current keys it has.
        keys: usize,
    },
}

fn list(names: &[Namespace]) -> String {
    names
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

impl Kel {
    /// Checks that the identity owns `name` now (claimed or received, not handed on).
    pub fn may_sign_for(&self, name: &PackageName) -> Result<(), SigningError> {
        if self.owns(name) {
            return Ok(());
        }
        Err(SigningError::NotOwned {
            name: name.clone(),
            identity: self.identity(),
            owned: self
                .claimed()
                .iter()
                .chain(self.received().iter().map(|r| &r.name))
                .cloned()
                .collect(),
        })
    }

    /// The current key `key` is, or why it is not one; `label` names where it came from in the
    /// error.
    pub fn current_key(&self, key: &PublicKey, label: &str) -> Result<PublicKey, SigningError> {
        let id = key.key_id();
        let current = self.current();
        if let Some(found) = current.keys.iter().find(|k| k.key_id() == id) {
            return Ok(*found);
        }
        Err(SigningError::NotCurrent {
            key: id,
            label: label.to_owned(),
            identity: self.identity(),
            rotated_out_by: self.epochs_of(&id).last().and_then(|e| e.end),
            current: current.keys.iter().map(PublicKey::key_id).collect(),
        })
    }

    /// The signer a statement signed by `keys` (each with its label) names: the identity at its
    /// newest event, once every key is a current key and at least the threshold of them sign.
    pub fn signer_ref<'a>(
        &self,
        keys: impl IntoIterator<Item = (PublicKey, &'a str)>,
    ) -> Result<SignerRef, SigningError> {
        let mut count = 0u64;
        for (key, label) in keys {
            self.current_key(&key, label)?;
            count += 1;
        }
        let current = self.current();
        if count < current.threshold {
            return Err(SigningError::BelowThreshold {
                identity: self.identity(),
                threshold: current.threshold,
                keys: current.keys.len(),
            });
        }
        let head = self.head();
        Ok(SignerRef::identity(
            self.identity(),
            head.event.sequence,
            head.digest,
        ))
    }
}
