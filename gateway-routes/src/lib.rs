//! Gateway API resources in, a [`plan::Plan`] and status out; and a plan built into
//! services.
//!
//! The compiler is a pure function of a [`snapshot::Snapshot`]: no I/O, deterministic, and
//! where every Gateway API semantic lives (attachment, hostnames, ReferenceGrant,
//! precedence). The build step turns a plan into the services the runtime serves.

pub mod api;
pub mod build;
pub mod compile;
#[cfg(feature = "test-util")]
pub mod fixtures;
pub mod plan;
pub mod runtime;
pub mod snapshot;
