//! OpenSSH revoked-key lists in text form (`ssh-keygen -Y verify -r FILE`, `RevokedKeys` in
//! `sshd_config`): public keys, one per line, with blank lines and `#` comments.
//!
//! Lines that hold a key of another type (`ssh-rsa …`) are skipped: no Ed25519 key can match
//! them. A binary KRL (`SSHKRL…`, made by `ssh-keygen -k`) is refused with a message saying so,
//! never read as text. A malformed Ed25519 line is an error, not a line skipped: a revocation
//! list that cannot be read whole does not say that a key is not revoked.

use hallmark_keyring::PublicKey;

use super::pubkey::{PublicKeyError, SSH_ED25519, SshPublicKey};

/// The largest revocation list read.
pub const MAX_FILE: usize = 1024 * 1024;

/// Why a revocation list cannot be read.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RevokedKeysError {
    /// A binary KRL.
    #[error("a binary KRL, which Hallmark does not read; list revoked public keys one per line")]
    BinaryKrl,
    /// Larger than [`MAX_FILE`].
    #[error("larger than {MAX_FILE} bytes")]
    TooLarge,
    /// Not UTF-8.
    #[error("not UTF-8 text")]
    NotText,
    /// A malformed Ed25519 key line.
    #[error("line {line}: {source}")]
    Line {
        /// The line (from 1).
        line: usize,
        /// What is wrong.
        source: PublicKeyError,
    },
}

/// A revocation list: the Ed25519 keys it revokes, with their lines.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RevokedKeys {
    keys: Vec<(PublicKey, usize)>,
}

impl RevokedKeys {
    /// Parses a revocation list.
    pub fn parse(bytes: &[u8]) -> Result<Self, RevokedKeysError> {
        if bytes.starts_with(b"SSHKRL") {
            return Err(RevokedKeysError::BinaryKrl);
        }
        if bytes.len() > MAX_FILE {
            return Err(RevokedKeysError::TooLarge);
        }
        let text = std::str::from_utf8(bytes).map_err(|_| RevokedKeysError::NotText)?;
        let mut keys = Vec::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') || !line.starts_with(SSH_ED25519) {
                continue;
            }
            let key = SshPublicKey::parse(line).map_err(|source| RevokedKeysError::Line {
                line: n + 1,
                source,
            })?;
            keys.push((key.key, n + 1));
        }
        Ok(RevokedKeys { keys })
    }

    /// The line that revokes `key`, if one does.
    pub fn revokes(&self, key: &PublicKey) -> Option<usize> {
        self.keys
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, line)| *line)
    }

    /// The keys revoked, in file order.
    pub fn keys(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter().map(|(k, _)| k)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;

    fn key(seed: u8) -> PublicKey {
        PublicKey::new(ed25519_dalek::SigningKey::from_bytes(&[seed; 32]).verifying_key())
    }

    #[test]
    fn finds_the_line_that_revokes_a_key() {
        let line = SshPublicKey {
            key: key(7),
            comment: Some("laptop".into()),
        };
        let text = format!("# revoked\n\nssh-rsa AAAAB3NzaC1yc2E= old\n  {line}\n");
        let list = RevokedKeys::parse(text.as_bytes()).unwrap();
        assert_eq!(list.revokes(&key(7)), Some(4));
        assert_eq!(list.revokes(&key(8)), None);
        assert_eq!(list.keys().collect::<Vec<_>>(), [&key(7)]);
    }

    #[test]
    fn refuses_binary_krls_and_malformed_lines() {
        assert_eq!(
            RevokedKeys::parse(b"SSHKRL\n\0\0\0\x01"),
            Err(RevokedKeysError::BinaryKrl)
        );
        assert_eq!(
            RevokedKeys::parse(b"\xff\xfe"),
            Err(RevokedKeysError::NotText)
        );
        let err = RevokedKeys::parse(b"\nssh-ed25519 AAAA!\n").unwrap_err();
        assert!(
            matches!(err, RevokedKeysError::Line { line: 2, .. }),
            "{err:?}"
        );
    }
}
