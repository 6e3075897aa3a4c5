//! Configuration sources: where Kubernetes objects come from.
