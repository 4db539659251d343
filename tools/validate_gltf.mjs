// Validate GLB/glTF files with Khronos glTF-Validator; prints one JSON report per file.
// Usage: node tools/validate_gltf.mjs FILE...
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
const require = createRequire(import.meta.url);
const validator = require("gltf-validator");

const reports = [];
for (const path of process.argv.slice(2)) {
  const bytes = new Uint8Array(await readFile(path));
  const report = await validator.validateBytes(bytes, { maxIssues: 100 });
  reports.push({ path, errors: report.issues.numErrors, warnings: report.issues.numWarnings,
                 messages: report.issues.messages.filter((m) => m.severity <= 1).slice(0, 20) });
}
console.log(JSON.stringify(reports));
