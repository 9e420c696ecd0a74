// The console as failure reports show it: exec()'s typed line becomes the command, even where the
// guest's line editor wrapped it, and its markers go.
import { expect, it } from "vitest";
import { execInput, readableConsole } from "../../src/guest/exec.ts";

/** What the guest's console shows for exec number n: its echo (wrapped at `width`), markers, output. */
function transcript(cmd: string, n: number, output: string, status: number, width = 80): string {
  const typed = `guest# ${execInput(cmd, n)}`.replace(/\n$/, "");
  const wrapped = typed.match(new RegExp(`.{1,${width}}`, "g"))!.join("\n");
  return `${wrapped}\n@@V86B${n}@@\n${output}\n@@V86E${n}@${status}@@\n`;
}

it("shows each command after the prompt, its output and a failing status, without markers", () => {
  const text = transcript("echo hello", 1, "hello\n", 0) + transcript("false; echo it's", 2, "it's\n", 1) + "guest# ";
  expect(readableConsole(text)).toBe("guest# echo hello\nhello\nguest# false; echo it's\nit's\n[exit status 1]\nguest# ");
});

it("joins a typed line the line editor wrapped", () => {
  const cmd = "dd if=/dev/zero of=/dev/nvme0n1 bs=1M count=16 oflag=direct conv=fsync status=none && sync && echo done";
  expect(readableConsole(transcript(cmd, 7, "done\n", 0, 40))).toBe(`guest# ${cmd}\ndone\n`);
});

it("keeps text that is no exec's as it is", () => {
  const text = "[    1.5] nvme nvme0: 1/0/0 default/read/poll queues\nguest# ls\n@@V86B9@@ (printed by hand)\n";
  expect(readableConsole(text)).toBe(text);
});
