//! Hostname patterns: parsing, matching and the listener/route intersection of the
//! Gateway API (`Listener.hostname` × `HTTPRoute.spec.hostnames`).

use std::{borrow::Cow, sync::Arc};

use crate::plan::HostMatch;

/// Parses a Gateway API hostname (`foo.example.com` or `*.example.com`).
pub(crate) fn parse_hostname(text: &str) -> Result<HostMatch, String> {
    let (wildcard, name) = match text.strip_prefix("*.") {
        Some(rest) => (true, rest),
        None => (false, text),
    };
    let uppercase = match scan_name(name.as_bytes()) {
        Scanned::Name { uppercase } => uppercase,
        Scanned::Invalid => return Err(format!("{text:?} is not a valid hostname")),
        Scanned::Address => return Err(format!("{text:?} is an IP address, not a hostname")),
    };
    let name = if uppercase {
        Cow::Owned(name.to_ascii_lowercase())
    } else {
        Cow::Borrowed(name)
    };
    Ok(if wildcard {
        HostMatch::Wildcard(Arc::from(format!(".{name}")))
    } else {
        HostMatch::Exact(Arc::from(&*name))
    })
}

/// What [`scan_name`] found.
enum Scanned {
    /// A DNS name; `uppercase` when it has uppercase letters (names compare lowercase).
    Name { uppercase: bool },
    /// Not a DNS name.
    Invalid,
    /// Digits and dots only: a dotted IPv4 address (labels admit no `:`, so no other
    /// address gets this far).
    Address,
}

/// Byte classes of [`scan_name`]: a byte of a DNS name is exactly one of these, any other
/// byte is 0.
const LOWER: u8 = 1;
const DIGIT: u8 = 2;
const HYPHEN: u8 = 4;
const DOT: u8 = 8;
const UPPER: u8 = 16;

/// The class of every byte.
static BYTE_CLASS: [u8; 256] = {
    let mut table = [0; 256];
    let mut b = 0;
    while b < 256 {
        table[b] = match b as u8 {
            b'a'..=b'z' => LOWER,
            b'0'..=b'9' => DIGIT,
            b'-' => HYPHEN,
            b'.' => DOT,
            b'A'..=b'Z' => UPPER,
            _ => 0,
        };
        b += 1;
    }
    table
};

/// Checks a name: at most 253 bytes of dot-separated labels, each 1 to 63 letters, digits
/// and hyphens, neither starting nor ending with a hyphen (RFC 1123). One pass classifies
/// the bytes (a table lookup each), a second checks the labels' lengths and ends.
fn scan_name(name: &[u8]) -> Scanned {
    if name.is_empty() || name.len() > 253 {
        return Scanned::Invalid;
    }
    let mut seen = 0;
    for &b in name {
        let class = BYTE_CLASS[usize::from(b)];
        if class == 0 {
            return Scanned::Invalid;
        }
        seen |= class;
    }
    for label in name.split(|&b| b == b'.') {
        match label {
            [] | [b'-', ..] | [.., b'-'] => return Scanned::Invalid,
            _ if label.len() > 63 => return Scanned::Invalid,
            _ => {}
        }
    }
    if seen & (LOWER | UPPER | HYPHEN) == 0 {
        Scanned::Address
    } else {
        Scanned::Name {
            uppercase: seen & UPPER != 0,
        }
    }
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
            "a-.com",
            "a.com.",
            "*.a.-b",
            "1.2.3.4.5",
        ] {
            assert!(parse_hostname(bad).is_err(), "{bad}");
        }
        assert_eq!(
            h("Foo.EXAMPLE.com"),
            HostMatch::Exact("foo.example.com".into())
        );
        assert_eq!(
            h("*.Sub-1.Example.com"),
            HostMatch::Wildcard(".sub-1.example.com".into())
        );
        let long_label = "a".repeat(63);
        assert!(parse_hostname(&format!("{long_label}.com")).is_ok());
        assert!(parse_hostname(&format!("{long_label}a.com")).is_err());
        let long_name = vec!["a".repeat(62); 4].join(".") + ".b";
        assert_eq!(long_name.len(), 253);
        assert!(parse_hostname(&long_name).is_ok());
        assert!(parse_hostname(&(long_name + "c")).is_err());
        assert!(
            parse_hostname("10.0.0.1")
                .unwrap_err()
                .contains("is an IP address")
        );
        assert!(parse_hostname("1.2.3.4a").is_ok());
    }
}
