// Resumes the guest kit's guest (package v86-nvme-guest: image, BIOS and a state taken at the
// shell prompt) headless under Node with v86-nvme/node, and runs two commands in it.
//   node node-boot.mjs          the kit, resumed: bootGuest() with no options
//   node node-boot.mjs --cold   a cold boot of the files named by V86NVME_IMAGE, V86NVME_BIOS
//                               and V86NVME_VGABIOS (no state)
// Exits 0 when both commands gave what they should; prints the time to the first exec result.
import { bootGuest } from "v86-nvme/node";

const cold = process.argv.includes("--cold");
const env = (name) => process.env[name] || fail(`set ${name} to a file's path`);
function fail(msg) {
  console.error(`node-boot: ${msg}`);
  process.exit(1);
}

const t0 = performance.now();
const guest = cold
  ? await bootGuest(
      { image: env("V86NVME_IMAGE"), bios: env("V86NVME_BIOS"), vgaBios: env("V86NVME_VGABIOS"), nvme: { serial: "EXAMPLE01" } },
      { timeoutMs: 240_000 },
    )
  : await bootGuest();
try {
  const list = await guest.exec("nvme list");
  const firstExec = performance.now() - t0;
  console.log(list.stdout);
  const size = await guest.exec("cat /sys/block/nvme0n1/size");
  const how = cold ? `booted cold in ${(guest.bootMs / 1000).toFixed(1)} s` : `resumed from the guest kit's state in ${(guest.bootMs / 1000).toFixed(2)} s`;
  console.log(`nvme0n1: ${size.stdout.trim()} sectors of 512 bytes; ${how}; first exec result ${(firstExec / 1000).toFixed(2)} s after bootGuest()`);
  if (list.exitCode !== 0 || !/nvme0n1/.test(list.stdout)) fail("nvme list does not show the namespace");
  if (cold && !list.stdout.includes("EXAMPLE01")) fail("nvme list does not show the controller's serial");
  if (Number(size.stdout) * 512 !== guest.disk.byteLength) fail("nvme0n1 is not the image's size");
} finally {
  await guest.stop();
}
