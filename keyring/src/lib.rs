//! Hallmark's formats and trust decisions, with no hardware dependencies.
#![forbid(unsafe_code)]
#![warn(missing_docs)]

pub mod digest;
