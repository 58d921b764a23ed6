// The client's types from the API's document: `npm run generate` writes
// src/schema.ts from ports/httpapi/openapi.json with openapi-typescript;
// `npm run check:types` (--check) makes the same text and fails when
// src/schema.ts differs from it, so a change of the document without a
// regeneration fails `make test` (cmd/renderd's TestTypeScriptClient).
import { readFile, writeFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import openapiTS, { astToString } from "openapi-typescript";

const doc = new URL("../../../ports/httpapi/openapi.json", import.meta.url);
const out = new URL("../src/schema.ts", import.meta.url);

const header = `// Generated from ports/httpapi/openapi.json by openapi-typescript
// (npm run generate in clients/typescript): do not edit. npm run check:types,
// run by make test, fails when this file is out of step with the document.

`;

const text = header + astToString(await openapiTS(doc));

if (!process.argv.includes("--check")) {
  await writeFile(out, text);
  console.log(`wrote ${fileURLToPath(out)}`);
} else {
  let current = "";
  try {
    current = await readFile(out, "utf8");
  } catch (err) {
    if (err.code !== "ENOENT") throw err;
  }
  if (current !== text) {
    const a = current.split("\n");
    const b = text.split("\n");
    let i = 0;
    while (i < a.length && i < b.length && a[i] === b[i]) i++;
    console.error(
      `src/schema.ts is out of step with ports/httpapi/openapi.json (first difference at line ${i + 1}):\n` +
        `  committed: ${a[i] ?? "(end of file)"}\n` +
        `  generated: ${b[i] ?? "(end of file)"}\n` +
        "Run `npm run generate` in clients/typescript and commit src/schema.ts.",
    );
    process.exit(1);
  }
  console.log("src/schema.ts is in step with ports/httpapi/openapi.json");
}
