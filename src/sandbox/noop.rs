//! NoOpRequest, including the `wait="1"` long poll: held until new mail arrives, a
//! newer wait of the same account takes over (`waitDisallowed="1"`), or the timeout
//! (capped) passes. Dropping the HTTP request drops the wait.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use tokio::sync::Notify;

use crate::soap::{Element, Fault, NS_MAIL};

use super::call::{flag, Call};

#[derive(Default)]
struct Waiters {
    /// Woken when mail arrives for the account.
    mail: Arc<Notify>,
    /// Woken when a newer wait starts; `generation` tells the old one it lost.
    preempt: Arc<Notify>,
    generation: u64,
}

/// Per-account wake-ups for blocked NoOps.
#[derive(Default)]
pub struct NoOpHub {
    accounts: Mutex<HashMap<String, Waiters>>,
}

impl NoOpHub {
    /// New mail for `account_id`.
    pub fn wake(&self, account_id: &str) {
        if let Some(w) = self.accounts.lock().get(account_id) {
            w.mail.notify_waiters();
        }
    }

    fn begin(&self, account_id: &str) -> (u64, Arc<Notify>, Arc<Notify>) {
        let mut map = self.accounts.lock();
        let w = map.entry(account_id.to_string()).or_default();
        w.generation += 1;
        w.preempt.notify_waiters();
        (w.generation, w.mail.clone(), w.preempt.clone())
    }

    fn current(&self, account_id: &str) -> u64 {
        self.accounts
            .lock()
            .get(account_id)
            .map(|w| w.generation)
            .unwrap_or(0)
    }
}

pub async fn noop(call: &mut Call<'_>, req: &Element) -> Result<Element, Fault> {
    let account = call.account()?;
    let resp = Element::new(NS_MAIL, "NoOpResponse");
    if !flag(req, "wait")? {
        return Ok(resp);
    }
    let settings = &call.state.settings;
    let timeout = req
        .attr("timeout")
        .and_then(|t| t.parse::<u64>().ok())
        .unwrap_or(settings.noop_default_timeout_ms)
        .min(settings.noop_max_timeout_ms);
    let hub = &call.state.noop;
    let (generation, mail, preempt) = hub.begin(&account.id);
    let mail_arrived = mail.notified();
    let preempted = preempt.notified();
    tokio::select! {
        _ = tokio::time::sleep(Duration::from_millis(timeout)) => Ok(resp),
        _ = mail_arrived => Ok(resp),
        _ = preempted => {
            if hub.current(&account.id) != generation {
                Ok(resp.with_bool("waitDisallowed", true))
            } else {
                Ok(resp)
            }
        }
    }
}
