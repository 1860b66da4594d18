//! A public key in each ecosystem's text form, and a parser that detects the form explicitly.
//!
//! | form | text |
//! | --- | --- |
//! | [`KeyFormat::Hallmark`] | `ed25519:<base64>` (Hallmark's own, [`PublicKey`]'s `Display`) |
//! | [`KeyFormat::Ssh`] | `ssh-ed25519 <base64 of the RFC 8709 key blob> [comment]` (OpenSSH `.pub`, `authorized_keys`) |
//! | [`KeyFormat::Minisign`] | `untrusted comment: minisign public key <ID>` then `RW…` ([`super::minisign`]) |
//! | [`KeyFormat::Pem`] | `-----BEGIN PUBLIC KEY-----`: SubjectPublicKeyInfo (RFC 8410), as OpenSSL writes it |
//! | [`KeyFormat::Jwk`] | `{"kty":"OKP","crv":"Ed25519","x":"<base64url>"}` (RFC 8037) |
//!
//! Every renderer writes one canonical text (without a final newline). The Hallmark, OpenSSH
//! and PEM parsers accept exactly that text, optionally followed by one `\n`, so that
//! `SshPublicKey::parse(t).to_string() == t` and `pem(parse_pem(t)) == t`;
//! [`MinisignPublicKey`] keeps its comment and key id, so it round-trips as well. A JWK is JSON:
//! members may come in any order and `kid`, `use`, `alg`, `key_ops` may be present, so only the
//! key round-trips. Weak (small-order) keys are refused by every parser.

use base64ct::{Base64UrlUnpadded, Encoding};
use ed25519_dalek::pkcs8::{DecodePublicKey, EncodePublicKey, PublicKeyBytes};
use hallmark_keyring::encoding::{EncodingError, base64_decode, base64_encode};
use hallmark_keyring::key::{KeyError, PublicKey};
use sha2::{Digest, Sha256};

use super::minisign::{self, MinisignError, MinisignPublicKey};
use super::wire::{Reader, WireError, put_string};

/// The SSH key type (and signature algorithm) name of Ed25519 (RFC 8709).
pub const SSH_ED25519: &str = "ssh-ed25519";

/// Largest key text any parser here reads, in bytes.
pub const MAX_KEY_TEXT: usize = 8 * 1024;

/// Largest comment on an SSH public key line, in bytes.
pub const MAX_SSH_COMMENT: usize = 1024;

const PEM_BEGIN: &str = "-----BEGIN PUBLIC KEY-----\n";
const PEM_END: &str = "\n-----END PUBLIC KEY-----";

/// A public key text form.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum KeyFormat {
    /// `ed25519:<base64>`.
    Hallmark,
    /// An OpenSSH public key line.
    Ssh,
    /// A minisign public key file (or its `RW…` line alone).
    Minisign,
    /// PEM SubjectPublicKeyInfo.
    Pem,
    /// A JSON Web Key.
    Jwk,
}

impl KeyFormat {
    /// The form's name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            KeyFormat::Hallmark => "hallmark",
            KeyFormat::Ssh => "ssh",
            KeyFormat::Minisign => "minisign",
            KeyFormat::Pem => "pem",
            KeyFormat::Jwk => "jwk",
        }
    }
}

/// Why a public key text was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublicKeyError {
    /// Longer than any key text.
    #[error("{len} bytes, more than the {MAX_KEY_TEXT} a public key text may have")]
    TooLong {
        /// The length found.
        len: usize,
    },
    /// None of the known forms.
    #[error(
        "not a public key Hallmark reads: give ed25519:…, an OpenSSH line (ssh-ed25519 AAAA…), a \
         minisign public key (untrusted comment: … / RW…), a PEM public key \
         (-----BEGIN PUBLIC KEY-----) or a JWK ({{\"kty\":\"OKP\",…}})"
    )]
    Unrecognised,
    /// A Hallmark `ed25519:` key that does not parse.
    #[error("Hallmark public key: {0}")]
    Hallmark(#[from] KeyError),
    /// An SSH key of another type.
    #[error("SSH key type {0:?} is not supported: Hallmark keys are ssh-ed25519")]
    SshKeyType(String),
    /// An SSH public key line or key blob that does not parse.
    #[error("SSH public key: {0}")]
    Ssh(String),
    /// An SSH key blob whose wire encoding is wrong.
    #[error("SSH public key blob: {0}")]
    SshWire(#[from] WireError),
    /// A PEM public key that does not parse.
    #[error("PEM public key: {0}")]
    Pem(String),
    /// A JWK that does not parse.
    #[error("JWK: {0}")]
    Jwk(String),
    /// A minisign public key that does not parse.
    #[error(transparent)]
    Minisign(#[from] MinisignError),
    /// Base64 that is not canonical or of the wrong length.
    #[error(transparent)]
    Encoding(#[from] EncodingError),
    /// The key bytes are not a point, or are a small-order point.
    #[error("the key is not a usable Ed25519 public key: {0}")]
    Key(KeyError),
}

/// A key read from text, with what its form carried besides the key.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedKey {
    /// The key.
    pub key: PublicKey,
    /// The form it was written in.
    pub format: KeyFormat,
    /// A minisign key id (minisign public keys only).
    pub minisign_key_id: Option<[u8; 8]>,
    /// The comment of an SSH public key line.
    pub ssh_comment: Option<String>,
}

fn checked_key(bytes: &[u8; 32]) -> Result<PublicKey, PublicKeyError> {
    let key = PublicKey::from_bytes(bytes).map_err(PublicKeyError::Key)?;
    if key.is_weak() {
        return Err(PublicKeyError::Key(KeyError::Weak));
    }
    Ok(key)
}

fn strip_one_newline(text: &str) -> &str {
    text.strip_suffix('\n').unwrap_or(text)
}

/// Whether an argument is a public key written out (`ed25519:…`, an OpenSSH line, a minisign
/// key or its file text, PEM, JWK) rather than the name of a file holding one.
pub fn looks_inline(text: &str) -> bool {
    [
        hallmark_keyring::key::PUBLIC_KEY_PREFIX,
        "ssh-",
        "-----BEGIN",
        "{",
        minisign::UNTRUSTED_PREFIX,
        "RW",
    ]
    .iter()
    .any(|p| text.starts_with(p))
}

/// Reads a public key in any of the forms, detected by how the text begins (never by trying
/// parsers in turn, so each form's error is kept).
pub fn parse_any(text: &str) -> Result<ParsedKey, PublicKeyError> {
    if text.len() > MAX_KEY_TEXT {
        return Err(PublicKeyError::TooLong { len: text.len() });
    }
    let plain = |key, format| ParsedKey {
        key,
        format,
        minisign_key_id: None,
        ssh_comment: None,
    };
    if text.starts_with(hallmark_keyring::key::PUBLIC_KEY_PREFIX) {
        let key: PublicKey = strip_one_newline(text).parse()?;
        return Ok(plain(key, KeyFormat::Hallmark));
    }
    if text.starts_with("ssh-") || text.starts_with("sk-") || text.starts_with("ecdsa-") {
        let line = SshPublicKey::parse(text)?;
        return Ok(ParsedKey {
            key: line.key,
            format: KeyFormat::Ssh,
            minisign_key_id: None,
            ssh_comment: line.comment,
        });
    }
    if text.starts_with("-----BEGIN") {
        return Ok(plain(parse_pem(text)?, KeyFormat::Pem));
    }
    if text.starts_with('{') {
        return Ok(plain(parse_jwk(text)?, KeyFormat::Jwk));
    }
    if text.starts_with(minisign::UNTRUSTED_PREFIX) || text.starts_with("RW") {
        let key = if text.starts_with("RW") {
            MinisignPublicKey::parse_base64(strip_one_newline(text))?
        } else {
            MinisignPublicKey::parse(text)?
        };
        return Ok(ParsedKey {
            key: key.key,
            format: KeyFormat::Minisign,
            minisign_key_id: Some(key.key_id),
            ssh_comment: None,
        });
    }
    Err(PublicKeyError::Unrecognised)
}

/// Renders a key in a form. `comment` is the SSH line's comment (other forms ignore it).
pub fn render(key: &PublicKey, format: KeyFormat, comment: Option<&str>) -> String {
    match format {
        KeyFormat::Hallmark => key.to_string(),
        KeyFormat::Ssh => SshPublicKey {
            key: *key,
            comment: comment.map(str::to_owned),
        }
        .to_string(),
        KeyFormat::Minisign => MinisignPublicKey::for_hallmark_key(key).to_file_text(),
        KeyFormat::Pem => pem(key),
        KeyFormat::Jwk => jwk(key),
    }
}

/// The SSH wire blob of an Ed25519 public key: `string "ssh-ed25519" || string key`.
pub fn ssh_key_blob(key: &PublicKey) -> Vec<u8> {
    let mut blob = Vec::with_capacity(51);
    put_string(&mut blob, SSH_ED25519.as_bytes());
    put_string(&mut blob, key.as_bytes());
    blob
}

/// Reads an SSH public key blob; only `ssh-ed25519` is accepted.
pub fn parse_ssh_key_blob(blob: &[u8]) -> Result<PublicKey, PublicKeyError> {
    let mut r = Reader::new(blob);
    let kind = r.string("key type")?;
    if kind != SSH_ED25519.as_bytes() {
        return Err(PublicKeyError::SshKeyType(
            String::from_utf8_lossy(&kind[..kind.len().min(64)]).into_owned(),
        ));
    }
    let bytes = r.string("Ed25519 key")?;
    r.finish("SSH public key blob")?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| {
        PublicKeyError::Ssh(format!("the Ed25519 key is {} bytes, not 32", bytes.len()))
    })?;
    checked_key(&bytes)
}

/// OpenSSH's fingerprint of a key: `SHA256:` and unpadded base64 of SHA-256 of the key blob,
/// as `ssh-keygen -l` prints it.
pub fn ssh_fingerprint(key: &PublicKey) -> String {
    let digest = Sha256::digest(ssh_key_blob(key));
    let b64 = base64_encode(&digest);
    format!("SHA256:{}", b64.trim_end_matches('='))
}

/// An OpenSSH public key line: `ssh-ed25519 <base64 blob>` and an optional comment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SshPublicKey {
    /// The key.
    pub key: PublicKey,
    /// The comment (free text, no control characters), if any.
    pub comment: Option<String>,
}

impl SshPublicKey {
    /// Reads one line: the key type, one space, canonical base64 of the key blob, and
    /// optionally one space and a comment; one final `\n` may follow. No other whitespace.
    pub fn parse(text: &str) -> Result<Self, PublicKeyError> {
        if text.len() > MAX_KEY_TEXT {
            return Err(PublicKeyError::TooLong { len: text.len() });
        }
        let line = strip_one_newline(text);
        let mut parts = line.splitn(3, ' ');
        let kind = parts.next().unwrap_or_default();
        if kind != SSH_ED25519 {
            return Err(PublicKeyError::SshKeyType(kind.chars().take(64).collect()));
        }
        let b64 = parts.next().ok_or_else(|| {
            PublicKeyError::Ssh("the key type is not followed by a space and the key".into())
        })?;
        let blob = base64_decode("SSH public key", b64, 256)?;
        let key = parse_ssh_key_blob(&blob)?;
        let comment = match parts.next() {
            None => None,
            Some(comment) => {
                check_comment(comment)?;
                Some(comment.to_owned())
            }
        };
        Ok(SshPublicKey { key, comment })
    }
}

fn check_comment(comment: &str) -> Result<(), PublicKeyError> {
    if comment.is_empty() {
        return Err(PublicKeyError::Ssh(
            "a space after the key must be followed by a comment".into(),
        ));
    }
    if comment.len() > MAX_SSH_COMMENT {
        return Err(PublicKeyError::Ssh(format!(
            "the comment is {} bytes, more than {MAX_SSH_COMMENT}",
            comment.len()
        )));
    }
    if comment.chars().any(char::is_control) {
        return Err(PublicKeyError::Ssh(
            "the comment holds a control character (a second line?)".into(),
        ));
    }
    Ok(())
}

impl std::fmt::Display for SshPublicKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{SSH_ED25519} {}",
            base64_encode(&ssh_key_blob(&self.key))
        )?;
        if let Some(comment) = &self.comment {
            write!(f, " {comment}")?;
        }
        Ok(())
    }
}

/// The SubjectPublicKeyInfo DER of a key (RFC 8410).
pub fn spki_der(key: &PublicKey) -> Vec<u8> {
    PublicKeyBytes(*key.as_bytes())
        .to_public_key_der()
        .map(|der| der.into_vec())
        // Unreachable: the encoding of 32 key bytes is always the same 44-byte structure.
        .unwrap_or_default()
}

/// PEM `PUBLIC KEY` (SubjectPublicKeyInfo, RFC 8410), as `openssl pkey -pubout` writes it.
pub fn pem(key: &PublicKey) -> String {
    format!("{PEM_BEGIN}{}{PEM_END}", base64_encode(&spki_der(key)))
}

/// Reads a PEM `PUBLIC KEY` holding an Ed25519 SubjectPublicKeyInfo, exactly as [`pem`]
/// writes it.
pub fn parse_pem(text: &str) -> Result<PublicKey, PublicKeyError> {
    let body = strip_one_newline(text)
        .strip_prefix(PEM_BEGIN)
        .and_then(|t| t.strip_suffix(PEM_END))
        .ok_or_else(|| {
            PublicKeyError::Pem(
                "expected one base64 line between -----BEGIN PUBLIC KEY----- and \
                 -----END PUBLIC KEY----- (a private key or certificate is not a public key)"
                    .into(),
            )
        })?;
    let der = base64_decode("PEM public key", body, 64)?;
    let key = PublicKeyBytes::from_public_key_der(&der)
        .map(|key| key.0)
        .map_err(|_| {
            PublicKeyError::Pem(
                "not an Ed25519 SubjectPublicKeyInfo (RFC 8410, OID 1.3.101.112)".into(),
            )
        })?;
    checked_key(&key)
}

/// A JSON Web Key (RFC 8037): `{"kty":"OKP","crv":"Ed25519","x":"<base64url>"}`.
pub fn jwk(key: &PublicKey) -> String {
    format!(
        "{{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"{}\"}}",
        Base64UrlUnpadded::encode_string(key.as_bytes())
    )
}

/// Reads an Ed25519 public JWK. `kty`, `crv` and `x` are required; `kid`, `use` (`sig`),
/// `alg` (`EdDSA`) and `key_ops` are allowed; a private key (`d`) and any other member are
/// refused.
pub fn parse_jwk(text: &str) -> Result<PublicKey, PublicKeyError> {
    if text.len() > MAX_KEY_TEXT {
        return Err(PublicKeyError::TooLong { len: text.len() });
    }
    let err = |s: &str| PublicKeyError::Jwk(s.to_owned());
    let value: serde_json::Map<String, serde_json::Value> = serde_json::from_str(text)
        .map_err(|e| PublicKeyError::Jwk(format!("not a JSON object: {e}")))?;
    let string = |name: &str| -> Result<Option<&str>, PublicKeyError> {
        match value.get(name) {
            None => Ok(None),
            Some(serde_json::Value::String(s)) => Ok(Some(s)),
            Some(_) => Err(PublicKeyError::Jwk(format!("\"{name}\" is not a string"))),
        }
    };
    if value.contains_key("d") {
        return Err(err(
            "this JWK holds a private key (\"d\"); give the public key only",
        ));
    }
    for name in value.keys() {
        if !["kty", "crv", "x", "kid", "use", "alg", "key_ops"].contains(&name.as_str()) {
            return Err(PublicKeyError::Jwk(format!(
                "unexpected member \"{}\"",
                name.chars().take(64).collect::<String>()
            )));
        }
    }
    if string("kty")? != Some("OKP") {
        return Err(err("\"kty\" must be \"OKP\" (RFC 8037)"));
    }
    if string("crv")? != Some("Ed25519") {
        return Err(err("\"crv\" must be \"Ed25519\""));
    }
    if let Some(alg) = string("alg")?
        && alg != "EdDSA"
    {
        return Err(err("\"alg\" must be \"EdDSA\""));
    }
    if let Some(usage) = string("use")?
        && usage != "sig"
    {
        return Err(err("\"use\" must be \"sig\""));
    }
    string("kid")?;
    let x = string("x")?.ok_or_else(|| err("\"x\" (the public key) is missing"))?;
    if x.len() != 43 {
        return Err(err(
            "\"x\" must be 43 characters of unpadded base64url (32 bytes)",
        ));
    }
    let mut bytes = [0u8; 32];
    let decoded = Base64UrlUnpadded::decode(x, &mut bytes)
        .map_err(|_| err("\"x\" is not canonical unpadded base64url"))?;
    if decoded.len() != 32 {
        return Err(err("\"x\" does not decode to 32 bytes"));
    }
    checked_key(&bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    // RFC 8032 §7.1 TEST 1.
    const PK: &str = "ed25519:11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

    fn key() -> PublicKey {
        PK.parse().unwrap()
    }

    #[test]
    fn every_form_round_trips() {
        let key = key();
        for format in [
            KeyFormat::Hallmark,
            KeyFormat::Ssh,
            KeyFormat::Minisign,
            KeyFormat::Pem,
            KeyFormat::Jwk,
        ] {
            let text = render(&key, format, Some("release key"));
            let parsed = parse_any(&text).unwrap();
            assert_eq!(parsed.key, key, "{format:?}");
            assert_eq!(parsed.format, format);
            let again = render(&parsed.key, format, parsed.ssh_comment.as_deref());
            assert_eq!(again, text, "{format:?}");
            // One final newline is accepted.
            assert_eq!(parse_any(&format!("{text}\n")).unwrap().key, key);
        }
    }

    #[test]
    fn ssh_lines_are_strict() {
        let line = render(&key(), KeyFormat::Ssh, None);
        for bad in [
            format!(" {line}"),
            format!("{line} "),
            line.replacen(' ', "  ", 1),
            format!("{line}\n\n"),
            format!("{line} a\nb"),
        ] {
            assert!(SshPublicKey::parse(&bad).is_err(), "{bad:?}");
        }
        assert_eq!(
            SshPublicKey::parse("ssh-rsa AAAA"),
            Err(PublicKeyError::SshKeyType("ssh-rsa".into()))
        );
    }

    #[test]
    fn jwk_refuses_private_and_unknown_members() {
        let x = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";
        let ok = format!(r#"{{"kid":"k","crv":"Ed25519","kty":"OKP","x":"{x}","alg":"EdDSA"}}"#);
        assert_eq!(parse_jwk(&ok).unwrap(), key());
        let private = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","d":"AAAA"}}"#);
        assert!(
            parse_jwk(&private)
                .unwrap_err()
                .to_string()
                .contains("private key")
        );
        let x448 = format!(r#"{{"kty":"OKP","crv":"Ed448","x":"{x}"}}"#);
        assert!(parse_jwk(&x448).is_err());
        let extra = format!(r#"{{"kty":"OKP","crv":"Ed25519","x":"{x}","y":"1"}}"#);
        assert!(parse_jwk(&extra).unwrap_err().to_string().contains("\"y\""));
    }

    #[test]
    fn weak_keys_are_refused_in_every_form() {
        let mut identity = [0u8; 32];
        identity[0] = 1;
        let der = PublicKeyBytes(identity)
            .to_public_key_der()
            .unwrap()
            .into_vec();
        let pem = format!("{PEM_BEGIN}{}{PEM_END}", base64_encode(&der));
        assert_eq!(parse_pem(&pem), Err(PublicKeyError::Key(KeyError::Weak)));
        let mut blob = Vec::new();
        put_string(&mut blob, b"ssh-ed25519");
        put_string(&mut blob, &identity);
        assert_eq!(
            parse_ssh_key_blob(&blob),
            Err(PublicKeyError::Key(KeyError::Weak))
        );
    }

    #[test]
    fn unknown_text_is_named() {
        assert_eq!(parse_any("hello"), Err(PublicKeyError::Unrecognised));
    }
}
