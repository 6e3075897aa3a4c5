//! Criterion benches of routing (filled in by the benches work).

fn main() {}
