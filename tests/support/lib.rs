//! Shared helpers for Hallmark's end-to-end tests.
