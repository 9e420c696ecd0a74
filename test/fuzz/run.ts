// A fuzz run: `episodes` x `steps` inputs from one seed; returns the figures and any violations,
// each tagged with the seed and input number that reproduce it.

import { HostileHost } from "./hostile-host.ts";

export interface FuzzReport {
  seed: number;
  inputs: number;
  deviceCalls: number;
  fetched: number;
  completed: number;
  /** Completions by NVMe status (hex) */
  statuses: Record<string, number>;
  violations: string[];
}

export async function fuzzSeed(seed: number, inputs: number, episodeSteps = 400): Promise<FuzzReport> {
  const h = new HostileHost(seed);
  await h.start();
  const keep = firstOfEachKind();
  const violations: string[] = [];
  while (h.inputs < inputs && violations.length < 10) {
    await h.episode(Math.min(episodeSteps, inputs - h.inputs));
    for (const v of keep(h.inv.violations.splice(0))) violations.push(`seed ${seed}, input ${h.inputs}: ${v}`);
  }
  return { seed, inputs: h.inputs, deviceCalls: h.inv.calls, fetched: h.inv.ledger.fetched, completed: h.inv.ledger.completed, statuses: Object.fromEntries([...h.inv.ledger.statuses].sort((a, b) => a[0] - b[0]).map(([k, v]) => [k.toString(16), v])), violations };
}

/** A filter that lets through the first violation of each kind (the same message but for its numbers). */
export function firstOfEachKind(): (violations: string[]) => string[] {
  const seen = new Set<string>();
  return (violations) => violations.filter((v) => {
    const key = v.replace(/0x[0-9a-f]+|\d+/g, "#");
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}
