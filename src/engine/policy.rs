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

use super::error::MetaError;
use super::superblock::Superblock;

/// When the open path may format a spare region that holds no metadata it
/// can load. Formatting over data destroys it, and formatting over
/// dm-remap metadata whose superblocks were lost drops every remap (main
/// then serves stale data for those blocks), so anything but a blank
/// region takes an explicit request from the operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FormatPolicy {
    /// Only a region whose whole metadata footprint (both superblock slots,
    /// the log, both snapshot areas) reads as zero. The default.
    IfBlank,
    /// Whatever the region holds: the table feature `format`,
    /// `dm-remap format --force`.
    Overwrite,
}

/// One area of the metadata footprint (see `docs/metadata-format.md`,
/// "Regions").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaArea {
    /// Superblock slot A (sectors 0-7).
    SuperblockA,
    /// Superblock slot B (sectors 8-15).
    SuperblockB,
    /// The log area.
    Log,
    /// Snapshot area A.
    SnapshotA,
    /// Snapshot area B.
    SnapshotB,
}

impl MetaArea {
    /// The area's name in messages.
    pub fn as_str(&self) -> &'static str {
        match self {
            MetaArea::SuperblockA => "superblock slot A",
            MetaArea::SuperblockB => "superblock slot B",
            MetaArea::Log => "metadata log area",
            MetaArea::SnapshotA => "snapshot area A",
            MetaArea::SnapshotB => "snapshot area B",
        }
    }
}

/// What the open path does with a spare region, decided from what probing
/// its superblock slots found (see [`open_decision`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenDecision {
    /// A valid superblock of this device pair: load it.
    Load,
    /// Both superblock slots are zero: format, but only if the rest of the
    /// metadata footprint is zero too ([`check_blank`]).
    FormatIfBlank,
    /// Format over whatever the region holds (explicitly asked for).
    Format,
    /// Refuse with the error the probe returned; write nothing.
    Refuse,
}

/// The open path's decision for a spare region whose superblock probe
/// returned `probed`.
///
/// Metadata whose superblock is valid for this device pair is always
/// loaded, even under [`FormatPolicy::Overwrite`]: a table line that keeps
/// `format` must not drop every remap at the next load. An I/O error is
/// never a reason to format. Anything else (foreign data, damaged
/// superblocks, metadata of another device pair) is formatted only on
/// request.
pub fn open_decision(probed: &Result<Superblock, MetaError>, policy: FormatPolicy) -> OpenDecision {
    match (probed, policy) {
        (Ok(_), _) => OpenDecision::Load,
        (Err(MetaError::Io(_)), _) => OpenDecision::Refuse,
        (Err(_), FormatPolicy::Overwrite) => OpenDecision::Format,
        (Err(MetaError::Blank), FormatPolicy::IfBlank) => OpenDecision::FormatIfBlank,
        (Err(_), FormatPolicy::IfBlank) => OpenDecision::Refuse,
    }
}

/// Whether a region may be formatted under `policy`, given the first
/// non-zero sector of its metadata footprint (`None`: all zero; the caller
/// may skip reading it under [`FormatPolicy::Overwrite`]).
pub fn check_blank(
    policy: FormatPolicy,
    first_nonzero: Option<(u64, MetaArea)>,
) -> Result<(), MetaError> {
    match (policy, first_nonzero) {
        (FormatPolicy::Overwrite, _) | (FormatPolicy::IfBlank, None) => Ok(()),
        (FormatPolicy::IfBlank, Some((sector, area))) => Err(MetaError::NotBlank { sector, area }),
    }
}

/// Block-layer completion statuses (`blk_status_t`, `BLK_STS_*` in the
/// kernel's `include/linux/blk_types.h`).  The engine is host-tested and
/// cannot see kernel headers, so the values are repeated here; the module
/// checks at build time that each equals the kernel's constant (the
/// `DM_REMAP_BLK_STS_*` bindings, `src/dm/status.rs`), so a kernel that
/// renumbered them would not build rather than misclassify.
pub mod blk_sts {
    /// `BLK_STS_OK`.
    pub const OK: u8 = 0;
    /// `BLK_STS_NOTSUPP`: the device does not support the operation.
    pub const NOTSUPP: u8 = 1;
    /// `BLK_STS_TIMEOUT`: the command timed out.
    pub const TIMEOUT: u8 = 2;
    /// `BLK_STS_NOSPC`: no space to allocate (a thin-provisioned device
    /// that is full, `NVME_SC_CAP_EXCEEDED`).
    pub const NOSPC: u8 = 3;
    /// `BLK_STS_TRANSPORT`: a recoverable transport (path) error.
    pub const TRANSPORT: u8 = 4;
    /// `BLK_STS_TARGET`: the target refused the command (LBA out of range,
    /// invalid field).
    pub const TARGET: u8 = 5;
    /// `BLK_STS_RESV_CONFLICT`: a persistent reservation conflict.
    pub const RESV_CONFLICT: u8 = 6;
    /// `BLK_STS_MEDIUM`: an unrecovered medium error.
    pub const MEDIUM: u8 = 7;
    /// `BLK_STS_PROTECTION`: protection information did not match.
    pub const PROTECTION: u8 = 8;
    /// `BLK_STS_RESOURCE`: out of kernel resources.
    pub const RESOURCE: u8 = 9;
    /// `BLK_STS_IOERR`: an I/O error the driver did not classify further.
    pub const IOERR: u8 = 10;
    /// `BLK_STS_DM_REQUEUE`: device-mapper's internal retry.
    pub const DM_REQUEUE: u8 = 11;
    /// `BLK_STS_AGAIN`: a non-blocking request would have blocked.
    pub const AGAIN: u8 = 12;
    /// `BLK_STS_DEV_RESOURCE`: out of device resources.
    pub const DEV_RESOURCE: u8 = 13;
    /// `BLK_STS_ZONE_OPEN_RESOURCE`: too many open zones.
    pub const ZONE_OPEN_RESOURCE: u8 = 14;
    /// `BLK_STS_ZONE_ACTIVE_RESOURCE`: too many active zones.
    pub const ZONE_ACTIVE_RESOURCE: u8 = 15;
    /// `BLK_STS_OFFLINE`: the device is offline or going offline.
    pub const OFFLINE: u8 = 16;
    /// `BLK_STS_DURATION_LIMIT`: a command duration limit was exceeded.
    pub const DURATION_LIMIT: u8 = 17;
    /// `BLK_STS_INVAL`: invalid size or alignment.
    pub const INVAL: u8 = 19;
}

/// What a failed I/O's status says about the blocks it addressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorClass {
    /// Success.
    Ok,
    /// The addressed sectors are bad: the only class that may remap a
    /// block, mark it pending, retire a spare block or count as a read or
    /// write error.
    Media,
    /// Anything else (path, transport, resources, space, refusal): the
    /// status goes up unchanged and the engine's state is not touched.
    Other,
}

/// Classify a block-layer completion status (see `docs/dm-remap.rst`,
/// "Errors").
///
/// Only `BLK_STS_IOERR` and `BLK_STS_MEDIUM` are media errors.
/// `BLK_STS_MEDIUM` is what SCSI (sense key MEDIUM ERROR) and NVMe (read
/// error, write fault, unwritten block) report for a bad sector;
/// `BLK_STS_IOERR` is the catch-all most drivers (ATA, virtio, null_blk
/// badblocks, dm `error`, dm-dust, dm-flakey) use for the same thing, so
/// treating it otherwise would make dm-remap useless on them.
///
/// Everything else says nothing about the sectors, and remapping on it
/// would be wrong: a path or device outage (`TRANSPORT`, `TIMEOUT`,
/// `OFFLINE`) would move every written block to the spare and retire
/// the whole spare pool; a full thin pool (`NOSPC`) or a refused command
/// (`TARGET`: LBA out of range; `NOTSUPP`, `INVAL`, `RESV_CONFLICT`)
/// fails the same way on any block; resource shortages (`RESOURCE`,
/// `DEV_RESOURCE`, `AGAIN`, zone resources, `DM_REQUEUE`) are transient;
/// `DURATION_LIMIT` is a policy abort.  `PROTECTION` is left out as well:
/// the protection information is generated by the host, so a mismatch
/// does not locate a bad sector (and dm-remap does not pass integrity
/// metadata through).  Unknown values are not media errors: a status
/// added by a later kernel must not consume spare blocks until it is
/// classified here.
pub fn classify_status(status: u8) -> ErrorClass {
    match status {
        blk_sts::OK => ErrorClass::Ok,
        blk_sts::IOERR | blk_sts::MEDIUM => ErrorClass::Media,
        _ => ErrorClass::Other,
    }
}

/// True if `status` means the addressed sectors are bad
/// ([`classify_status`]).
pub fn is_media_error(status: u8) -> bool {
    classify_status(status) == ErrorClass::Media
}

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
    fn only_blank_regions_format_without_a_request() {
        use super::super::device::IoError;
        use FormatPolicy::{IfBlank, Overwrite};
        let io = Err(MetaError::Io(IoError { errno: -5 }));
        assert_eq!(open_decision(&io, Overwrite), OpenDecision::Refuse);
        assert_eq!(open_decision(&io, IfBlank), OpenDecision::Refuse);
        let blank = Err(MetaError::Blank);
        assert_eq!(open_decision(&blank, IfBlank), OpenDecision::FormatIfBlank);
        assert_eq!(open_decision(&blank, Overwrite), OpenDecision::Format);
        for refused in [MetaError::ForeignData, MetaError::MainSizeMismatch] {
            assert_eq!(open_decision(&Err(refused), IfBlank), OpenDecision::Refuse);
            assert_eq!(
                open_decision(&Err(refused), Overwrite),
                OpenDecision::Format
            );
        }
        assert_eq!(check_blank(IfBlank, None), Ok(()));
        assert_eq!(check_blank(Overwrite, Some((128, MetaArea::Log))), Ok(()));
        assert_eq!(
            check_blank(IfBlank, Some((128, MetaArea::Log))),
            Err(MetaError::NotBlank {
                sector: 128,
                area: MetaArea::Log
            })
        );
    }

    #[test]
    fn only_media_statuses_are_media_errors() {
        use blk_sts::*;
        assert_eq!(classify_status(OK), ErrorClass::Ok);
        for media in [IOERR, MEDIUM] {
            assert_eq!(classify_status(media), ErrorClass::Media, "{media}");
            assert!(is_media_error(media));
        }
        for other in [
            NOTSUPP,
            TIMEOUT,
            NOSPC,
            TRANSPORT,
            TARGET,
            RESV_CONFLICT,
            PROTECTION,
            RESOURCE,
            DM_REQUEUE,
            AGAIN,
            DEV_RESOURCE,
            ZONE_OPEN_RESOURCE,
            ZONE_ACTIVE_RESOURCE,
            OFFLINE,
            DURATION_LIMIT,
            INVAL,
        ] {
            assert_eq!(classify_status(other), ErrorClass::Other, "{other}");
            assert!(!is_media_error(other));
        }
        // Values no kernel defines yet are not media errors either.
        for unknown in [18u8, 20, 42, 255] {
            assert_eq!(classify_status(unknown), ErrorClass::Other, "{unknown}");
        }
        assert!(!is_media_error(OK));
    }

    #[test]
    fn status_values_match_the_kernel() {
        // include/linux/blk_types.h (7.2); the module checks the same at
        // build time against the kernel it is built for.
        use blk_sts::*;
        let kernel = [
            (NOTSUPP, 1),
            (TIMEOUT, 2),
            (NOSPC, 3),
            (TRANSPORT, 4),
            (TARGET, 5),
            (RESV_CONFLICT, 6),
            (MEDIUM, 7),
            (PROTECTION, 8),
            (RESOURCE, 9),
            (IOERR, 10),
            (DM_REQUEUE, 11),
            (AGAIN, 12),
            (DEV_RESOURCE, 13),
            (ZONE_OPEN_RESOURCE, 14),
            (ZONE_ACTIVE_RESOURCE, 15),
            (OFFLINE, 16),
            (DURATION_LIMIT, 17),
            (INVAL, 19),
        ];
        for (ours, theirs) in kernel {
            assert_eq!(ours, theirs);
        }
    }

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
