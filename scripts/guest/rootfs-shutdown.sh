#!/bin/sh
# /etc/init.d/rcK: busybox init runs it on reboot, poweroff and halt, before it
# signals every process and asks the kernel to restart or stop (which shuts the
# NVMe controller down). Writes everything back and leaves the root read-only.
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
sync
umount -a -r -t nodevtmpfs,noproc,nosysfs 2>/dev/null
mount -o remount,ro / 2>/dev/null
sync
