// Boots the guest from an NVMe disk with v86-nvme's public API. SeaBIOS and the disk image are
// served beside the page (public/bios/, public/guest/: the guest kit's files); the image is read
// lazily with HTTP Range requests. No IDE disk: SeaBIOS finds the NVMe namespace and boots it.
// Every failure ends up in the status line, in words that say what to do.
import { V86 } from "v86";
import v86Wasm from "v86/build/v86.wasm?url";
import { attachNvme, HttpBackend } from "v86-nvme";

const status = document.getElementById("status")!;
const serial = document.getElementById("serial")!;

function fail(e: unknown): void {
  status.textContent = `failed: ${e instanceof Error ? e.message : String(e)}`;
  status.className = "error";
}

async function fetchBytes(url: string): Promise<ArrayBuffer> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status} (is it served beside the page?)`);
  return res.arrayBuffer();
}

try {
  const [bios, vgaBios, drive] = await Promise.all([
    fetchBytes("bios/bios-256k.bin"),
    fetchBytes("bios/vgabios-stdvga.bin"),
    // Rejects with what is wrong: no Range support, a web page instead of an image, HTTP errors.
    HttpBackend.open(new URL("guest/disk.img", location.href).href),
  ]);
  const emulator = new V86({
    wasm_path: v86Wasm,
    bios: { buffer: bios },
    vga_bios: { buffer: vgaBios },
    memory_size: 128 << 20,
    screen_container: document.getElementById("screen"),
    autostart: false,
  });
  emulator.add_listener("serial0-output-byte", (byte: number) => {
    serial.textContent += String.fromCharCode(byte);
  });
  emulator.add_listener("emulator-loaded", async () => {
    try {
      await attachNvme(emulator, { drive, serial: "EXAMPLE0001" });
      await emulator.run();
      status.textContent = `running from a ${drive.byteLength >> 20} MiB NVMe disk`;
    } catch (e) {
      fail(e);
    }
  });
} catch (e) {
  fail(e);
}
