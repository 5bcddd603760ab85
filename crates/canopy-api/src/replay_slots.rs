//! How many replays each organisation runs at once. A replay re-sends a whole session through
//! the providers, so an organisation may run at most [`MAX_REPLAYS_PER_ORG`] at a time; one
//! more is refused (429) rather than queued behind the others. A slot is held by the replay's
//! job, whichever route started it, until the job ends.
//!
//! What must not go here: the replay itself (`replay/`).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Replays one organisation may run at once.
pub const MAX_REPLAYS_PER_ORG: usize = 2;

/// The replays running, per organisation; cloned into every handler.
#[derive(Debug, Clone, Default)]
pub struct ReplaySlots(Arc<Mutex<HashMap<String, usize>>>);

impl ReplaySlots {
    /// A slot for one replay of `org`, or `None` when it already runs the most it may. The slot
    /// is given back when dropped: when the replay's job ends (done, cancelled or failed).
    pub fn try_take(&self, org: &str) -> Option<ReplaySlot> {
        let mut running = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        let count = running.entry(org.to_owned()).or_insert(0);
        if *count >= MAX_REPLAYS_PER_ORG {
            return None;
        }
        *count += 1;
        Some(ReplaySlot {
            slots: self.clone(),
            org: org.to_owned(),
        })
    }
}

/// One running replay's place; see [`ReplaySlots::try_take`].
#[derive(Debug)]
pub struct ReplaySlot {
    slots: ReplaySlots,
    org: String,
}

impl Drop for ReplaySlot {
    fn drop(&mut self) {
        let mut running = self.slots.0.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = running.get_mut(&self.org) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                running.remove(&self.org);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_organisation_runs_at_most_its_share_and_a_finished_replay_frees_its_slot() {
        let slots = ReplaySlots::default();
        let first = slots.try_take("a").expect("a first replay");
        let second = slots.try_take("a").expect("a second replay");
        assert!(slots.try_take("a").is_none(), "a third is refused");
        let other = slots
            .try_take("b")
            .expect("another organisation has its own slots");
        drop(first);
        let third = slots.try_take("a").expect("a freed slot is taken again");
        drop((second, third, other));
        assert!(slots.0.lock().unwrap().is_empty(), "nothing is left behind");
    }
}
