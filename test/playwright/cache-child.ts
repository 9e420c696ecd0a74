// A process asking the state cache for an entry (state-cache.test.ts starts several at once):
//   tsx cache-child.ts DIR NAME BUILD_MS
// Prints one JSON line: what cachedFile() gave, and whether this process built the entry.
import { writeFileSync } from "node:fs";
import { cachedFile } from "../../src/playwright/state-cache.ts";

const [dir, name, buildMs] = process.argv.slice(2);
let built = false;
const entry = await cachedFile({
  dir,
  name,
  pollMs: 20,
  build: async (tmp) => {
    built = true;
    writeFileSync(tmp, `built by ${process.pid}\n`);
    await new Promise((r) => setTimeout(r, Number(buildMs)));
  },
});
process.stdout.write(`${JSON.stringify({ ...entry, built, pid: process.pid })}\n`);
