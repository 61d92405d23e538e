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
#include <linux/delay.h>
#include <linux/dm-io.h>
#include <linux/ioprio.h>
#include <linux/ktime.h>
#include <linux/moduleparam.h>
#include <linux/mutex.h>
#include <linux/spinlock.h>
#include <linux/uuid.h>
#include <linux/workqueue.h>
#include <linux/printk.h>
#include <linux/slab.h>
#include <linux/string.h>

void *dm_remap_per_bio_data(struct bio *bio, size_t data_size);
void dm_remap_bio_set_dev(struct bio *bio, struct block_device *bdev);
sector_t dm_remap_bdev_nr_sectors(struct block_device *bdev);
unsigned int dm_remap_bdev_logical_block_size(struct block_device *bdev);
unsigned int dm_remap_bdev_physical_block_size(struct block_device *bdev);
dev_t dm_remap_bdev_devt(struct block_device *bdev);
dev_t dm_remap_bdev_whole_devt(struct block_device *bdev);
sector_t dm_remap_bdev_start_sect(struct block_device *bdev);
void *dm_remap_kzalloc(size_t size);
void *dm_remap_kvzalloc(size_t size);
struct module *dm_remap_this_module(void);

void dm_remap_mutex_init(struct mutex *lock);
void dm_remap_mutex_lock(struct mutex *lock);
void dm_remap_spin_lock_init(spinlock_t *lock);
unsigned long dm_remap_spin_lock_irqsave(spinlock_t *lock);
void dm_remap_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);

void dm_remap_init_delayed_work(struct delayed_work *work, work_func_t func);
bool dm_remap_mod_delayed_work(struct workqueue_struct *wq, struct delayed_work *work, unsigned int msecs);
bool dm_remap_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *work, unsigned int msecs);
struct workqueue_struct *dm_remap_alloc_workqueue(const char *name);

u64 dm_remap_ktime_get_ns(void);
unsigned int dm_remap_bio_sectors(struct bio *bio);
bool dm_remap_is_vmalloc_addr(const void *addr);
struct page *dm_remap_virt_to_page(const void *addr);
unsigned short dm_remap_ioprio_default(void);
void dm_remap_bio_advance(struct bio *bio, unsigned int nbytes);
void dm_remap_bio_list_add(struct bio_list *bl, struct bio *bio);
struct bio *dm_remap_bio_list_pop(struct bio_list *bl);

#endif /* DM_REMAP_HELPERS_H */
