# SPDX-License-Identifier: GPL-2.0
#
# dm-remap top-level Makefile.
#
#   make [KDIR=/lib/modules/$(uname -r)/build]   build dm-remap.ko
#   make clean
#   make test         all tests: host cargo tests + VM suites (tests/run-all.sh)
#   make demo         build test kernel + module, run the demo in a VM
#
# Extra variables are passed to Kbuild (e.g. RUSTC=..., BINDGEN=...).

KDIR ?= /lib/modules/$(shell uname -r)/build
PWD := $(shell pwd)

# A clang-built kernel (e.g. one with KASAN and Rust) needs its modules built
# with LLVM=1 as well; follow whatever the kernel was built with.
KERNEL_IS_CLANG := $(shell grep -qs '^CONFIG_CC_IS_CLANG=y' $(KDIR)/.config && echo 1)
ifeq ($(KERNEL_IS_CLANG),1)
KBUILD_LLVM := LLVM=1
endif

all: modules

modules:
	$(MAKE) -C $(KDIR) M=$(PWD) $(KBUILD_LLVM) modules

clean:
	$(MAKE) -C $(KDIR) M=$(PWD) $(KBUILD_LLVM) clean
	rm -f src/dm/bindings_generated.rs .kernel-bindgen-flags.mk*

test:
	tests/run-all.sh

demo:
	tests/demo.sh

.PHONY: all modules clean test demo
