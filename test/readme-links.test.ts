// The README is the packed package's front page (npm shows it; the tarball carries it): every
// link and image in it must open for someone who has only the tarball — a web address, an anchor
// of the README itself, or a file the package ships.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { expect, it } from "vitest";

const ROOT = join(import.meta.dirname, "..");
const readme = readFileSync(join(ROOT, "README.md"), "utf8");
const packed: string[] = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).files;

/** Markdown links and images, and HTML src/href attributes, outside code blocks. */
function targets(md: string): string[] {
  const text = md.replace(/```[\s\S]*?```/g, "").replace(/`[^`\n]*`/g, "");
  const out: string[] = [];
  for (const m of text.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) out.push(m[1]);
  for (const m of text.matchAll(/\b(?:src|href)="([^"]+)"/g)) out.push(m[1]);
  return out;
}

/** GitHub's anchor for a heading. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\w\- ]/g, "").replace(/ /g, "-");
}

it("every README link is a web address, one of its own headings, or a file in the package", () => {
  const anchors = new Set([...readme.matchAll(/^#{1,6} (.+)$/gm)].map((m) => slug(m[1])));
  const broken = targets(readme).filter((t) => {
    if (/^https?:\/\//.test(t)) return false;
    if (t.startsWith("#")) return !anchors.has(t.slice(1));
    const path = t.replace(/^\.\//, "").split("#")[0];
    return !packed.some((f) => path === f || path.startsWith(`${f.replace(/\/$/, "")}/`));
  });
  expect(broken).toEqual([]);
});
