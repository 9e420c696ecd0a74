// Long hostile-host runs: `npm run fuzz -- [--iterations N] [--seed S] [--seeds K]`.
// N inputs in all (default 1,000,000), spread over K seeds (default 10) starting at S (default 1).
// Prints inputs, seconds, inputs per second and every violation with the seed and input number
// that reproduce it; exits 1 if there was any. The CI-sized slice is test/fuzz/fuzz.test.ts.

import { fuzzSeed } from "../test/fuzz/run.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 1) {
    console.error(`fuzz: --${name} wants a positive number`);
    process.exit(2);
  }
  return Math.floor(v);
}

const total = arg("iterations", 1_000_000);
const first = arg("seed", 1);
const seeds = Math.min(arg("seeds", 10), total);
const t0 = performance.now();
let inputs = 0;
let calls = 0;
let fetched = 0;
const violations: string[] = [];
const statuses = new Map<string, number>();
for (let k = 0; k < seeds; k++) {
  const seed = first + k;
  const share = Math.floor(total / seeds) + (k < total % seeds ? 1 : 0);
  const t = performance.now();
  const r = await fuzzSeed(seed, share);
  inputs += r.inputs;
  calls += r.deviceCalls;
  fetched += r.fetched;
  violations.push(...r.violations);
  for (const [k, v] of Object.entries(r.statuses)) statuses.set(k, (statuses.get(k) ?? 0) + v);
  const s = (performance.now() - t) / 1000;
  console.log(`seed ${seed}: ${r.inputs} inputs, ${r.deviceCalls} device calls, ${r.fetched} commands fetched, ${r.completed} completed, ${r.violations.length} violations, ${s.toFixed(1)} s`);
  for (const v of r.violations) console.log(`  ${v}`);
}
const secs = (performance.now() - t0) / 1000;
const ok = statuses.get("0") ?? 0;
const all = [...statuses.values()].reduce((a, b) => a + b, 0);
console.log(`\ncompletions: ${all}, ${((ok / all) * 100).toFixed(0)} % successful, ${statuses.size} distinct statuses: ${[...statuses.keys()].map((k) => `0x${k}`).join(" ")}`);
console.log(`\n${inputs} inputs (${calls} device calls, ${fetched} commands) in ${secs.toFixed(1)} s: ${Math.round(inputs / secs)} inputs/s, ${violations.length} violations`);
process.exit(violations.length ? 1 : 0);
