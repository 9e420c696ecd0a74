// The README's usage snippets are the tested examples themselves, quoted whole.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

it.each(["examples/consumer/src/main.ts", "examples/consumer/node-boot.mjs", "examples/consumer/tests/fixture/isolation.spec.ts"])("README quotes %s as it is", (file) => {
  expect(readme).toContain(readFileSync(join(ROOT, file), "utf8").trimEnd());
});
