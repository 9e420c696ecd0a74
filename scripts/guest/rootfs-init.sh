#!/bin/sh
# /etc/init.d/rcS of the guest root file system, run once by busybox init
# (/sbin/init, see inittab) before it starts the shell on ttyS0: mounts what
# the initramfs did not hand over and prints a marker line for runners.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin

# The initramfs moves its proc/sys/dev mounts here; mount what is missing
# (Debian's busybox has no mountpoint applet: look in /proc/mounts).
[ -e /proc/mounts ] || mount -t proc proc /proc
mounted() { awk -v d="$1" '$2 == d { found = 1 } END { exit !found }' /proc/mounts; }
mounted /sys || mount -t sysfs sysfs /sys
mounted /dev || mount -t devtmpfs devtmpfs /dev
mounted /tmp || mount -t tmpfs tmpfs /tmp
hostname guest

# The last "/" entry is the real root (the initramfs rootfs comes first).
ROOTDEV=$(awk '$2 == "/" { dev = $1 } END { print dev }' /proc/mounts)
echo "V86NVME-ROOT-READY root=$ROOTDEV" >/dev/ttyS0
