/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Prototypes of the out-of-line wrappers in src/helpers.c.
 *
 * Rust can only call real symbols, so every static-inline function or
 * function-like macro of the kernel that the Rust side needs gets a one-line
 * wrapper here.  Nothing in helpers.c may contain logic of its own.
 */
#ifndef DM_REMAP_HELPERS_H
#define DM_REMAP_HELPERS_H

#include <linux/bio.h>
#include <linux/blkdev.h>
#include <linux/device-mapper.h>
#include <linux/moduleparam.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>

void *dm_remap_per_bio_data(struct bio *bio, size_t data_size);
void dm_remap_bio_set_dev(struct bio *bio, struct block_device *bdev);
sector_t dm_remap_bdev_nr_sectors(struct block_device *bdev);
unsigned int dm_remap_bdev_logical_block_size(struct block_device *bdev);
unsigned int dm_remap_bdev_physical_block_size(struct block_device *bdev);
dev_t dm_remap_bdev_devt(struct block_device *bdev);
void *dm_remap_kzalloc(size_t size);
void *dm_remap_kvzalloc(size_t size);
struct module *dm_remap_this_module(void);

#endif /* DM_REMAP_HELPERS_H */
