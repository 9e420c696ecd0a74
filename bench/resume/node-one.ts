// One Node measurement for the resume benchmark, in a fresh process (as a test worker starts):
// bootGuest() with no options (the guest kit, resumed from its state) → the first exec's result.
// Prints one JSON line: { totalMs, bootMs, execMs, exitCode }. Timed with process.hrtime: v86-nvme
// moves performance.now forward when it resumes a state (src/v86/clock.ts).

import { bootGuest } from "../../src/node/index.ts";

const t0 = performance.now();
const guest = await bootGuest();
const t1 = performance.now();
const r = await guest.exec("uname -r", { timeoutMs: 30_000 });
const t2 = performance.now();
await guest.stop();
process.stdout.write(JSON.stringify({ totalMs: t2 - t0, bootMs: t1 - t0, execMs: t2 - t1, exitCode: r.exitCode }) + "\n");
process.exit(0);
