//! Origins: parsing the configured patterns (`allowOrigins`) and matching a request's
//! `Origin` against them.

use std::sync::Arc;

use super::OriginPattern;

/// Parses one Gateway API `allowOrigins` entry: `*`, `scheme://host[:port]` or
/// `scheme://*.suffix[:port]` (also `scheme://*`, any host). The scheme must be `http` or
/// `https`; scheme and host are lowercased and a port equal to the scheme's default is
/// dropped, so `https://Foo.com:443` and `https://foo.com` are the same pattern. The error
/// says why the value is not an origin.
pub fn parse_origin(origin: &str) -> Result<OriginPattern, String> {
    if origin == "*" {
        return Ok(OriginPattern::Any);
    }
    let (scheme, host, port) = split_origin(origin).ok_or_else(|| {
        format!("{origin:?} is not an origin of the form scheme://host[:port] or *")
    })?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "http" && scheme != "https" {
        return Err(format!("scheme {scheme:?} must be http or https"));
    }
    let port = match port {
        None => None,
        Some(text) => Some(
            parse_port(text)
                .ok_or_else(|| format!("port {text:?} must be a number from 1 to 65535"))?,
        ),
    }
    .filter(|port| Some(*port) != default_port(&scheme));
    let host = host.to_ascii_lowercase();
    if host == "*" {
        return Ok(OriginPattern::Wildcard {
            scheme: scheme.into(),
            suffix: "".into(),
            port,
        });
    }
    if let Some(suffix) = host.strip_prefix('*') {
        if !suffix.starts_with('.') {
            return Err(format!(
                "host {host:?}: a wildcard must be a whole label (*.example.com)"
            ));
        }
        check_host(&suffix[1..])?;
        return Ok(OriginPattern::Wildcard {
            scheme: scheme.into(),
            suffix: suffix.into(),
            port,
        });
    }
    check_host(&host)?;
    let exact = match port {
        Some(port) => format!("{scheme}://{host}:{port}"),
        None => format!("{scheme}://{host}"),
    };
    Ok(OriginPattern::Exact(Arc::from(exact)))
}

impl OriginPattern {
    /// Whether the request `Origin` header value `origin` matches this pattern (scheme and
    /// host case-insensitively, ports after defaulting them from the scheme).
    pub fn matches(&self, origin: &str) -> bool {
        match self {
            Self::Any => true,
            Self::Exact(exact) => {
                let (Some(want), Some(got)) = (Parsed::new(exact), Parsed::new(origin)) else {
                    return false;
                };
                want.scheme.eq_ignore_ascii_case(got.scheme)
                    && want.host.eq_ignore_ascii_case(got.host)
                    && want.port == got.port
            }
            Self::Wildcard {
                scheme,
                suffix,
                port,
            } => {
                let Some(got) = Parsed::new(origin) else {
                    return false;
                };
                let port = port.or_else(|| default_port(scheme));
                got.scheme.eq_ignore_ascii_case(scheme)
                    && got.port == port
                    && host_has_suffix(got.host, suffix)
            }
        }
    }
}

/// An origin split into scheme, host and effective port.
struct Parsed<'a> {
    scheme: &'a str,
    host: &'a str,
    port: Option<u16>,
}

impl<'a> Parsed<'a> {
    fn new(origin: &'a str) -> Option<Self> {
        let (scheme, host, port) = split_origin(origin)?;
        let port = match port {
            Some(text) => Some(parse_port(text)?),
            None => default_port(&scheme.to_ascii_lowercase()),
        };
        Some(Self { scheme, host, port })
    }
}

/// `scheme://host[:port]` into its parts; `None` when the shape is wrong (no scheme, empty
/// host, a path, query, fragment or user info).
fn split_origin(origin: &str) -> Option<(&str, &str, Option<&str>)> {
    let (scheme, authority) = origin.split_once("://")?;
    if scheme.is_empty()
        || !scheme
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'-' | b'.'))
        || authority.is_empty()
        || authority.contains(['/', '?', '#', '@'])
    {
        return None;
    }
    let (host, port) = if authority.starts_with('[') {
        let (v6, rest) = authority.split_once(']')?;
        let host = &authority[..v6.len() + 1];
        match rest {
            "" => (host, None),
            _ => (host, Some(rest.strip_prefix(':')?)),
        }
    } else {
        match authority.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    (!host.is_empty()).then_some((scheme, host, port))
}

fn parse_port(text: &str) -> Option<u16> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok().filter(|port| *port != 0)
}

fn default_port(scheme: &str) -> Option<u16> {
    match scheme {
        "http" => Some(80),
        "https" => Some(443),
        _ => None,
    }
}

/// `host` ends with `suffix` (which starts with a dot) after at least one more label; an
/// empty suffix matches every host.
fn host_has_suffix(host: &str, suffix: &str) -> bool {
    if suffix.is_empty() {
        return true;
    }
    host.len() > suffix.len()
        && host
            .get(host.len() - suffix.len()..)
            .is_some_and(|tail| tail.eq_ignore_ascii_case(suffix))
}

/// A DNS name or a bracketed IPv6 address.
fn check_host(host: &str) -> Result<(), String> {
    if host.starts_with('[') && host.ends_with(']') {
        let inner = &host[1..host.len() - 1];
        if inner.parse::<std::net::Ipv6Addr>().is_ok() {
            return Ok(());
        }
        return Err(format!("host {host:?} is not an IPv6 address"));
    }
    if host.contains('*') {
        return Err(format!(
            "host {host:?}: `*` may only stand alone or as the leftmost label"
        ));
    }
    let valid = !host.is_empty()
        && host.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    if valid {
        Ok(())
    } else {
        Err(format!("host {host:?} is not a valid host name"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exact(s: &str) -> OriginPattern {
        OriginPattern::Exact(s.into())
    }

    #[test]
    fn patterns_parse() {
        assert_eq!(parse_origin("*"), Ok(OriginPattern::Any));
        assert_eq!(
            parse_origin("https://www.foo.com"),
            Ok(exact("https://www.foo.com"))
        );
        assert_eq!(
            parse_origin("HTTPS://WWW.Foo.com:443"),
            Ok(exact("https://www.foo.com"))
        );
        assert_eq!(
            parse_origin("http://foo.com:8080"),
            Ok(exact("http://foo.com:8080"))
        );
        assert_eq!(
            parse_origin("http://[::1]:8080"),
            Ok(exact("http://[::1]:8080"))
        );
        assert_eq!(
            parse_origin("https://*.bar.com"),
            Ok(OriginPattern::Wildcard {
                scheme: "https".into(),
                suffix: ".bar.com".into(),
                port: None
            })
        );
        assert_eq!(
            parse_origin("http://*.bar.com:8080"),
            Ok(OriginPattern::Wildcard {
                scheme: "http".into(),
                suffix: ".bar.com".into(),
                port: Some(8080)
            })
        );
        assert_eq!(
            parse_origin("https://*"),
            Ok(OriginPattern::Wildcard {
                scheme: "https".into(),
                suffix: "".into(),
                port: None
            })
        );
    }

    #[test]
    fn bad_patterns_say_why() {
        let cases = [
            ("foo.com", "not an origin"),
            ("ftp://foo.com", "must be http or https"),
            ("https://foo.com/path", "not an origin"),
            ("https://foo.com:0", "port"),
            ("https://foo.com:99999", "port"),
            ("https://foo.*.com", "leftmost label"),
            ("https://*foo.com", "whole label"),
            ("https://foo_bar.com", "not a valid host name"),
            ("https://", "not an origin"),
            ("", "not an origin"),
        ];
        for (input, why) in cases {
            let err = parse_origin(input).unwrap_err();
            assert!(err.contains(why), "{input:?}: {err}");
        }
    }

    #[test]
    fn origins_match_patterns() {
        let foo = parse_origin("https://www.foo.com").unwrap();
        assert!(foo.matches("https://www.foo.com"));
        assert!(foo.matches("https://WWW.FOO.COM"));
        assert!(foo.matches("https://www.foo.com:443"));
        assert!(!foo.matches("http://www.foo.com"));
        assert!(!foo.matches("https://www.foo.com:8443"));
        assert!(!foo.matches("https://foobar.com"));
        assert!(!foo.matches("null"));

        let bar = parse_origin("https://*.bar.com").unwrap();
        assert!(bar.matches("https://www.bar.com"));
        assert!(bar.matches("https://xpto.www.bar.com"));
        assert!(!bar.matches("https://bar.com"));
        assert!(!bar.matches("https://foobar.com"));
        assert!(!bar.matches("https://www.bar.com:8443"));
        assert!(!bar.matches("http://www.bar.com"));

        let any_host = parse_origin("http://*:8080").unwrap();
        assert!(any_host.matches("http://anything.example:8080"));
        assert!(!any_host.matches("http://anything.example"));

        assert!(OriginPattern::Any.matches("https://foobar.com:12345"));
        assert!(OriginPattern::Any.matches("null"));
    }
}
