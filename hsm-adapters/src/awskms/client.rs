//! The connection to AWS KMS: the SDK client, the runtime it runs on, and how its failures
//! become [`Error`]s, with retries of throttling and transient failures.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::BehaviorVersion;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::error::CredentialsError;
use aws_sdk_kms::config::{ProvideCredentials, Region};
use aws_sdk_kms::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_kms::operation::get_public_key::GetPublicKeyOutput;
use aws_sdk_kms::types::{KeySpec, KeyUsageType, SigningAlgorithmSpec};
use aws_smithy_http_client::tls::{self, rustls_provider::CryptoMode};
use ed25519_dalek::VerifyingKey;
use ed25519_dalek::pkcs8::DecodePublicKey;

use super::error::Error;

/// How long a connection may take to open.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long one request may take, answer included.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(30);

/// The most requests made for one call KMS throttles.
pub const MAX_THROTTLED_ATTEMPTS: u32 = 8;

/// The most requests made for one call that fails for a passing reason (a dropped connection,
/// an internal error of KMS).
pub const MAX_TRANSIENT_ATTEMPTS: u32 = 3;

/// The first backoff's ceiling; each retry doubles it, up to [`MAX_BACKOFF`].
const BASE_BACKOFF: Duration = Duration::from_millis(100);

/// The longest wait between two requests.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// The length of an Ed25519 SubjectPublicKeyInfo in DER, which is what KMS returns.
const ED25519_SPKI_LEN: usize = 44;

/// A KMS call, for error messages and the permission it needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Sign,
    GetPublicKey,
    CreateKey,
    CreateAlias,
    DescribeKey,
    ListAliases,
    ListResourceTags,
    ScheduleKeyDeletion,
}

impl Op {
    pub(crate) fn name(self) -> &'static str {
        match self {
            Op::Sign => "Sign",
            Op::GetPublicKey => "GetPublicKey",
            Op::CreateKey => "CreateKey",
            Op::CreateAlias => "CreateAlias",
            Op::DescribeKey => "DescribeKey",
            Op::ListAliases => "ListAliases",
            Op::ListResourceTags => "ListResourceTags",
            Op::ScheduleKeyDeletion => "ScheduleKeyDeletion",
        }
    }

    pub(crate) fn permission(self) -> &'static str {
        match self {
            Op::Sign => "kms:Sign",
            Op::GetPublicKey => "kms:GetPublicKey",
            Op::CreateKey => "kms:CreateKey",
            Op::CreateAlias => "kms:CreateAlias",
            Op::DescribeKey => "kms:DescribeKey",
            Op::ListAliases => "kms:ListAliases",
            Op::ListResourceTags => "kms:ListResourceTags",
            Op::ScheduleKeyDeletion => "kms:ScheduleKeyDeletion",
        }
    }
}

/// Whether, and how often, a failure is worth another request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Retry {
    No,
    Throttled,
    Transient,
}

/// The parts of a connection that requests need; cheap to clone into concurrent tasks.
#[derive(Clone, Debug)]
pub(crate) struct Core {
    pub(crate) client: aws_sdk_kms::Client,
    pub(crate) region: String,
    pub(crate) endpoint: String,
}

/// A KMS client and the single-threaded runtime its requests run on. The runtime belongs to
/// the connection: callers stay synchronous.
pub(crate) struct Kms {
    runtime: tokio::runtime::Runtime,
    pub(crate) core: Arc<Core>,
}

impl std::fmt::Debug for Kms {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Kms")
            .field("region", &self.core.region)
            .field("endpoint", &self.core.endpoint)
            .finish_non_exhaustive()
    }
}

impl Kms {
    /// Loads the standard AWS configuration (region, credentials, endpoint) and checks that
    /// credentials can be had, without sending anything to KMS. `region` overrides the chain's.
    pub(crate) fn connect(region: Option<&str>, reference: &str) -> Result<Kms, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| Error::Runtime {
                reason: e.to_string(),
            })?;
        let http = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(CryptoMode::Ring))
            .build_https();
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .operation_attempt_timeout(ATTEMPT_TIMEOUT)
            .build();
        // Retries are Hallmark's own (see `Core::call`), so that a throttled batch backs off
        // per request and an error can say how many requests were made.
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts);
        if let Some(region) = region {
            loader = loader.region(Region::new(region.to_owned()));
        }
        let config = runtime.block_on(loader.load());
        let region = config
            .region()
            .map(ToString::to_string)
            .ok_or_else(|| Error::NoRegion {
                reference: reference.to_owned(),
            })?;
        let endpoint = config.endpoint_url().map_or_else(
            || format!("https://kms.{region}.amazonaws.com"),
            str::to_owned,
        );
        let provider = config
            .credentials_provider()
            .ok_or_else(|| Error::NoCredentials {
                detail: "no credentials provider is configured".to_owned(),
            })?;
        let credentials = runtime
            .block_on(provider.provide_credentials())
            .map_err(credentials_error)?;
        if let Some(expiry) = credentials.expiry()
            && expiry <= SystemTime::now()
        {
            return Err(Error::ExpiredCredentials {
                detail: "the credential source returned credentials whose expiry has passed"
                    .to_owned(),
            });
        }
        drop(credentials);
        let client = aws_sdk_kms::Client::new(&config);
        Ok(Kms {
            runtime,
            core: Arc::new(Core {
                client,
                region,
                endpoint,
            }),
        })
    }

    /// Runs a future to completion on the connection's runtime.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        self.runtime.block_on(future)
    }
}

fn credentials_error(err: CredentialsError) -> Error {
    let detail = DisplayErrorContext(&err).to_string();
    match err {
        CredentialsError::CredentialsNotLoaded(_) => Error::NoCredentials { detail },
        _ if detail.contains("xpired") => Error::ExpiredCredentials { detail },
        _ => Error::CredentialsUnavailable { detail },
    }
}

/// A random wait before request `attempt + 1`: anything up to `BASE_BACKOFF · 2^(attempt-1)`,
/// capped at [`MAX_BACKOFF`] ("full jitter"), so that concurrent requests throttled together
/// do not come back together.
pub(crate) fn backoff(attempt: u32) -> Duration {
    let ceiling = BASE_BACKOFF
        .saturating_mul(1 << attempt.saturating_sub(1).min(16))
        .min(MAX_BACKOFF);
    let ceiling_us = u64::try_from(ceiling.as_micros()).unwrap_or(u64::MAX);
    let random = getrandom::u64().unwrap_or(ceiling_us / 2);
    Duration::from_micros(random % ceiling_us.max(1))
}

impl Core {
    /// Makes one KMS call, again after throttling (up to [`MAX_THROTTLED_ATTEMPTS`] requests)
    /// and after passing failures (up to [`MAX_TRANSIENT_ATTEMPTS`]), waiting [`backoff`] in
    /// between.
    pub(crate) async fn call<T, E, F, Fut>(&self, op: Op, key: &str, request: F) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, SdkError<E>>>,
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let err = match request().await {
                Ok(value) => return Ok(value),
                Err(err) => err,
            };
            let (error, retry) = self.classify(op, key, &err, attempt);
            let limit = match retry {
                Retry::No => return Err(error),
                Retry::Throttled => MAX_THROTTLED_ATTEMPTS,
                Retry::Transient => MAX_TRANSIENT_ATTEMPTS,
            };
            if attempt >= limit {
                return Err(error);
            }
            tokio::time::sleep(backoff(attempt)).await;
        }
    }

    fn classify<E>(&self, op: Op, key: &str, err: &SdkError<E>, attempts: u32) -> (Error, Retry)
    where
        E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    {
        if let Some(credentials) = find_source::<CredentialsError>(err) {
            let error = match credentials {
                CredentialsError::CredentialsNotLoaded(_) => Error::NoCredentials {
                    detail: DisplayErrorContext(credentials).to_string(),
                },
                _ => Error::CredentialsUnavailable {
                    detail: DisplayErrorContext(credentials).to_string(),
                },
            };
            return (error, Retry::No);
        }
        let unreachable = |detail: String| Error::EndpointUnreachable {
            endpoint: self.endpoint.clone(),
            detail,
            attempts,
        };
        match err {
            SdkError::ServiceError(service) => {
                let code = service.err().code().unwrap_or_default();
                let message = service.err().message().unwrap_or_default();
                let status = service.raw().status().as_u16();
                self.service_error(op, key, code, message, status, attempts)
            }
            SdkError::TimeoutError(_) => (
                unreachable(format!("no answer within {} s", ATTEMPT_TIMEOUT.as_secs())),
                Retry::Transient,
            ),
            SdkError::DispatchFailure(failure) if failure.is_timeout() || failure.is_io() => (
                unreachable(DisplayErrorContext(err).to_string()),
                Retry::Transient,
            ),
            SdkError::DispatchFailure(_) => {
                (unreachable(DisplayErrorContext(err).to_string()), Retry::No)
            }
            SdkError::ResponseError(_) => (
                Error::Service {
                    operation: op.name(),
                    key: key.to_owned(),
                    code: "unreadable response".to_owned(),
                    message: format!(
                        "{} answered something that is not an AWS KMS response: {}",
                        self.endpoint,
                        DisplayErrorContext(err)
                    ),
                },
                Retry::Transient,
            ),
            _ => (
                Error::Service {
                    operation: op.name(),
                    key: key.to_owned(),
                    code: "request failed".to_owned(),
                    message: DisplayErrorContext(err).to_string(),
                },
                Retry::No,
            ),
        }
    }

    fn service_error(
        &self,
        op: Op,
        key: &str,
        code: &str,
        message: &str,
        status: u16,
        attempts: u32,
    ) -> (Error, Retry) {
        let key = key.to_owned();
        let message = message.to_owned();
        let error = match code {
            "AccessDeniedException" | "AccessDenied" => Error::AccessDenied {
                operation: op.name(),
                permission: op.permission(),
                key,
                message,
            },
            "UnrecognizedClientException"
            | "InvalidClientTokenId"
            | "InvalidSignatureException"
            | "IncompleteSignature"
            | "SignatureDoesNotMatch"
            | "InvalidToken" => Error::InvalidCredentials {
                endpoint: self.endpoint.clone(),
                code: code.to_owned(),
                message,
            },
            "ExpiredTokenException" | "ExpiredToken" | "RequestExpired" => {
                Error::ExpiredCredentials {
                    detail: format!("{code}: {message}"),
                }
            }
            "NotFoundException" => Error::KeyNotFound {
                key,
                region: self.region.clone(),
            },
            "DisabledException" => Error::KeyDisabled { key },
            "KMSInvalidStateException"
                if message.to_ascii_lowercase().contains("pending deletion") =>
            {
                Error::KeyPendingDeletion { key }
            }
            "KMSInvalidStateException" => Error::KeyUnavailable {
                key,
                reason: message,
            },
            "KeyUnavailableException" => {
                return (
                    Error::KeyUnavailable {
                        key,
                        reason: message,
                    },
                    Retry::Transient,
                );
            }
            "ThrottlingException"
            | "ThrottledException"
            | "RequestLimitExceeded"
            | "TooManyRequestsException"
            | "SlowDown" => {
                return (
                    Error::Throttled {
                        operation: op.name(),
                        key,
                        attempts,
                        message,
                    },
                    Retry::Throttled,
                );
            }
            // For Sign a request-rate limit; for CreateKey the account's key quota, which no
            // retry changes.
            "LimitExceededException" if op == Op::Sign || op == Op::GetPublicKey => {
                return (
                    Error::Throttled {
                        operation: op.name(),
                        key,
                        attempts,
                        message,
                    },
                    Retry::Throttled,
                );
            }
            _ if status == 429 => {
                return (
                    Error::Throttled {
                        operation: op.name(),
                        key,
                        attempts,
                        message,
                    },
                    Retry::Throttled,
                );
            }
            _ => {
                let transient = status >= 500
                    || matches!(
                        code,
                        "KMSInternalException" | "DependencyTimeoutException" | "InternalFailure"
                    );
                return (
                    Error::Service {
                        operation: op.name(),
                        key,
                        code: if code.is_empty() {
                            format!("HTTP {status}")
                        } else {
                            code.to_owned()
                        },
                        message,
                    },
                    if transient {
                        Retry::Transient
                    } else {
                        Retry::No
                    },
                );
            }
        };
        (error, Retry::No)
    }
}

/// The first error of type `T` in an error's source chain.
fn find_source<'a, T: std::error::Error + 'static>(
    err: &'a (dyn std::error::Error + 'static),
) -> Option<&'a T> {
    let mut current = Some(err);
    while let Some(error) = current {
        if let Some(found) = error.downcast_ref::<T>() {
            return Some(found);
        }
        current = error.source();
    }
    None
}

/// What `GetPublicKey` says about a key, checked: an Ed25519 signing key that offers pure
/// Ed25519.
#[derive(Clone, Debug)]
pub(crate) struct KeyInfo {
    /// The key's ARN (KMS answers with it whatever name it was asked for).
    pub(crate) arn: String,
    /// The public key.
    pub(crate) verifying_key: VerifyingKey,
}

/// Checks `GetPublicKey`'s answer: key spec, key usage, signing algorithms, and a public key
/// that is a canonical 44-byte Ed25519 SubjectPublicKeyInfo of a key that is not weak.
pub(crate) fn check_public_key(key: &str, output: &GetPublicKeyOutput) -> Result<KeyInfo, Error> {
    let arn = output.key_id().unwrap_or(key).to_owned();
    match output.key_spec() {
        Some(KeySpec::EccNistEdwards25519) => {}
        other => {
            return Err(Error::WrongKeySpec {
                key: arn,
                found: other.map_or_else(|| "(none)".to_owned(), |s| s.as_str().to_owned()),
            });
        }
    }
    match output.key_usage() {
        Some(KeyUsageType::SignVerify) => {}
        other => {
            return Err(Error::WrongKeyUsage {
                key: arn,
                found: other.map_or_else(|| "(none)".to_owned(), |u| u.as_str().to_owned()),
            });
        }
    }
    let algorithms = output.signing_algorithms();
    if !algorithms.contains(&SigningAlgorithmSpec::Ed25519Sha512) {
        return Err(Error::NoEd25519Signing {
            key: arn,
            offered: if algorithms.is_empty() {
                "none".to_owned()
            } else {
                algorithms
                    .iter()
                    .map(|a| a.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            },
        });
    }
    let der = output.public_key().map(|b| b.as_ref()).unwrap_or_default();
    let verifying_key = decode_spki(der).map_err(|e| Error::BadPublicKey {
        key: arn.clone(),
        reason: e.to_string(),
    })?;
    Ok(KeyInfo { arn, verifying_key })
}

/// Decodes an Ed25519 SubjectPublicKeyInfo, refusing anything but the 44-byte DER encoding
/// of a key that is not of small order.
pub fn decode_spki(der: &[u8]) -> Result<VerifyingKey, SpkiError> {
    if der.len() != ED25519_SPKI_LEN {
        return Err(SpkiError::Length { len: der.len() });
    }
    let key = VerifyingKey::from_public_key_der(der).map_err(|e| SpkiError::NotEd25519 {
        detail: e.to_string(),
    })?;
    if key.is_weak() {
        return Err(SpkiError::Weak);
    }
    Ok(key)
}

/// Why the public key KMS returned is not a usable Ed25519 key.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SpkiError {
    /// Not the 44 bytes of an Ed25519 SubjectPublicKeyInfo.
    #[error("{len} bytes, but an Ed25519 SubjectPublicKeyInfo is {ED25519_SPKI_LEN}")]
    Length {
        /// The length returned.
        len: usize,
    },
    /// Not an Ed25519 SubjectPublicKeyInfo, or not a point on the curve.
    #[error("not an Ed25519 SubjectPublicKeyInfo: {detail}")]
    NotEd25519 {
        /// The decoder's reason.
        detail: String,
    },
    /// A small-order point.
    #[error("a small-order (weak) Ed25519 key")]
    Weak,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_stays_under_its_cap() {
        for attempt in 1..=20 {
            let ceiling = BASE_BACKOFF
                .saturating_mul(1 << (attempt - 1).min(16))
                .min(MAX_BACKOFF);
            for _ in 0..50 {
                assert!(backoff(attempt) < ceiling, "attempt {attempt}");
            }
        }
        assert_eq!(
            BASE_BACKOFF.saturating_mul(1 << 6).min(MAX_BACKOFF),
            MAX_BACKOFF
        );
    }

    #[test]
    fn spki_decoding_is_strict() {
        let key = ed25519_dalek::SigningKey::from_bytes(&[7; 32]).verifying_key();
        let mut der = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        der.extend_from_slice(key.as_bytes());
        assert_eq!(decode_spki(&der).unwrap(), key);
        let mut long = der.clone();
        long.push(0);
        assert!(
            decode_spki(&long)
                .unwrap_err()
                .to_string()
                .contains("45 bytes")
        );
        let mut x25519 = der.clone();
        x25519[8] = 0x6e;
        assert!(
            decode_spki(&x25519)
                .unwrap_err()
                .to_string()
                .contains("not an Ed25519")
        );
        // The identity point: small order.
        let mut weak = der[..12].to_vec();
        let mut identity = [0u8; 32];
        identity[0] = 1;
        weak.extend_from_slice(&identity);
        assert_eq!(
            decode_spki(&weak).unwrap_err().to_string(),
            "a small-order (weak) Ed25519 key"
        );
    }

    #[test]
    fn every_call_names_its_permission() {
        for op in [
            Op::Sign,
            Op::GetPublicKey,
            Op::CreateKey,
            Op::CreateAlias,
            Op::DescribeKey,
            Op::ListAliases,
            Op::ListResourceTags,
            Op::ScheduleKeyDeletion,
        ] {
            assert_eq!(op.permission(), format!("kms:{}", op.name()));
        }
    }
}
