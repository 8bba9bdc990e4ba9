/**
 * Types: a program that uses @types/express-session (and @types/passport, @types/connect-flash) beside
 * latchkey/express compiles, with `req.session` typed as express-session users type it; type-checked
 * by the TypeScript compiler, declaration files included (no skipLibCheck), on the current sources.
 */
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import ts from "typescript";
import { ROOT } from "./npm.js";

/** An app on the drop-in, written as an express-session + Passport app is. */
const program = (registration: string) => `
import express from "express";
import flash from "connect-flash";
import session from "express-session";
import passport from "passport";
import { createSessionManager } from "latchkey";
import { expressSession } from "latchkey/express";
import { createMemoryStore } from "latchkey/memory";

${registration}
declare module "express-session" {
  interface SessionData {
    views: number;
    cart: string[];
  }
}

const app = express();
app.use(expressSession({ sessions: createSessionManager({ store: createMemoryStore() }) }));
app.use(flash());
app.use(passport.session());
app.get("/", (req, res, next) => {
  req.session.views = (req.session.views ?? 0) + 1;
  req.session.cart = [...(req.session.cart ?? []), "pear"];
  const id: string = req.sessionID;
  const maxAge: number | null | undefined = req.session.cookie.maxAge;
  req.flash("info", "hello");
  req.session.regenerate((error) => {
    if (error) return next(error);
    req.session.save(() => res.send(\`\${req.session.views} \${id} \${maxAge} \${req.user === undefined}\`));
  });
});
export const unused = session;
`;

const REGISTRATION = `declare module "latchkey" {
  interface SessionTypes {
    express: "express-session";
  }
}`;

describe("latchkey/express beside @types/express-session", () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "latchkey-types-"));
    // The program resolves express, passport and their types from the repository's node_modules.
    await symlink(join(ROOT, "node_modules"), join(dir, "node_modules"), "dir");
  });

  after(async () => {
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  const diagnosticsOf = async (name: string, source: string) => {
    const file = join(dir, name);
    await writeFile(file, source);
    const paths = {
      latchkey: [join(ROOT, "src/index.ts")],
      "latchkey/express": [join(ROOT, "src/adapters/express/index.ts")],
      "latchkey/memory": [join(ROOT, "src/stores/memory/index.ts")],
      "latchkey/redis": [join(ROOT, "src/stores/redis/index.ts")],
    };
    const options: ts.CompilerOptions = {
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      lib: ["lib.es2023.d.ts"],
      types: ["node"],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
      paths,
    };
    const compiled = ts.createProgram([file], options);
    return ts.getPreEmitDiagnostics(compiled).map((diagnostic) => ({
      code: diagnostic.code,
      text: `${diagnostic.file?.fileName ?? ""}: TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n")}`,
    }));
  };

  test('with SessionTypes { express: "express-session" }, the program type-checks, req.session as express-session types it', async () => {
    const diagnostics = await diagnosticsOf("app.mts", program(REGISTRATION));
    assert.deepEqual(
      diagnostics.map((diagnostic) => diagnostic.text),
      [],
    );
  });

  test("without it, both claim Express's req.session: TS2430 (why the registration exists)", async () => {
    const diagnostics = await diagnosticsOf("unregistered.mts", program(""));
    assert.ok(
      diagnostics.some((diagnostic) => diagnostic.code === 2430),
      diagnostics.map((diagnostic) => diagnostic.text).join("\n"),
    );
  });

  test("the complete example of docs/frameworks.md type-checks as written", async () => {
    const docs = await readFile(join(ROOT, "docs/frameworks.md"), "utf8");
    const section = docs.slice(docs.indexOf("## Passport and express-session middleware"));
    const example = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    assert.ok(example?.includes("expressSession({ sessions })"), "the section's first example");
    const diagnostics = await diagnosticsOf("example.mts", example as string);
    assert.deepEqual(
      diagnostics.map((diagnostic) => diagnostic.text),
      [],
    );
  });

  test("a wrong property type is still caught (the program is really checked)", async () => {
    const wrong = program(REGISTRATION).replace("(req.session.views ?? 0) + 1", '"many"');
    const diagnostics = await diagnosticsOf("wrong.mts", wrong);
    assert.deepEqual(
      diagnostics.map((diagnostic) => diagnostic.code),
      [2322],
    );
  });
});
