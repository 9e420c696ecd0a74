#!/bin/sh
# /etc/init.d/workload of the large guest image, run by its /sbin/init before the default one: when
# the kernel command line holds v86nvme.workload=read, reads every file under the trees below once
# (into /dev/null: the cheapest read there is in guest CPU) and prints a marker with the bytes the
# root device read meanwhile and the time it took. Without that token the boot is unchanged.
# The initramfs hands /proc, /sys and /dev over mounted.
[ -e /proc/cmdline ] || mount -t proc proc /proc
grep -qw 'v86nvme.workload=read' /proc/cmdline || exit 0
[ -d /sys/class ] || mount -t sysfs sysfs /sys
TREES="/usr/lib/gcc /usr/lib/llvm-14 /usr/lib/python3.11"

part=$(awk '$2 == "/" { dev = $1 } END { print dev }' /proc/mounts)
part=${part#/dev/}
sectors() { awk '{ print $3 }' "/sys/class/block/$part/stat"; }
uptime_ms() { awk '{ printf "%d", $1 * 1000 }' /proc/uptime; }
s0=$(sectors)
t0=$(uptime_ms)
echo "V86NVME-WORKLOAD-START trees=$TREES" >/dev/ttyS0
find $TREES -type f -exec cat {} + >/dev/null
s1=$(sectors)
t1=$(uptime_ms)
echo "V86NVME-WORKLOAD-DONE read_kib=$(((s1 - s0) / 2)) ms=$((t1 - t0))" >/dev/ttyS0
