//! Gateway policies as tower layers.
//!
//! Each module is one policy: a `FooConfig` (validated configuration), a `FooLayer` and a
//! `FooService`. Every layer works in any tower stack over the proxy's body type, so a
//! library user can put one in an axum or hyper service on its own.

pub mod cors;
pub mod header_modifier;
pub mod mirror;
pub mod path_modifier;
pub mod redirect;
pub mod retry;
pub mod timeout;
pub mod url_rewrite;
