// SPDX-License-Identifier: GPL-2.0

//! Parsing of the `remap` table line.
//!
//! Pass-through form (this version): `<main_dev> <main_offset>`.

use crate::dm::{Args, CtrError};
use core::ffi::CStr;

/// A parsed, not yet validated, table line.
pub struct TableLine<'a> {
    /// Path or `major:minor` of the main device.
    pub main_path: &'a CStr,
    /// First sector of the mapped range on the main device.
    pub main_offset: u64,
}

/// Parse an unsigned decimal number of sectors: digits only, no sign, no
/// base prefix, no trailing characters, no overflow.  (`kstrtoull` would
/// accept a leading `+` and a trailing newline; table lines should not.)
pub fn parse_sectors(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.bytes()
        .try_fold(0u64, |acc, b| acc.checked_mul(10)?.checked_add(u64::from(b - b'0')))
}

impl<'a> TableLine<'a> {
    /// Split the arguments into fields, rejecting malformed lines with a
    /// message that names the problem.
    pub fn parse(args: &mut Args<'a>) -> Result<Self, CtrError> {
        match args.len() {
            0 => return Err(CtrError::invalid(c"Missing arguments: expected <main_dev> <main_offset>")),
            1 => return Err(CtrError::invalid(c"Missing <main_offset>: expected <main_dev> <main_offset>")),
            2 => {}
            _ => return Err(CtrError::invalid(c"Too many arguments: expected <main_dev> <main_offset>")),
        }
        let main_path = args.next_cstr().ok_or(CtrError::invalid(c"Missing <main_dev>"))?;
        if main_path.is_empty() {
            return Err(CtrError::invalid(c"Empty <main_dev>"));
        }
        let offset = match args.next_str() {
            Some(Ok(text)) => text,
            _ => return Err(CtrError::invalid(c"Invalid <main_offset>: not a decimal number of sectors")),
        };
        let main_offset = parse_sectors(offset)
            .ok_or(CtrError::invalid(c"Invalid <main_offset>: not a decimal number of sectors"))?;
        Ok(Self { main_path, main_offset })
    }
}
