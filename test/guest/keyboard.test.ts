// Key names and text to PS/2 scan code set 1 (make codes; break = make | 0x80; 0xE0 for the
// extended keys), as a PC keyboard behind the 8042's translation sends them.
import { describe, expect, it } from "vitest";
import { keyScancodes, textScancodes } from "../../src/guest/keyboard.ts";

describe("keyScancodes", () => {
  it.each([
    ["Enter", [0x1c, 0x9c]],
    ["Escape", [0x01, 0x81]],
    ["Esc", [0x01, 0x81]],
    ["Tab", [0x0f, 0x8f]],
    ["Backspace", [0x0e, 0x8e]],
    ["Space", [0x39, 0xb9]],
    ["F1", [0x3b, 0xbb]],
    ["F10", [0x44, 0xc4]],
    ["F11", [0x57, 0xd7]],
    ["F12", [0x58, 0xd8]],
    ["ArrowUp", [0xe0, 0x48, 0xe0, 0xc8]],
    ["ArrowDown", [0xe0, 0x50, 0xe0, 0xd0]],
    ["ArrowLeft", [0xe0, 0x4b, 0xe0, 0xcb]],
    ["ArrowRight", [0xe0, 0x4d, 0xe0, 0xcd]],
    ["Home", [0xe0, 0x47, 0xe0, 0xc7]],
    ["End", [0xe0, 0x4f, 0xe0, 0xcf]],
    ["PageUp", [0xe0, 0x49, 0xe0, 0xc9]],
    ["PageDown", [0xe0, 0x51, 0xe0, 0xd1]],
    ["Insert", [0xe0, 0x52, 0xe0, 0xd2]],
    ["Delete", [0xe0, 0x53, 0xe0, 0xd3]],
    ["enter", [0x1c, 0x9c]],
    ["a", [0x1e, 0x9e]],
    ["5", [0x06, 0x86]],
    ["/", [0x35, 0xb5]],
  ])("%s", (key, codes) => {
    expect(keyScancodes(key)).toEqual(codes);
  });

  it("holds the modifiers around the key and releases them in reverse order", () => {
    expect(keyScancodes("Ctrl+C")).toEqual([0x1d, 0x2e, 0xae, 0x9d]);
    expect(keyScancodes("Ctrl+c")).toEqual([0x1d, 0x2e, 0xae, 0x9d]);
    expect(keyScancodes("Shift+Tab")).toEqual([0x2a, 0x0f, 0x8f, 0xaa]);
    expect(keyScancodes("Ctrl+Alt+Delete")).toEqual([0x1d, 0x38, 0xe0, 0x53, 0xe0, 0xd3, 0xb8, 0x9d]);
    expect(keyScancodes("AltRight+F2")).toEqual([0xe0, 0x38, 0x3c, 0xbc, 0xe0, 0xb8]);
  });

  it("a shifted character alone holds Shift; the plus key", () => {
    expect(keyScancodes("?")).toEqual([0x2a, 0x35, 0xb5, 0xaa]);
    expect(keyScancodes("A")).toEqual([0x2a, 0x1e, 0x9e, 0xaa]);
    expect(keyScancodes("+")).toEqual([0x2a, 0x0d, 0x8d, 0xaa]);
    expect(keyScancodes("Shift++")).toEqual([0x2a, 0x0d, 0x8d, 0xaa]);
  });

  it("names what it does not know", () => {
    expect(() => keyScancodes("F13")).toThrow(/unknown key "F13" in "F13"/);
    expect(() => keyScancodes("Hyper+a")).toThrow(/"Hyper" in "Hyper\+a" is not a modifier/);
    expect(() => keyScancodes("a+b")).toThrow(/"a" in "a\+b" is not a modifier/);
    expect(() => keyScancodes("")).toThrow(/give a key name/);
  });
});

describe("textScancodes", () => {
  it("types letters, digits, shifted characters, newline and tab", () => {
    expect(textScancodes("aZ1!\n\t ")).toEqual([
      0x1e, 0x9e, 0x2a, 0x2c, 0xac, 0xaa, 0x02, 0x82, 0x2a, 0x02, 0x82, 0xaa, 0x1c, 0x9c, 0x0f, 0x8f, 0x39, 0xb9,
    ]);
  });

  it("covers the printable ASCII characters, each with one key", () => {
    for (let c = 0x20; c < 0x7f; c++) {
      const codes = textScancodes(String.fromCharCode(c));
      expect(codes.filter((b) => b < 0x80 && b !== 0x2a)).toHaveLength(1);
    }
  });

  it("names a character it cannot type", () => {
    expect(() => textScancodes("é")).toThrow(/"é" \(U\+00E9\) has no key on a US keyboard/);
  });
});
