/**
 * `npm run bench`: latchkey against express-session, @fastify/session and a hand-written floor, in one
 * run. Prints the report and writes it to bench/RESULTS.md (quick mode: to a temporary file).
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { parseOptions, USAGE } from "./options.js";
import { renderReport } from "./report.js";
import { runBench } from "./suite.js";

if (process.argv.includes("--help")) {
  console.log(USAGE);
  process.exit(0);
}

const options = parseOptions(process.argv.slice(2));
const results = await runBench(options, (line) => console.error(`[bench] ${line}`));
const report = renderReport(results);
mkdirSync(dirname(options.out), { recursive: true });
writeFileSync(options.out, report);
if (options.json) writeFileSync(options.json, `${JSON.stringify(results, null, 2)}\n`);
console.log(report);
console.error(`[bench] report written to ${options.out}${options.json ? ` and ${options.json}` : ""}`);
