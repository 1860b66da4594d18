//! Signing throughput through `Pkcs11Signer` on SoftHSM2, against the raw `C_Sign` loop on one
//! session (the limit) and on two sessions in two threads (does the token sign in parallel?).
//!
//! Run with `cargo bench -p hallmark-hsm --bench pkcs11_sign`. SoftHSM2 reads `SOFTHSM2_CONF`
//! when the module is initialised, so the benchmark first makes a throwaway token directory and
//! token with `softhsm2-util`, then runs itself again with `SOFTHSM2_CONF` set (it never touches
//! `/var/lib/softhsm`). `HALLMARK_BENCH_PKCS11_MODULE` selects another module file for the
//! SoftHSM2 setup (default `/usr/lib/softhsm/libsofthsm2.so`).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // benchmark code

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;

use criterion::{Criterion, Throughput};
use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::eddsa::{EddsaParams, EddsaSignatureScheme};
use cryptoki::object::{Attribute, ObjectClass};
use cryptoki::session::{Session, UserType};
use cryptoki::types::AuthPin;
use hallmark_hsm::interact::Headless;
use hallmark_hsm::pkcs11::{self, Pkcs11Signer, Pkcs11Uri};

const CHILD_ENV: &str = "HALLMARK_BENCH_PKCS11_DIR";
const PIN: &str = "123456";
const BATCH: usize = 1000;

fn module() -> PathBuf {
    std::env::var_os("HALLMARK_BENCH_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"))
}

/// Makes a token in a temporary directory and re-runs this benchmark with SOFTHSM2_CONF set.
fn run_in_child() -> ! {
    let module = module();
    assert!(
        module.is_file(),
        "{} is missing: run `bash scripts/test.sh`, which installs SoftHSM2",
        module.display()
    );
    let dir = tempfile::Builder::new()
        .prefix("hallmark-bench-")
        .tempdir()
        .unwrap();
    let tokens = dir.path().join("tokens");
    std::fs::create_dir(&tokens).unwrap();
    let conf = dir.path().join("softhsm2.conf");
    std::fs::write(
        &conf,
        format!(
            "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
            tokens.display()
        ),
    )
    .unwrap();
    std::fs::write(dir.path().join("pin"), PIN).unwrap();
    let status = Command::new("softhsm2-util")
        .env("SOFTHSM2_CONF", &conf)
        .args([
            "--init-token",
            "--free",
            "--label",
            "bench",
            "--so-pin",
            "12345678",
            "--pin",
            PIN,
        ])
        .output()
        .expect("softhsm2-util (run `bash scripts/test.sh` to install SoftHSM2)");
    assert!(
        status.status.success(),
        "softhsm2-util: {}",
        String::from_utf8_lossy(&status.stderr)
    );
    let status = Command::new(std::env::current_exe().unwrap())
        .args(std::env::args_os().skip(1))
        .env("SOFTHSM2_CONF", &conf)
        .env(CHILD_ENV, dir.path())
        .status()
        .unwrap();
    drop(dir);
    std::process::exit(status.code().unwrap_or(1));
}

fn raw_session(module: &Path) -> (Session, cryptoki::object::ObjectHandle) {
    let ctx = Pkcs11::new(module).unwrap();
    match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(
            cryptoki::error::RvError::CryptokiAlreadyInitialized,
            _,
        )) => {}
        Err(err) => panic!("{err}"),
    }
    let slot = ctx
        .get_slots_with_initialized_token()
        .unwrap()
        .into_iter()
        .find(|s| ctx.get_token_info(*s).unwrap().label() == "bench")
        .unwrap();
    let session = ctx.open_ro_session(slot).unwrap();
    match session.login(UserType::User, Some(&AuthPin::from(PIN))) {
        Ok(())
        | Err(cryptoki::error::Error::Pkcs11(cryptoki::error::RvError::UserAlreadyLoggedIn, _)) => {
        }
        Err(err) => panic!("{err}"),
    }
    let key = session
        .find_objects(&[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Label(b"bench".to_vec()),
        ])
        .unwrap()[0];
    (session, key)
}

fn benches(c: &mut Criterion) {
    let dir = PathBuf::from(std::env::var_os(CHILD_ENV).unwrap());
    let module = module();
    let uri: Pkcs11Uri = format!(
        "pkcs11:token=bench;object=bench?module-path={}&pin-source=file:{}",
        module.display(),
        dir.join("pin").display()
    )
    .parse()
    .unwrap();
    let generated = pkcs11::generate(&uri, &Headless).unwrap();
    // 64-byte messages: the size of a domain-separated statement digest.
    let messages: Vec<Vec<u8>> = (0..BATCH as u32)
        .map(|i| {
            let mut m = vec![0u8; 64];
            m[..4].copy_from_slice(&i.to_be_bytes());
            m
        })
        .collect();
    let refs: Vec<&[u8]> = messages.iter().map(Vec::as_slice).collect();

    let mut group = c.benchmark_group("softhsm2");
    group.sample_size(20);
    group.throughput(Throughput::Elements(BATCH as u64));

    let signer =
        Pkcs11Signer::open(&generated.uri, Some(&generated.verifying_key), &Headless).unwrap();
    group.bench_function(
        format!(
            "Pkcs11Signer::sign_batch x1000, {} sessions",
            signer.max_sessions()
        ),
        |b| b.iter(|| black_box(signer.sign_batch(&refs, |_, _| {}).unwrap())),
    );
    let mut single =
        Pkcs11Signer::open(&generated.uri, Some(&generated.verifying_key), &Headless).unwrap();
    single.set_max_sessions(std::num::NonZeroUsize::MIN);
    group.bench_function("Pkcs11Signer::sign_batch x1000, one session", |b| {
        b.iter(|| black_box(single.sign_batch(&refs, |_, _| {}).unwrap()))
    });
    group.bench_function("Pkcs11Signer::try_sign x1000", |b| {
        b.iter(|| {
            for m in &refs {
                black_box(signature::Signer::try_sign(&signer, m).unwrap());
            }
        })
    });

    let (session, key) = raw_session(&module);
    let mechanism = Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
    group.bench_function("raw C_Sign x1000, one session", |b| {
        b.iter(|| {
            for m in &refs {
                black_box(session.sign(&mechanism, key, m).unwrap());
            }
        })
    });

    let (second, key2) = raw_session(&module);
    let halves: Vec<&[&[u8]]> = refs.chunks(BATCH / 2).collect();
    let mut sessions = [(session, key), (second, key2)];
    group.bench_function("raw C_Sign x1000, two sessions in two threads", |b| {
        b.iter(|| {
            std::thread::scope(|scope| {
                for ((session, key), half) in sessions.iter_mut().zip(&halves) {
                    let key = *key;
                    scope.spawn(move || {
                        let mechanism =
                            Mechanism::Eddsa(EddsaParams::new(EddsaSignatureScheme::Pure));
                        for m in half.iter() {
                            black_box(session.sign(&mechanism, key, m).unwrap());
                        }
                    });
                }
            })
        })
    });
    group.finish();

    let mut open = c.benchmark_group("softhsm2 open");
    open.sample_size(20);
    open.bench_function(
        "Pkcs11Signer::open (select token, login, find key, check signature)",
        |b| b.iter(|| black_box(Pkcs11Signer::open(&generated.uri, None, &Headless).unwrap())),
    );
    open.finish();
}

fn main() {
    if std::env::var_os(CHILD_ENV).is_none() {
        run_in_child();
    }
    let mut criterion = Criterion::default().configure_from_args();
    benches(&mut criterion);
    criterion.final_summary();
}
