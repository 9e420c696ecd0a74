// The tar archives putDir()/getDir() carry: packTar's output read back by unpackTar, long paths,
// and an archive made by a real tar (GNU tar here, which writes the same ustar headers busybox does).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { packTar, unpackTar, type TarEntry } from "../../src/guest/tar.ts";

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s);

describe("tar", () => {
  it("round-trips files, directories and links, with modes and times", () => {
    const long = `${"d".repeat(60)}/${"f".repeat(70)}.txt`;
    const entries: TarEntry[] = [
      { path: "sub", type: "directory", mode: 0o700, mtime: 1_700_000_000 },
      { path: "sub/a.txt", type: "file", mode: 0o600, mtime: 1_700_000_001, data: bytes("hello\n") },
      { path: "empty", type: "file", mode: 0o644, mtime: 0, data: new Uint8Array(0) },
      { path: "link", type: "symlink", mode: 0o777, mtime: 0, target: "sub/a.txt" },
      { path: long, type: "file", mode: 0o644, mtime: 0, data: new Uint8Array(513).fill(7) },
    ];
    const archive = packTar(entries);
    expect(archive.length % 512).toBe(0);
    expect(unpackTar(archive)).toEqual(entries);
  });

  it("reads what tar(1) writes and tar(1) reads what packTar writes", () => {
    const dir = mkdtempSync(join(tmpdir(), "tar-test-"));
    try {
      const archive = packTar([
        { path: "x", type: "directory" },
        { path: "x/y.bin", type: "file", data: new Uint8Array([0, 1, 2, 255]) },
      ]);
      const file = join(dir, "a.tar");
      execFileSync("sh", ["-c", `cat > ${file}`], { input: archive });
      execFileSync("tar", ["-x", "-C", dir, "-f", file]);
      expect([...readFileSync(join(dir, "x/y.bin"))]).toEqual([0, 1, 2, 255]);
      const made = execFileSync("tar", ["--format=gnu", "-c", "-C", dir, "."]);
      const got = unpackTar(new Uint8Array(made));
      expect(got.find((e) => e.path === "x/y.bin")?.data).toEqual(new Uint8Array([0, 1, 2, 255]));
      expect(got.find((e) => e.path === "x")?.type).toBe("directory");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("refuses a damaged archive naming where", () => {
    const archive = packTar([{ path: "a", type: "file", data: bytes("a") }]);
    archive[0] ^= 1;
    expect(() => unpackTar(archive)).toThrow(/header at byte 0 has a bad checksum/);
    expect(() => unpackTar(packTar([{ path: "a", type: "file", data: new Uint8Array(2000) }]).subarray(0, 1024))).toThrow(/ends inside a/);
  });
});
