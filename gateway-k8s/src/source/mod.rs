//! Sources of Kubernetes objects for the compiler.
//!
//! The directory source reads a directory of multi-document YAML manifests — exactly what
//! `kubectl apply -R -f` would take — into a [`Snapshot`](gateway_routes::snapshot::Snapshot)
//! with [`load_dir`], and reports changes to it with [`watch_dir`]. A load either succeeds
//! whole or fails whole, so the caller can keep serving its last good snapshot.

mod decode_all;
mod diagnostic;
mod dir;
mod error;
mod object;
mod parse;
mod serve;
mod split;
mod watch;

pub use dir::{DirContents, Loaded, load_dir, read_dir};
pub use error::{LoadError, ParseError};
pub use serve::{DEFAULT_DEBOUNCE, reload, serve_dir};
pub use watch::{DirChanges, DirWatcher, WatchError, watch_dir};
