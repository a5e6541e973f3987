//! A token bucket on bytes read, so a backup does not starve the server's
//! own I/O. The bucket holds at most one chunk: after a pause the copy may
//! catch up by one chunk, never more, so the rate stays smooth.
//!
//! Time comes from a [`Clock`] so the arithmetic is tested without sleeping.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Lifts a running copy's throttle from another thread, and tells it how
/// fast the copy reads when it is not waiting for the throttle: apply
/// lifts it when a snapshot that cannot grow any more would overflow
/// before a throttled copy ends, but not before a full-speed one.
#[derive(Debug, Default)]
pub struct ThrottleSwitch {
    lifted: AtomicBool,
    /// Bytes read so far.
    read: AtomicU64,
    /// Nanoseconds spent reading them (waits for the throttle left out).
    busy_nanos: AtomicU64,
}

impl ThrottleSwitch {
    /// From the next chunk on, the copy reads at full speed.
    pub fn lift(&self) {
        self.lifted.store(true, Ordering::SeqCst);
    }

    pub fn is_lifted(&self) -> bool {
        self.lifted.load(Ordering::SeqCst)
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read.load(Ordering::SeqCst)
    }

    /// Bytes per second while reading (0 before the first chunk).
    pub fn full_rate(&self) -> f64 {
        let nanos = self.busy_nanos.load(Ordering::SeqCst);
        if nanos == 0 {
            return 0.0;
        }
        self.bytes_read() as f64 / (nanos as f64 / 1e9)
    }

    /// One chunk of `bytes` was read in `busy`.
    pub fn record(&self, bytes: u64, busy: Duration) {
        self.read.fetch_add(bytes, Ordering::SeqCst);
        let nanos = u64::try_from(busy.as_nanos()).unwrap_or(u64::MAX).max(1);
        self.busy_nanos.fetch_add(nanos, Ordering::SeqCst);
    }
}

pub trait Clock {
    /// Time since an arbitrary fixed start.
    fn now(&self) -> Duration;
    fn sleep(&self, duration: Duration);
}

/// The real clock.
pub struct SystemClock {
    start: Instant,
}

impl SystemClock {
    pub fn new() -> Self {
        SystemClock {
            start: Instant::now(),
        }
    }
}

impl Default for SystemClock {
    fn default() -> Self {
        Self::new()
    }
}

impl Clock for SystemClock {
    fn now(&self) -> Duration {
        self.start.elapsed()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration)
    }
}

pub struct TokenBucket<C: Clock> {
    clock: C,
    bytes_per_second: f64,
    capacity: f64,
    tokens: f64,
    last_refill: Duration,
}

impl<C: Clock> TokenBucket<C> {
    /// A bucket that starts empty (the first chunk waits its share too, so
    /// short copies are not faster than the rate) and holds at most
    /// `burst` bytes.
    pub fn new(clock: C, bytes_per_second: u64, burst: u64) -> Self {
        let last_refill = clock.now();
        TokenBucket {
            clock,
            bytes_per_second: bytes_per_second as f64,
            capacity: burst as f64,
            tokens: 0.0,
            last_refill,
        }
    }

    fn refill(&mut self) {
        let now = self.clock.now();
        let elapsed = now.saturating_sub(self.last_refill).as_secs_f64();
        self.last_refill = now;
        self.tokens = (self.tokens + elapsed * self.bytes_per_second).min(self.capacity);
    }

    /// How long to wait before `bytes` may pass; `None` when they may now.
    pub fn delay(&mut self, bytes: u64) -> Option<Duration> {
        self.refill();
        // A request above the capacity waits until the bucket is full.
        let needed = (bytes as f64).min(self.capacity);
        (self.tokens < needed)
            .then(|| Duration::from_secs_f64((needed - self.tokens) / self.bytes_per_second))
    }

    /// Takes `bytes` out of the bucket (after [`delay`](Self::delay) said yes).
    pub fn consume(&mut self, bytes: u64) {
        self.tokens -= bytes as f64;
    }

    /// Waits until `bytes` may pass, in slices of at most `slice` so the
    /// caller can give up (`stop` returns true) without waiting it out.
    /// Returns false when stopped.
    pub fn acquire(&mut self, bytes: u64, slice: Duration, stop: impl Fn() -> bool) -> bool {
        while let Some(wait) = self.delay(bytes) {
            if stop() {
                return false;
            }
            self.clock.sleep(wait.min(slice));
        }
        self.consume(bytes);
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_switch_measures_the_rate_of_reading_alone_and_lifts_once_told() {
        let switch = ThrottleSwitch::default();
        assert_eq!(switch.full_rate(), 0.0);
        switch.record(4 << 20, Duration::from_millis(10));
        switch.record(4 << 20, Duration::from_millis(30));
        assert!((switch.full_rate() - 200.0 * (1 << 20) as f64).abs() < 1.0);
        assert_eq!(switch.bytes_read(), 8 << 20);
        assert!(!switch.is_lifted());
        switch.lift();
        assert!(switch.is_lifted());
    }
    use std::cell::Cell;

    /// A clock that moves only when slept on (or when told to).
    #[derive(Default)]
    struct FakeClock {
        now: Cell<Duration>,
    }

    impl Clock for &FakeClock {
        fn now(&self) -> Duration {
            self.now.get()
        }
        fn sleep(&self, duration: Duration) {
            self.now.set(self.now.get() + duration);
        }
    }

    const MIB: u64 = 1 << 20;

    #[test]
    fn sustained_rate_is_the_target() {
        let clock = FakeClock::default();
        let mut bucket = TokenBucket::new(&clock, 64 * MIB, 4 * MIB);
        for _ in 0..160 {
            assert!(bucket.acquire(4 * MIB, Duration::from_millis(100), || false));
        }
        // 640 MiB at 64 MiB/s: exactly 10 s, not a chunk's worth less.
        let elapsed = clock.now.get().as_secs_f64();
        assert!((elapsed - 10.0).abs() < 1e-6, "{elapsed}");
    }

    #[test]
    fn work_between_chunks_is_not_added_to_the_wait() {
        let clock = FakeClock::default();
        let mut bucket = TokenBucket::new(&clock, 64 * MIB, 4 * MIB);
        for _ in 0..160 {
            bucket.acquire(4 * MIB, Duration::from_secs(1), || false);
            // Reading the chunk itself takes 20 ms.
            (&clock).sleep(Duration::from_millis(20));
        }
        let elapsed = clock.now.get().as_secs_f64();
        // The last chunk's 20 ms is the only extra.
        assert!((elapsed - 10.02).abs() < 1e-6, "{elapsed}");
    }

    #[test]
    fn a_pause_buys_at_most_one_chunk_of_burst() {
        let clock = FakeClock::default();
        let mut bucket = TokenBucket::new(&clock, 64 * MIB, 4 * MIB);
        (&clock).sleep(Duration::from_secs(60));
        assert_eq!(bucket.delay(4 * MIB), None);
        bucket.consume(4 * MIB);
        // The second chunk after the pause waits its full share.
        let wait = bucket.delay(4 * MIB).unwrap().as_secs_f64();
        assert!((wait - 1.0 / 16.0).abs() < 1e-9, "{wait}");
    }

    #[test]
    fn waits_in_slices_and_can_be_stopped() {
        let clock = FakeClock::default();
        let mut bucket = TokenBucket::new(&clock, MIB, 4 * MIB);
        let checks = Cell::new(0);
        let stopped = !bucket.acquire(4 * MIB, Duration::from_millis(100), || {
            checks.set(checks.get() + 1);
            checks.get() > 5
        });
        assert!(stopped);
        // Five slices of 100 ms slept, not the whole 4 s.
        assert_eq!(clock.now.get(), Duration::from_millis(500));
    }

    #[test]
    fn smaller_last_chunk_waits_its_own_share() {
        let clock = FakeClock::default();
        let mut bucket = TokenBucket::new(&clock, 64 * MIB, 4 * MIB);
        bucket.acquire(MIB, Duration::from_secs(1), || false);
        let elapsed = clock.now.get().as_secs_f64();
        assert!((elapsed - 1.0 / 64.0).abs() < 1e-9, "{elapsed}");
    }
}
