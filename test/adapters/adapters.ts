import type { AdapterHarness } from "./adapter-harness.js";
import { expressHarness } from "./express-harness.js";
import { fastifyHarness } from "./fastify-harness.js";
import { honoHarness } from "./hono-harness.js";
import { webHarness } from "./web-harness.js";

/** Every adapter the shared suite runs on: Express 5 and 4, Fastify 5, Hono 4, the Web-standard adapter. */
export const ADAPTERS: readonly AdapterHarness[] = [
  expressHarness("express 5", () => import("express")),
  expressHarness("express 4", () => import("express4" as string)),
  fastifyHarness,
  honoHarness,
  webHarness,
];
