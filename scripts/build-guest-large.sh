#!/usr/bin/env bash
# Builds the large guest image for the streaming benchmark from the default one
# (public/guest/disk.img, made by scripts/build-guest.sh) and Debian packages:
#   .cache/guest-large/disk.img        same MBR, FAT boot partition, kernel and initramfs;
#                                      the root file system plus the i386 packages listed in
#                                      scripts/guest-large/packages (~450 MiB unpacked) and
#                                      /etc/init.d/workload (run by /sbin/init before the default init)
#   .cache/guest-large/manifest.json   inputs hash, size, sha256, packages, markers
# syslinux's labels get "v86nvme.workload=read", so this image reads ≥ 150 MiB at boot and
# prints V86NVME-WORKLOAD-DONE. Does nothing when the outputs match this script,
# scripts/guest-large/* and the default image (their hash is in the manifest); --force rebuilds.
# Runs as root on Debian 12, like build-guest.sh; never run by npm test.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HERE=$ROOT/scripts/guest-large
BASE=$ROOT/public/guest
OUT=$ROOT/.cache/guest-large
DEBS=$ROOT/.cache/guest-debs
WORK=$ROOT/.cache/guest-large-build
TOKEN=v86nvme.workload=read

FORCE=0
for a in "$@"; do
    case "$a" in
        --force) FORCE=1 ;;
        -h | --help) sed -n '2,12p' "$0"; exit 0 ;;
        *) echo "unknown argument: $a" >&2; exit 2 ;;
    esac
done
log() { echo "build-guest-large: $*" >&2; }
die() { echo "build-guest-large: ERROR: $*" >&2; exit 1; }

[ -s "$BASE/disk.img" ] && [ -s "$BASE/manifest.json" ] ||
    die "the default image is missing: run scripts/setup.sh (or scripts/build-guest.sh) first"
BASE_SHA=$(sed -n 's/.*"guest\/disk.img": { "size": [0-9]*, "sha256": "\([0-9a-f]*\)".*/\1/p' "$BASE/manifest.json")
[ -n "$BASE_SHA" ] || die "public/guest/manifest.json names no sha256 for guest/disk.img"
INPUTS_SHA256=$( (cd "$ROOT" && sha256sum scripts/build-guest-large.sh $(find scripts/guest-large -type f | LC_ALL=C sort); echo "$BASE_SHA") | sha256sum | cut -d' ' -f1)
if [ $FORCE = 0 ] && [ -s "$OUT/disk.img" ] && grep -q "\"inputs\": \"$INPUTS_SHA256\"" "$OUT/manifest.json" 2>/dev/null; then
    log "up to date in .cache/guest-large/ (use --force to rebuild)"
    exit 0
fi
[ "$(id -u)" = 0 ] || die "run as root (unpacks packages with their owners, uses apt-get)"
for t in debugfs mke2fs sfdisk mcopy apt-get dpkg-deb; do
    command -v $t >/dev/null || die "$t is missing (build-guest.sh installs e2fsprogs, fdisk and mtools)"
done
T0=$(date +%s)

# ~450 MiB of packages, the image (~700 MiB, sparse) and the unpacked tree twice over.
need_mib=2500
avail_mib=$(df -Pm "$ROOT/.cache" 2>/dev/null | awk 'NR == 2 { print $4 }' || df -Pm "$ROOT" | awk 'NR == 2 { print $4 }')
[ "${avail_mib:-0}" -ge $need_mib ] || die "needs ${need_mib} MiB free under .cache/, has ${avail_mib:-?} MiB"

# ------------------------------------------------------------------ packages
mapfile -t PKGS < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' "$HERE/packages" | grep .)
mkdir -p "$DEBS" "$WORK"
fetch=()
for p in "${PKGS[@]}"; do compgen -G "$DEBS/${p}_*_i386.deb" >/dev/null || fetch+=("$p:i386"); done
if [ ${#fetch[@]} -gt 0 ]; then
    log "downloading ${#fetch[@]} packages into .cache/guest-debs/"
    (cd "$DEBS" && apt-get download -q "${fetch[@]}" >/dev/null 2>"$WORK/download.log") || {
        failed=()
        for p in "${fetch[@]}"; do (cd "$DEBS" && apt-get download -q "$p" >/dev/null 2>&1) || failed+=("$p"); done
        [ ${#failed[@]} -eq 0 ] || die "could not download: ${failed[*]} (apt-get update? see .cache/guest-large-build/download.log)"
    }
fi

# ------------------------------------------- root file system: default + packages
ROOT_START=$(sed -n 's/.*"root": { "partition": 2, "type": "ext4", "startSector": \([0-9]*\).*/\1/p' "$BASE/manifest.json")
[ -n "$ROOT_START" ] || die "public/guest/manifest.json names no root partition start"
RF=$WORK/rootfs
rm -rf "$RF" "$WORK/disk.img"
mkdir -p "$RF"
log "copying the default root file system out of public/guest/disk.img"
debugfs -R "rdump / $RF" "$BASE/disk.img?offset=$((ROOT_START * 512))" 2>"$WORK/rdump.log" ||
    die "debugfs rdump failed: $(tail -3 "$WORK/rdump.log")"
[ -x "$RF/bin/busybox" ] || die "the default image's root file system has no /bin/busybox"
# rdump skips device nodes and the sticky bit: put back what the default build made.
mknod -m 600 "$RF/dev/console" c 5 1
mknod -m 666 "$RF/dev/null" c 1 3
chmod 1777 "$RF/tmp" "$RF/var/tmp"
VERSIONS=()
for p in "${PKGS[@]}"; do
    f=$(ls -t "$DEBS/${p}"_*_i386.deb | head -1)
    dpkg-deb -x "$f" "$RF"
    VERSIONS+=("\"$p\": \"$(dpkg-deb -f "$f" Version)\"")
done
mkdir -p "$RF/etc/init.d"
install -m 0755 "$HERE/workload.sh" "$RF/etc/init.d/workload"
# The workload runs first, then the default image's init: busybox init (a link to busybox), or
# a script kept as /sbin/init.default.
[ -L "$RF/sbin/init" ] || mv "$RF/sbin/init" "$RF/sbin/init.default"
rm -f "$RF/sbin/init"
install -m 0755 "$HERE/init.sh" "$RF/sbin/init"
# The workload's trees exist and hold ≥ 150 MiB of files.
TREES=$(sed -n 's/^TREES="\(.*\)"$/\1/p' "$HERE/workload.sh")
TREES_KIB=0
for t in $TREES; do
    [ -d "$RF$t" ] || die "workload tree $t is not in the root file system"
    TREES_KIB=$((TREES_KIB + $(find "$RF$t" -type f -printf '%s\n' | awk '{ s += $1 } END { printf "%d", s / 1024 }')))
done
[ $TREES_KIB -ge $((150 * 1024)) ] || die "the workload reads only $((TREES_KIB / 1024)) MiB (< 150 MiB)"
USED_MIB=$(( $(du -sk "$RF" | cut -f1) / 1024 ))
log "root file system: ${USED_MIB} MiB, the workload reads $((TREES_KIB / 1024)) MiB"

# ------------------------------------------------------------------- image
# The default image's first ROOT_START sectors (MBR with syslinux's boot code, FAT16 with syslinux,
# the kernel and initramfs) as they are; partition 2 grows to hold the new root.
ROOT_MIB=$(( (USED_MIB * 110 / 100 + 64 + 15) / 16 * 16 ))
IMG=$WORK/disk.img
dd if="$BASE/disk.img" of="$IMG" bs=512 count="$ROOT_START" status=none
truncate -s $(( (ROOT_START + ROOT_MIB * 2048) * 512 )) "$IMG"
echo "start=$ROOT_START, size=$((ROOT_MIB * 2048)), type=83" | sfdisk --no-reread --no-tell-kernel -q -N 2 "$IMG"
export MTOOLS_SKIP_CHECK=1
FAT="$IMG@@1048576"
mcopy -n -i "$FAT" ::/syslinux.cfg "$WORK/syslinux.cfg"
grep -q '^ *APPEND ' "$WORK/syslinux.cfg" || die "syslinux.cfg has no APPEND line"
sed -i "s|^\( *APPEND .*\)$|\1 $TOKEN|" "$WORK/syslinux.cfg"
mcopy -o -i "$FAT" "$WORK/syslinux.cfg" ::/syslinux.cfg
mke2fs -q -F -t ext4 -b 4096 -L root -d "$RF" -E offset=$((ROOT_START * 512)) "$IMG" "${ROOT_MIB}M"

mkdir -p "$OUT"
{
    echo '{'
    printf '  "inputs": "%s",\n' "$INPUTS_SHA256"
    printf '  "base": "%s",\n' "$BASE_SHA"
    printf '  "size": %s,\n' "$(stat -c %s "$IMG")"
    printf '  "sha256": "%s",\n' "$(sha256sum "$IMG" | cut -d' ' -f1)"
    printf '  "root": { "partition": 2, "startSector": %s, "sectors": %s, "usedMiB": %s },\n' "$ROOT_START" $((ROOT_MIB * 2048)) "$USED_MIB"
    printf '  "workload": { "token": "%s", "trees": "%s", "treesMiB": %s, "doneMarker": "V86NVME-WORKLOAD-DONE" },\n' "$TOKEN" "$TREES" $((TREES_KIB / 1024))
    printf '  "packages": { %s }\n' "$(IFS=,; echo "${VERSIONS[*]}" | sed 's/,/, /g')"
    echo '}'
} >"$WORK/manifest.json"
mv -f "$IMG" "$OUT/disk.img"
mv -f "$WORK/manifest.json" "$OUT/manifest.json"
rm -rf "$RF"
log "done in $(( $(date +%s) - T0 )) s: $(ls -l "$OUT/disk.img")"
