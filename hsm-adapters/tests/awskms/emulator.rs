//! A real AWS API emulator on loopback for the AWS KMS tests: ministack (PyPI `ministack`,
//! installed into a virtual environment by `scripts/ministack.sh`), one instance per test, on
//! a free port of 127.0.0.1, killed when the test ends.
//!
//! ministack implements KMS's Ed25519 keys (`ECC_NIST_EDWARDS25519`: `CreateKey`, aliases,
//! `GetPublicKey` as SubjectPublicKeyInfo, `Sign` and `Verify` with the RAW/DIGEST rule of AWS,
//! `DisableKey`, `ScheduleKeyDeletion`), and with `AUTH=true` checks SigV4 signatures and
//! evaluates IAM policies (`AccessDeniedException`) and STS session expiry
//! (`ExpiredTokenException`). It does not enforce KMS's 4,096-byte message cap and never
//! throttles.
//!
//! Tests administer the emulator through botocore (a dependency of ministack, so present in
//! its virtual environment): [`Emulator::admin`] runs a list of API calls in one Python
//! process.
//!
//! This file is shared by `hallmark-hsm`'s and `hallmark-signer`'s tests (`#[path]`), so it
//! uses only std, serde_json and tempfile.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// Names the `ministack` executable (default: `target/ministack-venv/bin/ministack` in the
/// workspace, where `scripts/ministack.sh` installs it).
pub const MINISTACK_ENV: &str = "HALLMARK_MINISTACK";

/// The region the tests use.
pub const REGION: &str = "us-east-1";

/// The emulator's root credentials (account 000000000000).
pub const ROOT_ACCESS_KEY: &str = "test";
/// See [`ROOT_ACCESS_KEY`].
pub const ROOT_SECRET_KEY: &str = "test";

/// How long ministack may take to start on a busy machine before the test gives up.
const START_LIMIT: Duration = Duration::from_secs(90);

/// The workspace root.
pub fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("crate inside the workspace")
        .to_owned()
}

/// The `ministack` executable.
pub fn ministack_path() -> PathBuf {
    std::env::var_os(MINISTACK_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace().join("target/ministack-venv/bin/ministack"))
}

/// The Python interpreter of ministack's virtual environment.
fn python() -> PathBuf {
    ministack_path().with_file_name("python3")
}

/// A port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
    listener.local_addr().expect("local address").port()
}

/// Whether a plain HTTP GET of `path` answers 200.
fn http_ok(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(5)));
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut head = [0u8; 12];
    stream.read_exact(&mut head).is_ok() && head.starts_with(b"HTTP/1.1 200")
}

/// A running ministack.
pub struct Emulator {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Emulator {
    /// Starts ministack on a free loopback port with KMS, IAM and STS, logging to a file in
    /// `dir`; with `auth`, requests must be signed by known credentials and IAM policies are
    /// enforced. Panics, saying how to install it, when ministack is missing.
    pub fn start(dir: &Path, auth: bool) -> Emulator {
        let exe = ministack_path();
        assert!(
            exe.is_file(),
            "ministack is not installed ({} is missing). Run `bash scripts/ministack.sh`, which \
             installs it into a virtual environment (scripts/test.sh does this), or set {} to a \
             ministack executable.",
            exe.display(),
            MINISTACK_ENV
        );
        let mut last_log = PathBuf::new();
        for _ in 0..3 {
            let port = free_port();
            let log = dir.join(format!("ministack-{port}.log"));
            let file = std::fs::File::create(&log).expect("ministack log file");
            let mut child = Command::new(&exe)
                .env_clear()
                .env("PATH", std::env::var_os("PATH").unwrap_or_default())
                .env("HOME", dir)
                .env("TMPDIR", dir)
                .env("GATEWAY_PORT", port.to_string())
                .env("BIND_HOST", "127.0.0.1")
                .env("IOT_MTLS_ENABLED", "0")
                .env("SFTP_ENABLED", "0")
                .env("SERVICES", "kms,iam,sts")
                .env("AUTH", if auth { "true" } else { "false" })
                .env("LOG_LEVEL", "WARNING")
                .env("MINISTACK_REGION", REGION)
                .stdin(Stdio::null())
                .stdout(file.try_clone().expect("log file"))
                .stderr(file)
                .spawn()
                .expect("start ministack");
            let started = Instant::now();
            while started.elapsed() < START_LIMIT {
                if http_ok(port, "/_ministack/health") {
                    return Emulator { child, port, log };
                }
                if child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
            last_log = log;
        }
        panic!(
            "ministack did not start; its log:\n{}",
            std::fs::read_to_string(&last_log).unwrap_or_default()
        );
    }

    /// The port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// What ministack logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Administration with the root credentials.
    pub fn admin(&self) -> Admin {
        Admin {
            endpoint: self.endpoint(),
        }
    }
}

impl Drop for Emulator {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Calls to an emulator with its root credentials, behind Hallmark's back.
#[derive(Clone, Debug)]
pub struct Admin {
    /// The emulator's endpoint.
    pub endpoint: String,
}

impl Admin {
    /// Runs API calls with the root credentials; see [`admin_call`].
    pub fn calls(&self, calls: Value) -> Vec<Value> {
        admin_call(
            &self.endpoint,
            (ROOT_ACCESS_KEY, ROOT_SECRET_KEY, None),
            calls,
        )
    }

    /// Runs one call with the root credentials and returns its result, panicking on an error.
    pub fn admin_ok(&self, service: &str, op: &str, params: Value) -> Value {
        let result = self
            .calls(json!([{"service": service, "op": op, "params": params}]))
            .remove(0);
        match result.get("ok") {
            Some(ok) => ok.clone(),
            None => panic!("{service} {op} failed: {result}"),
        }
    }

    /// Creates an Ed25519 signing key behind Hallmark's back; returns its key id and ARN.
    pub fn create_key(&self, spec: &str, usage: &str) -> (String, String) {
        let made = self.admin_ok(
            "kms",
            "create_key",
            json!({"KeySpec": spec, "KeyUsage": usage}),
        );
        let meta = &made["KeyMetadata"];
        (
            meta["KeyId"].as_str().expect("KeyId").to_owned(),
            meta["Arn"].as_str().expect("Arn").to_owned(),
        )
    }

    /// Creates an IAM user with an inline policy allowing `actions` on every resource, and an
    /// access key for it; returns (access key id, secret access key).
    pub fn iam_user(&self, name: &str, actions: &[&str]) -> (String, String) {
        self.admin_ok("iam", "create_user", json!({"UserName": name}));
        if !actions.is_empty() {
            let policy = json!({
                "Version": "2012-10-17",
                "Statement": [{"Effect": "Allow", "Action": actions, "Resource": "*"}],
            });
            self.admin_ok(
                "iam",
                "put_user_policy",
                json!({"UserName": name, "PolicyName": "hallmark", "PolicyDocument": policy.to_string()}),
            );
        }
        let key = self.admin_ok("iam", "create_access_key", json!({"UserName": name}));
        (
            key["AccessKey"]["AccessKeyId"]
                .as_str()
                .expect("AccessKeyId")
                .to_owned(),
            key["AccessKey"]["SecretAccessKey"]
                .as_str()
                .expect("SecretAccessKey")
                .to_owned(),
        )
    }

    /// Verifies a signature with the emulator's own `Verify` (ED25519_SHA_512, RAW).
    pub fn kms_verify(&self, key: &str, message: &[u8], signature: &[u8]) -> Value {
        self.calls(json!([{
            "service": "kms",
            "op": "verify",
            "params": {
                "KeyId": key,
                "Message": base64(message),
                "MessageType": "RAW",
                "Signature": base64(signature),
                "SigningAlgorithm": "ED25519_SHA_512",
            },
            "blobs": ["Message", "Signature"],
        }]))
        .remove(0)
    }
}

/// Standard base64, for blobs handed to [`admin_call`].
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The botocore program behind [`admin_call`]: reads a request from standard input, makes each
/// call, prints one JSON result per call (`{"ok": response}` or `{"error": {code, message}}`;
/// bytes in base64).
const ADMIN_PY: &str = r#"
import base64, json, sys
import botocore.session
from botocore.config import Config
req = json.load(sys.stdin)
session = botocore.session.get_session()
clients = {}
out = []
for call in req["calls"]:
    region = call.get("region", req["region"])
    key = (call["service"], region)
    if key not in clients:
        clients[key] = session.create_client(
            call["service"], endpoint_url=req["endpoint"], region_name=region,
            aws_access_key_id=req["access_key"], aws_secret_access_key=req["secret_key"],
            aws_session_token=req.get("session_token"),
            config=Config(parameter_validation=False, retries={"max_attempts": 1}))
    params = dict(call.get("params", {}))
    for name in call.get("blobs", []):
        params[name] = base64.b64decode(params[name])
    try:
        response = getattr(clients[key], call["op"])(**params)
        response.pop("ResponseMetadata", None)
        out.append({"ok": response})
    except botocore.exceptions.ClientError as e:
        err = e.response.get("Error", {})
        out.append({"error": {"code": err.get("Code", ""), "message": err.get("Message", "")}})
def default(o):
    if isinstance(o, (bytes, bytearray)):
        return base64.b64encode(o).decode()
    return str(o)
json.dump(out, sys.stdout, default=default)
"#;

/// Makes botocore API calls against `endpoint` with the given credentials (access key, secret,
/// session token). `calls` is a JSON list of `{"service", "op" (botocore's snake_case name),
/// "params", "blobs" (names of base64 parameters), "region"}`; the result has one entry per
/// call.
pub fn admin_call(
    endpoint: &str,
    credentials: (&str, &str, Option<&str>),
    calls: Value,
) -> Vec<Value> {
    let request = json!({
        "endpoint": endpoint,
        "region": REGION,
        "access_key": credentials.0,
        "secret_key": credentials.1,
        "session_token": credentials.2,
        "calls": calls,
    });
    let mut child = Command::new(python())
        .args(["-c", ADMIN_PY])
        .env_remove("AWS_PROFILE")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ministack's python for botocore");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(request.to_string().as_bytes())
        .expect("write request");
    let output = child.wait_with_output().expect("botocore program");
    assert!(
        output.status.success(),
        "botocore program failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice::<Vec<Value>>(&output.stdout).expect("botocore program's JSON")
}

/// A fault injector in front of the emulator: a loopback HTTP proxy that forwards the first
/// `pass` KMS `Sign` requests, answers the next `throttle` with HTTP 400 `ThrottlingException`
/// (as KMS does), and forwards every other request to the emulator unchanged. Counts the
/// requests it saw.
pub struct Throttler {
    port: u16,
    seen: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    signs: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

impl Throttler {
    /// Starts the proxy in front of `upstream` (a port on 127.0.0.1), throttling the first
    /// `throttle` Sign requests.
    pub fn start(upstream: u16, throttle: usize) -> Throttler {
        Throttler::start_after(upstream, 0, throttle)
    }

    /// Starts the proxy, forwarding `pass` Sign requests before it throttles `throttle`.
    pub fn start_after(upstream: u16, pass: usize, throttle: usize) -> Throttler {
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the proxy");
        let port = listener.local_addr().expect("address").port();
        let seen = Arc::new(AtomicUsize::new(0));
        let signs = Arc::new(AtomicUsize::new(0));
        let (seen2, signs2) = (Arc::clone(&seen), Arc::clone(&signs));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let (seen, signs) = (Arc::clone(&seen2), Arc::clone(&signs2));
                std::thread::spawn(move || {
                    let _ = serve(stream, upstream, pass, throttle, &seen, &signs);
                });
            }
        });
        fn serve(
            mut client: TcpStream,
            upstream: u16,
            pass: usize,
            throttle: usize,
            seen: &AtomicUsize,
            signs: &AtomicUsize,
        ) -> std::io::Result<()> {
            // One request per connection at a time; keep-alive connections loop.
            loop {
                let Some((head, body)) = read_request(&mut client)? else {
                    return Ok(());
                };
                seen.fetch_add(1, Ordering::SeqCst);
                let is_sign = head
                    .to_ascii_lowercase()
                    .contains("x-amz-target: trentservice.sign\r\n");
                if is_sign
                    && (pass..pass.saturating_add(throttle))
                        .contains(&signs.fetch_add(1, Ordering::SeqCst))
                {
                    let body = br#"{"__type":"ThrottlingException","message":"Rate exceeded"}"#;
                    write!(
                        client,
                        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.1\r\n\
                         x-amzn-RequestId: fault-injected\r\nContent-Length: {}\r\n\r\n",
                        body.len()
                    )?;
                    client.write_all(body)?;
                    continue;
                }
                let mut server = TcpStream::connect(("127.0.0.1", upstream))?;
                server.write_all(head.as_bytes())?;
                server.write_all(&body)?;
                let Some((response_head, response_body)) = read_response(&mut server)? else {
                    return Ok(());
                };
                client.write_all(response_head.as_bytes())?;
                client.write_all(&response_body)?;
            }
        }
        fn read_head(stream: &mut TcpStream) -> std::io::Result<Option<String>> {
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") {
                if stream.read(&mut byte)? == 0 {
                    return Ok(None);
                }
                head.push(byte[0]);
            }
            Ok(Some(String::from_utf8_lossy(&head).into_owned()))
        }
        fn content_length(head: &str) -> usize {
            head.lines()
                .find_map(|l| {
                    let (name, value) = l.split_once(':')?;
                    name.eq_ignore_ascii_case("content-length")
                        .then(|| value.trim().parse().ok())?
                })
                .unwrap_or(0)
        }
        fn read_request(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
            let Some(head) = read_head(stream)? else {
                return Ok(None);
            };
            let mut body = vec![0u8; content_length(&head)];
            stream.read_exact(&mut body)?;
            Ok(Some((head, body)))
        }
        fn read_response(stream: &mut TcpStream) -> std::io::Result<Option<(String, Vec<u8>)>> {
            let Some(head) = read_head(stream)? else {
                return Ok(None);
            };
            // Answers are small JSON with a Content-Length.
            let mut body = vec![0u8; content_length(&head)];
            stream.read_exact(&mut body)?;
            Ok(Some((head, body)))
        }
        Throttler { port, seen, signs }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// How many requests arrived.
    pub fn seen(&self) -> usize {
        self.seen.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// How many Sign requests arrived (throttled or forwarded).
    pub fn sign_requests(&self) -> usize {
        self.signs.load(std::sync::atomic::Ordering::SeqCst)
    }
}
