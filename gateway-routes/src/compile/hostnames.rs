//! Hostname patterns: parsing, matching and the listener/route intersection of the
//! Gateway API (`Listener.hostname` × `HTTPRoute.spec.hostnames`).

use std::{borrow::Cow, sync::Arc};

use crate::plan::HostMatch;

/// Parses a Gateway API hostname (`foo.example.com` or `*.example.com`).
pub(crate) fn parse_hostname(text: &str) -> Result<HostMatch, String> {
    let lower = if text.bytes().any(|b| b.is_ascii_uppercase()) {
        Cow::Owned(text.to_ascii_lowercase())
    } else {
        Cow::Borrowed(text)
    };
    let (wildcard, rest) = match lower.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, &*lower),
    };
    let valid_label = |label: &str| {
        !label.is_empty()
            && label.len() <= 63
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    };
    if rest.is_empty() || rest.len() > 253 || !rest.split('.').all(valid_label) {
        return Err(format!("{text:?} is not a valid hostname"));
    }
    // Labels admit no `:`, so the only address still possible here is dotted IPv4.
    if rest.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return Err(format!("{text:?} is an IP address, not a hostname"));
    }
    Ok(if wildcard {
        HostMatch::Wildcard(Arc::from(format!(".{rest}")))
    } else {
        HostMatch::Exact(Arc::from(rest))
    })
}

impl HostMatch {
    /// Whether `host` (lowercase, without port) is served by this pattern.
    pub fn matches(&self, host: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(name) => name.as_ref() == host,
            Self::Wildcard(suffix) => host.len() > suffix.len() && host.ends_with(suffix.as_ref()),
        }
    }

    /// The hostnames both patterns serve, as one pattern, or `None` when they are disjoint.
    /// The result is the more specific of the two.
    pub fn intersect(&self, other: &Self) -> Option<Self> {
        match (self, other) {
            (Self::Any, x) | (x, Self::Any) => Some(x.clone()),
            (Self::Exact(a), Self::Exact(b)) => (a == b).then(|| self.clone()),
            (Self::Exact(name), wild @ Self::Wildcard(_))
            | (wild @ Self::Wildcard(_), Self::Exact(name)) => {
                wild.matches(name).then(|| Self::Exact(name.clone()))
            }
            (Self::Wildcard(a), Self::Wildcard(b)) => {
                if a.ends_with(b.as_ref()) {
                    Some(self.clone())
                } else if b.ends_with(a.as_ref()) {
                    Some(other.clone())
                } else {
                    None
                }
            }
        }
    }

    /// Ordering key: more specific patterns sort first (exact, then longer wildcard
    /// suffixes, then any).
    pub(crate) fn specificity(&self) -> (u8, usize) {
        match self {
            Self::Exact(name) => (0, usize::MAX - name.len()),
            Self::Wildcard(suffix) => (1, usize::MAX - suffix.len()),
            Self::Any => (2, 0),
        }
    }
}

/// Appends the route's effective hostnames on a listener to `out`: each route hostname
/// intersected with the listener's, deduplicated. Appending nothing means the route
/// cannot attach.
pub(crate) fn effective_hostnames(
    listener: &HostMatch,
    route: &[HostMatch],
    out: &mut Vec<HostMatch>,
) {
    if route.is_empty() {
        out.push(listener.clone());
        return;
    }
    let start = out.len();
    for hostname in route {
        if let Some(both) = listener.intersect(hostname)
            && !out[start..].contains(&both)
        {
            out.push(both);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn h(s: &str) -> HostMatch {
        parse_hostname(s).unwrap()
    }

    #[test]
    fn wildcards_need_at_least_one_more_label() {
        let wild = h("*.example.com");
        assert!(wild.matches("foo.example.com"));
        assert!(wild.matches("a.b.example.com"));
        assert!(!wild.matches("example.com"));
        assert!(!wild.matches("fooexample.com"));
    }

    #[test]
    fn intersection_keeps_the_more_specific_pattern() {
        assert_eq!(
            h("*.example.com").intersect(&h("foo.example.com")),
            Some(h("foo.example.com"))
        );
        assert_eq!(
            h("*.example.com").intersect(&h("*.foo.example.com")),
            Some(h("*.foo.example.com"))
        );
        assert_eq!(
            h("*.foo.example.com").intersect(&h("*.example.com")),
            Some(h("*.foo.example.com"))
        );
        assert_eq!(h("foo.example.com").intersect(&h("bar.example.com")), None);
        assert_eq!(h("*.example.com").intersect(&h("*.example.net")), None);
        assert_eq!(HostMatch::Any.intersect(&h("a.b")), Some(h("a.b")));
    }

    #[test]
    fn effective_hostnames_drop_disjoint_route_hostnames() {
        let listener = h("*.example.com");
        let route = [
            h("foo.example.com"),
            h("foo.example.net"),
            h("*.example.com"),
        ];
        // Appended after what the buffer holds, deduplicated among themselves only.
        let mut out = vec![h("foo.example.com")];
        effective_hostnames(&listener, &route, &mut out);
        assert_eq!(
            out,
            vec![
                h("foo.example.com"),
                h("foo.example.com"),
                h("*.example.com")
            ]
        );
        let mut out = Vec::new();
        effective_hostnames(&HostMatch::Any, &[], &mut out);
        assert_eq!(out, vec![HostMatch::Any]);
        let mut out = Vec::new();
        effective_hostnames(&h("*.example.org"), &route, &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn rejects_invalid_hostnames() {
        for bad in [
            "",
            "-a.com",
            "a..com",
            "1.2.3.4",
            "::1",
            "2001:db8::1",
            "*.10.0.0.1",
            "*",
            "foo.*.com",
            "a_b.com",
        ] {
            assert!(parse_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(
            h("Foo.EXAMPLE.com"),
            HostMatch::Exact("foo.example.com".into())
        );
    }
}
