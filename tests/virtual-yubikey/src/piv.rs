//! The PIV application of the virtual YubiKey: a state machine from command APDU to response
//! APDU, with no I/O, so it can be tested alone and driven by [`crate::VirtualYubiKey`].
//!
//! What it answers, and how (status words as a YubiKey 5 answers them):
//!
//! | INS | command | notes |
//! | --- | --- | --- |
//! | `A4` | SELECT | PIV AID only (`6A82` otherwise); clears PIN and management-key state |
//! | `FD` | GET VERSION | the configured firmware |
//! | `F8` | GET SERIAL | 4 bytes, big-endian |
//! | `20` | VERIFY (PIN, `P2=80`) | empty body: `9000` if verified, `63Cx` tries left, `6983` blocked; a wrong PIN costs a retry |
//! | `87` | GENERAL AUTHENTICATE | management key (`P2=9B`, AES mutual authentication), Ed25519 signing (`P1=E0`) |
//! | `47` | GENERATE ASYMMETRIC | Ed25519 only; `6A80` for other algorithms or firmware before 5.7; needs the management key |
//! | `FE` | IMPORT ASYMMETRIC KEY | Ed25519 only (`P1=E0`, the seed in tag `07`, optional `AA`/`AB` policies); `6A80` as for `47`; needs the management key |
//! | `CB` / `DB` | GET / PUT DATA | any object; PUT needs the management key |
//! | `F9` | ATTEST | per-key certificate signed by the F9 key; `6A80` for imported keys |
//! | `F7` | GET METADATA | PIN (`80`), PUK (`81`), management key (`9B`), key slots |
//! | `C0` | GET RESPONSE | response chaining in chunks of 256 bytes (`61xx`) |
//!
//! Command chaining (`CLA` bit `0x10`) is accepted for every command. A missing touch answers
//! `6982`, as a real YubiKey does once its 15-second touch window has passed; the PIN policy
//! "always" needs a VERIFY since the previous private-key operation. The management key is
//! always AES (AES-192 by default); 3DES, which pre-5.7 firmware uses by default, is not
//! emulated.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aes::cipher::{BlockCipherDecrypt, BlockCipherEncrypt, KeyInit};
use ed25519_dalek::Signer as _;

use crate::authority::TestAuthority;
use crate::tlv;

/// Status words.
pub mod sw {
    /// Success.
    pub const OK: u16 = 0x9000;
    /// Security status not satisfied (PIN or management key missing, touch not given).
    pub const SECURITY_STATUS: u16 = 0x6982;
    /// Authentication method blocked (PIN blocked).
    pub const BLOCKED: u16 = 0x6983;
    /// Incorrect parameters in the command data.
    pub const INCORRECT_DATA: u16 = 0x6a80;
    /// File or application not found.
    pub const NOT_FOUND: u16 = 0x6a82;
    /// Referenced data not found (empty slot).
    pub const REFERENCE_NOT_FOUND: u16 = 0x6a88;
    /// Wrong P1/P2.
    pub const WRONG_PARAMS: u16 = 0x6b00;
    /// Wrong length.
    pub const WRONG_LENGTH: u16 = 0x6700;
    /// Instruction not supported.
    pub const INS_NOT_SUPPORTED: u16 = 0x6d00;
}

const PIV_AID: [u8; 5] = [0xa0, 0x00, 0x00, 0x03, 0x08];
/// The well-known default PIV management key (`010203…08` three times).
pub const DEFAULT_MANAGEMENT_KEY: [u8; 24] = [
    1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8, 1, 2, 3, 4, 5, 6, 7, 8,
];
/// The default PIN.
pub const DEFAULT_PIN: &[u8] = b"123456";
/// Algorithm byte of Ed25519 keys.
pub const ALG_ED25519: u8 = 0xe0;
const TOUCH_CACHE: Duration = Duration::from_secs(15);
const CHUNK: usize = 256;

/// Management-key algorithms the card accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ManagementAlgorithm {
    /// AES-128 (`08`).
    Aes128,
    /// AES-192 (`0A`), the default from firmware 5.7.
    Aes192,
    /// AES-256 (`0C`).
    Aes256,
}

impl ManagementAlgorithm {
    /// The algorithm byte.
    pub fn id(self) -> u8 {
        match self {
            ManagementAlgorithm::Aes128 => 0x08,
            ManagementAlgorithm::Aes192 => 0x0a,
            ManagementAlgorithm::Aes256 => 0x0c,
        }
    }

    fn key_len(self) -> usize {
        match self {
            ManagementAlgorithm::Aes128 => 16,
            ManagementAlgorithm::Aes192 => 24,
            ManagementAlgorithm::Aes256 => 32,
        }
    }
}

/// What the card does when an operation needs a touch.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Touch {
    /// Someone touches the key (the default).
    #[default]
    Given,
    /// Nobody touches it: the card answers `6982` after [`Faults::touch_timeout`].
    TimesOut,
}

/// Faults to inject.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Faults {
    /// Whether touches are given.
    pub touch: Touch,
    /// How long the card waits before answering a touch timeout (a YubiKey waits 15 s; tests
    /// use zero).
    pub touch_timeout: Duration,
    /// Pull the card out when it is asked for this signature (1-based, counted over the card's
    /// life), before answering it.
    pub remove_at_signature: Option<u64>,
    /// Answer ATTEST with success and no data.
    pub empty_attestation: bool,
    /// Answer GENERATE with success and a truncated public-key template.
    pub short_generate_reply: bool,
}

/// What the card has been asked, for tests to assert on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Counters {
    /// Every command APDU received (chained parts count once each).
    pub apdus: u64,
    /// VERIFY commands that carried a PIN (each may cost a retry).
    pub pin_attempts: u64,
    /// VERIFY commands without a PIN (retry-counter queries).
    pub pin_queries: u64,
    /// Signatures requested (answered or not).
    pub signature_requests: u64,
    /// Signatures made.
    pub signatures: u64,
    /// Touches given.
    pub touches: u64,
    /// Touches that timed out.
    pub touch_timeouts: u64,
    /// GENERATE commands received.
    pub generate_requests: u64,
    /// Successful management-key authentications.
    pub management_authentications: u64,
    /// Failed management-key authentications.
    pub management_failures: u64,
    /// ATTEST commands received.
    pub attestations: u64,
}

/// Where a key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// Generated on the card.
    Generated,
    /// Imported (the emulator only has these when a test puts them there).
    Imported,
}

/// A key in a slot.
#[derive(Clone)]
pub struct SlotKey {
    /// The Ed25519 key.
    pub key: ed25519_dalek::SigningKey,
    /// PIN policy byte (1 never, 2 once, 3 always).
    pub pin_policy: u8,
    /// Touch policy byte (1 never, 2 always, 3 cached).
    pub touch_policy: u8,
    /// Generated or imported.
    pub origin: Origin,
}

impl std::fmt::Debug for SlotKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlotKey")
            .field("public", &self.key.verifying_key())
            .field("pin_policy", &self.pin_policy)
            .field("touch_policy", &self.touch_policy)
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// How a card is made.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct CardConfig {
    /// Serial number.
    pub serial: u32,
    /// Firmware version (major, minor, patch); default 5.7.4.
    pub version: [u8; 3],
    /// Form factor byte (1 USB-A keychain, 2 USB-A nano, 3 USB-C keychain, 4 USB-C nano, …).
    pub form_factor: u8,
    /// The PIN (6 to 8 bytes).
    pub pin: Vec<u8>,
    /// PIN retries when the counter is full.
    pub pin_retries: u8,
    /// PIN retries left at start (0 = blocked).
    pub pin_retries_left: u8,
    /// Management-key algorithm.
    pub management_algorithm: ManagementAlgorithm,
    /// Management key.
    pub management_key: Vec<u8>,
}

impl CardConfig {
    /// A factory-fresh YubiKey 5.7.4 with this serial: PIN 123456 (3 retries), default AES-192
    /// management key, USB-C keychain.
    pub fn new(serial: u32) -> Self {
        CardConfig {
            serial,
            version: [5, 7, 4],
            form_factor: 3,
            pin: DEFAULT_PIN.to_vec(),
            pin_retries: 3,
            pin_retries_left: 3,
            management_algorithm: ManagementAlgorithm::Aes192,
            management_key: DEFAULT_MANAGEMENT_KEY.to_vec(),
        }
    }

    /// Sets the firmware version.
    pub fn version(mut self, major: u8, minor: u8, patch: u8) -> Self {
        self.version = [major, minor, patch];
        self
    }

    /// Sets the PIN.
    pub fn pin(mut self, pin: &[u8]) -> Self {
        self.pin = pin.to_vec();
        self
    }

    /// Sets the PIN retries left.
    pub fn pin_retries_left(mut self, left: u8) -> Self {
        self.pin_retries_left = left;
        self
    }

    /// Sets the management key.
    pub fn management_key(mut self, algorithm: ManagementAlgorithm, key: &[u8]) -> Self {
        self.management_algorithm = algorithm;
        self.management_key = key.to_vec();
        self
    }
}

/// What to do with the connection after a command.
#[derive(Debug, PartialEq, Eq)]
pub enum Reply {
    /// Send this response APDU (data and status word).
    Respond(Vec<u8>),
    /// Drop the connection without answering: the card was pulled out.
    Remove,
}

/// The card: persistent state (keys, objects, PIN counter) and session state (what a reset
/// clears).
pub struct PivCard {
    config: CardConfig,
    authority: Arc<TestAuthority>,
    /// Keys by slot number.
    pub slots: BTreeMap<u8, SlotKey>,
    /// Data objects by tag (e.g. `0x5fc10a` for slot 9c's certificate).
    pub objects: BTreeMap<u32, Vec<u8>>,
    /// PIN retries left.
    pub pin_retries_left: u8,
    /// Faults to inject.
    pub faults: Faults,
    /// What the card has been asked.
    pub counters: Counters,
    session: Session,
}

impl std::fmt::Debug for PivCard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PivCard")
            .field("serial", &self.config.serial)
            .field("slots", &self.slots)
            .field("pin_retries_left", &self.pin_retries_left)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Session {
    pin_verified: bool,
    /// A VERIFY succeeded since the last private-key operation (PIN policy "always").
    pin_fresh: bool,
    management_authenticated: bool,
    witness: Option<[u8; 16]>,
    chain: Option<(u8, u8, u8, Vec<u8>)>,
    pending: Vec<u8>,
    last_touch: Option<Instant>,
}

fn respond(data: &[u8], status: u16) -> Reply {
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(data);
    out.extend_from_slice(&status.to_be_bytes());
    Reply::Respond(out)
}

fn status(status: u16) -> Reply {
    respond(&[], status)
}

impl PivCard {
    /// A card made from `config`, attesting with `authority`.
    pub fn new(config: CardConfig, authority: Arc<TestAuthority>) -> Self {
        let mut objects = BTreeMap::new();
        let mut f9 = Vec::new();
        tlv::push(&mut f9, 0x70, authority.f9_der());
        f9.extend_from_slice(&[0x71, 0x01, 0x00, 0xfe, 0x00]);
        objects.insert(0x5f_ff01, f9);
        PivCard {
            pin_retries_left: config.pin_retries_left,
            config,
            authority,
            slots: BTreeMap::new(),
            objects,
            faults: Faults::default(),
            counters: Counters::default(),
            session: Session::default(),
        }
    }

    /// The configuration the card was made with.
    pub fn config(&self) -> &CardConfig {
        &self.config
    }

    /// Whether the PIN is verified in the current session.
    pub fn pin_verified(&self) -> bool {
        self.session.pin_verified
    }

    /// Power-off, power-on or reset: session state is lost, a cached touch included.
    pub fn reset(&mut self) {
        self.session = Session::default();
    }

    /// Handles one command APDU.
    pub fn execute(&mut self, apdu: &[u8]) -> Reply {
        self.counters.apdus += 1;
        let Some(&[cla, ins, p1, p2]) = apdu.first_chunk::<4>() else {
            return status(sw::WRONG_LENGTH);
        };
        let data = match apdu.len() {
            4 | 5 => &[][..],
            _ => {
                let lc = usize::from(apdu[4]);
                match apdu.get(5..5 + lc) {
                    Some(data) if apdu.len() <= 6 + lc => data,
                    _ => return status(sw::WRONG_LENGTH),
                }
            }
        };
        if ins != 0xc0 {
            self.session.pending.clear();
        }
        if cla & 0x10 != 0 {
            match &mut self.session.chain {
                Some((i, a, b, buf)) if (*i, *a, *b) == (ins, p1, p2) => {
                    buf.extend_from_slice(data)
                }
                _ => self.session.chain = Some((ins, p1, p2, data.to_vec())),
            }
            return status(sw::OK);
        }
        let data = match self.session.chain.take() {
            Some((i, a, b, mut buf)) if (i, a, b) == (ins, p1, p2) => {
                buf.extend_from_slice(data);
                buf
            }
            _ => data.to_vec(),
        };
        match ins {
            0xa4 => self.select(p1, &data),
            0xfd => self.respond_chained(self.config.version.to_vec()),
            0xf8 => self.respond_chained(self.config.serial.to_be_bytes().to_vec()),
            0x20 => self.verify(p1, p2, &data),
            0x87 => self.authenticate(p1, p2, &data),
            0x47 => self.generate(p2, &data),
            0xfe => self.import(p1, p2, &data),
            0xcb => self.get_data(p1, p2, &data),
            0xdb => self.put_data(p1, p2, &data),
            0xf9 => self.attest(p1),
            0xf7 => self.metadata(p2),
            0xc0 => self.get_response(),
            _ => status(sw::INS_NOT_SUPPORTED),
        }
    }

    fn respond_chained(&mut self, mut data: Vec<u8>) -> Reply {
        if data.len() <= CHUNK {
            return respond(&data, sw::OK);
        }
        let rest = data.split_off(CHUNK);
        let more = u16::try_from(rest.len())
            .ok()
            .filter(|n| *n < 256)
            .unwrap_or(0);
        self.session.pending = rest;
        respond(&data, 0x6100 | more)
    }

    fn get_response(&mut self) -> Reply {
        if self.session.pending.is_empty() {
            return status(sw::INCORRECT_DATA);
        }
        let data = std::mem::take(&mut self.session.pending);
        self.respond_chained(data)
    }

    fn select(&mut self, p1: u8, aid: &[u8]) -> Reply {
        if p1 != 0x04
            || aid.len() < PIV_AID.len()
            || !PIV_AID.starts_with(aid) && !aid.starts_with(&PIV_AID)
        {
            return status(sw::NOT_FOUND);
        }
        self.reset();
        // Application property template, as a YubiKey 5 answers.
        respond(
            &[
                0x61, 0x11, 0x4f, 0x06, 0x00, 0x00, 0x10, 0x00, 0x01, 0x00, 0x79, 0x07, 0x4f, 0x05,
                0xa0, 0x00, 0x00, 0x03, 0x08,
            ],
            sw::OK,
        )
    }

    fn verify(&mut self, p1: u8, p2: u8, data: &[u8]) -> Reply {
        if p1 != 0x00 || p2 != 0x80 {
            return status(sw::REFERENCE_NOT_FOUND);
        }
        if data.is_empty() {
            self.counters.pin_queries += 1;
            return if self.session.pin_verified {
                status(sw::OK)
            } else if self.pin_retries_left == 0 {
                status(sw::BLOCKED)
            } else {
                status(0x63c0 | u16::from(self.pin_retries_left))
            };
        }
        self.counters.pin_attempts += 1;
        if data.len() != 8 {
            return status(sw::INCORRECT_DATA);
        }
        if self.pin_retries_left == 0 {
            return status(sw::BLOCKED);
        }
        let end = data.iter().position(|&b| b == 0xff).unwrap_or(data.len());
        if data[..end] == self.config.pin[..] && data[end..].iter().all(|&b| b == 0xff) {
            self.pin_retries_left = self.config.pin_retries;
            self.session.pin_verified = true;
            self.session.pin_fresh = true;
            status(sw::OK)
        } else {
            self.pin_retries_left -= 1;
            self.session.pin_verified = false;
            self.session.pin_fresh = false;
            status(0x63c0 | u16::from(self.pin_retries_left))
        }
    }

    fn aes(&self, block: &mut [u8; 16], encrypt: bool) -> bool {
        let key = &self.config.management_key;
        macro_rules! run {
            ($cipher:ty) => {{
                let Ok(cipher) = <$cipher>::new_from_slice(key) else {
                    return false;
                };
                let mut b = aes::Block::from(*block);
                if encrypt {
                    cipher.encrypt_block(&mut b)
                } else {
                    cipher.decrypt_block(&mut b)
                }
                block.copy_from_slice(&b);
                true
            }};
        }
        match self.config.management_algorithm {
            ManagementAlgorithm::Aes128 => run!(aes::Aes128),
            ManagementAlgorithm::Aes192 => run!(aes::Aes192),
            ManagementAlgorithm::Aes256 => run!(aes::Aes256),
        }
    }

    fn authenticate(&mut self, p1: u8, p2: u8, data: &[u8]) -> Reply {
        let Some(items) = tlv::parse_one(data)
            .filter(|t| t.tag == 0x7c)
            .and_then(|t| tlv::parse_all(t.value))
        else {
            return status(sw::INCORRECT_DATA);
        };
        if p2 == 0x9b {
            self.authenticate_management(p1, &items)
        } else {
            self.sign(p1, p2, &items)
        }
    }

    fn authenticate_management(&mut self, algorithm: u8, items: &[tlv::Tlv<'_>]) -> Reply {
        if algorithm != self.config.management_algorithm.id()
            || self.config.management_key.len() != self.config.management_algorithm.key_len()
        {
            return status(sw::INCORRECT_DATA);
        }
        match items {
            // Step 1: the host asks for a witness.
            [w] if w.tag == 0x80 && w.value.is_empty() => {
                let mut witness = [0u8; 16];
                if getrandom::fill(&mut witness).is_err() {
                    return status(0x6f00);
                }
                let mut encrypted = witness;
                if !self.aes(&mut encrypted, true) {
                    return status(sw::INCORRECT_DATA);
                }
                self.session.witness = Some(witness);
                self.session.management_authenticated = false;
                let mut out = Vec::new();
                tlv::push(&mut out, 0x7c, &tlv::encode(0x80, &encrypted));
                respond(&out, sw::OK)
            }
            // Step 2: the decrypted witness and the host's challenge.
            [w, c] if w.tag == 0x80 && c.tag == 0x81 && c.value.len() == 16 => {
                let expected = self.session.witness.take();
                if expected.as_ref().map(|e| &e[..]) != Some(w.value) {
                    self.counters.management_failures += 1;
                    return status(sw::SECURITY_STATUS);
                }
                let mut response = [0u8; 16];
                response.copy_from_slice(c.value);
                if !self.aes(&mut response, true) {
                    return status(sw::INCORRECT_DATA);
                }
                self.session.management_authenticated = true;
                self.counters.management_authentications += 1;
                let mut out = Vec::new();
                tlv::push(&mut out, 0x7c, &tlv::encode(0x82, &response));
                respond(&out, sw::OK)
            }
            _ => status(sw::INCORRECT_DATA),
        }
    }

    fn sign(&mut self, algorithm: u8, slot: u8, items: &[tlv::Tlv<'_>]) -> Reply {
        let message = match items {
            [r, m] if r.tag == 0x82 && r.value.is_empty() && m.tag == 0x81 => m.value.to_vec(),
            _ => return status(sw::INCORRECT_DATA),
        };
        let Some(key) = self.slots.get(&slot).cloned() else {
            return status(sw::INCORRECT_DATA);
        };
        if algorithm != ALG_ED25519 {
            return status(sw::INCORRECT_DATA);
        }
        self.counters.signature_requests += 1;
        if self.faults.remove_at_signature == Some(self.counters.signature_requests) {
            return Reply::Remove;
        }
        let pin_ok = match key.pin_policy {
            1 => true,
            3 => self.session.pin_fresh,
            _ => self.session.pin_verified,
        };
        if !pin_ok {
            return status(sw::SECURITY_STATUS);
        }
        let touch_needed = match key.touch_policy {
            2 => true,
            3 => self
                .session
                .last_touch
                .is_none_or(|t| t.elapsed() >= TOUCH_CACHE),
            _ => false,
        };
        if touch_needed {
            match self.faults.touch {
                Touch::Given => {
                    self.counters.touches += 1;
                    self.session.last_touch = Some(Instant::now());
                }
                Touch::TimesOut => {
                    self.counters.touch_timeouts += 1;
                    std::thread::sleep(self.faults.touch_timeout);
                    return status(sw::SECURITY_STATUS);
                }
            }
        }
        self.session.pin_fresh = false;
        let signature = key.key.sign(&message);
        self.counters.signatures += 1;
        let mut out = Vec::new();
        tlv::push(&mut out, 0x7c, &tlv::encode(0x82, &signature.to_bytes()));
        respond(&out, sw::OK)
    }

    fn generate(&mut self, slot: u8, data: &[u8]) -> Reply {
        self.counters.generate_requests += 1;
        if !is_key_slot(slot) {
            return status(sw::WRONG_PARAMS);
        }
        let Some(items) = tlv::parse_one(data)
            .filter(|t| t.tag == 0xac)
            .and_then(|t| tlv::parse_all(t.value))
        else {
            return status(sw::INCORRECT_DATA);
        };
        let mut algorithm = None;
        let mut pin_policy = 0;
        let mut touch_policy = 0;
        for item in &items {
            match (item.tag, item.value) {
                (0x80, [a]) => algorithm = Some(*a),
                (0xaa, [p]) if *p <= 3 => pin_policy = *p,
                (0xab, [t]) if *t <= 3 => touch_policy = *t,
                _ => return status(sw::INCORRECT_DATA),
            }
        }
        if !self.session.management_authenticated {
            return status(sw::SECURITY_STATUS);
        }
        if algorithm != Some(ALG_ED25519) || self.config.version < [5, 7, 0] {
            return status(sw::INCORRECT_DATA);
        }
        if self.faults.short_generate_reply {
            return respond(&[0x7f], sw::OK);
        }
        let mut seed = [0u8; 32];
        if getrandom::fill(&mut seed).is_err() {
            return status(0x6f00);
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        let public = key.verifying_key();
        self.store_key(slot, key, pin_policy, touch_policy, Origin::Generated);
        let mut inner = Vec::new();
        tlv::push(&mut inner, 0x86, public.as_bytes());
        let out = tlv::encode(0x7f49, &inner);
        self.respond_chained(out)
    }

    /// IMPORT ASYMMETRIC KEY, as YubiKey 5.7 firmware takes an Ed25519 key: `00 FE E0 <slot>`
    /// with `07 20 <seed>` and optional `AA 01 <pin policy>` and `AB 01 <touch policy>`.
    fn import(&mut self, algorithm: u8, slot: u8, data: &[u8]) -> Reply {
        self.counters.generate_requests += 1;
        if !is_key_slot(slot) {
            return status(sw::WRONG_PARAMS);
        }
        let Some(items) = tlv::parse_all(data) else {
            return status(sw::INCORRECT_DATA);
        };
        let mut seed = None;
        let mut pin_policy = 0;
        let mut touch_policy = 0;
        for item in &items {
            match (item.tag, item.value) {
                (0x07, value) if value.len() == 32 => {
                    let mut bytes = [0u8; 32];
                    bytes.copy_from_slice(value);
                    seed = Some(bytes);
                }
                (0xaa, [p]) if *p <= 3 => pin_policy = *p,
                (0xab, [t]) if *t <= 3 => touch_policy = *t,
                _ => return status(sw::INCORRECT_DATA),
            }
        }
        if !self.session.management_authenticated {
            return status(sw::SECURITY_STATUS);
        }
        let Some(seed) = seed else {
            return status(sw::INCORRECT_DATA);
        };
        if algorithm != ALG_ED25519 || self.config.version < [5, 7, 0] {
            return status(sw::INCORRECT_DATA);
        }
        let key = ed25519_dalek::SigningKey::from_bytes(&seed);
        self.store_key(slot, key, pin_policy, touch_policy, Origin::Imported);
        status(sw::OK)
    }

    /// Puts a key in a slot; a policy byte of 0 means the slot's default.
    fn store_key(
        &mut self,
        slot: u8,
        key: ed25519_dalek::SigningKey,
        pin_policy: u8,
        touch_policy: u8,
        origin: Origin,
    ) {
        let (default_pin, default_touch) = slot_defaults(slot);
        let or_default = |given: u8, default: u8| if given == 0 { default } else { given };
        self.slots.insert(
            slot,
            SlotKey {
                key,
                pin_policy: or_default(pin_policy, default_pin),
                touch_policy: or_default(touch_policy, default_touch),
                origin,
            },
        );
    }

    fn object_id(data: &[u8]) -> Option<(u32, &[u8])> {
        let (tag, rest) = tlv::parse(data)?;
        if tag.tag != 0x5c || tag.value.is_empty() || tag.value.len() > 3 {
            return None;
        }
        let id = tag
            .value
            .iter()
            .fold(0u32, |acc, b| (acc << 8) | u32::from(*b));
        Some((id, rest))
    }

    fn get_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> Reply {
        if (p1, p2) != (0x3f, 0xff) {
            return status(sw::WRONG_PARAMS);
        }
        let Some((id, [])) = Self::object_id(data) else {
            return status(sw::INCORRECT_DATA);
        };
        match self.objects.get(&id) {
            Some(value) => {
                let out = tlv::encode(0x53, value);
                self.respond_chained(out)
            }
            None => status(sw::NOT_FOUND),
        }
    }

    fn put_data(&mut self, p1: u8, p2: u8, data: &[u8]) -> Reply {
        if (p1, p2) != (0x3f, 0xff) {
            return status(sw::WRONG_PARAMS);
        }
        let Some((id, rest)) = Self::object_id(data) else {
            return status(sw::INCORRECT_DATA);
        };
        let Some(value) = tlv::parse_one(rest)
            .filter(|t| t.tag == 0x53)
            .map(|t| t.value.to_vec())
        else {
            return status(sw::INCORRECT_DATA);
        };
        if !self.session.management_authenticated {
            return status(sw::SECURITY_STATUS);
        }
        if value.is_empty() {
            self.objects.remove(&id);
        } else {
            self.objects.insert(id, value);
        }
        status(sw::OK)
    }

    fn attest(&mut self, slot: u8) -> Reply {
        self.counters.attestations += 1;
        if self.faults.empty_attestation {
            return status(sw::OK);
        }
        let Some(key) = self.slots.get(&slot) else {
            return status(sw::REFERENCE_NOT_FOUND);
        };
        if key.origin != Origin::Generated {
            return status(sw::INCORRECT_DATA);
        }
        match self.authority.attest(
            slot,
            &key.key.verifying_key(),
            self.config.version,
            self.config.serial,
            key.pin_policy,
            key.touch_policy,
            self.config.form_factor,
        ) {
            Ok(der) => self.respond_chained(der),
            Err(_) => status(0x6f00),
        }
    }

    fn metadata(&mut self, slot: u8) -> Reply {
        if self.config.version < [5, 3, 0] {
            return status(sw::INS_NOT_SUPPORTED);
        }
        let mut out = Vec::new();
        match slot {
            0x80 => {
                tlv::push(&mut out, 0x01, &[0xff]);
                tlv::push(&mut out, 0x05, &[u8::from(self.config.pin == DEFAULT_PIN)]);
                tlv::push(
                    &mut out,
                    0x06,
                    &[self.config.pin_retries, self.pin_retries_left],
                );
            }
            0x9b => {
                tlv::push(&mut out, 0x01, &[self.config.management_algorithm.id()]);
                tlv::push(&mut out, 0x02, &[0x00, 0x01]);
                let default = self.config.management_key[..] == DEFAULT_MANAGEMENT_KEY[..];
                tlv::push(&mut out, 0x05, &[u8::from(default)]);
            }
            slot if is_key_slot(slot) => {
                let Some(key) = self.slots.get(&slot) else {
                    return status(sw::REFERENCE_NOT_FOUND);
                };
                tlv::push(&mut out, 0x01, &[ALG_ED25519]);
                tlv::push(&mut out, 0x02, &[key.pin_policy, key.touch_policy]);
                let origin = match key.origin {
                    Origin::Generated => 1,
                    Origin::Imported => 2,
                };
                tlv::push(&mut out, 0x03, &[origin]);
                tlv::push(
                    &mut out,
                    0x04,
                    &tlv::encode(0x86, key.key.verifying_key().as_bytes()),
                );
            }
            _ => return status(sw::REFERENCE_NOT_FOUND),
        }
        self.respond_chained(out)
    }
}

/// Whether `slot` holds asymmetric keys: 9A, 9C, 9D, 9E and the retired slots 82–95.
pub fn is_key_slot(slot: u8) -> bool {
    matches!(slot, 0x9a | 0x9c | 0x9d | 0x9e | 0x82..=0x95)
}

/// The PIN and touch policy a YubiKey applies when generation names none.
pub fn slot_defaults(slot: u8) -> (u8, u8) {
    match slot {
        0x9c => (3, 1),
        0x9e => (1, 1),
        _ => (2, 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn card() -> PivCard {
        PivCard::new(
            CardConfig::new(12345678),
            Arc::new(TestAuthority::new().unwrap()),
        )
    }

    fn run(card: &mut PivCard, apdu: &[u8]) -> Vec<u8> {
        match card.execute(apdu) {
            Reply::Respond(r) => r,
            Reply::Remove => panic!("card removed"),
        }
    }

    fn sw(response: &[u8]) -> u16 {
        u16::from_be_bytes([response[response.len() - 2], response[response.len() - 1]])
    }

    #[test]
    fn version_serial_and_select() {
        let mut c = card();
        assert_eq!(
            sw(&run(&mut c, &[0, 0xa4, 4, 0, 5, 0xa0, 0, 0, 3, 8])),
            0x9000
        );
        assert_eq!(run(&mut c, &[0, 0xfd, 0, 0, 0]), vec![5, 7, 4, 0x90, 0]);
        assert_eq!(
            run(&mut c, &[0, 0xf8, 0, 0, 0]),
            vec![0x00, 0xbc, 0x61, 0x4e, 0x90, 0]
        );
        assert_eq!(run(&mut c, &[0, 0xa4, 4, 0, 3, 1, 2, 3]), vec![0x6a, 0x82]);
    }

    #[test]
    fn pin_counter_blocks_and_resets() {
        let mut c = card();
        let wrong = [
            0, 0x20, 0, 0x80, 8, b'6', b'5', b'4', b'3', b'2', b'1', 0xff, 0xff,
        ];
        let right = [
            0, 0x20, 0, 0x80, 8, b'1', b'2', b'3', b'4', b'5', b'6', 0xff, 0xff,
        ];
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 0]), vec![0x63, 0xc3]);
        assert_eq!(run(&mut c, &wrong), vec![0x63, 0xc2]);
        assert_eq!(run(&mut c, &right), vec![0x90, 0x00]);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 0]), vec![0x90, 0x00]);
        for left in [2u8, 1, 0] {
            assert_eq!(run(&mut c, &wrong), vec![0x63, 0xc0 | left]);
        }
        assert_eq!(run(&mut c, &right), vec![0x69, 0x83]);
        assert_eq!(run(&mut c, &[0, 0x20, 0, 0x80, 0]), vec![0x69, 0x83]);
        assert_eq!(c.counters.pin_attempts, 6);
        assert_eq!(c.counters.pin_queries, 3);
    }

    #[test]
    fn response_chaining_splits_at_256_bytes() {
        let mut c = card();
        c.objects.insert(0x5fc105, vec![0x42; 600]);
        let first = run(&mut c, &[0, 0xcb, 0x3f, 0xff, 5, 0x5c, 3, 0x5f, 0xc1, 0x05]);
        assert_eq!((first.len(), sw(&first)), (258, 0x6100));
        let second = run(&mut c, &[0, 0xc0, 0, 0, 0]);
        assert_eq!(
            (second.len(), sw(&second)),
            (258, 0x6100 | (604 - 512) as u16)
        );
        let third = run(&mut c, &[0, 0xc0, 0, 0, 0]);
        assert_eq!((third.len(), sw(&third)), (604 - 512 + 2, 0x9000));
        let all: Vec<u8> = [&first[..256], &second[..256], &third[..third.len() - 2]].concat();
        assert_eq!(all, tlv::encode(0x53, &[0x42; 600]));
    }

    #[test]
    fn import_needs_the_management_key_and_new_firmware() {
        let mut c = card();
        let mut import = vec![0, 0xfe, 0xe0, 0x9a, 40, 0x07, 0x20];
        import.extend_from_slice(&[9u8; 32]);
        import.extend_from_slice(&[0xaa, 1, 2, 0xab, 1, 1]);
        assert_eq!(run(&mut c, &import), vec![0x69, 0x82]);
        c.session.management_authenticated = true;
        assert_eq!(run(&mut c, &import), vec![0x90, 0x00]);
        let key = &c.slots[&0x9a];
        assert_eq!(key.key.to_bytes(), [9u8; 32]);
        assert_eq!((key.pin_policy, key.touch_policy), (2, 1));
        assert_eq!(key.origin, Origin::Imported);
        // Attestation is refused for it, as a YubiKey refuses it.
        assert_eq!(run(&mut c, &[0, 0xf9, 0x9a, 0]), vec![0x6a, 0x80]);

        let mut x25519 = import.clone();
        x25519[2] = 0xe1;
        assert_eq!(run(&mut c, &x25519), vec![0x6a, 0x80]);
        let mut old = PivCard::new(
            CardConfig::new(1).version(5, 4, 3),
            Arc::new(TestAuthority::new().unwrap()),
        );
        old.session.management_authenticated = true;
        assert_eq!(run(&mut old, &import), vec![0x6a, 0x80]);
    }

    #[test]
    fn generate_needs_the_management_key_and_new_firmware() {
        let mut c = card();
        let generate = [0, 0x47, 0, 0x9c, 5, 0xac, 3, 0x80, 1, 0xe0];
        assert_eq!(run(&mut c, &generate), vec![0x69, 0x82]);
        c.session.management_authenticated = true;
        let reply = run(&mut c, &generate);
        assert_eq!(&reply[..5], &[0x7f, 0x49, 0x22, 0x86, 0x20]);
        assert_eq!(c.slots[&0x9c].pin_policy, 3);

        let mut old = PivCard::new(
            CardConfig::new(1).version(5, 4, 3),
            Arc::new(TestAuthority::new().unwrap()),
        );
        old.session.management_authenticated = true;
        assert_eq!(run(&mut old, &generate), vec![0x6a, 0x80]);
    }
}
