#!/bin/bash
# build-kernel.sh LINE FLAVOUR — build a Rust-enabled test kernel in the sid
# chroot and print its build directory (the KDIR for `make KDIR=...`).
#
#   LINE:    7.2 (sid), 7.3 (experimental) or 6.12 (trixie LTS)
#   FLAVOUR: debug (KASAN, lockdep, ...) or perf
#
# The build is cached under $CACHE/kernels/<line>-<pkgversion>-<flavour>-<hash>
# where <hash> covers the config fragments; a finished build is reused.
. "$(dirname "$0")/lib.sh"

line=${1:?usage: build-kernel.sh LINE FLAVOUR}
flavour=${2:-debug}
case $line in 7.2 | 7.3 | 6.12) ;; *) die "unknown kernel line '$line'" ;; esac
case $flavour in debug | perf) ;; *) die "unknown flavour '$flavour'" ;; esac

"$REPO/tests/vm/setup-chroot.sh" >&2

# Source tarball and the package version it came from (the patch level is
# whatever the package carries today; it is logged, never assumed).
if [ "$line" = 6.12 ]; then
	deb=$(ls "$CHROOT"/var/cache/dm-remap-debs/linux-source-6.12_*_all.deb | tail -1)
	pkgver=$(dpkg-deb -f "$deb" Version)
	tarball=/var/cache/dm-remap-debs/linux-source-6.12.tar.xz
	if [ ! -f "$CHROOT$tarball" ]; then
		tmp=$(mktemp -d)
		dpkg-deb -x "$deb" "$tmp"
		mv "$tmp"/usr/src/linux-source-6.12.tar.xz "$CHROOT$tarball"
		rm -rf "$tmp"
	fi
else
	pkgver=$(in_chroot dpkg-query -W -f '${Version}' "linux-source-$line")
	tarball=/usr/src/linux-source-$line.tar.xz
fi

frags=("$REPO/tests/kernel/base.config" "$REPO/tests/kernel/$flavour.config")
hash=$(cat "${frags[@]}" | sha256sum | cut -c1-12)
key="$line-${pkgver//[~:]/_}-$flavour-$hash"
src=$CACHE/src/$line-${pkgver//[~:]/_}
out=$CACHE/kernels/$key

if [ -f "$out/.built" ]; then
	log "kernel $key cached: $(cat "$out/include/config/kernel.release")"
	echo "$out"
	exit 0
fi

if [ ! -f "$src/.extracted" ]; then
	log "extracting linux-source $line ($pkgver)"
	rm -rf "$src"
	mkdir -p "$src"
	tar -C "$src" --strip-components=1 -xf "$CHROOT$tarball"
	touch "$src/.extracted"
fi

rm -rf "$out"
mkdir -p "$out"
cp "${frags[@]}" "$out/"
# The debug flavour needs clang (KASAN + Rust); perf stays on gcc like Debian's.
llvm=()
[ "$flavour" = debug ] && llvm=(LLVM=1)
csrc=/cache/src/$(basename "$src")
cout=/cache/kernels/$key
buildlog=$out/build.log
log "configuring $key (log: $buildlog)"
{
	echo "kernel line $line, package linux-source-$line $pkgver, flavour $flavour"
	in_chroot rustc --version
	in_chroot bindgen --version
	in_chroot gcc --version | head -1
	[ -z "${llvm[*]}" ] || in_chroot clang --version | head -1
} | tee "$buildlog" >&2

in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" tinyconfig >>"$buildlog" 2>&1
in_chroot env "${llvm[@]}" sh -c "cd $cout && $csrc/scripts/kconfig/merge_config.sh -m .config $(printf '%s ' "${frags[@]/#$REPO\/tests\/kernel\//$cout/}")" >>"$buildlog" 2>&1
in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" olddefconfig >>"$buildlog" 2>&1
in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" rustavailable >>"$buildlog" 2>&1 ||
	{ tail -20 "$buildlog"; die "rust not available for $key"; }

# Every option a fragment asks for must have survived olddefconfig: a
# silently dropped KASAN or RUST would make the whole test run meaningless.
bad=0
for f in "${frags[@]}"; do
	while IFS= read -r opt; do
		name=${opt%%=*} want=${opt#*=}
		if [ "$want" = n ]; then
			grep -q "^$name=" "$out/.config" && { log "config: $name is set but fragment says n"; bad=1; }
		else
			grep -qx "$opt" "$out/.config" || { log "config: $opt did not stick ($(grep "^$name=\|^# $name " "$out/.config"))"; bad=1; }
		fi
	done < <(grep -E '^CONFIG_[A-Z0-9_]+=' "$f")
done
((bad == 0)) || die "config fragment not honoured for $key"

log "building $key with -j$JOBS"
start=$SECONDS
if ! in_chroot make -C "$csrc" O="$cout" "${llvm[@]}" -j"$JOBS" bzImage modules >>"$buildlog" 2>&1; then
	grep -E 'error|Error' "$buildlog" | tail -20 >&2
	die "kernel build failed for $key (see $buildlog)"
fi
log "built $key ($(cat "$out/include/config/kernel.release")) in $((SECONDS - start)) s"
touch "$out/.built"
echo "$out"
