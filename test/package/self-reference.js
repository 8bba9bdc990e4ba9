/**
 * `node --import ./test/package/self-reference.js examples/<framework>/server.js`: registers
 * self-reference-hooks.js (see there why), so that the example imports `latchkey` from dist/lib.
 */
import { register } from "node:module";

register("./self-reference-hooks.js", import.meta.url);
