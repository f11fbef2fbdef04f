//! Placeholder until the socket bridge lands.
fn main() {}
