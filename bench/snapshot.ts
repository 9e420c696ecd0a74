// Guest snapshot and restore under Node (v86-nvme/node), by guest RAM size: how long a
// snapshot, a restore and the first exec after it take, against the boot they replace.
//
//   npx tsx bench/snapshot.ts [--memory 128,256] [--rounds 5]

import { join } from "node:path";
import { bootGuest } from "../src/node/index.ts";
import { ROOT } from "../test/project-guest/image.ts";

const arg = (name: string, dflt: string): string => {
  const i = process.argv.indexOf(name);
  return i >= 0 && i + 1 < process.argv.length ? process.argv[i + 1] : dflt;
};
const sizes = arg("--memory", "128,256").split(",").map(Number);
const rounds = Number(arg("--rounds", "5"));
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

for (const mib of sizes) {
  const guest = await bootGuest({
    image: join(ROOT, "public/guest/disk.img"),
    bios: join(ROOT, "public/bios/bios-256k.bin"),
    vgaBios: join(ROOT, "public/bios/vgabios-stdvga.bin"),
    memory: mib << 20,
  }, { timeoutMs: 300_000 });
  await guest.exec("nvme list >/dev/null; sync");
  const snapMs: number[] = [];
  let snap = await guest.snapshot();
  for (let i = 0; i < rounds; i++) {
    const t = performance.now();
    snap = await guest.snapshot();
    snapMs.push(performance.now() - t);
  }
  const restoreMs: number[] = [];
  const execMs: number[] = [];
  for (let i = 0; i < rounds; i++) {
    await guest.exec("echo x >/root/bench-file; sync");
    let t = performance.now();
    await guest.restore(snap);
    restoreMs.push(performance.now() - t);
    t = performance.now();
    await guest.exec("true");
    execMs.push(performance.now() - t);
  }
  console.log(
    `${mib} MiB: boot ${(guest.bootMs / 1000).toFixed(1)} s; snapshot ${(snap.machine.byteLength / 1048576).toFixed(1)} MiB ` +
    `(+ overlay ${snap.overlay.pageData.byteLength >> 10} KiB), median of ${rounds}: snapshot ${median(snapMs).toFixed(0)} ms, ` +
    `restore ${median(restoreMs).toFixed(0)} ms, first exec after it ${median(execMs).toFixed(0)} ms`,
  );
  await guest.stop();
}
