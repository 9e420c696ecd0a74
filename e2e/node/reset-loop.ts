// A reset, again and again, while fio writes and verifies a disk in the Linux guest: what
// e2e/node/pci-reset.test.ts (`nvme reset`) and subsystem-reset.test.ts (`nvme subsystem-reset`)
// share.

import { expect } from "vitest";

/** What the loop needs of a guest: a shell command's output and exit status. */
export type Exec = (cmd: string, opts: { timeoutMs: number }) => Promise<{ stdout: string; exitCode: number }>;

/** A fio job writing 4 KiB blocks at random over the first `mib` MiB of `dev` and verifying them (crc32c, the first mismatch fatal). */
export function fioVerify(dev: string, mib: number, more = ""): string {
  return (
    `fio --name=v --filename=${dev} --size=${mib}M --bs=4k --rw=randwrite --ioengine=libaio --iodepth=8 --direct=1 ` +
    `--verify=crc32c --do_verify=1 --verify_fatal=1 --eta=never ${more}`
  ).trimEnd();
}

/**
 * Runs `reset` `loops` times (half a second between) while fio write+verify jobs run on `dev`
 * (its first 4 MiB) one after another; fails on any failed fio run or reset, or a controller
 * that is not live at the end. Returns the guest's figures and its dmesg since the start.
 */
export async function resetsUnderFio(exec: Exec, o: { dev: string; reset: string; loops: number; perResetMs: number }): Promise<{ fioRuns: number; seconds: number; dmesg: string }> {
  const ok = async (cmd: string, timeoutMs = 60_000): Promise<string> => {
    const r = await exec(cmd, { timeoutMs });
    expect(r.exitCode, `${cmd}\n${r.stdout}`).toBe(0);
    return r.stdout;
  };
  const job = fioVerify(o.dev, 4);
  await ok("rm -f /tmp/stop /tmp/fio.fail /tmp/reset.fail /tmp/fio.runs; dmesg -c >/dev/null");
  const t0 = performance.now();
  await ok(
    `( n=0; while [ ! -e /tmp/stop ]; do n=$((n+1)); ${job} --randseed=$n --output=/tmp/fio.log </dev/null || { echo "fio run $n:"; cat /tmp/fio.log; } >>/tmp/fio.fail; done; echo $n >/tmp/fio.runs ) & ` +
      `sleep 2; for i in $(seq ${o.loops}); do ${o.reset} || echo "reset $i: status $?" >>/tmp/reset.fail; sleep 0.5; done; touch /tmp/stop; wait`,
    o.loops * o.perResetMs + 180_000,
  );
  const seconds = (performance.now() - t0) / 1000;
  const failures = await exec("cat /tmp/fio.fail /tmp/reset.fail 2>/dev/null", { timeoutMs: 60_000 });
  const kernel = failures.stdout ? (await exec("dmesg | grep -v 'found PCI INT' | tail -40", { timeoutMs: 60_000 })).stdout : "";
  expect(failures.stdout, `failed fio runs or resets; the kernel's last lines:\n${kernel}`).toBe("");
  const fioRuns = Number((await ok("cat /tmp/fio.runs")).trim());
  expect(fioRuns).toBeGreaterThanOrEqual(1);
  expect((await ok("cat /sys/class/nvme/nvme0/state")).trim()).toBe("live");
  return { fioRuns, seconds, dmesg: await ok("dmesg") };
}
