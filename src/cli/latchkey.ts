#!/usr/bin/env node
/**
 * The `latchkey` command's entry point ("bin" in package.json): runs the command line and exits with
 * its status, whatever sockets a failed connection left open.
 * @module
 */
import { main, redact } from "./main.js";

main(process.argv.slice(2)).then(
  (status) => process.exit(status),
  (error: unknown) => {
    process.stderr.write(`latchkey: ${redact(error instanceof Error ? error.message : String(error))}\n`);
    process.exit(1);
  },
);
