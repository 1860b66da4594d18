//! The one threshold check.
//!
//! Every "signed by M of these keys" decision in Hallmark — package statements, key events of
//! every kind, registry receipts — goes through [`check_threshold`]. Keys count once each,
//! however many times they appear in the set or sign; signatures from keys outside the set
//! count for nothing; an empty set or a threshold of zero is never satisfied.

use std::collections::BTreeSet;

use crate::envelope::Envelope;
use crate::key::{KeyId, PublicKey};

/// Why an envelope does not carry enough valid signatures.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ThresholdError {
    /// No keys are authorised: nothing can satisfy the check.
    #[error("no keys are authorised to sign")]
    EmptyKeySet,
    /// The threshold is zero or larger than the number of distinct keys.
    #[error("threshold {threshold} cannot be met by {keys} distinct key(s)")]
    InvalidThreshold {
        /// The threshold required.
        threshold: u64,
        /// The number of distinct keys.
        keys: usize,
    },
    /// A signature names an authorised key but does not verify, and the threshold is not met.
    #[error("the signature by key {} does not verify", .key.short())]
    BadSignature {
        /// The key whose signature failed.
        key: KeyId,
    },
    /// Too few authorised keys signed.
    #[error(
        "signed by {} of the {needed} authorised keys required{}",
        .signed.len(),
        if .unauthorized.is_empty() { String::new() } else {
            format!("; signatures by keys outside the authorised set ({}) do not count",
                .unauthorized.iter().map(KeyId::short).collect::<Vec<_>>().join(", "))
        }
    )]
    NotMet {
        /// The threshold.
        needed: u64,
        /// The authorised keys that did sign.
        signed: Vec<KeyId>,
        /// Keys that signed but are not authorised.
        unauthorized: Vec<KeyId>,
    },
}

/// Checks that at least `threshold` distinct keys of `keys` signed `envelope`, and returns the
/// ids of the authorised keys whose signatures verify (each once, in key-set order).
pub fn check_threshold(
    envelope: &Envelope,
    keys: &[PublicKey],
    threshold: u64,
) -> Result<Vec<KeyId>, ThresholdError> {
    if keys.is_empty() {
        return Err(ThresholdError::EmptyKeySet);
    }
    let mut seen = BTreeSet::new();
    let distinct: Vec<&PublicKey> = keys.iter().filter(|k| seen.insert(k.key_id())).collect();
    if threshold == 0 || threshold > distinct.len() as u64 {
        return Err(ThresholdError::InvalidThreshold {
            threshold,
            keys: distinct.len(),
        });
    }
    let mut signed = Vec::new();
    let mut bad = None;
    for key in distinct {
        match envelope.signature_by(key) {
            Ok(Some(_)) => signed.push(key.key_id()),
            Ok(None) => {}
            Err(keyid) => {
                bad.get_or_insert(keyid);
            }
        }
    }
    if signed.len() as u64 >= threshold {
        return Ok(signed);
    }
    if let Some(key) = bad {
        return Err(ThresholdError::BadSignature { key });
    }
    let unauthorized = envelope
        .signatures()
        .iter()
        .map(|s| s.keyid)
        .filter(|id| !seen.contains(id))
        .collect();
    Err(ThresholdError::NotMet {
        needed: threshold,
        signed,
        unauthorized,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EnvelopeSignature, PayloadType};
    use ed25519_dalek::SigningKey;

    fn sk(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn pk(seed: u8) -> PublicKey {
        PublicKey::new(sk(seed).verifying_key())
    }

    fn signed_by(seeds: &[u8]) -> Envelope {
        let mut env = Envelope::new(PayloadType::KeyEvent, b"{}".to_vec()).unwrap();
        for &s in seeds {
            env.sign(&sk(s)).unwrap();
        }
        env
    }

    #[test]
    fn met_and_not_met() {
        let keys = [pk(1), pk(2), pk(3)];
        assert_eq!(
            check_threshold(&signed_by(&[1, 2]), &keys, 2).unwrap(),
            vec![pk(1).key_id(), pk(2).key_id()]
        );
        assert_eq!(
            check_threshold(&signed_by(&[1]), &keys, 2),
            Err(ThresholdError::NotMet {
                needed: 2,
                signed: vec![pk(1).key_id()],
                unauthorized: vec![]
            })
        );
    }

    #[test]
    fn empty_set_never_satisfied() {
        assert_eq!(
            check_threshold(&signed_by(&[1]), &[], 0),
            Err(ThresholdError::EmptyKeySet)
        );
        assert_eq!(
            check_threshold(&signed_by(&[1]), &[], 1),
            Err(ThresholdError::EmptyKeySet)
        );
    }

    #[test]
    fn zero_or_excessive_threshold_refused() {
        let keys = [pk(1), pk(2)];
        assert_eq!(
            check_threshold(&signed_by(&[1, 2]), &keys, 0),
            Err(ThresholdError::InvalidThreshold {
                threshold: 0,
                keys: 2
            })
        );
        assert_eq!(
            check_threshold(&signed_by(&[1, 2]), &keys, 3),
            Err(ThresholdError::InvalidThreshold {
                threshold: 3,
                keys: 2
            })
        );
    }

    #[test]
    fn a_key_listed_twice_counts_once() {
        let keys = [pk(1), pk(1), pk(2)];
        assert_eq!(
            check_threshold(&signed_by(&[1]), &keys, 2),
            Err(ThresholdError::NotMet {
                needed: 2,
                signed: vec![pk(1).key_id()],
                unauthorized: vec![]
            })
        );
        // Two distinct keys, so a threshold of 3 is impossible even though three are listed.
        assert_eq!(
            check_threshold(&signed_by(&[1, 2]), &keys, 3),
            Err(ThresholdError::InvalidThreshold {
                threshold: 3,
                keys: 2
            })
        );
    }

    #[test]
    fn duplicate_signatures_from_one_key_count_once() {
        // Envelopes refuse a second signature by the same key id on parse and on add; even a
        // hand-built second entry for the same key is refused, so one key is one vote.
        let mut env = signed_by(&[1]);
        let first = env.signatures()[0].clone();
        assert!(env.add_signature(first.clone()).is_err());
        let keys = [pk(1), pk(2)];
        assert!(matches!(
            check_threshold(&env, &keys, 2),
            Err(ThresholdError::NotMet { .. })
        ));
    }

    #[test]
    fn keys_from_the_wrong_set_do_not_count() {
        let keys = [pk(1), pk(2)];
        assert_eq!(
            check_threshold(&signed_by(&[1, 3, 4]), &keys, 2),
            Err(ThresholdError::NotMet {
                needed: 2,
                signed: vec![pk(1).key_id()],
                unauthorized: vec![pk(3).key_id(), pk(4).key_id()],
            })
        );
    }

    #[test]
    fn forged_signature_is_reported() {
        let mut env = Envelope::new(PayloadType::KeyEvent, b"{}".to_vec()).unwrap();
        env.add_signature(EnvelopeSignature {
            keyid: pk(1).key_id(),
            sig: [7; 64],
        })
        .unwrap();
        assert_eq!(
            check_threshold(&env, &[pk(1)], 1),
            Err(ThresholdError::BadSignature {
                key: pk(1).key_id()
            })
        );
        // A bad signature does not spoil a threshold that valid ones meet.
        env.sign(&sk(2)).unwrap();
        assert_eq!(
            check_threshold(&env, &[pk(1), pk(2)], 1).unwrap(),
            vec![pk(2).key_id()]
        );
    }
}
