// Where disks report what goes wrong beside a request (a boot trace ignored, spilling given up, a
// failed transfer nobody awaits): the same shape as the controller's log, so one sink takes both.

/** "debug": expected and harmless (e.g. Linux probing a BAR v86 cannot move); sinks may drop it. */
export type LogLevel = "debug" | "info" | "warn" | "error";

export type Log = (level: LogLevel, msg: string) => void;

/** The default sink. */
export const consoleLog: Log = (level, msg) => {
  if (level === "error") console.error(msg);
  else if (level === "warn") console.warn(msg);
  else if (level === "debug") console.debug(msg);
  else console.log(msg);
};
