# SPDX-License-Identifier: GPL-2.0
#
# dm-remap top-level Makefile.
#
#   make [KDIR=/lib/modules/$(uname -r)/build]   build dm-remap.ko
#   make clean
#   make install / uninstall   plain source install into /lib/modules/<kver>/extra
#   make test         the CI tests: host cargo tests + VM suites (tests/run-all.sh)
#   make test-full    the same with the stress suites at full counts, also on 7.3
#   make demo         build test kernel + module, run the demo in a VM
#
# Packaging (docs/PACKAGING.md):
#
#   make dkms-deb | dkms-rpm | dkms-packages    DKMS packages, into dist/
#   make kmod-deb KVER=<release> KDIR=<build dir>   binary module package
#   make show-packaging                         what would be built, from what
#   make dkms-deb-clean | dkms-rpm-clean | dkms-packages-clean | kmod-deb-clean
#
# Extra variables are passed to Kbuild (e.g. RUSTC=..., BINDGEN=...).

# The module build (KDIR, LLVM=1 for clang-built kernels, the DKMS toolchain
# file; targets all, modules, clean) is the DKMS tree's own Makefile, shipped
# as /usr/src/dm-remap-<version>/Makefile; this one adds tests, install and
# packaging.
include $(dir $(lastword $(MAKEFILE_LIST)))dkms/Makefile

test:
	tests/run-all.sh

test-full:
	tests/run-all.sh --full

demo:
	tests/demo.sh

bench:
	tests/bench/run.sh

soak:
	tests/soak/run.sh

.PHONY: all modules clean test test-full demo bench soak

# ---------------------------------------------------------------------------
# Plain source install: the module for the kernel of KDIR, under
# $(DESTDIR)/lib/modules/<kver>/extra, then depmod.  Do not mix with the DKMS
# package (DKMS installs into .../updates/dkms, which depmod prefers).

KVER ?= $(shell cat $(KDIR)/include/config/kernel.release 2>/dev/null || uname -r)
INSTALL_MOD_DIR ?= extra

install: modules
	$(MAKE) -C $(KDIR) M=$(PWD) $(KBUILD_LLVM) $(KBUILD_TOOLS) \
		INSTALL_MOD_PATH=$(DESTDIR) INSTALL_MOD_DIR=$(INSTALL_MOD_DIR) modules_install
	@# Kbuild skips depmod when the build tree has no System.map (headers packages).
	depmod $(if $(DESTDIR),-b $(DESTDIR)) -a $(KVER)

uninstall:
	rm -f $(DESTDIR)/lib/modules/$(KVER)/$(INSTALL_MOD_DIR)/dm-remap.ko* \
		$(DESTDIR)/usr/lib/modules/$(KVER)/$(INSTALL_MOD_DIR)/dm-remap.ko*
	if [ -e $(DESTDIR)/lib/modules/$(KVER)/modules.dep ]; then \
		depmod $(if $(DESTDIR),-b $(DESTDIR)) -a $(KVER); fi

.PHONY: install uninstall

# ---------------------------------------------------------------------------
# Packaging.  VERSION is the single source of truth; dkms.conf, the Debian
# changelog and the spec must agree with it (scripts/check-version.sh).

VERSION := $(shell cat $(CURDIR)/VERSION)
DIST ?= $(CURDIR)/dist
PKG_BUILD := $(DIST)/build

# The DKMS source tree, /usr/src/dm-remap-$(VERSION): the build files and the
# module's sources, nothing test-only.  New sources under src/ ship by
# default; test-only directories are excluded here.  Its Makefile is
# DKMS_MAKEFILE (it only builds the module: this Makefile's test and packaging
# targets refer to files that are not shipped).
DKMS_MAKEFILE := dkms/Makefile
DKMS_FILES := dkms.conf Kbuild VERSION \
	$(sort $(wildcard include/*)) \
	scripts/dkms-pre-build.sh scripts/extract-bindgen-flags.sh scripts/kernel-features.sh \
	$(shell find src \( -path src/cli -o -path src/engine/tests -o -path src/engine/benches \
		-o -path src/engine/fuzz \) -prune -o -type f \( -name '*.rs' -o -name '*.c' -o -name '*.h' \) \
		! -name bindings_generated.rs -print 2>/dev/null | LC_ALL=C sort)
# Documentation shipped with the packages (not part of the DKMS tree).
PKG_DOCS := README.md docs/DKMS.md docs/dm-remap.rst
# What the packages are built from: the DKMS tree's files, this Makefile (for
# `make dkms-source` in debian/rules and the spec's %install), the docs and the
# license text (the RPM's %license; the Debian package has debian/copyright).
PKG_SRC_FILES := Makefile $(DKMS_MAKEFILE) $(DKMS_FILES) $(PKG_DOCS) LICENSE

# Install the DKMS source tree into $(DESTDIR)/usr/src/dm-remap-$(VERSION)
# (used by debian-dkms/rules and the RPM spec).
dkms-source:
	@set -e; d=$(DESTDIR)/usr/src/dm-remap-$(VERSION); \
	for f in $(DKMS_FILES); do \
		case $$f in *.sh) m=755 ;; *) m=644 ;; esac; \
		install -D -m $$m $$f $$d/$$f; \
	done; \
	install -D -m 644 $(DKMS_MAKEFILE) $$d/Makefile; \
	echo "installed the DKMS source tree in $$d"

dkms-deb:
	scripts/check-version.sh
	rm -rf $(PKG_BUILD)/deb
	mkdir -p $(PKG_BUILD)/deb/dm-remap-$(VERSION) $(DIST)
	tar -cf $(PKG_BUILD)/deb/files.tar $(PKG_SRC_FILES)
	tar -xf $(PKG_BUILD)/deb/files.tar -C $(PKG_BUILD)/deb/dm-remap-$(VERSION)
	cp -r debian-dkms $(PKG_BUILD)/deb/dm-remap-$(VERSION)/debian
	cd $(PKG_BUILD)/deb/dm-remap-$(VERSION) && dpkg-buildpackage -b -us -uc
	cp $(PKG_BUILD)/deb/dm-remap-dkms_*.deb $(PKG_BUILD)/deb/dm-remap_*.changes \
		$(PKG_BUILD)/deb/dm-remap_*.buildinfo $(DIST)/
	@ls -1 $(DIST)/dm-remap-dkms_*.deb

RPM_TOP := $(PKG_BUILD)/rpm
PACKAGER := $(shell sed -n 's/^Maintainer: //p' debian-dkms/control 2>/dev/null)
RPM_TAR := dm-remap-$(VERSION).tar.gz
# rpmbuild checks BuildRequires against the RPM database; on a system whose
# packages are not RPMs (Debian: the database does not even list rpm itself)
# that check can only fail, so it is skipped there.
RPMBUILD_NODEPS := $(shell rpm -q rpm >/dev/null 2>&1 || echo --nodeps)

dkms-rpm:
	scripts/check-version.sh
	rm -rf $(RPM_TOP)
	mkdir -p $(RPM_TOP)/SOURCES $(DIST)
	tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@0 \
		--transform 's,^,dm-remap-$(VERSION)/,' -czf $(RPM_TOP)/SOURCES/$(RPM_TAR) \
		$(PKG_SRC_FILES)
	rpmbuild $(RPMBUILD_NODEPS) --define '_topdir $(RPM_TOP)' --define 'packager $(PACKAGER)' -ba dm-remap-dkms.spec
	cp $(RPM_TOP)/RPMS/noarch/dm-remap-dkms-*.noarch.rpm $(RPM_TOP)/SRPMS/dm-remap-dkms-*.src.rpm $(DIST)/
	@ls -1 $(DIST)/dm-remap-dkms-*.rpm

# Package checks: lintian and rpmlint must be clean (overrides and filters
# carry their reasons: debian-dkms/*.lintian-overrides, dm-remap-dkms.rpmlintrc).
dkms-lint:
	lintian --fail-on warning --pedantic $(DIST)/dm-remap_$(VERSION)-*_$$(dpkg --print-architecture).changes
	rpmlint -r dm-remap-dkms.rpmlintrc dm-remap-dkms.spec $(DIST)/dm-remap-dkms-$(VERSION)-*.rpm

dkms-packages: dkms-deb dkms-rpm

dkms-deb-clean:
	rm -rf $(PKG_BUILD)/deb $(DIST)/dm-remap-dkms_*.deb $(DIST)/dm-remap_*.changes $(DIST)/dm-remap_*.buildinfo

dkms-rpm-clean:
	rm -rf $(RPM_TOP) $(DIST)/dm-remap-dkms-*.rpm

dkms-packages-clean: dkms-deb-clean dkms-rpm-clean

# A binary package with dm-remap.ko built for one kernel, for systems without
# a compiler: make kmod-deb KVER=<kernel release> KDIR=<its build tree>.
kmod-deb: modules
	mkdir -p $(DIST)
	scripts/kmod-deb.sh $(KVER) dm-remap.ko $(DIST)

kmod-deb-clean:
	rm -rf $(PKG_BUILD)/kmod $(DIST)/dm-remap-modules-*.deb

show-packaging:
	@echo "version:        $(VERSION) (VERSION)"
	@scripts/check-version.sh
	@echo "output:         $(DIST)"
	@echo "dkms-deb:       dm-remap-dkms_$(VERSION)-$$(sed -n '1s/.*($(VERSION)-\([^)]*\)).*/\1/p' debian-dkms/changelog)_all.deb (debian-dkms/, dpkg-buildpackage)"
	@echo "dkms-rpm:       dm-remap-dkms-$(VERSION)-$$(sed -n 's/^Release:[ \t]*\([^%]*\).*/\1/p' dm-remap-dkms.spec).noarch.rpm (dm-remap-dkms.spec, rpmbuild)"
	@echo "kmod-deb:       dm-remap-modules-<kver>_$(VERSION)+<kver>_<arch>.deb (scripts/kmod-deb.sh, KVER= KDIR=)"
	@echo "DKMS tree:      /usr/src/dm-remap-$(VERSION)/"
	@echo "                Makefile (from $(DKMS_MAKEFILE))"
	@for f in $(DKMS_FILES); do echo "                $$f"; done
	@echo "package docs:   $(PKG_DOCS)"
	@for t in dpkg-buildpackage dh_dkms rpmbuild lintian rpmlint dkms; do \
		printf '%-15s %s\n' "$$t:" "$$(command -v $$t || echo 'not found')"; done

.PHONY: dkms-source dkms-deb dkms-rpm dkms-lint dkms-packages dkms-deb-clean dkms-rpm-clean \
	dkms-packages-clean kmod-deb kmod-deb-clean show-packaging
