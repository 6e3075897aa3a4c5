//! Shared set-up of the benches: a generated configuration of N HTTPRoutes, loaded through
//! the gateway's own directory loader, compiled and built exactly as the runtime does it,
//! plus the requests that hit or miss it and a minimal loopback backend.
//!
//! Everything here runs outside the measured closures. Set-up failures panic: a bench whose
//! configuration did not load or compile cleanly would measure the wrong thing.

// Each bench file includes this module and uses a different part of it.
#![allow(dead_code)]

use std::{collections::HashMap, convert::Infallible, fmt::Write as _, net::SocketAddr};

use bytes::Bytes;
use gateway_core::{
    HttpService, Limits, Request, backend::UpstreamClient, body, extensions::ResourceRef,
    listener::SocketConfig,
};
use gateway_k8s::load_dir;
use gateway_routes::{
    build::{BuildContext, SocketRouter, build_sockets, socket_router},
    compile::{CompileOptions, Compiled, DEFAULT_CONTROLLER_NAME, compile},
    fixtures,
    plan::{ListenerPlan, Plan},
    snapshot::Snapshot,
};
use http_body_util::Full;

/// The route counts every "does it stay flat" bench is run at.
pub(crate) const ROUTE_COUNTS: [usize; 4] = [1, 100, 1_000, 10_000];

/// The address every listener of the generated Gateway is built for. Nothing binds it:
/// the benches call the built services directly.
pub(crate) const LISTEN: SocketAddr =
    SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8080);

/// How the generated routes spread over hostnames.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Hosts {
    /// Route `i` serves `svc-{i}.example` with prefixes `/api` and `/static`: every route
    /// has its own virtual host (the case the issue asks to stay flat).
    Distinct,
    /// Every route serves `shared.example`, route `i` with prefixes `/svc-{i}/api` and
    /// `/svc-{i}/static`: one virtual host holding all the matches.
    Shared,
}

/// Where the one backend Service's EndpointSlice points.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Endpoint {
    /// The slice's only endpoint is `ready: false`: the backend resolves but has no
    /// endpoints, so the gateway's `BackendService` answers 503 itself without any I/O.
    /// This is the closest thing to an in-process backend the build API allows (backends
    /// are always dialled through `UpstreamClient`).
    NotReady,
    /// The slice's only endpoint is this ready address (a real upstream).
    Ready(SocketAddr),
}

/// What configuration to generate.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Spec {
    /// How many HTTPRoutes.
    pub(crate) routes: usize,
    /// How they spread over hostnames.
    pub(crate) hosts: Hosts,
    /// Where the backend points.
    pub(crate) endpoint: Endpoint,
}

impl Spec {
    /// `routes` routes with distinct hostnames and a backend without ready endpoints.
    pub(crate) fn distinct(routes: usize) -> Self {
        Self {
            routes,
            hosts: Hosts::Distinct,
            endpoint: Endpoint::NotReady,
        }
    }

    /// The route a hit request targets: the one in the middle of the set.
    pub(crate) fn middle(&self) -> usize {
        self.routes / 2
    }

    /// The multi-document YAML: GatewayClass, Gateway (one HTTP listener on port 80),
    /// the HTTPRoutes, and the Service + EndpointSlice they all send to.
    pub(crate) fn yaml(&self) -> String {
        let mut yaml = String::with_capacity(600 * self.routes + 2_000);
        yaml.push_str(&fixtures::gateway(
            DEFAULT_CONTROLLER_NAME,
            fixtures::HTTP_LISTENER,
        ));
        for i in 0..self.routes {
            let (host, prefix) = match self.hosts {
                Hosts::Distinct => (format!("svc-{i}.example"), String::new()),
                Hosts::Shared => ("shared.example".to_owned(), format!("/svc-{i}")),
            };
            write!(
                yaml,
                "---
apiVersion: gateway.networking.k8s.io/v1
kind: HTTPRoute
metadata: {{name: route-{i}, namespace: default}}
spec:
  parentRefs: [{{name: gw}}]
  hostnames: [\"{host}\"]
  rules:
  - matches:
    - path: {{type: PathPrefix, value: {prefix}/api}}
      headers: [{{name: x-tenant, value: tenant-{i}}}]
    - path: {{type: PathPrefix, value: {prefix}/static}}
    backendRefs: [{{name: echo, port: 80}}]
"
            )
            .expect("writing to a String");
        }
        let (ip, port, ready) = match self.endpoint {
            Endpoint::NotReady => ("10.0.0.1".to_owned(), 3000, false),
            Endpoint::Ready(addr) => (addr.ip().to_string(), addr.port(), true),
        };
        write!(
            yaml,
            "---
apiVersion: v1
kind: Service
metadata: {{name: echo, namespace: default}}
spec:
  ports: [{{name: http, port: 80, targetPort: {port}}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: echo-1
  namespace: default
  labels: {{kubernetes.io/service-name: echo}}
addressType: IPv4
ports: [{{name: http, port: {port}}}]
endpoints:
- addresses: [\"{ip}\"]
  conditions: {{ready: {ready}}}
"
        )
        .expect("writing to a String");
        yaml
    }

    /// The YAML written to a temporary directory and read back with
    /// [`gateway_k8s::load_dir`], the loader the `gateway` binary uses.
    pub(crate) fn load(&self) -> Snapshot {
        let dir = tempfile::tempdir().expect("temporary directory");
        std::fs::write(dir.path().join("bench.yaml"), self.yaml()).expect("write manifests");
        load_into_snapshot(dir.path())
    }

    /// Loads and compiles, checking that every route compiled cleanly.
    pub(crate) fn compiled(&self) -> Compiled {
        let compiled = compile(&self.load(), &CompileOptions::default());
        assert!(
            compiled.diagnostics.is_empty(),
            "generated configuration has problems: {:?}",
            &compiled.diagnostics[..compiled.diagnostics.len().min(5)]
        );
        let slots: usize = listener(&compiled.plan)
            .virtual_hosts
            .iter()
            .map(|vhost| vhost.routes.len())
            .sum();
        // Two matches per route.
        assert_eq!(slots, 2 * self.routes, "every route attached");
        compiled
    }

    /// A request that matches the `/api` + `x-tenant` match of the middle route.
    pub(crate) fn hit(&self) -> Request {
        let i = self.middle();
        let (host, path) = match self.hosts {
            Hosts::Distinct => (format!("svc-{i}.example"), "/api/users/42".to_owned()),
            Hosts::Shared => (
                "shared.example".to_owned(),
                format!("/svc-{i}/api/users/42"),
            ),
        };
        request(&host, &path, &format!("tenant-{i}"))
    }

    /// A request for a hostname no route serves (answered 404).
    pub(crate) fn miss(&self) -> Request {
        request("unknown.example", "/api/users/42", "tenant-0")
    }
}

/// Reads a directory with the gateway's loader, insisting on a warning-free load.
pub(crate) fn load_into_snapshot(dir: &std::path::Path) -> Snapshot {
    let loaded = load_dir(dir).expect("generated manifests load");
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    loaded.snapshot
}

/// A GET with the headers a typical client sends.
pub(crate) fn request(host: &str, path: &str, tenant: &str) -> Request {
    http::Request::builder()
        .uri(path)
        .header(http::header::HOST, host)
        .header(http::header::USER_AGENT, "bench/1.0")
        .header(http::header::ACCEPT, "*/*")
        .header("x-tenant", tenant)
        .body(body::empty())
        .expect("valid request")
}

/// The generated Gateway's one listener.
pub(crate) fn listener(plan: &Plan) -> &ListenerPlan {
    &plan.gateways[0].listeners[0]
}

/// An upstream client with the default limits (pools are created lazily, on first use).
pub(crate) fn client() -> UpstreamClient {
    UpstreamClient::new(&Limits::default())
}

/// The router of the generated listener, built as `build_sockets` builds it.
pub(crate) fn router(plan: &Plan) -> SocketRouter {
    socket_router(&[listener(plan)], &mut BuildContext::new(client()))
}

/// Everything a plan builds into, as the runtime builds it; every listener bound to
/// [`LISTEN`].
pub(crate) fn build_sockets_of(
    plan: &Plan,
    client: &UpstreamClient,
) -> HashMap<SocketAddr, SocketConfig> {
    let bind = |_: &ResourceRef, _: u16| LISTEN;
    let (sockets, warnings) = build_sockets(plan, bind, &mut BuildContext::new(client.clone()));
    assert!(warnings.is_empty(), "{warnings:?}");
    sockets
}

/// The HTTP service the listener socket would call for each request: the type-erased
/// router in front of the rule stacks.
pub(crate) fn socket_service(plan: &Plan, client: &UpstreamClient) -> HttpService {
    build_sockets_of(plan, client)
        .remove(&LISTEN)
        .and_then(|socket| socket.state.http)
        .expect("an HTTP socket")
}

/// A minimal HTTP/1.1 upstream on `127.0.0.1:0` answering every request `200` with a
/// two-byte body; runs as tasks on the current runtime.
pub(crate) async fn spawn_backend() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local address");
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            stream.set_nodelay(true).expect("TCP_NODELAY");
            tokio::spawn(async move {
                let service = hyper::service::service_fn(|_request| async {
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(b"ok"))))
                });
                // A client closing its connection ends the task; nothing to report.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}
