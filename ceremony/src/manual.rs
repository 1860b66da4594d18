//! The threat model of key ceremonies.
//!
//! (To be completed.)
