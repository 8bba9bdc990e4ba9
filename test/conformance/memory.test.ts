import { createMemoryStore, dumpMemoryStore } from "../../src/stores/memory/memory-store.js";
import { virtualClock } from "./conformance-context.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

// The memory store takes all its time from the manager: its expiry tests run on a virtual clock.

// Without the background sweep, lazy expiry on access alone must give every expiry result.
runSessionStoreConformance(
  "memory",
  async () => {
    const store = createMemoryStore({ sweepIntervalMs: 0 });
    return { store, dump: async () => dumpMemoryStore(store), cleanup: () => store.close() };
  },
  { clock: virtualClock() },
);

// With a sweep far more often than any test waits, on the same virtual clock, so that it runs in the
// middle of them.
const swept = virtualClock();
runSessionStoreConformance(
  "memory, swept every 25 ms",
  async () => {
    const store = createMemoryStore({ sweepIntervalMs: 25, clock: () => swept.now() });
    return { store, dump: async () => dumpMemoryStore(store), cleanup: () => store.close() };
  },
  { clock: swept },
);
