//! Configuration benches: what a reload of a large configuration costs, step by step.
//!
//! A reload is load (YAML → `Snapshot`) → compile (`Snapshot` → `Plan` + status) → build
//! (`Plan` → router and rule stacks). While it runs the old configuration keeps serving,
//! but its duration is how long a change takes to reach traffic, so it must not blow up
//! as the number of routes grows.
//!
//! The configuration is the one `support` generates for the routing benches: one Gateway
//! with an HTTP listener, N HTTPRoutes on hostnames `svc-{i}.example` with two
//! matches each (`/static`, and `/api` + header `x-tenant`), one Service + EndpointSlice.
//!
//! Each step is measured at 1 000 and 10 000 routes, so the scaling shows:
//!
//! - `config/load_dir/N` — `gateway_k8s::load_dir` of the manifest file (about 3.9 MB of
//!   YAML at 10 000 routes, read from the page cache): split, parse and decode.
//! - `config/compile/N` — `gateway_routes::compile::compile` of the loaded snapshot:
//!   attachment, hostname intersection, precedence ordering, backend resolution, status.
//! - `config/compile_plan/N` — `gateway_routes::compile::compile_plan`: the same without
//!   writing the statuses, which is what a reload does before the swap (it writes them
//!   after).
//! - `config/build/N` — `gateway_routes::build::build_sockets` of the compiled plan: the
//!   socket router and every rule stack (the built services are dropped outside the
//!   timing).
//! - `config/build_metrics/N` — the same build recording into a real `Metrics` registry,
//!   as the runtime builds it: a fresh registry each time, so every route is new to it
//!   (a reload from 1 route to N).
//!
//! Run with `cargo bench -p tower-gateway --bench compile`; see `benches/README.md`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "set-up failures in a bench are fatal, as in a test"
)]

mod support;

use std::{sync::Arc, time::Duration};

use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use gateway_core::metrics::Metrics;
use gateway_routes::{
    build::{BuildContext, build_sockets},
    compile::{CompileOptions, compile, compile_plan},
};
use support::Spec;

/// Route counts each step is measured at: the 10 000, and 1 000 to show how each
/// step scales (10× the routes should cost about 10× the time).
const ROUTE_COUNTS: [usize; 2] = [1_000, 10_000];

fn config(c: &mut Criterion) {
    let client = support::client();
    let options = CompileOptions::default();
    let mut group = c.benchmark_group("config");
    // Each step takes milliseconds to a second: few samples, enough to see a trend. Every
    // result is dropped outside the timing, one at a time (`PerIteration`), so no sample
    // keeps hundreds of built configurations alive.
    group
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(5));
    for routes in ROUTE_COUNTS {
        let spec = Spec::distinct(routes);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("bench.yaml"), spec.yaml()).unwrap();
        let snapshot = support::load_into_snapshot(dir.path());
        let plan = spec.compiled().plan;

        group.bench_function(BenchmarkId::new("load_dir", routes), |b| {
            b.iter_batched(
                || (),
                |()| support::load_into_snapshot(dir.path()),
                BatchSize::PerIteration,
            );
        });
        group.bench_function(BenchmarkId::new("compile", routes), |b| {
            b.iter_batched(
                || (),
                |()| compile(&snapshot, &options),
                BatchSize::PerIteration,
            );
        });
        group.bench_function(BenchmarkId::new("compile_plan", routes), |b| {
            b.iter_batched(
                || (),
                |()| compile_plan(&snapshot, &options),
                BatchSize::PerIteration,
            );
        });
        group.bench_function(BenchmarkId::new("build", routes), |b| {
            b.iter_batched(
                || (),
                |()| support::build_sockets_of(&plan, &client),
                BatchSize::PerIteration,
            );
        });
        group.bench_function(BenchmarkId::new("build_metrics", routes), |b| {
            b.iter_batched(
                || Arc::new(Metrics::new()),
                |metrics| {
                    let mut ctx = BuildContext::new(client.clone()).with_metrics(metrics.clone());
                    let (sockets, warnings) =
                        build_sockets(&plan, |_, _| support::LISTEN, &mut ctx);
                    assert!(warnings.is_empty(), "{warnings:?}");
                    (sockets, ctx, metrics)
                },
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, config);
criterion_main!(benches);
