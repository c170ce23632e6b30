// `npm run test:grammar`: the TextMate grammar's scope assertions on
// test/samples/*.exp, then its scope snapshots of every pipeline, stdlib
// module and valid fixture against test/snap/<group>/<file>.exp.snap.
// The sources live elsewhere in the repository, so they are copied beside
// their snapshots in a temp folder first. `--update` rewrites the snapshots.
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { spawnSync } = require("child_process");

const ext = path.resolve(__dirname, "..");
const root = path.resolve(ext, "../..");
const update = process.argv.includes("--update");
const bin = (name) => path.join(ext, "node_modules", ".bin", name);
const groups = {
  samples: "editors/vscode/test/samples",
  pipelines: "pipelines",
  stdlib: "stdlib",
  "fixtures-valid": "tests/fixtures/valid",
  "fixtures-valid-include": "tests/fixtures/valid/include",
};

function run(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: "inherit" });
  if (r.error) throw r.error;
  return r.status === 0;
}

let ok = run(bin("vscode-tmgrammar-test"), ["-g", "syntaxes/exp.tmLanguage.json", "test/samples/*.exp", "test/broken/*.exp"], ext);

const work = fs.mkdtempSync(path.join(os.tmpdir(), "exp-tm-"));
const missing = [];
const copied = [];
for (const [group, dir] of Object.entries(groups)) {
  const src = path.join(root, dir);
  if (!fs.existsSync(src)) continue;
  fs.mkdirSync(path.join(work, group));
  for (const name of fs.readdirSync(src).filter((n) => n.endsWith(".exp")).sort()) {
    fs.copyFileSync(path.join(src, name), path.join(work, group, name));
    const snap = path.join(ext, "test", "snap", group, `${name}.snap`);
    if (fs.existsSync(snap)) fs.copyFileSync(snap, path.join(work, group, `${name}.snap`));
    else if (!update) missing.push(path.relative(root, snap));
    copied.push([group, name]);
  }
}
if (missing.length) {
  console.error(`no TextMate snapshot for: ${missing.join(", ")}\nrun \`npm run test:grammar -- --update\` in editors/vscode, review and commit them`);
  ok = false;
}
const args = ["-g", path.join(ext, "syntaxes/exp.tmLanguage.json"), "--config", path.join(ext, "package.json")];
if (update) args.push("--updateSnapshot");
args.push("**/*.exp");
ok = run(bin("vscode-tmgrammar-snap"), args, work) && ok;
if (update) {
  for (const [group, name] of copied) {
    fs.mkdirSync(path.join(ext, "test", "snap", group), { recursive: true });
    fs.copyFileSync(path.join(work, group, `${name}.snap`), path.join(ext, "test", "snap", group, `${name}.snap`));
  }
}
fs.rmSync(work, { recursive: true, force: true });
process.exit(ok ? 0 : 1);
