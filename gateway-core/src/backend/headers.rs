//! Hop-by-hop headers (RFC 9110 §7.6.1), removed before a message is forwarded.

use http::{
    HeaderMap, HeaderName, HeaderValue,
    header::{CONNECTION, HOST, TE, TRAILER, TRANSFER_ENCODING, UPGRADE},
};

static KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
static PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

/// Headers a `Connection` header may not remove: naming them there is a known trick to
/// strip what the gateway itself adds or relies on.
static PROTECTED: [HeaderName; 5] = [
    HOST,
    http::header::CONTENT_LENGTH,
    HeaderName::from_static("x-forwarded-for"),
    HeaderName::from_static("x-forwarded-proto"),
    HeaderName::from_static("x-forwarded-host"),
];

/// What survives stripping.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Keep {
    /// Keep `upgrade` and send `connection: upgrade` (an upgrade request or its 101 answer).
    pub(super) upgrade: bool,
    /// Keep `te: trailers` (HTTP/2 upstreams, which allow exactly that value).
    pub(super) te_trailers: bool,
}

/// Whether `name` is a hop-by-hop header, or `Connection`, which may nominate others.
fn is_hop_by_hop(name: &HeaderName) -> bool {
    name == CONNECTION
        || name == TE
        || name == TRAILER
        || name == TRANSFER_ENCODING
        || name == UPGRADE
        || name == KEEP_ALIVE
        || name == PROXY_CONNECTION
}

/// Removes hop-by-hop headers from `headers`, including every header named in
/// `Connection`, except what `keep` asks to keep.
///
/// Most messages carry none: one pass over the names (cheap comparisons, no hashing)
/// settles that before any lookup or removal.
pub(super) fn strip_hop_by_hop(headers: &mut HeaderMap, keep: Keep) {
    if !headers.keys().any(is_hop_by_hop) {
        return;
    }
    if headers.contains_key(CONNECTION) {
        let nominated: Vec<HeaderName> = headers
            .get_all(CONNECTION)
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .filter_map(|token| HeaderName::from_bytes(token.trim().as_bytes()).ok())
            .collect();
        for name in nominated {
            if PROTECTED.contains(&name) || (keep.upgrade && name == UPGRADE) {
                continue;
            }
            headers.remove(&name);
        }
        headers.remove(CONNECTION);
    }
    headers.remove(&KEEP_ALIVE);
    headers.remove(&PROXY_CONNECTION);
    headers.remove(TRAILER);
    headers.remove(TRANSFER_ENCODING);
    if headers.contains_key(TE) {
        let trailers = keep.te_trailers
            && headers.get_all(TE).iter().any(|value| {
                value.to_str().is_ok_and(|v| {
                    v.split(',')
                        .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
                })
            });
        headers.remove(TE);
        if trailers {
            headers.insert(TE, HeaderValue::from_static("trailers"));
        }
    }
    if keep.upgrade && headers.contains_key(UPGRADE) {
        headers.insert(CONNECTION, HeaderValue::from_static("upgrade"));
    } else {
        headers.remove(UPGRADE);
    }
}

/// Whether a request asks to switch protocols (`Connection: upgrade` plus `Upgrade`).
pub(super) fn is_upgrade_request(headers: &HeaderMap) -> bool {
    headers.contains_key(UPGRADE)
        && headers.get_all(CONNECTION).iter().any(|value| {
            value.to_str().is_ok_and(|v| {
                v.split(',')
                    .any(|token| token.trim().eq_ignore_ascii_case("upgrade"))
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in pairs {
            headers.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        headers
    }

    #[test]
    fn each_hop_by_hop_header_alone_is_stripped_and_others_are_left_alone() {
        for name in [
            "connection",
            "keep-alive",
            "proxy-connection",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
        ] {
            let mut headers = map(&[(name, "x"), ("x-end-to-end", "1")]);
            strip_hop_by_hop(&mut headers, Keep::default());
            assert!(!headers.contains_key(name), "{name} survived");
            assert_eq!(headers["x-end-to-end"], "1");
        }
        let mut untouched = map(&[("accept", "*/*"), ("x-end-to-end", "1")]);
        strip_hop_by_hop(&mut untouched, Keep::default());
        assert_eq!(untouched.len(), 2);
    }

    #[test]
    fn strips_standard_and_nominated_headers() {
        let mut headers = map(&[
            ("connection", "keep-alive, x-private, X-Forwarded-For"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("te", "trailers, deflate"),
            ("trailer", "x-checksum"),
            ("transfer-encoding", "chunked"),
            ("upgrade", "websocket"),
            ("x-private", "secret"),
            ("x-forwarded-for", "10.0.0.1"),
            ("host", "example.com"),
            ("x-kept", "yes"),
        ]);
        strip_hop_by_hop(&mut headers, Keep::default());
        let mut names: Vec<_> = headers.keys().map(|n| n.as_str()).collect();
        names.sort_unstable();
        assert_eq!(names, ["host", "x-forwarded-for", "x-kept"]);
    }

    #[test]
    fn keeps_te_trailers_for_h2_and_upgrade_for_upgrades() {
        let mut headers = map(&[("te", "trailers, deflate")]);
        strip_hop_by_hop(
            &mut headers,
            Keep {
                te_trailers: true,
                ..Keep::default()
            },
        );
        assert_eq!(headers["te"], "trailers");

        let mut headers = map(&[("te", "deflate")]);
        strip_hop_by_hop(
            &mut headers,
            Keep {
                te_trailers: true,
                ..Keep::default()
            },
        );
        assert!(!headers.contains_key("te"));

        let mut headers = map(&[
            ("connection", "Upgrade, keep-alive"),
            ("upgrade", "websocket"),
            ("keep-alive", "1"),
        ]);
        assert!(is_upgrade_request(&headers));
        strip_hop_by_hop(
            &mut headers,
            Keep {
                upgrade: true,
                ..Keep::default()
            },
        );
        assert_eq!(headers["connection"], "upgrade");
        assert_eq!(headers["upgrade"], "websocket");
        assert!(!headers.contains_key("keep-alive"));
    }

    #[test]
    fn upgrade_needs_both_headers() {
        assert!(!is_upgrade_request(&map(&[("upgrade", "websocket")])));
        assert!(!is_upgrade_request(&map(&[("connection", "upgrade")])));
        assert!(is_upgrade_request(&map(&[
            ("connection", "keep-alive"),
            ("connection", "upgrade"),
            ("upgrade", "websocket"),
        ])));
    }
}
