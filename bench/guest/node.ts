// The guest benchmark's guests under Node: test/project-guest/guest.ts's Guest in this process.

import { Guest } from "../../test/project-guest/guest.ts";
import { localGuest, startSampler, type Platform } from "./host.ts";
import type { Sampler } from "./sampler.ts";

export function nodePlatform(): Platform {
  return {
    name: "node",
    runtime: `Node ${process.version}`,
    cpuSeconds: () => {
      const c = process.cpuUsage();
      return (c.user + c.system) / 1e6;
    },
    async boot(o) {
      if (o.rootOverHttp || o.disks?.length) throw new Error("rootOverHttp and disks are for guests in Chromium (--browser)");
      let g: Guest | undefined;
      let sampler: Sampler | undefined;
      try {
        g = await Guest.boot({
          withNvme: o.nvme,
          ide: o.ide,
          label: o.label,
          appendBytes: o.appendBytes,
          serial: o.serial,
          nvme: { shadowDoorbells: o.shadowDoorbells },
          bootTimeoutMs: o.bootTimeoutMs,
          echo: o.echo,
          onEmulator: (em) => {
            sampler = startSampler(em, () => g?.nvme);
          },
        });
      } catch (e) {
        sampler?.stop();
        throw e;
      }
      const guest = g;
      return localGuest({
        runToPromptMs: guest.runToPromptMs,
        nvme: o.nvme ? guest.nvme : undefined,
        sampler: sampler!,
        run: (cmd, timeoutMs) => guest.run(cmd, timeoutMs),
        tail: (lines) => guest.tail(lines),
        stop: () => guest.stop(),
      });
    },
    close: async () => undefined,
  };
}
