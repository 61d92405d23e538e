// SPDX-License-Identifier: GPL-2.0

//! The module parameters (see helpers.c for their declarations and
//! docs/dm-remap.rst for their meaning).  Each is an `unsigned int` in
//! /sys/module/dm_remap/parameters, mode 0644, with its range enforced on
//! every write and at modprobe time.

use crate::uint_param;

uint_param!(dm_remap_debug, dm_remap_debug_ops, 0, 0, 3);
uint_param!(
    enable_background_scanning,
    enable_background_scanning_ops,
    1,
    0,
    1
);
uint_param!(scan_interval_hours, scan_interval_hours_ops, 24, 1, 168);
uint_param!(real_device_mode, real_device_mode_ops, 1, 0, 1);
uint_param!(spare_overhead_percent, spare_overhead_percent_ops, 2, 0, 20);
uint_param!(strict_spare_sizing, strict_spare_sizing_ops, 0, 0, 1);
