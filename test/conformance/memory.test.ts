import { createMemoryStore, dumpMemoryStore } from "../../src/stores/memory/memory-store.js";
import { runSessionStoreConformance } from "./session-store-conformance.js";

runSessionStoreConformance("memory", async () => {
  const store = createMemoryStore({ sweepIntervalMs: 100 });
  return {
    store,
    dump: async () => dumpMemoryStore(store),
    cleanup: () => store.close(),
  };
});
