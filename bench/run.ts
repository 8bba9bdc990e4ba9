/**
 * `npm run bench`: latchkey against express-session, @fastify/session and a hand-written floor, in one
 * run. Prints the report and writes it to bench/RESULTS.md (quick mode: to a temporary file). With
 * --check (`npm run bench:check`), fails when the results miss what check.ts asks for.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { checkResults } from "./check.js";
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
if (options.check) {
  const problems = checkResults(results);
  for (const problem of problems) console.error(`[bench] check failed: ${problem}`);
  if (problems.length > 0) process.exit(1);
  console.error("[bench] check passed");
}
