#!/bin/sh
# /sbin/init of the guest root file system (busybox-static, nvme-cli, fio).
# Prints a marker line for runners and keeps a shell on the serial console.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=vt100 PS1='guest# '

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

cd /root 2>/dev/null || cd /
# Respawn the shell if it exits. setsid -c makes ttyS0 its controlling
# terminal, so Ctrl-C interrupts the running command, not the shell.
while true; do
    setsid -c sh -l </dev/ttyS0 >/dev/ttyS0 2>&1
    echo "V86NVME-SHELL-EXITED: respawning" >/dev/ttyS0
    sleep 1
done
