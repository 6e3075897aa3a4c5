//! Facade over the gateway's crates, for embedding and examples.
pub use gateway_core as core;
pub use gateway_filters as filters;
pub use gateway_k8s as k8s;
pub use gateway_routes as routes;
