// Long hostile-guest run: `npm run fuzz -- [seeds] [steps]` (defaults 50 seeds x 20000 steps).
import { fuzz } from "../test/hostile-guest.ts";

const seeds = Number(process.argv[2] ?? 50);
const steps = Number(process.argv[3] ?? 20000);
let failed = 0;
for (let s = 1; s <= seeds; s++) {
  const r = await fuzz(s * 7919, steps);
  const ok = r.canaries.length === 0 && r.stillWorks && r.internalErrors.length === 0;
  for (const e of r.internalErrors.slice(0, 3)) console.log(e);
  if (!ok) failed++;
  console.log(`seed ${s * 7919}: ${r.completions} completions, ${r.canaries.length} broken canaries, ${r.stillWorks ? "still works" : "BROKEN"}`);
}
console.log(failed ? `${failed} seeds failed` : "all seeds passed");
process.exit(failed ? 1 : 0);
