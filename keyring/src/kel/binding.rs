//! The binding of a release statement to its signer's key event log: the one rule the
//! gatekeeper and the registry both apply before anything else about a signer.
//!
//! A statement signed in an identity's name names a position of that identity's log — the
//! sequence number and the digest of the event there. It is bound to a log when
//!
//! 1. the log is the named identity's;
//! 2. the log holds an event at that position (a statement cannot name a future one);
//! 3. that event is the one named (the signer worked from this history, not a fork);
//! 4. the identity held the package's name at that position;
//! 5. the keys current at that position — the epoch it falls in — signed, to their
//!    threshold (a key rotated away before the position does not count).
//!
//! What the binding does not decide is left to the caller: whether keys since rotated away
//! may still sign (the registry refuses new releases by them; the gatekeeper weighs proof of
//! time and revocations), and how names moved between identities.

use crate::envelope::Envelope;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::log::{Epoch, Given, Kel};
use crate::key::KeyId;
use crate::statement::{Namespace, PackageName};
use crate::threshold::{ThresholdError, check_threshold};

/// The position of a signer's log that a statement names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Position {
    /// The identity the statement is signed in the name of.
    pub identity: IdentityId,
    /// The sequence number of the event it names.
    pub sequence: u64,
    /// The digest of that event.
    pub event: Sha256Digest,
}

/// A statement bound to a log: the epoch of its position and the keys of it that signed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Binding<'k> {
    /// The key set current at the position.
    pub epoch: &'k Epoch,
    /// The keys of that set whose signatures verified (at least its threshold).
    pub signers: Vec<KeyId>,
}

/// Why a statement is not bound to a log. Callers word each for their own audience.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BindingError {
    /// The log is another identity's.
    #[error("the key event log belongs to identity {}, not to identity {}", log.short(), named.short())]
    OtherIdentity {
        /// The identity the statement names.
        named: IdentityId,
        /// The identity whose log it is.
        log: IdentityId,
    },
    /// The log has no event at the position (it is shorter, or the position is in the future).
    #[error("event #{sequence} of identity {} is not in its key event log", identity.short())]
    NoEvent {
        /// The identity.
        identity: IdentityId,
        /// The position named.
        sequence: u64,
    },
    /// The log holds another event at the position: the signer worked from another history.
    #[error(
        "the statement names event {} at #{sequence} of identity {}, but its log holds {} there",
        named.short(),
        identity.short(),
        held.short()
    )]
    OtherEvent {
        /// The identity.
        identity: IdentityId,
        /// The position.
        sequence: u64,
        /// The event the statement names.
        named: Sha256Digest,
        /// The event the log holds there.
        held: Sha256Digest,
    },
    /// The identity did not hold the name at the position.
    #[error("identity {} did not hold {name} at event #{sequence}", identity.short())]
    NotHeld {
        /// The identity.
        identity: IdentityId,
        /// The package.
        name: Box<PackageName>,
        /// The position.
        sequence: u64,
        /// The last transfer of the name away from the identity at or before the position,
        /// if that is why.
        given: Option<Box<Given>>,
    },
    /// No key set covers the position.
    #[error("identity {} has no keys at event #{sequence}", identity.short())]
    NoKeys {
        /// The identity.
        identity: IdentityId,
        /// The position.
        sequence: u64,
    },
    /// The keys current at the position did not sign to their threshold.
    #[error(
        "the statement is not signed by the keys of identity {} at event #{sequence}: {source}",
        identity.short()
    )]
    Signature {
        /// The identity.
        identity: IdentityId,
        /// The position.
        sequence: u64,
        /// The position's key set.
        epoch: Box<Epoch>,
        /// What the threshold check found.
        source: ThresholdError,
    },
}

/// Binds `statement` (the signed envelope of a release of `name`, naming `position`) to
/// `kel`, in the order of the [module documentation](self).
pub fn bind<'k>(
    kel: &'k Kel,
    statement: &Envelope,
    name: &PackageName,
    position: Position,
) -> Result<Binding<'k>, BindingError> {
    let Position {
        identity,
        sequence,
        event,
    } = position;
    if kel.identity() != identity {
        return Err(BindingError::OtherIdentity {
            named: identity,
            log: kel.identity(),
        });
    }
    let at = kel
        .event(sequence)
        .ok_or(BindingError::NoEvent { identity, sequence })?;
    if at.digest != event {
        return Err(BindingError::OtherEvent {
            identity,
            sequence,
            named: event,
            held: at.digest,
        });
    }
    if !kel.owns_at(name, sequence) {
        let target = Namespace::from(name);
        let given = kel
            .given()
            .iter()
            .rev()
            .find(|g| g.sequence <= sequence && g.name.contains(&target))
            .map(|g| Box::new(g.clone()));
        return Err(BindingError::NotHeld {
            identity,
            name: Box::new(name.clone()),
            sequence,
            given,
        });
    }
    let epoch = kel
        .epoch_at(sequence)
        .ok_or(BindingError::NoKeys { identity, sequence })?;
    let signers = check_threshold(statement, &epoch.keys, epoch.threshold).map_err(|source| {
        BindingError::Signature {
            identity,
            sequence,
            epoch: Box::new(epoch.clone()),
            source,
        }
    })?;
    Ok(Binding { epoch, signers })
}
