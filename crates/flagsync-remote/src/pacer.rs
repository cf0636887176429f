//! Client-side request pacing shared by all tasks using one client.

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

use crate::error::{RemoteError, Result};

/// Hands out send slots spaced `1 / rate` apart, the rate adapting to the server's answers.
///
/// Every request reserves the next free slot under a short lock and then sleeps until it, so
/// any number of concurrent tasks together never exceed the rate (no bursts: CloudBees counts
/// requests per second per caller, and a burst would earn HTTP 555 answers). A server
/// `Retry-After` pushes the next slot for everyone through [`Pacer::hold_until`].
///
/// The rate starts at the configured one and adapts like TCP congestion control
/// (multiplicative decrease, additive increase). A rate-limit answer ([`Pacer::slow_down`])
/// cuts the rate to 0.7 of itself, and to no more than what the service accepted in the
/// last second (the window it counts requests in), at most once per round: answers to
/// requests sent before the cut say nothing new. The next request then waits until the
/// oldest accepted request of that second has left the service's window. Each success
/// ([`Pacer::speed_up`]) adds a little back, a tenth of the accepted rate per second, up to
/// the configured rate. A client set faster than the service allows settles just under the
/// service's limit instead of retrying at its own rate.
#[derive(Debug)]
pub struct Pacer {
    /// The configured rate, as a spacing; `None` means unlimited (and never adapts).
    min_interval: Option<Duration>,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    next: Option<Instant>,
    /// Requests per second now (the configured rate until the first slow-down).
    rate: f64,
    /// When the rate was last cut: rate-limit answers to requests sent before are ignored.
    cut_at: Option<Instant>,
    /// Requests per second regained per second of successes.
    step: f64,
    /// Counts cuts and holds: a slot given out in an earlier epoch is not used.
    epoch: u64,
    /// When the requests the service accepted in the last [`WINDOW`] were sent.
    accepted: VecDeque<Instant>,
}

/// The slowest the rate is cut to: one request every ten seconds.
const MIN_RATE: f64 = 0.1;
/// What a cut keeps of the rate (CUBIC's β: halving, as Reno does, wastes more).
const DECREASE: f64 = 0.7;
/// The span a service counts requests in: CloudBees documents requests per second.
const WINDOW: Duration = Duration::from_secs(1);

impl Pacer {
    /// A pacer for `requests_per_second`; `f64::INFINITY` means unlimited.
    pub fn new(requests_per_second: f64) -> Result<Self> {
        let min_interval = interval_for(requests_per_second)?;
        Ok(Self::with(min_interval, requests_per_second))
    }

    /// A pacer that never waits.
    pub fn unlimited() -> Self {
        Self::with(None, f64::INFINITY)
    }

    fn with(min_interval: Option<Duration>, rate: f64) -> Self {
        Self {
            min_interval,
            state: Mutex::new(State {
                next: None,
                rate,
                cut_at: None,
                step: 0.0,
                epoch: 0,
                accepted: VecDeque::new(),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Spacing between two requests now, `None` when unlimited.
    pub fn interval(&self) -> Option<Duration> {
        self.min_interval?;
        Some(Duration::from_secs_f64(1.0 / self.lock().rate))
    }

    /// Requests per second now.
    pub fn rate(&self) -> f64 {
        self.lock().rate
    }

    /// Waits for this caller's slot, and returns it (when the request leaves), for
    /// [`Pacer::slow_down`]. A slot given out before the rate was cut or a hold was set is
    /// given up for a new one: it was spaced for a rate the server just refused.
    pub async fn acquire(&self) -> Instant {
        loop {
            let (slot, epoch) = self.reserve_in_epoch(Instant::now());
            if slot > Instant::now() {
                tokio::time::sleep_until(slot).await;
            }
            if self.lock().epoch == epoch {
                return slot;
            }
        }
    }

    /// Reserves the next slot at or after `now` and returns it. Pure bookkeeping (no sleep),
    /// which keeps the arithmetic testable.
    #[cfg(test)]
    pub(crate) fn reserve(&self, now: Instant) -> Instant {
        self.reserve_in_epoch(now).0
    }

    fn reserve_in_epoch(&self, now: Instant) -> (Instant, u64) {
        let limited = self.min_interval.is_some();
        let mut state = self.lock();
        let slot = match state.next {
            Some(n) if n > now => n,
            _ => now,
        };
        if limited {
            let interval = Duration::from_secs_f64(1.0 / state.rate);
            state.next = Some(slot + interval);
        } else if state.next.is_some_and(|n| n <= now) {
            // Unlimited: only a hold set by `hold_until` delays anyone; once it passed, forget it.
            state.next = None;
        }
        (slot, state.epoch)
    }

    /// The server answered the request sent at `sent` with a rate-limit answer (429, 555):
    /// cut the rate, unless it was already cut after that request left.
    pub fn slow_down(&self, sent: Instant) {
        self.slow_down_at(sent, Instant::now());
    }

    pub(crate) fn slow_down_at(&self, sent: Instant, now: Instant) {
        let Some(min_interval) = self.min_interval else {
            return;
        };
        let mut state = self.lock();
        if state.cut_at.is_some_and(|cut| sent < cut) {
            return;
        }
        forget_before(&mut state.accepted, now);
        let accepted = state.accepted.len() as f64 / WINDOW.as_secs_f64();
        let configured = 1.0 / min_interval.as_secs_f64();
        let mut rate = state.rate * DECREASE;
        if accepted > 0.0 {
            rate = rate.min(accepted);
        }
        state.rate = rate.max(MIN_RATE.min(configured));
        state.step = if accepted > 0.0 { accepted } else { state.rate } / 10.0;
        state.cut_at = Some(now);
        // Slots given out at the old rate and not yet used are taken back (see `acquire`).
        // The service lets the next request in once the oldest it accepted in its window
        // has left it.
        let spaced = now + Duration::from_secs_f64(1.0 / state.rate);
        let drained = state
            .accepted
            .front()
            .map_or(now, |oldest| *oldest + WINDOW);
        state.next = Some(spaced.max(drained));
        state.epoch += 1;
        tracing::debug!(rate = state.rate, "rate limited: slowing down");
    }

    /// The request sent at `sent` succeeded: regain speed, `step` requests per second per
    /// second, up to the configured rate.
    pub fn speed_up(&self, sent: Instant) {
        self.speed_up_at(sent, Instant::now());
    }

    pub(crate) fn speed_up_at(&self, sent: Instant, now: Instant) {
        let Some(min_interval) = self.min_interval else {
            return;
        };
        let mut state = self.lock();
        state.accepted.push_back(sent);
        forget_before(&mut state.accepted, now);
        let configured = 1.0 / min_interval.as_secs_f64();
        if state.rate < configured {
            // Successes come `rate` a second: each adds `step / rate`.
            state.rate = (state.rate + state.step / state.rate).min(configured);
        }
    }

    /// Whether the rate adapts ([`Pacer::slow_down`]); an unlimited pacer has no rate to cut.
    pub fn adapts(&self) -> bool {
        self.min_interval.is_some()
    }

    /// No request leaves before `until` (used when the server says `Retry-After`).
    pub fn hold_until(&self, until: Instant) {
        let mut state = self.lock();
        if state.next.is_none_or(|n| n < until) {
            state.next = Some(until);
            state.epoch += 1;
        }
    }
}

/// Drops the accepted requests that left the service's window before `now`.
fn forget_before(accepted: &mut VecDeque<Instant>, now: Instant) {
    while accepted
        .front()
        .is_some_and(|t| now.saturating_duration_since(*t) >= WINDOW)
    {
        accepted.pop_front();
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
    fn a_rate_limit_cuts_to_what_was_accepted_and_successes_bring_it_back() {
        let p = Pacer::new(50.0).unwrap();
        let t0 = Instant::now();
        // Five accepted in the first 100 ms, then the sixth refused.
        for i in 0..5 {
            let sent = p.reserve(t0);
            p.speed_up_at(sent, t0 + Duration::from_millis(20 * i));
        }
        let refused = p.reserve(t0);
        p.slow_down_at(refused, t0 + Duration::from_millis(120));
        assert_eq!(p.rate(), 5.0);
        // The next request waits until the first accepted one left the one-second window.
        assert_eq!(p.reserve(t0), t0 + WINDOW);
        // Refusals of requests sent before the cut say nothing new.
        p.slow_down_at(refused, t0 + Duration::from_millis(130));
        assert_eq!(p.rate(), 5.0);
        // A second later nothing accepted is left in the window: the cut keeps 0.7 of the
        // rate, and the increase is a tenth of that per second (0.35/s): about five and a
        // half seconds of successes from 3.5 back to 5.5.
        p.slow_down_at(t0 + WINDOW, t0 + WINDOW);
        assert!((p.rate() - 3.5).abs() < 1e-9, "{}", p.rate());
        let mut elapsed = Duration::ZERO;
        while p.rate() < 5.5 {
            elapsed += Duration::from_secs_f64(1.0 / p.rate());
            let at = t0 + WINDOW + elapsed;
            p.speed_up_at(at, at);
        }
        assert!((4.5..6.0).contains(&elapsed.as_secs_f64()), "{elapsed:?}");
        // Never past the configured rate.
        for _ in 0..10_000 {
            p.speed_up_at(t0, t0);
        }
        assert_eq!(p.rate(), 50.0);
    }

    #[test]
    fn the_rate_never_drops_below_one_request_in_ten_seconds() {
        let p = Pacer::new(1.0).unwrap();
        let t0 = Instant::now();
        for i in 0..40 {
            let at = t0 + Duration::from_secs(i);
            p.slow_down_at(at, at);
        }
        assert_eq!(p.rate(), MIN_RATE);
        let unlimited = Pacer::unlimited();
        unlimited.slow_down(Instant::now());
        assert_eq!(unlimited.interval(), None);
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
