// Boots the guest headless under Node with v86-nvme/node, from the image and BIOS files named by
// V86NVME_IMAGE, V86NVME_BIOS and V86NVME_VGABIOS, and runs two commands in it.
//   node node-boot.mjs        exits 0 when both commands gave what they should
import { bootGuest } from "v86-nvme/node";

const env = (name) => process.env[name] || fail(`set ${name} to a file's path`);
function fail(msg) {
  console.error(`node-boot: ${msg}`);
  process.exit(1);
}

const guest = await bootGuest(
  { image: env("V86NVME_IMAGE"), bios: env("V86NVME_BIOS"), vgaBios: env("V86NVME_VGABIOS"), nvme: { serial: "EXAMPLE01" } },
  { timeout: 240_000 },
);
try {
  const list = await guest.exec("nvme list");
  console.log(list.stdout);
  const size = await guest.exec("cat /sys/block/nvme0n1/size");
  console.log(`nvme0n1: ${size.stdout.trim()} sectors of 512 bytes, booted in ${(guest.bootMs / 1000).toFixed(1)} s`);
  if (list.exitCode !== 0 || !list.stdout.includes("EXAMPLE01")) fail("nvme list does not show the controller");
  if (Number(size.stdout) * 512 !== guest.disk.byteLength) fail("nvme0n1 is not the image's size");
} finally {
  await guest.stop();
}
