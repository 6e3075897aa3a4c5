//! (being written)
mod config;
pub use config::*;
