// The one error a state file that cannot be resumed gives: damaged, or made for another machine.

/** A state file that cannot be resumed: damaged, or made for another machine. */
export class StateFileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "StateFileError";
  }
}
