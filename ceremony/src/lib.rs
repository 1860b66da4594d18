//! Hallmark key ceremonies.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
