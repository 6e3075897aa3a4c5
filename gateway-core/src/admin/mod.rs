//! The admin server: readiness, liveness, the compiled configuration and metrics, on its
//! own (loopback by default) port.
//!
//! | Path | Answer |
//! |---|---|
//! | `GET /ready` | `200 ready` once [`AdminState::set_ready`] was called with `true`, else `503` |
//! | `GET /healthz` | `200 ok` while the process serves |
//! | `GET /config_dump` | the document set by [`AdminState::set_config_dump`], as JSON |
//! | `GET /status` | the document set by [`AdminState::set_status`], a JSON array |
//! | `GET /metrics`, `GET /stats/prometheus` | the OpenMetrics text of [`AdminState::metrics`] ([`Metrics`](crate::metrics::Metrics)), content type [`OPENMETRICS_CONTENT_TYPE`](crate::metrics::OPENMETRICS_CONTENT_TYPE) |
//!
//! Other paths answer `404`, other methods on these paths `405`. The state is read without
//! locks ([`arc_swap`] snapshots and an atomic flag), so publishing a new config dump never
//! blocks a reader. Documents are published as values and written as JSON on their first
//! read ([`JsonDocument`]), on the blocking pool so that a large one never stalls a worker;
//! a scrape reads the metric cells atomically and takes the families'
//! locks only against a concurrent stack build, never against traffic.

mod document;
mod server;
mod state;

pub use document::JsonDocument;
pub use server::serve_admin;
pub use state::AdminState;
