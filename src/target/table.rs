// SPDX-License-Identifier: GPL-2.0

//! Parsing of the `remap` table line (see docs/dm-remap.rst):
//!
//! ```text
//! <main_dev> <main_offset> <spare_dev> <spare_offset> <spare_len>
//!     [<#feature_args> <feature_arg>...]
//! ```
//!
//! Feature arguments: `block_size <bytes>`, `read_retries <n>`,
//! `no_auto_remap`, `scan_rate <blocks/s>`, `format`.

use crate::dm::{Args, CtrError};
use core::ffi::CStr;

/// Most read retries accepted.
pub const MAX_READ_RETRIES: u32 = 16;
/// Default read retries.
pub const DEFAULT_READ_RETRIES: u32 = 2;

/// Optional settings from the feature arguments.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Remap block size in bytes (`None`: the larger logical block size of
    /// the two devices).
    pub block_size: Option<u32>,
    /// Read retries before a read error is reported.
    pub read_retries: Option<u32>,
    /// Record errors but never remap (like `real_device_mode=0`).
    pub no_auto_remap: bool,
    /// Background scanner rate in blocks per second (0: off).
    pub scan_rate: Option<u64>,
    /// Format the spare region even if it is not blank (an explicit
    /// request: it overwrites what is there).  A one-time action, so not
    /// part of the table printed back (see `count`).
    pub format: bool,
}

impl Features {
    /// Number of feature words, as printed in the table.  `format` is not
    /// printed: it acted on this load, and a spare it formatted loads
    /// without it.
    pub fn count(&self) -> u32 {
        2 * self.block_size.is_some() as u32
            + 2 * self.read_retries.is_some() as u32
            + self.no_auto_remap as u32
            + 2 * self.scan_rate.is_some() as u32
    }
}

/// A parsed table line (devices still as paths).
pub struct TableLine<'a> {
    /// Path or `major:minor` of the main device.
    pub main_path: &'a CStr,
    /// First sector of the mapped range on the main device.
    pub main_offset: u64,
    /// Path or `major:minor` of the spare device.
    pub spare_path: &'a CStr,
    /// First sector of the spare region.
    pub spare_offset: u64,
    /// Length of the spare region in sectors.
    pub spare_len: u64,
    /// Feature arguments.
    pub features: Features,
}

/// Parse an unsigned decimal number: digits only, no sign, no base prefix,
/// no trailing characters, no overflow.  (`kstrtoull` would accept a
/// leading `+` and a trailing newline; table lines should not.)
pub fn parse_u64(text: &str) -> Option<u64> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.bytes().try_fold(0u64, |acc, b| {
        acc.checked_mul(10)?.checked_add(u64::from(b - b'0'))
    })
}

fn number(args: &mut Args<'_>, error: &'static CStr) -> Result<u64, CtrError> {
    match args.next_str() {
        Some(Ok(text)) => parse_u64(text).ok_or(CtrError::invalid(error)),
        _ => Err(CtrError::invalid(error)),
    }
}

fn device<'a>(args: &mut Args<'a>, missing: &'static CStr) -> Result<&'a CStr, CtrError> {
    match args.next_cstr() {
        Some(path) if !path.is_empty() => Ok(path),
        _ => Err(CtrError::invalid(missing)),
    }
}

fn parse_features(args: &mut Args<'_>) -> Result<Features, CtrError> {
    let mut features = Features {
        block_size: None,
        read_retries: None,
        no_auto_remap: false,
        scan_rate: None,
        format: false,
    };
    if args.remaining() == 0 {
        return Ok(features);
    }
    let count = number(args, c"Invalid <#feature_args>: not a decimal number")?;
    if count != args.remaining() as u64 {
        return Err(CtrError::invalid(
            c"Invalid <#feature_args>: does not match the number of feature arguments",
        ));
    }
    while let Some(word) = args.next_str() {
        match word {
            Ok("block_size") => {
                if features.block_size.is_some() {
                    return Err(CtrError::invalid(c"Feature block_size given twice"));
                }
                let v = number(args, c"Invalid block_size: not a decimal number of bytes")?;
                if !(512..=65536).contains(&v) || !v.is_power_of_two() {
                    return Err(CtrError::invalid(
                        c"Invalid block_size: must be a power of two from 512 to 65536",
                    ));
                }
                features.block_size = Some(v as u32);
            }
            Ok("read_retries") => {
                if features.read_retries.is_some() {
                    return Err(CtrError::invalid(c"Feature read_retries given twice"));
                }
                let v = number(args, c"Invalid read_retries: not a decimal number")?;
                if v > u64::from(MAX_READ_RETRIES) {
                    return Err(CtrError::invalid(c"Invalid read_retries: at most 16"));
                }
                features.read_retries = Some(v as u32);
            }
            Ok("no_auto_remap") => {
                if features.no_auto_remap {
                    return Err(CtrError::invalid(c"Feature no_auto_remap given twice"));
                }
                features.no_auto_remap = true;
            }
            Ok("format") => {
                if features.format {
                    return Err(CtrError::invalid(c"Feature format given twice"));
                }
                features.format = true;
            }
            Ok("scan_rate") => {
                if features.scan_rate.is_some() {
                    return Err(CtrError::invalid(c"Feature scan_rate given twice"));
                }
                let v = number(
                    args,
                    c"Invalid scan_rate: not a decimal number of blocks per second",
                )?;
                if v > 1_000_000 {
                    return Err(CtrError::invalid(
                        c"Invalid scan_rate: at most 1000000 blocks per second",
                    ));
                }
                features.scan_rate = Some(v);
            }
            _ => return Err(CtrError::invalid(c"Unknown feature argument")),
        }
    }
    Ok(features)
}

impl<'a> TableLine<'a> {
    /// Split the arguments into fields, rejecting malformed lines with a
    /// message that names the problem.
    pub fn parse(args: &mut Args<'a>) -> Result<Self, CtrError> {
        if args.len() < 5 {
            return Err(CtrError::invalid(
                c"Too few arguments: expected <main_dev> <main_offset> <spare_dev> <spare_offset> <spare_len> [<#features> <feature>...]",
            ));
        }
        let main_path = device(args, c"Missing <main_dev>")?;
        let main_offset = number(
            args,
            c"Invalid <main_offset>: not a decimal number of sectors",
        )?;
        let spare_path = device(args, c"Missing <spare_dev>")?;
        let spare_offset = number(
            args,
            c"Invalid <spare_offset>: not a decimal number of sectors",
        )?;
        let spare_len = number(
            args,
            c"Invalid <spare_len>: not a decimal number of sectors",
        )?;
        let features = parse_features(args)?;
        Ok(Self {
            main_path,
            main_offset,
            spare_path,
            spare_offset,
            spare_len,
            features,
        })
    }
}
