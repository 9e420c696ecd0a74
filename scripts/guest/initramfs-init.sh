#!/bin/sh
# /init of the guest initramfs (busybox-static). Loads the NVMe and ext4 drivers
# (and IDE's for a root on IDE), mounts the root file system named by root= and
# switches to it.
# On any failure it drops to a shell on the serial console.
export PATH=/bin:/sbin:/usr/bin:/usr/sbin

mkdir -p /proc /sys /dev /newroot
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

rescue() {
    # What the kernel found (the console is quiet): enough to tell a slow probe from a missing disk.
    {
        disks=$(ls /sys/class/block)
        echo "initramfs: uptime $(cut -d' ' -f1 /proc/uptime) s; block devices:" ${disks:-none}
        dmesg | grep -E 'nvme[0-9]|ata[0-9]|sd[a-z]|I/O error' | grep -v 'command line' | tail -n 20
    } >/dev/ttyS0 2>&1
    echo "V86NVME-INITRAMFS-SHELL: $*" >/dev/ttyS0
    # setsid -c gives the shell a controlling tty, so Ctrl-C works.
    while true; do
        setsid -c sh </dev/ttyS0 >/dev/ttyS0 2>&1
    done
}

CMDLINE=$(cat /proc/cmdline)
ROOT=/dev/nvme0n1p2
MODE=rw
for t in $CMDLINE; do
    case "$t" in
        root=*) ROOT=${t#root=} ;;
        ro) MODE=ro ;;
        rw) MODE=rw ;;
    esac
done

# insmod does not read the kernel command line: forward "module.param=value"
# tokens (e.g. nvme.poll_queues=1, nvme_core.io_timeout=60) to insmod.
# Module names compare with "-" and "_" treated alike, as the kernel does.
module_params() {
    want=$(echo "$1" | tr - _)
    for t in $CMDLINE; do
        case "$t" in
            *.*=*)
                mod=$(echo "${t%%.*}" | tr - _)
                [ "$mod" = "$want" ] && echo "${t#*.}"
                ;;
        esac
    done
}

KVER=$(uname -r)
# load-order lists module paths with dependencies first (made at build time
# from each module's modinfo "depends").
while read -r ko; do
    [ -n "$ko" ] || continue
    name=$(basename "$ko" .ko)
    # The IDE stack only for a root on IDE: a guest booted from NVMe saves a smaller state
    # without it (its code, its SCSI hosts and their kernel threads, its trace events' inodes).
    case "$name" in
        scsi_common | scsi_mod | libata | ata_piix | sd_mod) case "$ROOT" in /dev/sd*) ;; *) continue ;; esac ;;
    esac
    # shellcheck disable=SC2046
    insmod "/lib/modules/$KVER/$ko" $(module_params "$name") ||
        echo "initramfs: insmod $name failed" >/dev/ttyS0
done <"/lib/modules/$KVER/load-order"

# Wait up to 15 s for the root device node (NVMe/IDE probing is asynchronous).
# The deadline comes from /proc/uptime: under emulation a loop iteration takes
# much longer than its sleep.
uptime_s() { read -r up _ </proc/uptime; echo "${up%%.*}"; }
deadline=$(($(uptime_s) + 15))
while [ ! -b "$ROOT" ] && [ "$(uptime_s)" -lt $deadline ]; do
    sleep 0.1
done
[ -b "$ROOT" ] || rescue "root device $ROOT did not appear"

mount -t ext4 -o "$MODE" "$ROOT" /newroot || rescue "cannot mount $ROOT"
[ -x /newroot/sbin/init ] || rescue "no /sbin/init on $ROOT"

# Hand the mounts over to the real root; its init mounts what is missing.
mount --move /dev /newroot/dev
mount --move /sys /newroot/sys
mount --move /proc /newroot/proc
exec switch_root /newroot /sbin/init
