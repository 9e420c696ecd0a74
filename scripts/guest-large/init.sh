#!/bin/sh
# /sbin/init of the large guest image: the workload (which does nothing unless the kernel command
# line asks for it), then the default image's own init, as process 1.
/etc/init.d/workload
[ -x /sbin/init.default ] && exec /sbin/init.default "$@"
exec /bin/busybox init "$@"
