//! The card side of vsmartcard's vpcd protocol, and a handle that inserts a virtual card into
//! one of pcscd's vpcd readers.
//!
//! vpcd (the pcscd driver) listens on TCP; a card connects and then answers messages, each a
//! two-byte big-endian length and a body: one byte for a control command (`00` power off, `01`
//! power on, `02` reset, `04` get ATR) or a command APDU, answered with a response APDU.
//! Debian's `/etc/reader.conf.d/vpcd` makes two readers, "Virtual PCD 00 00" on port 35963 and
//! "Virtual PCD 00 01" on port 35964.
//!
//! vpcd writes the length and the body in two `send` calls. With Nagle's algorithm on its side
//! and delayed acknowledgements on ours, every message then waits for the 40 ms delayed-ACK
//! timer; setting `TCP_QUICKACK` before each read (Linux clears it after use) removes that wait
//! and makes an APDU round trip take tens of microseconds instead.

use std::ffi::CString;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpStream};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::authority::{AuthorityError, TestAuthority};
use crate::piv::{CardConfig, PivCard, Reply};

/// The ATR of a YubiKey 5 over USB (T=1; historical bytes spell "YubiKey").
pub const YUBIKEY_ATR: &[u8] = &[
    0x3b, 0xfd, 0x13, 0x00, 0x00, 0x81, 0x31, 0xfe, 0x15, 0x80, 0x73, 0xc0, 0x21, 0xc0, 0x57, 0x59,
    0x75, 0x62, 0x69, 0x4b, 0x65, 0x79, 0x40,
];

/// How long to wait for pcscd to notice a card arriving or leaving.
pub const READER_TIMEOUT: Duration = Duration::from_secs(15);

/// One of the two readers Debian's vpcd configuration creates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reader {
    /// "Virtual PCD 00 00", port 35963.
    First,
    /// "Virtual PCD 00 01", port 35964.
    Second,
}

impl Reader {
    /// The TCP port vpcd listens on for this reader.
    pub fn port(self) -> u16 {
        match self {
            Reader::First => 35963,
            Reader::Second => 35964,
        }
    }

    /// The PC/SC reader name.
    pub fn name(self) -> &'static str {
        match self {
            Reader::First => "Virtual PCD 00 00",
            Reader::Second => "Virtual PCD 00 01",
        }
    }
}

/// Why a virtual card could not be inserted or removed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The PC/SC daemon does not answer.
    #[error("pcscd with vpcd is not running: run bash scripts/test.sh (PC/SC: {source})")]
    PcscdNotRunning {
        /// The PC/SC error.
        source: pcsc::Error,
    },
    /// pcscd runs but has no vpcd reader.
    #[error(
        "pcscd with vpcd is not running: pcscd has no reader {reader:?} (is vsmartcard-vpcd installed?): run bash scripts/test.sh"
    )]
    NoReader {
        /// The reader looked for.
        reader: &'static str,
    },
    /// Nothing listens on the vpcd port.
    #[error(
        "pcscd with vpcd is not running: nothing listens on port {port}: run bash scripts/test.sh ({source})"
    )]
    NotListening {
        /// The port.
        port: u16,
        /// The connection error.
        source: io::Error,
    },
    /// pcscd did not see the card arrive or leave in time.
    #[error(
        "pcscd did not see the virtual card {what} reader {reader:?} within {} s (reader state: {state})",
        READER_TIMEOUT.as_secs()
    )]
    Timeout {
        /// "arrive in" or "leave".
        what: &'static str,
        /// The reader.
        reader: &'static str,
        /// The last state pcscd reported.
        state: String,
    },
    /// Another PC/SC error.
    #[error("PC/SC error while watching reader {reader:?}: {source}")]
    Pcsc {
        /// The reader.
        reader: &'static str,
        /// The PC/SC error.
        source: pcsc::Error,
    },
    /// The attestation hierarchy could not be built.
    #[error(transparent)]
    Authority(#[from] AuthorityError),
    /// A socket error.
    #[error("virtual card socket: {0}")]
    Io(#[from] io::Error),
}

/// The attestation hierarchy every virtual card in this process uses (built once).
pub fn test_authority() -> Result<Arc<TestAuthority>, Error> {
    static AUTHORITY: OnceLock<Result<Arc<TestAuthority>, String>> = OnceLock::new();
    AUTHORITY
        .get_or_init(|| {
            TestAuthority::new()
                .map(Arc::new)
                .map_err(|e| e.to_string())
        })
        .clone()
        .map_err(|e| Error::Io(io::Error::other(e)))
}

/// Waits until pcscd reports `reader` as holding a card (`present`) or as empty.
pub fn wait_for_reader(reader: Reader, present: bool) -> Result<(), Error> {
    let name = reader.name();
    let ctx = pcsc::Context::establish(pcsc::Scope::User)
        .map_err(|source| Error::PcscdNotRunning { source })?;
    let c_name = CString::new(name).map_err(|e| Error::Io(io::Error::other(e)))?;
    let mut states = [pcsc::ReaderState::new(c_name, pcsc::State::UNAWARE)];
    let deadline = Instant::now() + READER_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match ctx.get_status_change(left, &mut states) {
            Ok(()) => {}
            Err(pcsc::Error::Timeout) => {
                let what = if present { "arrive in" } else { "leave" };
                let state = format!("{:?}", states[0].event_state());
                return Err(Error::Timeout {
                    what,
                    reader: name,
                    state,
                });
            }
            Err(pcsc::Error::UnknownReader) => return Err(Error::NoReader { reader: name }),
            Err(pcsc::Error::NoService) | Err(pcsc::Error::ServiceStopped) => {
                return Err(Error::PcscdNotRunning {
                    source: pcsc::Error::NoService,
                });
            }
            Err(source) => {
                return Err(Error::Pcsc {
                    reader: name,
                    source,
                });
            }
        }
        let state = states[0].event_state();
        if state.contains(pcsc::State::UNKNOWN) || state.contains(pcsc::State::IGNORE) {
            return Err(Error::NoReader { reader: name });
        }
        let ready = if present {
            state.contains(pcsc::State::PRESENT) && !state.contains(pcsc::State::MUTE)
        } else {
            state.contains(pcsc::State::EMPTY)
        };
        if ready {
            return Ok(());
        }
        states[0].sync_current_state();
    }
}

fn lock(card: &Mutex<PivCard>) -> MutexGuard<'_, PivCard> {
    card.lock().unwrap_or_else(PoisonError::into_inner)
}

fn quickack(stream: &TcpStream) -> io::Result<()> {
    rustix::net::sockopt::set_tcp_quickack(stream, true).map_err(io::Error::from)
}

/// Answers vpcd on `stream` until it closes the connection or the card is pulled out.
pub fn serve(mut stream: TcpStream, card: &Mutex<PivCard>) -> io::Result<()> {
    let mut len = [0u8; 2];
    loop {
        quickack(&stream)?;
        match stream.read_exact(&mut len) {
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(()),
            other => other?,
        }
        let mut message = vec![0u8; usize::from(u16::from_be_bytes(len))];
        quickack(&stream)?;
        stream.read_exact(&mut message)?;
        let reply = match message.as_slice() {
            [] => return Err(io::Error::other("vpcd sent an empty message")),
            [0x00] | [0x01] | [0x02] => {
                lock(card).reset();
                continue;
            }
            [0x04] => YUBIKEY_ATR.to_vec(),
            [_] => continue,
            apdu => match lock(card).execute(apdu) {
                Reply::Respond(response) => response,
                Reply::Remove => {
                    stream.shutdown(Shutdown::Both)?;
                    return Ok(());
                }
            },
        };
        let size = u16::try_from(reply.len()).map_err(io::Error::other)?;
        let mut out = Vec::with_capacity(reply.len() + 2);
        out.extend_from_slice(&size.to_be_bytes());
        out.extend_from_slice(&reply);
        stream.write_all(&out)?;
    }
}

/// A virtual YubiKey inserted into a vpcd reader, served by a background thread.
///
/// The card's state (keys, PIN counter, counters, faults) stays reachable through
/// [`VirtualYubiKey::card`] while pcscd talks to it. Dropping the handle pulls the card out and
/// waits until pcscd has noticed, so the next card inserted into the same reader starts clean.
pub struct VirtualYubiKey {
    card: Arc<Mutex<PivCard>>,
    reader: Reader,
    stream: Option<TcpStream>,
    thread: Option<JoinHandle<io::Result<()>>>,
}

impl std::fmt::Debug for VirtualYubiKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VirtualYubiKey")
            .field("reader", &self.reader)
            .field("card", &*lock(&self.card))
            .finish_non_exhaustive()
    }
}

impl VirtualYubiKey {
    /// Makes a card from `config` and inserts it into `reader`; returns once pcscd sees it.
    pub fn insert(config: CardConfig, reader: Reader) -> Result<Self, Error> {
        Self::insert_card(PivCard::new(config, test_authority()?), reader)
    }

    /// Inserts an existing card (e.g. one taken out with [`VirtualYubiKey::remove`]).
    pub fn insert_card(card: PivCard, reader: Reader) -> Result<Self, Error> {
        // A card left by an earlier test must be gone first, or pcscd may never report the
        // reader empty in between and keep talking to the old connection.
        wait_for_reader(reader, false)?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, reader.port()));
        let stream = TcpStream::connect(addr).map_err(|source| Error::NotListening {
            port: reader.port(),
            source,
        })?;
        stream.set_nodelay(true)?;
        let card = Arc::new(Mutex::new(card));
        let thread = {
            let stream = stream.try_clone()?;
            let card = Arc::clone(&card);
            std::thread::Builder::new()
                .name(format!("virtual-yubikey-{}", reader.port()))
                .spawn(move || serve(stream, &card))?
        };
        let handle = VirtualYubiKey {
            card,
            reader,
            stream: Some(stream),
            thread: Some(thread),
        };
        wait_for_reader(reader, true)?;
        Ok(handle)
    }

    /// The card's state, for inspection and fault injection.
    pub fn card(&self) -> MutexGuard<'_, PivCard> {
        lock(&self.card)
    }

    /// The reader the card is in.
    pub fn reader(&self) -> Reader {
        self.reader
    }

    /// Pulls the card out, waits until pcscd has noticed, and returns its state.
    pub fn remove(mut self) -> Result<PivCard, Error> {
        self.disconnect()?;
        let card = std::mem::replace(
            &mut *lock(&self.card),
            PivCard::new(CardConfig::new(0), test_authority()?),
        );
        Ok(card)
    }

    /// Waits until the card has left the reader by itself (a removal fault).
    pub fn wait_removed(&mut self) -> Result<(), Error> {
        self.disconnect()
    }

    fn disconnect(&mut self) -> Result<(), Error> {
        if let Some(stream) = self.stream.take() {
            // The serving thread may already have closed it (a removal fault).
            let _ = stream.shutdown(Shutdown::Both);
        }
        if let Some(thread) = self.thread.take() {
            match thread.join() {
                Ok(result) => {
                    // After a shutdown, a read error is how the thread learns of it.
                    let _ = result;
                }
                Err(_) => return Err(Error::Io(io::Error::other("virtual card thread panicked"))),
            }
        }
        wait_for_reader(self.reader, false)
    }
}

impl Drop for VirtualYubiKey {
    fn drop(&mut self) {
        if let Err(err) = self.disconnect() {
            eprintln!("virtual YubiKey in {:?}: {err}", self.reader.name());
        }
    }
}
