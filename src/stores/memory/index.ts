/**
 * `latchkey/memory`: the embedded store, for running without Redis (development, tests, one process).
 * @module
 */
export { createMemoryStore, type MemoryStore, type MemoryStoreOptions } from "./memory-store.js";
