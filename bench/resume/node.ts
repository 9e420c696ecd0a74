// The resume benchmark's Node part: bootGuest() → first exec result, each time in a fresh process
// (node-one.ts under tsx), sequentially.

import { execFile } from "node:child_process";
import { loadavg } from "node:os";
import { join } from "node:path";
import { ROOT } from "../../test/project-guest/image.ts";

export interface NodeRun {
  totalMs?: number;
  bootMs?: number;
  execMs?: number;
  exitCode?: number;
  error?: string;
  load1: number;
}

export async function nodeRuns(n: number, say: (msg: string) => void): Promise<NodeRun[]> {
  const runs: NodeRun[] = [];
  for (let i = 1; i <= n; i++) {
    const load1 = loadavg()[0];
    const run = await new Promise<NodeRun>((resolve) => {
      execFile(join(ROOT, "node_modules/.bin/tsx"), [join(ROOT, "bench/resume/node-one.ts")], { cwd: ROOT, timeout: 300_000, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
        const line = stdout.trim().split("\n").pop() ?? "";
        try {
          if (err) throw err;
          resolve({ ...(JSON.parse(line) as Omit<NodeRun, "load1">), load1 });
        } catch (e) {
          resolve({ error: `${e instanceof Error ? e.message : String(e)} ${stderr.slice(-500)}`.trim(), load1 });
        }
      });
    });
    say(run.error ? `node ${i}/${n}: FAILED: ${run.error}` : `node ${i}/${n}: bootGuest() → exec ${(run.totalMs! / 1000).toFixed(2)} s (resume ${(run.bootMs! / 1000).toFixed(2)} s, exec ${(run.execMs! / 1000).toFixed(2)} s), load ${load1.toFixed(1)}`);
    runs.push(run);
  }
  return runs;
}
