//! Serving snapshots: compile, build, swap, and publish Plan and Status to the admin server.
//!
//! [`Runtime`] is what the `gateway` binary and the examples share. Hand it each new
//! [`Snapshot`]; it compiles it, builds the services, swaps them into the bound sockets
//! (binding new addresses, draining removed ones) and updates `/config_dump`, `/status` and
//! `/ready`. A snapshot whose source failed to load should simply not be applied: the last
//! applied one keeps serving.

mod listen_map;

pub use listen_map::{ListenMap, ListenMapError};

use gateway_core::{
    Limits,
    admin::{AdminState, JsonDocument},
    backend::UpstreamClient,
    listener::{ApplyError, SocketManager, SocketState},
};
use std::{sync::Arc, time::Duration};
use tokio::time::Instant;

use crate::{
    build::{BuildCarry, BuildContext, build_sockets},
    compile::{CompileOptions, Diagnostic, compile_plan},
    snapshot::Snapshot,
};

/// How a [`Runtime`] serves.
#[derive(Clone, Debug)]
pub struct RuntimeOptions {
    /// GatewayClasses with this `spec.controllerName` are served.
    pub controller_name: String,
    /// Where listener ports bind.
    pub listen_map: ListenMap,
    /// Connection and upstream limits.
    pub limits: Limits,
}

impl Default for RuntimeOptions {
    fn default() -> Self {
        Self {
            controller_name: crate::compile::DEFAULT_CONTROLLER_NAME.to_owned(),
            listen_map: ListenMap::default(),
            limits: Limits::default(),
        }
    }
}

/// What applying one snapshot found.
#[derive(Debug, Default)]
pub struct Applied {
    /// Problems in resources, each naming resource, field and reason.
    pub diagnostics: Vec<Diagnostic>,
    /// Listeners that could not be built (shared-socket protocol clashes, TLS setup).
    pub warnings: Vec<String>,
    /// Addresses that could not be bound; every other address serves the new snapshot.
    pub bind_error: Option<ApplyError>,
    /// Where the time went, for logs and the load benchmark.
    pub timings: ApplyTimings,
}

/// Time spent in each step of [`Runtime::apply`].
#[derive(Clone, Copy, Debug, Default)]
pub struct ApplyTimings {
    /// Snapshot to plan (the status is written after the swap).
    pub compile: Duration,
    /// Plan to routers and rule stacks.
    pub build: Duration,
    /// Routers swapped into the sockets (and new addresses bound).
    pub swap: Duration,
    /// Statuses and diagnostics written, after the swap: traffic does not wait for them.
    pub status: Duration,
    /// Plan and status handed to the admin server, after the status (it writes them as
    /// JSON when first asked).
    pub publish: Duration,
}

/// The serving gateway: sockets, upstream client and admin state.
#[derive(Debug)]
pub struct Runtime {
    options: RuntimeOptions,
    sockets: SocketManager,
    client: UpstreamClient,
    admin: Arc<AdminState>,
    /// The stateful services of the last build (backends, JWT providers), reused by the
    /// next where unchanged.
    carry: parking_lot::Mutex<BuildCarry>,
    /// What the sockets serve since the last apply (clones sharing it). Holding it means
    /// the swap never frees the replaced routers and stacks: the next apply retires them
    /// after the swap, off the path of the reload.
    serving: parking_lot::Mutex<Vec<SocketState>>,
}

impl Runtime {
    /// A runtime with no sockets yet, publishing to `admin`.
    pub fn new(options: RuntimeOptions, admin: Arc<AdminState>) -> Self {
        Self {
            client: UpstreamClient::new(&options.limits),
            sockets: SocketManager::new(options.limits.clone()),
            options,
            admin,
            carry: parking_lot::Mutex::default(),
            serving: parking_lot::Mutex::default(),
        }
    }

    /// Compiles and serves `snapshot`. Must run inside a tokio runtime.
    pub fn apply(&self, snapshot: &Snapshot) -> Applied {
        let compile_options = CompileOptions {
            controller_name: self.options.controller_name.clone(),
            transition_time: humantime::format_rfc3339_seconds(std::time::SystemTime::now())
                .to_string(),
            gateway_addresses: self.options.listen_map.status_addresses(),
        };
        let started = Instant::now();
        let (plan, report) = compile_plan(snapshot, &compile_options);
        let compiled_at = Instant::now();
        // Applies are serial (one source task): the lock is never contended.
        let previous = std::mem::take(&mut *self.carry.lock());
        let mut ctx = BuildContext::new(self.client.clone())
            .with_metrics(self.admin.metrics().clone())
            .with_carry(previous);
        let listen_map = &self.options.listen_map;
        let (desired, warnings) =
            build_sockets(&plan, |gw, port| listen_map.bind(gw, port), &mut ctx);
        *self.carry.lock() = ctx.into_carry();
        let serving: Vec<SocketState> = desired
            .values()
            .map(|config| config.state.clone())
            .collect();
        let built_at = Instant::now();
        let bind_error = self.sockets.apply(desired).err();
        let swapped_at = Instant::now();
        let replaced = std::mem::replace(&mut *self.serving.lock(), serving);
        let (statuses, diagnostics) = report.finish();
        let status_at = Instant::now();
        // Published as values: written as JSON when the admin server is first asked. Before
        // `/ready` turns true, so that a client who waited for it reads this status.
        let dump = self.admin.set_config_dump(JsonDocument::of(plan));
        let status = self.admin.set_status(JsonDocument::of(statuses));
        if bind_error.is_none() {
            self.admin.set_ready(true);
        }
        retire((replaced, dump, status));
        Applied {
            diagnostics,
            warnings,
            bind_error,
            timings: ApplyTimings {
                compile: compiled_at - started,
                build: built_at - compiled_at,
                swap: swapped_at - built_at,
                status: status_at - swapped_at,
                publish: status_at.elapsed(),
            },
        }
    }

    /// The sockets, e.g. to learn where a port-0 listener bound.
    pub fn sockets(&self) -> &SocketManager {
        &self.sockets
    }

    /// Marks the gateway not ready, stops accepting and drains for up to `grace`.
    pub async fn shutdown(&self, grace: Duration) {
        self.admin.set_ready(false);
        self.sockets.shutdown(grace).await;
    }
}

/// Drops what a reload replaced (thousands of rule stacks, the plan and status) on a
/// blocking thread, so that freeing it does not delay the caller; inline when there is no
/// runtime to run it on.
fn retire<T: Send + 'static>(replaced: T) {
    match tokio::runtime::Handle::try_current() {
        Ok(runtime) => {
            runtime.spawn_blocking(move || drop(replaced));
        }
        Err(_) => drop(replaced),
    }
}
