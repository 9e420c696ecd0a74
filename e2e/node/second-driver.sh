#!/bin/sh
# A second NVMe driver, in shell, for the hand-off scenarios: it drives the controller through
# /dev/mem with busybox devmem while Linux's nvme driver is unbound, and leaves it in a state
# the next driver must cope with.
#
#   second-driver.sh BDF MEM MODE
#     BDF   the function (0000:00:04.0); BAR0 is read from its sysfs resource file
#     MEM   guest-physical address of 16 KiB that is not System RAM (the kernel lets /dev/mem
#           reach it): admin SQ, admin CQ, I/O CQ 1 and I/O SQ 1, one 4 KiB page each
#     MODE  masked:   INTMS set, I/O queue pair 1 created, then CC.EN cleared (no queue deleted)
#           shutdown: I/O queue pair 1 created, then a normal shutdown notification (CC.SHN 01)
#                     with CC.EN still set, not waited for
# Prints "second-driver: <what it left>" and exits 0, or names the step that failed.
set -e
BDF=$1 MEM=$(($2)) MODE=$3
BAR=$(($(awk 'NR == 1 { print $1 }' "/sys/bus/pci/devices/$BDF/resource") & ~0xf))
ASQ=$MEM ACQ=$((MEM + 0x1000)) IOCQ=$((MEM + 0x2000)) IOSQ=$((MEM + 0x3000))

r() { devmem "$(printf 0x%x $(($1)))" 32; }
w() { devmem "$(printf 0x%x $(($1)))" 32 $(($2)); }
fail() { echo "second-driver: $*"; exit 1; }
zero() { a=$(($1)) n=$2; while [ "$n" -gt 0 ]; do w $a 0; a=$((a + 4)) n=$((n - 4)); done; }
wait_ready() { # CSTS.RDY == $1
    i=0
    while [ $(($(r $BAR+0x1c) & 1)) != "$1" ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "CSTS.RDY did not become $1 (CSTS $(r $BAR+0x1c))"
    done
}

# PCI command register: Memory space and Bus Master on (unbinding turned Bus Master off).
command() { printf "$1" | dd of="/sys/bus/pci/devices/$BDF/config" bs=1 seek=4 count=2 conv=notrunc 2>/dev/null; }
# This driver polls, so it keeps the controller's interrupt off: INTMS in masked mode (and leaves
# it set), INTx Disable otherwise (and turns INTx on again when it leaves, as vfio does). With
# the interrupt on, every completion holds the IRQ high with no handler of this driver's, and
# the guest's other handler on the line (virtio-balloon's) takes it again and again until Linux
# disables the IRQ ("irq 11: nobody cared"), as on real hardware.
if [ "$MODE" = masked ]; then command '\006\000'; else command '\006\004'; fi

# Reset, admin queues of 4 entries, enable with 64-byte SQEs and 16-byte CQEs.
w $BAR+0x14 0
wait_ready 0
zero $ASQ 256
zero $ACQ 64
w $BAR+0x24 0x00030003
w $BAR+0x28 $ASQ
w $BAR+0x2c 0
w $BAR+0x30 $ACQ
w $BAR+0x34 0
w $BAR+0x14 0x00460001
wait_ready 1
[ "$MODE" != masked ] || w $BAR+0x0c 1 # INTMS: this driver polls

n=0
admin() { # opcode prp1 cdw10 cdw11: submit, poll the CQE's phase tag, check the status, ring the CQ head
    s=$((ASQ + n * 64))
    w $s $(($1 | (n + 1) << 16))
    w $s+0x18 $2
    w $s+0x28 $3
    w $s+0x2c $4
    n=$((n + 1))
    w $BAR+0x1000 $n
    c=$((ACQ + (n - 1) * 16 + 12)) i=0
    while [ $(($(r $c) & 0x10000)) = 0 ]; do
        i=$((i + 1))
        [ $i -lt 500 ] || fail "no completion for admin opcode $1"
    done
    st=$((($(r $c) >> 17) & 0x7fff))
    [ $st = 0 ] || fail "admin opcode $1 completed with status 0x$(printf %x $st)"
    w $BAR+0x1004 $n
}
zero $IOCQ 64
zero $IOSQ 256
admin 0x05 $IOCQ 0x00030001 0x3        # Create I/O CQ 1: 4 entries, contiguous, interrupts on
admin 0x01 $IOSQ 0x00030001 0x00010001 # Create I/O SQ 1 on CQ 1: 4 entries, contiguous

case "$MODE" in
    masked)
        intms=$(r $BAR+0x0c)
        w $BAR+0x14 0x00460000 # CC.EN 1 -> 0 with the queues still there
        echo "second-driver: INTMS $intms, then left CC $(r $BAR+0x14), CSTS $(r $BAR+0x1c)"
        ;;
    shutdown)
        command '\006\000' # INTx on again: every completion has been taken (its CQ head rung)
        w $BAR+0x14 0x00464001 # CC.SHN = 01 (normal shutdown), EN still 1
        echo "second-driver: left CC $(r $BAR+0x14), CSTS $(r $BAR+0x1c)"
        ;;
    *) fail "unknown mode $MODE" ;;
esac
