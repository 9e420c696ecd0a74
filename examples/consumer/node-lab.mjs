// The guest as a storage test lab under Node (v86-nvme/node, the guest kit's guest resumed): a
// host file into the guest and back out, a media error injected into the NVMe controller that the
// guest's dd sees and the command trace records, and text on the guest's VGA screen.
//   node node-lab.mjs
// Exits 0 when every step gave what it should.
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatTrace } from "v86-nvme";
import { bootGuest } from "v86-nvme/node";

const md5 = (b) => createHash("md5").update(b).digest("hex");
function check(ok, msg) {
  if (ok) return console.log(`node-lab: ${msg}`);
  console.error(`node-lab: failed: ${msg}`);
  process.exit(1);
}

const dir = mkdtempSync(join(tmpdir(), "node-lab-"));
const guest = await bootGuest();
try {
  // A host file in, through a scratch namespace, and back out.
  const data = new Uint8Array(1_000_000).map((_, i) => (i * 13) & 255);
  writeFileSync(join(dir, "data.bin"), data);
  await guest.putFile("/root/data.bin", join(dir, "data.bin"));
  const inGuest = (await guest.exec("md5sum < /root/data.bin")).stdout.split(/\s+/)[0];
  const back = await guest.getFile("/root/data.bin");
  check(inGuest === md5(data) && md5(back) === md5(data), `a host file in and back out: md5 ${md5(back)} on both sides`);

  // Blocks 2048-2055 of namespace 1 go bad: the guest's read fails (Linux: ENODATA).
  const fault = guest.nvme.inject({ op: "read", nsid: 1, lba: [2048, 8], status: "media-error" });
  const dd = await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4k skip=256 count=1 iflag=direct");
  check(dd.exitCode !== 0 && dd.stdout.includes("No data available"), "the injected media error fails dd: No data available");
  const hits = guest.nvme.trace().filter((e) => e.injected === fault.id);
  console.log(formatTrace(hits));
  check(hits.length > 0 && hits.every((e) => e.statusName === "Unrecovered Read Error"), `the trace shows the fault's ${hits.length} hits`);
  guest.nvme.clear();
  const again = await guest.exec("dd if=/dev/nvme0n1 of=/dev/null bs=4k skip=256 count=1 iflag=direct");
  check(guest.nvme.list().length === 0 && again.exitCode === 0, "cleared: the same read works again");

  // The VGA screen (the shell is on the serial port; tty1 is the screen's console).
  await guest.exec("echo hello from node-lab > /dev/tty1");
  await guest.screen.waitFor("hello from node-lab", { timeoutMs: 10_000 });
  check(guest.screen.text().some((line) => line.includes("hello from node-lab")), "the screen shows the line written to tty1");
} finally {
  await guest.stop();
  rmSync(dir, { recursive: true, force: true });
}
