// The README's usage snippets are the tested examples themselves, quoted whole.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");

it.each(["examples/consumer/src/main.ts", "examples/consumer/node-boot.mjs", "examples/consumer/tests/fixture/isolation.spec.ts", "examples/consumer/tests/fixture/lab.spec.ts"])("README quotes %s as it is", (file) => {
  expect(readme).toContain(readFileSync(join(ROOT, file), "utf8").trimEnd());
});

// Snippets kept inside a test, between "// README snippet: NAME" and "// README snippet end".
it.each([["test/namespaces.test.ts", "namespaces"], ["test/zns.test.ts", "zoned"], ["e2e/node/faults.test.ts", "faults"], ["e2e/node/files.test.ts", "guest-lab-node"]])("README quotes the %s snippet %s as it is", (file, name) => {
  const text = readFileSync(join(ROOT, file), "utf8");
  const m = new RegExp(`\\n( *)// README snippet: ${name}\\n([\\s\\S]*?)\\n *// README snippet end`).exec(text);
  expect(m, `no snippet ${name} in ${file}`).not.toBeNull();
  const body = m![2].split("\n").map((l) => l.slice(m![1].length)).join("\n");
  expect(readme).toContain(body);
});
