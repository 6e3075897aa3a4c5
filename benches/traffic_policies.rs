//! Placeholder until the policy benches land.
use criterion::{Criterion, criterion_group, criterion_main};
fn placeholder(_c: &mut Criterion) {}
criterion_group!(benches, placeholder);
criterion_main!(benches);
