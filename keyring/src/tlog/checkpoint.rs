//! C2SP tlog-checkpoint: `<origin>\n<size>\n<base64 root>\n[extension lines]`, in a signed
//! note whose log key is named after the origin.

use super::note::{KeyType, Note, NoteError, NoteSignError, Verified, VerifierKey, check_key_name};
use super::store::Tree;
use crate::encoding::{base64_decode_array, base64_encode};
use crate::envelope::Ed25519Signer;

/// The most extension lines a checkpoint may carry (the spec discourages them).
pub const MAX_EXTENSION_LINES: usize = 16;

/// Why a checkpoint was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CheckpointError {
    /// The body is not `origin`, `size`, `root` lines and extension lines.
    #[error("the checkpoint body is malformed: {0}")]
    Malformed(&'static str),
    /// The signed note is malformed or its signatures do not verify.
    #[error(transparent)]
    Note(#[from] NoteError),
    /// The checkpoint's origin is not the log the verifier key names.
    #[error("the checkpoint is for log {found:?}, not {expected:?}")]
    WrongOrigin {
        /// The key's name (the expected origin).
        expected: String,
        /// The checkpoint's origin.
        found: String,
    },
    /// The verifier key is not a log (Ed25519 note) key.
    #[error("a checkpoint is verified with the log's Ed25519 note key, not a cosignature key")]
    NotALogKey,
}

/// A checkpoint: the log's origin and a tree, with optional extension lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Checkpoint {
    /// The log's origin (a schema-less URL); also the log key's name.
    pub origin: String,
    /// The tree's size and root hash.
    pub tree: Tree,
    /// Extension lines (each non-empty, without the newline).
    pub extensions: Vec<String>,
}

/// A checkpoint whose log signature verified, with the note it came in (which may carry
/// cosignatures).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedCheckpoint {
    /// The checkpoint.
    pub checkpoint: Checkpoint,
    /// The note: its exact bytes are `note.to_bytes()`.
    pub note: Note,
}

impl Checkpoint {
    /// A checkpoint of `tree` for the log `origin` (which must be a valid key name).
    pub fn new(origin: &str, tree: Tree) -> Result<Checkpoint, CheckpointError> {
        check_key_name(origin)?;
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree,
            extensions: Vec::new(),
        })
    }

    /// The body: the note text that is signed.
    pub fn body(&self) -> String {
        let mut out = format!(
            "{}\n{}\n{}\n",
            self.origin,
            self.tree.size,
            base64_encode(&self.tree.root)
        );
        for e in &self.extensions {
            out.push_str(e);
            out.push('\n');
        }
        out
    }

    /// Parses a body strictly: origin (a valid key name), size in decimal without leading
    /// zeros, base64 of a 32-byte root, then up to [`MAX_EXTENSION_LINES`] non-empty lines.
    pub fn parse_body(text: &str) -> Result<Checkpoint, CheckpointError> {
        let body = text
            .strip_suffix('\n')
            .ok_or(CheckpointError::Malformed("it does not end in a newline"))?;
        let mut lines = body.split('\n');
        let (Some(origin), Some(size), Some(root)) = (lines.next(), lines.next(), lines.next())
        else {
            return Err(CheckpointError::Malformed(
                "it needs origin, size and root hash lines",
            ));
        };
        check_key_name(origin).map_err(|_| {
            CheckpointError::Malformed("the origin is empty or holds a space or '+'")
        })?;
        let size_ok = !size.is_empty()
            && size.len() <= 20
            && size.bytes().all(|b| b.is_ascii_digit())
            && (size == "0" || !size.starts_with('0'));
        let size: u64 = size
            .parse()
            .ok()
            .filter(|_| size_ok)
            .ok_or(CheckpointError::Malformed(
                "the tree size is not a decimal number without leading zeros",
            ))?;
        let root = base64_decode_array::<32>("root hash", root).map_err(|_| {
            CheckpointError::Malformed("the root hash is not canonical base64 of 32 bytes")
        })?;
        let extensions: Vec<String> = lines.map(str::to_owned).collect();
        if extensions.iter().any(String::is_empty) {
            return Err(CheckpointError::Malformed("an extension line is empty"));
        }
        if extensions.len() > MAX_EXTENSION_LINES {
            return Err(CheckpointError::Malformed("too many extension lines"));
        }
        Ok(Checkpoint {
            origin: origin.to_owned(),
            tree: Tree { size, root },
            extensions,
        })
    }

    /// Signs the checkpoint with the log's key (named after the origin) through any
    /// [`Ed25519Signer`], returning the signed note.
    pub fn sign<S: Ed25519Signer + ?Sized>(&self, signer: &S) -> Result<Note, NoteSignError> {
        let mut note = Note::new(self.body())?;
        note.sign(&self.origin, signer)?;
        Ok(note)
    }

    /// Parses a signed checkpoint's note and body without verifying any signature: for a
    /// checkpoint this party wrote, or one it verifies later.
    pub fn parse_unverified(bytes: &[u8]) -> Result<Checkpoint, CheckpointError> {
        Checkpoint::parse_body(Note::parse(bytes)?.text())
    }

    /// Parses and verifies a signed checkpoint with the log's verifier key: the note must be
    /// signed by `log_key`, whose name must equal the origin; other signatures (witness
    /// cosignatures) are left for [`Note::verify`] with their keys.
    pub fn open(bytes: &[u8], log_key: &VerifierKey) -> Result<SignedCheckpoint, CheckpointError> {
        if log_key.kind() != KeyType::Ed25519 {
            return Err(CheckpointError::NotALogKey);
        }
        let note = Note::parse(bytes)?;
        let checkpoint = Checkpoint::parse_body(note.text())?;
        if checkpoint.origin != log_key.name() {
            return Err(CheckpointError::WrongOrigin {
                expected: log_key.name().to_owned(),
                found: checkpoint.origin,
            });
        }
        note.verify(std::slice::from_ref(log_key))?;
        Ok(SignedCheckpoint { checkpoint, note })
    }
}

impl SignedCheckpoint {
    /// Verifies the note's cosignatures by `witnesses` (cosignature keys), returning those
    /// that verified; fails if a known witness's signature does not verify or none does.
    pub fn cosignatures(&self, witnesses: &[VerifierKey]) -> Result<Vec<Verified>, NoteError> {
        self.note.verify(witnesses)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use crate::key::PublicKey;
    use crate::tlog::cosignature;
    use crate::tlog::merkle::EMPTY_ROOT;
    use ed25519_dalek::SigningKey;

    const NAME: &str = "example.org/hallmark-log";
    const VKEY: &str =
        "example.org/hallmark-log+d7895331+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4";
    /// The worked vector of the project's transparency notes, computed independently and
    /// verified by Go's `note.Open`.
    const EMPTY_CHECKPOINT: &str = "example.org/hallmark-log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n\u{2014} example.org/hallmark-log 14lTMeT6X/xk+SdwH0G0aZGkpvg1o3WOSwEVn5LffZqWIvQBOai3AkFQNhl81+wYxBhqMQknBk2Rz1jmA/h8S0RxFwk=\n";

    fn log_key() -> SigningKey {
        let seed: [u8; 32] = std::array::from_fn(|i| i as u8);
        SigningKey::from_bytes(&seed)
    }

    fn witness_key(n: u8) -> SigningKey {
        SigningKey::from_bytes(&[n; 32])
    }

    fn verifier(name: &str, kind: KeyType, key: &SigningKey) -> VerifierKey {
        VerifierKey::new(name, kind, PublicKey::new(key.verifying_key())).unwrap()
    }

    #[test]
    fn the_worked_vector_holds_byte_for_byte() {
        let key = log_key();
        let v = verifier(NAME, KeyType::Ed25519, &key);
        assert_eq!(v.to_string(), VKEY);
        assert_eq!(VKEY.parse::<VerifierKey>().unwrap(), v);
        assert_eq!(crate::encoding::hex_encode(&v.key_id()), "d7895331");
        let cp = Checkpoint::new(NAME, Tree::EMPTY).unwrap();
        let note = cp.sign(&key).unwrap();
        assert_eq!(
            String::from_utf8(note.to_bytes()).unwrap(),
            EMPTY_CHECKPOINT
        );
        let opened = Checkpoint::open(EMPTY_CHECKPOINT.as_bytes(), &v).unwrap();
        assert_eq!(opened.checkpoint.tree.root, EMPTY_ROOT);
        assert_eq!(opened.checkpoint, cp);
    }

    #[test]
    fn refusals_are_typed() {
        let key = log_key();
        let v = verifier(NAME, KeyType::Ed25519, &key);
        // A flipped signature bit: the known key fails.
        let bad = EMPTY_CHECKPOINT.replace("14lTMeT6X", "14lTMeT6Y");
        assert!(matches!(
            Checkpoint::open(bad.as_bytes(), &v),
            Err(CheckpointError::Note(NoteError::BadSignature { .. }))
        ));
        // Signed by someone else only.
        let other = Checkpoint::new(NAME, Tree::EMPTY)
            .unwrap()
            .sign(&witness_key(9))
            .unwrap();
        assert!(matches!(
            Checkpoint::open(&other.to_bytes(), &v),
            Err(CheckpointError::Note(NoteError::NoKnownSignature { .. }))
        ));
        // Another log's checkpoint.
        let elsewhere = Checkpoint::new("example.com/other", Tree::EMPTY)
            .unwrap()
            .sign(&key)
            .unwrap();
        assert!(matches!(
            Checkpoint::open(&elsewhere.to_bytes(), &v),
            Err(CheckpointError::WrongOrigin { .. })
        ));
        for (body, why) in [
            (
                "o\n01\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "leading zero",
            ),
            (
                "o\n-1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "sign",
            ),
            (
                "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU\n",
                "padding",
            ),
            ("o\n1\n", "no root"),
            (
                "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=",
                "no newline",
            ),
            (
                "o p\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "space in origin",
            ),
            (
                "o\n18446744073709551616\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n",
                "overflow",
            ),
        ] {
            assert!(
                matches!(
                    Checkpoint::parse_body(body),
                    Err(CheckpointError::Malformed(_))
                ),
                "{why}"
            );
        }
        let ext = Checkpoint::parse_body(
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextra line\n",
        )
        .unwrap();
        assert_eq!(ext.extensions, vec!["extra line".to_owned()]);
        assert_eq!(
            ext.body(),
            "o\n1\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\nextra line\n"
        );
    }

    #[test]
    fn note_parsing_is_strict() {
        for (bytes, why) in [
            (&b"text\n"[..], "unsigned"),
            (b"text\n\n", "no lines"),
            (b"text\n\n\xe2\x80\x94 a AAAAAA==\n", "too short"),
            (b"text\n\n- a AAAAAAAA\n", "no em dash"),
            (b"text\n\n\xe2\x80\x94 a AAAAAAAA", "no newline"),
            (
                b"te\x01xt\n\n\xe2\x80\x94 a AAAAAAAA\n",
                "control character",
            ),
            (b"text\n\n\xe2\x80\x94 a+b AAAAAAAA\n", "plus in name"),
            (b"\xff\n\n\xe2\x80\x94 a AAAAAAAA\n", "not UTF-8"),
        ] {
            assert!(Note::parse(bytes).is_err(), "{why}");
        }
        let many = format!("t\n\n{}", "\u{2014} a AAAAAAAA\n".repeat(101));
        assert!(matches!(
            Note::parse(many.as_bytes()),
            Err(NoteError::TooManySignatures { count: 101 })
        ));
        let ok = format!("t\n\n{}", "\u{2014} a AAAAAAAA\n".repeat(100));
        assert_eq!(Note::parse(ok.as_bytes()).unwrap().signatures().len(), 100);
        assert!(Note::parse(&vec![b'a'; MAX_NOTE_BYTES_PLUS]).is_err());
        // The split is at the last blank line: text may hold blank lines.
        let n = Note::parse("a\n\nb\n\n\u{2014} k AAAAAAAA\n".as_bytes()).unwrap();
        assert_eq!(n.text(), "a\n\nb\n");
        assert!(Note::new("ends in blank\n\n").is_err());
        for bad_key in [
            "name+d7895331",
            "name+D7895331+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
            "example.org/hallmark-log+00000000+AQOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
            "example.org/hallmark-log+d7895331+AgOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4",
        ] {
            assert!(bad_key.parse::<VerifierKey>().is_err(), "{bad_key}");
        }
    }

    const MAX_NOTE_BYTES_PLUS: usize = crate::tlog::note::MAX_NOTE_BYTES + 1;

    #[test]
    fn cosignatures_sign_and_verify() {
        let key = log_key();
        let v = verifier(NAME, KeyType::Ed25519, &key);
        let cp = Checkpoint::new(
            NAME,
            Tree {
                size: 5,
                root: [3; 32],
            },
        )
        .unwrap();
        let mut note = cp.sign(&key).unwrap();
        let w1 = witness_key(1);
        let w2 = witness_key(2);
        let line = cosignature::cosign(&cp, "witness.example/one", 1_700_000_000, &w1).unwrap();
        assert_eq!(line.signature.len(), 72);
        note.push_signature(line).unwrap();
        note.push_signature(
            cosignature::cosign(&cp, "witness.example/two", 1_700_000_001, &w2).unwrap(),
        )
        .unwrap();
        let opened = Checkpoint::open(&note.to_bytes(), &v).unwrap();
        assert_eq!(cosignature::cosignature_lines(&opened.note).len(), 2);
        let wv1 = verifier("witness.example/one", KeyType::Cosignature, &w1);
        let wv2 = verifier("witness.example/two", KeyType::Cosignature, &w2);
        assert_eq!(wv1.to_string().parse::<VerifierKey>().unwrap(), wv1);
        let got = opened.cosignatures(&[wv1.clone(), wv2]).unwrap();
        assert_eq!(
            got.iter().map(|g| g.timestamp).collect::<Vec<_>>(),
            vec![Some(1_700_000_000), Some(1_700_000_001)]
        );
        // The same key as a log key (type 0x01) has another key id: the cosignature is not
        // taken for a note signature.
        let as_log = verifier("witness.example/one", KeyType::Ed25519, &w1);
        assert!(matches!(
            opened.note.verify(&[as_log]),
            Err(NoteError::NoKnownSignature { .. })
        ));
        // A cosignature over another checkpoint fails for its known key.
        let other = Checkpoint::new(
            NAME,
            Tree {
                size: 6,
                root: [3; 32],
            },
        )
        .unwrap();
        let mut forged = other.sign(&key).unwrap();
        forged
            .push_signature(opened.note.signatures()[1].clone())
            .unwrap();
        assert!(matches!(
            forged.verify(&[wv1]),
            Err(NoteError::BadSignature { .. })
        ));
    }
}
