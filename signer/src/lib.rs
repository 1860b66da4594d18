//! Hallmark's publisher side.
#![forbid(unsafe_code)]
#![warn(missing_docs)]
