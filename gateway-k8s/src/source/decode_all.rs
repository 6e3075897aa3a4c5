//! Decoding many YAML documents on every CPU the process may use, with the results in
//! document order.
//!
//! Decoding dominates a large load: 10,000 HTTPRoutes (3.4 MB) take about half a second on
//! one core, where compiling them takes 20 ms. Documents decode independently, so a load
//! splits them into one contiguous run per thread and concatenates the results; what
//! follows (snapshot order, warnings, errors) is the same as a sequential decode.

use std::{num::NonZeroUsize, thread};

use super::{
    diagnostic::DocumentError,
    parse::{Decoded, decode_document},
};

/// Below this many documents a load decodes on the calling thread: starting threads costs
/// more than a few dozen documents take.
const PARALLEL_FROM: usize = 256;

/// The most threads one load starts, however many CPUs the machine has.
const MAX_THREADS: usize = 8;

/// How many threads a load of `documents` uses: the CPUs this process may run on (its
/// affinity and cgroup quota, as [`thread::available_parallelism`] reads them), at most
/// [`MAX_THREADS`], and one for small loads.
pub(crate) fn decode_threads(documents: usize) -> usize {
    if documents < PARALLEL_FROM {
        return 1;
    }
    thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
}

/// Decodes each text on up to `threads` threads; one result per text, in order.
///
/// A thread the system refuses to start leaves its run to the calling thread.
pub(crate) fn decode_all(texts: &[&str], threads: usize) -> Vec<Result<Decoded, DocumentError>> {
    let decode_run = |run: &[&str]| -> Vec<_> { run.iter().map(|t| decode_document(t)).collect() };
    if threads <= 1 || texts.len() <= 1 {
        return decode_run(texts);
    }
    let run_len = texts.len().div_ceil(threads);
    thread::scope(|scope| {
        let started: Vec<_> = texts
            .chunks(run_len)
            .map(|run| {
                let spawned = thread::Builder::new()
                    .name("gateway-decode".into())
                    .spawn_scoped(scope, move || decode_run(run));
                (run, spawned)
            })
            .collect();
        let mut results = Vec::with_capacity(texts.len());
        for (run, spawned) in started {
            match spawned {
                Ok(handle) => match handle.join() {
                    Ok(decoded) => results.extend(decoded),
                    // Decoding does not panic; if it ever did, the load fails as it would
                    // have on one thread.
                    Err(panic) => std::panic::resume_unwind(panic),
                },
                Err(_) => results.extend(decode_run(run)),
            }
        }
        results
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(i: usize) -> String {
        match i % 4 {
            // A syntax error.
            0 => format!("kind: Service\napiVersion: v1\nmetadata: {{name: s{i}\n"),
            // A kind the gateway ignores.
            1 => format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: d{i}}}\n"),
            // A field of the wrong type.
            2 => format!(
                "apiVersion: v1\nkind: Service\nmetadata: {{name: s{i}}}\nspec:\n  ports: 7\n"
            ),
            _ => format!(
                "apiVersion: gateway.networking.k8s.io/v1\nkind: HTTPRoute\n\
                 metadata: {{name: r{i}, namespace: n}}\nspec:\n  hostnames: [h{i}.example]\n  \
                 extra{i}: 1\n"
            ),
        }
    }

    #[test]
    fn threads_give_the_results_of_one_thread_in_the_same_order() {
        let texts: Vec<String> = (0..101).map(document).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let one = format!("{:?}", decode_all(&texts, 1));
        for threads in [2, 3, 8, 200] {
            assert_eq!(
                format!("{:?}", decode_all(&texts, threads)),
                one,
                "{threads}"
            );
        }
        // Every kind of outcome is in there, so the comparison covers each.
        assert!(one.contains("Ignored") && one.contains("Object") && one.contains("line"));
    }

    #[test]
    fn small_loads_stay_on_the_calling_thread() {
        assert_eq!(decode_threads(0), 1);
        assert_eq!(decode_threads(PARALLEL_FROM - 1), 1);
        assert!((1..=MAX_THREADS).contains(&decode_threads(PARALLEL_FROM)));
    }
}
