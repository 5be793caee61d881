//! The pool's other threads kept busy-waiting through a run, as onnxruntime's spin: a
//! MobileNetV2 run is a hundred parallel kernels with serial work between them, and a
//! rayon worker that found no work for a moment goes to sleep, to be woken by a futex
//! call and the scheduler for the next kernel (on this VM, scheduler time was 12% of a
//! 2-thread int8 MobileNetV2 run).
//!
//! Each other worker runs a job that looks for pending work ([`rayon::yield_now`]) and
//! runs it, until the run ends. Only the threads change: the kernels split their work the
//! same way, so results are the same bits.
//!
//! Off unless a caller that runs one model at a time turns it on ([`spin_during_runs`]:
//! `modelc run`, `verify`, `diff`). Where runs go side by side on the pool's threads
//! (calibration runs its samples so), a worker busy with one run would take another run's
//! spin job while waiting inside a kernel and stay in it, its own run stalled, until the
//! other run ended. For the same reason one run at a time spins, whoever asked.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Whether runs spin (see the module doc).
static SPIN: AtomicBool = AtomicBool::new(false);
/// Whether a run is spinning now.
static SPINNING: AtomicBool = AtomicBool::new(false);

/// Makes each later interpreter run keep the pool's other threads spinning for work
/// between its kernels, as onnxruntime's thread pool does: for callers that run one model
/// at a time (a command line's `run`); never where runs go side by side on the pool.
pub fn spin_during_runs(on: bool) {
    SPIN.store(on, Ordering::Relaxed);
}

/// While alive, the pool's workers other than the current thread spin for work.
pub(crate) struct Awake {
    stop: Arc<AtomicBool>,
}

impl Awake {
    /// Starts the spinning when it is on, the pool has more than one thread and no other
    /// run spins.
    pub(crate) fn start() -> Option<Awake> {
        if !SPIN.load(Ordering::Relaxed) || rayon::current_num_threads() < 2 {
            return None;
        }
        if SPINNING
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Relaxed)
            .is_err()
        {
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let here = rayon::current_thread_index();
        let flag = Arc::clone(&stop);
        // One job per worker, each on its own thread (a plain spawn from a worker would
        // go onto its own deque, where this thread could take it and spin itself).
        rayon::spawn_broadcast(move |ctx| {
            if Some(ctx.index()) == here {
                return;
            }
            while !flag.load(Ordering::Acquire) {
                match rayon::yield_now() {
                    Some(rayon::Yield::Executed) => {}
                    Some(rayon::Yield::Idle) => std::hint::spin_loop(),
                    None => break,
                }
            }
        });
        Some(Awake { stop })
    }
}

impl Drop for Awake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        SPINNING.store(false, Ordering::Release);
    }
}
