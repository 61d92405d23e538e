//! Types of the per-block error policy and the status/event reporting.
//! The state machine itself is driven through [`super::engine::Engine`]:
//!
//! ```text
//!            write error (whole block)           complete_remap + commit
//! healthy ───────────────────────────► BUSY ─────────────────────────► REMAPPED
//!    │                                   ▲  └── fail_remap ──► previous state
//!    │ read error (after retries)        │ whole-block write / weak read
//!    ▼                                   │
//! PENDING ───────────────────────────────┘
//!    │ read succeeds later: on_read_ok ──► healthy
//!
//! REMAPPED, spare write error ──► old spare marked bad ──► BUSY (new spare)
//! REMAPPED, spare read error  ──► old spare marked bad, REMAPPED|PENDING
//! ```

/// Operating mode reported in the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// All errors so far were handled.
    Ok,
    /// Pending (unreadable, not yet rewritten) blocks exist, or the spare
    /// pool is at least 90% consumed.
    Degraded,
    /// No free spare block is left: further write errors are passed up.
    SpareExhausted,
    /// Errors are counted, nothing is remapped (real_device_mode=0).
    ObserveOnly,
    /// Metadata could not be written: nothing more is remapped until the
    /// target is reloaded.
    Failed,
}

impl Mode {
    /// Status-line spelling.
    pub fn as_str(&self) -> &'static str {
        match self {
            Mode::Ok => "ok",
            Mode::Degraded => "degraded",
            Mode::SpareExhausted => "spare-exhausted",
            Mode::ObserveOnly => "observe-only",
            Mode::Failed => "failed",
        }
    }
}

/// Which device an I/O that failed went to, as routed by the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IoTarget {
    /// The main device.
    Main,
    /// Spare data block `index`.
    Spare(u64),
}

/// What the policy did about a read error. Either way the caller fails the
/// read: data that cannot be read is never replaced by something else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadErrorAction {
    /// The block is now pending: the next whole-block write remaps it.
    MarkedPending,
    /// Only counted (observe-only mode, failed mode, or pending limit).
    Recorded,
}

/// A remap in progress, returned by `begin_remap`: write the block's data
/// to `spare_sector` (plus the spare region offset), then call
/// `complete_remap` (or `fail_remap`), then `commit`, then acknowledge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapTicket {
    /// Main block being remapped.
    pub block: u64,
    /// Spare block allocated for it.
    pub spare: u64,
    /// First sector of that spare block, relative to the spare region.
    pub spare_sector: u64,
}

/// Counters for the status line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// Operating mode.
    pub mode: Mode,
    /// Main blocks currently remapped to a spare.
    pub remapped_blocks: u64,
    /// Main blocks pending (a read failed, awaiting a whole-block write).
    pub pending_blocks: u64,
    /// Spare blocks in the pool.
    pub spare_total: u64,
    /// Spare blocks in use (including remaps in progress).
    pub spare_used: u64,
    /// Spare blocks marked bad.
    pub spare_bad: u64,
    /// Spare blocks that can still be handed out.
    pub spare_free: u64,
    /// Read errors reported since load.
    pub read_errors: u64,
    /// Write errors reported since load.
    pub write_errors: u64,
    /// Metadata generation.
    pub generation: u64,
    /// Main blocks on the main device.
    pub main_blocks: u64,
    /// Next block the scanner reads.
    pub scanner_cursor: u64,
    /// Complete scanner passes since load.
    pub scanner_passes: u64,
}

/// Something the kernel should report with a device-mapper table event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Spare use crossed 75, 90 or 100 percent.
    SpareUsage(u8),
    /// The mode changed.
    ModeChanged(Mode),
}

/// Spare usage thresholds that raise an event, in percent.
pub const USAGE_THRESHOLDS: [u8; 3] = [75, 90, 100];

/// The highest threshold that `consumed` of `total` spare blocks reaches
/// (0 if none). Integer arithmetic only.
pub fn usage_level(consumed: u64, total: u64) -> u8 {
    let mut level = 0;
    for threshold in USAGE_THRESHOLDS {
        let scaled = u128::from(consumed) * 100;
        if total > 0 && scaled >= u128::from(total) * u128::from(threshold) {
            level = threshold;
        }
    }
    level
}

/// Remembers what was last reported so each crossing is reported once.
#[derive(Clone, Copy, Debug)]
pub struct EventTracker {
    reported_level: u8,
    reported_mode: Mode,
}

impl EventTracker {
    /// Starts from the state at load time (no event for what already was).
    pub fn new(status: &Status) -> EventTracker {
        EventTracker {
            reported_level: usage_level(
                status.spare_total.saturating_sub(status.spare_free),
                status.spare_total,
            ),
            reported_mode: status.mode,
        }
    }

    /// The next event to raise for `status`, if any. A mode change is
    /// reported first; call again until it returns `None`.
    pub fn poll(&mut self, status: &Status) -> Option<Event> {
        if status.mode != self.reported_mode {
            self.reported_mode = status.mode;
            return Some(Event::ModeChanged(status.mode));
        }
        let level = usage_level(
            status.spare_total.saturating_sub(status.spare_free),
            status.spare_total,
        );
        if level > self.reported_level {
            self.reported_level = level;
            return Some(Event::SpareUsage(level));
        }
        // Usage can drop (an aborted remap frees its block): re-arm.
        self.reported_level = level;
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usage_levels() {
        assert_eq!(usage_level(0, 100), 0);
        assert_eq!(usage_level(74, 100), 0);
        assert_eq!(usage_level(75, 100), 75);
        assert_eq!(usage_level(89, 100), 75);
        assert_eq!(usage_level(90, 100), 90);
        assert_eq!(usage_level(100, 100), 100);
        assert_eq!(usage_level(3, 4), 75);
        assert_eq!(usage_level(u64::MAX, u64::MAX), 100);
        assert_eq!(usage_level(5, 0), 0);
    }
}
