// Imported before anything that loads v86: makes the clock v86 binds movable, so that a guest
// resumed from a state saved later in another process's life gets its timers (src/v86/clock.ts).
// main.ts gives performance.now back once v86 has loaded.
import { installV86Clock } from "../index.ts";

installV86Clock();
