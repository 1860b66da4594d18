//! The gatekeeper: one verdict per artifact, from the statement, the bundle, the pinned
//! identity's key event log, receipts, revocations and policy.
//!
//! [`Gate::decide`] takes the steps below in order and stops at the first that fails, so every
//! artifact gets exactly one [`Decision`]:
//!
//! 1. **Pin** — the most specific pin covering the package. None: `unknown-publisher` (with a
//!    typosquat warning when the name is one or two edits from a pinned namespace), or, in
//!    trust-on-first-use mode, a new pin for the signer's claimed namespace (never for a
//!    look-alike name).
//! 2. **Key event logs** — the bundle's log (and `related` logs) must verify; for each
//!    identity the longer of the stored and offered logs is used when one extends the other,
//!    and two logs that differ at a position are `rejected: equivocation` (both events kept as
//!    evidence).
//! 3. **Link to the pin** — the signer is the pinned identity, or a chain of accepted
//!    transfers leads from the pinned identity to it ([`find_transfer`]); otherwise
//!    `rejected: unlinked-signer-change`.
//! 4. **Position and signature** — the statement's event is the one the log holds at that
//!    position (else `equivocation`), the identity held the name there, and the threshold of
//!    the keys of that position signed (else `unlinked-signer-change`, or `bad-signature` for
//!    a signature that does not verify).
//! 5. **Revocation and hand-over** — keys rotated away or revoked as `compromised`, and a
//!    statement naming a position from before the signer transferred the name away, count only
//!    if a receipt from a pinned registry shows the statement existed before the compromise or
//!    the transfer: `rejected: revoked`. A receipt is the only proof of time: the signer's own
//!    times and positions are claims, and the consumer's audit log is an unsigned file that
//!    whoever can write the trust store can rewrite, so it proves nothing (without a pinned
//!    registry, such statements are refused: fail closed).
//! 6. **Rollback** — a statement that names a position whose keys a (`scheduled` or `lost`)
//!    rotation had already replaced when, by its own time, it was made: `rejected: rollback`.
//! 7. **Policy** — receipts from the named registries, hardware attestation; any receipt that
//!    claims a pinned registry and does not verify is `bad-signature`.
//! 8. **Digest** — the artifact is what the statement signs: else `digest-mismatch`.
//!
//! The gate reads a [`TrustView`] and never changes it; what the caller may store afterwards
//! (longer logs, evidence, a trust-on-first-use pin) is returned in the [`Outcome`].

// Each step returns the refusal that ends a decision as its `Err`: a `Decision`, moved once
// per artifact, so boxing it would only add an allocation.
#![allow(clippy::result_large_err)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sha2::{Digest, Sha256};

use crate::bundle::{Attestation, Bundle};
use crate::digest::ContentDigest;
use crate::envelope::Envelope;
use crate::error::FormatError;
use crate::ids::{IdentityId, Sha256Digest};
use crate::kel::binding::{Binding, BindingError, Position, bind};
use crate::kel::log::{Epoch, KelError, KelErrorKind, TransferError};
use crate::kel::{Comparison, Kel, Reason, find_transfer};
use crate::key::{KeyId, PublicKey};
use crate::receipt::{Receipt, SubjectType, verify_receipt};
use crate::similar::lookalike;
use crate::statement::{Namespace, PackageName, Signer, Statement, Version};
use crate::threshold::ThresholdError;
use crate::time::Timestamp;
use crate::trust::pins::{Pin, PinSource, PinsFile, Policy};
use crate::trust::registries::{Offered, compare_offered};
use crate::trust::releases::ReleaseIndex;
use crate::verdict::{Advice, Decision, Rejection, Verdict};
use crate::verify::{ExpectedRelease, check_digest, check_expected};

/// Most transfers followed from a pinned identity to a signer.
pub const MAX_TRANSFER_HOPS: usize = 8;

/// Verifies hardware attestations for the gate. The keyring has no hardware dependencies; the
/// command line supplies an implementation backed by `hallmark_hsm::attestation`.
pub trait AttestationVerifier: Sync {
    /// Checks that `attestation` proves `key` was generated in, and cannot leave, hardware.
    /// `Ok` carries a short description of the device for messages; `Err` the reason.
    fn verify(
        &self,
        attestation: &Attestation,
        key: &PublicKey,
    ) -> Result<String, AttestationError>;
}

/// Why an attestation was not accepted.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AttestationError {
    /// The verifier cannot check attestations at all.
    #[error("this program cannot verify hardware attestations")]
    Unsupported,
    /// The attestation does not prove the key is hardware-held; the verifier's own error
    /// says why.
    #[error(transparent)]
    Refused(Box<dyn std::error::Error + Send + Sync>),
}

/// An attestation verifier that refuses everything: for builds and tools that cannot check
/// attestations, so a policy that requires them fails closed.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoAttestationVerifier;

impl AttestationVerifier for NoAttestationVerifier {
    fn verify(&self, _: &Attestation, _: &PublicKey) -> Result<String, AttestationError> {
        Err(AttestationError::Unsupported)
    }
}

/// What the gate decides against: pins and the stored key event logs.
#[derive(Clone, Debug, Default)]
pub struct TrustView {
    /// Pins and pinned registries.
    pub pins: PinsFile,
    /// The longest key event log seen for each identity (publishers and registries).
    pub kels: HashMap<IdentityId, Arc<Kel>>,
    /// What each `name@version` was when first found trusted.
    pub releases: ReleaseIndex,
    /// The latest checkpoint verified of each pinned registry, by name.
    pub checkpoints: HashMap<String, super::registries::KnownCheckpoint>,
}

impl TrustView {
    /// A view that pins every namespace `kel`'s identity holds to it, as of its inception
    /// (`hallmark verify --identity KEL`).
    pub fn for_identity(kel: Kel, now: Timestamp) -> Self {
        let mut pins = PinsFile::default();
        let namespaces: Vec<Namespace> = kel
            .claimed()
            .iter()
            .chain(kel.received().iter().map(|r| &r.name))
            .cloned()
            .collect();
        for namespace in namespaces {
            // Names received and given back may repeat; the first pin of a namespace stands.
            let _ = pins.add(Pin {
                namespace,
                identity: kel.identity(),
                pinned_at: 0,
                policy: Policy::default(),
                source: PinSource::Manual,
                created: now,
            });
        }
        let mut kels = HashMap::new();
        kels.insert(kel.identity(), Arc::new(kel));
        TrustView {
            checkpoints: HashMap::new(),
            pins,
            kels,
            releases: ReleaseIndex::default(),
        }
    }
}

/// A decision and what the caller may record because of it.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The verdict with its reason.
    pub decision: Decision,
    /// Digest of the statement payload.
    pub statement: Sha256Digest,
    /// The content digest the statement signs.
    pub content: ContentDigest,
    /// The package the statement names.
    pub name: PackageName,
    /// Its version.
    pub version: Version,
    /// Key event logs that extend the stored ones (or are new), to store.
    pub longer_kels: Vec<Arc<Kel>>,
    /// Evidence of equivocation: the stored event and the conflicting one.
    pub evidence: Vec<Envelope>,
    /// A trust-on-first-use pin, when the verdict is trusted and none covered the package.
    pub tofu_pin: Option<Pin>,
    /// Registry checkpoints carried by the verified receipts, by registry name, for the store
    /// to compare with what it holds ([`super::registries`]).
    pub checkpoints: Vec<(String, String)>,
}

/// The verdict engine.
pub struct Gate<'a> {
    view: &'a TrustView,
    attestation: &'a dyn AttestationVerifier,
    tofu: bool,
    now: Timestamp,
    cache: Mutex<HashMap<Sha256Digest, Result<Arc<Kel>, KelError>>>,
}

/// The decision being built for one artifact.
struct Ctx {
    release: String,
    identity: Option<IdentityId>,
    pin: Option<Namespace>,
}

impl Ctx {
    fn decision(&self, verdict: Verdict, message: String) -> Decision {
        let mut d = Decision::new(verdict, message, Some(self.release.clone()));
        d.identity = self.identity;
        d.pin = self.pin.clone();
        d
    }

    fn reject(&self, rejection: Rejection, message: String) -> Decision {
        self.decision(Verdict::Rejected(rejection), message)
    }
}

fn keys_text(keys: &[KeyId]) -> String {
    keys.iter().map(KeyId::short).collect::<Vec<_>>().join("+")
}

fn epoch_keys(epoch: &Epoch) -> String {
    keys_text(&epoch.keys.iter().map(PublicKey::key_id).collect::<Vec<_>>())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// The pinned namespace `name` is a look-alike of, and the distance: the name's first labels
/// (as many as the namespace has) one or two edits from it.
pub fn typosquat_of(name: &PackageName, pins: &PinsFile) -> Option<(Namespace, usize)> {
    let labels: Vec<&str> = name.as_str().split('.').collect();
    pins.pins
        .iter()
        .filter_map(|pin| {
            let depth = pin.namespace.depth();
            let prefix = labels[..depth.min(labels.len())].join(".");
            lookalike(&prefix, pin.namespace.as_str())
                .or_else(|| lookalike(name.as_str(), pin.namespace.as_str()))
                .map(|d| (pin.namespace.clone(), d))
        })
        .min_by_key(|(_, d)| *d)
}

/// The verdict for a bundle whose key event log does not verify, whatever was forged — a
/// signature, an event's field, a `previous` link, an event swapped or spliced in, a key not
/// committed to: `rejected: bad-signature` (the log is not what the identity's keys signed).
/// A log whose events cannot even be read is an input error instead ([`malformed_kel`]).
fn kel_rejection(_err: &KelError) -> Rejection {
    Rejection::BadSignature
}

/// The reading error of a log with an event that does not decode (malformed, unknown fields,
/// not canonical): the bundle is damaged, which is an input error rather than a verdict.
fn malformed_kel(err: &KelError) -> Option<FormatError> {
    match &*err.kind {
        KelErrorKind::Malformed(_) => Some(FormatError::Invalid {
            what: "bundle key event log",
            reason: err.to_string(),
        }),
        _ => None,
    }
}

enum Resolved {
    Kel(Arc<Kel>),
    None,
}

impl<'a> Gate<'a> {
    /// A gate over `view`. `tofu` enables trust-on-first-use; `now` dates new pins.
    pub fn new(
        view: &'a TrustView,
        attestation: &'a dyn AttestationVerifier,
        tofu: bool,
        now: Timestamp,
    ) -> Self {
        Gate {
            view,
            attestation,
            tofu,
            now,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Verifies a list of key events, once per distinct list across every artifact checked
    /// by this gate (a release of many artifacts carries the same log in every bundle).
    fn verified(&self, events: &[Envelope]) -> Result<Arc<Kel>, KelError> {
        let mut h = Sha256::new();
        for e in events {
            h.update(e.payload_digest().as_bytes());
            for s in e.signatures() {
                h.update(s.keyid.as_bytes());
                h.update(s.sig);
            }
        }
        let key = Sha256Digest::from_bytes(h.finalize().into());
        if let Ok(cache) = self.cache.lock()
            && let Some(hit) = cache.get(&key)
        {
            return hit.clone();
        }
        let result = Kel::verify(events).map(Arc::new);
        if let Ok(mut cache) = self.cache.lock() {
            cache.insert(key, result.clone());
        }
        result
    }

    /// Decides about one artifact whose content digest is `actual`.
    ///
    /// `Err` means the bundle's statement, or an event of a key event log it carries, cannot
    /// be read at all (an input error, exit 2); every other outcome is a decision.
    pub fn decide(&self, bundle: &Bundle, actual: &ContentDigest) -> Result<Outcome, FormatError> {
        self.decide_expecting(bundle, actual, None)
    }

    /// [`Gate::decide`], refusing a bundle for another release than `expected` when the caller
    /// states one (`--expect NAME@VERSION`): `rejected: digest-mismatch`, before anything else.
    pub fn decide_expecting(
        &self,
        bundle: &Bundle,
        actual: &ContentDigest,
        expected: Option<&ExpectedRelease>,
    ) -> Result<Outcome, FormatError> {
        let statement = bundle.statement()?;
        // A log with an event that does not decode is a damaged bundle, not a forgery.
        for events in std::iter::once(&bundle.kel).chain(bundle.related.iter().map(|r| &r.events)) {
            if events.is_empty() {
                continue;
            }
            if let Err(e) = self.verified(events)
                && let Some(malformed) = malformed_kel(&e)
            {
                return Err(malformed);
            }
        }
        let mut out = Outcome {
            decision: Decision::new(Verdict::UnknownPublisher, "", None),
            statement: bundle.statement.payload_digest(),
            content: statement.digest,
            name: statement.name.clone(),
            version: statement.version.clone(),
            longer_kels: Vec::new(),
            evidence: Vec::new(),
            tofu_pin: None,
            checkpoints: Vec::new(),
        };
        if let Some(expected) = expected
            && let Err(decision) = check_expected(&statement, expected)
        {
            out.decision = decision;
            return Ok(out);
        }
        let mut ctx = Ctx {
            release: statement.release(),
            identity: None,
            pin: None,
        };
        out.decision = match self.decide_inner(bundle, &statement, actual, &mut ctx, &mut out) {
            Ok(decision) | Err(decision) => decision,
        };
        if out.decision.verdict.is_trusted()
            && let Some(refusal) = self.recorded_release(&statement, &ctx)?
        {
            out.decision = refusal;
        }
        if !out.decision.verdict.is_trusted() {
            out.tofu_pin = None;
        }
        Ok(out)
    }

    /// The release index: a `name@version` this trust store found trusted before with other
    /// content is `rejected: digest-mismatch`, naming the recorded digest.
    fn recorded_release(
        &self,
        statement: &Statement,
        ctx: &Ctx,
    ) -> Result<Option<Decision>, FormatError> {
        let Some(recorded) = self
            .view
            .releases
            .get(&statement.name, &statement.version)?
        else {
            return Ok(None);
        };
        if recorded.content == statement.digest {
            return Ok(None);
        }
        Ok(Some(ctx.reject(
            Rejection::DigestMismatch,
            format!(
                "{} has content {}, but this trust store recorded {} for it when it was first trusted on {}: a version's content never changes, so this is a re-signed or substituted release",
                ctx.release, statement.digest, recorded.content, recorded.first_trusted
            ),
        )))
    }

    /// The steps of the module documentation, in order: each returns the decision that ends
    /// the run as its `Err`; `Ok` is a trusted verdict.
    fn decide_inner(
        &self,
        bundle: &Bundle,
        statement: &Statement,
        actual: &ContentDigest,
        ctx: &mut Ctx,
        out: &mut Outcome,
    ) -> Result<Decision, Decision> {
        let signer = self.signing_identity(statement, ctx)?;
        ctx.identity = Some(signer.identity);
        let offered = self.offered_logs(bundle, signer.identity, ctx)?;
        // 1. The pin.
        let pin = self.pin(&statement.name, signer.identity, &offered, ctx, out)?;
        ctx.pin = Some(pin.namespace.clone());
        // 2. The signer's log: the longer of the stored and offered ones.
        let signer_kel = self.signer_log(signer.identity, &offered, ctx, out)?;
        // 3. The link from the pin to the signer.
        let mut link = self.link_to_pin(
            &pin,
            &signer,
            &signer_kel,
            &statement.name,
            &offered,
            ctx,
            out,
        )?;
        // 4. Position, ownership and signature.
        let (epoch, signers) = bound(&signer_kel, bundle, &statement.name, &signer, ctx)?;
        // Receipts: every one that claims a pinned registry must verify.
        let receipts = self.receipts(bundle, &out.statement, ctx)?;
        self.receipt_checkpoints(&receipts, out)
            .map_err(|(rejection, msg)| ctx.reject(rejection, msg))?;
        let proof = proof_time(&receipts);
        // 5. Revocation.
        revocation(
            &signer_kel,
            epoch,
            &signers,
            proof.as_ref(),
            ctx,
            &mut link.chain,
        )?;
        // 5b. Hand-over.
        hand_over(
            &signer_kel,
            statement,
            &signer,
            proof.as_ref(),
            ctx,
            &mut link.chain,
        )?;
        // 6. Rollback.
        rollback(epoch, statement, &signer, &signers, proof.as_ref(), ctx)?;
        // 7. Policy.
        self.policy(&pin, bundle, &receipts, &signer_kel, epoch, &signers, ctx)?;
        // 8. Digest.
        check_digest(statement, actual).map_err(|mut decision| {
            decision.identity = ctx.identity;
            decision.pin = ctx.pin.clone();
            decision
        })?;
        Ok(trusted(&signer_kel, &signer, &link, &signers, out, ctx))
    }

    /// The identity and position the statement is signed in the name of; a statement signed
    /// by a bare key is refused (or unknown, when no pin covers it).
    fn signing_identity(&self, statement: &Statement, ctx: &mut Ctx) -> Result<Position, Decision> {
        let name = &statement.name;
        let release = &ctx.release;
        match statement.signer.kind() {
            Ok(Signer::Identity {
                identity,
                sequence,
                event,
            }) => Ok(Position {
                identity: *identity,
                sequence,
                event: *event,
            }),
            Ok(Signer::Key(key)) => Err(match self.view.pins.lookup(name) {
                Some(pin) => {
                    let message = format!(
                        "{release} is signed by the bare key {}, not in the name of identity {} which is pinned for {}",
                        key.key_id().short(),
                        pin.identity.short(),
                        pin.namespace
                    );
                    ctx.pin = Some(pin.namespace.clone());
                    ctx.reject(Rejection::UnlinkedSignerChange, message)
                }
                None => ctx.decision(
                    Verdict::UnknownPublisher,
                    format!(
                        "no pin covers {name}, and it is signed by the bare key {} rather than an identity",
                        key.key_id().short()
                    ),
                ),
            }),
            Err(e) => Err(ctx.reject(Rejection::BadSignature, e.to_string())),
        }
    }

    /// The logs the bundle offers: the signer's, and related ones (e.g. a giver's). Each must
    /// verify, and the bundle's own log must be the signer's.
    fn offered_logs(
        &self,
        bundle: &Bundle,
        sid: IdentityId,
        ctx: &Ctx,
    ) -> Result<Vec<Arc<Kel>>, Decision> {
        let release = &ctx.release;
        let mut offered: Vec<Arc<Kel>> = Vec::new();
        if !bundle.kel.is_empty() {
            match self.verified(&bundle.kel) {
                Ok(kel) => {
                    if kel.identity() != sid {
                        return Err(ctx.reject(
                            Rejection::BadSignature,
                            format!(
                                "the bundle's key event log belongs to identity {}, but the statement for {release} names identity {}",
                                kel.identity().short(),
                                sid.short()
                            ),
                        ));
                    }
                    offered.push(kel);
                }
                Err(e) => {
                    return Err(ctx.reject(
                        kel_rejection(&e),
                        format!(
                            "the key event log in the bundle for {release} does not verify: {e}"
                        ),
                    ));
                }
            }
        }
        for related in &bundle.related {
            match self.verified(&related.events) {
                Ok(kel) => offered.push(kel),
                Err(e) => {
                    return Err(ctx.reject(
                        kel_rejection(&e),
                        format!(
                            "a related key event log in the bundle for {release} does not verify: {e}"
                        ),
                    ));
                }
            }
        }
        Ok(offered)
    }

    /// Step 1: the most specific pin covering `name`, or, in trust-on-first-use mode and for a
    /// name that is no look-alike of a pinned namespace, a new pin for the signer's claim.
    fn pin(
        &self,
        name: &PackageName,
        sid: IdentityId,
        offered: &[Arc<Kel>],
        ctx: &Ctx,
        out: &mut Outcome,
    ) -> Result<Pin, Decision> {
        let pins = &self.view.pins;
        if let Some(pin) = pins.lookup(name) {
            return Ok(pin.clone());
        }
        let squat = typosquat_of(name, pins);
        if !self.tofu || squat.is_some() {
            let unpinned = format!("no pin covers {name} (signed by identity {})", sid.short());
            return Err(match squat {
                Some((ns, d)) => ctx.decision(
                    Verdict::UnknownPublisher,
                    format!(
                        "{unpinned}; {name} is {d} edit{} away from the pinned namespace {ns}: possible typosquat",
                        plural(d)
                    ),
                ),
                None => ctx
                    .decision(Verdict::UnknownPublisher, unpinned)
                    .advise(Advice::PinPublisher),
            });
        }
        let kel = match self.resolve(sid, offered, out) {
            Ok(Resolved::Kel(kel)) => kel,
            Ok(Resolved::None) => {
                return Err(ctx.decision(
                    Verdict::UnknownPublisher,
                    format!(
                        "no pin covers {name}, and the bundle carries no key event log of identity {} to pin on first use",
                        sid.short()
                    ),
                ));
            }
            Err(e) => return Err(ctx.reject(Rejection::Equivocation, e.to_string())),
        };
        let Some(namespace) = held_namespace(&kel, name) else {
            return Err(ctx.decision(
                Verdict::UnknownPublisher,
                format!(
                    "no pin covers {name}, and identity {} does not claim it, so it is not pinned on first use",
                    sid.short()
                ),
            ));
        };
        let pin = Pin {
            namespace,
            identity: sid,
            pinned_at: kel.head().event.sequence,
            policy: Policy::default(),
            source: PinSource::TrustOnFirstUse,
            created: self.now,
        };
        out.tofu_pin = Some(pin.clone());
        Ok(pin)
    }

    /// Step 2: the signer's log, the longer of the stored and offered ones.
    fn signer_log(
        &self,
        sid: IdentityId,
        offered: &[Arc<Kel>],
        ctx: &Ctx,
        out: &mut Outcome,
    ) -> Result<Arc<Kel>, Decision> {
        match self.resolve(sid, offered, out) {
            Ok(Resolved::Kel(kel)) => Ok(kel),
            Ok(Resolved::None) => Err(ctx.reject(
                Rejection::UnlinkedSignerChange,
                format!(
                    "{} is signed in the name of identity {}, but neither the bundle nor the keyring holds its key event log",
                    ctx.release,
                    sid.short()
                ),
            )),
            Err(e) => Err(ctx.reject(Rejection::Equivocation, e.to_string())),
        }
    }

    /// Step 3: the signer is the pinned identity, or accepted transfers lead to it.
    #[allow(clippy::too_many_arguments)]
    fn link_to_pin(
        &self,
        pin: &Pin,
        signer: &Position,
        signer_kel: &Arc<Kel>,
        name: &PackageName,
        offered: &[Arc<Kel>],
        ctx: &Ctx,
        out: &mut Outcome,
    ) -> Result<Link, Decision> {
        let sid = signer.identity;
        if sid == pin.identity {
            return Ok(Link {
                start: pin.pinned_at,
                transferred: false,
                chain: Vec::new(),
            });
        }
        let release = &ctx.release;
        let pinned_kel = match self.resolve(pin.identity, offered, out) {
            Ok(Resolved::Kel(kel)) => kel,
            Ok(Resolved::None) => {
                return Err(ctx.reject(
                    Rejection::UnlinkedSignerChange,
                    format!(
                        "{release} is signed by identity {}, not by identity {} which is pinned for {}, and the keyring holds no key event log of the pinned identity to look for a transfer",
                        sid.short(),
                        pin.identity.short(),
                        pin.namespace
                    ),
                ));
            }
            Err(e) => return Err(ctx.reject(Rejection::Equivocation, e.to_string())),
        };
        match self.transfer_chain(&pinned_kel, signer_kel, name, offered, out) {
            Ok((links, acceptance)) => Ok(Link {
                start: acceptance,
                transferred: true,
                chain: links,
            }),
            Err(TransferFailure::Equivocation(msg)) => {
                Err(ctx.reject(Rejection::Equivocation, msg.to_string()))
            }
            Err(why) => Err(ctx.reject(
                Rejection::UnlinkedSignerChange,
                format!(
                    "{release} is signed by identity {}, not by identity {} which is pinned for {}{why}",
                    sid.short(),
                    pin.identity.short(),
                    pin.namespace
                ),
            )),
        }
    }

    /// Step 7: receipts from the registries the pin's policy names, and hardware attestation.
    #[allow(clippy::too_many_arguments)]
    fn policy(
        &self,
        pin: &Pin,
        bundle: &Bundle,
        receipts: &[(String, Receipt)],
        signer_kel: &Kel,
        epoch: &Epoch,
        signers: &[KeyId],
        ctx: &Ctx,
    ) -> Result<(), Decision> {
        let release = &ctx.release;
        for registry in &pin.policy.require_receipt {
            if !receipts.iter().any(|(name, _)| name == registry) {
                let id = self
                    .view
                    .pins
                    .registry(registry)
                    .map(|r| r.identity.short())
                    .unwrap_or_default();
                let unpinned = bundle.receipts.len() - receipts.len();
                let note = if unpinned > 0 {
                    format!(
                        " ({unpinned} receipt{} from registries that are not pinned, which do not count)",
                        plural(unpinned)
                    )
                } else {
                    String::new()
                };
                return Err(ctx.reject(
                    Rejection::BadSignature,
                    format!(
                        "the policy for {} requires a receipt from registry `{registry}` ({id}); the bundle for {release} carries none that verifies{note}",
                        pin.namespace
                    ),
                ));
            }
        }
        if pin.policy.require_attestation {
            for key in signers {
                if let Err(msg) = self.attested(bundle, signer_kel, epoch, key) {
                    return Err(ctx.reject(
                        Rejection::BadSignature,
                        format!(
                            "the policy for {} requires hardware attestation, and signing key {} of {release} {msg}",
                            pin.namespace,
                            key.short()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The longest log of `identity` among the stored one and those offered; a fork between
    /// any two is equivocation (the evidence goes into `out`).
    fn resolve(
        &self,
        identity: IdentityId,
        offered: &[Arc<Kel>],
        out: &mut Outcome,
    ) -> Result<Resolved, Equivocation> {
        let stored = self.view.kels.get(&identity).cloned();
        let mut best = stored.clone();
        let mut best_source = "the keyring";
        for kel in offered.iter().filter(|k| k.identity() == identity) {
            let Some(current) = &best else {
                best = Some(kel.clone());
                best_source = "the bundle";
                continue;
            };
            match current.compare(kel) {
                Comparison::Extends { .. } => {
                    best = Some(kel.clone());
                    best_source = "the bundle";
                }
                Comparison::Recovered { superseded, .. } => {
                    // The bundle's log recovers the one held so far: it replaces it, and the
                    // superseded events are kept as evidence.
                    keep_evidence(out, superseded);
                    best = Some(kel.clone());
                    best_source = "the bundle";
                }
                Comparison::Supersedes { superseded, .. } => {
                    // The bundle offers a branch that a recovery already superseded.
                    keep_evidence(out, superseded);
                }
                Comparison::Forked { at, ours, theirs } => {
                    let equivocation = Equivocation {
                        identity,
                        at,
                        held_in: best_source,
                        ours: ours.payload_digest(),
                        theirs: theirs.payload_digest(),
                    };
                    out.evidence = vec![*ours, *theirs];
                    return Err(equivocation);
                }
                _ => {}
            }
        }
        match best {
            Some(kel) => {
                // Longer, or a recovery of the stored log (which may be shorter than the branch
                // it supersedes).
                let replaces = match &stored {
                    None => true,
                    Some(s) if Arc::ptr_eq(s, &kel) => false,
                    Some(s) => matches!(
                        s.compare(&kel),
                        Comparison::Extends { .. } | Comparison::Recovered { .. }
                    ),
                };
                if replaces && !out.longer_kels.iter().any(|k| k.identity() == identity) {
                    out.longer_kels.push(kel.clone());
                }
                Ok(Resolved::Kel(kel))
            }
            None => Ok(Resolved::None),
        }
    }

    /// Follows accepted transfers of `name` from the pinned identity to the signer.
    fn transfer_chain(
        &self,
        pinned: &Arc<Kel>,
        signer: &Arc<Kel>,
        name: &PackageName,
        offered: &[Arc<Kel>],
        out: &mut Outcome,
    ) -> Result<(Vec<String>, u64), TransferFailure> {
        follow_transfers(
            pinned,
            signer,
            name,
            &mut |id| match self.resolve(id, offered, out) {
                Ok(Resolved::Kel(kel)) => Ok(Some(kel)),
                Ok(Resolved::None) => Ok(None),
                Err(msg) => Err(msg),
            },
        )
    }

    /// The statement receipts from pinned registries that verify, with the registry's name.
    /// `Err` if a receipt claims a pinned registry and does not verify, or is malformed.
    fn receipts(
        &self,
        bundle: &Bundle,
        statement: &Sha256Digest,
        ctx: &Ctx,
    ) -> Result<Vec<(String, Receipt)>, Decision> {
        let release = &ctx.release;
        let bad = |message: String| ctx.reject(Rejection::BadSignature, message);
        let mut good = Vec::new();
        for envelope in &bundle.receipts {
            let receipt = Receipt::from_envelope(envelope).map_err(|e| {
                bad(format!(
                    "a receipt in the bundle for {release} is malformed: {e}"
                ))
            })?;
            if receipt.subject_type != SubjectType::Statement {
                continue;
            }
            let Some(registry) = self.view.pins.registry_by_identity(&receipt.registry) else {
                continue;
            };
            let Some(kel) = self.view.kels.get(&registry.identity) else {
                return Err(bad(format!(
                    "the keyring holds no key event log for registry `{}`",
                    registry.name
                ))
                .advise(Advice::RepinRegistry {
                    name: registry.name.clone(),
                }));
            };
            let receipt = verify_receipt(envelope, kel, statement).map_err(|e| {
                bad(format!(
                    "the receipt from registry `{}` in the bundle for {release} does not verify: {e}",
                    registry.name
                ))
            })?;
            good.push((registry.name.clone(), receipt));
        }
        Ok(good)
    }

    /// Compares the checkpoints of version 2 receipts with those the store holds: one of the
    /// same size with another root is proof that the registry signed two histories. The
    /// others go to the outcome, for the store to keep ([`super::registries`]).
    fn receipt_checkpoints(
        &self,
        receipts: &[(String, Receipt)],
        out: &mut Outcome,
    ) -> Result<(), (Rejection, String)> {
        let equivocation = |msg| (Rejection::Equivocation, msg);
        for (name, receipt) in receipts {
            self.witnessed(name, receipt)
                .map_err(|msg| (Rejection::Unwitnessed, msg))?;
            let Some(proof) = &receipt.tlog else { continue };
            let known = self.view.checkpoints.get(name);
            out.checkpoints
                .push((name.clone(), proof.checkpoint.clone()));
            let offered = compare_offered(known, &proof.checkpoint);
            if let Offered::OtherLog { held } = offered {
                out.checkpoints.pop();
                return Err(equivocation(format!(
                    "the receipt from registry `{name}` is proved against a checkpoint of another log than {held:?}, the one this store follows for the registry"
                )));
            }
            if let Offered::Equivocation { held } = offered {
                return Err(equivocation(format!(
                    "the receipt from registry `{name}` is proved against a checkpoint of the same size as the one this store holds, with another root hash: the registry signed two histories (the held checkpoint: {:?}); both are kept as evidence",
                    held.lines().take(3).collect::<Vec<_>>().join(" ")
                )));
            }
        }
        Ok(())
    }

    /// Checks a receipt of registry `name` against the pin's witness policy: its checkpoint
    /// must carry enough valid witness cosignatures (a receipt without a checkpoint has none).
    fn witnessed(&self, name: &str, receipt: &Receipt) -> Result<(), String> {
        let Some(pin) = self.view.pins.registry(name) else {
            return Ok(());
        };
        let Some(policy) = pin.witness_policy().map_err(|e| e.to_string())? else {
            return Ok(());
        };
        let Some(proof) = &receipt.tlog else {
            return Err(format!(
                "the receipt from registry `{name}` carries no checkpoint, and its pin requires the witness policy {}",
                policy.describe()
            ));
        };
        let note = crate::tlog::Note::parse(proof.checkpoint.as_bytes())
            .map_err(|e| format!("the receipt's checkpoint from registry `{name}`: {e}"))?;
        policy
            .check(&note)
            .map(|_| ())
            .map_err(|e| format!("the receipt from registry `{name}`: {e}"))
    }

    /// Whether `key` carries a hardware attestation that verifies.
    fn attested(
        &self,
        bundle: &Bundle,
        kel: &Kel,
        epoch: &Epoch,
        key: &KeyId,
    ) -> Result<(), String> {
        let Some(public) = epoch.keys.iter().find(|k| &k.key_id() == key) else {
            return Err("is not a key of its epoch".to_owned());
        };
        let from_events = kel
            .events()
            .iter()
            .filter_map(|e| e.event.attestations.as_ref())
            .flatten();
        let mut last_error = None;
        for attestation in bundle.attestations.iter().chain(from_events) {
            if &attestation.key != key {
                continue;
            }
            match self.attestation.verify(attestation, public) {
                Ok(_) => return Ok(()),
                Err(e) => last_error = Some(e),
            }
        }
        Err(match last_error {
            Some(e) => format!("has an attestation that does not verify: {e}"),
            None => "has none".to_owned(),
        })
    }
}

/// How the signer is linked to the pin: from which position of the signer's log, whether by
/// transfer, and the transfers' descriptions (notes on proof of time are added later).
struct Link {
    start: u64,
    transferred: bool,
    chain: Vec<String>,
}

/// Step 4, position, ownership and signature: the statement is bound to the signer's log
/// ([`bind`]). Returns the keys of that position and those of them that signed.
fn bound<'k>(
    signer_kel: &'k Kel,
    bundle: &Bundle,
    name: &PackageName,
    signer: &Position,
    ctx: &Ctx,
) -> Result<(&'k Epoch, Vec<KeyId>), Decision> {
    let release = &ctx.release;
    let (sid, seq) = (signer.identity, signer.sequence);
    let error = match bind(signer_kel, &bundle.statement, name, *signer) {
        Ok(Binding { epoch, signers }) => return Ok((epoch, signers)),
        Err(e) => e,
    };
    Err(match error {
        BindingError::NoEvent { .. } => ctx.reject(
            Rejection::UnlinkedSignerChange,
            format!(
                "{release} names event #{seq} of identity {}, which neither the bundle nor the keyring holds",
                sid.short()
            ),
        ),
        BindingError::OtherEvent { named, held, .. } => ctx.reject(
            Rejection::Equivocation,
            format!(
                "{release} names event {} at #{seq} of identity {}, but its log holds {} there: the signer worked from a different history",
                named.short(),
                sid.short(),
                held.short()
            ),
        ),
        BindingError::NotHeld { given, .. } => {
            let why = match given {
                Some(g) => format!(
                    "; it transferred {} to identity {} in event #{}",
                    g.name,
                    g.to.short(),
                    g.sequence
                ),
                None => String::new(),
            };
            ctx.reject(
                Rejection::UnlinkedSignerChange,
                format!(
                    "{release} is signed by identity {}, which did not hold {name} at event #{seq}{why}",
                    sid.short()
                ),
            )
        }
        BindingError::NoKeys { .. } => ctx.reject(
            Rejection::BadSignature,
            format!("identity {} has no keys at event #{seq}", sid.short()),
        ),
        BindingError::Signature {
            source: ThresholdError::BadSignature { key },
            ..
        } => ctx.reject(
            Rejection::BadSignature,
            format!(
                "the signature by key {} on {release} does not verify; the bundle was altered or is corrupt",
                key.short()
            ),
        ),
        BindingError::Signature {
            source: ThresholdError::NotMet { needed, signed, .. },
            ..
        } if !signed.is_empty() => ctx.reject(
            Rejection::UnlinkedSignerChange,
            format!(
                "{release} is signed by {} of the keys of identity {} at event #{seq}, but {needed} must sign",
                signed.len(),
                sid.short()
            ),
        ),
        BindingError::Signature { epoch, .. } => {
            let actual: Vec<KeyId> = bundle
                .statement
                .signatures()
                .iter()
                .map(|s| s.keyid)
                .collect();
            let by = if actual.is_empty() {
                "nobody".to_owned()
            } else {
                format!("key {}", keys_text(&actual))
            };
            ctx.reject(
                Rejection::UnlinkedSignerChange,
                format!(
                    "{release} is signed by {by}, not by the keys of identity {} at event #{seq} ({}), and no rotation links them",
                    sid.short(),
                    epoch_keys(&epoch)
                ),
            )
        }
        // The gate looks the signer's log up by its identity.
        e @ BindingError::OtherIdentity { .. } => {
            ctx.reject(Rejection::UnlinkedSignerChange, format!("{release}: {e}"))
        }
    })
}

/// Step 5: keys revoked as compromised count only with a receipt that predates the
/// compromise; too few keys left is `revoked`.
fn revocation(
    signer_kel: &Kel,
    epoch: &Epoch,
    signers: &[KeyId],
    proof: Option<&(Timestamp, String)>,
    ctx: &Ctx,
    chain: &mut Vec<String>,
) -> Result<(), Decision> {
    let mut valid = signers.to_vec();
    let mut first_unproven: Option<String> = None;
    let mut proven = false;
    for key in signers {
        let Some((when, what)) = compromise_of(signer_kel, epoch, key) else {
            continue;
        };
        match proof {
            Some((t, _)) if *t < when => proven = true,
            _ => {
                valid.retain(|k| k != key);
                first_unproven.get_or_insert(format!(
                    "{} is signed by key {}, which {what}; no receipt from a pinned registry shows it was signed before then",
                    ctx.release,
                    key.short()
                ));
            }
        }
    }
    if (valid.len() as u64) < epoch.threshold {
        return Err(ctx.reject(Rejection::Revoked, first_unproven.unwrap_or_default()));
    }
    if proven && let Some((t, how)) = proof {
        chain.push(format!("signed before the compromise: {how} on {t}"));
    }
    Ok(())
}

/// Step 5b, hand-over: the signer gave the name away after the position the statement names.
/// Like a compromise, the transfer voids what the giver's keys sign for the name from then on;
/// a statement naming an earlier position counts only with a receipt that predates the
/// transfer.
fn hand_over(
    signer_kel: &Kel,
    statement: &Statement,
    signer: &Position,
    proof: Option<&(Timestamp, String)>,
    ctx: &Ctx,
    chain: &mut Vec<String>,
) -> Result<(), Decision> {
    let (sid, seq) = (signer.identity, signer.sequence);
    let target = Namespace::from(&statement.name);
    let Some(given) = signer_kel
        .given()
        .iter()
        .find(|g| g.sequence > seq && g.name.contains(&target))
    else {
        return Ok(());
    };
    let time = signer_kel
        .event(given.sequence)
        .map_or(statement.created, |e| e.event.time);
    match proof {
        Some((t, how)) if *t < time => {
            chain.push(format!("signed before the transfer: {how} on {t}"));
            Ok(())
        }
        _ => Err(ctx.reject(
            Rejection::Revoked,
            format!(
                "{} names event #{seq} of identity {}, which transferred {} to identity {} in event #{} ({time}); no receipt from a pinned registry shows it was signed before the transfer, after which the giver's statements for the name do not count",
                ctx.release,
                sid.short(),
                given.name,
                given.to.short(),
                given.sequence
            ),
        )),
    }
}

/// Step 6, rollback: made (by its own time) after its keys were rotated away.
fn rollback(
    epoch: &Epoch,
    statement: &Statement,
    signer: &Position,
    signers: &[KeyId],
    proof: Option<&(Timestamp, String)>,
    ctx: &Ctx,
) -> Result<(), Decision> {
    if let (Some(end), Some((reason, rotated))) = (epoch.end, epoch.ended_by)
        && reason != Reason::Compromised
        && statement.created > rotated
        && proof.is_none_or(|(t, _)| *t >= rotated)
    {
        return Err(ctx.reject(
            Rejection::Rollback,
            format!(
                "{} was signed on {} at event #{} by key {}, but rotation #{end} replaced that key on {rotated}: a release made after a rotation names the newer event, so this bundle presents an outdated key state",
                ctx.release,
                statement.created,
                signer.sequence,
                keys_text(signers)
            ),
        ));
    }
    Ok(())
}

/// The trusted verdict, with the transfers and rotations from the pinned position to the
/// signing one, then the notes on proof of time.
fn trusted(
    signer_kel: &Kel,
    signer: &Position,
    link: &Link,
    signers: &[KeyId],
    out: &Outcome,
    ctx: &Ctx,
) -> Decision {
    let release = &ctx.release;
    let (sid, seq) = (signer.identity, signer.sequence);
    let epochs = signer_kel.epochs();
    let last = signer_kel.events().len() as u64 - 1;
    let from = epochs
        .iter()
        .rposition(|e| e.covers(link.start.min(last)))
        .unwrap_or(0);
    let to = epochs.iter().rposition(|e| e.covers(seq)).unwrap_or(0);
    let mut rotations = Vec::new();
    if to > from {
        for pair in epochs[from..=to].windows(2) {
            let (reason, time) = pair[0]
                .ended_by
                .map_or(("unknown".to_owned(), String::new()), |(r, t)| {
                    (r.to_string(), t.to_string())
                });
            rotations.push(format!(
                "{} → {} by rotation #{} ({reason}, {time})",
                epoch_keys(&pair[0]),
                epoch_keys(&pair[1]),
                pair[1].start
            ));
        }
    }
    let keys = keys_text(signers);
    let tofu = out
        .tofu_pin
        .as_ref()
        .map(|p| format!("; pinned {} to it on first use", p.namespace))
        .unwrap_or_default();
    let (verdict, mut message) = if link.transferred {
        (
            Verdict::TrustedAfterTransfer,
            format!("{release} signed by key {keys} of identity {}", sid.short()),
        )
    } else if !rotations.is_empty() {
        (
            Verdict::TrustedAfterRotation,
            format!("{release} signed by key {keys}"),
        )
    } else {
        (
            Verdict::Trusted,
            format!("{release} signed by key {keys} of identity {}", sid.short()),
        )
    };
    // Transfers first, then rotations, then notes: rebuild in that order.
    let mut ordered: Vec<String> = Vec::new();
    if link.transferred {
        ordered.extend(
            link.chain
                .iter()
                .filter(|c| c.contains(" transferred "))
                .cloned(),
        );
    }
    ordered.extend(rotations);
    ordered.extend(
        link.chain
            .iter()
            .filter(|c| c.starts_with("signed before"))
            .cloned(),
    );
    for link in &ordered {
        message.push_str("; ");
        message.push_str(link);
    }
    message.push_str(&tofu);
    let mut decision = ctx.decision(verdict, message);
    decision.chain = ordered;
    decision
}

/// The earliest proof that a statement existed: the time of a verified receipt from a pinned
/// registry. Nothing else dates a statement.
fn proof_time(receipts: &[(String, Receipt)]) -> Option<(Timestamp, String)> {
    receipts
        .iter()
        .map(|(name, r)| (r.time, format!("receipt from registry `{name}`")))
        .min_by_key(|(t, _)| *t)
}

/// Adds superseded events to the outcome's evidence, once each.
fn keep_evidence(out: &mut Outcome, superseded: Vec<Envelope>) {
    for envelope in superseded {
        if !out.evidence.contains(&envelope) {
            out.evidence.push(envelope);
        }
    }
}

/// Settles what the verdicts of one run decide together, so that no verdict depends on the
/// order of the artifacts:
///
/// - **Trust on first use.** Two identities that would be pinned on first use for the same
///   namespace, or for namespaces one of which contains the other, in one run: neither is
///   pinned, and every artifact that would have pinned one of them is
///   `rejected: unlinked-signer-change` (the run shows two publishers for one name, and only
///   a person can tell which is real).
/// - **One content per release.** Two trusted artifacts of one run that are the same
///   `name@version` with different content: both `rejected: digest-mismatch`.
///
/// Called by the command line on every run, recorded or not, and by
/// [`super::TrustStore::record`]; settling twice changes nothing.
pub fn settle_run(outcomes: &mut [Outcome]) {
    // Distinct first-use candidates: (namespace, identity).
    let mut candidates: Vec<(Namespace, IdentityId)> = Vec::new();
    for o in outcomes.iter() {
        if let Some(pin) = &o.tofu_pin
            && !candidates
                .iter()
                .any(|(ns, id)| ns == &pin.namespace && *id == pin.identity)
        {
            candidates.push((pin.namespace.clone(), pin.identity));
        }
    }
    let rival = |ns: &Namespace, id: IdentityId| {
        candidates
            .iter()
            .filter(|(other, other_id)| {
                *other_id != id && (other.contains(ns) || ns.contains(other))
            })
            .min_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)))
            .cloned()
    };
    for o in outcomes.iter_mut() {
        let Some(pin) = &o.tofu_pin else { continue };
        let Some((other_ns, other_id)) = rival(&pin.namespace, pin.identity) else {
            continue;
        };
        let release = o.decision.release.clone().unwrap_or_default();
        o.decision.verdict = Verdict::Rejected(Rejection::UnlinkedSignerChange);
        o.decision.message = format!(
            "{release} is signed by identity {}, which claims {}, but identity {} claims {other_ns} in the same run: trust on first use cannot tell which publisher is real, so neither is pinned{}",
            pin.identity.short(),
            pin.namespace,
            other_id.short(),
            Advice::PinOneClaimant.words()
        );
        o.decision.advice = Some(Advice::PinOneClaimant);
        o.decision.chain.clear();
        o.tofu_pin = None;
    }

    // One content per release among the trusted verdicts.
    let mut contents: HashMap<(&PackageName, &Version), Vec<ContentDigest>> = HashMap::new();
    for o in outcomes.iter().filter(|o| o.decision.verdict.is_trusted()) {
        let seen = contents.entry((&o.name, &o.version)).or_default();
        if !seen.contains(&o.content) {
            seen.push(o.content);
        }
    }
    let conflicts: HashMap<(PackageName, Version), Vec<ContentDigest>> = contents
        .into_iter()
        .filter(|(_, c)| c.len() > 1)
        .map(|((n, v), c)| ((n.clone(), v.clone()), c))
        .collect();
    if conflicts.is_empty() {
        return;
    }
    for o in outcomes.iter_mut() {
        if !o.decision.verdict.is_trusted() {
            continue;
        }
        let Some(all) = conflicts.get(&(o.name.clone(), o.version.clone())) else {
            continue;
        };
        let mut others: Vec<String> = all
            .iter()
            .filter(|c| **c != o.content)
            .map(ToString::to_string)
            .collect();
        others.sort();
        o.decision.verdict = Verdict::Rejected(Rejection::DigestMismatch);
        o.decision.message = format!(
            "{}@{} has content {} here, but another artifact of this run has {} for the same release: a version has one content, so neither is trusted",
            o.name,
            o.version,
            o.content,
            others.join(", ")
        );
        o.decision.chain.clear();
        o.tofu_pin = None;
    }
}

/// Why no chain of transfers links two identities. The text of each but
/// [`Equivocation`](TransferFailure::Equivocation) continues a sentence that names the two
/// (", and no transfer links them", ": … was never accepted").
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TransferFailure {
    /// The first identity transferred the name to nobody.
    #[error(", and no transfer links them")]
    NoTransfer,
    /// The transfers followed end at an identity that did not hand the name on.
    #[error(": the transfers end at identity {}, which did not hand {name} on", at.short())]
    DeadEnd {
        /// The last identity reached.
        at: IdentityId,
        /// The package.
        name: PackageName,
    },
    /// An intermediate receiver's key event log is not at hand.
    #[error(
        ": identity {} transferred {name} to identity {}, whose key event log neither the bundle nor the keyring holds",
        from.short(),
        to.short()
    )]
    UnknownReceiver {
        /// The giver.
        from: IdentityId,
        /// The receiver whose log is missing.
        to: IdentityId,
        /// The package.
        name: PackageName,
    },
    /// A transfer was not completed by an acceptance.
    #[error(": {0}")]
    NotAccepted(TransferError),
    /// More than [`MAX_TRANSFER_HOPS`] transfers.
    #[error(": more than {MAX_TRANSFER_HOPS} transfers")]
    TooLong,
    /// Looking up an intermediate identity's log found equivocation.
    #[error(transparent)]
    Equivocation(Equivocation),
}

/// Two logs of one identity that differ at a position: its keys signed conflicting
/// histories.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "identity {} has two different events at #{at} ({held_in}: {}, the bundle: {}): its keys \
     signed conflicting histories, which only a compromise explains; both events are kept as \
     evidence",
    identity.short(),
    ours.short(),
    theirs.short()
)]
pub struct Equivocation {
    /// The identity.
    pub identity: IdentityId,
    /// The first position where the logs differ.
    pub at: u64,
    /// Where the first log came from (`the keyring`, `the bundle`).
    pub held_in: &'static str,
    /// The digest of the first log's event there.
    pub ours: Sha256Digest,
    /// The digest of the bundle's event there.
    pub theirs: Sha256Digest,
}

/// Follows accepted transfers of `name` from `from` to `to`, at most [`MAX_TRANSFER_HOPS`],
/// looking up intermediate identities' logs with `lookup` (`Err`: equivocation found).
/// Returns the links, as text, and the position of `to`'s acceptance.
///
/// This is the one transfer rule: the gatekeeper and the registry both use it.
pub fn follow_transfers(
    from: &Arc<Kel>,
    to: &Arc<Kel>,
    name: &PackageName,
    lookup: &mut dyn FnMut(IdentityId) -> Result<Option<Arc<Kel>>, Equivocation>,
) -> Result<(Vec<String>, u64), TransferFailure> {
    let target = Namespace::from(name);
    let mut current = from.clone();
    let mut links = Vec::new();
    for _ in 0..MAX_TRANSFER_HOPS {
        let mut receivers: Vec<IdentityId> = current
            .given()
            .iter()
            .filter(|g| g.name.contains(&target))
            .map(|g| g.to)
            .collect();
        receivers.dedup();
        let next = if receivers.contains(&to.identity()) {
            to.identity()
        } else if let Some(last) = receivers.last() {
            *last
        } else if links.is_empty() {
            return Err(TransferFailure::NoTransfer);
        } else {
            return Err(TransferFailure::DeadEnd {
                at: current.identity(),
                name: name.clone(),
            });
        };
        let receiver = if next == to.identity() {
            to.clone()
        } else {
            match lookup(next) {
                Ok(Some(kel)) => kel,
                Ok(None) => {
                    return Err(TransferFailure::UnknownReceiver {
                        from: current.identity(),
                        to: next,
                        name: name.clone(),
                    });
                }
                Err(e) => return Err(TransferFailure::Equivocation(e)),
            }
        };
        match find_transfer(&current, &receiver, name) {
            Ok(link) => {
                links.push(format!(
                    "{} transferred from identity {} to identity {} by transfer #{} ({}), accepted in #{}",
                    link.name,
                    current.identity().short(),
                    receiver.identity().short(),
                    link.transfer_sequence,
                    link.time,
                    link.acceptance_sequence
                ));
                if receiver.identity() == to.identity() {
                    return Ok((links, link.acceptance_sequence));
                }
                current = receiver;
            }
            Err(e) => return Err(TransferFailure::NotAccepted(e)),
        }
    }
    Err(TransferFailure::TooLong)
}

/// The most specific namespace `kel`'s identity holds that covers `name`.
fn held_namespace(kel: &Kel, name: &PackageName) -> Option<Namespace> {
    if !kel.owns(name) {
        return None;
    }
    kel.claimed()
        .iter()
        .chain(kel.received().iter().map(|r| &r.name))
        .filter(|ns| ns.covers(name))
        .max_by_key(|ns| ns.depth())
        .cloned()
}

/// When `key` (of `epoch`) was declared compromised, and by what, if it was: a rotation with
/// reason `compromised` that ended the epoch, or a revocation with that reason.
fn compromise_of(kel: &Kel, epoch: &Epoch, key: &KeyId) -> Option<(Timestamp, String)> {
    let mut found: Option<(Timestamp, String)> = None;
    if let (Some(end), Some((Reason::Compromised, time))) = (epoch.end, epoch.ended_by) {
        found = Some((
            time,
            format!("rotation #{end} ({time}) retired as compromised"),
        ));
    }
    for revocation in kel.revocations() {
        if revocation.reason == Reason::Compromised
            && revocation.keys.contains(key)
            && found.as_ref().is_none_or(|(t, _)| revocation.since < *t)
        {
            found = Some((
                revocation.since,
                format!(
                    "revocation #{} declared compromised since {}",
                    revocation.sequence, revocation.since
                ),
            ));
        }
    }
    found
}
