// Resets and PCI removal while the Linux guest does I/O (the guest kit's state, resumed; its root
// file system is on nvme0n1, a hot-added namespace 2 in memory is the scratch disk):
// - `nvme reset` in a loop while fio writes and verifies nvme0n2 (crc32c, one run after another
//   until the loop is over): every fio run passes, every reset returns, data written and
//   acknowledged before reads back, the controller ends `live`. (NVM subsystem resets:
//   e2e/node/subsystem-reset.test.ts, without shadow doorbells, says why.)
// - Linux's function reset through sysfs: the function offers no reset method (see below).
// - The PCI function removed (`/sys/bus/pci/devices/BDF/remove`) and the bus rescanned while
//   fio writes and verifies namespace 2 (crc32c, pass after pass) and O_DIRECT writes run: fio
//   on the removed disk must end (with an I/O error: Linux fails I/O to a removed disk), never
//   hang and never read back wrong data; the controller should come back with both namespaces,
//   the same fio job over the same region of the rescanned disk must pass, and every write
//   acknowledged before the removal or after the rescan read back. Removing the function pulls
//   the root file system away, so this runs last, from copies of busybox, fio and fio's
//   libraries in a tmpfs chroot.
//   On the rescan Linux gives BAR0 a new address (the first free one above RAM, 0x08000000
//   here); v86 itself never moves a memory BAR, the adapter does (src/v86/bar-decoder.ts), and
//   the test checks that the adapter decodes BAR0 where Linux says it is. The new controller
//   joins the old one's subsystem, so its disks take free instance numbers (namespace 1 came
//   back as nvme0n2): they are found by their nsid attribute.
// PCI_RESET_LOOPS=N sets the loop count (default 3; `npm run soak:reset` runs 50).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryBackend } from "../../src/backends/memory.ts";
import { bootGuest, type NodeGuest } from "../../src/node/index.ts";
import { fioVerify, resetsUnderFio } from "./reset-loop.ts";
import { note } from "./support.ts";

const LOOPS = Number(process.env.PCI_RESET_LOOPS ?? 3);
const SCRATCH = 32 << 20;
/** Where the acknowledged writes go on nvme0n2 (fio uses the first 4 MiB). */
const WITNESS = 16 << 20;

describe("resets and PCI removal during I/O (the guest kit, resumed)", () => {
  let g: NodeGuest;
  let bdf = "";
  const scratch = new MemoryBackend(SCRATCH);

  const ok = async (cmd: string, timeoutMs = 60_000): Promise<string> => {
    const r = await g.exec(cmd, { timeoutMs });
    expect(r.exitCode, `${cmd}\n${r.stdout}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    g = await bootGuest();
    note(`kit state resumed in ${(g.bootMs / 1000).toFixed(1)} s`);
    expect(g.nvme.addNamespace({ backend: scratch })).toBe(2);
    await ok("i=0; while [ ! -b /dev/nvme0n2 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done; [ -b /dev/nvme0n2 ]");
    bdf = (await ok("basename $(readlink /sys/class/nvme/nvme0/device)")).trim();
    expect(bdf).toMatch(/^0000:00:[0-9a-f]{2}\.0$/);
    // 1 MiB acknowledged (O_DIRECT, fsync) before any reset; read back after each scenario.
    await ok(`dd if=/dev/urandom of=/tmp/witness bs=64k count=16 2>/dev/null && dd if=/tmp/witness of=/dev/nvme0n2 bs=64k seek=${WITNESS >> 16} oflag=direct conv=notrunc,fsync 2>/dev/null`);
  }, 240_000);

  afterAll(async () => {
    await g?.stop();
  }, 20_000);

  async function witnessIntact(dev = "/dev/nvme0n2"): Promise<void> {
    await ok(`dd if=${dev} bs=64k skip=${WITNESS >> 16} count=16 iflag=direct 2>/dev/null | cmp - /tmp/witness`);
  }

  it(`nvme reset ${LOOPS} times while fio writes and verifies: every run passes, nothing acknowledged is lost`, async () => {
    const r = await resetsUnderFio((cmd, o) => g.exec(cmd, o), { dev: "/dev/nvme0n2", reset: "nvme reset /dev/nvme0", loops: LOOPS, perResetMs: 20_000 });
    await witnessIntact();
    expect(r.dmesg.match(/resetting controller/g)?.length ?? 0).toBe(LOOPS);
    note(`nvme reset x${LOOPS} under fio: ${r.seconds.toFixed(1)} s, ${r.fioRuns} fio write+verify runs passed`);
  }, LOOPS * 20_000 + 240_000);

  it("offers Linux no function reset method: there is no sysfs reset file", async () => {
    // Linux 6.1 looks for, in order: a device-specific quirk, ACPI _RST, PCIe FLR (a PCI Express
    // capability), Advanced Features FLR, a PM-capability D3hot->D0 reset, a secondary bus reset
    // (a bridge above the device, alone on its bus) and a CXL bus reset. v86's PCI is
    // conventional PCI on the root bus with no bridge, and the function has no capabilities, so
    // none applies: no reset_method file and no reset file (a controller reset is CC.EN).
    const r = await g.exec(`ls /sys/bus/pci/devices/${bdf}/; [ ! -e /sys/bus/pci/devices/${bdf}/reset ] && [ ! -e /sys/bus/pci/devices/${bdf}/reset_method ]`);
    expect(r.exitCode, r.stdout).toBe(0);
    expect(r.stdout).toMatch(/\bremove\b/);
  });

  it("PCI function removed and the bus rescanned under fio write+verify and O_DIRECT writes: fio on the removed disk ends, the controller and namespaces come back, fio verifies there, every acknowledged write reads back", async () => {
    const CHUNKS = 96;
    const tSetup = performance.now();
    // A root the removal cannot take away: busybox, fio and the libraries fio loads (the paths the
    // loader's own trace lists, about 11 MiB) in a tmpfs.
    await ok(
      "mkdir -p /mnt/r && mount -t tmpfs -o size=48m none /mnt/r && mkdir -p /mnt/r/dev /mnt/r/sys /mnt/r/proc /mnt/r/tmp && " +
        "files=\"/bin/busybox /usr/bin/fio $(LD_TRACE_LOADED_OBJECTS=1 /usr/bin/fio | awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^\\//) print $i }')\" && " +
        "tar -chf - $files 2>/dev/null | tar -xf - -C /mnt/r && copied=1 && for f in $files; do [ -s /mnt/r$f ] || copied=0; done && [ $copied = 1 ] && " +
        "chroot /mnt/r /bin/busybox --install -s /bin && mount --bind /dev /mnt/r/dev && mount -t sysfs none /mnt/r/sys && mount -t proc none /mnt/r/proc && " +
        `cp /tmp/witness /mnt/r/tmp/ && dd if=/dev/urandom of=/mnt/r/tmp/data bs=64k count=${CHUNKS} 2>/dev/null`,
      120_000,
    );
    const setupSeconds = (performance.now() - tSetup) / 1000;
    const writes = "$(awk '{print $5}' /sys/block/$d0/stat)"; // write I/Os completed on the disk
    const script = [
      "cd /",
      // Seconds since the start, for the report: `at NAME` marks a step.
      "t0=$(cut -d' ' -f1 /proc/uptime); steps=; at() { steps=\"$steps $1 $(awk -v t0=$t0 '{ printf \"%.1f\", $1 - t0 }' /proc/uptime)\"; }",
      // Disks are named after the subsystem and a free instance number, not the controller or
      // the nsid (after the rescan namespace 1 may be nvme0n2): `ns N [CTRL]` finds the disk by
      // its nsid attribute (and the controller its device link points at).
      // (`read`, a shell builtin: the writer calls it for every chunk.)
      'ns() { for b in /sys/block/nvme*; do n=; read -r n 2>/dev/null <$b/nsid; [ "$n" = "$1" ] && { [ -z "$2" ] || [ "$(basename "$(readlink $b/device)")" = "$2" ]; } && { echo ${b##*/}; return 0; }; done; return 1; }',
      "d0=$(ns 2)",
      // fio writes and verifies namespace 2's first 2 MiB, pass after pass, until the removal ends it.
      `( ${fioVerify("/dev/$d0", 2, "--loops=100")} </dev/null >/tmp/fio-removed.log 2>&1 & echo $! >/tmp/fio.pid; wait $!; echo $? >/tmp/fio.rc ) &`,
      // The writer: each chunk logged once dd returned (O_DIRECT + fsync: acknowledged).
      `( i=0; while [ $i -lt ${CHUNKS} ]; do d=$(ns 2); ` +
        `if [ -n "$d" ] && dd if=/tmp/data of=/dev/$d bs=64k skip=$i seek=$((${(WITNESS >> 16) + 16}+i)) count=1 oflag=direct conv=notrunc,fsync 2>/dev/null; ` +
        "then echo $i >>/tmp/acked; else echo $i >>/tmp/failed; sleep 0.05; fi; i=$((i+1)); done ) &",
      "w=$!",
      // The removal comes once fio is well into its writes.
      `s0=${writes}; i=0; while [ $((${writes} - s0)) -lt 64 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
      '[ -e /tmp/fio.rc ] || echo "fio running at the removal"',
      "at removal",
      `echo 1 > /sys/bus/pci/devices/${bdf}/remove`,
      `i=0; while [ -e /sys/bus/pci/devices/${bdf} ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i+1)); done`,
      `[ -e /sys/bus/pci/devices/${bdf} ] && echo "still present after remove"`,
      "sleep 1",
      "echo 1 > /sys/bus/pci/rescan",
      // The controller (a new instance: the old one is held by the root file system) and its namespaces.
      `i=0; until c=$(ls /sys/bus/pci/devices/${bdf}/nvme 2>/dev/null | head -1) && [ -n "$c" ] && [ "$(cat /sys/class/nvme/$c/state)" = live ] && ns 1 $c >/dev/null && ns 2 $c >/dev/null; do [ $i -lt 1200 ] || break; sleep 0.1; i=$((i+1)); done`,
      "at back",
      'd=$(ns 2 $c); echo "controller $c: $(cat /sys/class/nvme/$c/state 2>/dev/null), nsid 1 $(ns 1 $c), nsid 2 $d"',
      `echo "bar0 $(cut -d' ' -f1 /sys/bus/pci/devices/${bdf}/resource | head -1)"`,
      // fio on the removed disk must have ended (an I/O error is its expected end), not hang.
      "i=0; while [ ! -e /tmp/fio.rc ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done",
      'if [ -e /tmp/fio.rc ]; then echo "fio on the removed disk: exit $(cat /tmp/fio.rc), $(grep -m1 -i error /tmp/fio-removed.log)"; else echo "fio hung"; kill -9 $(cat /tmp/fio.pid); fi',
      'grep -E "verify failed|bad magic|bad header" /tmp/fio-removed.log && echo "fio read back wrong data"',
      "at fio-ended",
      "wait $w",
      "at writer-done",
      'echo "acked $(wc -l </tmp/acked) failed $(cat /tmp/failed 2>/dev/null | wc -l)"',
      `dd if=/dev/$d bs=64k skip=${WITNESS >> 16} count=16 iflag=direct 2>/dev/null | cmp - /tmp/witness && echo "witness intact"`,
      // The chunks read back in one go; `cmp` from chunk k on names the first chunk that differs
      // (its "char N" counts from where it started); a short read marks every chunk from there.
      `dd if=/dev/$d of=/tmp/back bs=64k skip=${(WITNESS >> 16) + 16} count=${CHUNKS} iflag=direct 2>/dev/null`,
      `differ=; k=0; while [ $k -lt ${CHUNKS} ] && ! r=$(cmp /tmp/back /tmp/data $((k*65536)) $((k*65536)) 2>&1); do ` +
        'n=$(echo "$r" | sed -n "s/.*differ: [a-z]* \\([0-9]*\\),.*/\\1/p"); [ -n "$n" ] && k=$((k+(n-1)/65536)); differ="$differ $k "; k=$((k+1)); done',
      'bad=0; for i in $(cat /tmp/acked); do case " $differ " in *" $i "*) bad=$((bad+1)); echo "chunk $i lost";; esac; done; echo "lost $bad"; at checked',
      // The fio job again (another seed) over the same region of the rescanned disk.
      `if ${fioVerify("/dev/$d", 2, "--randseed=7")} </dev/null >/tmp/fio-rescanned.log 2>&1; then echo "fio on the rescanned disk passed"; ` +
        'else echo "fio on the rescanned disk failed"; cat /tmp/fio-rescanned.log; bad=fio; fi; at fio-verified; echo "steps (s):$steps"',
      // What the kernel said, for a failure's report.
      `[ "$bad" = 0 ] && [ -n "$d" ] || { echo "--- dmesg"; dmesg | grep -E 'nvme|${bdf}' | tail -40; }`,
    ].join("\n");
    await g.putFile("/mnt/r/tmp/remove.sh", new TextEncoder().encode(script));
    const barBefore = g.nvme.bar0Address();
    const t0 = performance.now();
    const out = await ok("chroot /mnt/r /bin/sh /tmp/remove.sh", 300_000);
    const seconds = (performance.now() - t0) / 1000;
    note(`remove + rescan under fio and writes: ${seconds.toFixed(1)} s (the tmpfs root made in ${setupSeconds.toFixed(1)} s)\n${out}`);
    expect(out).not.toMatch(/still present after remove/);
    expect(out, "fio was still writing and verifying when the function went").toMatch(/fio running at the removal/);
    expect(out).not.toMatch(/fio hung/);
    expect(out).toMatch(/fio on the removed disk: exit \d+/);
    expect(out).not.toMatch(/fio read back wrong data/);
    expect(out).toMatch(/fio on the rescanned disk passed/);
    expect(out).toMatch(/controller nvme\d+: live, nsid 1 nvme\d+n\d+, nsid 2 nvme\d+n\d+/);
    expect(out).toMatch(/witness intact/);
    expect(out).toMatch(/lost 0\b/);
    const acked = Number(/acked (\d+)/.exec(out)?.[1] ?? 0);
    const failed = Number(/failed (\d+)/.exec(out)?.[1] ?? 0);
    expect(acked + failed).toBe(CHUNKS);
    expect(acked).toBeGreaterThan(0);
    // BAR0 answers where Linux put it on the rescan.
    const barAfter = Number(/bar0 (0x[0-9a-f]+)/.exec(out)?.[1]);
    note(`BAR0 0x${barBefore?.toString(16)} before the removal, 0x${barAfter.toString(16)} after the rescan`);
    expect(g.nvme.bar0Address()).toBe(barAfter);
    // The device side: enabled again by the new driver instance, nothing wrong in the adapter.
    const c = g.counters();
    expect(c.adapter.mmioErrors + c.adapter.tickErrors).toBe(0);
  }, 420_000);
});
