//! Command-line definitions.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

// Subcommand enums are `defer`red: a subcommand's arguments are built only when it is the one
// chosen, which keeps start-up (a one-file verify) short. `Args` structs therefore carry plain
// comments, not doc comments: clap would apply a struct's doc comment as the description of
// the subcommand it is built into, replacing the variant's (a test below checks).

const AFTER_HELP: &str = "\
Key references name a key wherever it lives:
  file:./release.key                          an age-encrypted key file
  pkcs11:token=ci;object=release?pin-source=env:PIN   a key in a PKCS#11 token (RFC 7512)
  yubikey:serial=12345678;slot=9c?pin-source=file:pin   a key in a YubiKey PIV slot
  awskms:alias/release?region=eu-west-1       a key in AWS KMS (key id, alias or ARN)

Secrets never go on the command line: passphrases and PINs come from the terminal, a file
(--passphrase-file, pin-source=file:…) or an environment variable (--passphrase-env,
pin-source=env:…); AWS credentials and endpoint from the standard AWS chain (AWS_PROFILE,
AWS_ACCESS_KEY_ID…, web identity, instance role; AWS_ENDPOINT_URL). A token's or YubiKey's last PIN try is never spent without
--allow-final-pin-try. `hallmark key list` shows the YubiKeys and keys this machine sees.

Exit codes: 0 trusted/success, 1 verification refused (the verdict says why), 2 usage or
input error, 3 unknown publisher, 4 hardware/token error, 5 a key that never leaves its device
(key export).

Try `hallmark quickstart` for a tour on a throwaway file key.";

/// Hardware-backed package signing: sign releases with keys that never leave hardware, rotate
/// and hand over keys through signed ceremonies, and verify with pinned publishers.
#[derive(Debug, Parser)]
#[command(name = "hallmark", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Print JSON on standard output instead of text, each document named by its `schema`
    /// (hallmark.COMMAND/v1; fields in docs/json.md), errors included.
    #[arg(long, global = true)]
    pub json: bool,

    /// Print only errors and verdicts; no progress bars or notes.
    #[arg(long, short, global = true)]
    pub quiet: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum Command {
    /// Create keys, list what tokens hold, print public keys.
    #[command(subcommand)]
    Key(KeyCommand),

    /// Print the content digest of files or directory trees.
    ///
    /// A file's digest is SHA-256 of its bytes (`sha256:…`). A directory's digest is SHA-256 of
    /// its canonical manifest (`sha256-tree:…`): every entry with its path, type and executable
    /// bit, sorted — so it ignores timestamps, owners and listing order, and changes with any
    /// byte, name, added or removed file, or executable bit. See docs/formats.md.
    Hash(HashArgs),

    /// Sign release artifacts, writing PATH.hallmark.json beside each.
    ///
    /// Every artifact is hashed (in parallel), a package statement naming the package, version
    /// and digest is signed, and the bundle is written beside the artifact. Many artifacts are
    /// signed in one run with one unlock: one passphrase prompt, one token login. Nothing is
    /// written if any bundle already exists, unless --force is given.
    ///
    /// A PKCS#11 token signs a batch through one session per CPU core (at most 4), all on the
    /// one login; HALLMARK_PKCS11_SESSIONS=N (1 to 16) chooses another number.
    Sign(SignArgs),

    /// Verify artifacts against pinned publishers, an identity, or the keys you expect.
    ///
    /// Recomputes each artifact's digest, reads its bundle (PATH.hallmark.json), and prints one
    /// verdict per artifact: trusted, trusted-after-rotation, trusted-after-transfer,
    /// unknown-publisher, or rejected with the reason (unlinked-signer-change, revoked,
    /// digest-mismatch, equivocation, rollback, bad-signature) and the chain that links the
    /// signer to the pin. Exit code 0 only if every artifact is trusted; 1 if any is rejected;
    /// 3 if any publisher is unknown (and none rejected). See docs/verifying.md.
    Verify(VerifyArgs),

    /// Key ceremonies: create an identity, rotate, hand over, revoke, back up keys.
    ///
    /// An identity is a key event log (org.example.kel): its inception names the signing keys,
    /// a threshold, the namespaces, and commitments to the next keys (pre-rotation). Every
    /// command checks the log before any key is unlocked, and writes a signed transcript.
    /// See docs/ceremony.md for the runbook.
    #[command(subcommand)]
    Ceremony(Box<crate::cmd::ceremony::CeremonyCommand>),

    /// Manage a trust store: pin publishers, import their key event logs, read the audit log.
    #[command(subcommand)]
    Keyring(KeyringCommand),

    /// Run a registry: check publishes and key events, countersign them, keep a signed log.
    #[command(subcommand)]
    Registry(RegistryCommand),

    /// Run a transparency-log witness: cosign a log's checkpoints only when consistent.
    ///
    /// Speaks c2sp.org/tlog-witness over HTTP (`POST <prefix>/add-checkpoint`) for the logs in
    /// its configuration file, and cosigns with c2sp.org/tlog-cosignature v1 with a key on
    /// any backend. It keeps, per log, the checkpoint it last cosigned, durably, before it
    /// answers, and never cosigns one that does not extend it; a fork or rollback is refused
    /// and kept as evidence. See docs/monitoring.md.
    #[command(subcommand)]
    Witness(WitnessCommand),

    /// Follow registries' transparency logs and alert on every change to watched namespaces.
    ///
    /// Each poll fetches a registry's checkpoint, proves it consistent with the last one seen
    /// (a fork is an alert, with both checkpoints kept), reads the new entries from the tiles
    /// and raises an alert for each event touching a watched namespace: a new identity
    /// claiming it, a publish by an identity not linked to its holder, a transfer, a
    /// compromised rotation, a revocation, a yank, a key event log fork. One line per alert
    /// (JSON lines with --json); --exec runs a command per alert. The position is kept under
    /// --state: a restarted monitor neither misses nor repeats an alert. With --once: exit 0
    /// if nothing was raised, 1 if alerts were, 2 if a registry could not be read.
    Monitor(MonitorArgs),

    /// Run a tour on a throwaway file key: sign a package tree, verify it, tamper with it.
    Quickstart(QuickstartArgs),

    /// ssh-keygen's -Y sign / verify / find-principals / check-novalidate, for git.
    ///
    /// With `git config gpg.format ssh` and `gpg.ssh.program` naming a link to `hallmark` called
    /// `hallmark-ssh-keygen` (or a script running `hallmark ssh-keygen "$@"`), git signs commits
    /// and tags with any Hallmark key. `-f` names a file holding a key reference, or an OpenSSH
    /// public key line whose comment is a key reference (`hallmark key show REF --format ssh`
    /// writes one). See docs/interop.md.
    #[command(name = "ssh-keygen")]
    SshKeygen(SshKeygenArgs),

    /// Print a shell completion script.
    ///
    /// For bash: `hallmark completions bash > /etc/bash_completion.d/hallmark`; for zsh: put the
    /// output in a directory on $fpath as `_hallmark`; for fish:
    /// `hallmark completions fish > ~/.config/fish/completions/hallmark.fish`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },

    /// Write man pages (hallmark.1, hallmark-key-generate.1, …) into a directory, for
    /// packaging: the same text as --help, with every command's examples.
    #[command(hide = true)]
    Manpages {
        /// The directory (created if missing).
        dir: PathBuf,
    },
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum KeyCommand {
    /// Create a new Ed25519 key where the reference says.
    ///
    /// `--out file:PATH` writes PATH (the private key, encrypted with age, mode 0600) and
    /// PATH.pub (the public key). The key is encrypted to a passphrase (asked twice on the
    /// terminal, or read with --passphrase-file / --passphrase-env), or with --recipient /
    /// --recipients-file to age recipients, e.g. custodians who hold it in escrow. Existing
    /// files are never overwritten.
    ///
    /// `--out pkcs11:token=…;object=LABEL` generates the key inside the token.
    ///
    /// `--out awskms:alias/NAME` creates an Ed25519 key in AWS KMS (key spec
    /// ECC_NIST_EDWARDS25519, usage SIGN_VERIFY, tagged hallmark=package-signing) and the alias;
    /// the alias must be new. See docs/hardware/aws-kms.md.
    ///
    /// `--out yubikey:slot=9c` generates the key inside a YubiKey (firmware 5.7 or later), with
    /// --pin-policy (default once) and --touch-policy (default always), which can never be
    /// changed afterwards, and writes a self-signed certificate for it into the slot so other
    /// PIV tools see it. The YubiKey signs that certificate, so it asks for the PIN and a touch.
    /// A key already in the slot is never replaced unless --force is given. The management key
    /// comes from the reference's management-key-source= (default: the factory key, with a
    /// warning). See docs/hardware/yubikey.md.
    Generate(GenerateArgs),

    /// Print a public key and its key id, in Hallmark, OpenSSH, minisign, PEM or JWK form.
    ///
    /// file:PATH reads PATH.pub; pkcs11: lists the token's public key objects; yubikey: reads
    /// the slot's metadata; awskms: asks KMS (GetPublicKey). None of them asks for a PIN or
    /// passphrase — except a file key whose
    /// PATH.pub is lost (or empty): then the key is unlocked to derive it, so that
    /// `hallmark key show file:PATH > PATH.pub` restores the file. Every form this prints is
    /// accepted back wherever a public key is (--public-key, --next-public-key).
    Show(ShowArgs),

    /// Change a key file's passphrase, or re-encrypt it to age recipients.
    ///
    /// The key is unlocked with its current passphrase (--passphrase-file, --passphrase-env or
    /// the terminal) or age identities (--age-identity), then encrypted to the new passphrase
    /// (--new-passphrase-file, --new-passphrase-env, or asked twice on the terminal) or to age
    /// recipients (--recipient, --recipients-file). A new passphrase is proved to open the new
    /// file before the file is replaced, and the replacement is atomic: a crash or a full disk
    /// leaves the old file or the new one, never an unreadable key. The key itself, its .pub
    /// and every signature and identity that names it stay as they are.
    ///
    /// PINs of PKCS#11 tokens and YubiKeys are the device's: change them with its tools
    /// (`pkcs11-tool --change-pin`, `ykman piv access change-pin`).
    Passwd(PasswdArgs),

    /// Bring an existing key into Hallmark: a minisign secret key, an OpenSSH Ed25519 private
    /// key or a raw 32-byte seed.
    ///
    /// The format is recognised from the file. An encrypted key's passphrase comes from
    /// --passphrase-file, --passphrase-env or the terminal. --out says where the key goes:
    /// `file:PATH` (an age-encrypted key file as `key generate` writes, to a new passphrase —
    /// --new-passphrase-file, --new-passphrase-env, or asked twice — or to age recipients),
    /// `pkcs11:token=…;object=LABEL` (created in the token as a sensitive, non-extractable
    /// token object: its value can never be read back) or `yubikey:slot=SLOT` (PIV import,
    /// firmware 5.7 or later; --pin-policy, --touch-policy, --subject and --force as for
    /// `key generate`; an imported key has no attestation). A key imported from minisign keeps
    /// its minisign key id (in PATH.pub for a file key), so that its minisign signatures still
    /// verify with the original minisign public key. The original file is left as it is:
    /// delete it once the import is checked. --json prints {"reference", "public_key",
    /// "key_id", "format", "minisign_key_id"}.
    Import(ImportArgs),

    /// Write a file key's secret out, as a minisign secret key, an OpenSSH private key or a
    /// raw 32-byte seed.
    ///
    /// Only file keys can be exported: keys in PKCS#11 tokens, YubiKeys and AWS KMS never
    /// leave their device (exit code 5). The key is unlocked as for signing; the export is
    /// confirmed on the terminal (or with --yes, for scripts) and written to --out, a new
    /// file created with mode 0600 — never to the standard output. minisign and OpenSSH files
    /// are encrypted to a new passphrase (--new-passphrase-file, --new-passphrase-env, or
    /// asked twice) unless --no-passphrase; a raw seed is never encrypted. A key imported from
    /// minisign is exported with its minisign key id. `key import` reads every format back.
    Export(ExportArgs),

    /// List YubiKeys and PKCS#11 tokens, and the Ed25519 keys they hold, with a reference to
    /// copy for each key.
    ///
    /// Without arguments: every connected YubiKey (serial, firmware, whether it holds Ed25519
    /// keys, and its Ed25519 slots with their policies), and the tokens of $HALLMARK_PKCS11_MODULE
    /// if it is set. With modules or URIs: every slot of each module given — the token's label,
    /// model, serial and flags (login required, PIN count low, final try, locked), whether it
    /// offers Ed25519, and its Ed25519 keys — and YubiKeys only with --yubikeys. Public keys
    /// stored as private objects are only visible after a login: give a URI with pin-source=.
    /// `awskms:` (or `awskms:?region=REGION`) lists the aliases of that AWS region that name
    /// Ed25519 signing keys, with their public keys and whether Hallmark tagged them.
    /// --json prints {"pkcs11": [...], "yubikeys": [...], "awskms": [...]}. Listing needs no PIN.
    List(ListArgs),

    /// Export a YubiKey key's attestation and check it: proof that the key was generated on
    /// the device.
    ///
    /// Writes the per-key attestation certificate (attestation-SLOT.pem) and the device's F9
    /// certificate (f9.pem) into --out-dir (default: the current directory; existing files are
    /// never overwritten), then verifies them as `key verify-attestation` does — chained to
    /// Yubico's roots, and the attested key compared with the slot's key — and reports the
    /// firmware, serial, form factor, PIN policy and touch policy. Needs no PIN. Send the two
    /// files to whoever must check the key (a registry, co-maintainers). Exit 0 when the
    /// attestation holds, 1 when it does not, 4 for a device error.
    Attest(AttestArgs),

    /// Check a YubiKey attestation given as files: proof that a key was generated on a device.
    ///
    /// Chains the per-key attestation certificate to the device's F9 certificate and the F9
    /// certificate to Yubico's published roots (shipped with Hallmark), checking every
    /// signature; compares the attested key with --key when given; and reports the firmware,
    /// serial, slot, PIN policy and touch policy. Exit 0 when the attestation holds, 1 when it
    /// does not (the reason is printed), 2 when the files cannot be read. A registry checking
    /// a maintainer's enrolment needs only the two files.
    VerifyAttestation(VerifyAttestationArgs),
}

#[derive(Debug, Args)]
pub struct GenerateArgs {
    /// Where to create the key: file:PATH, pkcs11:token=…;object=LABEL (RFC 7512; the key
    /// is generated inside the token and never leaves it), yubikey:serial=…;slot=9c (inside
    /// a YubiKey PIV slot), or awskms:alias/NAME (in AWS KMS).
    #[arg(long, value_name = "REF")]
    pub out: String,

    #[command(flatten)]
    pub slot: YubiKeySlotArgs,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    /// Encrypt the key file to this age recipient (age1…) instead of a passphrase; repeat for
    /// several custodians, any one of whom can unlock it.
    #[arg(long = "recipient", value_name = "AGE_RECIPIENT")]
    pub recipients: Vec<String>,

    /// Read age recipients from a file, one per line (# comments allowed).
    #[arg(long, value_name = "PATH")]
    pub recipients_file: Option<PathBuf>,

    /// scrypt work factor (log2 N) for passphrase-protected files, 10 to 22. The default is
    /// age's choice of about one second of work. Lower values make a stolen key file cheaper to
    /// attack: keep the default for real keys.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,
}

/// PIN policies of YubiKey keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum PinPolicyArg {
    /// Never ask for the PIN: whoever holds the YubiKey can sign.
    Never,
    /// Once per session.
    Once,
    /// Before every signature.
    Always,
}

/// Touch policies of YubiKey keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum TouchPolicyArg {
    /// Never ask for a touch.
    Never,
    /// A touch for every signature.
    Always,
    /// One touch, then none for 15 seconds.
    Cached,
}

// Extra trust for hardware attestations, besides Yubico's roots (which are always trusted).
#[derive(Debug, Args, Default, Clone)]
pub struct AttestationTrustArgs {
    /// Also trust this attestation root certificate (PEM or DER), e.g. the root of a test
    /// device such as the virtual YubiKey. Real YubiKeys never need it: Yubico's roots ship
    /// with Hallmark. Repeatable.
    #[arg(long = "attestation-root", alias = "extra-root", value_name = "PEM")]
    pub roots: Vec<PathBuf>,

    /// Also accept chains through this intermediate certificate (PEM or DER); it must itself
    /// chain to a trusted root. Repeatable.
    #[arg(long = "attestation-intermediate", value_name = "PEM")]
    pub intermediates: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct AttestArgs {
    /// The YubiKey key: yubikey:serial=…;slot=9c.
    #[arg(value_name = "REF")]
    pub key: String,

    /// Where to write attestation-SLOT.pem and f9.pem (created if missing).
    #[arg(long, alias = "out", value_name = "DIR", default_value = ".")]
    pub out_dir: PathBuf,

    #[command(flatten)]
    pub trust: AttestationTrustArgs,
}

#[derive(Debug, Args)]
pub struct VerifyAttestationArgs {
    /// The device's attestation certificate (slot F9), PEM or DER.
    #[arg(long, value_name = "F9.pem")]
    pub device: PathBuf,

    /// The per-key attestation certificate the device issued, PEM or DER.
    #[arg(long, value_name = "ATTEST.pem")]
    pub key_cert: PathBuf,

    /// The key being enrolled, to compare with the attested key: ed25519:…, a key reference,
    /// or a .pub file.
    #[arg(long, value_name = "KEY")]
    pub key: Option<String>,

    #[command(flatten)]
    pub trust: AttestationTrustArgs,
}

#[derive(Debug, Args)]
pub struct ListArgs {
    /// A PKCS#11 module path, or a pkcs11: URI naming the module (module-path=, module-name=)
    /// and optionally a token and pin-source=; or awskms: / awskms:?region=REGION for the
    /// Ed25519 keys of an AWS region. Repeat for several.
    #[arg(value_name = "MODULE|URI")]
    pub modules: Vec<String>,

    /// List the connected YubiKeys too when modules are given (without modules they are always
    /// listed). Listing selects each YubiKey's PIV application, which ends a PIN session
    /// another program holds on it.
    #[arg(long)]
    pub yubikeys: bool,

    /// First remove what interrupted key generations left on the tokens given (each as a
    /// pkcs11: URI with token= and pin-source=): key pairs under a pending label, public keys
    /// without their private key; a public key left under the pending label beside its
    /// labelled private key gets its label instead.
    #[arg(long)]
    pub remove_orphans: bool,
}

#[derive(Debug, Args)]
pub struct ShowArgs {
    /// The key: file:PATH (read from PATH.pub, nothing is unlocked; when PATH.pub is lost, the
    /// key is unlocked to derive it), pkcs11:… (opened with the URI's pin-source), yubikey:…
    /// (read from the slot, no PIN), awskms:… (GetPublicKey), or a public key: ed25519:…, or a file in any form this
    /// command prints.
    #[arg(value_name = "REF")]
    pub key: String,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    /// The form to print: hallmark (ed25519:…), ssh (an OpenSSH public key line), minisign
    /// (a minisign public key file), pem (SubjectPublicKeyInfo) or jwk (RFC 8037).
    #[arg(long, value_enum, default_value_t = KeyShowFormat::Hallmark)]
    pub format: KeyShowFormat,

    /// ssh: the comment after the key. Default: the key reference, when REF is one (file paths
    /// made absolute), so that the line can serve as git's signing key file.
    #[arg(long, value_name = "TEXT")]
    pub comment: Option<String>,
}

#[derive(Debug, Args)]
pub struct PasswdArgs {
    /// The key file: file:PATH.
    #[arg(value_name = "REF")]
    pub key: String,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    #[command(flatten)]
    pub new: NewProtectionArgs,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// The key file to import: a minisign secret key, an OpenSSH private key, or a raw 32-byte
    /// seed.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,

    /// Where the key goes: file:PATH, pkcs11:token=…;object=LABEL, or yubikey:slot=SLOT.
    #[arg(long, value_name = "REF")]
    pub out: String,

    /// Read the imported file's passphrase from this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,

    /// Read the imported file's passphrase from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub passphrase_env: Option<String>,

    #[command(flatten)]
    pub new_protection: NewProtectionArgs,

    #[command(flatten)]
    pub slot: YubiKeySlotArgs,

    /// Send the token's or YubiKey's PIN even when the next wrong PIN locks it.
    #[arg(long)]
    pub allow_final_pin_try: bool,
}

// How a key made in a YubiKey slot (generated or imported) is kept.
#[derive(Debug, Args, Default, Clone)]
pub struct YubiKeySlotArgs {
    /// yubikey: when the YubiKey asks for the PIN before signing: never, once (per session:
    /// one PIN per `hallmark sign` run) or always (before every signature). Default: once.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub pin_policy: Option<PinPolicyArg>,

    /// yubikey: when the YubiKey wants a touch before signing: never, always (every
    /// signature) or cached (once per 15 seconds). Default: always.
    #[arg(long, value_enum, value_name = "POLICY")]
    pub touch_policy: Option<TouchPolicyArg>,

    /// yubikey: the subject of the slot's self-signed certificate, e.g. "CN=Release key".
    /// Default: CN=Hallmark signing key (YubiKey SERIAL slot SLOT).
    #[arg(long, value_name = "DN")]
    pub subject: Option<String>,

    /// yubikey: replace a key already in the slot. The old key is destroyed and cannot be
    /// recovered: make sure nothing (no identity, no pin) still depends on it.
    #[arg(long)]
    pub force: bool,
}

// A new key file's protection: a new passphrase, or age recipients.
#[derive(Debug, Args, Default, Clone)]
pub struct NewProtectionArgs {
    /// Read the new passphrase from this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH", conflicts_with = "new_passphrase_env")]
    pub new_passphrase_file: Option<PathBuf>,

    /// Read the new passphrase from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub new_passphrase_env: Option<String>,

    /// Encrypt the key file to this age recipient (age1…) instead of a passphrase; repeat for
    /// several custodians, any one of whom can unlock it.
    #[arg(long = "recipient", value_name = "AGE_RECIPIENT", conflicts_with_all = ["new_passphrase_file", "new_passphrase_env"])]
    pub recipients: Vec<String>,

    /// Read age recipients from a file, one per line (# comments allowed).
    #[arg(long, value_name = "PATH", conflicts_with_all = ["new_passphrase_file", "new_passphrase_env"])]
    pub recipients_file: Option<PathBuf>,

    /// scrypt work factor (log2 N) for the new passphrase, 10 to 22. The default is age's
    /// choice of about one second of work.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    /// The key file: file:PATH.
    #[arg(value_name = "REF")]
    pub key: String,

    /// The format to write.
    #[arg(long, value_enum)]
    pub format: ExportFormat,

    /// The file to write (new; mode 0600).
    #[arg(long, value_name = "PATH")]
    pub out: PathBuf,

    /// Do not ask for confirmation (for scripts).
    #[arg(long)]
    pub yes: bool,

    /// Write the minisign or OpenSSH file unencrypted.
    #[arg(long, conflicts_with_all = ["new_passphrase_file", "new_passphrase_env"])]
    pub no_passphrase: bool,

    /// Read the exported file's passphrase from this file.
    #[arg(long, value_name = "PATH", conflicts_with = "new_passphrase_env")]
    pub new_passphrase_file: Option<PathBuf>,

    /// Read the exported file's passphrase from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub new_passphrase_env: Option<String>,

    /// minisign: scrypt work factor (log2 N), 10 to 22; default 20, minisign's own.
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,

    /// openssh: the key's comment. Default: the key reference.
    #[arg(long)]
    pub comment: Option<String>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,
}

/// Formats `hallmark key export` writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// A minisign secret key (`minisign -s FILE`).
    Minisign,
    /// An OpenSSH private key (`ssh-keygen -y -f FILE`).
    Openssh,
    /// The raw 32-byte seed (RFC 8032).
    Raw,
}

/// Public key forms `hallmark key show` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KeyShowFormat {
    /// ed25519:BASE64, and the key id.
    Hallmark,
    /// ssh-ed25519 AAAA… comment.
    Ssh,
    /// A minisign public key file (the key id is derived from the Hallmark key id).
    Minisign,
    /// -----BEGIN PUBLIC KEY----- (RFC 8410).
    Pem,
    /// {"kty":"OKP","crv":"Ed25519","x":…} (RFC 8037).
    Jwk,
}

// The arguments git (and people used to ssh-keygen) give: `-Y sign -n NS -f KEYFILE [-U]
// FILE…`, `-Y verify -n NS -f ALLOWED -I ID -s SIG`, `-Y find-principals -f ALLOWED -s SIG`,
// `-Y check-novalidate -n NS -s SIG`.
#[derive(Debug, Args)]
pub struct SshKeygenArgs {
    /// The operation: sign, verify, find-principals or check-novalidate.
    #[arg(short = 'Y', value_name = "OP")]
    pub op: String,

    /// The namespace.
    #[arg(short = 'n', value_name = "NS")]
    pub namespace: Option<String>,

    /// sign: the key file (a key reference, or an OpenSSH line whose comment is one); verify,
    /// find-principals: the allowed-signers file.
    #[arg(short = 'f', value_name = "FILE")]
    pub file: Option<PathBuf>,

    /// verify: the principal.
    #[arg(short = 'I', value_name = "ID")]
    pub principal: Option<String>,

    /// verify, find-principals, check-novalidate: the signature file.
    #[arg(short = 's', value_name = "SIG")]
    pub signature: Option<PathBuf>,

    /// Options: hashalg=sha256|sha512 (sign), verify-time=TIME (verify, find-principals).
    #[arg(short = 'O', value_name = "OPTION")]
    pub options: Vec<String>,

    /// sign: the key file holds a public key given literally (git passes this for
    /// `user.signingkey = key::…`); handled like any key file.
    #[arg(short = 'U')]
    pub literal_key: bool,

    /// verify: a revocation list of public keys, one per line (binary KRLs are refused).
    #[arg(short = 'r', value_name = "FILE")]
    pub revoked: Option<PathBuf>,

    /// Read a key file's passphrase from this file.
    #[arg(
        long,
        value_name = "PATH",
        env = "HALLMARK_PASSPHRASE_FILE",
        hide_env_values = true
    )]
    pub passphrase_file: Option<PathBuf>,

    /// Read a key file's passphrase from the environment variable this names.
    #[arg(long, value_name = "NAME", env = "HALLMARK_PASSPHRASE_ENV")]
    pub passphrase_env: Option<String>,

    /// sign: the files to sign (FILE.sig is written beside each; none: standard input to
    /// standard output).
    #[arg(value_name = "FILE")]
    pub files: Vec<PathBuf>,
}

// How keys are unlocked. A file key's passphrase is asked on the terminal unless a flag names
// a file or variable; a token PIN comes from the key reference's `pin-source=` or a prompt.
#[derive(Debug, Args, Default, Clone)]
pub struct UnlockArgs {
    /// Read the file key's passphrase from this file (one trailing newline is ignored).
    #[arg(long, value_name = "PATH", conflicts_with = "passphrase_env")]
    pub passphrase_file: Option<PathBuf>,

    /// Read the file key's passphrase from this environment variable.
    #[arg(long, value_name = "NAME")]
    pub passphrase_env: Option<String>,

    /// Unlock key files encrypted to age recipients with the identities in this file
    /// (AGE-SECRET-KEY-1…); repeatable.
    #[arg(long = "age-identity", value_name = "PATH")]
    pub age_identities: Vec<PathBuf>,

    /// Send the PIN even when the token or YubiKey says the next wrong PIN locks it. Without
    /// this flag Hallmark refuses to spend the last PIN try (nothing is sent).
    #[arg(long)]
    pub allow_final_pin_try: bool,
}

#[derive(Debug, Args)]
pub struct HashArgs {
    /// Files or directories.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct SignArgs {
    /// The signing key (file:, pkcs11:, yubikey: or awskms: reference). Repeat to have several keys
    /// co-sign every statement, e.g. for an M-of-N identity.
    #[arg(long = "key", required = true, value_name = "REF")]
    pub keys: Vec<String>,

    /// The package name, reverse-domain (e.g. org.acme.database-tool). Required for the
    /// hallmark format.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,

    /// The version being released (e.g. 1.2.0). Required for the hallmark format.
    #[arg(long, value_name = "VERSION")]
    pub version: Option<String>,

    /// Sign in the name of this identity: its key event log file (e.g. org.example.kel, from
    /// `hallmark ceremony init`). The keys must be the identity's current keys, at least its
    /// threshold of them, and the name must be in its namespaces. The bundle carries the log so
    /// that verification works offline. Without it, the statement names the bare key.
    #[arg(long, value_name = "KEL")]
    pub identity: Option<PathBuf>,

    /// Carry another identity's key event log in every bundle (repeatable): after a transfer,
    /// the giver's log with its transfer event, so verifiers who pinned the giver can follow
    /// the transfer offline.
    #[arg(long, value_name = "KEL", requires = "identity")]
    pub related: Vec<PathBuf>,

    /// Replace existing bundles.
    #[arg(long)]
    pub force: bool,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    /// Artifacts: files or directory trees.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub peer: PeerSignArgs,
}

/// Signature formats `hallmark sign` writes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum SignFormat {
    /// A Hallmark bundle, PATH.hallmark.json.
    #[default]
    Hallmark,
    /// A minisign signature, FILE.minisig (prehashed, verifiable with `minisign -V`).
    Minisign,
    /// An SSH signature, FILE.sig (verifiable with `ssh-keygen -Y verify`).
    Ssh,
}

// Options of the peer formats.
#[derive(Debug, Args)]
pub struct PeerSignArgs {
    /// The signature format: hallmark (a bundle), minisign (FILE.minisig) or ssh (FILE.sig).
    #[arg(long, value_enum, default_value_t = SignFormat::Hallmark)]
    pub format: SignFormat,

    /// minisign: the trusted (signed) comment. Default, as minisign's:
    /// "timestamp:UNIX_TIME\\tfile:FILE_NAME\\thashed".
    #[arg(long, value_name = "TEXT")]
    pub trusted_comment: Option<String>,

    /// minisign: the untrusted comment line. Default: "signature from hallmark key KEY_ID".
    #[arg(long, value_name = "TEXT")]
    pub untrusted_comment: Option<String>,

    /// ssh: the namespace the signature is for, e.g. "file" or "git". Required for --format ssh.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,

    /// ssh: the hash applied to the file.
    #[arg(long, value_enum, default_value_t = SshHash::Sha512)]
    pub hash: SshHash,
}

/// The hash of an SSH signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SshHash {
    /// SHA-512 (ssh-keygen's default).
    Sha512,
    /// SHA-256.
    Sha256,
}

/// Signature formats `hallmark verify` reads.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, ValueEnum)]
pub enum VerifyFormat {
    /// Hallmark bundles, PATH.hallmark.json.
    #[default]
    Hallmark,
    /// minisign signatures, FILE.minisig.
    Minisign,
    /// SSH signatures, FILE.sig.
    Ssh,
}

// Options of the peer formats for `hallmark verify`.
#[derive(Debug, Args)]
pub struct PeerVerifyArgs {
    /// The signature format: hallmark (bundles), minisign (FILE.minisig) or ssh (FILE.sig).
    #[arg(long, value_enum, default_value_t = VerifyFormat::Hallmark)]
    pub format: VerifyFormat,

    /// minisign, ssh: the signature file, when verifying a single file whose signature is not
    /// beside it.
    #[arg(long, value_name = "PATH")]
    pub signature: Option<PathBuf>,

    /// ssh: the namespace the signature must be for. Required for --format ssh.
    #[arg(long, short = 'n', value_name = "NS")]
    pub namespace: Option<String>,

    /// ssh: an OpenSSH allowed-signers file naming the keys allowed to sign (instead of, or
    /// besides, --public-key).
    #[arg(long, value_name = "PATH")]
    pub allowed_signers: Option<PathBuf>,

    /// ssh: with --allowed-signers, the principal the signer must be allowed to sign as.
    #[arg(long, value_name = "ID", requires = "allowed_signers")]
    pub principal: Option<String>,
}

#[derive(Debug, Args)]
// What to verify against is required, but checked by the command: $HALLMARK_KEYRING stands in
// for --keyring only when nothing else is given (clap's `env` would make it conflict with an
// explicit --public-key), so the flags that need a keyring are checked there too.
pub struct VerifyArgs {
    /// The public key expected to have signed: `ed25519:…`, an OpenSSH line or a minisign
    /// key (`RW…`), a key reference (file:PATH reads PATH.pub), or a file holding a key in any
    /// form `key show` prints (.pub, minisign .pub, PEM, JWK). Repeat to accept any of several
    /// keys.
    #[arg(long = "public-key", value_name = "KEY")]
    pub public_keys: Vec<String>,

    /// Verify against the pins and policy of this trust store (a directory; see `hallmark
    /// keyring`; default: $HALLMARK_KEYRING when no other key source is given). Every verdict
    /// is recorded in its audit log, the content of each release trusted for the first time in
    /// its release index, and longer key event logs of trusted identities seen in bundles are
    /// stored (never from a refused bundle); pins are never changed (except by
    /// --trust-on-first-use). A store that cannot be written (a read-only checkout or mount) is
    /// verified against without recording, and a note says so.
    #[arg(long, value_name = "DIR", conflicts_with_all = ["public_keys", "identity"])]
    pub keyring: Option<PathBuf>,

    /// Verify against this identity (its key event log file), for every namespace it holds,
    /// without a trust store.
    #[arg(long, value_name = "KEL", conflicts_with = "public_keys")]
    pub identity: Option<PathBuf>,

    /// With --keyring: a package no pin covers is pinned to the identity that signed it (for
    /// the namespace that identity claims) and recorded, instead of failing as
    /// unknown-publisher. Look-alike names of pinned namespaces are never pinned this way.
    #[arg(long)]
    pub trust_on_first_use: bool,

    /// With --keyring: do not write to the trust store (no audit entries, no stored logs).
    #[arg(long)]
    pub no_record: bool,

    /// With --keyring: fail (exit 2) when the verdicts cannot be recorded, instead of
    /// verifying without recording.
    #[arg(long, conflicts_with = "no_record")]
    pub record: bool,

    /// The bundle to use, when verifying a single artifact whose bundle is not beside it.
    #[arg(long, value_name = "PATH")]
    pub bundle: Option<PathBuf>,

    /// The release the artifact must be, as NAME@VERSION: a bundle for any other release (an
    /// older version served under a newer file name, another package) is refused with
    /// `rejected: digest-mismatch`. Give it once for every PATH, or once per PATH in order.
    #[arg(long = "expect", value_name = "NAME@VERSION")]
    pub expect: Vec<String>,

    /// For test devices only (hidden from --help): also trust this attestation root (PEM or
    /// DER) when a pin requires hardware attestation. Real YubiKeys chain to Yubico's roots,
    /// which ship with Hallmark and are always trusted; nothing else is, unless named here.
    /// See docs/verifying.md.
    #[arg(long = "attestation-root", value_name = "PEM", hide = true)]
    pub attestation_roots: Vec<PathBuf>,

    /// For test devices only (hidden): an intermediate between --attestation-root and the
    /// devices' F9 certificates.
    #[arg(long = "attestation-intermediate", value_name = "PEM", hide = true)]
    pub attestation_intermediates: Vec<PathBuf>,

    /// Artifacts: files or directory trees, each with its PATH.hallmark.json.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,

    #[command(flatten)]
    pub peer: PeerVerifyArgs,
}

// The trust store directory, for every `hallmark keyring` command.
#[derive(Debug, Args, Clone)]
pub struct KeyringDir {
    /// The trust store (a directory, created by the first pin).
    #[arg(long, value_name = "DIR", env = "HALLMARK_KEYRING")]
    pub keyring: PathBuf,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum KeyringCommand {
    /// Pin a namespace to an identity: releases under it must be signed by that identity, or
    /// by keys and identities it linked through rotations and transfers.
    ///
    /// The identity's key event log is stored in the trust store. The identity must hold the
    /// namespace. A namespace pinned to another identity is refused (remove the old pin with
    /// `hallmark keyring unpin` first); the most specific pin covering a package wins.
    Pin(PinArgs),

    /// Pin a registry under a name, so that pins can require its receipts.
    PinRegistry(PinRegistryArgs),

    /// Fetch a pinned registry's latest checkpoint, prove it consistent with the one the
    /// store holds, and extend the stored key event logs with the key events logged since.
    ///
    /// The checkpoint must be signed by the registry's current keys (its key event log is
    /// fetched too, and must extend the pinned one). A checkpoint inconsistent with the held
    /// one is `rejected: equivocation` (exit 1), both kept as evidence under
    /// registries/NAME.equivocation/ in the store.
    Refresh(RefreshArgs),

    /// Remove a pin.
    Unpin {
        /// The pinned namespace.
        #[arg(value_name = "NAMESPACE")]
        namespace: String,
        #[command(flatten)]
        dir: KeyringDir,
    },

    /// Store newer key event logs of pinned identities (after a rotation, transfer or
    /// revocation). A log that does not extend the stored one — shorter (rollback) or
    /// different at some position (equivocation) — is refused, and the refusal is recorded.
    Import {
        /// Key event log files.
        #[arg(required = true, value_name = "KEL")]
        paths: Vec<PathBuf>,
        #[command(flatten)]
        dir: KeyringDir,
    },

    /// Show pins, pinned registries and stored key event logs.
    Show {
        #[command(flatten)]
        dir: KeyringDir,
    },

    /// Print the audit log, or verify its hash chain.
    Log {
        /// Verify the chain: any edited, removed or reordered entry is reported with its
        /// position (exit 1).
        #[arg(long)]
        verify: bool,
        /// With --verify: also require the log to end at this entry digest (kept from an
        /// earlier `keyring log --verify`), which catches entries removed from the end.
        #[arg(long, value_name = "DIGEST", requires = "verify")]
        expect_head: Option<String>,
        #[command(flatten)]
        dir: KeyringDir,
    },
}

#[derive(Debug, Args)]
pub struct PinArgs {
    /// The namespace (e.g. org.example) or single package name to pin.
    #[arg(value_name = "NAMESPACE")]
    pub namespace: String,

    /// The identity's key event log file (e.g. org.example.kel).
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// Require a receipt from this pinned registry on every release (repeatable).
    #[arg(long, value_name = "REGISTRY")]
    pub require_receipt: Vec<String>,

    /// Require a hardware attestation of every signing key.
    #[arg(long)]
    pub require_attestation: bool,

    #[command(flatten)]
    pub dir: KeyringDir,
}

#[derive(Debug, Args)]
pub struct PinRegistryArgs {
    /// The name pins use to refer to the registry (e.g. main).
    #[arg(value_name = "NAME")]
    pub name: String,

    /// The registry's key event log (registry.kel in the registry's directory).
    #[arg(long, value_name = "KEL")]
    pub identity: PathBuf,

    /// Where the registry's log is served: its directory, or the http(s) URL of it; recorded
    /// for `hallmark keyring refresh`.
    #[arg(long, value_name = "DIR|URL")]
    pub location: Option<String>,

    /// Refuse to verify anything (`rejected: stale`) unless the store verified a checkpoint
    /// fetched from this registry within this time (`90m`, `24h`, `7d`): a store that stops
    /// refreshing fails closed instead of trusting what it knew before a compromise.
    #[arg(long, value_name = "AGE")]
    pub max_age: Option<String>,

    /// Require the registry's checkpoints to be cosigned by this witness (its cosignature
    /// verifier key, as `hallmark witness vkey` prints it); repeatable. Receipts and refreshed
    /// checkpoints without enough valid cosignatures are refused (`rejected: unwitnessed`).
    #[arg(long = "witness", value_name = "VKEY")]
    pub witnesses: Vec<String>,

    /// How many of the --witness keys must have cosigned (needed with more than one).
    #[arg(long, value_name = "K", requires = "witnesses")]
    pub witness_threshold: Option<u64>,

    #[command(flatten)]
    pub dir: KeyringDir,
}

#[derive(Debug, Args)]
pub struct RefreshArgs {
    /// The pinned registry to refresh (default: the only one pinned).
    #[arg(value_name = "NAME")]
    pub name: Option<String>,

    /// Where the registry's log is served: its directory or http(s) URL (default: the
    /// location recorded at pin-registry; given, it is recorded).
    #[arg(long, value_name = "DIR|URL")]
    pub registry: Option<String>,

    #[command(flatten)]
    pub dir: KeyringDir,
}

// The registry directory, for every `hallmark registry` command.
#[derive(Debug, Args, Clone)]
pub struct RegistryDir {
    /// The registry's directory.
    #[arg(long, value_name = "DIR", env = "HALLMARK_REGISTRY")]
    pub registry: PathBuf,
}

#[derive(Debug, Subcommand)]
#[command(defer = true)]
pub enum RegistryCommand {
    /// Create a registry: its identity (inception naming --key, committing to --next-key),
    /// its key event log (DIR/registry.kel, for consumers to pin) and its log.
    Init(RegistryInitArgs),

    /// Check submissions and countersign the ones that pass.
    ///
    /// Each PATH is a bundle (PATH.hallmark.json), an artifact whose bundle is beside it, or a
    /// key event log (*.kel: rotations, transfers, acceptances, revocations). Checks: the
    /// signature at the statement's position; the key event log extends what the registry
    /// holds (no fork, no rollback); the namespace belongs to the identity or was transferred
    /// to it; the version was never published with other content; the name is not within two
    /// edits of another publisher's. Accepted submissions are appended to the log (one flush
    /// for the whole run) and a receipt is written into each bundle (for a key event log, into
    /// PATH.receipts.json). Exit 1 if any submission is refused.
    Accept(RegistryAcceptArgs),

    /// Re-issue the receipts of accepted bundles from the log and write them into the bundles.
    Receipt(RegistryReceiptArgs),

    /// Verify a registry log: chain, signatures, key event logs and statements. Any edited,
    /// removed or reordered entry is reported with its position (exit 1).
    VerifyLog(RegistryVerifyLogArgs),

    /// Mark a published version as yanked. It stays in the log and is never re-used.
    Yank(RegistryYankArgs),

    /// Rebuild the registry's state database (state.db) and the tiles of its published
    /// checkpoint from its log, e.g. after they were lost or damaged. Opening a registry
    /// rebuilds the database by itself when it is missing.
    RebuildState {
        #[command(flatten)]
        dir: RegistryDir,
    },

    /// Submit every new checkpoint to a witness (c2sp.org/tlog-witness) for its cosignature.
    ///
    /// From the next accept run on, each checkpoint is sent to every configured witness with
    /// a consistency proof; the cosignatures that verify are published in the checkpoint and
    /// so reach every receipt proved against it. A witness that is down or refuses does not
    /// stop publishing; the accept run says which witnesses cosigned.
    AddWitness(RegistryAddWitnessArgs),
}

#[derive(Debug, Args)]
pub struct RegistryAddWitnessArgs {
    /// The witness's cosignature verifier key (`hallmark witness vkey` prints it).
    #[arg(long, value_name = "VKEY")]
    pub vkey: String,

    /// The witness's submission URL prefix (the request goes to URL/add-checkpoint).
    #[arg(long, value_name = "URL")]
    pub url: String,

    #[command(flatten)]
    pub dir: RegistryDir,
}

#[derive(Debug, Args)]
pub struct RegistryInitArgs {
    /// The registry's signing key (file:, pkcs11:, yubikey: or awskms: reference).
    #[arg(long, value_name = "REF")]
    pub key: String,

    /// The key its first rotation will reveal (only its public key is read).
    #[arg(long, value_name = "REF")]
    pub next_key: String,

    /// The namespace the registry's identity claims.
    #[arg(long, value_name = "NAMESPACE", default_value = "local.registry")]
    pub namespace: String,

    /// The origin of the registry's transparency log: the first line of its checkpoints and
    /// the name of their signing key, a URL without scheme where the log is served
    /// (default: hallmark.dev/registry/IDENTITY-HEX).
    #[arg(long, value_name = "ORIGIN")]
    pub origin: Option<String>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    #[command(flatten)]
    pub dir: RegistryDir,
}

#[derive(Debug, Args)]
pub struct RegistryAcceptArgs {
    /// Accept names within two edits of another publisher's name, or in a namespace within
    /// two edits of another publisher's namespace, recording this reason in the log.
    #[arg(long, value_name = "REASON")]
    pub allow_similar: Option<String>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    #[command(flatten)]
    pub dir: RegistryDir,

    /// Bundles, artifacts or key event logs.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RegistryReceiptArgs {
    /// Re-issue receipts for releases the registry has yanked too (refused without it: a
    /// receipt proves acceptance and says nothing of the yank).
    #[arg(long)]
    pub include_yanked: bool,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    #[command(flatten)]
    pub dir: RegistryDir,

    /// Bundles or artifacts.
    #[arg(required = true, value_name = "PATH")]
    pub paths: Vec<PathBuf>,
}

#[derive(Debug, Args)]
// One source or the other; $HALLMARK_REGISTRY stands in for --registry when neither is given
// (checked by the command).
#[command(group(clap::ArgGroup::new("source").args(["registry", "log"])))]
pub struct RegistryVerifyLogArgs {
    /// The registry's directory (default: $HALLMARK_REGISTRY).
    #[arg(long, value_name = "DIR")]
    pub registry: Option<PathBuf>,

    /// A copy of a registry's log (log.jsonl).
    #[arg(long, value_name = "FILE")]
    pub log: Option<PathBuf>,

    /// Require the log to be that of this registry identity (hid:…).
    #[arg(long, value_name = "IDENTITY")]
    pub expect_identity: Option<String>,

    /// Require the log to end at this entry digest, which catches entries removed from the end.
    #[arg(long, value_name = "DIGEST")]
    pub expect_head: Option<String>,
}

#[derive(Debug, Args)]
pub struct RegistryYankArgs {
    /// The release: NAME@VERSION.
    #[arg(value_name = "NAME@VERSION")]
    pub release: String,

    /// Why (recorded in the log).
    #[arg(long, value_name = "TEXT")]
    pub reason: String,

    #[command(flatten)]
    pub passphrase: UnlockArgs,

    #[command(flatten)]
    pub dir: RegistryDir,
}

#[derive(Debug, Args)]
pub struct QuickstartArgs {
    /// Work in this directory (created if missing) instead of a temporary one, and keep it.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,

    /// scrypt work factor (log2 N, 10 to 22) for the tour's throwaway key files; by default
    /// 10, about a millisecond per unlock, so that the tour runs in seconds (real keys keep
    /// age's default of about one second).
    #[arg(long, value_name = "LOG_N")]
    pub work_factor: Option<u8>,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn definitions_are_consistent() {
        super::Cli::command().debug_assert();
    }

    /// Every subcommand with what its parent's help says of it (about, long about).
    fn descriptions(
        command: &clap::Command,
        path: &str,
        out: &mut std::collections::BTreeMap<String, (String, String)>,
    ) {
        for sub in command.get_subcommands() {
            let path = format!("{path} {}", sub.get_name());
            let text = |s: Option<&clap::builder::StyledStr>| s.map(|s| s.to_string());
            out.insert(
                path.clone(),
                (
                    text(sub.get_about()).unwrap_or_default(),
                    text(sub.get_long_about()).unwrap_or_default(),
                ),
            );
            descriptions(sub, &path, out);
        }
    }

    /// Subcommands build their arguments only when chosen, and building one must not change its
    /// description: a doc comment on an `Args` struct would replace the variant's.
    #[test]
    fn building_a_subcommand_keeps_its_description() {
        let mut before = std::collections::BTreeMap::new();
        descriptions(&super::Cli::command(), "hallmark", &mut before);
        let mut built = super::Cli::command();
        built.build();
        let mut after = std::collections::BTreeMap::new();
        descriptions(&built, "hallmark", &mut after);
        assert!(before.contains_key("hallmark sign"), "{before:?}");
        for (path, description) in &before {
            assert_eq!(after.get(path), Some(description), "{path}");
        }
    }
}

#[derive(Debug, Args)]
pub struct MonitorArgs {
    /// A registry to follow: its directory or http(s) URL; repeatable.
    #[arg(long = "registry", value_name = "DIR|URL", required = true)]
    pub registries: Vec<String>,

    /// Watch the namespaces pinned in this trust store (their pinned identities are their
    /// holders).
    #[arg(long, value_name = "DIR")]
    pub keyring: Option<PathBuf>,

    /// Watch this namespace (its first claimant in the log is taken as its holder);
    /// repeatable.
    #[arg(long = "watch", value_name = "NAMESPACE")]
    pub watches: Vec<String>,

    /// Where the monitor keeps its position and evidence.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,

    /// Time between polls (`1s`, `30s`, `5m`).
    #[arg(long, value_name = "AGE", default_value = "60s")]
    pub interval: String,

    /// Poll each registry once, deliver the alerts, and exit.
    #[arg(long)]
    pub once: bool,

    /// Run this shell command for each alert, with the alert as one JSON line on its standard
    /// input (and HALLMARK_ALERT_KIND, HALLMARK_ALERT_ID in its environment). An alert whose
    /// command fails is kept and retried at the next poll.
    #[arg(long, value_name = "CMD")]
    pub exec: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum WitnessCommand {
    /// Serve the witness until stopped: one line per request on standard output.
    Serve(WitnessServeArgs),

    /// Print the witness's cosignature verifier key, for logs and consumers to configure.
    Vkey(WitnessVkeyArgs),
}

#[derive(Debug, Args)]
pub struct WitnessServeArgs {
    /// The witness's configuration file (JSON; see docs/monitoring.md).
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,

    /// Listen here instead of the configuration's address (e.g. 127.0.0.1:0 for any free
    /// port; the address is printed first).
    #[arg(long, value_name = "ADDR")]
    pub listen: Option<std::net::SocketAddr>,

    #[command(flatten)]
    pub passphrase: UnlockArgs,
}

#[derive(Debug, Args)]
pub struct WitnessVkeyArgs {
    /// The witness's configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: PathBuf,
}
