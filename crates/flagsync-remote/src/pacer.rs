//! Client-side request pacing shared by all tasks using one client.

use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{RemoteError, Result};

/// Hands out send slots spaced `1 / requests_per_second` apart.
///
/// Every request reserves the next free slot under a short lock and then sleeps until it, so
/// any number of concurrent tasks together never exceed the rate (no bursts: CloudBees counts
/// one request per second per caller, and a burst would earn HTTP 555 answers). A server
/// `Retry-After` pushes the next slot for everyone through [`Pacer::hold_until`].
#[derive(Debug)]
pub struct Pacer {
    /// `None` means unlimited.
    interval: Option<Duration>,
    next: Mutex<Option<Instant>>,
}

impl Pacer {
    /// A pacer for `requests_per_second`; `f64::INFINITY` means unlimited.
    pub fn new(requests_per_second: f64) -> Result<Self> {
        let interval = interval_for(requests_per_second)?;
        Ok(Self {
            interval,
            next: Mutex::new(None),
        })
    }

    /// A pacer that never waits.
    pub fn unlimited() -> Self {
        Self {
            interval: None,
            next: Mutex::new(None),
        }
    }

    /// Spacing between two requests, `None` when unlimited.
    pub fn interval(&self) -> Option<Duration> {
        self.interval
    }

    /// Waits for this caller's slot.
    pub async fn acquire(&self) {
        let slot = self.reserve(Instant::now());
        if slot > Instant::now() {
            tokio::time::sleep_until(slot).await;
        }
    }

    /// Reserves the next slot at or after `now` and returns it. Pure bookkeeping (no sleep),
    /// which keeps the arithmetic testable.
    pub(crate) fn reserve(&self, now: Instant) -> Instant {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = match *next {
            Some(n) if n > now => n,
            _ => now,
        };
        match self.interval {
            Some(iv) => *next = Some(slot + iv),
            // Unlimited: only a hold set by `hold_until` delays anyone; once it passed, forget it.
            None => {
                if next.is_some_and(|n| n <= now) {
                    *next = None;
                }
            }
        }
        slot
    }

    /// No request leaves before `until` (used when the server says `Retry-After`).
    pub fn hold_until(&self, until: Instant) {
        let mut next = self
            .next
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if next.is_none_or(|n| n < until) {
            *next = Some(until);
        }
    }
}

fn interval_for(rps: f64) -> Result<Option<Duration>> {
    if rps.is_nan() || rps <= 0.0 {
        return Err(RemoteError::InvalidSettings {
            setting: "requests_per_second",
            reason: format!("must be a positive number or infinity (unlimited), got {rps}"),
        });
    }
    if rps.is_infinite() {
        return Ok(None);
    }
    let secs = 1.0 / rps;
    // Rates above a million per second are unlimited for every practical purpose.
    if secs < 1e-6 {
        return Ok(None);
    }
    Duration::try_from_secs_f64(secs)
        .map(Some)
        .map_err(|e| RemoteError::InvalidSettings {
            setting: "requests_per_second",
            reason: e.to_string(),
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[test]
    fn rejects_nonsense_rates() {
        assert!(Pacer::new(0.0).is_err());
        assert!(Pacer::new(-1.0).is_err());
        assert!(Pacer::new(f64::NAN).is_err());
        assert_eq!(Pacer::new(f64::INFINITY).unwrap().interval(), None);
        assert_eq!(
            Pacer::new(1.0).unwrap().interval(),
            Some(Duration::from_secs(1))
        );
        assert_eq!(
            Pacer::new(50.0).unwrap().interval(),
            Some(Duration::from_millis(20))
        );
        assert_eq!(
            Pacer::new(0.5).unwrap().interval(),
            Some(Duration::from_secs(2))
        );
    }

    #[test]
    fn slots_are_spaced_by_the_interval() {
        let p = Pacer::new(2.0).unwrap();
        let t0 = Instant::now();
        let slots: Vec<_> = (0..4).map(|_| p.reserve(t0)).collect();
        let offsets: Vec<_> = slots.iter().map(|s| *s - t0).collect();
        assert_eq!(
            offsets,
            vec![
                Duration::ZERO,
                Duration::from_millis(500),
                Duration::from_millis(1000),
                Duration::from_millis(1500)
            ]
        );
    }

    #[test]
    fn idle_time_is_not_banked_as_a_burst() {
        let p = Pacer::new(1.0).unwrap();
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), t0);
        // Ten idle seconds later, two requests must still be a second apart.
        let later = t0 + Duration::from_secs(10);
        assert_eq!(p.reserve(later), later);
        assert_eq!(p.reserve(later), later + Duration::from_secs(1));
    }

    #[test]
    fn hold_delays_everyone_even_when_unlimited() {
        let p = Pacer::unlimited();
        let t0 = Instant::now();
        assert_eq!(p.reserve(t0), t0);
        p.hold_until(t0 + Duration::from_secs(3));
        assert_eq!(p.reserve(t0), t0 + Duration::from_secs(3));
        assert_eq!(p.reserve(t0), t0 + Duration::from_secs(3));
        // An earlier hold does not shorten a later one.
        p.hold_until(t0 + Duration::from_secs(1));
        assert_eq!(p.reserve(t0), t0 + Duration::from_secs(3));
        let after = t0 + Duration::from_secs(4);
        assert_eq!(p.reserve(after), after);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_tasks_share_the_rate() {
        // Virtual time: deterministic, no wall-clock assertions.
        let p = Arc::new(Pacer::new(4.0).unwrap());
        let t0 = Instant::now();
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..8 {
            let p = Arc::clone(&p);
            set.spawn(async move {
                p.acquire().await;
                Instant::now()
            });
        }
        let mut times = Vec::new();
        while let Some(t) = set.join_next().await {
            times.push(t.unwrap() - t0);
        }
        times.sort();
        for pair in times.windows(2) {
            assert!(pair[1] - pair[0] >= Duration::from_millis(250), "{times:?}");
        }
        assert!(times[7] >= Duration::from_millis(1750));
    }
}
