import { createMemoryStore, dumpMemoryStore } from "../../src/stores/memory/memory-store.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

// Without the background sweep, lazy expiry on access alone must give every expiry result.
runSessionStoreConformance("memory", async () => {
  const store = createMemoryStore({ sweepIntervalMs: 0 });
  return { store, dump: async () => dumpMemoryStore(store), cleanup: () => store.close() };
});

// With a sweep far more often than any test waits, so that it runs in the middle of them.
runSessionStoreConformance("memory, swept every 25 ms", async () => {
  const store = createMemoryStore({ sweepIntervalMs: 25 });
  return { store, dump: async () => dumpMemoryStore(store), cleanup: () => store.close() };
});
