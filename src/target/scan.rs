// SPDX-License-Identifier: GPL-2.0

//! The background scanner: reads the main device in rate-limited windows
//! from the worker, between the bios it handles, so that weak blocks are
//! rescued and unreadable ones marked pending before a user reads them.
//!
//! Schedule: a pass starts `scan_interval_hours` after the previous pass
//! ended (or after the table was loaded); a pass that was interrupted (the
//! persisted cursor is not at block 0) continues as soon as the device is
//! resumed.  `scan start` / `scan stop` messages start a pass now or hold
//! the scanner; `enable_background_scanning=0` pauses every scanner.
//! Nothing is read while the device is suspended.

use super::{params, Core, Worker};
use crate::dm::misc::now_ns;
use crate::dm::{param, WorkRef};
use crate::engine::{is_media_error, IoTarget};

/// Blocks per scanner window.  Each block is read on its own: a failed
/// multi-block read followed by good single-block reads could not tell
/// which block was weak.
pub(super) const WINDOW_BLOCKS: u64 = 64;
/// Windows one worker run may scan before it lets other work in.
pub(super) const WINDOWS_PER_RUN: u64 = 8;
/// How often a paused or idle scanner looks at its parameters again.
const PARAM_POLL_MS: u32 = 2_000;
const IDLE_POLL_MS: u64 = 60_000;
const NS_PER_MS: u64 = 1_000_000;
const NS_PER_HOUR: u64 = 3_600 * 1_000_000_000;

/// Default scanner rate in blocks per second (the `scan_rate` feature).
pub(super) const DEFAULT_SCAN_RATE: u64 = 256;

/// What the scanner is doing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum ScanState {
    /// Waiting for the next pass.
    Idle,
    /// A pass is in progress.
    Running,
    /// Held by `scan stop` until `scan start`.
    Stopped,
}

/// The scanner's state (in [`Worker`], under its mutex).
pub struct ScanControl {
    state: ScanState,
    /// When the scanner last became idle (monotonic ns).
    idle_since_ns: u64,
    passes_seen: u64,
}

impl ScanControl {
    /// A scanner for a device whose persisted cursor is `cursor`.
    pub(super) fn new(cursor: u64) -> Self {
        Self {
            state: if cursor > 0 {
                ScanState::Running
            } else {
                ScanState::Idle
            },
            idle_since_ns: now_ns(),
            passes_seen: 0,
        }
    }
}

fn enabled() -> bool {
    param::get(&params::enable_background_scanning) == 1
}

/// The status word: `running`, `idle`, `stopped` or `off`.
pub(super) fn state_word(worker: &Worker) -> &'static str {
    if !enabled() || worker.engine.config().scan_rate == 0 {
        return "off";
    }
    match worker.scan.state {
        ScanState::Idle => "idle",
        ScanState::Running => "running",
        ScanState::Stopped => "stopped",
    }
}

/// `scan start`: begin (or continue) a pass now.
pub(super) fn start(worker: &mut Worker) -> Result<(), &'static str> {
    if !enabled() {
        return Err("background scanning is disabled (enable_background_scanning=0)");
    }
    if worker.engine.config().scan_rate == 0 {
        return Err("this device's scan_rate is 0");
    }
    worker.scan.state = ScanState::Running;
    Ok(())
}

/// `scan stop`: hold the scanner; its cursor is recorded so a later pass
/// (or load) resumes at the exact block.
pub(super) fn stop(worker: &mut Worker) -> Result<(), crate::engine::PolicyError> {
    worker.scan.state = ScanState::Stopped;
    worker.engine.checkpoint_scan()?;
    worker.engine.commit()
}

/// One scheduling step of the scanner (worker context); queues the next.
pub(super) fn step(s: &Core, work: &WorkRef<'_>) {
    if s.suspended.load(core::sync::atomic::Ordering::SeqCst) {
        return;
    }
    let mut worker = s.lock_worker();
    let rate = worker.engine.config().scan_rate;
    if worker.scan.state == ScanState::Stopped || rate == 0 {
        return;
    }
    if !enabled() {
        work.queue_after(PARAM_POLL_MS);
        return;
    }
    let now = now_ns();
    if worker.scan.state == ScanState::Idle {
        let interval = u64::from(param::get(&params::scan_interval_hours)) * NS_PER_HOUR;
        let waited = now.saturating_sub(worker.scan.idle_since_ns);
        if waited < interval {
            let ms = ((interval - waited) / NS_PER_MS).clamp(1, IDLE_POLL_MS);
            work.queue_after(ms as u32);
            return;
        }
        worker.scan.state = ScanState::Running;
    }
    for _ in 0..WINDOWS_PER_RUN {
        let Some(window) = worker.engine.scan_window(now_ns(), WINDOW_BLOCKS) else {
            break;
        };
        for block in window.start..window.start + window.count {
            scan_block(s, &mut worker, block, work);
        }
        if let Err(e) = worker.engine.scan_advance(window.count) {
            crate::dm_err_limit!("scanner: cannot record progress: {}", e.as_str());
        }
        let passes = worker.engine.status().scanner_passes;
        if passes != worker.scan.passes_seen {
            worker.scan.passes_seen = passes;
            worker.scan.state = ScanState::Idle;
            worker.scan.idle_since_ns = now_ns();
            if param::get(&params::dm_remap_debug) >= 1 {
                crate::dm_info!(
                    "{}: scan pass complete",
                    s.main.name().to_str().unwrap_or("?")
                );
            }
            break;
        }
    }
    if worker.engine.needs_commit() {
        if let Err(e) = worker.engine.commit() {
            crate::dm_err_limit!("scanner: metadata commit failed: {}", e.as_str());
        }
    }
    s.raise_events(&mut worker);
    let ms = match worker.scan.state {
        // Time until the rate limit allows the next full window.
        ScanState::Running => (WINDOW_BLOCKS * 1000 / rate.max(1)).clamp(1, 1000),
        _ => IDLE_POLL_MS.min(u64::from(param::get(&params::scan_interval_hours)) * 3_600_000),
    };
    work.queue_after(ms as u32);
}

/// Read one block where it lives, with retries, and act on the result.
fn scan_block(s: &Core, worker: &mut Worker, block: u64, work: &WorkRef<'_>) {
    let route = worker.engine.table().route_read(block);
    let (dev, sector, target) = s.location(worker, block, route);
    let Worker {
        engine, block_buf, ..
    } = &mut *worker;
    let io = engine.device_mut().io();
    let mut failures = 0;
    let readable = loop {
        match io.read_block(dev, sector, block_buf) {
            Ok(()) => break true,
            Err(e) if !is_media_error(e.0) => {
                // The device, not the block: no verdict on this block
                // (it is looked at again in the next pass).
                crate::dm_warn_limit!(
                    "scanner: block {block} not checked: read failed with status {} (not a media error)",
                    e.0
                );
                return;
            }
            Err(_) => {}
        }
        failures += 1;
        if failures > s.read_retries() {
            break false;
        }
    };
    match (readable, failures) {
        (true, 0) => {
            if matches!(target, IoTarget::Main) {
                // A pending block that reads again is healthy.
                let _ = worker.engine.on_read_ok(block);
            }
        }
        (true, _) => super::recover::rescue_weak(s, worker, block, target, work),
        (false, _) => match worker.engine.on_read_error(block, target) {
            Ok(_) => {
                crate::dm_err_limit!("scanner: block {block} unreadable; pending until rewritten")
            }
            Err(e) => crate::dm_err_limit!("scanner: block {block} unreadable: {}", e.as_str()),
        },
    }
}
