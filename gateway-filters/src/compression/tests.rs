use bytes::Bytes;
use gateway_core::{Request, Response, body};
use http::{
    HeaderValue, Method, StatusCode,
    header::{ACCEPT_ENCODING, CONTENT_ENCODING, CONTENT_LENGTH, ETAG, VARY},
};
use http_body_util::{BodyExt, StreamBody};
use std::convert::Infallible;
use tower::{Layer, ServiceExt, service_fn};

use super::*;

/// `hello, compressed world` compressed by `gzip` (Python's `gzip.compress`, mtime 0).
const GZIP_HELLO: [u8; 43] = [
    31, 139, 8, 0, 0, 0, 0, 0, 2, 3, 203, 72, 205, 201, 201, 215, 81, 72, 206, 207, 45, 40, 74, 45,
    46, 78, 77, 81, 40, 207, 47, 202, 73, 1, 0, 8, 158, 52, 53, 23, 0, 0, 0,
];
/// The same text compressed by the `zstd` command-line tool.
const ZSTD_HELLO: [u8; 36] = [
    40, 181, 47, 253, 4, 88, 185, 0, 0, 104, 101, 108, 108, 111, 44, 32, 99, 111, 109, 112, 114,
    101, 115, 115, 101, 100, 32, 119, 111, 114, 108, 100, 0, 55, 17, 22,
];
const HELLO: &str = "hello, compressed world";

/// A page long enough to be compressed.
fn page() -> String {
    "<p>a page that compresses well</p>\n".repeat(20)
}

fn response_config(codecs: Codecs) -> ResponseCompressionConfig {
    ResponseCompressionConfig {
        codecs,
        ..ResponseCompressionConfig::default()
    }
}

/// What the backend answers: a body and headers.
#[derive(Clone)]
struct Answer {
    body: String,
    headers: Vec<(&'static str, &'static str)>,
}

impl Answer {
    fn html(body: String) -> Self {
        Self {
            body,
            headers: vec![("content-type", "text/html; charset=utf-8")],
        }
    }

    fn with(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.push((name, value));
        self
    }
}

/// Sends a request with `accept` through a compressor in front of a backend answering
/// `answer`.
async fn compress(
    config: ResponseCompressionConfig,
    method: Method,
    accept: Option<&'static str>,
    answer: Answer,
) -> Response {
    let service = ResponseCompressionLayer::new(config).layer(service_fn(move |_: Request| {
        let answer = answer.clone();
        async move {
            let mut response = http::Response::new(body::full(answer.body));
            for (name, value) in answer.headers {
                response
                    .headers_mut()
                    .append(name, HeaderValue::from_static(value));
            }
            Ok::<_, Infallible>(response)
        }
    }));
    let mut request = http::Request::builder().method(method);
    if let Some(accept) = accept {
        request = request.header(ACCEPT_ENCODING, accept);
    }
    service
        .oneshot(request.body(body::empty()).unwrap())
        .await
        .unwrap()
}

async fn bytes(response: Response) -> Bytes {
    response.into_body().collect().await.unwrap().to_bytes()
}

/// Decodes a compressed response with tower-http's response decompressor.
async fn decode(response: Response) -> Bytes {
    let mut response = Some(response);
    let decoder = tower_http::decompression::DecompressionLayer::new().layer(service_fn(
        move |_: http::Request<()>| {
            let response = response.take().unwrap();
            async move { Ok::<_, Infallible>(response) }
        },
    ));
    let decoded = decoder.oneshot(http::Request::new(())).await.unwrap();
    decoded.into_body().collect().await.unwrap().to_bytes()
}

#[tokio::test]
async fn gzip_responses_are_real_gzip() {
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        Some("gzip, deflate"),
        Answer::html(page()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(response.headers()[VARY], "accept-encoding");
    assert!(!response.headers().contains_key(CONTENT_LENGTH));
    let compressed = bytes(response).await;
    assert_eq!(&compressed[..2], &[0x1f, 0x8b], "gzip magic");
    assert!(
        compressed.len() < page().len() / 4,
        "{} bytes",
        compressed.len()
    );

    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        Some("gzip"),
        Answer::html(page()),
    )
    .await;
    assert_eq!(decode(response).await, page());
}

#[tokio::test]
async fn each_codec_round_trips_and_the_best_accepted_one_wins() {
    for (accept, expected) in [
        ("gzip, br, zstd", "zstd"),
        ("gzip, br", "br"),
        ("gzip;q=1, br;q=0.5", "gzip"),
        ("*", "zstd"),
    ] {
        let response = compress(
            response_config(Codecs::ALL),
            Method::GET,
            Some(accept),
            Answer::html(page()),
        )
        .await;
        assert_eq!(response.headers()[CONTENT_ENCODING], expected, "{accept}");
        assert_eq!(decode(response).await, page(), "{accept}");
    }
    // Only offered codecs are used.
    let only_br = Codecs {
        brotli: true,
        ..Codecs::NONE
    };
    let response = compress(
        response_config(only_br),
        Method::GET,
        Some("zstd, gzip, br;q=0.1"),
        Answer::html(page()),
    )
    .await;
    assert_eq!(response.headers()[CONTENT_ENCODING], "br");
}

#[tokio::test]
async fn clients_without_a_codec_get_the_body_as_is_with_vary() {
    for accept in [None, Some("identity"), Some("br"), Some("gzip;q=0")] {
        let response = compress(
            ResponseCompressionConfig::default(),
            Method::GET,
            accept,
            Answer::html(page()),
        )
        .await;
        assert!(
            !response.headers().contains_key(CONTENT_ENCODING),
            "{accept:?}"
        );
        assert_eq!(response.headers()[VARY], "accept-encoding", "{accept:?}");
        assert_eq!(bytes(response).await, page());
    }
}

#[tokio::test]
async fn a_client_refusing_identity_is_not_answered_406() {
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        Some("br, identity;q=0"),
        Answer::html(page()),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(!response.headers().contains_key(CONTENT_ENCODING));
    assert_eq!(bytes(response).await, page());
}

#[tokio::test]
async fn responses_that_do_not_qualify_are_left_alone() {
    let cases = [
        ("short", Answer::html("tiny".into())),
        (
            "media type",
            Answer {
                body: page(),
                headers: vec![("content-type", "image/png")],
            },
        ),
        (
            "already encoded",
            Answer::html(page()).with("content-encoding", "br"),
        ),
        (
            "no-transform",
            Answer::html(page()).with("cache-control", "public, no-transform"),
        ),
        (
            "range",
            Answer::html(page()).with("content-range", "bytes 0-699/700"),
        ),
        (
            "declared short",
            Answer {
                body: page(),
                headers: vec![("content-type", "text/plain"), ("content-length", "20")],
            },
        ),
    ];
    for (case, answer) in cases {
        let response = compress(
            ResponseCompressionConfig::default(),
            Method::GET,
            Some("gzip"),
            answer.clone(),
        )
        .await;
        let encoding = response.headers().get(CONTENT_ENCODING).cloned();
        assert_ne!(
            encoding.as_ref().map(|e| e.as_bytes()),
            Some(&b"gzip"[..]),
            "{case}"
        );
        assert!(!response.headers().contains_key(VARY), "{case}");
        assert_eq!(bytes(response).await, answer.body, "{case}");
    }
    // HEAD answers carry no body to compress.
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::HEAD,
        Some("gzip"),
        Answer::html(page()),
    )
    .await;
    assert!(!response.headers().contains_key(CONTENT_ENCODING));
}

#[tokio::test]
async fn content_types_and_minimum_length_are_configurable() {
    let config = ResponseCompressionConfig {
        min_content_length: 0,
        content_types: vec!["application/x-custom".into()],
        ..ResponseCompressionConfig::default()
    };
    let custom = Answer {
        body: "tiny".into(),
        headers: vec![("content-type", "Application/X-Custom; v=1")],
    };
    let response = compress(config.clone(), Method::GET, Some("gzip"), custom).await;
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(decode(response).await, "tiny");
    // The list replaces the defaults.
    let response = compress(config, Method::GET, Some("gzip"), Answer::html(page())).await;
    assert!(!response.headers().contains_key(CONTENT_ENCODING));
    // A response without a content type qualifies.
    let untyped = Answer {
        body: page(),
        headers: vec![],
    };
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        Some("gzip"),
        untyped,
    )
    .await;
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
}

#[tokio::test]
async fn strong_etags_become_weak_when_compressed() {
    let tagged = Answer::html(page()).with("etag", "\"v1\"");
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        Some("gzip"),
        tagged.clone(),
    )
    .await;
    assert_eq!(response.headers()[ETAG], "W/\"v1\"");
    let response = compress(
        ResponseCompressionConfig::default(),
        Method::GET,
        None,
        tagged,
    )
    .await;
    assert_eq!(response.headers()[ETAG], "\"v1\"");
}

#[tokio::test]
async fn streamed_responses_of_unknown_length_are_compressed() {
    let service = ResponseCompressionLayer::new(ResponseCompressionConfig::default()).layer(
        service_fn(|_: Request| async {
            let chunks = ["first chunk, ", "second chunk, ", "third chunk"]
                .map(|chunk| Ok::<_, Infallible>(http_body::Frame::data(Bytes::from(chunk))));
            let body = body::boxed(StreamBody::new(futures_util::stream::iter(chunks)));
            Ok::<Response, Infallible>(http::Response::new(body))
        }),
    );
    let request = http::Request::builder()
        .header(ACCEPT_ENCODING, "gzip")
        .body(body::empty())
        .unwrap();
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.headers()[CONTENT_ENCODING], "gzip");
    assert_eq!(
        decode(response).await,
        "first chunk, second chunk, third chunk"
    );
}

/// What the backend behind a decompressor saw: the body and its `Content-Encoding` and
/// `Content-Length`, or the error reading the body.
async fn decompress(
    codecs: Codecs,
    encoding: &'static str,
    extra: Option<(&'static str, &'static str)>,
    body: Vec<u8>,
) -> Result<(Bytes, Option<HeaderValue>, Option<HeaderValue>), String> {
    let service = RequestDecompressionLayer::new(RequestDecompressionConfig { codecs }).layer(
        service_fn(|request: Request| async move {
            let encoding = request.headers().get(CONTENT_ENCODING).cloned();
            let length = request.headers().get(CONTENT_LENGTH).cloned();
            let seen = request
                .into_body()
                .collect()
                .await
                .map(|body| (body.to_bytes(), encoding, length))
                .map_err(|error| error.to_string());
            let mut response = http::Response::new(body::empty());
            response.extensions_mut().insert(seen);
            Ok::<Response, Infallible>(response)
        }),
    );
    let mut request = http::Request::builder()
        .method(Method::POST)
        .header(CONTENT_ENCODING, encoding)
        .header(CONTENT_LENGTH, body.len());
    if let Some((name, value)) = extra {
        request = request.header(name, value);
    }
    let response = service
        .oneshot(request.body(body::full(body)).unwrap())
        .await
        .unwrap();
    response
        .extensions()
        .get::<Result<(Bytes, Option<HeaderValue>, Option<HeaderValue>), String>>()
        .cloned()
        .unwrap()
}

#[tokio::test]
async fn gzip_and_zstd_request_bodies_are_decompressed() {
    let (body, encoding, length) = decompress(Codecs::default(), "gzip", None, GZIP_HELLO.to_vec())
        .await
        .unwrap();
    assert_eq!(body, HELLO);
    assert_eq!(encoding, None);
    assert_eq!(length, None);

    let zstd = Codecs {
        zstd: true,
        ..Codecs::NONE
    };
    let (body, encoding, _) = decompress(zstd, "zstd", None, ZSTD_HELLO.to_vec())
        .await
        .unwrap();
    assert_eq!(body, HELLO);
    assert_eq!(encoding, None);
}

#[tokio::test]
async fn brotli_request_bodies_are_decompressed() {
    // Brotli bytes made by the response compressor.
    let brotli = Codecs {
        brotli: true,
        ..Codecs::NONE
    };
    let config = ResponseCompressionConfig {
        min_content_length: 0,
        ..response_config(brotli)
    };
    let response = compress(config, Method::GET, Some("br"), Answer::html(HELLO.into())).await;
    assert_eq!(response.headers()[CONTENT_ENCODING], "br");
    let compressed = bytes(response).await;
    assert_ne!(compressed, HELLO);
    let (body, encoding, _) = decompress(brotli, "br", None, compressed.to_vec())
        .await
        .unwrap();
    assert_eq!(body, HELLO);
    assert_eq!(encoding, None);
}

#[tokio::test]
async fn other_codings_pass_unchanged() {
    // Not configured: only gzip is.
    let (body, encoding, length) = decompress(Codecs::default(), "zstd", None, ZSTD_HELLO.to_vec())
        .await
        .unwrap();
    assert_eq!(body, &ZSTD_HELLO[..]);
    assert_eq!(encoding.unwrap(), "zstd");
    assert_eq!(length.unwrap(), "36");
    // Unknown to the gateway.
    let (body, encoding, _) = decompress(Codecs::ALL, "deflate", None, b"raw".to_vec())
        .await
        .unwrap();
    assert_eq!(body, "raw");
    assert_eq!(encoding.unwrap(), "deflate");
    // `no-transform` keeps the body as the client sent it.
    let (body, encoding, _) = decompress(
        Codecs::default(),
        "gzip",
        Some(("cache-control", "no-transform")),
        GZIP_HELLO.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(body, &GZIP_HELLO[..]);
    assert_eq!(encoding.unwrap(), "gzip");
}

#[tokio::test]
async fn a_corrupt_body_fails_when_read() {
    let mut corrupt = GZIP_HELLO.to_vec();
    corrupt[12] ^= 0xff;
    corrupt.truncate(20);
    assert!(
        decompress(Codecs::default(), "gzip", None, corrupt)
            .await
            .is_err()
    );
}

#[test]
fn specs_compile_with_kgateway_defaults() {
    let spec: CompressionSpec =
        serde_json::from_str(r#"{"responseCompression": {}, "requestDecompression": {}}"#).unwrap();
    let config = spec.compile().unwrap();
    assert_eq!(
        config.response,
        Some(Toggle::Enabled(ResponseCompressionConfig::default()))
    );
    assert_eq!(
        config.request,
        Some(Toggle::Enabled(RequestDecompressionConfig::default()))
    );
    let defaults = ResponseCompressionConfig::default();
    assert_eq!(defaults.codecs, Codecs::default());
    assert_eq!(defaults.min_content_length, 30);
    assert_eq!(defaults.content_types.len(), 8);

    let spec: CompressionSpec = serde_json::from_str(
        r#"{"responseCompression": {"libraries": ["Brotli", "Zstd"], "minContentLengthBytes": 100,
            "contentTypes": ["Text/HTML"]},
           "requestDecompression": {"libraries": ["Zstd"]}}"#,
    )
    .unwrap();
    let config = spec.compile().unwrap();
    let response = config.response.as_ref().unwrap().enabled().unwrap();
    assert_eq!(
        response.codecs,
        Codecs {
            gzip: false,
            brotli: true,
            zstd: true
        }
    );
    assert_eq!(response.min_content_length, 100);
    assert_eq!(response.content_types, vec![Box::from("text/html")]);
    let request = config.request.as_ref().unwrap().enabled().unwrap();
    assert!(request.codecs.zstd && !request.codecs.gzip);
}

#[test]
fn disable_turns_a_part_off() {
    let spec: CompressionSpec = serde_json::from_str(
        r#"{"responseCompression": {"disable": {}}, "requestDecompression": {"disable": {}}}"#,
    )
    .unwrap();
    let config = spec.compile().unwrap();
    assert_eq!(config.response, Some(Toggle::Disabled));
    assert_eq!(config.request, Some(Toggle::Disabled));
    assert!(config.response.unwrap().enabled().is_none());
    let spec: CompressionSpec = serde_json::from_str(r#"{"requestDecompression": {}}"#).unwrap();
    assert_eq!(spec.compile().unwrap().response, None);
}

#[test]
fn invalid_specs_name_the_field() {
    let error = |json: &str| {
        serde_json::from_str::<CompressionSpec>(json)
            .unwrap()
            .compile()
            .unwrap_err()
    };
    assert_eq!(error("{}").field, "responseCompression");
    assert_eq!(
        error(r#"{"responseCompression": {"libraries": []}}"#).field,
        "responseCompression.libraries"
    );
    let duplicate = error(r#"{"requestDecompression": {"libraries": ["Gzip", "Gzip"]}}"#);
    assert_eq!(duplicate.field, "requestDecompression.libraries[1]");
    assert!(duplicate.reason.contains("duplicates"));
    assert_eq!(
        error(r#"{"responseCompression": {"minContentLengthBytes": -1}}"#).field,
        "responseCompression.minContentLengthBytes"
    );
    assert_eq!(
        error(r#"{"responseCompression": {"contentTypes": []}}"#).field,
        "responseCompression.contentTypes"
    );
    assert_eq!(
        error(r#"{"responseCompression": {"contentTypes": ["text/html", "TEXT/HTML"]}}"#).field,
        "responseCompression.contentTypes[1]"
    );
    assert_eq!(
        error(r#"{"responseCompression": {"contentTypes": [""]}}"#).field,
        "responseCompression.contentTypes[0]"
    );
    let many = format!(
        r#"{{"responseCompression": {{"contentTypes": [{}]}}}}"#,
        (0..51)
            .map(|i| format!("\"text/x-{i}\""))
            .collect::<Vec<_>>()
            .join(",")
    );
    assert_eq!(error(&many).field, "responseCompression.contentTypes");
    assert!(
        serde_json::from_str::<CompressionSpec>(
            r#"{"responseCompression": {"libraries": ["Lz4"]}}"#
        )
        .is_err()
    );
}
