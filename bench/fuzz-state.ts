// Damaged state files through the real resume path: `npm run fuzz:state -- [--iterations N] [--seed S] [--run-ms M]`.
// N inputs (default 10,000), each one kind of damage (test/state/fuzz-core.ts), through
// decodeStateFile() and bootGuest({ state }) in a real v86 under Node. Prints the outcome table
// (refused by which check, resumed, resumed then trapped in v86), times and every failure; exits 1
// on any failure, an emulator left, or a refusal before any emulator slower than 1 s. The CI-sized slice is test/state/fuzz-slice.test.ts.

import { existsSync, writeSync } from "node:fs";
import { DISK_IMAGE, formatReport, fuzz, loadEnv, makeBase, takeApart } from "../test/state/fuzz-core.ts";

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = Number(process.argv[i + 1]);
  if (!Number.isFinite(v) || v < 0) {
    console.error(`fuzz-state: --${name} wants a number`);
    process.exit(2);
  }
  return Math.floor(v);
}

if (!existsSync(DISK_IMAGE)) {
  console.error(`fuzz-state: ${DISK_IMAGE} is missing (bash scripts/setup.sh builds it)`);
  process.exit(2);
}
const iterations = arg("iterations", 10_000);
const seed = arg("seed", 1);
const runMs = arg("run-ms", 150);
const t0 = performance.now();
const env = await loadEnv();
const container = await makeBase(env);
const base = await takeApart(container);
console.log(`base state: ${container.byteLength} bytes (${base.zst.byteLength} zstd), machine section ${base.sections[0].byteLength} bytes, made in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
let last = performance.now();
const rep = await fuzz(env, base, iterations, seed, {
  runMs,
  // --from K: the same inputs as ever, only those from K on run (to replay one).
  from: arg("from", 0),
  // FUZZ_TRACE=1: each input's number and damage before it runs (a hang then names its input).
  trace: process.env.FUZZ_TRACE ? (line) => writeSync(2, `${line}\n`) : undefined,
  progress: (i, partial) => {
    if (performance.now() - last > 10_000) {
      last = performance.now();
      process.stderr.write(`  ${i}/${iterations}, ${partial.failures.length} failures\n`);
    }
    if (i % 1000 === 0 && i < iterations) process.stderr.write(`\n--- after ${i} inputs ---\n${formatReport({ ...partial, iterations: i, seconds: (performance.now() - t0) / 1000 })}\n\n`);
  },
});
console.log(`seed ${seed}`);
console.log(formatReport(rep));
process.exit(rep.failures.length > 0 || rep.slowRefusals.some((s) => s.stage === "decode") || rep.emulatorsLive > 0 ? 1 : 0);
