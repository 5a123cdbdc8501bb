//! The openedx-pok binary.
fn main() {}
