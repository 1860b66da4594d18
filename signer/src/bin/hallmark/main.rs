//! The `hallmark` command.
fn main() {}
