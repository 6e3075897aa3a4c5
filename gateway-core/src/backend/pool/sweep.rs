//! The background sweep: closes idle and dead connections and forgets unused endpoints.

use std::{
    net::SocketAddr,
    sync::{Arc, Weak, atomic::Ordering},
    time::Duration,
};

use tokio::time::{Instant, MissedTickBehavior};

use super::{EndpointMap, Shared};

/// Sweeps per idle timeout: an idle connection lives between the timeout and 1.25 times it.
const SWEEPS_PER_IDLE_TIMEOUT: u32 = 4;

/// How often to sweep: a quarter of the idle timeout, at least every 100 ms and at most
/// every 30 s (without an idle timeout the sweep only clears dead connections).
pub(super) fn period(idle_timeout: Option<Duration>) -> Duration {
    let ceiling = Duration::from_secs(30);
    idle_timeout.map_or(ceiling, |timeout| {
        (timeout / SWEEPS_PER_IDLE_TIMEOUT).clamp(Duration::from_millis(100), ceiling)
    })
}

/// Sweeps every `period` until the pools are dropped.
pub(super) async fn run(shared: Weak<Shared>, period: Duration) {
    let mut ticks = tokio::time::interval_at(Instant::now() + period, period);
    ticks.set_missed_tick_behavior(MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        sweep(&shared, period);
    }
}

fn sweep(shared: &Shared, period: Duration) {
    let sweeps = shared.sweeps.fetch_add(1, Ordering::Relaxed) + 1;
    let idle_timeout = shared.settings.idle_timeout;
    // HTTP/2 last use is known to the sweep: unused for this many sweeps is idle for at
    // least the timeout.
    let idle_sweeps = idle_timeout.map_or(u64::MAX, |timeout| {
        u64::try_from(timeout.as_nanos().div_ceil(period.as_nanos().max(1)))
            .unwrap_or(u64::MAX)
            .saturating_add(1)
    });
    let now = Instant::now();
    let endpoints = shared.endpoints.load();
    let mut unused: Vec<SocketAddr> = Vec::new();
    for (addr, pool) in endpoints.iter() {
        pool.sweep(now, idle_timeout, sweeps, idle_sweeps);
        // Only the map holds it and it has no connection: nobody uses the endpoint now.
        if Arc::strong_count(pool) == 1 && pool.is_empty() {
            unused.push(*addr);
        }
    }
    drop(endpoints);
    if !unused.is_empty() {
        shared.endpoints.rcu(|map| {
            let mut map = EndpointMap::clone(map);
            for addr in &unused {
                map.remove(addr);
            }
            map
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_period_is_a_quarter_of_the_idle_timeout_within_bounds() {
        assert_eq!(period(Some(Duration::from_secs(8))), Duration::from_secs(2));
        assert_eq!(
            period(Some(Duration::from_millis(10))),
            Duration::from_millis(100)
        );
        assert_eq!(
            period(Some(Duration::from_secs(3600))),
            Duration::from_secs(30)
        );
        assert_eq!(period(None), Duration::from_secs(30));
    }
}
