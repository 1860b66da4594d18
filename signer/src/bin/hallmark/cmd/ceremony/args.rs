//! The arguments of `hallmark ceremony …`, with the help text each command shows.

use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

use crate::cli::UnlockArgs;

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum CeremonyCommand {
    /// Create an identity: its inception event, signed by a threshold of its keys.
    ///
    /// The inception names the signing keys (--key, and --cosigner-key for keys that sign on
    /// another machine), how many must sign (--threshold), the namespaces the identity claims
    /// (--namespace), and commitments to the next keys (pre-rotation): --next-key REF,
    /// --next-public-key KEY, or --create-next file:PATH to create a new file key, which must
    /// then move offline. The identity's name is the digest of the inception.
    Init(InitArgs),

    /// Rotate to the pre-committed next keys, committing to the following ones.
    ///
    /// The rotation reveals keys committed by the previous rotation or inception and must be
    /// signed by the committed threshold of them (--key); current keys may co-sign
    /// (--current-key) but cannot rotate alone, so a thief holding only the current key cannot
    /// take over the identity. A rotation to a key that was not committed is refused before any
    /// key is unlocked.
    ///
    /// A rotation also supersedes whatever the current keys signed since the previous rotation
    /// on any other copy of the log (a thief's transfer, acceptance or revocation): rotating
    /// with --reason compromised on your own log is how you recover.
    Rotate(RotateArgs),

    /// Hand namespaces or packages to another identity (effective once it accepts).
    Transfer(TransferArgs),

    /// Accept names transferred by another identity, naming the transfer event.
    Accept(AcceptArgs),

    /// Retire keys the identity had in the past, from a stated time.
    ///
    /// `compromised`: statements by those keys count only where something other than the key —
    /// a receipt from a registry the consumer pins — proves they were made before --since. `retired`: no suspicion; statements made while the keys were current stay
    /// valid. Current keys are retired by rotating (--reason compromised).
    Revoke(RevokeArgs),

    /// Add signatures to a pending event (M-of-N ceremonies with keys on several machines).
    Cosign(CosignArgs),

    /// Check a pending event's signatures against its threshold and append it to the log.
    Commit(CommitArgs),

    /// Verify a ceremony transcript: every participant's signature, and the events it names.
    VerifyTranscript(VerifyTranscriptArgs),

    /// Split a file key into M-of-N shares, each encrypted to one custodian with age.
    Backup(BackupArgs),

    /// Rebuild a file key from M custodian shares, checked against the identity's log.
    Restore(RestoreArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RotationReason {
    /// A planned rotation; the old keys are not suspected.
    Scheduled,
    /// The old keys are lost (device broken or missing), not known to be stolen.
    Lost,
    /// The old keys may be in someone else's hands.
    Compromised,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum RevocationReason {
    /// The keys may be in someone else's hands.
    Compromised,
    /// Retired without suspicion.
    Retired,
}

#[derive(Debug, Args)]
pub struct NextArgs {
    /// A next key, read as a public key only (file:PATH reads PATH.pub, yubikey:… reads the
    /// slot without a PIN; nothing is unlocked). Repeat for M-of-N.
    #[arg(long = "next-key", value_name = "REF")]
    pub next_keys: Vec<String>,

    /// A next key given by its public key (`ed25519:…`, a .pub file) or its key id (64 hex
    /// digits), so the next private key need not be present. Repeatable.
    #[arg(long = "next-public-key", value_name = "KEY")]
    pub next_public_keys: Vec<String>,

    /// Create a new file key (file:PATH) as a next key. It must then move offline: a second
    /// device, a safe, or custodian shares (`hallmark ceremony backup`). Repeatable.
    #[arg(long = "create-next", value_name = "REF")]
    pub create_next: Vec<String>,

    /// How many next keys must sign the next rotation (default: 1 for one next key).
    #[arg(long, value_name = "M")]
    pub next_threshold: Option<u64>,

    /// Passphrase for keys made by --create-next, from this file (default: asked twice on the
    /// terminal). Use a passphrase different from the current key's.
    #[arg(long, value_name = "PATH", conflicts_with = "next_passphrase_env")]
    pub next_passphrase_file: Option<PathBuf>,

    /// Passphrase for keys made by --create-next, from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub next_passphrase_env: Option<String>,

    /// Encrypt keys made by --create-next to this age recipient (age1…) instead of a
    /// passphrase; repeatable (any one recipient can unlock).
    #[arg(long = "next-recipient", value_name = "AGE_RECIPIENT")]
    pub next_recipients: Vec<String>,

    /// scrypt work factor (log2 N, 10 to 22) for passphrase-protected keys made by
    /// --create-next; default: age's choice of about one second.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// A signing key held here (file:, pkcs11: or yubikey: reference); it signs the inception.
    /// A YubiKey key's attestation goes into the inception. Repeat for M-of-N.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// A signing key held elsewhere (public key, .pub file or REF): part of the key set; it
    /// signs later with `ceremony cosign`. Needs --pending.
    #[arg(long = "cosigner-key", value_name = "KEY")]
    pub cosigner_keys: Vec<String>,

    /// How many signing keys must sign statements and events (default: 1 for one key).
    #[arg(long, value_name = "M")]
    pub threshold: Option<u64>,

    #[command(flatten)]
    pub next: NextArgs,

    /// A namespace the identity claims, reverse-domain (e.g. org.example). Repeatable.
    #[arg(long = "namespace", required = true, value_name = "NS")]
    pub namespaces: Vec<String>,

    /// The key event log file to create.
    #[arg(long, value_name = "KEL", required_unless_present = "pending")]
    pub out: Option<PathBuf>,

    /// Write the inception as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH", conflicts_with = "out")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommonArgs {
    /// Where to write the transcript (default: beside the log or pending file).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct RotateArgs {
    /// The identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// A pre-committed next key held here (file:, pkcs11: or yubikey: reference); it is
    /// revealed and signs. A YubiKey key's attestation goes into the rotation. Repeat for M-of-N.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// A pre-committed next key held elsewhere (public key, .pub file or REF): revealed now,
    /// it signs later with `ceremony cosign`. Needs --pending.
    #[arg(long = "cosigner-key", value_name = "KEY")]
    pub cosigner_keys: Vec<String>,

    /// A current key co-signing the rotation (optional: its signature is recorded, but only
    /// the pre-committed keys' signatures count).
    #[arg(long = "current-key", value_name = "REF")]
    pub current_keys: Vec<String>,

    /// How many of the new keys must sign statements and events (default: the committed
    /// threshold).
    #[arg(long, value_name = "M")]
    pub threshold: Option<u64>,

    #[command(flatten)]
    pub next: NextArgs,

    /// Why: `scheduled` (the default: the old keys are retired intact and what they signed
    /// stays valid), `lost` (the old keys are gone but not known to be in other hands), or
    /// `compromised` (what the old keys signed stays valid only with proof it came first,
    /// such as a registry receipt).
    #[arg(long, value_enum, default_value = "scheduled")]
    pub reason: RotationReason,

    /// Write the rotation as a pending event here instead of appending it, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct TransferArgs {
    /// The giving identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The receiving identity: its key event log file, or its name (hid:…).
    #[arg(long, value_name = "KEL|HID")]
    pub to: String,

    /// A namespace or package name to hand over. Repeatable.
    #[arg(long = "name", required = true, value_name = "NS")]
    pub names: Vec<String>,

    /// A current key of the giving identity. Repeat up to its threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the transfer as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct AcceptArgs {
    /// The receiving identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The giving identity's key event log, which holds the transfer.
    #[arg(long, value_name = "KEL")]
    pub from: PathBuf,

    /// The transfer event's digest (sha256:…), when several transfers wait.
    #[arg(long, value_name = "DIGEST")]
    pub transfer: Option<String>,

    /// The names to accept: exactly the transfer's (default: the transfer's names).
    #[arg(long = "name", value_name = "NS")]
    pub names: Vec<String>,

    /// A current key of the receiving identity. Repeat up to its threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the acceptance as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The identity's key event log; updated in place.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// The key to retire: its key id (64 hex digits), public key, .pub file or REF. Repeatable.
    #[arg(long = "revoke", required = true, value_name = "KEY")]
    pub revoke: Vec<String>,

    /// Why: compromised or retired.
    #[arg(long, value_enum)]
    pub reason: RevocationReason,

    /// The earliest time the keys may have been in someone else's hands (UTC,
    /// YYYY-MM-DDTHH:MM:SSZ).
    #[arg(long, value_name = "TIME")]
    pub since: String,

    /// A current key. Repeat up to the threshold.
    #[arg(long = "key", value_name = "REF")]
    pub keys: Vec<String>,

    /// Write the revocation as a pending event here instead, for co-signers.
    #[arg(long, value_name = "PATH")]
    pub pending: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CosignArgs {
    /// The pending event file; updated in place.
    #[arg(value_name = "PENDING")]
    pub pending: PathBuf,

    /// The identity's key event log (not needed for a pending inception).
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,

    /// A key entitled to sign the event. Repeatable.
    #[arg(long = "key", required = true, value_name = "REF")]
    pub keys: Vec<String>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// The pending event file.
    #[arg(value_name = "PENDING")]
    pub pending: PathBuf,

    /// The identity's key event log to append to.
    #[arg(long, value_name = "KEL", required_unless_present = "out")]
    pub identity: Option<PathBuf>,

    /// For a pending inception: the key event log file to create.
    #[arg(long, value_name = "KEL", conflicts_with = "identity")]
    pub out: Option<PathBuf>,

    /// Where to write the transcript (default: beside the log).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct VerifyTranscriptArgs {
    /// The transcript file.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Check that the events the transcript names are in this key event log.
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct BackupArgs {
    /// The file key to split (file:PATH), typically a pre-committed next key.
    #[arg(long, value_name = "REF")]
    pub key: String,

    /// How many shares to make: one per --recipient.
    #[arg(long, value_name = "N")]
    pub shares: usize,

    /// How many shares rebuild the key (at least 2).
    #[arg(long, value_name = "M")]
    pub threshold: u8,

    /// A custodian's age recipient (age1…); give one per share, in order.
    #[arg(long = "recipient", value_name = "AGE_RECIPIENT")]
    pub recipients: Vec<String>,

    /// The directory to write the shares into (created; must not exist or be empty).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,

    /// The identity whose log commits to the key; the key must be committed in it.
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,

    #[command(flatten)]
    pub common: CommonArgs,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A share file. Give at least the backup's threshold of them.
    #[arg(long = "share", required = true, value_name = "FILE")]
    pub shares: Vec<PathBuf>,

    /// An age identity file (AGE-SECRET-KEY-1…) that decrypts one or more shares; repeatable.
    #[arg(long = "age-identity", required = true, value_name = "PATH")]
    pub age_identities: Vec<PathBuf>,

    /// The identity's key event log: the rebuilt key must be committed in it.
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// Where to write the rebuilt key: file:PATH.
    #[arg(long, value_name = "REF")]
    pub out: String,

    /// Passphrase for the rebuilt key file, from this file (default: asked twice).
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,

    /// Passphrase for the rebuilt key file, from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub passphrase_env: Option<String>,

    /// scrypt work factor (log2 N, 10 to 22) for the rebuilt key file.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,

    /// Where to write the transcript (default: beside the rebuilt key).
    #[arg(long, value_name = "PATH")]
    pub transcript: Option<PathBuf>,
}
