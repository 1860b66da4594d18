//! Runs each PKCS#11 test in a fresh process with its own throwaway tokens.
//!
//! A PKCS#11 module reads its configuration when it is initialised (SoftHSM2: the
//! `SOFTHSM2_CONF` environment variable), and initialisation happens once per process, so a
//! test cannot point the module at its own tokens after the fact — and changing the
//! environment of a running multi-threaded test process is unsound. Instead every test, when
//! run by the test runner, prepares a temporary directory (configuration, token directory,
//! tokens, PIN files), then runs *itself* again as a child process of this test binary with the
//! environment set, and checks that the child ran exactly that one test and passed. The test
//! body only ever runs in the child. Tests are therefore independent and safe in parallel, and
//! nothing touches `/var/lib/softhsm`.
//!
//! The module is `HALLMARK_TEST_PKCS11_MODULE`, by default SoftHSM2. For SoftHSM2, tokens are
//! made with `softhsm2-util --init-token --free` (so they get SoftHSM's random slot ids, beside
//! its always-empty slot). For another module, the child initialises tokens through PKCS#11
//! itself (`C_InitToken` on a slot with an uninitialised token, then `C_InitPIN`); for kryoptic
//! the harness also points `KRYOPTIC_CONF` at a per-test database.

use std::path::{Path, PathBuf};
use std::process::Command;

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::session::UserType;
use cryptoki::types::AuthPin;
use hallmark_hsm::pkcs11::Pkcs11Uri;

/// Chooses the module under test.
pub(crate) const MODULE_ENV: &str = "HALLMARK_TEST_PKCS11_MODULE";
/// SoftHSM2 as Debian installs it.
pub(crate) const SOFTHSM_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";
const CHILD_ENV: &str = "HALLMARK_PKCS11_TEST_CHILD";
const FIXTURE_ENV: &str = "HALLMARK_PKCS11_TEST_FIXTURE";

/// `CKF_USER_PIN_COUNT_LOW`, `CKF_USER_PIN_FINAL_TRY`, `CKF_USER_PIN_LOCKED`.
pub(crate) const CKF_USER_PIN_COUNT_LOW: u64 = 0x0001_0000;
/// See [`CKF_USER_PIN_COUNT_LOW`].
pub(crate) const CKF_USER_PIN_FINAL_TRY: u64 = 0x0002_0000;
/// See [`CKF_USER_PIN_COUNT_LOW`].
pub(crate) const CKF_USER_PIN_LOCKED: u64 = 0x0004_0000;

/// What a test needs.
#[derive(Clone, Debug)]
pub(crate) struct Setup {
    /// Labels of the tokens to create.
    pub(crate) tokens: Vec<&'static str>,
    /// Run against SoftHSM2 whatever `HALLMARK_TEST_PKCS11_MODULE` says (for tests that rely
    /// on SoftHSM2's configuration or token files).
    pub(crate) softhsm_only: bool,
    /// SoftHSM2 `slots.mechanisms` value (default `ALL`).
    pub(crate) softhsm_mechanisms: &'static str,
    /// Token flags to set in SoftHSM2's token file before the module loads it, per token index.
    pub(crate) softhsm_token_flags: Vec<(usize, u64)>,
}

impl Setup {
    /// One token labelled `ci`.
    pub(crate) fn one_token() -> Setup {
        Setup::tokens(&["ci"])
    }

    /// Tokens with these labels.
    pub(crate) fn tokens(labels: &[&'static str]) -> Setup {
        Setup {
            tokens: labels.to_vec(),
            softhsm_only: false,
            softhsm_mechanisms: "ALL",
            softhsm_token_flags: Vec::new(),
        }
    }

    /// Only on SoftHSM2.
    pub(crate) fn softhsm(mut self) -> Setup {
        self.softhsm_only = true;
        self
    }
}

/// A token made for the test.
#[derive(Clone, Debug)]
pub(crate) struct TestToken {
    /// The label.
    pub(crate) label: String,
    /// The user PIN.
    pub(crate) pin: String,
    /// The security officer PIN.
    pub(crate) so_pin: String,
    /// A file holding the user PIN.
    pub(crate) pin_file: PathBuf,
}

/// The test's module, tokens and scratch directory (in the child process).
#[derive(Clone, Debug)]
pub(crate) struct Fixture {
    /// The module under test.
    pub(crate) module: PathBuf,
    /// Whether it is SoftHSM2.
    pub(crate) softhsm: bool,
    /// The test's directory.
    pub(crate) dir: PathBuf,
    /// The tokens.
    pub(crate) tokens: Vec<TestToken>,
}

impl Fixture {
    /// The token with this label.
    pub(crate) fn token(&self, label: &str) -> &TestToken {
        self.tokens
            .iter()
            .find(|t| t.label == label)
            .expect("token made by the harness")
    }

    /// `pkcs11:token=LABEL;object=OBJECT?module-path=…&pin-source=file:…`.
    pub(crate) fn uri(&self, token: &str, object: &str) -> Pkcs11Uri {
        let t = self.token(token);
        format!(
            "pkcs11:token={};object={}?module-path={}&pin-source=file:{}",
            t.label,
            object,
            self.module.display(),
            t.pin_file.display()
        )
        .parse()
        .expect("test URI parses")
    }

    /// A raw `cryptoki` context on the same module (the process shares one initialised
    /// library), for what the tests do behind Hallmark's back.
    pub(crate) fn raw(&self) -> Pkcs11 {
        raw_context(&self.module)
    }

    /// The slot holding the token with this label.
    pub(crate) fn slot(&self, label: &str) -> cryptoki::slot::Slot {
        let ctx = self.raw();
        ctx.get_slots_with_initialized_token()
            .expect("slot list")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .map(|i| i.label() == label)
                    .unwrap_or(false)
            })
            .expect("token present")
    }

    /// A file with this content in the test directory.
    pub(crate) fn write_file(&self, name: &str, content: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, content).expect("write test file");
        path
    }
}

/// Loads the module and initialises it unless another part of the process did.
pub(crate) fn raw_context(module: &Path) -> Pkcs11 {
    let ctx = Pkcs11::new(module).expect("load module");
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(err) => panic!("C_Initialize: {err}"),
    }
    ctx
}

fn selected_module(setup: &Setup) -> PathBuf {
    if setup.softhsm_only {
        return PathBuf::from(SOFTHSM_MODULE);
    }
    std::env::var_os(MODULE_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(SOFTHSM_MODULE))
}

fn is_softhsm(module: &Path) -> bool {
    module
        .file_name()
        .is_some_and(|n| n.to_string_lossy().contains("softhsm"))
}

/// Runs `body` in a child process with fresh tokens; `full_name` is `module_path!()::name`.
pub(crate) fn run(full_name: &str, setup: Setup, body: impl FnOnce(&Fixture)) {
    let name = full_name
        .split_once("::")
        .map_or(full_name, |(_, rest)| rest);
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let dir = PathBuf::from(std::env::var_os(FIXTURE_ENV).expect("fixture directory"));
        let fixture = read_fixture(&dir);
        if !fixture.softhsm {
            init_tokens_through_pkcs11(&fixture);
        }
        body(&fixture);
        return;
    }
    parent(name, &setup);
}

fn parent(name: &str, setup: &Setup) {
    let module = selected_module(setup);
    let softhsm = is_softhsm(&module);
    if !module.is_file() {
        if softhsm {
            panic!(
                "SoftHSM2 is not installed ({} is missing). Run `bash scripts/test.sh`, which \
                 installs it (or `apt-get install softhsm2`).",
                module.display()
            );
        }
        panic!("{MODULE_ENV}={} does not name a file", module.display());
    }
    let temp = tempfile::Builder::new()
        .prefix("hallmark-pkcs11-")
        .tempdir()
        .expect("temp dir");
    let dir = temp.path().to_owned();
    let tokens: Vec<TestToken> = setup
        .tokens
        .iter()
        .enumerate()
        .map(|(i, label)| {
            let pin = format!("{:04}{i}", 1234);
            let pin_file = dir.join(format!("pin-{label}"));
            std::fs::write(&pin_file, format!("{pin}\n")).expect("write PIN file");
            TestToken {
                label: (*label).to_owned(),
                pin,
                so_pin: format!("so-{i}-5678"),
                pin_file,
            }
        })
        .collect();
    let mut child = Command::new(std::env::current_exe().expect("test binary path"));
    if softhsm {
        let token_dir = dir.join("tokens");
        std::fs::create_dir(&token_dir).expect("token dir");
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n\
                 slots.removable = false\nslots.mechanisms = {}\nlibrary.reset_on_fork = false\n",
                token_dir.display(),
                setup.softhsm_mechanisms
            ),
        )
        .expect("write SoftHSM2 configuration");
        for token in &tokens {
            softhsm2_util(&conf, token);
        }
        for (index, flags) in &setup.softhsm_token_flags {
            set_softhsm_token_flags(&token_dir, &tokens[*index].label, *flags);
        }
        child.env("SOFTHSM2_CONF", &conf);
    } else {
        assert!(
            setup.softhsm_token_flags.is_empty() && setup.softhsm_mechanisms == "ALL",
            "SoftHSM2-specific setup on another module"
        );
        if module.to_string_lossy().contains("kryoptic") {
            child.env("KRYOPTIC_CONF", dir.join("kryoptic.sql"));
        }
    }
    write_fixture(
        &dir,
        &Fixture {
            module,
            softhsm,
            dir: dir.clone(),
            tokens,
        },
    );
    let output = child
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, name)
        .env(FIXTURE_ENV, &dir)
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "test {name} failed in its child process ({}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    // Let the child's output show with --nocapture.
    print!("{stdout}");
    eprint!("{stderr}");
    drop(temp);
}

fn softhsm2_util(conf: &Path, token: &TestToken) {
    let result = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", conf)
        .args(["--init-token", "--free", "--label", &token.label])
        .args(["--so-pin", &token.so_pin, "--pin", &token.pin])
        .output();
    match result {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "softhsm2-util --init-token failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => panic!(
            "softhsm2-util is not installed. Run `bash scripts/test.sh`, which installs SoftHSM2 \
             (or `apt-get install softhsm2`)."
        ),
        Err(err) => panic!("cannot run softhsm2-util: {err}"),
    }
}

/// ORs `flags` into the token flags SoftHSM2 keeps in its token file (attribute
/// `CKA_OS_TOKENFLAGS`, vendor-defined 0x8000534B, stored as a big-endian u64 after the type
/// tag 2 for "unsigned long"). SoftHSM2 itself never sets the final-try or locked flags — it
/// has no PIN retry limit — so this is how the tests show what Hallmark does when a token
/// reports them. The module reads the file when it starts, in the child process.
fn set_softhsm_token_flags(token_dir: &Path, label: &str, flags: u64) {
    const TAG: [u8; 16] = [0, 0, 0, 0, 0x80, 0, 0x53, 0x4b, 0, 0, 0, 0, 0, 0, 0, 2];
    for entry in std::fs::read_dir(token_dir).expect("token dir") {
        let path = entry.expect("dir entry").path().join("token.object");
        let mut bytes = std::fs::read(&path).expect("token file");
        let mut padded = label.as_bytes().to_vec();
        padded.resize(32, b' ');
        if !bytes.windows(32).any(|w| w == padded.as_slice()) {
            continue;
        }
        let at = bytes
            .windows(16)
            .position(|w| w == TAG)
            .expect("token flags attribute")
            + 16;
        let mut value = [0u8; 8];
        value.copy_from_slice(&bytes[at..at + 8]);
        let value = u64::from_be_bytes(value) | flags;
        bytes[at..at + 8].copy_from_slice(&value.to_be_bytes());
        std::fs::write(&path, bytes).expect("write token file");
        return;
    }
    panic!("no SoftHSM2 token labelled {label}");
}

fn init_tokens_through_pkcs11(fixture: &Fixture) {
    let ctx = fixture.raw();
    for token in &fixture.tokens {
        let slot = ctx
            .get_slots_with_token()
            .expect("slot list")
            .into_iter()
            .find(|s| {
                ctx.get_token_info(*s)
                    .map(|i| !i.token_initialized())
                    .unwrap_or(false)
            })
            .expect("a slot with an uninitialised token for each test token");
        ctx.init_token(slot, &AuthPin::from(token.so_pin.as_str()), &token.label)
            .expect("C_InitToken");
        let session = ctx.open_rw_session(slot).expect("C_OpenSession");
        session
            .login(UserType::So, Some(&AuthPin::from(token.so_pin.as_str())))
            .expect("SO login");
        session
            .init_pin(&AuthPin::from(token.pin.as_str()))
            .expect("C_InitPIN");
        session.logout().expect("C_Logout");
    }
}

fn write_fixture(dir: &Path, fixture: &Fixture) {
    let tokens: Vec<serde_json::Value> = fixture
        .tokens
        .iter()
        .map(|t| {
            serde_json::json!({
                "label": t.label, "pin": t.pin, "so_pin": t.so_pin,
                "pin_file": t.pin_file.display().to_string(),
            })
        })
        .collect();
    let json = serde_json::json!({
        "module": fixture.module.display().to_string(),
        "softhsm": fixture.softhsm,
        "tokens": tokens,
    });
    std::fs::write(dir.join("fixture.json"), json.to_string()).expect("write fixture");
}

fn read_fixture(dir: &Path) -> Fixture {
    let text = std::fs::read_to_string(dir.join("fixture.json")).expect("fixture file");
    let json: serde_json::Value = serde_json::from_str(&text).expect("fixture JSON");
    let s = |v: &serde_json::Value| v.as_str().expect("string").to_owned();
    Fixture {
        module: PathBuf::from(s(&json["module"])),
        softhsm: json["softhsm"].as_bool().expect("bool"),
        dir: dir.to_owned(),
        tokens: json["tokens"]
            .as_array()
            .expect("tokens")
            .iter()
            .map(|t| TestToken {
                label: s(&t["label"]),
                pin: s(&t["pin"]),
                so_pin: s(&t["so_pin"]),
                pin_file: PathBuf::from(s(&t["pin_file"])),
            })
            .collect(),
    }
}

/// Declares a test whose body runs in a child process with fresh tokens.
#[macro_export]
macro_rules! pkcs11_test {
    ($(#[$meta:meta])* fn $name:ident($fx:ident) with $setup:expr; $body:block) => {
        $(#[$meta])*
        #[test]
        fn $name() {
            $crate::harness::run(
                concat!(module_path!(), "::", stringify!($name)),
                $setup,
                |$fx: &$crate::harness::Fixture| $body,
            );
        }
    };
}
