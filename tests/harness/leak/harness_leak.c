// SPDX-License-Identifier: GPL-2.0
/*
 * Harness self-test only: a module that leaks on purpose, so that the VM
 * runner's kmemleak check (tests/vm/guest/runner.sh) is seen to fail on a
 * leak whose module is gone (its report shows raw addresses, no symbol).
 */
#include <linux/module.h>
#include <linux/slab.h>

/* Referenced from module data only: unreferenced once the module is gone. */
static void *harness_leak_objects[8];

static int __init harness_leak_init(void)
{
	int i;

	for (i = 0; i < ARRAY_SIZE(harness_leak_objects); i++)
		harness_leak_objects[i] = kmalloc(256 << (i % 4), GFP_KERNEL);
	pr_info("harness_leak: leaked 8 objects on purpose\n");
	return 0;
}

static void __exit harness_leak_exit(void)
{
}

module_init(harness_leak_init);
module_exit(harness_leak_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("dm-remap test harness: leaks memory on purpose");
