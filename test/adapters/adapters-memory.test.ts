import { createMemoryStore } from "../../src/stores/memory/index.js";
import { failingStore, runAdapterSuite, type StoreTarget } from "./adapter-suite.js";
import { ADAPTERS } from "./adapters.js";

const memory: StoreTarget = {
  name: "the memory store",
  open: async () => createMemoryStore(),
  openDead: async () => failingStore(createMemoryStore()),
};

for (const adapter of ADAPTERS) runAdapterSuite(adapter, memory);
