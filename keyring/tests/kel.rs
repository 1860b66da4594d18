//! The key event log walk: every rule and every refusal.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_keyring::digest::ContentDigest;
use hallmark_keyring::envelope::Envelope;
use hallmark_keyring::kel::binding::{BindingError, Position, bind};
use hallmark_keyring::kel::log::{Comparison, KelErrorKind, TransferError};
use hallmark_keyring::kel::{EventKind, Kel, KelFile, KeyEvent, Reason, find_transfer};
use hallmark_keyring::statement::SignerRef;
use hallmark_keyring::threshold::ThresholdError;
use hallmark_keyring::{
    IdentityId, KeyId, Namespace, PackageName, PublicKey, Sha256Digest, Statement, Timestamp,
};

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pk(seed: u8) -> PublicKey {
    PublicKey::new(sk(seed).verifying_key())
}

fn kid(seed: u8) -> KeyId {
    pk(seed).key_id()
}

fn ns(text: &str) -> Namespace {
    text.parse().unwrap()
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

fn sign(event: &KeyEvent, signers: &[u8]) -> Envelope {
    let mut env = event.to_envelope().unwrap();
    for &s in signers {
        env.sign(&sk(s)).unwrap();
    }
    env
}

/// Builds logs event by event, tracking identity, sequence and previous digest.
struct Log {
    events: Vec<Envelope>,
    identity: Option<IdentityId>,
}

impl Log {
    fn incept(
        keys: &[u8],
        threshold: u64,
        next: &[u8],
        next_threshold: u64,
        namespaces: &[&str],
    ) -> Self {
        let mut e = KeyEvent::new(EventKind::Inception, 0, t(0));
        e.keys = Some(keys.iter().map(|&s| pk(s)).collect());
        e.threshold = Some(threshold);
        e.next = Some(next.iter().map(|&s| kid(s)).collect());
        e.next_threshold = Some(next_threshold);
        e.namespaces = Some(namespaces.iter().map(|n| ns(n)).collect());
        let env = sign(&e, keys);
        Log {
            identity: Some(IdentityId::from_inception(&env.payload_digest())),
            events: vec![env],
        }
    }

    fn next_event(&self, kind: EventKind) -> KeyEvent {
        let mut e = KeyEvent::new(kind, self.events.len() as u64, t(self.events.len() as u64));
        e.identity = self.identity;
        e.previous = Some(self.events.last().unwrap().payload_digest());
        e
    }

    fn rotation(&self, keys: &[u8], next: &[u8], reason: Reason) -> KeyEvent {
        let mut e = self.next_event(EventKind::Rotation);
        e.keys = Some(keys.iter().map(|&s| pk(s)).collect());
        e.threshold = Some(1);
        e.next = Some(next.iter().map(|&s| kid(s)).collect());
        e.next_threshold = Some(1);
        e.reason = Some(reason);
        e
    }

    fn push(&mut self, event: &KeyEvent, signers: &[u8]) -> &mut Self {
        self.events.push(sign(event, signers));
        self
    }

    fn rotate(&mut self, keys: &[u8], next: &[u8], reason: Reason) -> &mut Self {
        let e = self.rotation(keys, next, reason);
        self.push(&e, keys)
    }

    fn verify(&self) -> Kel {
        Kel::verify(&self.events).unwrap()
    }

    fn refusal(&self) -> (u64, KelErrorKind) {
        let err = Kel::verify(&self.events).unwrap_err();
        (err.at, *err.kind)
    }
}

#[test]
fn inception_and_rotations_give_epochs() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled)
        .rotate(&[3], &[4], Reason::Compromised);
    let kel = log.verify();
    assert_eq!(kel.identity(), log.identity.unwrap());
    assert_eq!(kel.events().len(), 3);
    assert_eq!(kel.epochs().len(), 3);
    assert_eq!(kel.current().keys, vec![pk(3)]);
    assert_eq!(kel.epoch_at(0).unwrap().keys, vec![pk(1)]);
    assert_eq!(kel.epoch_at(1).unwrap().keys, vec![pk(2)]);
    assert_eq!(kel.epoch_at(2).unwrap().keys, vec![pk(3)]);
    assert_eq!(kel.epoch_at(3), None);
    assert_eq!(kel.epochs()[0].ended_by, Some((Reason::Scheduled, t(1))));
    assert_eq!(kel.epochs()[1].ended_by, Some((Reason::Compromised, t(2))));
    assert_eq!(kel.head().signers, vec![kid(3)]);
    assert!(kel.owns(&"org.example.tool".parse().unwrap()));
    assert!(!kel.owns(&"org.examples.tool".parse().unwrap()));
}

#[test]
fn identity_is_the_inception_digest() {
    let log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let kel = log.verify();
    assert_eq!(
        kel.identity().inception_digest(),
        log.events[0].payload_digest()
    );
    assert!(kel.identity().to_string().starts_with("hid:"));
}

#[test]
fn rotation_to_an_uncommitted_key_is_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[9], &[3], Reason::Scheduled);
    assert_eq!(
        log.refusal(),
        (
            1,
            KelErrorKind::UncommittedKey {
                key: kid(9),
                committed_at: 0
            }
        )
    );
}

#[test]
fn rotation_signed_only_by_the_stolen_current_key_is_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    // The thief holds key 1 and reveals the committed key 2 (public), but cannot sign with it.
    let rotation = log.rotation(&[2], &[66], Reason::Scheduled);
    log.push(&rotation, &[1]);
    let (at, kind) = log.refusal();
    assert_eq!(at, 1);
    assert_eq!(
        kind,
        KelErrorKind::Signatures {
            entitled: "the pre-committed next keys".into(),
            source: ThresholdError::NotMet {
                needed: 1,
                signed: vec![],
                unauthorized: vec![kid(1)]
            },
        }
    );
}

#[test]
fn the_pre_committed_key_alone_recovers_the_identity() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Lost);
    assert_eq!(log.verify().current().keys, vec![pk(2)]);
}

#[test]
fn current_keys_may_co_sign_a_rotation() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let rotation = log.rotation(&[2], &[3], Reason::Scheduled);
    log.push(&rotation, &[1, 2]);
    assert_eq!(log.verify().head().signers, vec![kid(2)]);
}

#[test]
fn a_replayed_old_rotation_is_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled)
        .rotate(&[3], &[4], Reason::Scheduled);
    let replay = log.events[1].clone();
    log.events.push(replay);
    assert_eq!(
        log.refusal(),
        (
            3,
            KelErrorKind::Sequence {
                expected: 3,
                found: 1
            }
        )
    );
}

#[test]
fn events_out_of_order_are_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled)
        .rotate(&[3], &[4], Reason::Scheduled);
    log.events.swap(1, 2);
    assert_eq!(
        log.refusal(),
        (
            1,
            KelErrorKind::Sequence {
                expected: 1,
                found: 2
            }
        )
    );
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    log.events.reverse();
    assert_eq!(log.refusal().1, KelErrorKind::NotInception);
}

#[test]
fn a_rewritten_history_breaks_the_chain() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    let mut bad = log.rotation(&[3], &[4], Reason::Scheduled);
    bad.previous = Some(log.events[0].payload_digest());
    log.push(&bad, &[3]);
    let (at, kind) = log.refusal();
    assert_eq!(at, 2);
    assert!(matches!(kind, KelErrorKind::BrokenChain { .. }), "{kind}");
}

#[test]
fn time_must_not_go_backwards() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    let mut e = log.rotation(&[3], &[4], Reason::Scheduled);
    e.time = t(0);
    log.push(&e, &[3]);
    assert_eq!(
        log.refusal(),
        (
            2,
            KelErrorKind::TimeRegression {
                previous: t(1),
                found: t(0)
            }
        )
    );
}

#[test]
fn an_event_of_another_identity_is_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let other = Log::incept(&[5], 1, &[6], 1, &["org.other"]);
    let mut e = log.rotation(&[2], &[3], Reason::Scheduled);
    e.identity = other.identity;
    log.push(&e, &[2]);
    assert_eq!(
        log.refusal(),
        (1, KelErrorKind::WrongIdentity(other.identity.unwrap()))
    );
}

#[test]
fn a_forked_log_is_equivocation_with_both_events_as_evidence() {
    let mut a = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let mut b = Log {
        events: a.events.clone(),
        identity: a.identity,
    };
    a.rotate(&[2], &[3], Reason::Scheduled);
    b.rotate(&[2], &[7], Reason::Scheduled);
    let (ka, kb) = (a.verify(), b.verify());
    match ka.compare(&kb) {
        Comparison::Forked { at, ours, theirs } => {
            assert_eq!(at, 1);
            assert_eq!(*ours, a.events[1]);
            assert_eq!(*theirs, b.events[1]);
        }
        other => panic!("{other:?}"),
    }
    let prefix = ka.prefix(1).unwrap();
    assert_eq!(prefix.compare(&ka), Comparison::Extends { new_events: 1 });
    assert_eq!(ka.compare(&prefix), Comparison::Shorter { missing: 1 });
    assert_eq!(ka.compare(&ka), Comparison::Same);
    let other = Log::incept(&[5], 1, &[6], 1, &["org.other"]).verify();
    assert_eq!(ka.compare(&other), Comparison::DifferentIdentity);
}

/// A transfer of `org.example` to `to`, signed by `signer`.
fn transfer_event(log: &Log, to: IdentityId) -> KeyEvent {
    let mut e = log.next_event(EventKind::Transfer);
    e.to = Some(to);
    e.names = Some(vec![ns("org.example")]);
    e
}

#[test]
fn a_rotation_by_the_next_keys_supersedes_events_signed_by_the_current_keys() {
    let base = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let thief_id = Log::incept(&[7], 1, &[8], 1, &["org.thief"])
        .identity
        .unwrap();
    let friend = Log::incept(&[9], 1, &[10], 1, &["org.friend"])
        .identity
        .unwrap();
    // The thief's branch: a transfer of org.example to the thief, signed by current key 1.
    let mut thief = Log {
        events: base.events.clone(),
        identity: base.identity,
    };
    let e = transfer_event(&thief, thief_id);
    thief.push(&e, &[1]);
    // The owner's branch: an event of its own with the current key (handing a sub-namespace to
    // a friend), then the recovery by the next key 2.
    let mut owner = Log {
        events: base.events.clone(),
        identity: base.identity,
    };
    let mut mine = transfer_event(&owner, friend);
    mine.names = Some(vec![ns("org.example.other")]);
    owner.push(&mine, &[1]);
    owner.rotate(&[2], &[3], Reason::Compromised);
    let (kt, ko) = (thief.verify(), owner.verify());
    assert_eq!(
        kt.compare(&ko),
        Comparison::Recovered {
            at: 1,
            rotation: 2,
            superseded: vec![thief.events[1].clone()]
        }
    );
    assert_eq!(
        ko.compare(&kt),
        Comparison::Supersedes {
            at: 1,
            rotation: 2,
            superseded: vec![thief.events[1].clone()]
        }
    );
    // The recovering log may be shorter than the branch it supersedes.
    let e = thief.next_event(EventKind::Acceptance);
    let mut accept = e;
    accept.from = Some(thief_id);
    accept.transfer = Some(thief.events[1].payload_digest());
    accept.names = Some(vec![ns("org.thief")]);
    thief.push(&accept, &[1]);
    let kt = thief.verify();
    let mut quick = Log {
        events: base.events.clone(),
        identity: base.identity,
    };
    quick.rotate(&[2], &[3], Reason::Compromised);
    match kt.compare(&quick.verify()) {
        Comparison::Recovered { at, superseded, .. } => {
            assert_eq!(at, 1);
            assert_eq!(superseded, thief.events[1..].to_vec());
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn two_branches_of_current_key_events_or_two_rotations_stay_equivocation() {
    let base = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let to = Log::incept(&[7], 1, &[8], 1, &["org.thief"])
        .identity
        .unwrap();
    let branch = |names: &str| {
        let mut log = Log {
            events: base.events.clone(),
            identity: base.identity,
        };
        let mut e = transfer_event(&log, to);
        e.names = Some(vec![ns(names)]);
        log.push(&e, &[1]);
        log
    };
    // Neither branch holds a rotation: nobody recovered yet.
    let (a, b) = (branch("org.example.a"), branch("org.example.b"));
    assert!(matches!(
        a.verify().compare(&b.verify()),
        Comparison::Forked { at: 1, .. }
    ));
    // Both hold a rotation after the fork: the next keys signed two histories.
    let (mut a, mut b) = (a, b);
    a.rotate(&[2], &[3], Reason::Compromised);
    b.rotate(&[2], &[4], Reason::Compromised);
    assert!(matches!(
        a.verify().compare(&b.verify()),
        Comparison::Forked { at: 1, .. }
    ));
}

#[test]
fn thresholds_are_enforced_for_m_of_n() {
    let mut log = Log::incept(&[1, 2, 3], 2, &[4, 5, 6], 2, &["org.example"]);
    log.verify();
    // Inception signed by one of three with threshold two.
    let mut one = Log::incept(&[1, 2, 3], 2, &[4, 5, 6], 2, &["org.example"]);
    let e = KeyEvent::from_envelope(&one.events[0]).unwrap();
    one.events[0] = sign(&e, &[1]);
    assert!(matches!(
        one.refusal().1,
        KelErrorKind::Signatures {
            source: ThresholdError::NotMet { needed: 2, .. },
            ..
        }
    ));

    // A rotation revealing two of the three committed keys, signed by both: valid.
    let mut e = log.rotation(&[4, 5], &[7], Reason::Scheduled);
    e.threshold = Some(2);
    log.push(&e, &[4, 5]);
    assert_eq!(log.verify().current().threshold, 2);

    // Revealing only one when two are committed as the threshold: refused.
    let mut short = Log::incept(&[1, 2, 3], 2, &[4, 5, 6], 2, &["org.example"]);
    let e = short.rotation(&[4], &[7], Reason::Scheduled);
    short.push(&e, &[4]);
    assert_eq!(
        short.refusal().1,
        KelErrorKind::TooFewRevealed {
            revealed: 1,
            threshold: 2
        }
    );
}

#[test]
fn a_revocation_signed_by_the_wrong_keys_is_refused() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    let mut e = log.next_event(EventKind::Revocation);
    e.revoked = Some(vec![kid(1)]);
    e.reason = Some(Reason::Compromised);
    e.since = Some(t(0));
    log.push(&e, &[1]);
    assert!(matches!(
        log.refusal(),
        (
            2,
            KelErrorKind::Signatures {
                source: ThresholdError::NotMet { .. },
                ..
            }
        )
    ));
    log.events.pop();
    log.push(&e, &[2]);
    let kel = log.verify();
    assert_eq!(kel.revocations().len(), 1);
    assert_eq!(kel.revocations()[0].keys, vec![kid(1)]);
    assert_eq!(kel.revocations()[0].since, t(0));
}

#[test]
fn revocation_targets_only_past_keys_of_this_identity() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    for (key, expected) in [
        (2, KelErrorKind::RevokesCurrentKey(kid(2))),
        (9, KelErrorKind::UnknownKey(kid(9))),
    ] {
        let mut l = Log {
            events: log.events.clone(),
            identity: log.identity,
        };
        let mut e = l.next_event(EventKind::Revocation);
        e.revoked = Some(vec![kid(key)]);
        e.reason = Some(Reason::Compromised);
        e.since = Some(t(0));
        l.push(&e, &[2]);
        assert_eq!(l.refusal(), (2, expected));
    }
}

#[test]
fn truncated_or_padded_events_are_malformed() {
    let log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let env = &log.events[0];
    let payload = env.payload();
    for bad in [
        payload[..payload.len() - 1].to_vec(),
        [payload, b" "].concat(),
        [b" ", payload].concat(),
    ] {
        let mut tampered = Envelope::new(env.payload_type(), bad).unwrap();
        tampered.add_signature(env.signatures()[0].clone()).unwrap();
        let (at, kind) = Log {
            events: vec![tampered],
            identity: None,
        }
        .refusal();
        assert_eq!(at, 0);
        assert!(matches!(kind, KelErrorKind::Malformed(_)), "{kind}");
    }
}

#[test]
fn a_statement_envelope_is_not_a_key_event() {
    let log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let env = Envelope::new(
        hallmark_keyring::PayloadType::Statement,
        log.events[0].payload().to_vec(),
    )
    .unwrap();
    let (_, kind) = Log {
        events: vec![env],
        identity: None,
    }
    .refusal();
    assert!(
        matches!(
            kind,
            KelErrorKind::Malformed(hallmark_keyring::FormatError::WrongPayloadType { .. })
        ),
        "{kind}"
    );
}

#[test]
fn event_shapes_are_exact() {
    let mut e = KeyEvent::new(EventKind::Transfer, 1, t(1));
    e.keys = Some(vec![pk(1)]);
    assert!(e.validate().is_err());
    let mut e = KeyEvent::new(EventKind::Inception, 0, t(0));
    e.keys = Some(vec![pk(1), pk(1)]);
    e.threshold = Some(1);
    e.next = Some(vec![kid(2)]);
    e.next_threshold = Some(1);
    e.namespaces = Some(vec![ns("org.example")]);
    assert_eq!(
        e.validate().unwrap_err().to_string(),
        "key event: a key is listed twice in `keys`"
    );
    e.keys = Some(vec![pk(1)]);
    e.threshold = Some(2);
    assert_eq!(
        e.validate().unwrap_err().to_string(),
        "key event: threshold 2 for `keys` must be between 1 and its 1 key(s)"
    );
    e.threshold = Some(1);
    e.next = Some(vec![]);
    assert_eq!(
        e.validate().unwrap_err().to_string(),
        "key event: `next` holds 1 to 64 keys"
    );
}

#[test]
fn transfer_links_only_when_accepted() {
    let mut giver = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let mut receiver = Log::incept(&[5], 1, &[6], 1, &["org.newhome"]);
    let name: PackageName = "org.example.tool".parse().unwrap();

    let mut transfer = giver.next_event(EventKind::Transfer);
    transfer.to = receiver.identity;
    transfer.names = Some(vec![ns("org.example.tool")]);
    giver.push(&transfer, &[1]);
    let (g, r) = (giver.verify(), receiver.verify());
    assert!(
        !g.owns(&name),
        "a transferred name is no longer the giver's"
    );
    assert!(g.owns(&"org.example.other".parse().unwrap()));
    assert_eq!(
        find_transfer(&g, &r, &name),
        Err(TransferError::NotAccepted {
            giver: g.identity(),
            receiver: r.identity(),
            name: name.clone(),
            sequence: 1
        })
    );

    // An acceptance that names a different transfer event links nothing.
    let mut wrong = receiver.next_event(EventKind::Acceptance);
    wrong.from = giver.identity;
    wrong.transfer = Some(giver.events[0].payload_digest());
    wrong.names = Some(vec![ns("org.example.tool")]);
    let mut wrong_log = Log {
        events: receiver.events.clone(),
        identity: receiver.identity,
    };
    wrong_log.push(&wrong, &[5]);
    assert!(matches!(
        find_transfer(&g, &wrong_log.verify(), &name),
        Err(TransferError::NotAccepted { .. })
    ));

    let mut accept = receiver.next_event(EventKind::Acceptance);
    accept.from = giver.identity;
    accept.transfer = Some(giver.events[1].payload_digest());
    accept.names = Some(vec![ns("org.example.tool")]);
    receiver.push(&accept, &[5]);
    let r = receiver.verify();
    assert!(r.owns(&name));
    let link = find_transfer(&g, &r, &name).unwrap();
    assert_eq!((link.transfer_sequence, link.acceptance_sequence), (1, 1));

    // Without a transfer at all, an acceptance links nothing.
    let stranger = Log::incept(&[8], 1, &[9], 1, &["org.stranger"]).verify();
    assert!(matches!(
        find_transfer(&stranger, &r, &name),
        Err(TransferError::NoTransfer { .. })
    ));
}

#[test]
fn transferring_an_unowned_name_is_refused() {
    let mut giver = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let receiver = Log::incept(&[5], 1, &[6], 1, &["org.newhome"]);
    let mut transfer = giver.next_event(EventKind::Transfer);
    transfer.to = receiver.identity;
    transfer.names = Some(vec![ns("org.other.tool")]);
    giver.push(&transfer, &[1]);
    assert_eq!(
        giver.refusal(),
        (1, KelErrorKind::NotOwned(ns("org.other.tool")))
    );
}

#[test]
fn log_file_round_trips_and_is_strict() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    let kel = log.verify();
    let file = KelFile::from_kel(&kel);
    let json = file.to_json();
    assert_eq!(KelFile::from_json(&json).unwrap(), file);
    let text = String::from_utf8(json).unwrap();
    assert!(KelFile::from_json(text.replace("kel.v1", "kel.v2").as_bytes()).is_err());
    assert!(KelFile::from_json(text.replacen('{', "{\"x\":1,", 1).as_bytes()).is_err());
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("org.example.kel");
    std::fs::write(&path, text.as_bytes()).unwrap();
    assert_eq!(KelFile::read_verified(&path).unwrap(), kel);
}

#[test]
fn append_applies_the_same_rules_as_verify() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let kel = log.verify();
    // entitled_signers: who must sign a planned event.
    let planned = log.rotation(&[2], &[3], Reason::Lost);
    assert_eq!(kel.entitled_signers(&planned).unwrap(), (vec![pk(2)], 1));
    let good = sign(&log.rotation(&[2], &[3], Reason::Scheduled), &[2]);
    let longer = kel.append(&good).unwrap();
    log.events.push(good);
    assert_eq!(longer, log.verify());
    // The same refusals, at the same position.
    let stolen = sign(&log.rotation(&[2], &[3], Reason::Scheduled), &[1]);
    log.events.pop();
    let err = kel.append(&stolen).unwrap_err();
    log.events.push(stolen);
    assert_eq!(err, Kel::verify(&log.events).unwrap_err());
    assert_eq!(err.at, 1);
    // An event already in the log is refused as out of sequence.
    assert!(matches!(
        *longer
            .append(&longer.events()[1].envelope)
            .unwrap_err()
            .kind,
        KelErrorKind::Sequence {
            expected: 2,
            found: 1
        }
    ));
}

#[test]
fn the_lowest_failing_position_is_reported_whatever_the_kind() {
    // A bad signature at #1 and a broken chain at #2: #1 is reported.
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let rotation = log.rotation(&[2], &[3], Reason::Scheduled);
    log.push(&rotation, &[9]);
    let mut bad = log.rotation(&[3], &[4], Reason::Scheduled);
    bad.previous = Some(log.events[0].payload_digest());
    log.push(&bad, &[3]);
    let (at, kind) = log.refusal();
    assert_eq!(at, 1);
    assert!(matches!(kind, KelErrorKind::Signatures { .. }), "{kind}");
}

#[test]
fn transferring_to_oneself_is_refused() {
    let mut giver = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let mut transfer = giver.next_event(EventKind::Transfer);
    transfer.to = giver.identity;
    transfer.names = Some(vec![ns("org.example.tool")]);
    giver.push(&transfer, &[1]);
    assert_eq!(giver.refusal(), (1, KelErrorKind::SelfTransfer));
}

/// A statement for `name` naming event `sequence` of `log` (with the digest of the event the
/// log holds there, or `event` if given), signed by `signers`.
fn statement(
    log: &Log,
    name: &str,
    sequence: u64,
    event: Option<Sha256Digest>,
    signers: &[u8],
) -> (Envelope, Position) {
    let identity = log.identity.unwrap();
    let event = event.unwrap_or_else(|| log.events[sequence as usize].payload_digest());
    let statement = Statement {
        name: name.parse().unwrap(),
        version: "1.0.0".parse().unwrap(),
        digest: ContentDigest::File(*Sha256Digest::of(b"release").as_bytes()),
        signer: SignerRef::identity(identity, sequence, event),
        created: t(100),
    };
    let mut envelope = statement.to_envelope().unwrap();
    for &s in signers {
        envelope.sign(&sk(s)).unwrap();
    }
    let position = Position {
        identity,
        sequence,
        event,
    };
    (envelope, position)
}

fn pkg(text: &str) -> PackageName {
    text.parse().unwrap()
}

#[test]
fn a_statement_is_bound_to_the_keys_current_at_the_event_it_names() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Scheduled);
    let kel = log.verify();
    let tool = pkg("org.example.tool");

    let (env, at) = statement(&log, "org.example.tool", 1, None, &[2]);
    let binding = bind(&kel, &env, &tool, at).unwrap();
    assert_eq!(binding.epoch.keys, vec![pk(2)]);
    assert_eq!(binding.epoch.end, None);
    assert_eq!(binding.signers, vec![kid(2)]);

    // Naming the earlier position binds to the earlier keys; that they were rotated away
    // since is for the caller to weigh, so the binding says so.
    let (env, at) = statement(&log, "org.example.tool", 0, None, &[1]);
    let binding = bind(&kel, &env, &tool, at).unwrap();
    assert_eq!(binding.epoch.keys, vec![pk(1)]);
    assert_eq!(binding.epoch.end, Some(1));
}

#[test]
fn a_superseded_key_cannot_claim_a_later_position() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    log.rotate(&[2], &[3], Reason::Compromised);
    let kel = log.verify();
    // The thief of key 1 names the position after the rotation.
    let (env, at) = statement(&log, "org.example.tool", 1, None, &[1]);
    match bind(&kel, &env, &pkg("org.example.tool"), at) {
        Err(BindingError::Signature {
            identity,
            sequence: 1,
            epoch,
            source:
                ThresholdError::NotMet {
                    needed: 1,
                    signed,
                    unauthorized,
                },
        }) => {
            assert_eq!(identity, log.identity.unwrap());
            assert_eq!(epoch.keys, vec![pk(2)]);
            assert!(signed.is_empty());
            assert_eq!(unauthorized, vec![kid(1)]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_statement_is_not_bound_to_another_identitys_log() {
    let log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let other = Log::incept(&[1], 1, &[3], 1, &["org.example"]);
    let (env, at) = statement(&log, "org.example.tool", 0, None, &[1]);
    assert_eq!(
        bind(&other.verify(), &env, &pkg("org.example.tool"), at),
        Err(BindingError::OtherIdentity {
            named: log.identity.unwrap(),
            log: other.identity.unwrap(),
        })
    );
}

#[test]
fn a_statement_cannot_name_a_future_or_another_event() {
    let mut log = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let kel = log.verify();
    let identity = log.identity.unwrap();
    let tool = pkg("org.example.tool");
    // The event the signer will have made next, named before the log holds it.
    log.rotate(&[2], &[3], Reason::Scheduled);
    let (env, at) = statement(&log, "org.example.tool", 1, None, &[1]);
    assert_eq!(
        bind(&kel, &env, &tool, at),
        Err(BindingError::NoEvent {
            identity,
            sequence: 1
        })
    );
    // A fork: the same position with another event.
    let forged = Sha256Digest::of(b"another history");
    let (env, at) = statement(&log, "org.example.tool", 0, Some(forged), &[1]);
    assert_eq!(
        bind(&kel, &env, &tool, at),
        Err(BindingError::OtherEvent {
            identity,
            sequence: 0,
            named: forged,
            held: log.events[0].payload_digest(),
        })
    );
}

#[test]
fn a_statement_needs_the_name_held_at_its_position() {
    let mut giver = Log::incept(&[1], 1, &[2], 1, &["org.example"]);
    let receiver = Log::incept(&[5], 1, &[6], 1, &["org.newhome"]);
    let (env, at) = statement(&giver, "org.other.tool", 0, None, &[1]);
    assert_eq!(
        bind(&giver.verify(), &env, &pkg("org.other.tool"), at),
        Err(BindingError::NotHeld {
            identity: giver.identity.unwrap(),
            name: Box::new(pkg("org.other.tool")),
            sequence: 0,
            given: None,
        })
    );
    let mut transfer = giver.next_event(EventKind::Transfer);
    transfer.to = receiver.identity;
    transfer.names = Some(vec![ns("org.example.tool")]);
    giver.push(&transfer, &[1]);
    let kel = giver.verify();
    // Before the transfer the name was the giver's; from it on, it is not.
    let (env, at) = statement(&giver, "org.example.tool", 0, None, &[1]);
    assert!(bind(&kel, &env, &pkg("org.example.tool"), at).is_ok());
    let (env, at) = statement(&giver, "org.example.tool", 1, None, &[1]);
    match bind(&kel, &env, &pkg("org.example.tool"), at) {
        Err(BindingError::NotHeld {
            sequence: 1,
            given: Some(given),
            ..
        }) => {
            assert_eq!(given.to, receiver.identity.unwrap());
            assert_eq!(given.sequence, 1);
        }
        other => panic!("{other:?}"),
    }
}
