//! Network work of one run, done side by side: Admin API look-ups and mints for different
//! credentials wait on different servers, so a run with twenty credentials takes about as
//! long as its slowest few, not as long as all of them one after another.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

/// At most this many requests or credential programs at once: enough to hide round trips,
/// few enough not to look like a flood to an endpoint or a rate limit.
pub const MAX_PARALLEL: usize = 8;

/// `work` applied to every item, at most [`MAX_PARALLEL`] at a time, each result in its
/// item's place. Items are taken in order, so the first ones start first.
pub fn map<T: Sync, R: Send>(items: &[T], work: impl Fn(&T) -> R + Sync) -> Vec<R> {
    if items.len() <= 1 {
        // One item needs no thread.
        return items.iter().map(work).collect();
    }
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<R>>> = Mutex::new(items.iter().map(|_| None).collect());
    std::thread::scope(|scope| {
        for _ in 0..items.len().min(MAX_PARALLEL) {
            scope.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some(item) = items.get(i) else { break };
                    let result = work(item);
                    if let Some(slot) = results
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .get_mut(i)
                    {
                        *slot = Some(result);
                    }
                }
            });
        }
    });
    // A worker that panicked re-raises its panic when the scope ends, so every slot that
    // gets here is filled.
    results
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_their_items_order_and_no_more_than_the_bound_run_at_once() {
        let running = AtomicUsize::new(0);
        let most = AtomicUsize::new(0);
        let items: Vec<u32> = (0..40).collect();
        let out = map(&items, |&i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(5));
            running.fetch_sub(1, Ordering::SeqCst);
            i * 2
        });
        assert_eq!(out, items.iter().map(|i| i * 2).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= MAX_PARALLEL);
        assert!(most.load(Ordering::SeqCst) > 1, "nothing ran side by side");
    }
}
