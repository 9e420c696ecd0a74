// Long hostile-host runs: `npm run fuzz -- [--iterations N] [--snapshots M] [--adapter A] [--seed S] [--seeds K]`.
// N hostile-host inputs (default 1,000,000), M mutated snapshots restored (default 100,000) and
// A inputs at the v86 adapter (default 100,000), each spread over K seeds (default 10) starting
// at S (default 1). Prints inputs, seconds, inputs per second and every violation with the seed
// and input number that reproduce it; exits 1 if there was any. The CI-sized slices are in
// test/fuzz/fuzz.test.ts.

import { fuzzSeed } from "../test/fuzz/run.ts";
import { fuzzSnapshots } from "../test/fuzz/snapshot-fuzz.ts";
import { fuzzAdapter } from "../test/fuzz/adapter-fuzz.ts";

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
const snapshotTotal = arg("snapshots", 100_000);
const adapterTotal = arg("adapter", 100_000);
const first = arg("seed", 1);
const seeds = Math.min(arg("seeds", 10), total);
const share = (all: number, k: number) => Math.floor(all / seeds) + (k < all % seeds ? 1 : 0);
const t0 = performance.now();
let inputs = 0;
let calls = 0;
let fetched = 0;
const violations: string[] = [];
const statuses = new Map<string, number>();
for (let k = 0; k < seeds; k++) {
  const seed = first + k;
  const t = performance.now();
  const r = await fuzzSeed(seed, share(total, k));
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
const hostViolations = violations.length;
console.log(`\ncompletions: ${all}, ${((ok / all) * 100).toFixed(0)} % successful, ${statuses.size} distinct statuses: ${[...statuses.keys()].map((k) => `0x${k}`).join(" ")}`);
console.log(`\nhostile host: ${inputs} inputs (${calls} device calls, ${fetched} commands) in ${secs.toFixed(1)} s: ${Math.round(inputs / secs)} inputs/s, ${hostViolations} violations\n`);

const t1 = performance.now();
let snapInputs = 0;
let restored = 0;
let refused = 0;
for (let k = 0; k < seeds; k++) {
  const r = await fuzzSnapshots(first + k, share(snapshotTotal, k));
  snapInputs += r.inputs;
  restored += r.restored;
  refused += r.refused;
  violations.push(...r.violations);
  for (const v of r.violations) console.log(`  ${v}`);
}
const snapSecs = (performance.now() - t1) / 1000;
const snapViolations = violations.length - hostViolations;
console.log(`snapshots: ${snapInputs} mutated snapshots (${restored} restored, ${refused} refused) in ${snapSecs.toFixed(1)} s: ${Math.round(snapInputs / snapSecs)} inputs/s, ${snapViolations} violations`);

const t2 = performance.now();
let adInputs = 0;
let mmio = 0;
let config = 0;
let bmOff = 0;
for (let k = 0; k < seeds; k++) {
  const r = await fuzzAdapter(first + k, share(adapterTotal, k));
  adInputs += r.inputs;
  mmio += r.mmio;
  config += r.configWrites;
  bmOff += r.busMasterOff;
  violations.push(...r.violations);
  for (const v of r.violations) console.log(`  ${v}`);
}
const adSecs = (performance.now() - t2) / 1000;
const adViolations = violations.length - hostViolations - snapViolations;
console.log(`adapter: ${adInputs} inputs (${mmio} hostile MMIO accesses, ${config} config writes, Bus Master Enable cleared ${bmOff} times) in ${adSecs.toFixed(1)} s: ${Math.round(adInputs / adSecs)} inputs/s, ${adViolations} violations`);
console.log(`\nin all: ${inputs + snapInputs + adInputs} inputs in ${((performance.now() - t0) / 1000).toFixed(1)} s, ${violations.length} violations`);
process.exit(violations.length ? 1 : 0);
