// The extension as a user meets it, with `vscode` and the language client
// replaced by recorders (no VS Code needed): a missing `exp` gives a message
// naming `exp.server.path`; "Restart language server" reads the settings again.
"use strict";

const test = require("node:test");
const assert = require("node:assert");
const fs = require("fs");
const os = require("os");
const path = require("path");
const Module = require("module");

const state = { config: {}, errors: [], clients: [], commands: {}, onConfig: [] };

const vscodeStub = {
  workspace: {
    getConfiguration: () => ({ get: (key, dflt) => (key in state.config ? state.config[key] : dflt) }),
    createFileSystemWatcher: () => ({ dispose() {} }),
    onDidChangeConfiguration: (f) => {
      state.onConfig.push(f);
      return { dispose() {} };
    },
  },
  window: {
    showErrorMessage: async (message) => {
      state.errors.push(message);
      return undefined;
    },
  },
  commands: {
    registerCommand: (name, f) => {
      state.commands[name] = f;
      return { dispose() {} };
    },
    executeCommand: async () => {},
  },
};

class FakeClient {
  constructor(id, name, serverOptions) {
    this.command = serverOptions.run.command;
    this.env = serverOptions.run.options.env;
    this.stopped = false;
    state.clients.push(this);
  }
  async start() {}
  async stop() {
    this.stopped = true;
  }
}

const realResolve = Module._resolveFilename;
Module._resolveFilename = function (request, ...rest) {
  if (request === "vscode" || request === "vscode-languageclient/node") return request;
  return realResolve.call(this, request, ...rest);
};
require.cache.vscode = { id: "vscode", filename: "vscode", loaded: true, exports: vscodeStub };
require.cache["vscode-languageclient/node"] = {
  id: "lc",
  filename: "lc",
  loaded: true,
  exports: { LanguageClient: FakeClient, TransportKind: { stdio: 0 } },
};

const ext = require("../extension.js");
const context = { subscriptions: [] };

function fakeExp(dir, name) {
  const p = path.join(dir, name);
  fs.writeFileSync(p, "#!/bin/sh\n");
  fs.chmodSync(p, 0o755);
  return p;
}

test("a missing exp names the setting to change", async () => {
  state.config = { "server.path": "/nowhere/exp" };
  const client = await ext.activate(context);
  assert.strictEqual(client, undefined);
  assert.strictEqual(state.clients.length, 0);
  assert.strictEqual(state.errors.length, 1);
  assert.match(state.errors[0], /`\/nowhere\/exp lsp`/);
  assert.match(state.errors[0], /exp\.server\.path/);
});

test("restart reads the settings again", async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "exp-ext-"));
  const first = fakeExp(dir, "exp-one");
  const second = fakeExp(dir, "exp-two");
  state.config = { "server.path": first, "server.extraEnv": { EXP_TEST: "1" } };
  await state.commands["exp.restartServer"]();
  assert.strictEqual(state.clients.at(-1).command, first);
  assert.strictEqual(state.clients.at(-1).env.EXP_TEST, "1");
  state.config = { "server.path": second };
  await state.commands["exp.restartServer"]();
  assert.strictEqual(state.clients.length, 2);
  assert.ok(state.clients[0].stopped, "the old server is stopped");
  assert.strictEqual(state.clients[1].command, second);
  // A settings change restarts too.
  state.config = { "server.path": first };
  await state.onConfig[0]({ affectsConfiguration: (s) => s === "exp.server" });
  await new Promise((r) => setTimeout(r, 10));
  assert.strictEqual(state.clients.at(-1).command, first);
});

test("a bare command is found on PATH", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "exp-path-"));
  const exe = fakeExp(dir, "exp");
  assert.strictEqual(ext.findExecutable("exp", `/nowhere${path.delimiter}${dir}`), exe);
  assert.strictEqual(ext.findExecutable("exp", "/nowhere"), undefined);
});
