// The built page boots the guest from its NVMe disk in Chromium and reaches the shell.
import { expect, test } from "@playwright/test";

test("the page boots the guest from the NVMe disk to a shell", async ({ page }) => {
  const failed = new Promise<never>((_, reject) => page.on("pageerror", reject));
  await page.goto("/");
  const serial = page.locator("#serial");
  await Promise.race([failed, expect(serial).toContainText("guest# ", { timeout: 200_000 })]);
  await expect(serial).toContainText("nvme0n1");
  await expect(page.locator("#status")).toContainText("NVMe disk");
});
