//! The CPU backend's fork-join: the calling thread and a few helper threads
//! take the pieces of one job from a shared counter, and helpers spin for a
//! short while after a job before they sleep.
//!
//! Why not rayon alone: a rayon fork-join started from a thread outside its
//! pool (the thread of every caller of this library) injects the job, wakes a
//! worker and puts the caller to sleep until the job is done. On the reference
//! VM that round trip measured 14-22 us (a two-piece `par_chunks_mut` of no
//! work), longer than a whole 10^6-element matvec; a spinning helper answered
//! in 0.6 us. Here the caller works on its job from the start, and a helper
//! that finished a job less than `spin()` ago joins within about a
//! microsecond. The cost is that spin (200 us unless GPU_BASICS_CPU_SPIN_US
//! sets it) of busy waiting per helper after each job, as OpenBLAS's and
//! OpenMP's workers do.
//!
//! One job runs at a time. A job started while another is running (from
//! another thread, or from inside a piece) goes to rayon instead, so nothing
//! ever waits on this pool while holding it.
//!
//! Parked helpers are woken before a job only when it is large (WAKE_MIN
//! elements): on this VM a parked helper's vCPU is halted, it answers a
//! wake-up late, and when it then takes a piece the caller waits for it. With
//! a 2 ms pause before each call (helpers parked), waking them first made two
//! threads lose to one up to 2^21 elements (softmax of 8192 2.9 -> 10.1 us,
//! multiply of 2^16 3.9 -> 14.0 us, sigmoid of 2^20 207 -> 235-300 us); at
//! 2^22 it was even, at 2^23 a gain (sigmoid 3.2-3.9 -> 2.3-3.2 ms). A smaller job runs on the
//! helpers still spinning, or on the caller alone; it wakes the parked ones
//! after it is done (the unpark costs the caller ~3 us) only when it follows
//! the previous job by less than the spin, as calls in a loop do, so that the
//! calls after it find them spinning.

use std::any::Any;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};
use std::thread::{self, Thread};
use std::time::{Duration, Instant};

use rayon::prelude::*;

/// How long a helper spins after its last job before it parks, unless
/// `set_spin` or GPU_BASICS_CPU_SPIN_US says otherwise.
const SPIN_DEFAULT_US: u64 = 200;

/// The spin in microseconds; u64::MAX until read from the environment.
static SPIN_US: AtomicU64 = AtomicU64::new(u64::MAX);

fn spin() -> Duration {
    let mut us = SPIN_US.load(Ordering::Relaxed);
    if us == u64::MAX {
        us = parse_spin(std::env::var("GPU_BASICS_CPU_SPIN_US").ok().as_deref());
        // A concurrent `set_spin` wins over the environment.
        us = match SPIN_US.compare_exchange(u64::MAX, us, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => us,
            Err(set) => set,
        };
    }
    Duration::from_micros(us)
}

/// Sets the spin for the helpers' next idle periods (a value in progress ends
/// at its old length).
pub(crate) fn set_spin(spin: Duration) {
    // u64::MAX means "not read yet"; a longer spin is capped one below it.
    let us = u64::try_from(spin.as_micros()).unwrap_or(u64::MAX);
    SPIN_US.store(us.min(u64::MAX - 1), Ordering::Relaxed);
}

/// The spin in microseconds from the variable's value: unset or not a number
/// gives the default.
fn parse_spin(v: Option<&str>) -> u64 {
    v.and_then(|v| v.trim().parse().ok())
        .unwrap_or(SPIN_DEFAULT_US)
}
/// Set in `Pool::state` while the job may be entered; the bits below count the
/// helpers inside it.
const OPEN: usize = 1 << (usize::BITS - 1);

struct Job<'a> {
    f: &'a (dyn Fn(usize) + Sync),
    n: usize,
    next: AtomicUsize,
    /// The first panic of a piece on a helper, raised again by the caller.
    panic: Mutex<Option<Box<dyn Any + Send>>>,
}

impl Job<'_> {
    /// Runs pieces until none are left.
    fn work(&self) {
        loop {
            let i = self.next.fetch_add(1, Ordering::Relaxed);
            if i >= self.n {
                return;
            }
            (self.f)(i);
        }
    }
}

struct Pool {
    /// OPEN, plus the number of helpers inside the open job.
    state: AtomicUsize,
    /// The open job, on its caller's stack. Read only by a helper that entered
    /// while OPEN was set (see `enter`).
    job: AtomicPtr<Job<'static>>,
    /// Bumped once per job; idle helpers watch it.
    epoch: AtomicUsize,
    /// Helpers that have parked or are about to.
    sleeping: AtomicUsize,
    /// Held by the thread whose job is running.
    busy: AtomicBool,
    /// Helpers the open job takes: the caller's `threads()` - 1, so that a
    /// caller inside a smaller rayon pool (`install`) gets no more threads here.
    limit: AtomicUsize,
    /// When the last job ended, in ns since `clock()`'s start: written only by
    /// the thread holding `busy`.
    last_end: AtomicU64,
    helpers: OnceLock<Vec<Thread>>,
}

static POOL: Pool = Pool {
    state: AtomicUsize::new(0),
    job: AtomicPtr::new(std::ptr::null_mut()),
    epoch: AtomicUsize::new(0),
    sleeping: AtomicUsize::new(0),
    busy: AtomicBool::new(false),
    limit: AtomicUsize::new(0),
    last_end: AtomicU64::new(0),
    helpers: OnceLock::new(),
};

/// Nanoseconds since the first call.
fn clock() -> u64 {
    static START: OnceLock<Instant> = OnceLock::new();
    START.get_or_init(Instant::now).elapsed().as_nanos() as u64
}

/// Threads a job may use, the caller included: the current rayon pool's count,
/// so that RAYON_NUM_THREADS=1, or a caller inside a one-thread rayon pool,
/// gets one thread here too.
pub(crate) fn threads() -> usize {
    rayon::current_num_threads()
}

/// The helpers, started on first use: one per core but the caller's, or per
/// RAYON_NUM_THREADS when that is set (as rayon's global pool counts them; not
/// the current pool's count, which may be a one-thread pool of a caller).
fn helpers() -> &'static [Thread] {
    POOL.helpers.get_or_init(|| {
        let n = std::env::var("RAYON_NUM_THREADS")
            .ok()
            .and_then(|v| v.parse::<usize>().ok())
            .filter(|&n| n > 0)
            .unwrap_or_else(|| thread::available_parallelism().map_or(1, |n| n.get()));
        (1..n)
            .filter_map(|i| {
                thread::Builder::new()
                    .name(format!("gpu-basics-cpu-{i}"))
                    .spawn(|| helper(&POOL))
                    .ok()
                    .map(|h| h.thread().clone())
            })
            .collect()
    })
}

fn helper(pool: &'static Pool) {
    let mut seen = pool.epoch.load(Ordering::Acquire);
    loop {
        let spin = spin();
        let mut idle_since = Instant::now();
        let mut spins = 0u32;
        loop {
            let e = pool.epoch.load(Ordering::Acquire);
            if e != seen {
                seen = e;
                break;
            }
            spins = spins.wrapping_add(1);
            if spins.is_multiple_of(256) && idle_since.elapsed() >= spin {
                // SeqCst pairs with `run`: either this load sees the new
                // epoch, or `run` sees this helper counted and unparks it.
                pool.sleeping.fetch_add(1, Ordering::SeqCst);
                if pool.epoch.load(Ordering::SeqCst) == seen {
                    thread::park();
                }
                pool.sleeping.fetch_sub(1, Ordering::SeqCst);
                idle_since = Instant::now();
            } else {
                std::hint::spin_loop();
            }
        }
        if let Some(job) = enter(pool) {
            // Counted out on every path out of this block, unwinding included.
            let _leave = Leave(pool);
            // A panicking piece must not kill the helper nor leave the caller
            // waiting: it is caught here and raised again by the caller.
            if let Err(p) = panic::catch_unwind(AssertUnwindSafe(|| job.work())) {
                // No more pieces: the caller finishes and reports.
                job.next.store(job.n, Ordering::Relaxed);
                job.panic
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .get_or_insert(p);
            }
        }
    }
}

/// Counts a helper out of the job it entered.
struct Leave(&'static Pool);

impl Drop for Leave {
    fn drop(&mut self) {
        self.0.state.fetch_sub(1, Ordering::Release);
    }
}

/// The open job, with this helper counted inside it; None if it has closed
/// or has all the helpers it takes.
fn enter(pool: &Pool) -> Option<&Job<'static>> {
    let mut s = pool.state.load(Ordering::Acquire);
    loop {
        if s & OPEN == 0 || s & !OPEN >= pool.limit.load(Ordering::Relaxed) {
            return None;
        }
        match pool
            .state
            .compare_exchange_weak(s, s + 1, Ordering::AcqRel, Ordering::Acquire)
        {
            // SAFETY: `run` stores the pointer before it sets OPEN and, once it
            // clears OPEN, waits for the count to reach zero before the job
            // (on its stack) goes away, also when unwinding (`Close`). This
            // helper was counted while OPEN was set, so the job is alive until
            // it decrements the count.
            Ok(_) => return Some(unsafe { &*pool.job.load(Ordering::Acquire) }),
            Err(v) => s = v,
        }
    }
}

/// Clears OPEN and waits until no helper is inside the job, then frees the
/// pool; runs on return and on unwind alike.
struct Close;

impl Drop for Close {
    fn drop(&mut self) {
        POOL.state.fetch_and(!OPEN, Ordering::AcqRel);
        let mut spins = 0u32;
        while POOL.state.load(Ordering::Acquire) != 0 {
            spins = spins.wrapping_add(1);
            // A helper inside may have been preempted mid-piece.
            if spins.is_multiple_of(1024) {
                thread::yield_now();
            } else {
                std::hint::spin_loop();
            }
        }
        POOL.busy.store(false, Ordering::Release);
    }
}

/// Calls f(i) once for every i in 0..n, on the calling thread and the
/// helpers, and returns when all calls have returned. A panic in any call is
/// raised here.
/// Elements from which a job wakes parked helpers before it starts.
const WAKE_MIN: usize = 1 << 22;

/// Runs f(0), ..., f(n - 1) on the caller and the helpers; `elems` is the
/// job's size in elements (whether parked helpers are worth waking first).
pub(crate) fn run(n: usize, elems: usize, f: &(dyn Fn(usize) + Sync)) {
    if n <= 1 || threads() == 1 {
        (0..n).for_each(f);
        return;
    }
    let helpers = helpers();
    if helpers.is_empty() {
        (0..n).for_each(f);
        return;
    }
    if POOL.busy.swap(true, Ordering::Acquire) {
        (0..n).into_par_iter().for_each(f);
        return;
    }
    let job = Job {
        f,
        n,
        next: AtomicUsize::new(0),
        panic: Mutex::new(None),
    };
    // The count is zero here: the previous job's `Close` waited for it.
    POOL.job.store(
        &job as *const Job<'_> as *mut Job<'static>,
        Ordering::Release,
    );
    POOL.limit.store(threads() - 1, Ordering::Relaxed);
    POOL.state.store(OPEN, Ordering::Release);
    let close = Close;
    // Dropped before `close` waits: a panic in the caller's own piece leaves
    // the helpers no more pieces to start.
    let stop = StopOnPanic(&job);
    let start = clock();
    POOL.epoch.fetch_add(1, Ordering::SeqCst);
    let wake_first = elems >= WAKE_MIN;
    if wake_first && POOL.sleeping.load(Ordering::SeqCst) > 0 {
        helpers.iter().for_each(Thread::unpark);
    }
    job.work();
    drop(stop);
    drop(close);
    // After `close`: a helper woken now finds the job closed, so the caller
    // never waits for one, and it spins ready for the next call.
    let in_a_loop =
        start.saturating_sub(POOL.last_end.load(Ordering::Relaxed)) < spin().as_nanos() as u64;
    POOL.last_end.store(clock(), Ordering::Relaxed);
    if !wake_first && in_a_loop && POOL.sleeping.load(Ordering::SeqCst) > 0 {
        helpers.iter().for_each(Thread::unpark);
    }
    let panic = job.panic.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(p) = panic {
        panic::resume_unwind(p);
    }
}

/// On unwinding, takes the job's remaining pieces away.
struct StopOnPanic<'a, 'b>(&'a Job<'b>);

impl Drop for StopOnPanic<'_, '_> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.next.store(self.0.n, Ordering::Relaxed);
        }
    }
}

/// Calls f(i, item) for each item, items handed out as in `run`.
pub(crate) fn each<T: Send>(items: Vec<T>, elems: usize, f: impl Fn(usize, T) + Sync) {
    let items: Vec<Mutex<Option<T>>> = items.into_iter().map(|t| Mutex::new(Some(t))).collect();
    run(items.len(), elems, &|i| {
        let item = items[i]
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take()
            .expect("each item is taken once");
        f(i, item)
    });
}

/// [f(0), f(1), ..., f(n - 1)], computed as in `run`.
pub(crate) fn map<R: Send>(n: usize, elems: usize, f: impl Fn(usize) -> R + Sync) -> Vec<R> {
    let out: Vec<Mutex<Option<R>>> = (0..n).map(|_| Mutex::new(None)).collect();
    run(n, elems, &|i| {
        let r = f(i);
        *out[i].lock().unwrap_or_else(|e| e.into_inner()) = Some(r);
    });
    out.into_iter()
        .map(|m| {
            m.into_inner()
                .unwrap_or_else(|e| e.into_inner())
                .expect("run called every index")
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;

    #[test]
    fn spin_set_from_the_api() {
        let before = spin();
        set_spin(Duration::from_micros(37));
        assert_eq!(spin(), Duration::from_micros(37));
        set_spin(before);
        assert_eq!(spin(), before);
    }

    #[test]
    fn spin_from_the_environment() {
        assert_eq!(parse_spin(None), SPIN_DEFAULT_US);
        assert_eq!(parse_spin(Some("0")), 0);
        assert_eq!(parse_spin(Some(" 50 ")), 50);
        assert_eq!(parse_spin(Some("fast")), SPIN_DEFAULT_US);
    }

    #[test]
    fn every_index_once() {
        // Small jobs (helpers woken after) and large ones (woken before),
        // with pauses long enough for the helpers to park in between.
        for elems in [0, WAKE_MIN] {
            for n in [0, 1, 2, 3, 64, 1000] {
                let hits: Vec<AtomicU32> = (0..n).map(|_| AtomicU32::new(0)).collect();
                for k in 0..50 {
                    if k % 10 == 0 {
                        thread::sleep(spin() + Duration::from_millis(1));
                    }
                    run(n, elems, &|i| {
                        hits[i].fetch_add(1, Ordering::Relaxed);
                    });
                }
                assert!(
                    hits.iter().all(|h| h.load(Ordering::Relaxed) == 50),
                    "n = {n}, elems = {elems}"
                );
            }
        }
    }

    #[test]
    fn map_keeps_order_and_each_sees_every_item() {
        assert_eq!(
            map(300, WAKE_MIN, |i| i * i),
            (0..300).map(|i| i * i).collect::<Vec<_>>()
        );
        let sum = AtomicUsize::new(0);
        each((0..100).collect(), 0, |i, v: usize| {
            assert_eq!(i, v);
            sum.fetch_add(v, Ordering::Relaxed);
        });
        assert_eq!(sum.load(Ordering::Relaxed), 4950);
    }

    #[test]
    fn nested_and_concurrent_jobs_finish() {
        // A job inside a piece, and jobs from several threads at once, find
        // the pool taken and go to rayon: all must finish with every index.
        let total = AtomicUsize::new(0);
        thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| {
                    for _ in 0..200 {
                        run(8, 0, &|_| {
                            run(4, WAKE_MIN, &|_| {
                                total.fetch_add(1, Ordering::Relaxed);
                            })
                        });
                    }
                });
            }
        });
        assert_eq!(total.load(Ordering::Relaxed), 4 * 200 * 8 * 4);
    }

    #[test]
    fn a_panic_reaches_the_caller_and_the_pool_still_works() {
        for _ in 0..20 {
            let r = panic::catch_unwind(|| {
                run(64, 0, &|i| {
                    if i == 37 {
                        panic!("piece 37");
                    }
                })
            });
            let p = r.expect_err("the panic reaches the caller");
            // The piece's own payload, wherever the piece ran.
            assert_eq!(p.downcast_ref::<&str>(), Some(&"piece 37"));
        }
        assert_eq!(map(10, 0, |i| i + 1), (1..=10).collect::<Vec<_>>());
    }
}
