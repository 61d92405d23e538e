#!/bin/bash
# tests/pkg/run.sh — end-to-end tests of dm-remap's packaging (docs/PACKAGING.md,
# docs/DKMS.md).  Run as root on the CI machine, after tests/run-all.sh's
# kernel suites (it reuses their chroot and, where it can, their kernel builds).
#
#   0. VERSION agrees with dkms.conf, the Debian changelog and the spec; the
#      DEB and RPM packages build (`make dkms-deb dkms-rpm`), lintian
#      (--fail-on warning) and rpmlint are clean, and they ship the DKMS tree
#      (with dkms/Makefile as its Makefile) and nothing test-only, declare
#      the dependencies DKMS needs (dkms >= 3.1.5, ...), and the RPM has
#      %license LICENSE; `dkms add` of a source install prints no
#      "Deprecated feature".
#   1. Kernels 7.2 and 7.3 as Debian packages: `make bindeb-pkg` (linux-image,
#      linux-headers) plus linux-lib-rust (tests/pkg/build-kernel-debs.sh),
#      installed with apt into a copy of the sid chroot (an overlay, thrown
#      away afterwards) that plays a machine running 7.2 (`uname -r`).
#   2. `apt install ./dm-remap-dkms_*.deb` → dkms status: installed on 7.2.
#   3. Installing the 7.3 packages runs the kernel's own hooks → DKMS builds
#      and installs dm-remap for 7.3 with no dkms call of ours.
#   4. Each kernel, booted from its package in QEMU with the DKMS-built module:
#      modprobe with parameters, a remap device, I/O (tests/pkg/suites/packaged).
#   5. apt remove + purge leave nothing; `make install`/`uninstall`; the
#      binary module package (`make kmod-deb`) installs and loads; reinstall;
#      upgrade to a newer version leaves exactly one.
#   6. A kernel without CONFIG_RUST (Debian trixie's own linux-headers package)
#      is skipped by DKMS with exit 77 and the apt transaction succeeds.
#   7. The PRE_BUILD script: a wrong rustc or bindgen skips the kernel (exit
#      77) with one exact line in make.log; a versioned rustc-X.Y is picked;
#      `apt install` with a kernel whose build tree lacks the Rust artifacts
#      (issue 13: Debian's stock kernel) and with a rustc that is not the
#      kernel's first in PATH exits 0, leaves the package configured and the
#      kernel skipped with the exact line; installing linux-lib-rust, or
#      `dkms autoinstall -k` once the right rustc is back, builds it.
#   8. RPM: rpm -i --root <chroot> --nodeps builds and installs; an upgrade
#      with a release bump keeps the module; erase cleans up; the same three
#      with a build that fails on purpose exit 0 too.  Every rpm call: exit
#      0, nothing on stdout, no dkms --rpm_safe_upgrade lock file left.
#
# Ends with `N passed, N failed`; exit status non-zero if anything failed.
# Logs: $CACHE/pkgtest/logs/ (one file per test), VM results under
# $CACHE/pkgtest/vm/.
. "$(dirname "$0")/../vm/lib.sh"
set +e

W=$CACHE/pkgtest
ROOT=$CHROOT/mnt/pkgroot # the test machine: an overlay over the sid chroot
CROOT=/mnt/pkgroot       # the same, as the sid chroot sees it
LOGS=$W/logs
DIST=$W/dist
V=$(cat "$REPO/VERSION")
VN=$(echo "$V" | awk -F. '{ printf "%s.%s.%d", $1, $2, $3 + 1 }') # the "newer version"
ARCH=x86_64
STARTED=$SECONDS

# ---------------------------------------------------------------------------
# Harness: every test is a function run in a subshell with `set -e`, its output
# in $LOGS/NN-name.log.  Results that later steps need go to files in $W/state.
passed=0 failed=0 failures=()
t() { # t NAME FUNCTION [ARGS...]
	local name=$1 logf rc start=$SECONDS
	shift
	logf=$LOGS/$(printf '%02d' $((passed + failed + 1)))-${name//[^A-Za-z0-9.]/_}.log
	(
		set -e -o pipefail
		"$@"
	) >"$logf" 2>&1
	rc=$?
	if [ $rc = 0 ]; then
		passed=$((passed + 1))
		log "ok   $name ($((SECONDS - start)) s)"
	else
		failed=$((failed + 1))
		failures+=("$name")
		log "FAIL $name ($((SECONDS - start)) s, log: $logf)"
		tail -n 15 "$logf" | sed 's/^/     | /' >&2
	fi
}
record() { # record NAME PASSED FAILED — a group of tests counted elsewhere (VM)
	passed=$((passed + $2))
	failed=$((failed + $3))
	((${3} == 0)) || failures+=("$1")
	log "== $1: $2 passed, $3 failed"
}
expect() { # expect DESCRIPTION COMMAND... — fail the test with a message
	local what=$1
	shift
	"$@" || { echo "FAILED: $what" >&2; return 1; }
	echo "ok: $what"
}
state() { cat "$W/state/$1"; }
# ko_version FILE — modinfo's version of a module file under $CACHE (the
# host's modinfo may be too old for the module's format).
ko_version() {
	case $1 in
	"$ROOT"/*) in_chroot modinfo -F version "$CROOT/${1#"$ROOT"/}" ;;
	*) in_chroot modinfo -F version "/cache/${1#"$CACHE"/}" ;;
	esac
}
# capture NAME COMMAND... — run it with its output shown and kept in $W/state/NAME
capture() {
	local f=$W/state/$1
	shift
	"$@" 2>&1 | tee "$f"
}
has() { grep -qF -- "$2" <<<"$1"; }      # has TEXT STRING
hasnt() { ! grep -qiF -- "$2" <<<"$1"; } # hasnt TEXT STRING (any case)

# The test machine.  Maintainer scripts see the PATH a root shell has.
in_root() {
	chroot "$ROOT" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb DEBIAN_FRONTEND=noninteractive \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
apt_root() { # downloads are kept in $W/apt-archives across runs
	in_root apt-get -y -q -o Dpkg::Use-Pty=0 -o APT::Sandbox::User=root \
		-o Dir::Cache::Archives=/pkgtest/apt-archives/ "$@"
}
in_machine() { # processes running in the test machine
	local p
	for p in /proc/[0-9]*; do
		[ "$(readlink "$p/root" 2>/dev/null)" != "$ROOT" ] || tr '\0' ' ' <"$p/cmdline"
	done
}
root_down() {
	mountpoint -q "$ROOT" || return 0
	local i
	# dkms's progress dots leave a `sleep 3` behind for up to 3 s.
	for i in 1 2 3 4 5; do [ -z "$(in_machine)" ] || sleep 1; done
	[ -z "$(in_machine)" ] || log "still running in the test machine: $(in_machine)"
	umount -R "$ROOT" 2>/dev/null || umount -R -l "$ROOT"
}
root_up() {
	root_down
	rm -rf "$W/upper" "$W/work"
	mkdir -p "$W/upper" "$W/work" "$W/apt-archives/partial"
	chroot_mount # the sid chroot's own mounts (lib.sh), for in_chroot
	mkdir -p "$ROOT"
	mount -t overlay overlay -o "lowerdir=$CHROOT,upperdir=$W/upper,workdir=$W/work" "$ROOT"
	mount -t proc proc "$ROOT/proc"
	mount --rbind /dev "$ROOT/dev"
	mount --make-rslave "$ROOT/dev"
	mkdir -p "$ROOT/pkgtest"
	mount --bind "$W" "$ROOT/pkgtest"
	# This root plays a machine running the 7.2 kernel: `uname -r` is what
	# dkms and the packages' scripts ask for the running kernel.
	in_root dpkg-divert --local --rename --add /usr/bin/uname >/dev/null 2>&1
	cat >"$ROOT/usr/bin/uname" <<-EOF
		#!/bin/sh
		# tests/pkg/run.sh: this root plays a machine running kernel $(state k72.release).
		if [ "\$*" = -r ]; then echo $(state k72.release); exit 0; fi
		exec /usr/bin/uname.distrib "\$@"
	EOF
	chmod 755 "$ROOT/usr/bin/uname"
}
trap root_down EXIT

dkms_status() { in_root dkms status "$@" 2>&1; }
dkms_lines() { dkms_status -m dm-remap | grep '^dm-remap/' || true; } # dm-remap's status lines only
# kdebs LINE [NAME] — the kernel packages of LINE (linux-NAME-* only) as the root sees them
kdebs() { ls "$W/kdebs/$1"/linux-"${2:-}"*.deb | sed "s|^$W/|/pkgtest/|"; }
# The one module file DKMS installed for a kernel (maybe compressed).
dkms_ko() { find "$ROOT/lib/modules/$1/updates/dkms" -name 'dm-remap.ko*' 2>/dev/null; }
all_kos() { find "$ROOT/usr/lib/modules" "$ROOT/usr/src" "$ROOT/var/lib/dkms" -name 'dm-remap.ko*' 2>/dev/null; }
make_log() { # make_log VERSION KERNEL — DKMS's make.log of a build
	cat "$ROOT/var/lib/dkms/dm-remap/$1/$2/$ARCH/log/make.log" 2>/dev/null ||
		cat "$ROOT/var/lib/dkms/dm-remap/$1/build/make.log"
}
elapsed() { # elapsed VERSION KERNEL — "pre_build X, make Y" from make.log
	make_log "$1" "$2" | awk '/^Running the pre_build script/ { w = "pre_build" } /^Building module/ { w = "make" }
		/^# elapsed time:/ { printf "%s%s %s", sep, w, $4; sep = ", " } END { print "" }'
}

# ---------------------------------------------------------------------------
# 0. Packages.

test_version() { "$REPO/scripts/check-version.sh"; }

test_build_packages() {
	rm -rf "$DIST" "$W/src" "$W/src-next" "$W/src-bump"
	mkdir -p "$DIST"
	rsync -a --exclude /target --exclude /.git --exclude /dist "$REPO/" "$W/src/"
	in_chroot make -C /cache/pkgtest/src DIST=/cache/pkgtest/dist dkms-deb dkms-rpm
	# The newer version (upgrade test): scripts/set-version.sh on a copy.
	cp -a "$W/src" "$W/src-next"
	in_chroot sh -c "cd /cache/pkgtest/src-next && scripts/set-version.sh $VN 'Test upgrade.' &&
		make DIST=/cache/pkgtest/dist dkms-deb"
	# A release bump of the RPM (same version, Release: 2).
	cp -a "$W/src" "$W/src-bump"
	sed -i -e 's/^Release:\([ \t]*\)[^%]*/Release:\12/' \
		-e "/^%changelog/a * $(LC_ALL=C date '+%a %b %d %Y') Test <test@example.org> - $V-2\n- Release bump (test).\n" \
		"$W/src-bump/dm-remap-dkms.spec"
	in_chroot make -C /cache/pkgtest/src-bump DIST=/cache/pkgtest/dist dkms-rpm
	# A build that fails on purpose (section 8): a compile error in
	# src/helpers.c, as Release 1.broken and 2.broken, in their own directory
	# (not linted, not in the contents test).
	rm -rf "$W/src-broken" "$W/dist-broken"
	cp -a "$W/src" "$W/src-broken"
	echo '#error "dm-remap: broken on purpose by tests/pkg/run.sh"' >>"$W/src-broken/src/helpers.c"
	for r in 1 2; do
		sed -i -e "s/^Release:\([ \t]*\)[^%]*/Release:\1$r.broken/" \
			-e "/^%changelog/a * $(LC_ALL=C date '+%a %b %d %Y') Test <test@example.org> - $V-$r.broken\n- A build that fails (test).\n" \
			"$W/src-broken/dm-remap-dkms.spec"
		in_chroot make -C /cache/pkgtest/src-broken DIST=/cache/pkgtest/dist-broken dkms-rpm
	done
	ls -l "$DIST" "$W/dist-broken"
	for f in "dm-remap-dkms_$V-1_all.deb" "dm-remap-dkms_$VN-1_all.deb" "dm-remap-dkms-$V-1.noarch.rpm" \
		"dm-remap-dkms-$V-2.noarch.rpm" "dm-remap-dkms-$V-1.src.rpm"; do
		expect "$f built" test -s "$DIST/$f"
	done
	for f in "dm-remap-dkms-$V-1.broken.noarch.rpm" "dm-remap-dkms-$V-2.broken.noarch.rpm"; do
		expect "$f built" test -s "$W/dist-broken/$f"
	done
}

test_lint() {
	in_chroot make -C /cache/pkgtest/src DIST=/cache/pkgtest/dist dkms-lint
}

test_package_contents() {
	local deb rpm want
	deb=$(in_chroot dpkg-deb -c "/cache/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb" | awk '{ print $6 }' | sed 's|^\./|/|')
	rpm=$(in_chroot rpm -qpl "/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm")
	echo "$deb"
	for list in "$deb" "$rpm"; do
		expect "nothing test-only shipped" \
			test -z "$(grep -E '/(tests|benches|fuzz|cli)/|Cargo\.|\.ko$|\.o$|bindings_generated' <<<"$list")"
		for want in dkms.conf Kbuild Makefile VERSION include/dm_remap_bindings.h include/bindgen_parameters \
			scripts/dkms-pre-build.sh scripts/extract-bindgen-flags.sh scripts/kernel-features.sh \
			src/dm_remap.rs src/helpers.c src/engine/engine.rs; do
			expect "ships $want" grep -qx "/usr/src/dm-remap-$V/$want" <<<"$list"
		done
	done
	expect "dkms.conf in the deb is the repository's" cmp "$REPO/dkms.conf" \
		<(in_chroot dpkg-deb --fsys-tarfile "/cache/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb" |
			tar -xOf - "./usr/src/dm-remap-$V/dkms.conf")
	# The DKMS tree's Makefile is dkms/Makefile: it builds the module only
	# (the top Makefile's test and packaging targets need unshipped files).
	expect "the deb's DKMS Makefile is dkms/Makefile" cmp "$REPO/dkms/Makefile" \
		<(in_chroot dpkg-deb --fsys-tarfile "/cache/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb" |
			tar -xOf - "./usr/src/dm-remap-$V/Makefile")
	expect "the rpm's DKMS Makefile is dkms/Makefile" cmp "$REPO/dkms/Makefile" \
		<(in_chroot sh -c "cd /tmp && rpm2cpio /cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm |
			cpio -i --quiet --to-stdout ./usr/src/dm-remap-$V/Makefile")
	expect "dkms/Makefile has no test or packaging targets" \
		test -z "$(grep -E '^(test|test-full|demo|bench|soak|install|dkms-[a-z-]*|kmod-deb|show-packaging):' "$REPO/dkms/Makefile")"
	# Debian: what the build needs, and a dkms that honours PRE_BUILD's 77.
	expect "deb Depends" test "$(in_chroot dpkg-deb -f "/cache/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb" Depends)" = \
		"dkms (>= 3.1.5), make, rustc, bindgen, libclang-dev"
	expect "deb Recommends" test "$(in_chroot dpkg-deb -f "/cache/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb" Recommends)" = \
		"clang, lld, llvm, pahole"
	# RPM: Fedora's packaging guidelines.
	local reqs
	reqs=$(in_chroot rpm -qp --qf '[%{REQUIRENAME} %{REQUIREFLAGS:deptype} %{REQUIREFLAGS:depflags} %{REQUIREVERSION}\n]' \
		"/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm")
	echo "$reqs"
	expect "rpm Requires: dkms >= 3.1.5" grep -qx 'dkms manual >= 3.1.5' <<<"$reqs"
	expect "rpm Requires(post): dkms" grep -qx 'dkms post *' <<<"$reqs"
	expect "rpm Requires(preun): dkms" grep -qx 'dkms preun *' <<<"$reqs"
	expect "src.rpm BuildRequires: make" grep -qx make \
		<(in_chroot rpm -qp --qf '[%{REQUIRENAME}\n]' "/cache/pkgtest/dist/dm-remap-dkms-$V-1.src.rpm")
	expect "rpm URL tag" test -n "$(in_chroot rpm -qp --qf '%{URL}' "/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm" | grep -v '(none)')"
	expect "rpm %license LICENSE" grep -qx "/usr/share/licenses/dm-remap-dkms/LICENSE l" \
		<(in_chroot rpm -qp --qf '[%{FILENAMES} %{FILEFLAGS:fflags}\n]' "/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm")
	expect "LICENSE is the GPL-2 text" cmp "$REPO/LICENSE" "$CHROOT/usr/share/common-licenses/GPL-2"
}

# The flavour of each line's packages is the one run-all.sh already builds
# for the VM suites (7.2 debug, 7.3 perf): build-kernel-debs.sh then seeds
# from that finished tree and only relinks, instead of compiling a third
# kernel on a fresh machine.
pkg_flavour() { case $1 in 7.2) echo debug ;; *) echo perf ;; esac; }

test_kernel_debs() { # test_kernel_debs LINE
	local dir rel
	dir=$("$REPO/tests/pkg/build-kernel-debs.sh" "$1" "$(pkg_flavour "$1")")
	rel=$(cat "$dir/kernel.release")
	mkdir -p "$W/state" "$W/kdebs/$1"
	rm -f "$W/kdebs/$1"/*.deb
	ln "$dir"/linux-image-"$rel"_*.deb "$dir"/linux-headers-"$rel"_*.deb "$dir"/linux-lib-rust-"$rel"_*.deb "$W/kdebs/$1/"
	ls -l "$W/kdebs/$1"
	echo "$rel" >"$W/state/k${1//./}.release"
}

# A manual DKMS install from a checkout (docs/DKMS.md): `make dkms-source`,
# `dkms add` (no "Deprecated feature"), `dkms install` for the running kernel.
test_dkms_source_install() {
	local out
	in_root make -C /pkgtest/src dkms-source DESTDIR=/
	capture dkms-add.out in_root dkms add -m dm-remap -v "$V"
	out=$(state dkms-add.out)
	expect "dkms add prints no deprecation" hasnt "$out" deprecated
	expect "dkms status: added" test "$(dkms_status -m dm-remap)" = "dm-remap/$V: added"
	capture dkms-install.out in_root dkms install -m dm-remap -v "$V"
	expect "dkms install prints no deprecation" hasnt "$(state dkms-install.out)" deprecated
	expect "dkms status: installed for the running kernel" \
		test "$(dkms_status -m dm-remap)" = "dm-remap/$V, $(state k72.release), $ARCH: installed"
	in_root dkms remove -m dm-remap -v "$V" --all
	rm -rf "$ROOT/usr/src/dm-remap-$V"
	nothing_left
}

# ---------------------------------------------------------------------------
# 1-3. Install, kernel upgrade.

test_install_kernel() { # test_install_kernel LINE
	local rel
	rel=$(state "k${1//./}.release")
	apt_root install $(kdebs "$1")
	expect "/lib/modules/$rel/build has the Rust artifacts" in_root test -e "/lib/modules/$rel/build/rust/libkernel.rmeta"
	expect "vmlinuz installed" test -e "$ROOT/boot/vmlinuz-$rel"
}

test_install_dkms_deb() {
	local k72 out start=$SECONDS
	k72=$(state k72.release)
	capture apt.step2 apt_root install "/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb"
	out=$(state apt.step2)
	echo "apt install: $((SECONDS - start)) s; DKMS build for $k72: $(elapsed "$V" "$k72")" | tee "$W/state/time.build1"
	expect "no deprecation" hasnt "$out" "deprecated feature"
	dkms_status | tee "$W/state/status.step2"
	expect "installed on $k72" grep -qx "dm-remap/$V, $k72, $ARCH: installed" "$W/state/status.step2"
	expect "module file" test -n "$(dkms_ko "$k72")"
}

test_kernel_upgrade_autoinstall() {
	local k72 k73 out start=$SECONDS
	k72=$(state k72.release) k73=$(state k73.release)
	capture apt.step3 apt_root install $(kdebs 7.3)
	out=$(state apt.step3)
	echo "apt install of the 7.3 packages: $((SECONDS - start)) s; DKMS build for $k73: $(elapsed "$V" "$k73")" |
		tee "$W/state/time.build2"
	expect "the kernel hook ran DKMS" has "$out" "Autoinstall of module dm-remap/$V for kernel $k73"
	dkms_status | tee "$W/state/status.step3"
	expect "installed on $k72" grep -qx "dm-remap/$V, $k72, $ARCH: installed" "$W/state/status.step3"
	expect "installed on $k73" grep -qx "dm-remap/$V, $k73, $ARCH: installed" "$W/state/status.step3"
}

# ---------------------------------------------------------------------------
# 4. Boot a packaged kernel with a packaged module (tests/pkg/suites/packaged).

vm_test() { # vm_test NAME KERNEL_RELEASE KO_FILE_IN_ROOT
	local name=$1 rel=$2 ko=$3 dir out vp vf
	dir=$W/vm/$(echo "$name" | tr -c 'A-Za-z0-9.\n-' '_')
	rm -rf "$dir"
	mkdir -p "$dir/kdir/arch/x86/boot" "$dir/kdir/include/config"
	# A "build directory" made of what the packages installed: the kernel
	# image from /boot and the module lists from /lib/modules/<release>.
	if [ -z "$ko" ] || ! cp "$ROOT/boot/vmlinuz-$rel" "$dir/kdir/arch/x86/boot/bzImage"; then
		record "VM $name" 0 1
		return
	fi
	echo "$rel" >"$dir/kdir/include/config/kernel.release"
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		[ ! -f "$ROOT/lib/modules/$rel/$f" ] || cp "$ROOT/lib/modules/$rel/$f" "$dir/kdir/"
	done
	case $ko in
	*.xz) xz -dc "$ko" ;;
	*.zst) zstd -qdc "$ko" ;;
	*.gz) gzip -dc "$ko" ;;
	*) cat "$ko" ;;
	esac >"$dir/dm-remap.ko"
	local rc=0
	out=$("$REPO/tests/vm/run-vm.sh" --kernel "$dir/kdir" --ko "$dir/dm-remap.ko" \
		--suite "$REPO/tests/pkg/suites/packaged" --out "$dir/out" --timeout 900 \
		--append "dmremap.ko_sha256=$(sha256sum <"$dir/dm-remap.ko" | cut -d' ' -f1) dmremap.version=$(ko_version "$dir/dm-remap.ko")" |
		tail -n 1) || rc=$?
	vp=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\1/p')
	vf=$(echo "$out" | sed -n 's/^\([0-9]*\) passed, \([0-9]*\) failed.*/\2/p')
	# A VM run that exits non-zero has failed, whatever its last line says.
	[ "$rc" = 0 ] || [ "${vf:-0}" != 0 ] || vf=1
	record "VM $name (logs: $dir/out)" "${vp:-0}" "${vf:-1}"
}

# ---------------------------------------------------------------------------
# 5. Removal, plain install, binary package, reinstall, upgrade.

nothing_left() {
	expect "no /var/lib/dkms/dm-remap" test ! -e "$ROOT/var/lib/dkms/dm-remap"
	expect "no /usr/src/dm-remap-*" test -z "$(ls -d "$ROOT"/usr/src/dm-remap-* 2>/dev/null)"
	expect "no dm-remap.ko anywhere" test -z "$(all_kos)"
	expect "no dm-remap in modules.dep" test -z "$(cat "$ROOT"/usr/lib/modules/*/modules.dep 2>/dev/null | grep dm-remap)"
}

test_remove_purge() {
	apt_root remove dm-remap-dkms
	expect "dkms status empty after remove" test -z "$(dkms_status -m dm-remap)"
	expect "no module files after remove" test -z "$(all_kos)"
	# apt no longer knows a removed local .deb (no conffiles): purge with dpkg.
	# (Step 8 purges an installed one with apt.)
	in_root dpkg --purge dm-remap-dkms
	expect "package gone" test -z "$(in_root dpkg-query -W -f '${Status}' dm-remap-dkms 2>/dev/null | grep -v not-installed)"
	nothing_left
}

test_make_install() {
	local k72
	k72=$(state k72.release)
	rm -rf "$ROOT/tmp/plain"
	cp -a "$W/src" "$ROOT/tmp/plain"
	in_root make -C /tmp/plain install KDIR="/lib/modules/$k72/build"
	expect "installed into extra/" test -e "$ROOT/lib/modules/$k72/extra/dm-remap.ko"
	expect "depmod knows it" test "$(in_root modinfo -k "$k72" -n dm_remap)" = "/lib/modules/$k72/extra/dm-remap.ko"
	in_root make -C /tmp/plain uninstall KDIR="/lib/modules/$k72/build"
	expect "uninstalled" test ! -e "$ROOT/lib/modules/$k72/extra/dm-remap.ko"
	expect "depmod forgot it" test -z "$(in_root modinfo -k "$k72" -n dm_remap 2>/dev/null)"
}

test_kmod_deb() {
	local k72 deb
	k72=$(state k72.release)
	in_root make -C /tmp/plain kmod-deb KVER="$k72" KDIR="/lib/modules/$k72/build" DIST=/pkgtest/dist
	deb=$(ls "$DIST"/dm-remap-modules-"$k72"_*.deb)
	echo "$deb"
	expect "name and version carry module version and kernel release" \
		test "$(basename "$deb")" = "dm-remap-modules-${k72}_$V+${k72}_amd64.deb"
	in_chroot lintian --fail-on warning "/cache/pkgtest/dist/$(basename "$deb")"
	apt_root install "/pkgtest/dist/$(basename "$deb")"
	expect "modprobe finds it" test "$(in_root modinfo -k "$k72" -n dm_remap)" = "/lib/modules/$k72/extra/dm-remap.ko"
	echo "/lib/modules/$k72/extra/dm-remap.ko" >"$W/state/kmod.ko"
}

test_kmod_deb_purge() {
	apt_root purge "dm-remap-modules-$(state k72.release)"
	nothing_left
}

test_reinstall() {
	apt_root install "/pkgtest/dist/dm-remap-dkms_${V}-1_all.deb"
	dkms_status | tee "$W/state/status.reinstall"
	expect "installed on 7.2" grep -qx "dm-remap/$V, $(state k72.release), $ARCH: installed" "$W/state/status.reinstall"
	expect "installed on 7.3" grep -qx "dm-remap/$V, $(state k73.release), $ARCH: installed" "$W/state/status.reinstall"
}

test_upgrade() {
	local k
	apt_root install "/pkgtest/dist/dm-remap-dkms_${VN}-1_all.deb"
	dkms_status | tee "$W/state/status.upgrade"
	for k in "$(state k72.release)" "$(state k73.release)"; do
		expect "$VN installed on $k" grep -qx "dm-remap/$VN, $k, $ARCH: installed" "$W/state/status.upgrade"
		expect "one module file for $k" test "$(dkms_ko "$k" | wc -l)" = 1
		expect "it is $VN" test "$(ko_version "$(dkms_ko "$k")")" = "$VN"
	done
	expect "exactly one version in dkms status" test "$(grep -c . "$W/state/status.upgrade")" = 2
	expect "exactly one version in /var/lib/dkms" test "$(ls "$ROOT/var/lib/dkms/dm-remap" | grep -c '^[0-9]')" = 1
	expect "old sources gone" test ! -e "$ROOT/usr/src/dm-remap-$V"
}

# ---------------------------------------------------------------------------
# 6. A kernel without CONFIG_RUST: Debian trixie's cloud kernel headers (real
# package, real hooks).  They depend on their linux-image package; a stub
# that provides it stands in, since this step is about the headers.

test_unsupported_kernel() {
	local ver hdr kv iver out rc
	apt_root update -qq
	ver=$(in_root apt-cache madison linux-headers-cloud-amd64 | awk -F' *[|] *' '$3 ~ / trixie\// { print $2; exit }')
	hdr=$(in_root apt-cache depends "linux-headers-cloud-amd64=$ver" | sed -n 's/^ *Depends: //p' | head -n 1)
	kv=${hdr#linux-headers-}
	iver=$(in_root apt-cache show "$hdr" | sed -n 's/^Version: //p' | head -n 1)
	echo "trixie headers: $hdr ($iver)"
	expect "found the trixie headers package" test -n "$kv"
	rm -rf "$W/stub"
	mkdir -p "$W/stub/DEBIAN"
	cat >"$W/stub/DEBIAN/control" <<-EOF
		Package: dm-remap-test-image-stub
		Version: 1
		Architecture: all
		Maintainer: dm-remap tests <test@example.org>
		Provides: linux-image-$kv (= $iver)
		Description: stands in for linux-image-$kv in tests/pkg/run.sh
	EOF
	dpkg-deb --root-owner-group --build "$W/stub" "$W/image-stub.deb" >/dev/null
	rc=0
	capture apt.step6 apt_root install /pkgtest/image-stub.deb "$hdr" || rc=$?
	out=$(state apt.step6)
	expect "apt transaction succeeded" test $rc = 0
	expect "a headers tree without CONFIG_RUST" test -z "$(in_root grep '^CONFIG_RUST=y' "/lib/modules/$kv/build/.config")"
	expect "the header hook ran DKMS, which skipped it" has "$out" "Autoinstall on $kv was skipped for module(s) dm-remap"
	rc=0
	in_root dkms build -m dm-remap -v "$VN" -k "$kv" || rc=$?
	expect "dkms build exits 77 (skipped)" test $rc = 77
	expect "dkms status does not list it" hasnt "$(dkms_status)" ", $kv,"
}

# ---------------------------------------------------------------------------
# 7. The PRE_BUILD check.  Fake tools answer --version and fail otherwise.
# Whatever keeps the module from being built for a kernel, outside dm-remap's
# code, makes scripts/dkms-pre-build.sh exit 77 (DKMS: skipped) with one line.

fake_tool() { # fake_tool DIR NAME VERSION_LINE
	mkdir -p "$ROOT$1"
	printf '#!/bin/sh\n[ "$1" = --version ] && { echo "%s"; exit 0; }\necho "fake $0 called" >&2; exit 1\n' "$3" >"$ROOT$1/$2"
	chmod 755 "$ROOT$1/$2"
}
# build_with_path DIR KERNEL — unbuild, then dkms build with DIR first in PATH
build_with_path() {
	if [ -n "$(dkms_status -m dm-remap -v "$VN" -k "$2")" ]; then
		in_root dkms unbuild -m dm-remap -v "$VN" -k "$2" >/dev/null
	fi
	in_root env PATH="$1:/usr/sbin:/usr/bin:/sbin:/bin" dkms build -m dm-remap -v "$VN" -k "$2"
}
one_line() { # one_line KERNEL PATTERN... — make.log has exactly one dm-remap: line, matching all
	local lines p
	lines=$(make_log "$VN" "$1" | grep '^dm-remap: ')
	echo "the line: $lines"
	expect "exactly one dm-remap: line" test "$(grep -c . <<<"$lines")" = 1
	for p in "${@:2}"; do expect "it says '$p'" has "$lines" "$p"; done
}
# skipped_with KERNEL LINE — DKMS's make.log is that of a build for KERNEL
# whose PRE_BUILD exited 77, and its only dm-remap: line is exactly LINE.
skipped_with() {
	local log lines
	log=$(make_log "$VN" "$1")
	lines=$(grep '^dm-remap: ' <<<"$log")
	echo "the line: $lines"
	expect "make.log is the build for $1" grep -qF "make.log for dm-remap/$VN for kernel $1 (" <<<"$log"
	expect "PRE_BUILD exited 77" grep -qx '# exit code: 77' <<<"$log"
	expect "exactly one dm-remap: line" test "$(grep -c . <<<"$lines")" = 1
	expect "it is: $2" test "$lines" = "$2"
}
# kconf KERNEL NAME — CONFIG_NAME of an installed kernel's build tree, unquoted
kconf() {
	in_root cat "/lib/modules/$1/build/include/config/auto.conf" | sed -n "s/^CONFIG_$2=\"\{0,1\}\([^\"]*\)\"\{0,1\}\$/\1/p"
}
mm() { echo "$1" | sed -n 's/^[^ ]* \([0-9]*\.[0-9]*\).*/\1/p'; } # "tool X.Y.Z ..." → X.Y
# The lines scripts/dkms-pre-build.sh prints for a wrong rustc or bindgen
# (FOUND: what is first in PATH) and for a build tree without linux-lib-rust.
wrong_tool_line() { # wrong_tool_line KERNEL TOOL WANT FOUND
	echo "dm-remap: kernel $1 was built with '$3' but $4; install $2 $(echo "$3" | cut -d' ' -f2) (as $2-$(mm "$3"), or as the first $2 in PATH), then run 'dkms autoinstall -k $1'"
}
no_lib_rust_line() { # no_lib_rust_line KERNEL
	echo "dm-remap: kernel $1 has CONFIG_RUST=y but its build tree /lib/modules/$1/build lacks the Rust build artifacts (missing: rust/libcore.rmeta rust/libcompiler_builtins.rmeta rust/libkernel.rmeta rust/libmacros.so rust/Makefile); install linux-lib-rust-$1 (Ubuntu has it; Debian's and Fedora's kernel packages do not ship these files, see /usr/share/doc/dm-remap-dkms/DKMS.md), then run 'dkms autoinstall -k $1'"
}

test_wrong_rustc() {
	local k72 rc=0
	k72=$(state k72.release)
	fake_tool /opt/fake-rustc rustc "rustc 1.0.0 (00000000 2015-05-15)"
	build_with_path /opt/fake-rustc "$k72" || rc=$?
	expect "dkms build exits 77 (skipped): exit $rc" test $rc = 77
	skipped_with "$k72" "$(wrong_tool_line "$k72" rustc "$(kconf "$k72" RUSTC_VERSION_TEXT)" \
		"/opt/fake-rustc/rustc is 'rustc 1.0.0 (00000000 2015-05-15)'")"
	expect "not built for $k72" hasnt "$(dkms_status -m dm-remap)" ", $k72,"
}

test_wrong_bindgen() {
	local k72 rc=0
	k72=$(state k72.release)
	fake_tool /opt/fake-bindgen bindgen "bindgen 0.1.0"
	build_with_path /opt/fake-bindgen "$k72" || rc=$?
	expect "dkms build exits 77 (skipped): exit $rc" test $rc = 77
	skipped_with "$k72" "$(wrong_tool_line "$k72" bindgen "$(kconf "$k72" BINDGEN_VERSION_TEXT)" \
		"/opt/fake-bindgen/bindgen is 'bindgen 0.1.0'")"
}

# A wrong `rustc` first in PATH but the right one as rustc-X.Y: picked, and
# handed to Kbuild (the fake rustc fails any real use).
test_versioned_rustc() {
	local k72 mm
	k72=$(state k72.release)
	mm=$(in_root rustc --version | sed -n 's/^rustc \([0-9]*\.[0-9]*\).*/\1/p')
	fake_tool /opt/fake-versioned rustc "rustc 1.0.0 (00000000 2015-05-15)"
	ln -sf /usr/bin/rustc "$ROOT/opt/fake-versioned/rustc-$mm"
	build_with_path /opt/fake-versioned "$k72"
	one_line "$k72" "using /opt/fake-versioned/rustc-$mm"
	in_root dkms install -m dm-remap -v "$VN" -k "$k72"
	expect "installed again" test "$(dkms_status -m dm-remap -k "$k72")" = "dm-remap/$VN, $k72, $ARCH: installed"
}

# Issue 13: `apt install` on a machine with a kernel whose build tree lacks
# the Rust artifacts (Debian's stock kernel; here 7.3 without linux-lib-rust).
# DKMS's postinst builds for the running kernel (7.2) and the newest (7.3):
# 7.2 is installed, 7.3 skipped with the line, apt exits 0 and the package is
# configured.  Installing linux-lib-rust then builds it through its hook.
test_missing_rust_artifacts() {
	local k72 k73 rc=0 out
	k72=$(state k72.release) k73=$(state k73.release)
	apt_root remove "linux-lib-rust-$k73"
	expect "the $k73 build tree lacks the Rust artifacts" test ! -e "$ROOT/lib/modules/$k73/build/rust/libkernel.rmeta"
	capture apt.missing apt_root install --reinstall "/pkgtest/dist/dm-remap-dkms_${VN}-1_all.deb" || rc=$?
	out=$(state apt.missing)
	expect "apt install exits 0: exit $rc" test $rc = 0
	expect "dm-remap-dkms is configured" \
		test "$(in_root dpkg-query -W -f '${Status}' dm-remap-dkms)" = "install ok installed"
	expect "DKMS reported the skip (pre_build exit 77)" has "$out" "(bad exit status: 77)"
	skipped_with "$k73" "$(no_lib_rust_line "$k73")"
	expect "dkms status: installed on $k72 only" \
		test "$(dkms_lines)" = "dm-remap/$VN, $k72, $ARCH: installed"
	expect "no module file for $k73" test -z "$(dkms_ko "$k73")"
	apt_root install $(kdebs 7.3 lib-rust)
	expect "installed on $k73 by the lib-rust package's header hook" \
		test "$(dkms_status -m dm-remap -k "$k73")" = "dm-remap/$VN, $k73, $ARCH: installed"
}

# A rustc that is not the kernel's first in root's PATH (/usr/local/bin):
# `apt install` skips both kernels with the line and exits 0; once it is gone,
# `dkms autoinstall -k` (what the line says) builds and installs the module.
test_apt_wrong_rustc() {
	local k72 k73 k rc=0 out
	k72=$(state k72.release) k73=$(state k73.release)
	# apt runs maintainer scripts with its DPkg::Path (/usr/sbin:/usr/bin:
	# /sbin:/bin), never /usr/local/bin: a wrong rustc under apt is the
	# distribution's own, e.g. after the archive moved on from the kernel's.
	# (t runs this in a subshell: the real one comes back even if a check
	# fails.)
	trap '[ ! -e "$ROOT/usr/bin/rustc.dm-remap-test" ] || mv -f "$ROOT/usr/bin/rustc.dm-remap-test" "$ROOT/usr/bin/rustc"' EXIT
	mv "$ROOT/usr/bin/rustc" "$ROOT/usr/bin/rustc.dm-remap-test"
	fake_tool /usr/bin rustc "rustc 1.0.0 (00000000 2015-05-15)"
	capture apt.wrong-rustc apt_root install --reinstall "/pkgtest/dist/dm-remap-dkms_${VN}-1_all.deb" || rc=$?
	out=$(state apt.wrong-rustc)
	expect "apt install exits 0: exit $rc" test $rc = 0
	expect "dm-remap-dkms is configured" \
		test "$(in_root dpkg-query -W -f '${Status}' dm-remap-dkms)" = "install ok installed"
	expect "DKMS skipped both kernels (pre_build exit 77 twice)" test "$(grep -c '(bad exit status: 77)' <<<"$out")" = 2
	# make.log is the last build's: 7.3's.
	skipped_with "$k73" "$(wrong_tool_line "$k73" rustc "$(kconf "$k73" RUSTC_VERSION_TEXT)" \
		"/usr/bin/rustc is 'rustc 1.0.0 (00000000 2015-05-15)'")"
	expect "dkms status: added, built for no kernel" test "$(dkms_lines)" = "dm-remap/$VN: added"
	mv -f "$ROOT/usr/bin/rustc.dm-remap-test" "$ROOT/usr/bin/rustc"
	for k in "$k72" "$k73"; do
		in_root dkms autoinstall -k "$k"
		expect "dkms autoinstall -k $k: installed" \
			test "$(dkms_status -m dm-remap -k "$k")" = "dm-remap/$VN, $k, $ARCH: installed"
	done
}

# ---------------------------------------------------------------------------
# 8. RPM, with the chroot's rpm into the test machine: rpm --root.  The
# scriptlets follow Fedora's packaging guidelines: they never fail the
# transaction and print nothing on stdout (DKMS's output goes to
# /var/log/dm-remap-dkms.log; a kernel left without the module gets one line
# on stderr).

rpm_root() { in_chroot rpm --root "$CROOT" "$@"; }
# rpm_quiet NAME RPM-ARGS... — exit 0, nothing on stdout (stderr kept in
# $W/state/NAME.err), no dkms --rpm_safe_upgrade lock file left behind.
rpm_quiet() {
	local name=$1 rc=0 out
	shift
	out=$(rpm_root "$@" 2>"$W/state/$name.err") || rc=$?
	echo "rpm $*: exit $rc"
	sed 's/^/  stderr: /' "$W/state/$name.err"
	expect "rpm $1 exits 0: exit $rc" test $rc = 0
	expect "nothing on stdout" test -z "$out"
	expect "no dkms --rpm_safe_upgrade lock file left" test -z "$(ls "$ROOT"/tmp/dkms_rpm_safe_upgrade_lock.* 2>/dev/null)"
}
# rpm_said NAME — the scriptlets' stderr lines of an rpm_quiet call (rpm's
# own "warning: ..." lines left out)
rpm_said() { grep -v '^warning: ' "$W/state/$1.err" || true; }

test_rpm_install() {
	local k72
	k72=$(state k72.release)
	apt_root purge dm-remap-dkms
	nothing_left
	rpm_quiet rpm-install -i --nodeps "/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm"
	expect "%post said nothing" test -z "$(rpm_said rpm-install)"
	expect "%post logged" grep -qx "== .* dm-remap-dkms-$V-1 post-install" "$ROOT/var/log/dm-remap-dkms.log"
	dkms_status | tee "$W/state/status.rpm"
	expect "installed on $k72 by %post" grep -qx "dm-remap/$V, $k72, $ARCH: installed" "$W/state/status.rpm"
	expect "module file" test -n "$(dkms_ko "$k72")"
}

test_rpm_release_bump() {
	local k72
	k72=$(state k72.release)
	rpm_quiet rpm-bump -U --nodeps "/cache/pkgtest/dist/dm-remap-dkms-$V-2.noarch.rpm"
	expect "%post said nothing" test -z "$(rpm_said rpm-bump)"
	expect "rpm has $V-2" test "$(rpm_root -q dm-remap-dkms)" = "dm-remap-dkms-$V-2.noarch"
	dkms_status | tee "$W/state/status.rpm-bump"
	expect "still installed on $k72" grep -qx "dm-remap/$V, $k72, $ARCH: installed" "$W/state/status.rpm-bump"
	expect "one version" test "$(grep -c . "$W/state/status.rpm-bump")" = 1
	expect "module file" test -n "$(dkms_ko "$k72")"
}

test_rpm_erase() {
	rpm_quiet rpm-erase -e --nodeps dm-remap-dkms
	expect "rpm gone" test -z "$(rpm_root -q dm-remap-dkms | grep -v 'not installed')"
	expect "the %ghost log went with it" test ! -e "$ROOT/var/log/dm-remap-dkms.log"
	nothing_left
}

# The running kernel's build tree without the Rust artifacts: %post skips it
# with the line on stderr, rpm exits 0; linux-lib-rust's hook builds it.
test_rpm_skipped() {
	local k72
	k72=$(state k72.release)
	apt_root remove "linux-lib-rust-$k72"
	rpm_quiet rpm-skip -i --nodeps "/cache/pkgtest/dist/dm-remap-dkms-$V-1.noarch.rpm"
	expect "%post printed the line" test "$(rpm_said rpm-skip)" = "$(no_lib_rust_line "$k72")"
	expect "dkms status: added, not built" test "$(dkms_lines)" = "dm-remap/$V: added"
	apt_root install $(kdebs 7.2 lib-rust)
	expect "installed on $k72 by the lib-rust package's header hook" \
		test "$(dkms_status -m dm-remap -k "$k72")" = "dm-remap/$V, $k72, $ARCH: installed"
	rpm_quiet rpm-skip-erase -e --nodeps dm-remap-dkms
	nothing_left
}

# A build that fails on purpose (a compile error in dm-remap's own code):
# rpm -i, -U (release bump) and -e still exit 0; %post says it failed, on
# stderr, and DKMS's make.log keeps the compiler's error.
broken_line() { # broken_line KERNEL
	echo "dm-remap-dkms: building dm-remap for kernel $1 failed (dkms exit status 10); see /var/log/dm-remap-dkms.log and /var/lib/dkms/dm-remap/$V/build/make.log"
}
test_rpm_broken_install() {
	local k72
	k72=$(state k72.release)
	rpm_quiet rpm-broken -i --nodeps "/cache/pkgtest/dist-broken/dm-remap-dkms-$V-1.broken.noarch.rpm"
	expect "%post said the build failed" test "$(rpm_said rpm-broken)" = "$(broken_line "$k72")"
	expect "make.log has the compile error" grep -q 'broken on purpose by tests/pkg/run.sh' \
		"$ROOT/var/lib/dkms/dm-remap/$V/build/make.log"
	expect "dkms status: added, not built" test "$(dkms_lines)" = "dm-remap/$V: added"
	expect "no module file" test -z "$(all_kos)"
}

test_rpm_broken_bump() {
	local k72
	k72=$(state k72.release)
	rpm_quiet rpm-broken-bump -U --nodeps "/cache/pkgtest/dist-broken/dm-remap-dkms-$V-2.broken.noarch.rpm"
	expect "rpm has $V-2.broken" test "$(rpm_root -q dm-remap-dkms)" = "dm-remap-dkms-$V-2.broken.noarch"
	expect "%post said the build failed" test "$(rpm_said rpm-broken-bump)" = "$(broken_line "$k72")"
	expect "dkms status: added, not built" test "$(dkms_lines)" = "dm-remap/$V: added"
	expect "no module file" test -z "$(all_kos)"
}

test_rpm_broken_erase() {
	rpm_quiet rpm-broken-erase -e --nodeps dm-remap-dkms
	expect "rpm gone" test -z "$(rpm_root -q dm-remap-dkms | grep -v 'not installed')"
	nothing_left
}

# make show-packaging, and the -clean targets on a copy of dist/.
test_make_show_clean() {
	local out c=$W/dist-clean
	out=$(in_chroot make -s -C /cache/pkgtest/src DIST=/cache/pkgtest/dist-clean show-packaging)
	echo "$out"
	expect "shows the deb" has "$out" "dm-remap-dkms_${V}-1_all.deb"
	expect "shows the rpm" has "$out" "dm-remap-dkms-${V}-1.noarch.rpm"
	expect "lists the DKMS tree" has "$out" "src/dm_remap.rs"
	rm -rf "$c"
	cp -a "$DIST" "$c"
	in_chroot make -C /cache/pkgtest/src DIST=/cache/pkgtest/dist-clean dkms-deb-clean
	expect "dkms-deb-clean" test -z "$(ls "$c"/dm-remap-dkms_* "$c"/dm-remap_* 2>/dev/null)"
	expect "rpms still there" test -n "$(ls "$c"/dm-remap-dkms-*.rpm)"
	in_chroot make -C /cache/pkgtest/src DIST=/cache/pkgtest/dist-clean dkms-rpm-clean kmod-deb-clean
	expect "dkms-rpm-clean, kmod-deb-clean" test -z "$(ls "$c"/*.rpm "$c"/dm-remap-modules-* 2>/dev/null)"
	cp -a "$DIST"/. "$c"/
	in_chroot make -C /cache/pkgtest/src DIST=/cache/pkgtest/dist-clean dkms-packages-clean
	expect "dkms-packages-clean" test -z "$(ls "$c"/dm-remap-dkms* "$c"/dm-remap_* 2>/dev/null)"
	rm -rf "$c"
}

# ---------------------------------------------------------------------------

rm -rf "$LOGS" "$W/state" "$W/vm"
mkdir -p "$LOGS" "$W/state"
"$REPO/tests/vm/setup-chroot.sh" >&2 || { echo "0 passed, 1 failed"; exit 1; }

t "version: VERSION, dkms.conf, changelog and spec agree" test_version
t "packages: make dkms-deb dkms-rpm (and the upgrade/bump variants)" test_build_packages
t "lint: lintian --fail-on warning, rpmlint" test_lint
t "package contents: the DKMS tree, nothing test-only" test_package_contents
t "kernel packages 7.2 (bindeb-pkg + linux-lib-rust)" test_kernel_debs 7.2
t "kernel packages 7.3 (bindeb-pkg + linux-lib-rust)" test_kernel_debs 7.3

if [ -s "$W/state/k72.release" ] && [ -s "$W/state/k73.release" ] && root_up; then
	t "1. install the 7.2 kernel packages" test_install_kernel 7.2
	t "source install with dkms add/install: no deprecated features" test_dkms_source_install
	t "2. apt install dm-remap-dkms: installed on 7.2" test_install_dkms_deb
	t "3. kernel upgrade: 7.3 packages trigger DKMS autoinstall" test_kernel_upgrade_autoinstall
	vm_test "4. DKMS module on $(state k72.release)" "$(state k72.release)" "$(dkms_ko "$(state k72.release)")"
	vm_test "4. DKMS module on $(state k73.release)" "$(state k73.release)" "$(dkms_ko "$(state k73.release)")"
	t "5. apt remove and purge leave nothing" test_remove_purge
	t "5. make install / make uninstall" test_make_install
	t "5. make kmod-deb: build, lintian, install" test_kmod_deb
	vm_test "5. kmod-deb module on $(state k72.release)" "$(state k72.release)" \
		"$([ -s "$W/state/kmod.ko" ] && echo "$ROOT$(state kmod.ko)")"
	t "5. kmod-deb purge leaves nothing" test_kmod_deb_purge
	t "make show-packaging and the -clean targets" test_make_show_clean
	t "5. reinstall the same version" test_reinstall
	t "5. upgrade to $VN leaves exactly one version" test_upgrade
	t "6. kernel without CONFIG_RUST: skipped (77), apt succeeds" test_unsupported_kernel
	t "7. wrong rustc: skipped (77), the exact line" test_wrong_rustc
	t "7. wrong bindgen: skipped (77), the exact line" test_wrong_bindgen
	t "7. versioned rustc-X.Y is picked and handed to Kbuild" test_versioned_rustc
	t "7. apt install, a kernel without Rust artifacts: exit 0, skipped with the line; linux-lib-rust builds it" \
		test_missing_rust_artifacts
	t "7. apt install, the system rustc not the kernel's: exit 0, skipped with the line; dkms autoinstall builds it" \
		test_apt_wrong_rustc
	t "8. rpm -i --root: %post builds and installs" test_rpm_install
	t "8. rpm -U release bump keeps the module" test_rpm_release_bump
	t "8. rpm -e cleans up" test_rpm_erase
	t "8. rpm -i, a kernel without Rust artifacts: exit 0, the line on stderr" test_rpm_skipped
	t "8. rpm -i, a build that fails: exit 0, the failure on stderr" test_rpm_broken_install
	t "8. rpm -U release bump, a build that fails: exit 0" test_rpm_broken_bump
	t "8. rpm -e after a failed build: exit 0, nothing left" test_rpm_broken_erase
	root_down
	# The test machine's changes are kept for a look after a failure only.
	((failed > 0)) || rm -rf "$W/upper" "$W/work"
else
	record "test machine (kernel packages or overlay mount missing)" 0 1
fi

log "DKMS build 1 (install on 7.2): $(cat "$W/state/time.build1" 2>/dev/null)"
log "DKMS build 2 (kernel upgrade to 7.3): $(cat "$W/state/time.build2" 2>/dev/null)"
log "dkms status after the kernel upgrade (step 3):"
sed 's/^/    /' "$W/state/status.step3" >&2 2>/dev/null
log "dkms status after the package upgrade to $VN:"
sed 's/^/    /' "$W/state/status.upgrade" >&2 2>/dev/null
log "packaging tests took $((SECONDS - STARTED)) s; logs: $LOGS"
((${#failures[@]} == 0)) || log "failed: ${failures[*]}"
echo "$passed passed, $failed failed"
((failed == 0))
