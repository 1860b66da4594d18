//! The threat model of key ceremonies: what each defends against, how, and what it cannot.
//!
//! This module has no code. It records the design decisions behind the ceremony crate and the
//! key event log it writes, so that they can be reviewed and kept when the code changes.
//!
//! # Assets and adversaries
//!
//! The asset is the *identity*: the right to publish under a namespace, as consumers and
//! registries see it. It is held by keys — on YubiKeys, in HSMs, in age-encrypted files — and by
//! the identity's key event log, which says which keys are current.
//!
//! The adversaries considered:
//!
//! 1. **A thief of the current signing key(s)** (a stolen laptop, a compromised CI runner, a
//!    leaked key file with its passphrase). They can sign statements and any event the current
//!    keys are entitled to sign.
//! 2. **Someone who controls the transport** of logs, pending events, transcripts and share
//!    files: a mirror, a compromised registry, a mail server. They can drop, replay, reorder,
//!    truncate or splice what they carry, and serve different logs to different people.
//! 3. **A dishonest participant** in an M-of-N ceremony: one custodian, one maintainer, who
//!    holds fewer keys than the threshold.
//! 4. **An attacker with a custodian's age identity** or one share file.
//!
//! Out of scope: an attacker who holds the committed next keys *and* the threshold of current
//! keys (they are the identity); a compromised machine at the moment a key signs (it can make
//! the key sign something else: use devices that show what they sign, and transcripts); the
//! confidentiality of public data (logs and transcripts are public).
//!
//! # Pre-rotation: a stolen current key cannot take over
//!
//! Every establishment event (inception, rotation) commits to the key ids of the *next* keys,
//! and a rotation is valid only if it reveals committed keys and is signed by the committed
//! threshold of them ([`Kel::verify`](hallmark_keyring::Kel::verify)). The current keys'
//! signatures on a rotation are recorded but never counted. So adversary 1 cannot rotate to a
//! key of their own; the holder of the next key can rotate away from a stolen current key
//! (reason `compromised`) without it. The ceremony refuses a rotation to an uncommitted key
//! from public keys alone, before any key is unlocked or any PIN asked for, so a mistaken or
//! malicious rotation never costs a PIN retry.
//!
//! The next keys must therefore live apart from the current ones: a second YubiKey in a safe,
//! another HSM partition, or a file key split among custodians ([`crate::backup`]). `init` and
//! `rotate` refuse a next key that is also a signing key, or that was a signing key before.
//!
//! What adversary 1 *can* still do until the rotation: sign statements, and sign transfers,
//! acceptances and revocations (the current keys are entitled to them). A rotation with reason
//! `compromised` tells verifiers not to trust the thief's work: see below. A thief who races
//! the owner and signs a transfer first has made an event the owner's log will show; registries
//! and consumers see a transfer followed by a compromise rotation and must hold it for review —
//! the verdict engine's policy.
//!
//! # Signatures made before a compromise
//!
//! A thief can write any `created` time into a statement and can name any earlier log position
//! (the position is public). Neither proves when a statement was made. After a rotation or
//! revocation with reason `compromised`, a statement by the compromised keys is valid only where
//! evidence the thief cannot make dates it before the compromise: a receipt from a registry the
//! consumer pins (a consumer's own records are editable by whoever can write them, and count
//! for nothing). `scheduled`, `lost`
//! and `retired` carry no suspicion: statements made at positions where the keys were current
//! stay valid. `docs/formats.md` defines this precisely; the log carries each epoch's end,
//! reason and time, and each revocation's keys, reason and `since`.
//!
//! # Transport: replay, reordering, truncation, forks
//!
//! Every event names its identity, its position and the digest of the previous event, and its
//! payload has exactly one encoding; a log is verified from its inception. A replayed or
//! reordered event is a sequence error; a spliced history breaks the chain; a truncated or
//! padded event does not decode. A shorter log than one already seen is a rollback; two
//! different events at one position are equivocation, and both are kept as evidence
//! ([`Comparison`](hallmark_keyring::kel::Comparison)) — unless one branch holds a rotation by
//! the pre-committed next keys and the other only events signed by the current keys: the
//! rotation supersedes them (superseding recovery), which is how an owner undoes what a thief
//! signed with a stolen current key, a transfer included. At ceremony time, a pending event
//! planned on an older state of the log is refused as a fork rather than appended. The log
//! file is replaced atomically and only if it did not change while the ceremony ran.
//!
//! What transport control still allows: withholding the newest events (freeze). A consumer who
//! never sees a compromise rotation keeps trusting the old keys. Registries that keep the
//! longest log and receipts that name log positions are the answer; they are outside this crate.
//!
//! # M-of-N ceremonies
//!
//! Each key counts once towards a threshold, whatever the number of its signatures (the one
//! threshold function, [`hallmark_keyring::threshold`]). A pending event is re-checked against
//! the log by every co-signer before their key signs it, so a participant is never asked to
//! sign an event the log would refuse, and the commit appends only what
//! [`Kel::append`](hallmark_keyring::Kel::append) accepts. A dishonest participant below the
//! threshold can withhold their signature (the ceremony stalls; use a threshold below N) but
//! cannot complete an event alone. A pending file is not signed as a whole: its event's
//! signatures are what count, and anything else in it (the transcripts of earlier steps) is
//! signed by the participants who made it.
//!
//! # Transcripts
//!
//! A transcript is signed by every key that took part and names the events by position and
//! digest, so an auditor can check who signed what and that it is what the log holds. Device
//! facts in a transcript (token serial, YubiKey serial and firmware) are what the backend
//! reported; they are only as trustworthy as the machine that ran the ceremony, unless an
//! attestation from the device vouches for the key. A commit involves no key: its own envelope
//! is unsigned, and its participants come from the signed transcripts of the signing steps it
//! carries.
//!
//! # Custodian backups
//!
//! A file key's 32-byte seed is split M-of-N with Shamir's scheme over GF(256) (vsss-rs,
//! constant-time arithmetic). Fewer than M shares reveal nothing about the key — information-
//! theoretically — so adversary 4 with one share learns nothing. Each share is encrypted to one
//! custodian's age recipient. age does not authenticate senders, so anyone could craft a share
//! file for a custodian; every share is therefore signed by the key it splits, under a signing
//! input that cannot be mistaken for an envelope's, and verified under that key before
//! combining — a forged or altered share is named, not silently combined into a wrong key. A
//! random backup id binds the shares of one backup, so a share from another backup (even of
//! the same key) is refused. The rebuilt key must equal the key the shares name, and that key
//! must be committed in the identity's log now (a current `next` commitment or a current key)
//! before the restored key is written or signs anything.
//!
//! What cannot be told: if the split key itself has leaked, its holder can sign forged shares
//! that pass every check — but then the next key is already compromised, and the answer is to
//! rotate past it. A custodian who loses their age identity loses their share; choose M below N.
//! Combining happens in the memory of one machine: run restore on a trusted, offline machine,
//! and the secret is zeroized when dropped.
