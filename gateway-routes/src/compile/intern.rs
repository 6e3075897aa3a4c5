//! One shared copy of each value a compile repeats across thousands of routes.
//!
//! A large configuration repeats the same few strings over and over: every rule of every
//! route names the group and kind `gateway.networking.k8s.io/HTTPRoute`, most live in a
//! handful of namespaces, rules without a name are sections `"0"`, `"1"`, …, and many
//! routes match the same paths and header names. Allocating each one afresh costs an
//! allocation (and later a free) per use; sharing one `Arc` costs a hash lookup, keeps the
//! plan smaller, and makes cloning it later (the build step copies matchers into the
//! router) a reference count increment instead of another copy.

use foldhash::{HashMap, HashSet};
use http::HeaderName;
use std::sync::Arc;

/// Shared copies of strings and header names, for one compile.
#[derive(Debug, Default)]
pub(crate) struct Interner {
    strings: HashSet<Arc<str>>,
    /// Rule indexes as section names: `indexes[i]` is `i` in decimal.
    indexes: Vec<Arc<str>>,
    /// Header names as written in the manifest, parsed once.
    header_names: HashMap<Box<str>, HeaderName>,
}

impl Interner {
    /// An interner with room for `strings` distinct strings before it grows: a compile
    /// expects about one (a path) per route, and growing a set of thousands rehashes
    /// every string again at each doubling.
    pub(crate) fn with_capacity(strings: usize) -> Self {
        Self {
            strings: HashSet::with_capacity_and_hasher(strings, Default::default()),
            ..Self::default()
        }
    }

    /// The shared copy of `text`.
    pub(crate) fn str(&mut self, text: &str) -> Arc<str> {
        if let Some(shared) = self.strings.get(text) {
            return shared.clone();
        }
        let shared: Arc<str> = Arc::from(text);
        self.strings.insert(shared.clone());
        shared
    }

    /// `index` in decimal, shared.
    pub(crate) fn index(&mut self, index: usize) -> Arc<str> {
        while self.indexes.len() <= index {
            let next = self.indexes.len().to_string();
            self.indexes.push(Arc::from(next));
        }
        self.indexes[index].clone()
    }

    /// `name` parsed as a header name (shared with every other use of the same text), or
    /// `None` when it is not one.
    pub(crate) fn header_name(&mut self, name: &str) -> Option<HeaderName> {
        if let Some(parsed) = self.header_names.get(name) {
            return Some(parsed.clone());
        }
        let parsed = HeaderName::from_bytes(name.as_bytes()).ok()?;
        self.header_names.insert(name.into(), parsed.clone());
        Some(parsed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_strings_share_one_allocation() {
        let mut intern = Interner::default();
        let a = intern.str("default");
        let b = intern.str("default");
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(&*intern.str("other"), "other");
        assert!(!Arc::ptr_eq(&a, &intern.str("other")));
    }

    #[test]
    fn indexes_are_decimal_sections() {
        let mut intern = Interner::default();
        assert_eq!(&*intern.index(12), "12");
        assert_eq!(&*intern.index(0), "0");
        assert!(Arc::ptr_eq(&intern.index(3), &intern.index(3)));
    }

    #[test]
    fn header_names_parse_once_and_reject_invalid_ones() {
        let mut intern = Interner::default();
        let first = intern.header_name("X-Tenant").unwrap();
        assert_eq!(first, "x-tenant");
        assert_eq!(intern.header_name("X-Tenant").unwrap(), first);
        assert!(intern.header_name("not a header").is_none());
    }
}
