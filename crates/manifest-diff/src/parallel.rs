//! An order-keeping parallel map for the engine's batch work: parsing document
//! texts and diffing objects.
//!
//! Costs per item vary a lot (a light block-style parse is ~10x cheaper than a
//! fallback to yaml-rust2; an unchanged object costs nothing next to a changed
//! one), and such items cluster, so fixed shares leave a core idle. Threads
//! instead claim small blocks from a shared counter until none are left. The
//! calling thread works too, so two cores need one spawned thread.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

/// Threads worth using: the cores, but not more than the engine can feed.
/// Asked once: on Linux the answer reads cgroup files each time.
pub(crate) fn threads() -> usize {
    static THREADS: OnceLock<usize> = OnceLock::new();
    *THREADS.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get().min(8)))
}

/// Below this much input, threads cost more than they save.
pub(crate) const PARALLEL_MIN_BYTES: usize = 256 * 1024;

/// `(a(), b())`, with `b` on a second thread. If no thread can be had, `b`
/// runs here; if it panics there, the panic goes on here.
pub(crate) fn join<A, B: Send>(a: impl FnOnce() -> A, b: impl Fn() -> B + Sync) -> (A, B) {
    std::thread::scope(|s| {
        let helper = std::thread::Builder::new().spawn_scoped(s, &b);
        let a = a();
        let b = match helper {
            Ok(h) => h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)),
            Err(_) => b(),
        };
        (a, b)
    })
}

/// `items.iter().map(f)` on up to `threads` threads, in order, claiming
/// `claim` items at a time. Items claimed by a helper thread that failed get
/// `lost(item)` instead.
pub(crate) fn map_ordered<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    claim: usize,
    f: impl Fn(&T) -> R + Sync,
    lost: impl Fn(&T) -> R,
) -> Vec<R> {
    if threads < 2 || items.len() <= claim {
        return items.iter().map(f).collect();
    }
    // Results go straight to their final place: collecting per-thread blocks
    // and concatenating them would write (and fault in) everything twice.
    let out: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    let next = AtomicUsize::new(0);
    let work = || loop {
        let start = next.fetch_add(claim, Ordering::Relaxed);
        let block = items.get(start..items.len().min(start + claim));
        let Some(block) = block.filter(|b| !b.is_empty()) else {
            return;
        };
        let results: Vec<R> = block.iter().map(&f).collect();
        let mut out = out.lock().unwrap_or_else(PoisonError::into_inner);
        for (slot, r) in out[start..].iter_mut().zip(results) {
            *slot = Some(r);
        }
    };
    std::thread::scope(|s| {
        let helpers: Vec<_> = (1..threads)
            .filter_map(|_| std::thread::Builder::new().spawn_scoped(s, work).ok())
            .collect();
        work();
        for h in helpers {
            // A helper that failed leaves its claimed items empty: they get `lost`.
            let _ = h.join();
        }
    });
    let out = out.into_inner().unwrap_or_else(PoisonError::into_inner);
    // Reuses the allocation: `Option<R>` is the size of `R` for the engine's types.
    out.into_iter()
        .zip(items)
        .map(|(r, item)| r.unwrap_or_else(|| lost(item)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_order_whatever_the_thread_count() {
        let items: Vec<usize> = (0..1000).collect();
        for threads in [1, 2, 3, 8] {
            let out = map_ordered(&items, threads, 7, |i| i * 2, |_| usize::MAX);
            assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        }
    }

    #[test]
    fn items_of_a_failed_thread_are_reported_lost() {
        let items: Vec<usize> = (0..400).collect();
        let main = std::thread::current().id();
        let out = map_ordered(
            &items,
            2,
            10,
            |i| {
                // Slow down this thread so that the helper claims some blocks.
                if std::thread::current().id() == main {
                    std::thread::sleep(std::time::Duration::from_micros(50));
                    Some(*i)
                } else {
                    panic!("helper fails")
                }
            },
            |_| None,
        );
        assert_eq!(out.len(), items.len());
        assert!(out
            .iter()
            .enumerate()
            .all(|(i, o)| o.is_none_or(|v| v == i)));
    }
}
