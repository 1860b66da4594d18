//! The ceremony crate over in-memory signers: planning, co-signing and committing events,
//! transcripts, and custodian backups — the refusals first.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ed25519_dalek::SigningKey;
use hallmark_ceremony::backup::{self, BackupError, Custodian};
use hallmark_ceremony::event::{self, InceptionPlan, RotationPlan};
use hallmark_ceremony::transcript::{self, EventStatus, Participant, Transcript, TranscriptError};
use hallmark_ceremony::{CeremonyError, PendingEvent};
use hallmark_keyring::kel::{Kel, KelErrorKind, Reason};
use hallmark_keyring::{KeyId, PublicKey, Timestamp};

fn sk(seed: u8) -> SigningKey {
    SigningKey::from_bytes(&[seed; 32])
}

fn pk(seed: u8) -> PublicKey {
    PublicKey::new(sk(seed).verifying_key())
}

fn kid(seed: u8) -> KeyId {
    pk(seed).key_id()
}

fn t(secs: u64) -> Timestamp {
    Timestamp::from_unix(1_800_000_000 + secs).unwrap()
}

/// Keys 1, 2, 3 (threshold 2), next 4, 5, 6 (threshold 2).
fn m_of_n() -> Kel {
    let planned = event::inception(&InceptionPlan {
        keys: vec![pk(1), pk(2), pk(3)],
        threshold: 2,
        next: vec![kid(4), kid(5), kid(6)],
        next_threshold: 2,
        namespaces: vec!["org.example".parse().unwrap()],
        attestations: vec![],
        time: t(0),
    })
    .unwrap();
    let mut pending = PendingEvent::new(&planned).unwrap();
    pending.sign(None, &sk(1)).unwrap();
    assert!(matches!(
        pending.commit(None),
        Err(CeremonyError::ThresholdNotMet { needed: 2, .. })
    ));
    assert!(matches!(
        pending.sign(None, &sk(4)),
        Err(CeremonyError::NotEntitled { .. })
    ));
    pending.sign(None, &sk(3)).unwrap();
    // The file form round-trips.
    let pending = PendingEvent::from_json(&pending.to_json()).unwrap();
    pending.commit(None).unwrap()
}

fn rotation_plan(keys: &[u8], next: &[u8], time: u64) -> RotationPlan {
    RotationPlan {
        keys: keys.iter().map(|&s| pk(s)).collect(),
        threshold: 1,
        next: next.iter().map(|&s| kid(s)).collect(),
        next_threshold: 1,
        reason: Reason::Scheduled,
        attestations: vec![],
        time: t(time),
    }
}

#[test]
fn m_of_n_rotation_with_co_signers() {
    let kel = m_of_n();
    let planned = event::rotation(&kel, &rotation_plan(&[4, 5], &[7], 1)).unwrap();
    assert_eq!(planned.threshold, 2);
    let mut pending = PendingEvent::new(&planned).unwrap();
    pending.sign(Some(&kel), &sk(4)).unwrap();
    pending.sign(Some(&kel), &sk(1)).unwrap(); // a current key co-signs; it does not count
    assert_eq!(pending.progress(Some(&kel)).unwrap(), (vec![kid(4)], 2));
    assert!(matches!(
        pending.commit(Some(&kel)),
        Err(CeremonyError::ThresholdNotMet { .. })
    ));
    pending.sign(Some(&kel), &sk(5)).unwrap();
    let longer = pending.commit(Some(&kel)).unwrap();
    assert_eq!(longer.current().keys, vec![pk(4), pk(5)]);
    assert_eq!(longer.head().signers, vec![kid(4), kid(5)]);
    // Planned on the old log again, another rotation at the same position is a fork.
    let other = event::rotation(&kel, &rotation_plan(&[4, 5], &[8], 1)).unwrap();
    let mut fork = PendingEvent::new(&other).unwrap();
    fork.sign(Some(&kel), &sk(4)).unwrap();
    fork.sign(Some(&kel), &sk(5)).unwrap();
    assert!(matches!(
        fork.commit(Some(&longer)),
        Err(CeremonyError::Fork { sequence: 1, .. })
    ));
    assert!(matches!(
        pending.commit(Some(&longer)),
        Err(CeremonyError::AlreadyCommitted { sequence: 1, .. })
    ));
}

#[test]
fn planning_refuses_before_signing() {
    let kel = m_of_n();
    match event::rotation(&kel, &rotation_plan(&[9], &[7], 1)) {
        Err(CeremonyError::Log(e)) => assert_eq!(
            *e.kind,
            KelErrorKind::UncommittedKey {
                key: kid(9),
                committed_at: 0
            }
        ),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        event::rotation(&kel, &rotation_plan(&[4, 5], &[4], 1)),
        Err(CeremonyError::Invalid(_))
    ));
    assert!(matches!(
        event::rotation(&kel, &rotation_plan(&[4, 5], &[1], 1)),
        Err(CeremonyError::Invalid(_))
    ));
    let mut late = rotation_plan(&[4, 5], &[7], 0);
    late.time = Timestamp::from_unix(1).unwrap();
    assert!(matches!(
        event::rotation(&kel, &late),
        Err(CeremonyError::ClockBehind { .. })
    ));
    assert!(matches!(
        event::revocation(&kel, &[kid(1)], Reason::Compromised, t(0), t(1)),
        Err(CeremonyError::Log(_))
    ));
    assert!(matches!(
        event::revocation(&kel, &[kid(9)], Reason::Compromised, t(5), t(1)),
        Err(CeremonyError::Invalid(_))
    ));
}

#[test]
fn transfer_and_acceptance_name_each_other() {
    let giver = m_of_n();
    let planned = event::inception(&InceptionPlan {
        keys: vec![pk(10)],
        threshold: 1,
        next: vec![kid(11)],
        next_threshold: 1,
        namespaces: vec!["org.newhome".parse().unwrap()],
        attestations: vec![],
        time: t(0),
    })
    .unwrap();
    let mut p = PendingEvent::new(&planned).unwrap();
    p.sign(None, &sk(10)).unwrap();
    let receiver = p.commit(None).unwrap();
    assert!(matches!(
        event::acceptance(&receiver, &giver, None, None, t(1)),
        Err(CeremonyError::NoTransfer { .. })
    ));
    let names = vec!["org.example.tool".parse().unwrap()];
    let planned = event::transfer(&giver, receiver.identity(), &names, t(1)).unwrap();
    let mut p = PendingEvent::new(&planned).unwrap();
    p.sign(Some(&giver), &sk(2)).unwrap();
    p.sign(Some(&giver), &sk(3)).unwrap();
    let giver = p.commit(Some(&giver)).unwrap();
    let wrong = vec!["org.example.other".parse().unwrap()];
    assert!(matches!(
        event::acceptance(&receiver, &giver, None, Some(&wrong), t(2)),
        Err(CeremonyError::NamesMismatch { .. })
    ));
    let planned = event::acceptance(&receiver, &giver, None, Some(&names), t(2)).unwrap();
    assert_eq!(planned.event.transfer, Some(giver.head().digest));
    let mut p = PendingEvent::new(&planned).unwrap();
    p.sign(Some(&receiver), &sk(10)).unwrap();
    let receiver = p.commit(Some(&receiver)).unwrap();
    let link = hallmark_keyring::kel::find_transfer(
        &giver,
        &receiver,
        &"org.example.tool".parse().unwrap(),
    )
    .unwrap();
    assert_eq!((link.transfer_sequence, link.acceptance_sequence), (1, 1));
    // Once accepted, there is nothing left to accept.
    assert!(matches!(
        event::acceptance(&receiver, &giver, None, None, t(3)),
        Err(CeremonyError::NoTransfer { .. })
    ));
}

fn participant(seed: u8) -> Participant {
    Participant {
        public_key: pk(seed),
        key_id: kid(seed),
        role: "signer".into(),
        backend: "file".into(),
        reference: format!("file:k{seed}.key"),
        device: vec![("serial".into(), "123".into())],
        attestations: vec![],
    }
}

#[test]
fn transcripts_are_signed_by_every_participant() {
    let kel = m_of_n();
    let mut tr = Transcript::new("init", Some(kel.identity()), t(0));
    tr.event(&kel.head().event, EventStatus::Committed);
    tr.participants = vec![participant(1), participant(3)];
    let env = tr.sign(&[&sk(1), &sk(3)]).unwrap();
    assert_eq!(transcript::verify(&env).unwrap(), tr);
    assert_eq!(
        tr.check_log(&kel)[0].1,
        hallmark_ceremony::transcript::LogCheck::InLog
    );
    // A participant who did not sign.
    let partial = tr.sign(&[&sk(1)]).unwrap();
    assert!(matches!(
        transcript::verify(&partial),
        Err(TranscriptError::Signatures(_))
    ));
    // A signer who is not a participant.
    assert!(tr.sign(&[&sk(1), &sk(3), &sk(2)]).is_err());
    // A wrong key id, a duplicate participant.
    let mut bad = tr.clone();
    bad.participants[1].key_id = kid(2);
    let env = hallmark_keyring::Envelope::new(
        hallmark_keyring::PayloadType::Transcript,
        bad.to_payload(),
    )
    .unwrap();
    assert!(matches!(
        transcript::verify(&env),
        Err(TranscriptError::KeyIdMismatch { .. })
    ));
    let mut dup = tr.clone();
    dup.participants = vec![participant(1), participant(1)];
    let env = dup.sign(&[&sk(1)]).unwrap();
    assert!(matches!(
        transcript::verify(&env),
        Err(TranscriptError::DuplicateParticipant(_))
    ));
    // Unsigned, with no signed part: proves nothing.
    let mut empty = tr.clone();
    empty.participants.clear();
    let env = empty.sign(&[]).unwrap();
    assert!(matches!(
        transcript::verify(&env),
        Err(TranscriptError::Unsigned)
    ));
    // A commit carrying the signed steps verifies; parts cannot nest.
    let step = tr.sign(&[&sk(1), &sk(3)]).unwrap();
    let mut commit = empty.clone();
    commit.parts = vec![step];
    let commit_env = commit.sign(&[]).unwrap();
    transcript::verify(&commit_env).unwrap();
    let mut nested = empty.clone();
    nested.parts = vec![commit_env];
    assert!(matches!(
        transcript::verify(&nested.sign(&[]).unwrap()),
        Err(TranscriptError::NestedParts(0))
    ));
    // A key event envelope is not a transcript.
    assert!(transcript::verify(&kel.head().envelope).is_err());
}

fn custodians(n: usize) -> (Vec<Custodian>, Vec<age::x25519::Identity>) {
    let ids: Vec<age::x25519::Identity> =
        (0..n).map(|_| age::x25519::Identity::generate()).collect();
    let custodians = ids
        .iter()
        .map(|i| Custodian {
            label: i.to_public().to_string(),
            recipient: Box::new(i.to_public()),
        })
        .collect();
    (custodians, ids)
}

fn open(made: &backup::Backup, index: usize, ids: &[age::x25519::Identity]) -> backup::Share {
    let refs: Vec<&dyn age::Identity> = ids.iter().map(|i| i as &dyn age::Identity).collect();
    backup::open_share(
        &format!("share-{}", index + 1),
        made.shares[index].armored.as_bytes(),
        &refs,
    )
    .unwrap()
}

#[test]
fn backup_and_restore() {
    let kel = m_of_n();
    let (custodians, ids) = custodians(3);
    // Only a committed key is backed up.
    assert!(matches!(
        backup::split(&sk(9), &custodians, 2, Some(&kel), t(1)),
        Err(BackupError::NotCommitted { .. })
    ));
    assert!(matches!(
        backup::split(&sk(4), &custodians, 1, Some(&kel), t(1)),
        Err(BackupError::Parameters { .. })
    ));
    assert!(matches!(
        backup::split(&sk(4), &custodians, 4, Some(&kel), t(1)),
        Err(BackupError::Parameters { .. })
    ));
    let made = backup::split(&sk(4), &custodians, 2, Some(&kel), t(1)).unwrap();
    assert_eq!(
        made.shares.iter().map(|s| s.index).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    for pair in [[0, 1], [1, 2], [2, 0]] {
        let shares: Vec<_> = pair.iter().map(|&i| open(&made, i, &ids)).collect();
        let key = backup::restore(&shares, &kel).unwrap();
        assert_eq!(key.to_bytes(), [4; 32]);
    }
    let all: Vec<_> = (0..3).map(|i| open(&made, i, &ids)).collect();
    assert_eq!(backup::restore(&all, &kel).unwrap().to_bytes(), [4; 32]);
    assert!(!format!("{:?}", all[0]).contains("value"));

    // Too few, duplicates, another backup, no identity that decrypts.
    assert!(matches!(
        backup::restore(&[open(&made, 0, &ids)], &kel),
        Err(BackupError::TooFewShares {
            have: 1,
            need: 2,
            total: 3,
            ..
        })
    ));
    assert!(matches!(
        backup::restore(&[open(&made, 0, &ids), open(&made, 0, &ids)], &kel),
        Err(BackupError::Duplicate { index: 1, .. })
    ));
    let again = backup::split(&sk(4), &custodians, 2, Some(&kel), t(1)).unwrap();
    assert!(matches!(
        backup::restore(&[open(&made, 0, &ids), open(&again, 1, &ids)], &kel),
        Err(BackupError::OtherBackup { .. })
    ));
    let stranger = age::x25519::Identity::generate();
    assert!(matches!(
        backup::open_share(
            "s",
            made.shares[0].armored.as_bytes(),
            &[&stranger as &dyn age::Identity]
        ),
        Err(BackupError::Decrypt { .. })
    ));
    // Once the identity has rotated past the key, it is no longer committed: not restored.
    let mut plan = rotation_plan(&[5, 6], &[7], 2);
    plan.threshold = 2;
    let planned = event::rotation(&kel, &plan).unwrap();
    let mut p = PendingEvent::new(&planned).unwrap();
    p.sign(Some(&kel), &sk(5)).unwrap();
    p.sign(Some(&kel), &sk(6)).unwrap();
    let rotated = p.commit(Some(&kel)).unwrap();
    let shares: Vec<_> = (0..2).map(|i| open(&made, i, &ids)).collect();
    assert!(matches!(
        backup::restore(&shares, &rotated),
        Err(BackupError::NotCommitted { .. })
    ));
}
