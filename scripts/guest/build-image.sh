#!/usr/bin/env bash
# Builds gvtkit's real-guest image (issue 15) from Debian packages only:
#   bzImage      the i386 kernel of the newest linux-image-6.1.0-*-686-unsigned
#   initrd.img   a gzip'd newc cpio: busybox-static:i386, i915.ko and the modules
#                it depends on (from the kernel package's own modules.dep), /init
#                and the static i386 test program built from guest/i915-test.c
#   bios.bin     SeaBIOS (Debian's seabios package)
#   vgabios.bin  SeaVGABIOS for the Bochs/std VGA (vgabios-stdvga.bin)
#   cmdline.txt  the kernel command line
#   manifest.json  the packages (name, version, architecture, sha256 of the .deb),
#                the toolchain and the sha256 of each output
# into ${GVTKIT_GUEST_CACHE:-<repo>/.cache/guest}. Nothing is fetched from outside
# Debian's archive: packages come from `apt-get download` and are unpacked with
# `dpkg-deb -x`. The build is skipped when the manifest already describes the same
# inputs and every output still has its recorded sha256; --force rebuilds.
#
# Needs root (apt-get); adds the i386 architecture and installs the host tools
# (gcc-multilib, libc6-dev-i386, cpio, kmod) when they are missing.
#
# Environment:
#   GVTKIT_GUEST_CACHE   cache directory (default <repo>/.cache/guest)
#   GVTKIT_GUEST_KERNEL  kernel package to use instead of the newest, e.g.
#                        linux-image-6.1.0-57-686-unsigned
#
# See docs/guest.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE=${GVTKIT_GUEST_CACHE:-$REPO/.cache/guest}
mkdir -p "$CACHE"
CACHE=$(cd "$CACHE" && pwd)
SCRIPT="$REPO/scripts/guest/build-image.sh"
TEST_SRC="$REPO/guest/i915-test.c"
FORCE=0

# The kernel command line (docs/guest.md explains each word):
# - console=ttyS0: the console is v86's 16550 UART; pci=nomsi: v86 has no MSI, the vGPU
#   interrupts through INTx.
# - acpiphp.disable=1: SeaBIOS's Bochs DSDT describes QEMU's ACPI PCI hotplug slots, whose
#   status ports (0xae00..) v86 does not implement (they read all ones): Linux's ACPI hotplug
#   driver then ejects the devices of slots 2 and up, the vGPU included, at a random moment of
#   the boot. Without the hotplug driver the slots stay as the BIOS found them.
# - console=tty0 console=ttyS0: kernel messages go to the VGA text console (then to fbcon,
#   i915's fbdev console, once i915 binds) and to the serial port; /dev/console is ttyS0
#   (the last one), where /init and the test program print their markers.
# - i915.modeset=1: i915 binds even if something asked for nomodeset. fbdev emulation is on
#   (drm_kms_helper's default): i915's intel_fbdev makes the initial modeset, pipe A on the
#   connected DP connector at the EDID's preferred mode, and fbcon draws tty1 into it
#   through the aperture.
# - quiet loglevel=4: only warnings and errors print while booting (each console byte is
#   an emulated UART write); /init prints i915/drm's whole log at the end. drm.debug=0 is
#   the place to turn on DRM debug categories (e.g. drm.debug=0x1e).
# - speed in an emulator: cryptomgr.notests (no crypto self-tests at boot), noisapnp (no
#   ISA PnP scan), tsc=reliable no_timer_check (no clocksource watchdog or timer check),
#   nowatchdog (no soft-lockup detector firing on a slow host), mitigations=off.
# /init hands "<module>.<param>=<value>" words to insmod: busybox insmod does not read
# the command line itself.
CMDLINE="console=tty0 console=ttyS0 pci=nomsi acpiphp.disable=1 i915.modeset=1 drm.debug=0 quiet loglevel=4 cryptomgr.notests noisapnp tsc=reliable no_timer_check nowatchdog mitigations=off"

usage() {
	cat <<EOF
usage: scripts/guest/build-image.sh [--force]
Builds the guest image into \${GVTKIT_GUEST_CACHE:-$REPO/.cache/guest}.
  --force   rebuild even when the manifest is up to date
EOF
}

for arg in "$@"; do
	case $arg in
	--force) FORCE=1 ;;
	-h | --help)
		usage
		exit 0
		;;
	*)
		usage >&2
		exit 2
		;;
	esac
done

log() { printf 'build-image: %s\n' "$*" >&2; }
die() {
	printf 'build-image: error: %s\n' "$*" >&2
	exit 1
}

[ "$(id -u)" = 0 ] || die "run as root (apt-get download/install and dpkg --add-architecture need it)"
command -v apt-get >/dev/null || die "apt-get not found: the image is built from Debian packages"

# --- apt: the i386 architecture and the package lists -------------------------

updated=0
apt_update() {
	if [ $updated = 0 ]; then
		log "apt-get update"
		apt-get update -qq >&2
		updated=1
	fi
}

if ! dpkg --print-foreign-architectures | grep -qx i386 && [ "$(dpkg --print-architecture)" != i386 ]; then
	log "dpkg --add-architecture i386"
	dpkg --add-architecture i386
	apt_update
fi

# candidate <package[:arch]>: the version apt would download, or nothing.
candidate() {
	{ apt-cache policy "$1" 2>/dev/null || true; } | awk '/^  Candidate:/ { if ($2 != "(none)") print $2; exit }'
}

[ -n "$(candidate busybox-static:i386)" ] || apt_update

newest_kernel() {
	apt-cache pkgnames linux-image-6.1.0- 2>/dev/null |
		{ grep -E '^linux-image-6\.1\.0-[0-9]+-686-unsigned$' || true; } | sort -V | tail -n 1
}

KPKG=${GVTKIT_GUEST_KERNEL:-$(newest_kernel)}
if [ -z "$KPKG" ]; then
	apt_update
	KPKG=$(newest_kernel)
fi
[ -n "$KPKG" ] || die "no linux-image-6.1.0-*-686-unsigned package in apt (is bookworm in sources.list?)"
KVER=${KPKG#linux-image-}
KVER=${KVER%-unsigned} # e.g. 6.1.0-57-686

# name arch version, one package a line
PACKAGES=""
for spec in "$KPKG:i386" "busybox-static:i386" "seabios:all"; do
	name=${spec%:*}
	arch=${spec##*:}
	query=$name
	[ "$arch" = all ] || query="$name:$arch"
	ver=$(candidate "$query")
	if [ -z "$ver" ]; then
		apt_update
		ver=$(candidate "$query")
	fi
	[ -n "$ver" ] || die "no candidate version for $query"
	PACKAGES+="$name $arch $ver"$'\n'
done

sha256() { sha256sum "$1" | cut -d' ' -f1; }

# Everything that determines the outputs: the packages, this script, the test source.
INPUTS="packages:
${PACKAGES}script $(sha256 "$SCRIPT")
test-source $(sha256 "$TEST_SRC")
cmdline $CMDLINE"
INPUTS_KEY=$(printf '%s' "$INPUTS" | sha256sum | cut -d' ' -f1)

OUTPUTS="bzImage initrd.img bios.bin vgabios.bin cmdline.txt"

up_to_date() {
	[ -f "$CACHE/manifest.json" ] && [ -f "$CACHE/outputs.sha256" ] || return 1
	grep -q "\"inputsKey\": \"$INPUTS_KEY\"" "$CACHE/manifest.json" || return 1
	(cd "$CACHE" && sha256sum --quiet --status -c outputs.sha256) || return 1
}

if [ $FORCE = 0 ] && up_to_date; then
	log "up to date: $CACHE (kernel $KPKG; --force rebuilds)"
	exit 0
fi

# --- host tools ---------------------------------------------------------------

missing=()
for tool in gcc-multilib libc6-dev-i386 cpio kmod gzip; do
	dpkg-query -W -f='${Status}' "$tool" 2>/dev/null | grep -q 'install ok installed' || missing+=("$tool")
done
if [ ${#missing[@]} -gt 0 ]; then
	apt_update
	log "apt-get install ${missing[*]}"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi

# --- download and unpack --------------------------------------------------------

mkdir -p "$CACHE/debs"
WORK="$CACHE/work"
rm -rf "$WORK"
mkdir -p "$WORK/pkg"

# deb_path <name> <arch> <version>: the cached .deb, downloaded when missing.
deb_path() {
	local name=$1 arch=$2 ver=$3 f
	f="$CACHE/debs/${name}_${ver//:/%3a}_${arch}.deb"
	if [ ! -f "$f" ]; then
		local spec="$name=$ver"
		[ "$arch" = all ] || spec="$name:$arch=$ver"
		log "apt-get download $spec"
		# apt-get download verifies the file against the signed archive index.
		(cd "$CACHE/debs" && apt-get download -qq "$spec" 2>&1 | grep -v 'Download is performed unsandboxed' >&2 || true)
		[ -f "$f" ] || die "apt-get download $spec did not produce $f"
	fi
	[ "$(dpkg-deb -f "$f" Package)" = "$name" ] && [ "$(dpkg-deb -f "$f" Version)" = "$ver" ] ||
		die "$f is not $name $ver"
	printf '%s\n' "$f"
}

declare -A DEB
while read -r name arch ver; do
	[ -n "$name" ] || continue
	DEB[$name]=$(deb_path "$name" "$arch" "$ver")
	log "unpack $name $ver"
	dpkg-deb -x "${DEB[$name]}" "$WORK/pkg/$name"
done <<<"$PACKAGES"

KROOT="$WORK/pkg/$KPKG"
MODDIR="$KROOT/lib/modules/$KVER"
[ -f "$KROOT/boot/vmlinuz-$KVER" ] || die "$KPKG has no boot/vmlinuz-$KVER"
[ -d "$MODDIR" ] || die "$KPKG has no lib/modules/$KVER"

# The package ships no modules.dep (its postinst runs depmod): generate it over the
# package's own tree, exactly as installing the package would.
log "depmod $KVER"
depmod -b "$KROOT" "$KVER"

# --- modules: i915 and its dependencies ----------------------------------------

# modules.dep: "kernel/x/a.ko: kernel/y/b.ko kernel/z/c.ko" (all dependencies, direct
# and indirect). Load order: a depth-first walk, each module after its dependencies.
declare -A DEPS
while IFS= read -r line; do
	mod=${line%%:*}
	DEPS[$mod]=${line#*:}
done <"$MODDIR/modules.dep"

I915=$(grep -o '^[^:]*/i915\.ko\(\.xz\|\.zst\|\.gz\)\?:' "$MODDIR/modules.dep" | tr -d ':' || true)
[ -n "$I915" ] || die "no i915.ko in $KPKG's modules.dep"

declare -A SEEN
ORDER=()
visit() {
	local m=$1 d
	[ -z "${SEEN[$m]:-}" ] || return 0
	SEEN[$m]=1
	[ -n "${DEPS[$m]+set}" ] || die "$m is not in modules.dep"
	for d in ${DEPS[$m]}; do visit "$d"; done
	ORDER+=("$m")
}
visit "$I915"

# --- the test program -------------------------------------------------------------

log "gcc -m32 -static guest/i915-test.c"
gcc -m32 -static -O2 -s -Wall -Wextra -Werror -o "$WORK/i915-test" "$TEST_SRC"

# --- the initramfs ----------------------------------------------------------------

ROOT="$WORK/initramfs"
mkdir -p "$ROOT"/{bin,dev,proc,sys,tmp,etc,lib/modules/"$KVER"}
cp "$WORK/pkg/busybox-static/bin/busybox" "$ROOT/bin/busybox"
for applet in sh mount umount insmod lsmod dmesg grep cat echo sleep ls tr sed poweroff mkdir readlink head uname; do
	ln -s busybox "$ROOT/bin/$applet"
done
install -m 0755 "$WORK/i915-test" "$ROOT/bin/i915-test"
# The kernel opens /dev/console before running /init; devtmpfs is mounted over /dev later.
mknod -m 600 "$ROOT/dev/console" c 5 1

: >"$ROOT/etc/modules"
for m in "${ORDER[@]}"; do
	dst="$ROOT/lib/modules/$KVER/$m"
	mkdir -p "$(dirname "$dst")"
	case $m in
	*.ko.xz)
		xz -dc "$MODDIR/$m" >"${dst%.xz}"
		m=${m%.xz}
		;;
	*.ko.zst)
		zstd -qdc "$MODDIR/$m" >"${dst%.zst}"
		m=${m%.zst}
		;;
	*.ko.gz)
		gzip -dc "$MODDIR/$m" >"${dst%.gz}"
		m=${m%.gz}
		;;
	*) cp "$MODDIR/$m" "$dst" ;;
	esac
	printf '%s\n' "$m" >>"$ROOT/etc/modules"
done
cp "$MODDIR/modules.builtin" "$MODDIR/modules.builtin.modinfo" "$MODDIR/modules.order" "$ROOT/lib/modules/$KVER/"
depmod -b "$ROOT" "$KVER"

cat >"$ROOT/init" <<'INIT'
#!/bin/sh
# gvtkit guest image /init (busybox sh): load i915 and its dependencies, wait for
# /dev/dri/card0, run the test program, print i915/drm's kernel log, power off.
# Every result is one "GVTKIT-GUEST: ..." line on the serial console (docs/guest.md).
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mark() { echo "GVTKIT-GUEST: $*"; }
# show: a line on tty1, the console fbcon draws into i915's framebuffer (guest:test
# saves it as a PNG); nothing when there is no tty1.
show() { [ -c /dev/tty1 ] && echo "$*" >/dev/tty1 2>/dev/null; return 0; }
uptime_s() { read -r u _ </proc/uptime; echo "$u"; }
mark "init start uptime $(uptime_s) kernel $(uname -r)"
show ""
show "gvtkit real guest: Linux $(uname -r), i915 on a gvtkit vGPU"

cmdline=$(cat /proc/cmdline)
# gvtkit.card_wait=<s>: how long to wait for /dev/dri/card0 once i915 is loaded.
card_wait=10
for w in $cmdline; do
	case $w in gvtkit.card_wait=*) card_wait=${w#gvtkit.card_wait=} ;; esac
done

# insmod takes a module's parameters as arguments: hand it "<module>.<p>=<v>" words.
module_args() {
	for w in $cmdline; do
		case $w in "$1".*) echo "${w#"$1".}" ;; esac
	done
}

while read -r path; do
	name=${path##*/}
	name=${name%.ko}
	key=$(echo "$name" | tr - _)
	insmod "/lib/modules/$(uname -r)/$path" $(module_args "$key")
	rc=$?
	if [ $rc = 0 ]; then mark "module $name loaded uptime $(uptime_s)"; else mark "module $name FAIL rc=$rc"; fi
done </etc/modules

# An Intel display-class PCI function (vendor 0x8086, class 0x03xxxx) is what i915 binds.
gpu=""
for d in /sys/bus/pci/devices/*; do
	[ -e "$d/vendor" ] || continue
	read -r vendor <"$d/vendor"
	read -r class <"$d/class"
	case "$vendor:$class" in 0x8086:0x03*) gpu=${d##*/} ;; esac
done
if [ -z "$gpu" ]; then
	mark "no Intel display-class PCI device"
else
	mark "pci $gpu intel display device"
	i=0
	while [ ! -e /dev/dri/card0 ] && [ $i -lt $((card_wait * 10)) ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -e "/sys/bus/pci/drivers/i915/$gpu" ]; then
		mark "i915 bound $gpu uptime $(uptime_s)"
		show "i915 bound $gpu at $(uptime_s) s"
	else
		mark "i915 not bound $gpu"
	fi
fi
if [ -e /dev/dri/card0 ]; then mark "card0 present uptime $(uptime_s)"; else mark "card0 missing"; fi

# The program's lines go to the serial console as they come; its results to tty1 as well.
{
	/bin/i915-test /dev/dri/card0
	echo $? >/tmp/test.rc
} | while IFS= read -r line; do
	echo "$line"
	case $line in
	*"GVTKIT-GUEST: driver "* | *"GVTKIT-GUEST: batch "*" ok" | *"GVTKIT-GUEST: batch "*FAIL* | *"GVTKIT-GUEST: batches "* | \
		*"GVTKIT-GUEST: display "* | *"GVTKIT-GUEST: flips "* | *"GVTKIT-GUEST: flip "*FAIL* | *"GVTKIT-GUEST: error "*)
		show "${line#*GVTKIT-GUEST: }" ;;
	esac
done
read -r rc </tmp/test.rc || rc=255
mark "test exit $rc uptime $(uptime_s)"
show "test exit $rc at $(uptime_s) s"

# dmesg -r keeps each record's <level> so a reader can tell errors from information.
dmesg -r | grep -i -E 'i915|drm|gvt|WARNING|BUG:' | while IFS= read -r line; do
	mark "klog $line"
done
mark "done uptime $(uptime_s)"
poweroff -f
# poweroff returns only if the kernel could not power off; init must not exit.
while :; do sleep 3600; done
INIT
chmod 0755 "$ROOT/init"

# Reproducible archive: fixed owner and mtime, sorted names, gzip without a name/time.
EPOCH=$(stat -c %Y "$KROOT/boot/vmlinuz-$KVER") # the kernel's own build time
find "$ROOT" -exec touch -h -d "@$EPOCH" {} +
log "cpio + gzip initrd.img"
(cd "$ROOT" && find . -mindepth 1 -print0 | LC_ALL=C sort -z |
	cpio --null -o -H newc --owner=0:0 --reproducible --quiet) | gzip -9 -n >"$WORK/initrd.img"

# --- outputs -----------------------------------------------------------------------

cp "$KROOT/boot/vmlinuz-$KVER" "$WORK/bzImage"
SEABIOS="$WORK/pkg/seabios/usr/share/seabios"
cp "$SEABIOS/bios.bin" "$WORK/bios.bin"
cp "$SEABIOS/vgabios-stdvga.bin" "$WORK/vgabios.bin"
printf '%s\n' "$CMDLINE" >"$WORK/cmdline.txt"

for f in $OUTPUTS; do mv -f "$WORK/$f" "$CACHE/$f"; done
(cd "$CACHE" && sha256sum $OUTPUTS >outputs.sha256)

json_str() { printf '"%s"' "$(printf '%s' "$1" | sed 's/\\/\\\\/g; s/"/\\"/g')"; }
{
	echo "{"
	echo "  \"inputsKey\": \"$INPUTS_KEY\","
	echo "  \"kernelRelease\": $(json_str "$KVER"),"
	echo "  \"cmdline\": $(json_str "$CMDLINE"),"
	echo "  \"packages\": ["
	first=1
	while read -r name arch ver; do
		[ -n "$name" ] || continue
		[ $first = 1 ] || echo ","
		first=0
		printf '    { "name": %s, "architecture": %s, "version": %s, "debSha256": "%s" }' \
			"$(json_str "$name")" "$(json_str "$arch")" "$(json_str "$ver")" "$(sha256 "${DEB[$name]}")"
	done <<<"$PACKAGES"
	echo
	echo "  ],"
	echo "  \"toolchain\": ["
	first=1
	for p in gcc-multilib libc6-dev-i386 cpio kmod; do
		[ $first = 1 ] || echo ","
		first=0
		printf '    { "name": %s, "version": %s }' "$(json_str "$p")" \
			"$(json_str "$(dpkg-query -W -f='${Version}' "$p")")"
	done
	echo
	echo "  ],"
	echo "  \"modules\": ["
	first=1
	while read -r m; do
		[ $first = 1 ] || echo ","
		first=0
		printf '    %s' "$(json_str "$m")"
	done <"$ROOT/etc/modules"
	echo
	echo "  ],"
	echo "  \"outputs\": {"
	first=1
	for f in $OUTPUTS; do
		[ $first = 1 ] || echo ","
		first=0
		printf '    %s: { "sha256": "%s", "bytes": %s }' "$(json_str "$f")" "$(sha256 "$CACHE/$f")" "$(stat -c %s "$CACHE/$f")"
	done
	echo
	echo "  }"
	echo "}"
} >"$CACHE/manifest.json.tmp"
mv -f "$CACHE/manifest.json.tmp" "$CACHE/manifest.json"

rm -rf "$WORK"
log "built $CACHE: $KPKG, $(wc -l <"$CACHE/outputs.sha256") outputs, initrd $(stat -c %s "$CACHE/initrd.img") bytes"
