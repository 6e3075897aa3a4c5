//! Shared helpers of the `gateway` binary tests: a scratch directory of manifests, manifest
//! snippets, the real binary as a child process (killed on drop), bounded polling, plain
//! HTTP/1.1 requests and a backend that holds its answers until released.
//!
//! Nothing here sleeps a fixed time to let something happen: every wait polls a condition
//! until [`DEADLINE`] and then fails with the gateway's log attached.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use bytes::Bytes;
use gateway_core::{BoxError, body, test_util::http1_client};
use gateway_routes::fixtures;
use http::{HeaderValue, StatusCode, header::HOST};
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use std::{
    convert::Infallible,
    fs,
    net::{SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    time::Duration,
};
use tempfile::TempDir;
use tokio::{
    sync::{mpsc, watch},
    time::Instant,
};

/// The binary under test.
pub(crate) const GATEWAY_BIN: &str = env!("CARGO_BIN_EXE_gateway");

/// GatewayClass `spec.controllerName` the tests pass with `--controller-name`; not the
/// default, so that the flag is exercised too.
pub(crate) const CONTROLLER: &str = "example.com/gateway-bin-tests";

/// How long any wait may take before the test fails.
pub(crate) const DEADLINE: Duration = Duration::from_secs(20);

/// Pause between two polls.
const POLL: Duration = Duration::from_millis(50);

/// `n` distinct free loopback ports: all are bound at once (so none is picked twice), then
/// released for the gateway to bind. Another process could take one in between, which is
/// unlikely enough for tests.
pub(crate) fn free_ports(n: usize) -> Vec<u16> {
    let listeners: Vec<TcpListener> = (0..n)
        .map(|_| TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0"))
        .collect();
    listeners
        .iter()
        .map(|listener| listener.local_addr().unwrap().port())
        .collect()
}

// === Scratch directory ===

/// A temporary directory holding the watched `config/` directory, the listen map and the
/// gateway's log.
#[derive(Debug)]
pub(crate) struct Scratch {
    root: TempDir,
}

impl Scratch {
    /// An empty scratch directory with an empty `config/`.
    pub(crate) fn new() -> Self {
        let root = tempfile::tempdir().expect("create a temporary directory");
        fs::create_dir(root.path().join("config")).unwrap();
        Self { root }
    }

    /// The directory passed as `--config-dir`.
    pub(crate) fn config_dir(&self) -> PathBuf {
        self.root.path().join("config")
    }

    /// The scratch root (outside the watched directory).
    pub(crate) fn root(&self) -> &Path {
        self.root.path()
    }

    /// Writes `config/<name>` atomically: the text goes to a file outside the watched
    /// directory that is then renamed over the target, so the gateway never reads half a
    /// file.
    pub(crate) fn write(&self, name: &str, text: &str) {
        let staging = self.root.path().join(format!("{name}.staging"));
        fs::write(&staging, text).unwrap();
        fs::rename(&staging, self.config_dir().join(name)).unwrap();
    }
}

// === Manifests ===

/// GatewayClass `ours` (our controller) and Gateway `default/gw` with one HTTP listener
/// `http` on port 80.
pub(crate) fn gateway_yaml() -> String {
    fixtures::gateway(CONTROLLER, fixtures::HTTP_LISTENER)
}

pub(crate) use fixtures::{route as route_yaml, service as service_yaml};

// === The binary ===

/// Runs `gateway ARGS...` to completion, with the log environment fixed.
pub(crate) fn run_to_completion(args: &[&std::ffi::OsStr]) -> Output {
    Command::new(GATEWAY_BIN)
        .args(args)
        .env("RUST_LOG", "info")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run the gateway binary")
}

/// A running `gateway run`; killed (SIGKILL) on drop if it is still running.
#[derive(Debug)]
pub(crate) struct Gateway {
    child: Child,
    /// The admin server (`--admin-port`).
    pub(crate) admin: SocketAddr,
    /// Where listener port 80 of `default/gw` binds (`--listen-map`).
    pub(crate) listener: SocketAddr,
    log: PathBuf,
}

impl Gateway {
    /// Starts `gateway run` on `scratch`'s config directory, with listener port 80 of
    /// `default/gw` and the admin server on free loopback ports. Standard output and error
    /// go to a log file in the scratch directory (see [`Gateway::log`]).
    pub(crate) fn start(scratch: &Scratch) -> Self {
        let ports = free_ports(2);
        Self::start_on(
            scratch,
            SocketAddr::from(([127, 0, 0, 1], ports[0])),
            ports[1],
        )
    }

    /// Like [`Gateway::start`], with listener port 80 of `default/gw` mapped to `listener`
    /// and the admin server on `admin_port`.
    pub(crate) fn start_on(scratch: &Scratch, listener: SocketAddr, admin_port: u16) -> Self {
        let admin = SocketAddr::from(([127, 0, 0, 1], admin_port));
        let listen_map = scratch.root().join("listen.json");
        let map = serde_json::json!({ "default/gw": { "80": listener.to_string() } });
        fs::write(&listen_map, map.to_string()).unwrap();
        let log = scratch.root().join("gateway.log");
        let out = fs::File::create(&log).unwrap();
        let child = Command::new(GATEWAY_BIN)
            .arg("run")
            .arg("--config-dir")
            .arg(scratch.config_dir())
            .arg("--listen-map")
            .arg(&listen_map)
            .arg("--admin-port")
            .arg(admin.port().to_string())
            .arg("--controller-name")
            .arg(CONTROLLER)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .expect("spawn the gateway binary");
        Self {
            child,
            admin,
            listener,
            log,
        }
    }

    /// Everything the gateway wrote so far (standard output and error).
    pub(crate) fn log(&self) -> String {
        fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends SIGTERM (through `kill(1)`: the workspace forbids `unsafe`, so no `libc::kill`).
    pub(crate) fn terminate(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill(1)");
        assert!(status.success(), "kill -TERM failed: {status}");
    }

    /// Waits until the process exits and returns how.
    pub(crate) async fn wait_exit(&mut self) -> ExitStatus {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the gateway did not exit within {DEADLINE:?}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `check` until it returns `Some`, failing the test (with the log) when the
    /// process exits or [`DEADLINE`] passes first. `what` names the awaited condition.
    pub(crate) async fn eventually<T, F, Fut>(&mut self, what: &str, mut check: F) -> T
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Option<T>>,
    {
        let deadline = Instant::now() + DEADLINE;
        loop {
            if let Some(value) = check().await {
                return value;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the gateway exited ({status}) while waiting for {what}; log:\n{}",
                    self.log()
                );
            }
            assert!(
                Instant::now() < deadline,
                "timed out after {DEADLINE:?} waiting for {what}; log:\n{}",
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Waits until `/ready` on the admin port answers 200.
    pub(crate) async fn wait_ready(&mut self) {
        let admin = self.admin;
        self.eventually("/ready to answer 200", || async move {
            let (status, _) = try_get(admin, "admin", "/ready").await.ok()?;
            (status == StatusCode::OK).then_some(())
        })
        .await;
    }

    /// Waits until the log contains `needle`.
    pub(crate) async fn wait_for_log(&mut self, needle: &str) {
        let log = self.log.clone();
        self.eventually(&format!("the log to contain {needle:?}"), || {
            let found = fs::read_to_string(&log)
                .unwrap_or_default()
                .contains(needle);
            std::future::ready(found.then_some(()))
        })
        .await;
    }

    /// `GET path` on the admin server; fails the test when the exchange fails.
    pub(crate) async fn admin_get(&self, path: &str) -> (StatusCode, Bytes) {
        match try_get(self.admin, "admin", path).await {
            Ok(answer) => answer,
            Err(err) => panic!(
                "GET {path} on the admin server: {err}; log:\n{}",
                self.log()
            ),
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

// === Clients ===

/// `GET path` with `Host: host` to `addr` over a fresh HTTP/1.1 connection; the status and
/// the collected body. Errors are connection failures and exchanges longer than
/// [`DEADLINE`].
pub(crate) async fn try_get(
    addr: SocketAddr,
    host: &str,
    path: &str,
) -> Result<(StatusCode, Bytes), BoxError> {
    let mut request = http::Request::get(format!("http://{addr}{path}")).body(body::empty())?;
    request
        .headers_mut()
        .insert(HOST, HeaderValue::from_str(host)?);
    let response = tokio::time::timeout(DEADLINE, http1_client().send(request)).await??;
    Ok((response.status(), response.into_body()))
}

/// The JSON an echo backend (`gateway_core::test_util::spawn_echo_named`) answered.
pub(crate) fn echo_json(body: &Bytes) -> serde_json::Value {
    serde_json::from_slice(body).unwrap_or_else(|err| {
        panic!(
            "not echo JSON ({err}): {}",
            String::from_utf8_lossy(body.as_ref())
        )
    })
}

// === A backend that holds its answers ===

/// Body the held backend answers with.
pub(crate) const HELD_BODY: &str = "held answer";

/// A backend that keeps every request waiting until [`HeldBackend::release`]: a request
/// that is provably in flight for as long as a test needs, without timing guesses.
#[derive(Debug)]
pub(crate) struct HeldBackend {
    /// Where it listens.
    pub(crate) addr: SocketAddr,
    arrivals: mpsc::UnboundedReceiver<()>,
    gate: watch::Sender<bool>,
}

impl HeldBackend {
    /// Starts an HTTP/1.1 backend that, for every request, reports the arrival, waits
    /// for [`HeldBackend::release`] and then answers `200` with [`HELD_BODY`].
    pub(crate) async fn spawn() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let addr = listener.local_addr().unwrap();
        let (arrived, arrivals) = mpsc::unbounded_channel();
        let (gate, opened) = watch::channel(false);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let (arrived, opened) = (arrived.clone(), opened.clone());
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_request| {
                        let _ = arrived.send(());
                        let mut opened = opened.clone();
                        async move {
                            // A dropped sender (test over) also lets the answer go.
                            let _ = opened.wait_for(|open| *open).await;
                            Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from_static(
                                HELD_BODY.as_bytes(),
                            ))))
                        }
                    });
                    // Errors are the client hanging up; nothing to report.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self {
            addr,
            arrivals,
            gate,
        }
    }

    /// Waits (up to [`DEADLINE`]) until a request has arrived; whether one did.
    pub(crate) async fn arrived(&mut self) -> bool {
        matches!(
            tokio::time::timeout(DEADLINE, self.arrivals.recv()).await,
            Ok(Some(()))
        )
    }

    /// Lets every held and future request be answered.
    pub(crate) fn release(&self) {
        self.gate.send_replace(true);
    }
}
