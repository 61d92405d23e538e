// SPDX-License-Identifier: GPL-2.0
/*
 * dm-remap: C glue.  Only two kinds of things live here, both without logic:
 *
 *  - out-of-line wrappers for static-inline kernel functions and macros that
 *    Rust cannot call directly (one line each);
 *  - declarations that only C macros can express: module parameters and the
 *    modinfo version string.  The parameters' storage and their range-checking
 *    setters are defined in Rust (src/dm_remap.rs and src/target/params.rs);
 *    declaring them here makes them visible in /sys/module/dm_remap/parameters
 *    on every kernel line (Rust `module!` params are not, and 6.12 has none).
 */
#include "../include/dm_remap_helpers.h"

#include <linux/module.h>

void *dm_remap_per_bio_data(struct bio *bio, size_t data_size)
{
	return dm_per_bio_data(bio, data_size);
}

void dm_remap_bio_set_dev(struct bio *bio, struct block_device *bdev)
{
	bio_set_dev(bio, bdev);
}

sector_t dm_remap_bdev_nr_sectors(struct block_device *bdev)
{
	return bdev_nr_sectors(bdev);
}

unsigned int dm_remap_bdev_logical_block_size(struct block_device *bdev)
{
	return bdev_logical_block_size(bdev);
}

unsigned int dm_remap_bdev_physical_block_size(struct block_device *bdev)
{
	return bdev_physical_block_size(bdev);
}

dev_t dm_remap_bdev_devt(struct block_device *bdev)
{
	return bdev->bd_dev;
}

dev_t dm_remap_bdev_whole_devt(struct block_device *bdev)
{
	return bdev_whole(bdev)->bd_dev;
}

sector_t dm_remap_bdev_start_sect(struct block_device *bdev)
{
	return get_start_sect(bdev);
}

void *dm_remap_kzalloc(size_t size)
{
	return kzalloc(size, GFP_KERNEL);
}

void *dm_remap_kvzalloc(size_t size)
{
	return kvzalloc(size, GFP_KERNEL);
}

struct module *dm_remap_this_module(void)
{
	return THIS_MODULE;
}

/*
 * Locks.  Each init helper is one lockdep class (its static key); dm-remap
 * has one lock of each kind per target, so one class per kind is right.
 */
void dm_remap_mutex_init(struct mutex *lock)
{
	mutex_init(lock);
}

void dm_remap_mutex_lock(struct mutex *lock)
{
	mutex_lock(lock);
}

void dm_remap_spin_lock_init(spinlock_t *lock)
{
	spin_lock_init(lock);
}

unsigned long dm_remap_spin_lock_irqsave(spinlock_t *lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void dm_remap_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
{
	spin_unlock_irqrestore(lock, flags);
}

void dm_remap_init_delayed_work(struct delayed_work *work, work_func_t func)
{
	INIT_DELAYED_WORK(work, func);
}

bool dm_remap_mod_delayed_work(struct workqueue_struct *wq, struct delayed_work *work, unsigned int msecs)
{
	return mod_delayed_work(wq, work, msecs_to_jiffies(msecs));
}

bool dm_remap_queue_delayed_work(struct workqueue_struct *wq, struct delayed_work *work, unsigned int msecs)
{
	return queue_delayed_work(wq, work, msecs_to_jiffies(msecs));
}

/* I/O completion work of a block device target must not wait on memory. */
struct workqueue_struct *dm_remap_alloc_workqueue(const char *name)
{
	return alloc_workqueue("%s", WQ_MEM_RECLAIM | WQ_UNBOUND, 1, name);
}

u64 dm_remap_ktime_get_ns(void)
{
	return ktime_get_ns();
}

unsigned int dm_remap_bio_sectors(struct bio *bio)
{
	return bio_sectors(bio);
}

bool dm_remap_is_vmalloc_addr(const void *addr)
{
	return is_vmalloc_addr(addr);
}

struct page *dm_remap_virt_to_page(const void *addr)
{
	return virt_to_page(addr);
}

unsigned short dm_remap_ioprio_default(void)
{
	return IOPRIO_DEFAULT;
}

void dm_remap_bio_advance(struct bio *bio, unsigned int nbytes)
{
	bio_advance(bio, nbytes);
}

void dm_remap_bio_list_add(struct bio_list *bl, struct bio *bio)
{
	bio_list_add(bl, bio);
}

struct bio *dm_remap_bio_list_pop(struct bio_list *bl)
{
	return bio_list_pop(bl);
}

MODULE_VERSION(DM_REMAP_VERSION);

/* Parameters: storage and setters are Rust statics (see comment above). */
#define DM_REMAP_PARAM(name, desc)                                        \
	extern unsigned int name;                                         \
	extern const struct kernel_param_ops name##_ops;                  \
	module_param_cb(name, &name##_ops, &name, 0644);                  \
	MODULE_PARM_DESC(name, desc)

DM_REMAP_PARAM(dm_remap_debug,
	       "Log verbosity 0-3 (1: each automatic remap, 2: each failed bio; I/O-path messages are rate-limited)");
DM_REMAP_PARAM(enable_background_scanning,
	       "0/1: run the background scanner on new devices (default 1)");
DM_REMAP_PARAM(scan_interval_hours,
	       "Hours between full background scans, 1-168 (default 24)");
DM_REMAP_PARAM(real_device_mode,
	       "1: remap failing blocks (default); 0: observe-only, record errors and never remap");
DM_REMAP_PARAM(spare_overhead_percent,
	       "Minimum spare size in percent of the main device, 0-20 (default 2), enforced when strict_spare_sizing=1");
DM_REMAP_PARAM(strict_spare_sizing,
	       "1: refuse spares smaller than spare_overhead_percent; 0: only warn (default)");
