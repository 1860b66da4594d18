//! C2SP tlog-cosignature v1: a witness's Ed25519 signature (type `0x04`) over
//! `cosignature/v1\ntime <timestamp>\n<checkpoint body>`, carried in a note as
//! `u64 big-endian timestamp || 64-byte signature`.

use super::checkpoint::Checkpoint;
use super::note::{KeyType, NoteSignError, NoteSignature, check_key_name, key_id, sign_checked};
use crate::envelope::Ed25519Signer;
use crate::key::PublicKey;

/// The signed message of a cosignature at `timestamp` over a checkpoint body.
pub fn message(timestamp: u64, checkpoint_body: &[u8]) -> Vec<u8> {
    let mut m = format!("cosignature/v1\ntime {timestamp}\n").into_bytes();
    m.extend_from_slice(checkpoint_body);
    m
}

/// Splits cosignature bytes into timestamp and Ed25519 signature (`None` unless 72 bytes).
pub fn split(bytes: &[u8]) -> Option<(u64, [u8; 64])> {
    if bytes.len() != 72 {
        return None;
    }
    let ts = u64::from_be_bytes(bytes[..8].try_into().ok()?);
    let sig: [u8; 64] = bytes[8..].try_into().ok()?;
    Some((ts, sig))
}

/// Cosigns `checkpoint` at `timestamp` (seconds since the Unix epoch) as witness `name`
/// through any [`Ed25519Signer`]; returns the signature line to add to the checkpoint's note.
pub fn cosign<S: Ed25519Signer + ?Sized>(
    checkpoint: &Checkpoint,
    name: &str,
    timestamp: u64,
    signer: &S,
) -> Result<NoteSignature, NoteSignError> {
    check_key_name(name)?;
    let key = PublicKey::new(signer.verifying_key());
    let body = checkpoint.body();
    let sig = sign_checked(signer, &key, &message(timestamp, body.as_bytes()))?;
    let mut signature = timestamp.to_be_bytes().to_vec();
    signature.extend_from_slice(&sig);
    Ok(NoteSignature {
        name: name.to_owned(),
        key_id: key_id(name, KeyType::Cosignature, &key),
        signature,
    })
}

/// The cosignature lines of a note from a [`KeyType::Cosignature`] key: those whose
/// signature has the cosignature length (72 bytes). They are not verified here; verify with
/// [`super::Note::verify`] and a cosigner's [`super::VerifierKey`].
pub fn cosignature_lines(note: &super::Note) -> Vec<&NoteSignature> {
    note.signatures()
        .iter()
        .filter(|s| s.signature.len() == 72)
        .collect()
}
