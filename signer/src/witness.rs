//! `hallmark witness`: the configuration file and the HTTP server of a C2SP tlog-witness
//! (the protocol itself is [`hallmark_keyring::tlog::witness`]); and [`HttpWitnesses`], the
//! registry's client that collects cosignatures from its witnesses.
//!
//! The server speaks HTTP/1.1 (keep-alive) and answers one route,
//! `POST <prefix>/add-checkpoint`. Every request is bounded: headers must arrive within
//! [`ServerOptions::header_timeout`], the body within [`ServerOptions::body_timeout`] and in
//! at most [`MAX_REQUEST_BYTES`]; at most [`ServerOptions::max_connections`] connections are
//! served at once (others wait in the listen queue). Signing and the durable write run on
//! tokio's blocking pool, so a slow hardware key never stalls the accepting loop.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use hallmark_keyring::tlog::merkle::Hash;
use hallmark_keyring::tlog::witness::{
    AddCheckpoint, CollectError, CosignatureCollector, MAX_REQUEST_BYTES, Refusal, SIZE_MEDIA_TYPE,
    Witness, WitnessEndpoint, WitnessOutcome,
};
use hallmark_keyring::tlog::{
    Checkpoint, KeyType, Note, NoteError, NoteSignature, TlogError, VerifierKey,
};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{ALLOW, CONTENT_LENGTH, CONTENT_TYPE, HeaderValue};
use hyper::{Method, Request, Response, StatusCode};
use serde::Deserialize;

/// The media type of a witness configuration file.
pub const CONFIG_MEDIA_TYPE: &str = "application/vnd.hallmark.witness.v1+json";

/// The largest configuration file read.
const MAX_CONFIG_BYTES: u64 = 1024 * 1024;

/// A witness's configuration file (JSON): who it is, its key, where it listens, where its
/// state is and which logs it follows. Relative paths are relative to the file's directory.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WitnessConfig {
    /// Always [`CONFIG_MEDIA_TYPE`].
    pub media_type: String,
    /// The witness's name (its cosignature key name), a schema-less URL such as
    /// `witness.example.org/w1`.
    pub name: String,
    /// The witness key: a `file:`, `pkcs11:`, `yubikey:` or `awskms:` reference.
    pub key: String,
    /// The address to listen on, e.g. `127.0.0.1:7380`.
    pub listen: SocketAddr,
    /// The URL path prefix before `/add-checkpoint` (empty, or starting with `/`).
    #[serde(default)]
    pub prefix: String,
    /// The state directory (cosigned checkpoints, evidence, the lock).
    pub state: PathBuf,
    /// The followed logs' checkpoint keys, as verifier keys
    /// (`<origin>+<key id>+<base64 key>`).
    pub logs: Vec<String>,
    /// How long a client may take to send a request's headers, and then its body (default
    /// 10 seconds each).
    #[serde(default = "default_timeout")]
    pub request_timeout_seconds: u64,
}

fn default_timeout() -> u64 {
    10
}

/// Why a configuration file was refused.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// It could not be read.
    #[error("cannot read the witness configuration {}: {source}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: hallmark_keyring::fsutil::ReadError,
    },
    /// It is not a witness configuration.
    #[error("{} is not a witness configuration: {detail}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
}

impl WitnessConfig {
    /// Reads and checks a configuration file; relative `state` and `file:` key paths are made
    /// relative to the file's directory.
    pub fn read(path: &Path) -> Result<(WitnessConfig, Vec<VerifierKey>), ConfigError> {
        let bytes =
            hallmark_keyring::fsutil::read_bounded(path, MAX_CONFIG_BYTES).map_err(|source| {
                ConfigError::Read {
                    path: path.to_owned(),
                    source,
                }
            })?;
        let invalid = |detail: String| ConfigError::Invalid {
            path: path.to_owned(),
            detail,
        };
        let mut config: WitnessConfig =
            serde_json::from_slice(&bytes).map_err(|e| invalid(e.to_string()))?;
        if config.media_type != CONFIG_MEDIA_TYPE {
            return Err(invalid(format!(
                "media_type is {:?}, not {CONFIG_MEDIA_TYPE:?}",
                config.media_type.chars().take(100).collect::<String>()
            )));
        }
        if !(config.prefix.is_empty()
            || (config.prefix.starts_with('/') && !config.prefix.ends_with('/')))
        {
            return Err(invalid(format!(
                "prefix {:?} must be empty or start with '/' and not end with one",
                config.prefix
            )));
        }
        if !(1..=3600).contains(&config.request_timeout_seconds) {
            return Err(invalid(
                "request_timeout_seconds must be between 1 and 3600".into(),
            ));
        }
        if config.logs.is_empty() {
            return Err(invalid(
                "it follows no log: list the logs' keys in \"logs\"".into(),
            ));
        }
        let logs = config
            .logs
            .iter()
            .map(|k| {
                k.parse::<VerifierKey>()
                    .map_err(|e| invalid(format!("log key {k:?}: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.state.is_relative() {
            config.state = base.join(&config.state);
        }
        if let Some(file) = config.key.strip_prefix("file:")
            && Path::new(file).is_relative()
        {
            config.key = format!("file:{}", base.join(file).display());
        }
        Ok((config, logs))
    }
}

/// Limits of the server.
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// The URL path prefix before `/add-checkpoint`.
    pub prefix: String,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long a client may take to send a request's body.
    pub body_timeout: Duration,
    /// How many connections are served at once.
    pub max_connections: usize,
}

impl Default for ServerOptions {
    fn default() -> Self {
        ServerOptions {
            prefix: String::new(),
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(10),
            max_connections: 256,
        }
    }
}

/// What the server reports of each request (the command prints it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The client's address.
    pub peer: SocketAddr,
    /// The HTTP status answered.
    pub status: u16,
    /// One line: what was cosigned or why not.
    pub detail: String,
}

/// Serves `witness` on `listener` until the process ends, calling `report` after each
/// request. Returns only if the runtime cannot be started or accepting fails for good.
pub fn serve(
    witness: Arc<Witness>,
    listener: std::net::TcpListener,
    options: ServerOptions,
    report: Arc<dyn Fn(Served) + Send + Sync>,
) -> std::io::Result<()> {
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .max_blocking_threads(8)
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::from_std(listener)?;
        let slots = Arc::new(tokio::sync::Semaphore::new(options.max_connections.max(1)));
        let options = Arc::new(options);
        loop {
            let Ok(permit) = slots.clone().acquire_owned().await else {
                return Ok(());
            };
            let (stream, peer) = match listener.accept().await {
                Ok(accepted) => accepted,
                // Out of file descriptors or a connection reset before accept: wait, go on.
                Err(_) => {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            let witness = witness.clone();
            let options = options.clone();
            let report = report.clone();
            let header_timeout = options.header_timeout;
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |request| {
                    handle(
                        witness.clone(),
                        options.clone(),
                        report.clone(),
                        peer,
                        request,
                    )
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .timer(hyper_util::rt::TokioTimer::new())
                    .header_read_timeout(header_timeout)
                    .max_buf_size(64 * 1024)
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
                drop(permit);
            });
        }
    })
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

async fn handle(
    witness: Arc<Witness>,
    options: Arc<ServerOptions>,
    report: Arc<dyn Fn(Served) + Send + Sync>,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let response = answer(witness, &options, request).await;
    report(Served {
        peer,
        status: response.0.status().as_u16(),
        detail: response.1,
    });
    Ok(response.0)
}

/// The response and the line to report.
async fn answer(
    witness: Arc<Witness>,
    options: &ServerOptions,
    request: Request<Incoming>,
) -> (Response<Full<Bytes>>, String) {
    let route = format!("{}/add-checkpoint", options.prefix);
    if request.uri().path() != route {
        let detail = format!("no such endpoint {}", request.uri().path());
        return (text(StatusCode::NOT_FOUND, format!("{detail}\n")), detail);
    }
    if request.method() != Method::POST {
        let detail = format!("{} is not POST", request.method());
        let mut response = text(
            StatusCode::METHOD_NOT_ALLOWED,
            "add-checkpoint takes POST\n".into(),
        );
        response
            .headers_mut()
            .insert(ALLOW, HeaderValue::from_static("POST"));
        return (response, detail);
    }
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > MAX_REQUEST_BYTES as u64) {
        let detail = format!("the request body is larger than {MAX_REQUEST_BYTES} bytes");
        return (
            text(StatusCode::PAYLOAD_TOO_LARGE, format!("{detail}\n")),
            detail,
        );
    }
    let body = Limited::new(request.into_body(), MAX_REQUEST_BYTES);
    let body = match tokio::time::timeout(options.body_timeout, body.collect()).await {
        Ok(Ok(collected)) => collected.to_bytes(),
        Ok(Err(e)) => {
            let (status, detail) = if e.is::<http_body_util::LengthLimitError>() {
                (
                    StatusCode::PAYLOAD_TOO_LARGE,
                    format!("the request body is larger than {MAX_REQUEST_BYTES} bytes"),
                )
            } else {
                (
                    StatusCode::BAD_REQUEST,
                    format!("the request body could not be read: {e}"),
                )
            };
            return (text(status, format!("{detail}\n")), detail);
        }
        Err(_) => {
            let detail = format!(
                "the request body did not arrive within {} s",
                options.body_timeout.as_secs()
            );
            return (
                text(StatusCode::REQUEST_TIMEOUT, format!("{detail}\n")),
                detail,
            );
        }
    };
    let decided = tokio::task::spawn_blocking(move || witness.add_checkpoint(&body)).await;
    match decided {
        Ok(Ok(cosigned)) => {
            let detail = format!("cosigned size {}", cosigned.tree.size);
            (text(StatusCode::OK, cosigned.lines), detail)
        }
        Ok(Err(refusal)) => refusal_response(&refusal),
        Err(_) => {
            let detail = "the witness failed while deciding the request".to_owned();
            (
                text(StatusCode::INTERNAL_SERVER_ERROR, format!("{detail}\n")),
                detail,
            )
        }
    }
}

fn refusal_response(refusal: &Refusal) -> (Response<Full<Bytes>>, String) {
    let detail = refusal.to_string();
    let status =
        StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Some(size) = refusal.conflict_size() {
        let mut response = text(status, format!("{size}\n"));
        response
            .headers_mut()
            .insert(CONTENT_TYPE, HeaderValue::from_static(SIZE_MEDIA_TYPE));
        return (response, detail);
    }
    (text(status, format!("{detail}\n")), detail)
}

/// The largest answer read from a witness.
const MAX_ANSWER_BYTES: u64 = 64 * 1024;

/// How long a log waits for one witness, connection to last byte.
pub const WITNESS_TIMEOUT: Duration = Duration::from_secs(10);

/// A log's client of its witnesses over HTTP(S): submits each new checkpoint to every
/// witness at once (one thread each, [`WITNESS_TIMEOUT`] each), retries once from the size a
/// witness answers with 409, and keeps only cosignatures that verify under the witness's key.
pub struct HttpWitnesses {
    witnesses: Vec<(VerifierKey, String)>,
    agent: ureq::Agent,
}

impl std::fmt::Debug for HttpWitnesses {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpWitnesses")
            .field(
                "witnesses",
                &self
                    .witnesses
                    .iter()
                    .map(|(k, u)| (k.name(), u))
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

/// Why a witness endpoint of a registry's configuration cannot be used.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EndpointError {
    /// The verifier key does not parse.
    #[error("witness key {vkey:?}: {source}")]
    Key {
        /// The key as configured.
        vkey: String,
        /// Why it does not parse.
        source: NoteError,
    },
    /// The verifier key is not a cosignature key.
    #[error("witness key {vkey:?} is not a cosignature key (type 0x04)")]
    NotCosignatureKey {
        /// The key as configured.
        vkey: String,
    },
    /// The URL is not `http://` or `https://`.
    #[error("witness URL {url:?} is not an http:// or https:// URL")]
    NotHttpUrl {
        /// The URL as configured.
        url: String,
    },
}

impl HttpWitnesses {
    /// A client of `endpoints`; refuses a key that is not a cosignature key and a URL that
    /// is not `http://` or `https://`.
    pub fn new(endpoints: &[WitnessEndpoint]) -> Result<HttpWitnesses, EndpointError> {
        let mut witnesses = Vec::new();
        for endpoint in endpoints {
            let key: VerifierKey = endpoint.vkey.parse().map_err(|source| EndpointError::Key {
                vkey: endpoint.vkey.clone(),
                source,
            })?;
            if key.kind() != KeyType::Cosignature {
                return Err(EndpointError::NotCosignatureKey {
                    vkey: endpoint.vkey.clone(),
                });
            }
            if !crate::tlog_http::HttpTileReader::is_url(&endpoint.url) {
                return Err(EndpointError::NotHttpUrl {
                    url: endpoint.url.clone(),
                });
            }
            witnesses.push((key, endpoint.url.trim_end_matches('/').to_owned()));
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(WITNESS_TIMEOUT))
            .max_redirects(0)
            .http_status_as_error(false)
            .build()
            .into();
        Ok(HttpWitnesses { witnesses, agent })
    }

    /// One witness: submit, retry once on 409, verify the answer.
    fn submit(
        &self,
        key: &VerifierKey,
        url: &str,
        note: &Note,
        checkpoint: &Checkpoint,
        previous: u64,
        proof: &(dyn Fn(u64) -> Result<Vec<Hash>, TlogError> + Sync),
    ) -> Result<NoteSignature, CollectError> {
        let size = checkpoint.tree.size;
        let mut old = previous.min(size);
        let endpoint = format!("{url}/add-checkpoint");
        for attempt in 0..2 {
            let request = AddCheckpoint {
                old,
                proof: proof(old).map_err(|source| CollectError::Proof { old, source })?,
                note: note.clone(),
                checkpoint: checkpoint.clone(),
            };
            let mut response = self
                .agent
                .post(&endpoint)
                .content_type("text/plain")
                .send(&request.to_bytes()[..])
                .map_err(|e| transport(&endpoint, &e))?;
            let status = response.status().as_u16();
            let is_size = response
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.starts_with(SIZE_MEDIA_TYPE));
            let body = response
                .body_mut()
                .with_config()
                .limit(MAX_ANSWER_BYTES)
                .read_to_vec()
                .map_err(|e| transport(&endpoint, &e))?;
            let text = String::from_utf8_lossy(&body);
            match status {
                200 => return cosignature_in(note, &body, key),
                409 if is_size && attempt == 0 => {
                    let theirs: u64 = text.trim_end_matches('\n').parse().map_err(|_| {
                        CollectError::MalformedSize {
                            endpoint: endpoint.clone(),
                            answer: text.clone().into_owned(),
                        }
                    })?;
                    if theirs > size {
                        return Err(CollectError::LargerTree { theirs, size });
                    }
                    old = theirs;
                }
                _ => {
                    let first = text.lines().next().unwrap_or("").chars().take(300);
                    return Err(CollectError::Status {
                        endpoint,
                        status,
                        first_line: first.collect(),
                    });
                }
            }
        }
        Err(CollectError::Moving { endpoint })
    }
}

/// A request that did not get through, or an answer that could not be read.
fn transport(endpoint: &str, error: &ureq::Error) -> CollectError {
    CollectError::Transport {
        endpoint: endpoint.to_owned(),
        detail: error.to_string(),
    }
}

/// The cosignature by `key` in a witness's answer (signature lines), verified over `note`.
fn cosignature_in(
    note: &Note,
    answer: &[u8],
    key: &VerifierKey,
) -> Result<NoteSignature, CollectError> {
    let mut whole = note.text().as_bytes().to_vec();
    whole.push(b'\n');
    whole.extend_from_slice(answer);
    let answered = Note::parse(&whole).map_err(CollectError::NotSignatureLines)?;
    answered
        .verify(std::slice::from_ref(key))
        .map_err(CollectError::BadCosignature)?;
    answered
        .signatures()
        .iter()
        .find(|s| s.name == key.name() && s.key_id == key.key_id())
        .cloned()
        .ok_or(CollectError::NoCosignature)
}

impl CosignatureCollector for HttpWitnesses {
    fn collect(
        &self,
        note: &Note,
        previous: u64,
        proof: &(dyn Fn(u64) -> Result<Vec<Hash>, TlogError> + Sync),
    ) -> Vec<WitnessOutcome> {
        let checkpoint = match Checkpoint::parse_body(note.text()) {
            Ok(c) => c,
            Err(e) => {
                return self
                    .witnesses
                    .iter()
                    .map(|(k, _)| WitnessOutcome {
                        name: k.name().to_owned(),
                        result: Err(CollectError::MalformedCheckpoint(e.clone())),
                    })
                    .collect();
            }
        };
        std::thread::scope(|scope| {
            let handles: Vec<_> = self
                .witnesses
                .iter()
                .map(|(key, url)| {
                    let checkpoint = &checkpoint;
                    scope.spawn(move || WitnessOutcome {
                        name: key.name().to_owned(),
                        result: self.submit(key, url, note, checkpoint, previous, proof),
                    })
                })
                .collect();
            handles
                .into_iter()
                .zip(&self.witnesses)
                .map(|(h, (key, _))| {
                    h.join().unwrap_or_else(|_| WitnessOutcome {
                        name: key.name().to_owned(),
                        result: Err(CollectError::Failed),
                    })
                })
                .collect()
        })
    }
}
