//! Hallmark's AWS KMS backend against a real KMS emulator (ministack) on loopback.
//!
//! `conformance` is the suite every backend passes (the shape of the PKCS#11 suite): key
//! creation, signing and batches, the expected-key check, listing, and the errors an operator
//! can act on that any KMS endpoint produces. `emulated` holds the tests that rely on what the
//! emulator can be made to do behind Hallmark's back: IAM policies that deny a permission, STS
//! sessions that expire, and a fault injector that throttles. Each test runs in its own
//! process against its own emulator: see `harness.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

#[path = "emulator.rs"]
mod emulator;
mod harness;

mod conformance;
mod emulated;
