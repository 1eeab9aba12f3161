//! A per-connection byte-rate limit: a token bucket, as ejabberd's shapers.
//! A client over its rate is not cut off: the edge stops reading from it
//! until the bucket refills (backpressure through TCP).

use std::time::Duration;
use tokio::time::Instant;

#[derive(Debug)]
pub struct TokenBucket {
    rate: u64,
    burst: u64,
    tokens: f64,
    at: Instant,
}

impl TokenBucket {
    /// `rate` bytes per second, at most `burst` at once. `rate == 0`: no limit.
    pub fn new(rate: u64, burst: u64) -> Self {
        TokenBucket {
            rate,
            burst,
            tokens: burst as f64,
            at: Instant::now(),
        }
    }

    /// Takes `n` bytes' worth. Returns how long to wait before reading
    /// again (zero while within the rate).
    pub fn take(&mut self, n: usize) -> Duration {
        if self.rate == 0 {
            return Duration::ZERO;
        }
        let now = Instant::now();
        let refill = now.duration_since(self.at).as_secs_f64() * self.rate as f64;
        self.at = now;
        self.tokens = (self.tokens + refill).min(self.burst as f64) - n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate as f64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn refills_at_the_rate() {
        let mut b = TokenBucket::new(1000, 2000);
        assert_eq!(b.take(2000), Duration::ZERO);
        let wait = b.take(500);
        assert_eq!(wait, Duration::from_millis(500));
        tokio::time::advance(Duration::from_secs(10)).await;
        // capped at the burst
        assert_eq!(b.take(2000), Duration::ZERO);
        assert!(b.take(1) > Duration::ZERO);
        assert_eq!(TokenBucket::new(0, 0).take(1 << 30), Duration::ZERO);
    }
}
