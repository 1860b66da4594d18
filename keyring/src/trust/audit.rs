//! The consumer's audit log: every pin, import, refusal and verdict, hash-chained.
//!
//! The log is `audit.log` in the trust store, in the format of [`crate::hashlog`]; entries are
//! unsigned (a consumer need not hold a key), so their integrity rests on the chain: an edited,
//! removed or reordered entry breaks it at a position `hallmark keyring log --verify` names.
//! Removing entries from the end leaves a valid shorter chain; compare the head with one kept
//! elsewhere (`--expect-head`) — or with the trust store's history in version control — to
//! catch that.
//!
//! Each entry's `record` is one of (field `kind`):
//!
//! | kind | fields | attached |
//! | --- | --- | --- |
//! | `pin` | `namespace`, `identity`, `pinned_at`, \[`policy`\], `source` | |
//! | `unpin` | `namespace`, `identity` | |
//! | `pin-registry` | `name`, `identity` | |
//! | `kel-extended` | `identity`, `from`, `to`, `head`, `via` | |
//! | `kel-recovered` | `identity`, `at`, `rotation`, `head`, `via`, `superseded` | the superseded events |
//! | `kel-refused` | `identity`, `reason`, `detail`, \[`evidence`\] | the two events of a fork |
//! | `verdict` | `release`, `statement`, `content`, \[`identity`\], `verdict`, `message`, \[`evidence`\], \[`recorded`\] | the two events of a fork |
//! | `checkpoint` | `registry`, `origin`, `from`, `to`, `root`, `consistent` | |
//! | `checkpoint-refused` | `registry`, `reason`, `detail`, \[`evidence`\] | |
//!
//! `hallmark keyring refresh` writes a `checkpoint` record when the checkpoint the store holds
//! for a registry changes (`consistent: true`: proved consistent with the one held before;
//! `false`: the store held none), `kel-extended` / `kel-recovered` records with `via: refresh`
//! for the key event logs the registry's new entries extend, and a `checkpoint-refused` record
//! when it refuses a checkpoint (`equivocation`, `unwitnessed`, `rollback` for an older tree,
//! `other-log` for another origin). Its `evidence` holds the digests of the signed checkpoints
//! kept in `registries/<name>.equivocation/` (the held one, then the offered one), which are
//! files beside the log rather than attachments.
//!
//! `recorded: true` marks the first trusted verdict for a `name@version`: the one that put its
//! content digest into the release index (`releases/<name>.json`, see [`super::releases`]).

use serde::{Deserialize, Serialize};

use crate::digest::ContentDigest;
use crate::hashlog::Record;
use crate::ids::{IdentityId, Sha256Digest};
use crate::statement::Namespace;
use crate::trust::pins::{PinSource, Policy};

/// What an audit entry records.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "kebab-case", deny_unknown_fields)]
#[non_exhaustive]
pub enum AuditRecord {
    /// A pin was made (or its policy changed).
    Pin {
        /// The namespace.
        namespace: Namespace,
        /// The identity.
        identity: IdentityId,
        /// The log position the pin was made at.
        pinned_at: u64,
        /// Its policy.
        #[serde(default, skip_serializing_if = "Policy::is_default")]
        policy: Policy,
        /// Manual or trust-on-first-use.
        source: PinSource,
    },
    /// A pin was removed.
    Unpin {
        /// The namespace.
        namespace: Namespace,
        /// The identity it was pinned to.
        identity: IdentityId,
    },
    /// A registry was pinned.
    PinRegistry {
        /// The registry's name.
        name: String,
        /// Its identity.
        identity: IdentityId,
    },
    /// A stored key event log was replaced by a longer one that extends it.
    KelExtended {
        /// The identity.
        identity: IdentityId,
        /// Events before.
        from: u64,
        /// Events after.
        to: u64,
        /// Digest of the newest event.
        head: Sha256Digest,
        /// `import`, `pin`, `pin-registry`, `verify` or `refresh`.
        via: String,
    },
    /// A stored key event log was replaced by one that recovers it: from position `at`, the
    /// stored log held only events signed by the current keys, which the rotation at
    /// `rotation`, signed by the pre-committed next keys, supersedes.
    KelRecovered {
        /// The identity.
        identity: IdentityId,
        /// The first position where the logs differ.
        at: u64,
        /// Position of the superseding rotation.
        rotation: u64,
        /// Digest of the newest event of the log now stored.
        head: Sha256Digest,
        /// `import`, `pin`, `pin-registry`, `verify` or `refresh`.
        via: String,
        /// Digests of the superseded events (attached: the evidence).
        superseded: Vec<Sha256Digest>,
    },
    /// A key event log was refused: shorter than, or forked from, the stored one.
    KelRefused {
        /// The identity.
        identity: IdentityId,
        /// `rollback`, `equivocation` or `invalid`.
        reason: String,
        /// What exactly.
        detail: String,
        /// Digests of the attached evidence (for a fork: the stored event, then the other).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Sha256Digest>,
    },
    /// A verdict was given.
    Verdict {
        /// `name@version`.
        release: String,
        /// Digest of the statement payload.
        statement: Sha256Digest,
        /// The content digest the statement signs.
        content: ContentDigest,
        /// The signing identity, if any.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        identity: Option<IdentityId>,
        /// The verdict (`trusted`, `rejected: revoked`, …).
        verdict: String,
        /// Its message.
        message: String,
        /// Digests of attached evidence.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Sha256Digest>,
        /// Whether this verdict recorded the release's content in the release index.
        #[serde(default, skip_serializing_if = "is_false")]
        recorded: bool,
    },
    /// The checkpoint a store holds for a pinned registry changed: a refresh verified a newer
    /// one.
    Checkpoint {
        /// The registry's name.
        registry: String,
        /// The log's origin (the checkpoint's first line).
        origin: String,
        /// Entries in the tree held before (0 if none was held).
        from: u64,
        /// Entries in the tree now held.
        to: u64,
        /// Its root hash, base64 as in the checkpoint.
        root: String,
        /// Whether it was proved consistent with the one held before (`false`: none was held).
        consistent: bool,
    },
    /// A checkpoint a registry served was refused; the held one was kept.
    CheckpointRefused {
        /// The registry's name.
        registry: String,
        /// `equivocation`, `unwitnessed`, `rollback` or `other-log`.
        reason: String,
        /// What exactly.
        detail: String,
        /// Digests of the evidence files kept beside the store's checkpoint (the held
        /// checkpoint, then the offered one).
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        evidence: Vec<Sha256Digest>,
    },
}

fn is_false(b: &bool) -> bool {
    !*b
}

impl Record for AuditRecord {
    fn attached_digests(&self) -> Vec<Sha256Digest> {
        match self {
            AuditRecord::KelRefused { evidence, .. } | AuditRecord::Verdict { evidence, .. } => {
                evidence.clone()
            }
            AuditRecord::KelRecovered { superseded, .. } => superseded.clone(),
            _ => Vec::new(),
        }
    }
}

impl AuditRecord {
    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            AuditRecord::Pin {
                namespace,
                identity,
                pinned_at,
                policy,
                source,
            } => format!(
                "pin {namespace} -> {identity} at event #{pinned_at} ({source}; policy: {policy})"
            ),
            AuditRecord::Unpin {
                namespace,
                identity,
            } => format!("unpin {namespace} (was {identity})"),
            AuditRecord::PinRegistry { name, identity } => {
                format!("pin registry `{name}` -> {identity}")
            }
            AuditRecord::KelExtended {
                identity,
                from,
                to,
                head,
                via,
            } => format!(
                "key event log of {identity} extended from {from} to {to} events (head {}) by {via}",
                head.short()
            ),
            AuditRecord::KelRecovered {
                identity,
                at,
                rotation,
                head,
                via,
                superseded,
            } => format!(
                "key event log of {identity} recovered by rotation #{rotation} (head {}) by {via}: {} event{} from #{at} superseded, kept as evidence",
                head.short(),
                superseded.len(),
                if superseded.len() == 1 { "" } else { "s" }
            ),
            AuditRecord::KelRefused {
                identity,
                reason,
                detail,
                ..
            } => format!("refused key event log of {identity}: {reason}: {detail}"),
            AuditRecord::Verdict {
                verdict, message, ..
            } => format!("{verdict}: {message}"),
            AuditRecord::Checkpoint {
                registry,
                origin,
                from,
                to,
                root,
                consistent,
            } => {
                if *consistent {
                    format!(
                        "checkpoint of registry `{registry}` ({origin}) advanced from {from} to {to} entries (root {root}), proved consistent"
                    )
                } else {
                    format!(
                        "first checkpoint of registry `{registry}` ({origin}): {to} entries (root {root})"
                    )
                }
            }
            AuditRecord::CheckpointRefused {
                registry,
                reason,
                detail,
                evidence,
            } => {
                let kept = if evidence.is_empty() {
                    String::new()
                } else {
                    format!(
                        " (evidence {})",
                        evidence
                            .iter()
                            .map(Sha256Digest::short)
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                format!("refused checkpoint of registry `{registry}`: {reason}: {detail}{kept}")
            }
        }
    }
}
