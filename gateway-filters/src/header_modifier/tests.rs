//! Table tests from the Gateway API conformance cases `HTTPRouteRequestHeaderModifier` and
//! `HTTPRouteResponseHeaderModifier`.

use http::{HeaderMap, HeaderName, HeaderValue, Request, Response};
use std::convert::Infallible;
use tower::{ServiceBuilder, ServiceExt, service_fn};

use super::*;

type Pairs = &'static [(&'static str, &'static str)];

struct Case {
    name: &'static str,
    set: Pairs,
    add: Pairs,
    remove: &'static [&'static str],
    /// Request headers (request test) or headers the backend answers with (response test).
    input: Pairs,
    /// Expected headers, values joined with `,` as the conformance echo reports them.
    expected: Pairs,
    absent: &'static [&'static str],
}

fn pairs(list: Pairs) -> Vec<HeaderPair> {
    list.iter()
        .map(|(name, value)| HeaderPair {
            name: HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value: HeaderValue::from_static(value),
        })
        .collect()
}

fn config(case: &Case) -> HeaderModifierConfig {
    HeaderModifierConfig {
        set: pairs(case.set),
        add: pairs(case.add),
        remove: case
            .remove
            .iter()
            .map(|name| HeaderName::from_bytes(name.as_bytes()).unwrap())
            .collect(),
    }
}

fn headers(list: Pairs) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in list {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_static(value),
        );
    }
    map
}

fn check(case: &Case, got: &HeaderMap) {
    for (name, want) in case.expected {
        let joined = got
            .get_all(*name)
            .iter()
            .map(|v| v.to_str().unwrap())
            .collect::<Vec<_>>()
            .join(",");
        assert_eq!(joined, *want, "{}: header {name}", case.name);
    }
    for name in case.absent {
        assert!(!got.contains_key(*name), "{}: {name} present", case.name);
    }
}

const SET: Pairs = &[("X-Header-Set", "set-overwrites-values")];
const ADD: Pairs = &[("X-Header-Add", "add-appends-values")];
const MULTI_SET: Pairs = &[
    ("X-Header-Set-1", "header-set-1"),
    ("X-Header-Set-2", "header-set-2"),
];
const MULTI_ADD: Pairs = &[
    ("X-Header-Add-1", "header-add-1"),
    ("X-Header-Add-2", "header-add-2"),
    ("X-Header-Add-3", "header-add-3"),
];
const MULTI_REMOVE: &[&str] = &["X-Header-Remove-1", "X-Header-Remove-2"];
const MULTI_INPUT: Pairs = &[
    ("X-Header-Set-2", "set-val-2"),
    ("X-Header-Add-2", "add-val-2"),
    ("X-Header-Remove-2", "remove-val-2"),
    ("Another-Header", "another-header-val"),
];
const MULTI_EXPECTED: Pairs = &[
    ("X-Header-Set-1", "header-set-1"),
    ("X-Header-Set-2", "header-set-2"),
    ("X-Header-Add-1", "header-add-1"),
    ("X-Header-Add-2", "add-val-2,header-add-2"),
    ("X-Header-Add-3", "header-add-3"),
    ("Another-Header", "another-header-val"),
];

/// The cases both directions share (the upstream tables are the same).
const CASES: &[Case] = &[
    Case {
        name: "0 set adds a missing header",
        set: SET,
        add: &[],
        remove: &[],
        input: &[("Some-Other-Header", "val")],
        expected: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Set", "set-overwrites-values"),
        ],
        absent: &[],
    },
    Case {
        name: "1 set overwrites an existing header",
        set: SET,
        add: &[],
        remove: &[],
        input: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Set", "some-other-value"),
        ],
        expected: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Set", "set-overwrites-values"),
        ],
        absent: &[],
    },
    Case {
        name: "2 add creates a missing header",
        set: &[],
        add: ADD,
        remove: &[],
        input: &[("Some-Other-Header", "val")],
        expected: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Add", "add-appends-values"),
        ],
        absent: &[],
    },
    Case {
        name: "3 add appends to an existing header",
        set: &[],
        add: ADD,
        remove: &[],
        input: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Add", "some-other-value"),
        ],
        expected: &[
            ("Some-Other-Header", "val"),
            ("X-Header-Add", "some-other-value,add-appends-values"),
        ],
        absent: &[],
    },
    Case {
        name: "4 remove",
        set: &[],
        add: &[],
        remove: &["X-Header-Remove"],
        input: &[("X-Header-Remove", "val")],
        expected: &[],
        absent: &["X-Header-Remove"],
    },
    Case {
        name: "5 multiple",
        set: MULTI_SET,
        add: MULTI_ADD,
        remove: MULTI_REMOVE,
        input: MULTI_INPUT,
        expected: MULTI_EXPECTED,
        absent: MULTI_REMOVE,
    },
    Case {
        name: "6 case insensitivity",
        set: &[("X-Header-Set", "header-set")],
        add: &[
            ("X-Header-Add", "header-add"),
            ("x-lowercase-add", "lowercase-add"),
            ("x-Mixedcase-ADD-1", "mixedcase-add-1"),
            ("X-mixeDcase-add-2", "mixedcase-add-2"),
            ("X-UPPERCASE-ADD", "uppercase-add"),
        ],
        remove: &["X-Header-Remove"],
        input: &[
            ("x-header-set", "original-val-set"),
            ("x-header-add", "original-val-add"),
            ("x-header-remove", "original-val-remove"),
            ("Another-Header", "another-header-val"),
        ],
        expected: &[
            ("X-Header-Set", "header-set"),
            ("X-Header-Add", "original-val-add,header-add"),
            ("X-Lowercase-Add", "lowercase-add"),
            ("X-Mixedcase-Add-1", "mixedcase-add-1"),
            ("X-Mixedcase-Add-2", "mixedcase-add-2"),
            ("X-Uppercase-Add", "uppercase-add"),
            ("Another-Header", "another-header-val"),
        ],
        absent: &["x-header-remove", "X-Header-Remove"],
    },
];

#[tokio::test]
async fn request_headers_match_the_conformance_table() {
    for case in CASES {
        let service = ServiceBuilder::new()
            .layer(HeaderModifierLayer::new(config(case)))
            .service(service_fn(|request: Request<()>| async move {
                Ok::<_, Infallible>(Response::new(request.headers().clone()))
            }));
        let mut request = Request::new(());
        *request.headers_mut() = headers(case.input);
        let seen = service.oneshot(request).await.unwrap().into_body();
        check(case, &seen);
    }
}

#[tokio::test]
async fn response_headers_match_the_conformance_table() {
    for case in CASES {
        let input = headers(case.input);
        let service = ServiceBuilder::new()
            .layer(ResponseHeaderModifierLayer::new(config(case)))
            .service(service_fn(move |_request: Request<()>| {
                let input = input.clone();
                async move {
                    let mut response = Response::new(());
                    *response.headers_mut() = input;
                    Ok::<_, Infallible>(response)
                }
            }));
        let response = service.oneshot(Request::new(())).await.unwrap();
        check(case, response.headers());
    }
}

#[tokio::test]
async fn request_and_response_modifiers_compose() {
    // Conformance case 7 of HTTPRouteResponseHeaderModifier: both filters on one rule.
    let request_config = HeaderModifierConfig {
        set: pairs(SET),
        add: pairs(&[
            ("X-Header-Add", "header-val-1"),
            ("X-Header-Add-Append", "header-val-2"),
        ]),
        remove: vec![HeaderName::from_static("x-header-remove")],
    };
    let response_config = HeaderModifierConfig {
        set: pairs(MULTI_SET),
        add: pairs(&MULTI_ADD[..2]),
        remove: MULTI_REMOVE
            .iter()
            .map(|n| HeaderName::from_bytes(n.as_bytes()).unwrap())
            .collect(),
    };
    let service = ServiceBuilder::new()
        .layer(ResponseHeaderModifierLayer::new(response_config))
        .layer(HeaderModifierLayer::new(request_config))
        .service(service_fn(|request: Request<()>| async move {
            let mut response = Response::new(request.headers().clone());
            *response.headers_mut() = headers(&[
                ("X-Header-Set-2", "set-val-2"),
                ("X-Header-Add-2", "add-val-2"),
                ("X-Header-Remove-2", "remove-val-2"),
                ("Another-Header", "another-header-val"),
                ("X-Header-Remove-1", "remove-val-1"),
            ]);
            Ok::<_, Infallible>(response)
        }));
    let mut request = Request::new(());
    *request.headers_mut() = headers(&[
        ("X-Header-Remove", "remove-val"),
        ("X-Header-Add-Append", "append-val-1"),
    ]);
    let response = service.oneshot(request).await.unwrap();
    let request_case = Case {
        name: "7 request side",
        set: &[],
        add: &[],
        remove: &[],
        input: &[],
        expected: &[
            ("X-Header-Add", "header-val-1"),
            ("X-Header-Set", "set-overwrites-values"),
            ("X-Header-Add-Append", "append-val-1,header-val-2"),
        ],
        absent: &["X-Header-Remove"],
    };
    check(&request_case, response.body());
    let response_case = Case {
        name: "7 response side",
        set: &[],
        add: &[],
        remove: &[],
        input: &[],
        expected: &[
            ("X-Header-Set-1", "header-set-1"),
            ("X-Header-Set-2", "header-set-2"),
            ("X-Header-Add-1", "header-add-1"),
            ("X-Header-Add-2", "add-val-2,header-add-2"),
            ("Another-Header", "another-header-val"),
        ],
        absent: MULTI_REMOVE,
    };
    check(&response_case, response.headers());
}

#[test]
fn set_then_add_then_remove() {
    let config = HeaderModifierConfig {
        set: pairs(&[("x-a", "set")]),
        add: pairs(&[("x-a", "added"), ("x-b", "added")]),
        remove: vec![HeaderName::from_static("x-b")],
    };
    let mut map = headers(&[("x-a", "old"), ("x-a", "older"), ("x-b", "old")]);
    config.apply(&mut map);
    let a: Vec<_> = map.get_all("x-a").iter().collect();
    assert_eq!(a, ["set", "added"]);
    assert!(!map.contains_key("x-b"));
    assert!(HeaderModifierConfig::default().is_empty());
}
