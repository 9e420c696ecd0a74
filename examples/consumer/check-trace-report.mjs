// After the example's Playwright run: the test that fails on purpose (tests/fixture/lab.spec.ts)
// must carry the NVMe command trace in the report, with the injected fault's hits in it.
//   node check-trace-report.mjs playwright-report/report.json
import { readFileSync } from "node:fs";

const fail = (msg) => {
  console.error(`check-trace-report: ${msg}`);
  process.exit(1);
};
const report = JSON.parse(readFileSync(process.argv[2] ?? "playwright-report/report.json", "utf8"));
const specs = [];
const walk = (suite) => {
  for (const s of suite.specs ?? []) specs.push(s);
  for (const child of suite.suites ?? []) walk(child);
};
for (const s of report.suites) walk(s);
const spec = specs.find((s) => s.title === "a failed test's report carries the NVMe command trace") ?? fail("the deliberately failing test is not in the report");
const result = spec.tests[0]?.results.at(-1) ?? fail("the deliberately failing test did not run");
if (result.status !== "failed" || spec.tests[0].expectedStatus !== "failed") fail(`it ended ${result.status} (expected to fail)`);
const trace = result.attachments.find((a) => a.name === "NVMe command trace") ?? fail(`no "NVMe command trace" attachment (got: ${result.attachments.map((a) => a.name).join(", ")})`);
const text = Buffer.from(trace.body ?? "", "base64").toString("utf8");
if (!/^\s*at ms\s+latency ms/.test(text)) fail(`the trace attachment is not the trace table:\n${text.slice(0, 500)}`);
if (!/Unrecovered Read Error.*fault \d+/.test(text)) fail(`the trace does not show the injected fault's hits:\n${text.slice(-1500)}`);
console.log(`check-trace-report: the failed test's report has the command trace (${text.split("\n").length - 1} commands), the injected fault's hits in it`);
