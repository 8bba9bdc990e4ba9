/**
 * A node:test reporter that fails the run when a test was skipped for any reason other than a stated
 * missing dependency (`{ skip: "missing dependency: ..." }` or `t.skip("missing dependency: ...")`).
 * A skip is an uncounted result: a timing test that skips on a slow machine hides the regression it
 * guards against, so the suite may skip only what this machine cannot run at all.
 *
 * Used beside the usual reporter: `node --test --test-reporter=spec --test-reporter-destination=stdout
 * --test-reporter=./test/harness/skip-policy-reporter.mjs --test-reporter-destination=stderr ...`.
 */
export const ALLOWED_SKIP = /^missing dependency: /;

export default async function* skipPolicyReporter(source) {
  const refused = [];
  for await (const event of source) {
    if (event.type !== "test:pass" && event.type !== "test:fail") continue;
    const { skip, name, file } = event.data;
    if (skip === undefined || skip === false) continue;
    const reason = typeof skip === "string" ? skip : "(no reason given)";
    if (!ALLOWED_SKIP.test(reason)) refused.push(`${file ?? "?"}: "${name}" skipped: ${reason}`);
  }
  if (refused.length > 0) {
    // node --test sets a failing exit code only on failure and never clears one set here.
    process.exitCode = 1;
    yield `\nskip policy: ${refused.length} test(s) skipped without a missing dependency:\n`;
    for (const line of refused) yield `  ${line}\n`;
  }
}
