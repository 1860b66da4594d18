//! Verdicts: the closed set of outcomes of verifying an artifact.
//!
//! Every verification ends in exactly one [`Verdict`], with a reason written for people. The
//! set is closed on purpose: scripts and CI gates can match on it, and there is no "warning"
//! state in which an artifact is half-trusted.

use std::fmt;

use serde::{Serialize, Serializer};

/// Why an artifact was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Rejection {
    /// Signed by a key that nothing links to the expected publisher: no rotation, no transfer.
    UnlinkedSignerChange,
    /// Signed by a key that was revoked (or rotated away as compromised) before the signature
    /// can be shown to have been made.
    Revoked,
    /// The artifact's content is not what the statement signed.
    DigestMismatch,
    /// Two different key events at the same position of one log: proof of key compromise.
    Equivocation,
    /// A log older than one already seen, or a release older than policy allows.
    Rollback,
    /// A signature does not verify, or the signed documents are inconsistent.
    BadSignature,
    /// The trust store has not verified a pinned registry's checkpoint within the maximum age
    /// its pin requires: what it knows may be frozen before a compromise.
    Stale,
    /// A pinned registry's checkpoint lacks the witness cosignatures the pin's witness
    /// policy requires: it may be a view shown to this consumer alone.
    Unwitnessed,
}

impl Rejection {
    /// The reason's name, as in `rejected: digest-mismatch`.
    pub fn as_str(self) -> &'static str {
        match self {
            Rejection::UnlinkedSignerChange => "unlinked-signer-change",
            Rejection::Revoked => "revoked",
            Rejection::DigestMismatch => "digest-mismatch",
            Rejection::Equivocation => "equivocation",
            Rejection::Rollback => "rollback",
            Rejection::BadSignature => "bad-signature",
            Rejection::Stale => "stale",
            Rejection::Unwitnessed => "unwitnessed",
        }
    }
}

/// The outcome of verifying one artifact.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Verdict {
    /// Signed by the expected publisher's current key.
    Trusted,
    /// Signed by a key the expected publisher rotated to, through a chain of signed rotations.
    TrustedAfterRotation,
    /// Signed by an identity the expected publisher transferred the name to, and which
    /// accepted it.
    TrustedAfterTransfer,
    /// Refused, for the reason given.
    Rejected(Rejection),
    /// No pin covers the package, and policy requires one.
    UnknownPublisher,
}

impl Verdict {
    /// Whether the artifact may be used.
    pub fn is_trusted(self) -> bool {
        matches!(
            self,
            Verdict::Trusted | Verdict::TrustedAfterRotation | Verdict::TrustedAfterTransfer
        )
    }

    /// The process exit code the command line uses for this verdict: 0 trusted, 1 rejected,
    /// 3 unknown publisher.
    pub fn exit_code(self) -> u8 {
        match self {
            Verdict::Trusted | Verdict::TrustedAfterRotation | Verdict::TrustedAfterTransfer => 0,
            Verdict::Rejected(_) => 1,
            Verdict::UnknownPublisher => 3,
        }
    }

    /// The verdict's name without the reason: `trusted`, `rejected`, `unknown-publisher`, ….
    pub fn kind(self) -> &'static str {
        match self {
            Verdict::Trusted => "trusted",
            Verdict::TrustedAfterRotation => "trusted-after-rotation",
            Verdict::TrustedAfterTransfer => "trusted-after-transfer",
            Verdict::Rejected(_) => "rejected",
            Verdict::UnknownPublisher => "unknown-publisher",
        }
    }

    /// The reason of a rejection.
    pub fn rejection(self) -> Option<Rejection> {
        match self {
            Verdict::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Rejected(reason) => write!(f, "rejected: {}", reason.as_str()),
            other => f.write_str(other.kind()),
        }
    }
}

impl Serialize for Verdict {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// What the person reading a decision or a refusal can do about it, as data: the message
/// says it in words ([`Advice::words`]), and a front end may say it as its own command.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Advice {
    /// No pin covers the package: pin its namespace's publisher.
    PinPublisher,
    /// Two identities claim one namespace in one run: pin the right one.
    PinOneClaimant,
    /// The store holds no key event log of pinned registry `name`: pin it again.
    RepinRegistry {
        /// The registry's name.
        name: String,
    },
    /// Pinned registry `name`'s checkpoint is older than its pin allows: refresh it.
    RefreshRegistry {
        /// The registry's name.
        name: String,
        /// Whether the pin records where to fetch from; if not, the refresh must name it.
        location_pinned: bool,
    },
    /// The registry accepts only releases signed in an identity's name.
    SignAsIdentity,
}

impl Advice {
    /// The clause a message carrying this advice ends with: what to do, in words.
    pub fn words(&self) -> &'static str {
        match self {
            Advice::PinPublisher => "; pin its publisher",
            Advice::PinOneClaimant => "; pin the right one",
            Advice::RepinRegistry { .. } => "; re-pin it",
            Advice::RefreshRegistry { .. } => ": refresh it and verify again",
            Advice::SignAsIdentity => "",
        }
    }

    /// `message` with its closing [`words`](Advice::words) replaced by `clause`: how a front
    /// end words the same advice as its own command. `None` if `message` does not end with
    /// the words.
    pub fn reword(&self, message: &str, clause: &str) -> Option<String> {
        message
            .strip_suffix(self.words())
            .map(|situation| format!("{situation}{clause}"))
    }
}

/// A verdict with its explanation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Decision {
    /// The verdict.
    pub verdict: Verdict,
    /// One sentence for people, e.g. `digest mismatch for org.acme.tool@1.2.0: expected …`.
    pub message: String,
    /// `name@version` when the statement could be read.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<String>,
    /// The links from the expected signer to the actual one (rotations, transfers), oldest
    /// first, when the verdict rests on them.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<String>,
    /// The identity that signed, when the statement names one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<crate::ids::IdentityId>,
    /// The pinned namespace the decision was made under, if a pin covers the package.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pin: Option<crate::statement::Namespace>,
    /// What to do about it, when there is something to do; `message` ends with its words.
    #[serde(skip)]
    pub advice: Option<Advice>,
}

impl Decision {
    /// A decision without a chain.
    pub fn new(verdict: Verdict, message: impl Into<String>, release: Option<String>) -> Self {
        Decision {
            verdict,
            message: message.into(),
            release,
            chain: Vec::new(),
            identity: None,
            pin: None,
            advice: None,
        }
    }

    /// The decision with `advice`: its words close the message.
    #[must_use]
    pub fn advise(mut self, advice: Advice) -> Self {
        self.message.push_str(advice.words());
        self.advice = Some(advice);
        self
    }
}

impl fmt::Display for Decision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.verdict, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_exit_codes() {
        let all = [
            (Verdict::Trusted, "trusted", 0),
            (Verdict::TrustedAfterRotation, "trusted-after-rotation", 0),
            (Verdict::TrustedAfterTransfer, "trusted-after-transfer", 0),
            (
                Verdict::Rejected(Rejection::UnlinkedSignerChange),
                "rejected: unlinked-signer-change",
                1,
            ),
            (
                Verdict::Rejected(Rejection::Revoked),
                "rejected: revoked",
                1,
            ),
            (
                Verdict::Rejected(Rejection::DigestMismatch),
                "rejected: digest-mismatch",
                1,
            ),
            (
                Verdict::Rejected(Rejection::Equivocation),
                "rejected: equivocation",
                1,
            ),
            (
                Verdict::Rejected(Rejection::Rollback),
                "rejected: rollback",
                1,
            ),
            (
                Verdict::Rejected(Rejection::BadSignature),
                "rejected: bad-signature",
                1,
            ),
            (Verdict::Rejected(Rejection::Stale), "rejected: stale", 1),
            (
                Verdict::Rejected(Rejection::Unwitnessed),
                "rejected: unwitnessed",
                1,
            ),
            (Verdict::UnknownPublisher, "unknown-publisher", 3),
        ];
        for (verdict, text, code) in all {
            assert_eq!(verdict.to_string(), text);
            assert_eq!(verdict.exit_code(), code);
            assert_eq!(verdict.is_trusted(), code == 0);
        }
    }
}
