// Which device code a benchmark measured: the last commit that touched src/ or asm/, marked when
// those folders hold changes not yet committed.

import { execFileSync } from "node:child_process";
import { ROOT } from "../test/project-guest/image.ts";

function git(...args: string[]): string {
  try {
    return execFileSync("git", args, { cwd: ROOT, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}

export function deviceCommit(): string {
  const commit = git("log", "-1", "--format=%h", "--", "src", "asm") || "unknown";
  return git("status", "--porcelain", "--", "src", "asm") !== "" ? `${commit} + local changes in src/ or asm/` : commit;
}
