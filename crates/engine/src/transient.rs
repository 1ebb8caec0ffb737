//! Riding out transient database faults: a lost connection (server restart, terminated
//! backend, network cut), a serialization failure or a deadlock. The run pauses with bounded
//! exponential backoff, reconnects, and resumes after the last committed batch; exactly-once
//! holds because every batch commits with its checkpoint. Only a fault that lasts longer than
//! the plan's `fault_timeout_seconds` ends the run.

use std::time::{Duration, Instant};

use tokio_postgres::Client;

use crate::lock::RunLock;
use crate::pg::{self, Side};

/// The first pause after a fault; each further attempt doubles it up to [`MAX_PAUSE`].
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const MAX_PAUSE: Duration = Duration::from_secs(15);

/// Pauses between attempts during one fault: exponential, capped, and bounded in total.
#[derive(Debug)]
pub struct Backoff {
    limit: Duration,
    fault_started: Option<Instant>,
    pause: Duration,
    attempts: u32,
}

impl Backoff {
    /// Retries for up to `limit` from the fault's start (zero: never retry).
    pub fn new(limit: Duration) -> Self {
        Backoff {
            limit,
            fault_started: None,
            pause: FIRST_PAUSE,
            attempts: 0,
        }
    }

    /// The pause before the next attempt, or `None` once the fault has lasted past the limit.
    pub fn next_pause(&mut self) -> Option<Duration> {
        let started = *self.fault_started.get_or_insert_with(Instant::now);
        let elapsed = started.elapsed();
        if elapsed >= self.limit {
            return None;
        }
        let pause = self.pause.min(self.limit - elapsed);
        self.pause = (self.pause * 2).min(MAX_PAUSE);
        self.attempts += 1;
        Some(pause)
    }

    /// The work went on after the last fault: the next one starts afresh.
    pub fn reset(&mut self) {
        self.fault_started = None;
        self.pause = FIRST_PAUSE;
        self.attempts = 0;
    }

    /// Attempts made during the current fault.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// How long the current fault has lasted.
    pub fn fault_age(&self) -> Duration {
        self.fault_started.map_or(Duration::ZERO, |s| s.elapsed())
    }

    pub fn limit(&self) -> Duration {
        self.limit
    }
}

/// Connects to one side again after a fault, pausing between attempts as `backoff` says. A
/// server that is restarting refuses connections for a while, so every failure is retried
/// until the backoff gives up; then the last error is returned.
pub async fn reconnect(url: &str, side: Side, backoff: &mut Backoff) -> anyhow::Result<Client> {
    loop {
        match pg::connect(url, side).await {
            Ok(client) => return Ok(client),
            Err(e) => match backoff.next_pause() {
                Some(pause) => {
                    tracing::warn!(%side, attempt = backoff.attempts(), "reconnecting failed, trying again in {:.1} s: {e:#}", pause.as_secs_f64());
                    tokio::time::sleep(pause).await;
                }
                None => {
                    return Err(e.context(format!(
                        "the {side} could not be reached again within {} s",
                        backoff.limit().as_secs()
                    )))
                }
            },
        }
    }
}

/// Runs `work` on `client`, riding out transient faults: on one it pauses, puts a new
/// connection in `client`'s place (taking the run lock again on it when `client` held it: the
/// old session's end gave it up) and runs `work` again, until the fault has lasted `limit`.
/// `work` must be safe to repeat (each step of it commits on its own or not at all).
pub async fn with_reconnect<T>(
    client: &mut Client,
    url: &str,
    side: Side,
    limit: Duration,
    lock: Option<&RunLock>,
    mut work: impl AsyncFnMut(&mut Client) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let mut backoff = Backoff::new(limit);
    loop {
        let fault = match work(client).await {
            Err(e) if pg::is_transient(&e) => e,
            other => return other,
        };
        let Some(pause) = backoff.next_pause() else {
            return Err(fault);
        };
        tracing::warn!(%side, attempt = backoff.attempts(), "transient fault, trying again in {:.1} s: {}", pause.as_secs_f64(), pg::explain(&fault).lines().next().unwrap_or_default());
        tokio::time::sleep(pause).await;
        *client = reconnect(url, side, &mut backoff).await?;
        if let Some(lock) = lock {
            if let Err(held) = lock.reacquire(client).await? {
                let command = lock.command().to_string();
                return Err(anyhow::Error::new(held.into_error(&command)).context(
                    "the run lock was lost with the connection and another command took the target",
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pauses_double_up_to_the_cap_and_stop_at_the_limit() {
        let mut b = Backoff::new(Duration::from_secs(3600));
        let pauses: Vec<_> = (0..9).map(|_| b.next_pause().unwrap()).collect();
        assert_eq!(pauses[0], Duration::from_millis(250));
        assert_eq!(pauses[1], Duration::from_millis(500));
        assert_eq!(pauses[5], Duration::from_secs(8));
        assert_eq!(pauses[6], MAX_PAUSE);
        assert_eq!(pauses[8], MAX_PAUSE);
        assert_eq!(b.attempts(), 9);
        b.reset();
        assert_eq!(b.next_pause(), Some(FIRST_PAUSE));
    }

    #[test]
    fn zero_limit_never_retries() {
        assert_eq!(Backoff::new(Duration::ZERO).next_pause(), None);
    }

    #[test]
    fn the_last_pause_ends_at_the_limit() {
        let mut b = Backoff::new(Duration::from_millis(100));
        assert!(b.next_pause().unwrap() <= Duration::from_millis(100));
        std::thread::sleep(Duration::from_millis(120));
        assert_eq!(b.next_pause(), None);
    }
}
