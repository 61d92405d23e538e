// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message <dev> 0 <command> [args]` (documented in
//! docs/dm-remap.rst).  Anything invalid gets -EINVAL and a message in the
//! kernel log naming the problem.

use super::copy::CopyError;
use super::scan;
use super::table::parse_u64;
use super::{RemapTarget, Worker};
use crate::dm::{Args, Emitter, Errno, MessageResult, Ti};
use crate::dm_err;
use crate::engine::IoTarget;
use core::fmt::Write;

const HELP: &str = concat!(
    "remap messages:\n",
    "  help                 this text\n",
    "  list                 remapped (R <block> <spare>) and pending (P <block>) blocks\n",
    "  remap <block> [<n>]  copy blocks <block>..<block>+<n>-1 (default 1) to\n",
    "                       spare blocks and remap them\n",
    "  commit               write the metadata now\n",
    "  reset_stats          zero the read and write error counters\n",
    "  scan start           start (or continue) a background scan pass now\n",
    "  scan stop            hold the background scanner (cursor is kept)\n",
);

fn invalid(what: core::fmt::Arguments<'_>) -> Result<MessageResult, Errno> {
    dm_err!("message: {what}");
    Err(Errno::EINVAL)
}

/// Handle one message.
pub(super) fn handle(
    t: &RemapTarget,
    _ti: &Ti,
    args: &mut Args<'_>,
    out: &mut Emitter<'_>,
) -> Result<MessageResult, Errno> {
    let Some(command) = args.next_str() else {
        return invalid(format_args!("empty message; try 'help'"));
    };
    let Ok(command) = command else {
        return invalid(format_args!("command is not UTF-8; try 'help'"));
    };
    let extra = args.remaining();
    let no_args = |name: &str| -> Result<(), Errno> {
        if extra != 0 {
            dm_err!("message: '{name}' takes no arguments");
            return Err(Errno::EINVAL);
        }
        Ok(())
    };
    match command {
        "help" => {
            no_args("help")?;
            let _ = out.write_str(HELP);
            Ok(MessageResult::Reply)
        }
        "list" => {
            no_args("list")?;
            let worker = t.lock_worker();
            for (block, entry) in worker.engine.entries() {
                let _ = match entry.spare() {
                    Some(spare) => writeln!(out, "R {block} {spare}"),
                    None if entry.is_pending() => writeln!(out, "P {block}"),
                    None => Ok(()),
                };
            }
            Ok(MessageResult::Reply)
        }
        "commit" => {
            no_args("commit")?;
            let mut worker = t.lock_worker();
            worker.engine.commit().map_err(|e| {
                dm_err!("message: commit failed: {}", e.as_str());
                Errno::EIO
            })?;
            Ok(MessageResult::Done)
        }
        "reset_stats" => {
            no_args("reset_stats")?;
            t.lock_worker().engine.reset_error_counters();
            Ok(MessageResult::Done)
        }
        "remap" => {
            if !(1..=2).contains(&extra) {
                return invalid(format_args!(
                    "'remap' takes a block number and an optional count"
                ));
            }
            let mut number = || match args.next_str() {
                Some(Ok(text)) => parse_u64(text),
                _ => None,
            };
            let Some(block) = number() else {
                return invalid(format_args!("'remap': block is not a decimal number"));
            };
            let count = if extra == 2 { number() } else { Some(1) };
            let Some(count) = count.filter(|&n| n >= 1) else {
                return invalid(format_args!(
                    "'remap': count is not a positive decimal number"
                ));
            };
            let mut worker = t.lock_worker();
            let main_blocks = worker.engine.main_blocks();
            let last = block
                .checked_add(count - 1)
                .filter(|&last| last < main_blocks);
            if last.is_none() {
                return invalid(format_args!(
                    "'remap': blocks {block}+{count} go beyond the last block {}",
                    main_blocks.saturating_sub(1)
                ));
            }
            let mut result = Ok(());
            for b in block..block + count {
                result = manual_remap(t, &mut worker, b);
                if result.is_err() {
                    break;
                }
            }
            // Whatever was remapped before an error stays remapped: commit
            // it.  The blocks stay busy (their I/O held) until then, so
            // nothing reaches a new spare block before its mapping is
            // durable.
            let committed = t
                .settle(&mut worker, block..block + count, &t.state.work_ref())
                .map_err(|e| {
                    dm_err!("message: remap: metadata commit failed: {}", e.as_str());
                    Errno::EIO
                });
            t.raise_events(&mut worker);
            result.and(committed).map(|()| MessageResult::Done)
        }
        "scan" => {
            let what = match (extra, args.next_str()) {
                (1, Some(Ok(what))) => what,
                _ => return invalid(format_args!("'scan' takes one argument: start or stop")),
            };
            let mut worker = t.lock_worker();
            match what {
                "start" => {
                    if let Err(why) = scan::start(&mut worker) {
                        return invalid(format_args!("scan start: {why}"));
                    }
                    drop(worker);
                    t.state.work_ref().queue();
                }
                "stop" => scan::stop(&mut worker).map_err(|e| {
                    dm_err!("message: scan stop: cursor not recorded: {}", e.as_str());
                    Errno::EIO
                })?,
                other => return invalid(format_args!("'scan {other}': expected start or stop")),
            }
            Ok(MessageResult::Done)
        }
        other => invalid(format_args!("unknown command '{other}'; try 'help'")),
    }
}

/// Copy `block` from where it lives to a new spare block and remap it,
/// durably.  A block whose data cannot be read becomes pending: the next
/// write to it remaps it.
fn manual_remap(t: &RemapTarget, worker: &mut Worker, block: u64) -> Result<(), Errno> {
    let ticket = worker.engine.begin_remap(block, true).map_err(|e| {
        dm_err!("message: remap {block}: {}", e.as_str());
        CopyError::Policy(e).errno()
    })?;
    let from = match worker
        .engine
        .table()
        .get(block)
        .and_then(|entry| entry.spare())
    {
        Some(spare) => IoTarget::Spare(spare),
        None => IoTarget::Main,
    };
    match t.copy_remap_uncommitted(worker, ticket) {
        Ok(()) => Ok(()),
        Err(CopyError::Unreadable(_)) => {
            let pending =
                worker.engine.on_read_error(block, from).is_ok() && worker.engine.commit().is_ok();
            dm_err!(
                "message: remap {block}: its data cannot be read; {}",
                if pending {
                    "pending until rewritten"
                } else {
                    "not remapped"
                }
            );
            Err(Errno::EIO)
        }
        Err(e) => {
            dm_err!("message: remap {block}: {}; not remapped", e.text());
            Err(e.errno())
        }
    }
}
