//! `virtual-yubikey`: plug a virtual YubiKey into pcscd's vpcd reader by hand, to try
//! `hallmark key …` or `ykman piv info` without hardware; or write the test attestation root.
//!
//! ```text
//! virtual-yubikey [--serial N] [--firmware 5.7.4] [--reader 0|1] [--pin PIN] [--touch-timeout]
//! virtual-yubikey export-ca DIR
//! ```
//!
//! The card keeps running until the process is stopped; its keys live in memory only.

use std::process::ExitCode;

use virtual_yubikey::piv::Faults;
use virtual_yubikey::{CardConfig, Reader, TestAuthority, Touch, VirtualYubiKey};

const USAGE: &str = "usage: virtual-yubikey [--serial N] [--firmware X.Y.Z] [--reader 0|1] [--pin PIN] [--touch-timeout]
       virtual-yubikey export-ca DIR

Inserts a virtual YubiKey (PIV, Ed25519) into pcscd's vpcd reader and serves it until stopped.
--touch-timeout makes every touch time out after 15 s, as an untouched YubiKey does.
export-ca writes the test attestation root and intermediate (PEM) to DIR.";

fn parse_firmware(text: &str) -> Option<[u8; 3]> {
    let mut parts = text.split('.').map(|p| p.parse::<u8>().ok());
    let v = [parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(v)
}

fn export_ca(dir: &str) -> Result<(), String> {
    let authority = virtual_yubikey::test_authority().map_err(|e| e.to_string())?;
    for (name, der) in [
        ("virtual-yubikey-root.pem", authority.root_der()),
        (
            "virtual-yubikey-intermediate.pem",
            authority.intermediate_der(),
        ),
    ] {
        let path = std::path::Path::new(dir).join(name);
        let pem = TestAuthority::pem(der).map_err(|e| e.to_string())?;
        std::fs::write(&path, pem).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

fn run(args: &[String]) -> Result<(), String> {
    if let [command, dir] = args
        && command == "export-ca"
    {
        return export_ca(dir);
    }
    let mut config = CardConfig::new(12345678);
    let mut reader = Reader::First;
    let mut faults = Faults::default();
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n\n{USAGE}"))
        };
        match arg.as_str() {
            "--serial" => {
                let v = value()?;
                config.serial = v.parse().map_err(|_| format!("bad serial {v:?}"))?;
            }
            "--firmware" => {
                let v = value()?;
                config.version = parse_firmware(v).ok_or_else(|| format!("bad firmware {v:?}"))?;
            }
            "--reader" => {
                reader = match value()?.as_str() {
                    "0" => Reader::First,
                    "1" => Reader::Second,
                    other => return Err(format!("bad reader {other:?}: 0 or 1")),
                }
            }
            "--pin" => config = config.pin(value()?.as_bytes()),
            "--touch-timeout" => {
                faults.touch = Touch::TimesOut;
                faults.touch_timeout = std::time::Duration::from_secs(15);
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => return Err(format!("unknown argument {other:?}\n\n{USAGE}")),
        }
    }
    let serial = config.serial;
    let card = VirtualYubiKey::insert(config, reader).map_err(|e| e.to_string())?;
    card.card().faults = faults;
    println!(
        "virtual YubiKey {serial} is in reader {:?}; stop this process to pull it out",
        reader.name()
    );
    loop {
        std::thread::park();
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("virtual-yubikey: {message}");
            ExitCode::from(2)
        }
    }
}
