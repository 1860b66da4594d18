//! [`AwsKmsSigner`]: an Ed25519 key in AWS KMS, behind the RustCrypto traits.

use std::fmt;
use std::num::NonZeroUsize;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::{MessageType, SigningAlgorithmSpec};
use ed25519_dalek::{Signature, VerifyingKey};

use super::client::{Core, KeyInfo, Kms, Op, check_public_key};
use super::error::{BatchError, Error};
use super::reference::AwsKmsRef;
use super::types::KeyFacts;
use super::{CONCURRENCY_ENV, MAX_CONCURRENCY, MAX_MESSAGE_LEN};
use crate::hex;

/// The text signed, and verified, when a signer opens: it proves that KMS signs for the public
/// key it reported, and that the caller may sign, before any long work. Domain-separated so it
/// can never be taken for a Hallmark statement.
const KEY_CHECK_MESSAGE: &[u8] = b"hallmark awskms key-pair check v1\0";

/// Concurrent requests of a batch when [`CONCURRENCY_ENV`] is unset.
const DEFAULT_CONCURRENCY: NonZeroUsize = NonZeroUsize::new(8).unwrap();

/// An Ed25519 private key that stays inside AWS KMS.
///
/// Opening loads the standard AWS configuration, reads the public key (`GetPublicKey`, checked
/// to be an Ed25519 `SIGN_VERIFY` key offering `ED25519_SHA_512`), compares it with the expected
/// key, and signs a check message. From then on every request names the key by the ARN KMS
/// reported, so an alias moved to another key in the meantime changes nothing; and every
/// signature is verified strictly under the public key before it is returned.
///
/// Requests run on a single-threaded runtime the signer owns; a batch
/// ([`AwsKmsSigner::sign_batch`]) keeps several requests in flight at once. The signer is
/// `Send + Sync`; calls from several threads take turns on the runtime.
pub struct AwsKmsSigner {
    kms: Kms,
    reference: AwsKmsRef,
    arn: String,
    verifying_key: VerifyingKey,
    concurrency: NonZeroUsize,
}

impl fmt::Debug for AwsKmsSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsKmsSigner")
            .field("reference", &self.reference.to_string())
            .field("arn", &self.arn)
            .field("region", &self.kms.core.region)
            .field("endpoint", &self.kms.core.endpoint)
            .field("verifying_key", &hex(self.verifying_key.as_bytes()))
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

/// Reads [`CONCURRENCY_ENV`].
fn concurrency_from_env() -> Result<NonZeroUsize, Error> {
    match std::env::var_os(CONCURRENCY_ENV) {
        None => Ok(DEFAULT_CONCURRENCY),
        Some(value) => parse_concurrency(&value.to_string_lossy()),
    }
}

pub(crate) fn parse_concurrency(value: &str) -> Result<NonZeroUsize, Error> {
    match value.trim().parse::<NonZeroUsize>() {
        Ok(n) if n.get() <= MAX_CONCURRENCY => Ok(n),
        _ => Err(Error::BadConcurrency {
            env: CONCURRENCY_ENV,
            value: value.to_owned(),
            max: MAX_CONCURRENCY,
        }),
    }
}

/// Reads a key's public key with `GetPublicKey` and checks it.
pub(crate) async fn fetch_public_key(core: &Core, key: &str) -> Result<KeyInfo, Error> {
    let output = core
        .call(Op::GetPublicKey, key, || {
            core.client.get_public_key().key_id(key).send()
        })
        .await?;
    check_public_key(key, &output)
}

/// One `Sign` request (pure Ed25519 over the raw message), its answer checked and the signature
/// verified strictly.
async fn sign_verified(
    core: &Core,
    arn: &str,
    verifying_key: &VerifyingKey,
    message: &[u8],
) -> Result<Signature, Error> {
    if message.len() > MAX_MESSAGE_LEN {
        return Err(Error::MessageTooLarge {
            len: message.len(),
            max: MAX_MESSAGE_LEN,
        });
    }
    let output = core
        .call(Op::Sign, arn, || {
            core.client
                .sign()
                .key_id(arn)
                .message(Blob::new(message))
                .message_type(MessageType::Raw)
                .signing_algorithm(SigningAlgorithmSpec::Ed25519Sha512)
                .send()
        })
        .await?;
    let bad = |reason: String| Error::BadSignature {
        key: arn.to_owned(),
        reason,
    };
    if let Some(algorithm) = output.signing_algorithm()
        && *algorithm != SigningAlgorithmSpec::Ed25519Sha512
    {
        return Err(bad(format!(
            "KMS says it used {}, not ED25519_SHA_512",
            algorithm.as_str()
        )));
    }
    if let Some(key_id) = output.key_id()
        && key_id != arn
    {
        return Err(bad(format!("KMS says it signed with {key_id}")));
    }
    let bytes = output.signature().map(|b| b.as_ref()).unwrap_or_default();
    let bytes: [u8; 64] = bytes
        .try_into()
        .map_err(|_| bad(format!("{} bytes instead of 64", bytes.len())))?;
    let signature = Signature::from_bytes(&bytes);
    verifying_key
        .verify_strict(message, &signature)
        .map_err(|e| bad(e.to_string()))?;
    Ok(signature)
}

impl AwsKmsSigner {
    /// Opens the key a reference names. When `expected` is given, the key's public key must
    /// equal it; in any case a check signature must verify under the key's public key.
    pub fn open(
        reference: &AwsKmsRef,
        expected: Option<&VerifyingKey>,
    ) -> Result<AwsKmsSigner, Error> {
        let concurrency = concurrency_from_env()?;
        let kms = Kms::connect(reference.region(), &reference.to_string())?;
        let info = kms.block_on(fetch_public_key(&kms.core, reference.key()))?;
        if let Some(expected) = expected
            && *expected != info.verifying_key
        {
            return Err(Error::KeyMismatch {
                key: info.arn,
                expected: hex(expected.as_bytes()),
                found: hex(info.verifying_key.as_bytes()),
            });
        }
        let signer = AwsKmsSigner {
            kms,
            reference: reference.clone(),
            arn: info.arn,
            verifying_key: info.verifying_key,
            concurrency,
        };
        signer.sign_message(KEY_CHECK_MESSAGE)?;
        Ok(signer)
    }

    /// The reference the signer was opened with.
    pub fn reference(&self) -> &AwsKmsRef {
        &self.reference
    }

    /// The key's ARN, which every request names.
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// Key facts for ceremony transcripts.
    pub fn facts(&self) -> KeyFacts {
        KeyFacts {
            arn: self.arn.clone(),
            region: self.kms.core.region.clone(),
            endpoint: self.kms.core.endpoint.clone(),
            key_spec: "ECC_NIST_EDWARDS25519",
            signing_algorithm: "ED25519_SHA_512",
        }
    }

    /// How many requests a batch keeps in flight at once.
    pub fn concurrency(&self) -> NonZeroUsize {
        self.concurrency
    }

    /// Sets how many requests a batch keeps in flight (at most [`MAX_CONCURRENCY`]).
    pub fn set_concurrency(&mut self, concurrency: NonZeroUsize) {
        self.concurrency =
            concurrency.min(NonZeroUsize::new(MAX_CONCURRENCY).unwrap_or(DEFAULT_CONCURRENCY));
    }

    /// Signs one message (at most [`MAX_MESSAGE_LEN`] bytes) and verifies the signature.
    pub fn sign_message(&self, message: &[u8]) -> Result<Signature, Error> {
        self.kms.block_on(sign_verified(
            &self.kms.core,
            &self.arn,
            &self.verifying_key,
            message,
        ))
    }

    /// Signs many messages, keeping up to [`AwsKmsSigner::concurrency`] requests in flight,
    /// and calls `progress(done, total)` as signatures arrive. `signatures[i]` signs
    /// `messages[i]`; each is verified before it is counted.
    ///
    /// Throttled requests are retried with backoff and jitter. When a request fails for good,
    /// no new request starts; the [`BatchError`] holds the signatures of the messages before
    /// the first one that was not signed (always the first messages, in order) and says which
    /// were not signed.
    pub fn sign_batch(
        &self,
        messages: &[&[u8]],
        mut progress: impl FnMut(usize, usize),
    ) -> Result<Vec<Signature>, BatchError> {
        let total = messages.len();
        if let Some(len) = messages
            .iter()
            .map(|m| m.len())
            .find(|&len| len > MAX_MESSAGE_LEN)
        {
            return Err(BatchError {
                signatures: Vec::new(),
                total,
                cause: Box::new(Error::MessageTooLarge {
                    len,
                    max: MAX_MESSAGE_LEN,
                }),
            });
        }
        if total == 0 {
            return Ok(Vec::new());
        }
        let shared: Arc<Vec<Vec<u8>>> = Arc::new(messages.iter().map(|m| m.to_vec()).collect());
        let next = Arc::new(AtomicUsize::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let workers = self.concurrency.get().min(total);
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let mut slots: Vec<Option<Signature>> = vec![None; total];
        let mut failures: Vec<(usize, Error)> = Vec::new();
        self.kms.block_on(async {
            let mut tasks = tokio::task::JoinSet::new();
            for _ in 0..workers {
                let core = Arc::clone(&self.kms.core);
                let arn = self.arn.clone();
                let key = self.verifying_key;
                let (messages, next, stop) =
                    (Arc::clone(&shared), Arc::clone(&next), Arc::clone(&stop));
                let sender = sender.clone();
                tasks.spawn(async move {
                    while !stop.load(Ordering::Relaxed) {
                        let index = next.fetch_add(1, Ordering::Relaxed);
                        let Some(message) = messages.get(index) else {
                            break;
                        };
                        let result = sign_verified(&core, &arn, &key, message).await;
                        let failed = result.is_err();
                        if failed {
                            stop.store(true, Ordering::Relaxed);
                        }
                        if sender.send((index, result)).is_err() || failed {
                            break;
                        }
                    }
                });
            }
            drop(sender);
            let mut done = 0;
            while let Some((index, result)) = receiver.recv().await {
                match result {
                    Ok(signature) => {
                        slots[index] = Some(signature);
                        done += 1;
                        progress(done, total);
                    }
                    Err(err) => failures.push((index, err)),
                }
            }
            while tasks.join_next().await.is_some() {}
        });
        // Messages are handed out in order and a worker stops at its first failure, so every
        // message before the earliest failure was signed.
        let signatures: Vec<Signature> = slots.iter().map_while(|slot| *slot).collect();
        if signatures.len() == total {
            return Ok(signatures);
        }
        failures.sort_by_key(|(index, _)| *index);
        let cause = failures
            .into_iter()
            .next()
            .map(|(_, err)| err)
            .unwrap_or_else(|| Error::Runtime {
                reason: "a signing task ended without a result".to_owned(),
            });
        Err(BatchError {
            signatures,
            total,
            cause: Box::new(cause),
        })
    }
}

impl signature::Signer<Signature> for AwsKmsSigner {
    /// Signs with KMS. Failures are a [`signature::Error`] whose source is this module's
    /// [`Error`]: downcast it to see what happened.
    fn try_sign(&self, msg: &[u8]) -> Result<Signature, signature::Error> {
        self.sign_message(msg)
            .map_err(signature::Error::from_source)
    }
}

impl signature::Keypair for AwsKmsSigner {
    type VerifyingKey = VerifyingKey;

    fn verifying_key(&self) -> VerifyingKey {
        self.verifying_key
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signer_can_be_shared_between_threads() {
        fn shareable<T: Send + Sync>() {}
        shareable::<AwsKmsSigner>();
        shareable::<Error>();
        shareable::<BatchError>();
    }

    #[test]
    fn concurrency_is_a_whole_number_up_to_the_maximum() {
        assert_eq!(parse_concurrency("1").unwrap().get(), 1);
        assert_eq!(parse_concurrency(" 64\n").unwrap().get(), MAX_CONCURRENCY);
        for bad in ["0", "65", "-1", "many", "", "2.5"] {
            let err = parse_concurrency(bad).unwrap_err();
            assert!(err.is_usage(), "{bad}");
            assert_eq!(
                err.to_string(),
                format!(
                    "HALLMARK_AWSKMS_CONCURRENCY={bad:?} is not a number of concurrent requests: \
                     give a whole number from 1 to 64, or unset it to let Hallmark choose"
                )
            );
        }
    }
}
