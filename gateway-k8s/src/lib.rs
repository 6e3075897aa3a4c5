//! Configuration sources: where Kubernetes objects come from.
//!
//! Today: a directory of YAML manifests, loaded with [`load_dir`] and watched with
//! [`watch_dir`], and served into a runtime with [`serve_dir`] (see [`source`]).

pub mod source;

pub use source::{
    DEFAULT_DEBOUNCE, DirChanges, DirContents, DirWatcher, LoadError, Loaded, ParseError,
    WatchError, load_dir, read_dir, reload, serve_dir, watch_dir,
};
