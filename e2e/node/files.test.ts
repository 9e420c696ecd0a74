// Files into and out of a running Linux guest over a scratch NVMe namespace (guest.putFile,
// getFile, putDir, getDir): sizes that are not whole blocks, host paths, directories as tar,
// missing guest paths named in the error, calls made at once (run one after the other), and a
// snapshot asked for during a transfer (taken after it, without the scratch namespace). The
// guest kit's state, resumed.

import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { bootGuest, type NodeGuest } from "../../src/node/index.ts";
import { note } from "./support.ts";

const md5 = (b: Uint8Array): string => createHash("md5").update(b).digest("hex");

/** `n` bytes no two 512-byte blocks of which are alike. */
function pattern(n: number, seed = 1): Uint8Array {
  const b = new Uint8Array(n);
  let x = seed;
  for (let i = 0; i < n; i++) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    b[i] = x >>> 24;
  }
  return b;
}

const guestMd5 = async (g: NodeGuest, path: string): Promise<string> => (await g.exec(`md5sum < '${path}'`)).stdout.split(/\s+/)[0];

/** The guest's NVMe block devices, and the host's namespaces: only namespace 1 between transfers. */
async function onlyNamespaceOne(g: NodeGuest): Promise<void> {
  expect(g.nvme.namespaces().map((n) => n.nsid)).toEqual([1]);
  expect((await g.exec("ls /sys/block | grep nvme")).stdout.trim()).toBe("nvme0n1");
}

describe("files in and out of the guest", () => {
  let g: NodeGuest;
  const host = mkdtempSync(join(tmpdir(), "v86-nvme-files-"));

  beforeAll(async () => {
    g = await bootGuest();
    note(`kit state resumed in ${(g.bootMs / 1000).toFixed(1)} s`);
  });

  afterAll(async () => {
    await g?.stop();
    rmSync(host, { recursive: true, force: true });
  });

  it("puts and gets a file whose size is not a whole number of blocks, byte for byte", async () => {
    const data = pattern((1 << 20) + 333);
    let t = performance.now();
    await g.putFile("/root/in.bin", data);
    note(`putFile 1 MiB + 333 bytes: ${Math.round(performance.now() - t)} ms`);
    expect((await g.exec("stat -c %s /root/in.bin")).stdout.trim()).toBe(String(data.length));
    expect(await guestMd5(g, "/root/in.bin")).toBe(md5(data));
    t = performance.now();
    const back = await g.getFile("/root/in.bin");
    note(`getFile: ${Math.round(performance.now() - t)} ms`);
    expect(back.length).toBe(data.length);
    expect(md5(back)).toBe(md5(data));
    await onlyNamespaceOne(g);
  });

  it("an empty file, a one-byte file, and a file replaced by a shorter one", async () => {
    await g.putFile("/root/empty", new Uint8Array(0));
    expect((await g.getFile("/root/empty")).length).toBe(0);
    await g.putFile("/root/one", new Uint8Array([42]));
    expect([...(await g.getFile("/root/one"))]).toEqual([42]);
    await g.putFile("/root/one", pattern(5000));
    await g.putFile("/root/one", new TextEncoder().encode("short"));
    expect((await g.exec("cat /root/one")).stdout).toBe("short");
  });

  it("takes a host file and writes the guest's file to a host path", async () => {
    const file = join(host, "from-host.bin");
    const data = pattern(70_000, 7);
    writeFileSync(file, data);
    await g.putFile("/tmp/from-host.bin", file);
    expect(await guestMd5(g, "/tmp/from-host.bin")).toBe(md5(data));
    await g.exec("echo made in the guest > /tmp/note.txt");
    const out = join(host, "note.txt");
    await g.getFile("/tmp/note.txt", { to: out });
    expect(readFileSync(out, "utf8")).toBe("made in the guest\n");
  });

  it("puts a host directory and gets a guest directory back (tar), files, subdirectories and links", async () => {
    const src = join(host, "tree");
    mkdirSync(join(src, "sub/deeper"), { recursive: true });
    writeFileSync(join(src, "a.txt"), "alpha\n");
    writeFileSync(join(src, "sub/b.bin"), pattern(3000, 3));
    writeFileSync(join(src, "sub/deeper", `${"long-name-".repeat(12)}.txt`), "long\n");
    symlinkSync("sub/b.bin", join(src, "link"));
    await g.putFile("/root/tree", src); // a host directory: putDir
    expect((await g.exec("cd /root/tree && find . | sort")).stdout.split("\n")).toEqual(expect.arrayContaining(["./a.txt", "./sub/b.bin", "./link", `./sub/deeper/${"long-name-".repeat(12)}.txt`]));
    expect((await g.exec("readlink /root/tree/link")).stdout.trim()).toBe("sub/b.bin");
    expect(await guestMd5(g, "/root/tree/sub/b.bin")).toBe(md5(pattern(3000, 3)));

    await g.exec("echo added > /root/tree/sub/new.txt");
    const dest = join(host, "back");
    const tar = await g.getDir("/root/tree", { to: dest });
    expect(tar.length % 512).toBe(0);
    expect(readFileSync(join(dest, "a.txt"), "utf8")).toBe("alpha\n");
    expect(md5(readFileSync(join(dest, "sub/b.bin")))).toBe(md5(pattern(3000, 3)));
    expect(readFileSync(join(dest, "sub/new.txt"), "utf8")).toBe("added\n");
    expect(readFileSync(join(dest, "sub/deeper", `${"long-name-".repeat(12)}.txt`), "utf8")).toBe("long\n");
    expect(readlinkSync(join(dest, "link"))).toBe("sub/b.bin");
    await onlyNamespaceOne(g);
  });

  it("a guest that turned Namespace Attribute Changed notices off still gets its file: the driver is asked to rescan", async () => {
    const notices = async () => (await g.exec("nvme get-feature /dev/nvme0 -f 0x0b -H | grep 'Namespace Attribute'")).stdout;
    await g.exec("nvme set-feature /dev/nvme0 -f 0x0b -v 0");
    try {
      expect(await notices()).toContain("Do not send async event");
      const data = pattern(20_000, 11);
      await g.putFile("/root/no-notice.bin", data);
      expect(await guestMd5(g, "/root/no-notice.bin")).toBe(md5(data));
    } finally {
      await g.exec("nvme set-feature /dev/nvme0 -f 0x0b -v 0x100"); // Linux's own setting: Namespace Attribute notices
    }
    expect(await notices()).toContain(": Send async event");
    await onlyNamespaceOne(g);
  });

  it("names a guest path that is missing or not a file, and leaves no namespace behind", async () => {
    await expect(g.getFile("/root/no-such-file")).rejects.toThrow("getFile /root/no-such-file: the guest has no file /root/no-such-file");
    await expect(g.putFile("/no/such/dir/f", new Uint8Array(1))).rejects.toThrow("putFile /no/such/dir/f: the guest has no directory /no/such/dir");
    await expect(g.getFile("/root")).rejects.toThrow("/root is not a regular file in the guest");
    await expect(g.putFile("/root", new Uint8Array(1))).rejects.toThrow("/root is a directory in the guest");
    await expect(g.getDir("/root/none")).rejects.toThrow("getDir /root/none: the guest has no directory /root/none");
    await expect(g.putFile("/root/x", join(host, "missing"))).rejects.toThrow(/cannot read the host path .*missing/);
    await expect(g.putFile("bad\npath", new Uint8Array(1))).rejects.toThrow(/control character/);
    await onlyNamespaceOne(g);
    expect((await g.exec("echo still here")).stdout).toBe("still here\n");
  });

  it("calls made at once run one after the other, each with its own bytes", async () => {
    const datas = [pattern(10_000, 11), pattern(600_000, 12), pattern(513, 13)];
    const [, , , echo, ...rest] = await Promise.all([
      ...datas.map((d, i) => g.putFile(`/root/c${i}`, d)),
      g.exec("echo between"),
      ...datas.map((_, i) => g.getFile(`/root/c${i}`)),
    ]);
    expect((echo as { stdout: string }).stdout).toBe("between\n");
    rest.forEach((b, i) => expect(md5(b as Uint8Array)).toBe(md5(datas[i])));
    await onlyNamespaceOne(g);
  });

  it("the README's tour: files and directories, the keyboard at the VGA console, the screen", async () => {
    const guest = g;
    const hostDir = join(host, "tour");
    mkdirSync(hostDir);
    writeFileSync(join(hostDir, "hello.txt"), "hello\n");
    // README snippet: guest-lab-node
    await guest.putFile("/root/data.bin", new Uint8Array(1_000_000).fill(7)); // bytes, or a host file's path
    await guest.putFile("/root/tour", hostDir); // a host directory: carried as tar, unpacked there
    const bytes = await guest.getFile("/root/data.bin"); // a Uint8Array
    await guest.getDir("/root/tour", { to: join(host, "tour-back") }); // unpacked on the host

    // Nothing reads the VGA console (tty1; the shell is on the serial port): start a reader there.
    await guest.exec("(head -n1 /dev/tty1 > /tmp/line) & while ! ls -l /proc/[0-9]*/fd | grep -q tty1; do usleep 50000; done");
    await guest.keyboard.type("typed at the console\n");
    await guest.screen.waitFor("typed at the console", { timeoutMs: 10_000 });
    await guest.keyboard.press("Escape"); // also "Enter", "F1", "ArrowUp", "Ctrl+C", "Ctrl+Alt+Delete", ...
    // README snippet end
    expect(bytes.length).toBe(1_000_000);
    expect(bytes.every((b) => b === 7)).toBe(true);
    expect(readFileSync(join(host, "tour-back/hello.txt"), "utf8")).toBe("hello\n");
    expect((await guest.exec("cat /tmp/line")).stdout).toBe("typed at the console\n");
  });

  it("a snapshot asked for during a transfer is taken after it, and restores without the scratch namespace", async () => {
    const data = pattern(2 << 20, 21);
    const put = g.putFile("/root/snap.bin", data);
    const snap = g.snapshot();
    await put;
    const s = await snap;
    await g.exec("rm /root/snap.bin");
    await g.restore(s);
    expect(await guestMd5(g, "/root/snap.bin")).toBe(md5(data));
    await onlyNamespaceOne(g);
    // Transfers work after the restore too.
    await g.putFile("/root/after", new Uint8Array([1, 2, 3]));
    expect([...(await g.getFile("/root/after"))]).toEqual([1, 2, 3]);
  });
});
