// SPDX-License-Identifier: GPL-2.0

//! `dmsetup status` and `dmsetup table` output (format documented in
//! docs/dm-remap.rst; tests check every field).

use super::RemapTarget;
use crate::dm::{Emitter, StatusKind, Ti};
use crate::engine::{Event, Mode};
use crate::VERSION;
use core::fmt::Write;

/// The mode word of the status line.
pub(super) fn mode_text(mode: Mode) -> &'static str {
    match mode {
        Mode::Ok => "ok",
        Mode::Degraded => "degraded",
        Mode::SpareExhausted => "spare-exhausted",
        Mode::ObserveOnly => "observe-only",
        Mode::Failed => "failed",
    }
}

/// A table event, in words for the kernel log.
pub(super) fn event_text(event: Event) -> &'static str {
    match event {
        Event::SpareUsage(75) => "spare pool 75% used",
        Event::SpareUsage(90) => "spare pool 90% used",
        Event::SpareUsage(_) => "spare pool exhausted",
        Event::ModeChanged(Mode::Ok) => "mode changed to ok",
        Event::ModeChanged(Mode::Degraded) => "mode changed to degraded",
        Event::ModeChanged(Mode::SpareExhausted) => "mode changed to spare-exhausted",
        Event::ModeChanged(Mode::ObserveOnly) => "mode changed to observe-only",
        Event::ModeChanged(Mode::Failed) => "mode changed to failed",
    }
}

fn write_features(t: &RemapTarget, out: &mut Emitter<'_>) -> core::fmt::Result {
    let f = &t.features;
    if f.count() == 0 {
        return Ok(());
    }
    write!(out, " {}", f.count())?;
    if let Some(v) = f.block_size {
        write!(out, " block_size {v}")?;
    }
    if let Some(v) = f.read_retries {
        write!(out, " read_retries {v}")?;
    }
    if f.no_auto_remap {
        write!(out, " no_auto_remap")?;
    }
    if let Some(v) = f.scan_rate {
        write!(out, " scan_rate {v}")?;
    }
    Ok(())
}

/// Write the status (`Info`), table line (`Table`) or IMA record.
pub(super) fn emit(t: &RemapTarget, _ti: &Ti, kind: StatusKind, out: &mut Emitter<'_>) {
    let main = t.main.name().to_str().unwrap_or("?");
    let spare = t.spare.name().to_str().unwrap_or("?");
    // Output that does not fit is cut off by `Emitter` (like DMEMIT) and dm
    // core retries with a bigger buffer.
    let _ = match kind {
        StatusKind::Info => {
            let worker = t.lock_worker();
            let s = worker.engine.status();
            write!(
                out,
                "{VERSION} {} {}/{} {} {} {} {} {} {}/{} {}",
                mode_text(s.mode),
                s.remapped_blocks,
                s.spare_total,
                s.pending_blocks,
                s.spare_bad,
                s.read_errors,
                s.write_errors,
                s.generation,
                s.scanner_cursor,
                s.main_blocks,
                super::scan::state_word(&worker)
            )
        }
        StatusKind::Table => write!(
            out,
            "{main} {} {spare} {} {}",
            t.main_offset, t.spare_offset, t.spare_len
        )
        .and_then(|()| write_features(t, out)),
        StatusKind::Ima => write!(
            out,
            "target_name=remap,target_version={VERSION},main_dev={main},main_offset={},spare_dev={spare},spare_offset={},spare_len={},block_size={};",
            t.main_offset, t.spare_offset, t.spare_len, t.block_size
        ),
    };
}
