// The public options' names, one table. The convention: camelCase; durations in milliseconds
// with `Ms` in the name, other units named too (doorbellIdleUs is in microseconds); sizes in
// bytes. QEMU's `-device nvme` / `nvme-ns` property names are accepted where an option is the
// same thing with the same values (silently), and the names of 0.1 keep working for one more
// release with a console.warn once per old name per process, naming the new one.
//
// Every public entry (attachNvme, NvmeController.create and addNamespace, bootGuest in a page
// and under Node, guest.exec and serial.waitFor, the Playwright fixture, OpfsBackend.open,
// exportStream and saveDisk) passes its options through normalizeOptionNames(), so the code
// behind it sees the new names only. The table sits in the bottom room so that the disks'
// entries can use it too; it is names only.

/** Which options a name belongs to (one scope per options object a public entry takes). */
export type OptionScope =
  /** attachNvme's options, NvmeController.create's, GuestConfig.nvme and the fixture's `nvme`. */
  | "controller"
  /** A namespace: `namespaces[i]`, addNamespace(). */
  | "namespace"
  /** v86-nvme/node's bootGuest(options). */
  | "nodeGuest"
  /** bootGuest's second argument (BootOptions). */
  | "boot"
  /** guest.exec(cmd, options); the fixture's guest.exec. */
  | "exec"
  /** guest.serial.waitFor(pattern, options); the fixture's guest.serial.waitFor. */
  | "wait"
  /** The Playwright fixture's options (`use: { ... }`, test.use()). */
  | "fixture"
  /** OpfsBackend.open / openDisk({ kind: "opfs" }), exportStream, saveDisk. */
  | "disk"
  /** A result: an entry of NvmeController.namespaces() / nvme.namespaces(). */
  | "namespaceInfo";

export interface OptionName {
  scope: OptionScope;
  /** The name. */
  name: string;
  /** QEMU's property name for it, accepted silently. */
  qemu?: string;
  /** The name of 0.1, accepted with a one-time deprecation notice until the next release. */
  old?: string;
  /** What a reader of the table should know (units, a QEMU property that is not an alias). */
  note?: string;
}

/** Every option whose name has an alias. Options not listed have one name only. */
export const OPTION_NAMES: readonly OptionName[] = [
  { scope: "controller", name: "maxIoQueuePairs", qemu: "max_ioqpairs", note: "I/O queue pairs offered" },
  { scope: "controller", name: "logicalBlockSize", qemu: "logical_block_size", note: "attachNvme: block size of `drive` and of namespaces that give none" },
  { scope: "controller", name: "shadowDoorbells", qemu: "dbcs", old: "shadow_doorbells", note: "Doorbell Buffer Config" },
  { scope: "controller", name: "maxQueueEntries", old: "mqes", note: "entries, 1's based; QEMU's mqes is CAP.MQES (0's based), so it is no alias" },
  { scope: "controller", name: "guestCapacity", old: "guest_capacity", note: "bytes" },
  { scope: "controller", name: "doorbellPolicy", old: "doorbell_policy" },
  { scope: "controller", name: "doorbellIdleUs", old: "doorbell_idle_us", note: "microseconds" },
  { scope: "controller", name: "doorbellBatch", old: "doorbell_batch" },
  { scope: "controller", name: "volatileWriteCache", old: "volatile_write_cache" },
  { scope: "controller", name: "barAddress", old: "bar_address" },
  { scope: "controller", name: "vendorId", old: "vendor_id" },
  { scope: "controller", name: "deviceId", old: "device_id" },
  { scope: "controller", name: "subsystemVendorId", old: "subsystem_vendor_id" },
  { scope: "controller", name: "subsystemId", old: "subsystem_id" },
  { scope: "namespace", name: "logicalBlockSize", qemu: "logical_block_size" },
  { scope: "nodeGuest", name: "image", old: "disk" },
  { scope: "nodeGuest", name: "bootTimeoutMs", old: "timeout" },
  { scope: "boot", name: "timeoutMs", old: "timeout" },
  { scope: "exec", name: "timeoutMs", old: "timeout" },
  { scope: "wait", name: "timeoutMs", old: "timeout" },
  { scope: "fixture", name: "bootTimeoutMs", old: "bootTimeout" },
  { scope: "disk", name: "onProgress", old: "onprogress" },
  { scope: "namespaceInfo", name: "logicalBlockSize", old: "logical_block_size" },
];

/** Old names already warned about in this process (scope:old). */
const warned = new Set<string>();

function warnOnce(scope: OptionScope, old: string, name: string, where: string, what: string): void {
  if (warned.has(`${scope}:${old}`)) return;
  warned.add(`${scope}:${old}`);
  console.warn(`v86-nvme: ${where}: the ${what} "${old}" is now "${name}"; "${old}" will stop working in the next release`);
}

/** Forgets which deprecation notices were given (for tests). */
export function resetDeprecationNotices(): void {
  warned.clear();
}

/** The name `key` stands for in `scope` and how ("qemu" / "old"), or undefined when it is no alias. */
function aliasOf(scope: OptionScope, key: string): { entry: OptionName; kind: "qemu" | "old" } | undefined {
  for (const entry of OPTION_NAMES) {
    if (entry.scope !== scope) continue;
    if (entry.qemu === key) return { entry, kind: "qemu" };
    if (entry.old === key) return { entry, kind: "old" };
  }
  return undefined;
}

/**
 * `options` with every alias of `scope` renamed to its name: QEMU's names silently, old names
 * with a console.warn once per old name per process. An alias given beside its name (or beside
 * another alias) with a different value is a TypeError naming both. `where` names the entry in
 * messages ("attachNvme"). Returns `options` itself when there is nothing to rename; undefined
 * values count as absent.
 */
export function normalizeOptionNames<T>(scope: OptionScope, options: T, where: string): T {
  if (options === null || typeof options !== "object") return options;
  const given = options as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  /** Which key gave each name's value. */
  const from = new Map<string, string>();
  for (const key of Object.keys(given)) {
    const alias = aliasOf(scope, key);
    if (!alias) continue;
    out ??= { ...given };
    const value = given[key];
    delete out[key];
    if (value === undefined) continue;
    const { name } = alias.entry;
    if (alias.kind === "old") warnOnce(scope, key, name, where, "option");
    const other = given[name] !== undefined ? name : from.get(name);
    const current = other === name ? given[name] : other !== undefined ? out[name] : undefined;
    if (other !== undefined && !Object.is(current, value)) {
      throw new TypeError(`${where}: "${other}" and "${key}" are the same option ("${name}") with different values; give only "${name}"`);
    }
    out[name] = value;
    if (other === undefined) from.set(name, key);
  }
  return (out ?? options) as T;
}

/** The name `key` stands for in `scope` (`key` itself when it is no alias). */
export function optionName(scope: OptionScope, key: string): string {
  return aliasOf(scope, key)?.entry.name ?? key;
}

/** `options` with the aliases of `scope` renamed, silently: for comparing what was recorded under old names. */
export function canonicalOptionNames(scope: OptionScope, options: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(options)) out[optionName(scope, key)] = value;
  return out;
}

/**
 * Gives the result `value` its old names of `scope` as getters (not enumerable: not in JSON or
 * spreads) that return the new name's value, with a console.warn once per old name per process.
 */
export function withOldResultNames<T extends object>(scope: OptionScope, value: T, where: string): T {
  for (const entry of OPTION_NAMES) {
    if (entry.scope !== scope || entry.old === undefined) continue;
    const { old, name } = entry;
    Object.defineProperty(value, old, {
      configurable: true,
      enumerable: false,
      get: () => {
        warnOnce(scope, old, name, where, "field");
        return (value as Record<string, unknown>)[name];
      },
    });
  }
  return value;
}
