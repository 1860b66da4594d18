//! Hallmark's publisher side: file keys, key references, and hashing and signing releases.
//!
//! * [`attest`] — checking the hardware attestations bundles and key events carry;
//! * `cmdline` (with the `cli` feature, on by default) — what the `hallmark` and
//!   `hallmark-verify` commands share: exit codes, output, error text, verdict printing;
//! * [`filekey`] — Ed25519 keys in age-encrypted files, the no-hardware backend;
//! * [`keyref`] — key references (`file:`, `pkcs11:`, `yubikey:`) resolved to signers in one
//!   place;
//! * [`foreignkey`] — minisign, OpenSSH and raw-seed private keys, for `key import|export`;
//! * [`interop`] — minisign and OpenSSH signatures and public key forms, from any backend;
//! * [`release`] — hashing, signing and verifying many artifacts in one run.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod attest;
#[cfg(feature = "cli")]
pub mod cmdline;
pub mod filekey;
pub mod foreignkey;
pub mod interop;
pub mod keyref;
pub mod release;
pub mod tlog_http;
pub mod witness;
