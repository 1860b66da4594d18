//! The gatekeeper through the library: the attestation policy with a verifier supplied by the
//! caller, and chains of transfers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::bundle::{Attestation, Bundle};
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::trust::{
    AttestationError, AttestationVerifier, Gate, NoAttestationVerifier, TrustView,
};
use hallmark_keyring::verdict::{Rejection, Verdict};
use hallmark_keyring::{IdentityId, PublicKey, Sha256Digest, Statement, Timestamp};

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pk(seed: u8) -> PublicKey {
    PublicKey::new(sk(seed).verifying_key())
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

struct Id {
    events: Vec<Envelope>,
    identity: IdentityId,
    key: u8,
}

impl Id {
    fn incept(key: u8, ns: &str) -> Id {
        let mut e = KeyEvent::new(EventKind::Inception, 0, t(0));
        e.keys = Some(vec![pk(key)]);
        e.threshold = Some(1);
        e.next = Some(vec![pk(key + 100).key_id()]);
        e.next_threshold = Some(1);
        e.namespaces = Some(vec![ns.parse().unwrap()]);
        let mut env = e.to_envelope().unwrap();
        env.sign(&sk(key)).unwrap();
        Id {
            identity: IdentityId::from_inception(&env.payload_digest()),
            events: vec![env],
            key,
        }
    }

    fn next(&self, kind: EventKind, time: Timestamp) -> KeyEvent {
        let mut e = KeyEvent::new(kind, self.events.len() as u64, time);
        e.identity = Some(self.identity);
        e.previous = Some(self.events.last().unwrap().payload_digest());
        e
    }

    fn push(&mut self, e: &KeyEvent) {
        let mut env = e.to_envelope().unwrap();
        env.sign(&sk(self.key)).unwrap();
        self.events.push(env);
    }

    fn transfer(&mut self, to: &Id, name: &str, time: Timestamp) {
        let mut e = self.next(EventKind::Transfer, time);
        e.to = Some(to.identity);
        e.names = Some(vec![name.parse().unwrap()]);
        self.push(&e);
    }

    fn accept(&mut self, from: &Id, name: &str, time: Timestamp) {
        let mut e = self.next(EventKind::Acceptance, time);
        e.from = Some(from.identity);
        e.transfer = Some(from.events.last().unwrap().payload_digest());
        e.names = Some(vec![name.parse().unwrap()]);
        self.push(&e);
    }

    fn kel(&self) -> Kel {
        Kel::verify(&self.events).unwrap()
    }

    fn bundle(&self, name: &str, bytes: &[u8]) -> (Bundle, ContentDigest) {
        let digest = ContentDigest::File(*Sha256Digest::of(bytes).as_bytes());
        let seq = self.events.len() - 1;
        let statement = Statement {
            name: name.parse().unwrap(),
            version: "1.0.0".parse().unwrap(),
            digest,
            signer: SignerRef::identity(
                self.identity,
                seq as u64,
                self.events[seq].payload_digest(),
            ),
            created: t(1000),
        };
        let mut env = statement.to_envelope().unwrap();
        env.sign(&sk(self.key)).unwrap();
        let mut bundle = Bundle::new(env);
        bundle.kel = self.events.clone();
        (bundle, digest)
    }
}

/// Accepts attestations whose format is `test-ok`.
struct TestVerifier;

impl AttestationVerifier for TestVerifier {
    fn verify(&self, attestation: &Attestation, _: &PublicKey) -> Result<String, AttestationError> {
        if attestation.format == "test-ok" {
            Ok("test device".to_owned())
        } else {
            Err(AttestationError::Refused(
                format!("unknown attestation format {}", attestation.format).into(),
            ))
        }
    }
}

#[test]
fn attestation_policy_uses_the_callers_verifier() {
    let p = Id::incept(1, "org.example");
    let mut view = TrustView::for_identity(p.kel(), t(0));
    view.pins.pins[0].policy.require_attestation = true;
    let (mut bundle, digest) = p.bundle("org.example.tool", b"x");
    let none = NoAttestationVerifier;
    let test = TestVerifier;

    let d = Gate::new(&view, &test, false, t(0))
        .decide(&bundle, &digest)
        .unwrap()
        .decision;
    assert_eq!(d.verdict, Verdict::Rejected(Rejection::BadSignature));
    assert_eq!(
        d.message,
        format!(
            "the policy for org.example requires hardware attestation, and signing key {} of org.example.tool@1.0.0 has none",
            pk(1).key_id().short()
        )
    );

    bundle.attestations.push(Attestation {
        key: pk(1).key_id(),
        format: "test-ok".into(),
        certificates: vec![],
    });
    let d = Gate::new(&view, &test, false, t(0))
        .decide(&bundle, &digest)
        .unwrap()
        .decision;
    assert_eq!(d.verdict, Verdict::Trusted, "{}", d.message);

    // A build without attestation support fails the policy closed.
    let d = Gate::new(&view, &none, false, t(0))
        .decide(&bundle, &digest)
        .unwrap()
        .decision;
    assert_eq!(d.verdict, Verdict::Rejected(Rejection::BadSignature));
    assert!(d.message.ends_with(
        "has an attestation that does not verify: this program cannot verify hardware attestations"
    ));
}

#[test]
fn a_chain_of_accepted_transfers_links_the_pin_to_the_signer() {
    let mut p = Id::incept(1, "org.example");
    let mut q = Id::incept(2, "org.q");
    let mut r = Id::incept(3, "org.r");
    p.transfer(&q, "org.example.tool", t(10));
    q.accept(&p, "org.example.tool", t(11));
    q.transfer(&r, "org.example.tool", t(12));
    r.accept(&q, "org.example.tool", t(13));

    let view = TrustView::for_identity(p.kel(), t(0));
    let gate_verifier = NoAttestationVerifier;
    let (mut bundle, digest) = r.bundle("org.example.tool", b"r");
    // Without Q's log the chain cannot be followed.
    bundle.related.push(KelFile::from_kel(&p.kel()));
    let d = Gate::new(&view, &gate_verifier, false, t(0))
        .decide(&bundle, &digest)
        .unwrap()
        .decision;
    assert_eq!(
        d.verdict,
        Verdict::Rejected(Rejection::UnlinkedSignerChange)
    );
    assert!(d.message.contains(&format!(
        "transferred org.example.tool to identity {}, whose key event log neither the bundle nor the keyring holds",
        q.identity.short()
    )), "{}", d.message);

    bundle.related.push(KelFile::from_kel(&q.kel()));
    let d = Gate::new(&view, &gate_verifier, false, t(0))
        .decide(&bundle, &digest)
        .unwrap()
        .decision;
    assert_eq!(d.verdict, Verdict::TrustedAfterTransfer, "{}", d.message);
    assert_eq!(d.chain.len(), 2);
    assert!(d.chain[0].starts_with(&format!(
        "org.example.tool transferred from identity {} to identity {} by transfer #1",
        p.identity.short(),
        q.identity.short()
    )));
    assert!(d.chain[1].starts_with(&format!(
        "org.example.tool transferred from identity {} to identity {} by transfer #2",
        q.identity.short(),
        r.identity.short()
    )));
}
