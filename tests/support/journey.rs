//! The user journey of the README and issue 6, as a user types it, for any backend: generate
//! keys, create an identity with a pre-committed next key, pin it, sign, verify, rotate, sign
//! with the new key, verify the linked change; then the refusals a consumer must see — a new
//! identity claiming the namespace, and a release signed with a key after it was rotated away
//! as compromised.
//!
//! `tests/journey.rs` runs it with file keys, `tests/pkcs11_cli.rs` with keys in a SoftHSM2
//! token and `tests/yubikey_cli.rs` with keys in virtual YubiKey slots: the same commands and
//! the same verdicts, whatever holds the keys.

use std::ffi::OsString;

use crate::{Run, Scratch};

/// The keys of the journey, as key references of one backend.
#[derive(Clone, Debug)]
pub struct JourneyKeys {
    /// The publisher's first signing key.
    pub alice: String,
    /// Her pre-committed next key.
    pub alice_next: String,
    /// The key the rotation commits to next.
    pub alice_next2: String,
    /// An impostor's signing key.
    pub mallory: String,
    /// The impostor's next key.
    pub mallory_next: String,
}

/// A backend to run the journey on.
pub struct Journey<'a> {
    /// Where `hallmark` runs.
    pub scratch: &'a Scratch,
    /// The keys, as references.
    pub keys: JourneyKeys,
    /// Extra arguments of `key generate` (e.g. a passphrase file for file keys).
    pub generate_args: Vec<String>,
    /// Extra arguments of every command that unlocks a key (e.g. `--passphrase-file pw`).
    pub unlock_args: Vec<String>,
}

impl Journey<'_> {
    /// Runs `hallmark` with `args`, then `extra`.
    fn run(&self, args: &[&str], extra: &[String]) -> Run {
        let mut all: Vec<OsString> = args.iter().map(OsString::from).collect();
        all.extend(extra.iter().map(OsString::from));
        self.scratch.run(all)
    }

    fn unlocking(&self, args: &[&str]) -> Run {
        self.run(args, &self.unlock_args)
    }

    fn generate(&self, key: &str) {
        self.run(&["key", "generate", "--out", key], &self.generate_args)
            .expect(0);
    }

    /// The short key id (16 hex digits) of the key `reference` names.
    pub fn key_id(&self, reference: &str) -> String {
        let json = self
            .run(&["--json", "key", "show", reference], &[])
            .expect(0)
            .json();
        json["keyId"].as_str().unwrap()[..16].to_owned()
    }

    fn until_rotation(&self) {
        let k = &self.keys;
        for key in [&k.alice, &k.alice_next, &k.alice_next2] {
            self.generate(key);
        }
        self.unlocking(&[
            "ceremony",
            "init",
            "--key",
            &k.alice,
            "--next-key",
            &k.alice_next,
            "--namespace",
            "org.example",
            "--out",
            "org.example.kel",
        ])
        .expect(0);
        self.run(
            &[
                "keyring",
                "pin",
                "org.example",
                "--identity",
                "org.example.kel",
                "--keyring",
                "trust",
            ],
            &[],
        )
        .expect(0);
        self.scratch.write("tool-1.0.0.tar", b"tool 1.0.0\n");
        self.sign(&k.alice, "org.example.kel", "1.0.0", "tool-1.0.0.tar");
    }

    fn sign(&self, key: &str, identity: &str, version: &str, artifact: &str) {
        self.unlocking(&[
            "sign",
            "--key",
            key,
            "--identity",
            identity,
            "--name",
            "org.example.tool",
            "--version",
            version,
            artifact,
        ])
        .expect(0);
    }

    fn verify(&self, artifact: &str, code: i32) -> Run {
        self.run(&["verify", "--keyring", "trust", artifact], &[])
            .expect(code)
    }

    /// Pin, sign, verify, rotate to the pre-committed key, sign, verify the linked change; a
    /// new identity claiming the namespace is refused, and verification never changes the pin.
    pub fn pin_sign_verify_rotate_verify(&self) {
        let k = &self.keys;
        self.until_rotation();
        let (a, b) = (self.key_id(&k.alice), self.key_id(&k.alice_next));
        let identity = self.scratch.read("org.example.kel");
        let run = self.verify("tool-1.0.0.tar", 0);
        assert!(
            run.stdout.starts_with(&format!(
                "tool-1.0.0.tar: trusted: org.example.tool@1.0.0 signed by key {a} of identity hid:"
            )),
            "{}",
            run.stdout
        );

        // The rotation reveals the pre-committed key (scheduled, the default reason).
        self.unlocking(&[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            &k.alice_next,
            "--next-key",
            &k.alice_next2,
        ])
        .expect(0);
        assert_ne!(self.scratch.read("org.example.kel"), identity);
        self.scratch.write("tool-2.0.0.tar", b"tool 2.0.0\n");
        self.sign(&k.alice_next, "org.example.kel", "2.0.0", "tool-2.0.0.tar");
        let run = self.verify("tool-2.0.0.tar", 0);
        let prefix = format!(
            "tool-2.0.0.tar: trusted-after-rotation: org.example.tool@2.0.0 signed by key {b}; {a} → {b} by rotation #1 (scheduled, "
        );
        assert!(run.stdout.starts_with(&prefix), "{}", run.stdout);
        // The release signed before the scheduled rotation stays trusted.
        self.verify("tool-1.0.0.tar", 0);

        // A new identity claiming org.example is not linked to the pin.
        for key in [&k.mallory, &k.mallory_next] {
            self.generate(key);
        }
        self.unlocking(&[
            "ceremony",
            "init",
            "--key",
            &k.mallory,
            "--next-key",
            &k.mallory_next,
            "--namespace",
            "org.example",
            "--out",
            "mallory.kel",
        ])
        .expect(0);
        self.scratch.write("tool-3.0.0.tar", b"not the real tool\n");
        self.sign(&k.mallory, "mallory.kel", "3.0.0", "tool-3.0.0.tar");
        let run = self.verify("tool-3.0.0.tar", 1);
        assert!(
            run.stdout.starts_with("tool-3.0.0.tar: rejected: unlinked-signer-change: org.example.tool@3.0.0 is signed by identity hid:"),
            "{}",
            run.stdout
        );
        // Verification never changed the pin.
        let show = self
            .run(&["--json", "keyring", "show", "--keyring", "trust"], &[])
            .expect(0)
            .json();
        assert_eq!(show["pins"].as_array().unwrap().len(), 1, "{show}");
    }

    /// After a rotation that retires the first key as compromised, a release a thief signs
    /// with it — in the name of a copy of the log from before the rotation — is revoked.
    pub fn after_a_compromised_rotation_the_old_key_is_revoked(&self) {
        let k = &self.keys;
        self.until_rotation();
        let a = self.key_id(&k.alice);
        // The thief keeps a copy of the log as it was while the first key was current.
        std::fs::copy(
            self.scratch.join("org.example.kel"),
            self.scratch.join("stolen.kel"),
        )
        .unwrap();
        self.unlocking(&[
            "ceremony",
            "rotate",
            "--identity",
            "org.example.kel",
            "--key",
            &k.alice_next,
            "--next-key",
            &k.alice_next2,
            "--reason",
            "compromised",
        ])
        .expect(0);
        self.run(
            &["keyring", "import", "org.example.kel", "--keyring", "trust"],
            &[],
        )
        .expect(0);
        self.scratch.write("tool-9.9.9.tar", b"backdoored\n");
        self.sign(&k.alice, "stolen.kel", "9.9.9", "tool-9.9.9.tar");
        let run = self.verify("tool-9.9.9.tar", 1);
        assert!(
            run.stdout.starts_with(&format!(
                "tool-9.9.9.tar: rejected: revoked: org.example.tool@9.9.9 is signed by key {a}, which rotation #1 ("
            )),
            "{}",
            run.stdout
        );
        assert!(
            run.stdout.contains("retired as compromised"),
            "{}",
            run.stdout
        );
    }
}
