//! Runs each AWS KMS test in a fresh process against its own emulator.
//!
//! The AWS SDK reads its region, credentials and endpoint from the environment and the shared
//! profile files, and changing the environment of a running multi-threaded test process is
//! unsound. So every test, when run by the test runner, starts its own ministack on a free
//! loopback port (`emulator.rs`), lets the test's `prepare` step set things up behind
//! Hallmark's back (IAM users, a fault injector, …), then runs *itself* again as a child
//! process of this test binary with a clean environment: `AWS_ENDPOINT_URL` pointing at the
//! emulator, fake credentials, `AWS_REGION`, empty profile files, instance metadata off — plus
//! whatever `prepare` changed. It checks that the child ran exactly that one test and passed.
//! Nothing ever reaches AWS.

use std::any::Any;
use std::process::Command;

use serde_json::Value;

use crate::emulator::{self, Admin, Emulator, MINISTACK_ENV, REGION};

const CHILD_ENV: &str = "HALLMARK_AWSKMS_TEST_CHILD";
const ADMIN_ENV: &str = "HALLMARK_AWSKMS_TEST_ADMIN_ENDPOINT";

/// What the parent prepared for the child.
#[derive(Default)]
pub(crate) struct Prepared {
    /// Environment variables to set (a `None` value removes the variable).
    pub(crate) env: Vec<(&'static str, Option<String>)>,
    /// Values the child reads with [`Fixture::value`].
    pub(crate) values: Vec<(&'static str, String)>,
    /// Kept alive until the child ends (a fault injector).
    pub(crate) keep: Vec<Box<dyn Any>>,
    /// Runs in the parent after the child passed.
    pub(crate) after: Option<Box<dyn FnOnce()>>,
}

impl Prepared {
    pub(crate) fn set(mut self, name: &'static str, value: impl Into<String>) -> Prepared {
        self.env.push((name, Some(value.into())));
        self
    }

    pub(crate) fn unset(mut self, name: &'static str) -> Prepared {
        self.env.push((name, None));
        self
    }

    pub(crate) fn value(mut self, name: &'static str, value: impl Into<String>) -> Prepared {
        self.values.push((name, value.into()));
        self
    }
}

/// What a test needs.
pub(crate) struct Setup {
    /// Start the emulator with `AUTH=true` (signatures checked, IAM enforced).
    pub(crate) auth: bool,
    /// Runs in the parent once the emulator is up.
    pub(crate) prepare: fn(&Emulator, &std::path::Path) -> Prepared,
}

impl Setup {
    /// The emulator with authentication, nothing else.
    pub(crate) fn plain() -> Setup {
        Setup {
            auth: true,
            prepare: |_, _| Prepared::default(),
        }
    }

    /// The emulator with authentication, and a prepare step.
    pub(crate) fn prepared(prepare: fn(&Emulator, &std::path::Path) -> Prepared) -> Setup {
        Setup {
            auth: true,
            prepare,
        }
    }
}

/// The child's view: the emulator to administer.
pub(crate) struct Fixture {
    pub(crate) admin: Admin,
}

impl Fixture {
    /// A value the parent's prepare step passed.
    pub(crate) fn value(&self, name: &str) -> String {
        std::env::var(format!("HALLMARK_AWSKMS_TEST_VALUE_{name}"))
            .unwrap_or_else(|_| panic!("prepared value {name}"))
    }

    /// `awskms:` and `key`.
    pub(crate) fn reference(&self, key: &str) -> hallmark_hsm::awskms::AwsKmsRef {
        format!("awskms:{key}")
            .parse()
            .expect("test reference parses")
    }
}

/// Runs `body` in a child process against a fresh emulator; `full_name` is
/// `module_path!()::name`.
pub(crate) fn run(full_name: &str, setup: Setup, body: impl FnOnce(&Fixture)) {
    let name = full_name
        .split_once("::")
        .map_or(full_name, |(_, rest)| rest);
    if std::env::var(CHILD_ENV).as_deref() == Ok(name) {
        let fixture = Fixture {
            admin: Admin {
                endpoint: std::env::var(ADMIN_ENV).expect("emulator endpoint"),
            },
        };
        body(&fixture);
        return;
    }
    parent(name, &setup);
}

fn parent(name: &str, setup: &Setup) {
    let temp = tempfile::Builder::new()
        .prefix("hallmark-awskms-")
        .tempdir()
        .expect("temp dir");
    let dir = temp.path().to_owned();
    let emulator = Emulator::start(&dir, setup.auth);
    let prepared = (setup.prepare)(&emulator, &dir);
    let mut child = Command::new(std::env::current_exe().expect("test binary path"));
    child
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env(MINISTACK_ENV, emulator::ministack_path())
        .env("HOME", &dir)
        .env("AWS_ENDPOINT_URL", emulator.endpoint())
        .env("AWS_ACCESS_KEY_ID", emulator::ROOT_ACCESS_KEY)
        .env("AWS_SECRET_ACCESS_KEY", emulator::ROOT_SECRET_KEY)
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", dir.join("aws-config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", dir.join("aws-credentials"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env(CHILD_ENV, name)
        .env(ADMIN_ENV, emulator.endpoint());
    for (variable, value) in &prepared.env {
        match value {
            Some(value) => child.env(variable, value),
            None => child.env_remove(variable),
        };
    }
    for (variable, value) in &prepared.values {
        child.env(format!("HALLMARK_AWSKMS_TEST_VALUE_{variable}"), value);
    }
    let output = child
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .output()
        .expect("run the test in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success() && stdout.contains("test result: ok. 1 passed"),
        "test {name} failed in its child process ({}):\n--- stdout\n{stdout}\n--- stderr\n\
         {stderr}\n--- ministack log\n{}",
        output.status,
        emulator.log()
    );
    print!("{stdout}");
    eprint!("{stderr}");
    if let Some(after) = prepared.after {
        after();
    }
    drop(prepared.keep);
    drop(emulator);
    drop(temp);
}

/// The first result's `ok` value, or a panic naming the error.
pub(crate) fn ok(mut results: Vec<Value>) -> Value {
    let first = results.remove(0);
    first
        .get("ok")
        .cloned()
        .unwrap_or_else(|| panic!("call failed: {first}"))
}

/// Declares a test whose body runs in a child process against a fresh emulator.
#[macro_export]
macro_rules! awskms_test {
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
