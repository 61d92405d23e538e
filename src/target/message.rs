// SPDX-License-Identifier: GPL-2.0

//! `dmsetup message <dev> 0 <command> [args]` (documented in
//! docs/dm-remap.rst).  Anything invalid gets -EINVAL and a message in the
//! kernel log naming the problem.

use super::table::parse_u64;
use super::{RemapTarget, Worker};
use crate::dm::{Args, Emitter, Errno, MessageResult, Ti};
use crate::dm_err;
use crate::engine::RemapTicket;
use core::fmt::Write;

const HELP: &str = concat!(
    "remap messages:\n",
    "  help                 this text\n",
    "  list                 remapped (R <block> <spare>) and pending (P <block>) blocks\n",
    "  remap <block>        copy block <block> to a spare block and remap it\n",
    "  commit               write the metadata now\n",
    "  reset_stats          zero the read and write error counters\n",
);

fn invalid(what: core::fmt::Arguments<'_>) -> Result<MessageResult, Errno> {
    dm_err!("message: {what}");
    Err(Errno::EINVAL)
}

/// Handle one message.
pub(super) fn handle(t: &RemapTarget, _ti: &Ti, args: &mut Args<'_>, out: &mut Emitter<'_>) -> Result<MessageResult, Errno> {
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
            let worker = t.worker.lock();
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
            let mut worker = t.worker.lock();
            worker.engine.commit().map_err(|e| {
                dm_err!("message: commit failed: {}", e.as_str());
                Errno::EIO
            })?;
            Ok(MessageResult::Done)
        }
        "reset_stats" => {
            no_args("reset_stats")?;
            t.worker.lock().engine.reset_error_counters();
            Ok(MessageResult::Done)
        }
        "remap" => {
            if extra != 1 {
                return invalid(format_args!("'remap' takes exactly one block number"));
            }
            let block = match args.next_str() {
                Some(Ok(text)) => parse_u64(text),
                _ => None,
            };
            let Some(block) = block else {
                return invalid(format_args!("'remap': block is not a decimal number"));
            };
            let mut worker = t.worker.lock();
            let main_blocks = worker.engine.main_blocks();
            if block >= main_blocks {
                return invalid(format_args!("'remap': block {block} is beyond the last block {}", main_blocks.saturating_sub(1)));
            }
            let result = manual_remap(t, &mut worker, block);
            t.raise_events(&mut worker);
            result.map(|()| MessageResult::Done)
        }
        other => invalid(format_args!("unknown command '{other}'; try 'help'")),
    }
}

/// Copy `block` from main to a new spare block and remap it, durably.
fn manual_remap(t: &RemapTarget, worker: &mut Worker, block: u64) -> Result<(), Errno> {
    let ticket = worker.engine.begin_remap(block, true).map_err(|e| {
        dm_err!("message: remap {block}: {}", e.as_str());
        match e {
            crate::engine::PolicyError::Busy => Errno::EBUSY,
            crate::engine::PolicyError::SpareExhausted => Errno::ENOSPC,
            _ => Errno::EINVAL,
        }
    })?;
    // The block is busy now: new I/O to it waits.  Let writes that were
    // already on their way to main land before copying.
    if let Err(e) = t.drain_writes() {
        dm_err!("message: remap {block}: writes to the device did not drain; try again");
        let _ = worker.engine.fail_remap(ticket, false);
        return Err(e);
    }
    if let Err(e) = copy_to_spare(t, worker, &ticket) {
        let _ = worker.engine.fail_remap(ticket, e.1);
        return Err(e.0);
    }
    worker.engine.complete_remap(ticket).map_err(|e| {
        dm_err!("message: remap {block}: {}", e.as_str());
        Errno::EIO
    })?;
    worker.engine.commit().map_err(|e| {
        dm_err!("message: remap {block}: metadata commit failed: {}", e.as_str());
        Errno::EIO
    })
}

/// Read the block from main and write it to its new spare block.  The
/// error's flag says whether the spare (rather than main) failed.
fn copy_to_spare(t: &RemapTarget, worker: &mut Worker, ticket: &RemapTicket) -> Result<(), (Errno, bool)> {
    let Worker { engine, block_buf } = worker;
    let from = t.main_offset + (ticket.block << t.block_shift);
    let meta = engine.device_mut();
    meta.io().read(&t.main, from, block_buf).map_err(|e| {
        dm_err!("message: remap {}: main block unreadable ({}); not remapped", ticket.block, e.0);
        (Errno::EIO, false)
    })?;
    let to = t.spare_offset + ticket.spare_sector;
    meta.io().write(&t.spare, to, block_buf, false).map_err(|e| {
        dm_err!("message: remap {}: spare write failed ({})", ticket.block, e.0);
        (Errno::EIO, true)
    })?;
    Ok(())
}
