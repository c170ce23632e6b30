// VS Code client for the exp language server: starts `exp lsp` on stdio and
// lets vscode-languageclient carry diagnostics, hover, completion, go to
// definition, document symbols, formatting, quick fixes and rename.
"use strict";

const fs = require("fs");
const path = require("path");
const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

/** The settings as they are now (read again on every start). */
function settings() {
  const config = vscode.workspace.getConfiguration("exp");
  return {
    command: config.get("server.path", "exp") || "exp",
    extraEnv: config.get("server.extraEnv", {}) || {},
  };
}

/** The executable `command` names, searched on PATH when it has no slash. */
function findExecutable(command, envPath) {
  const isFile = (p) => {
    try {
      return fs.statSync(p).isFile();
    } catch {
      return false;
    }
  };
  if (command.includes("/") || command.includes("\\")) {
    return isFile(command) ? command : undefined;
  }
  const exts = process.platform === "win32" ? ["", ".exe", ".cmd"] : [""];
  for (const dir of (envPath || "").split(path.delimiter)) {
    for (const ext of exts) {
      const candidate = path.join(dir, command + ext);
      if (dir && isFile(candidate)) return candidate;
    }
  }
  return undefined;
}

/** Tell the user which setting to change, with a button that opens it. */
async function reportMissing(command, detail) {
  const message =
    `exp language server: cannot start \`${command} lsp\`${detail ? ` (${detail})` : ""}. ` +
    "Set `exp.server.path` to the full path of the `exp` binary " +
    "(and `exp.server.extraEnv` if it needs LD_LIBRARY_PATH for libtorch), then run " +
    "\"exp: Restart language server\".";
  const choice = await vscode.window.showErrorMessage(message, "Open Settings");
  if (choice === "Open Settings") {
    await vscode.commands.executeCommand("workbench.action.openSettings", "exp.server");
  }
}

/** Start a client from the current settings; undefined when `exp` is missing. */
async function startClient() {
  const { command, extraEnv } = settings();
  const env = { ...process.env, ...extraEnv };
  const found = findExecutable(command, env.PATH);
  if (!found) {
    await reportMissing(command, "not found");
    return undefined;
  }
  const run = {
    command: found,
    args: ["lsp"],
    transport: TransportKind.stdio,
    options: { env },
  };
  const next = new LanguageClient(
    "exp",
    "exp language server",
    { run, debug: run },
    {
      documentSelector: [{ scheme: "file", language: "exp" }, { scheme: "untitled", language: "exp" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.exp") },
    },
  );
  try {
    await next.start();
  } catch (e) {
    await reportMissing(command, e && e.message ? e.message : String(e));
    return undefined;
  }
  return next;
}

/** Stop the running client (if any) and start one from the settings as they are now. */
async function restart() {
  if (client) {
    const old = client;
    client = undefined;
    try {
      await old.stop();
    } catch {
      // A server that already died cannot be stopped; start anew anyway.
    }
  }
  client = await startClient();
  return client;
}

async function activate(context) {
  context.subscriptions.push(
    vscode.commands.registerCommand("exp.restartServer", restart),
    vscode.workspace.onDidChangeConfiguration((e) => {
      if (e.affectsConfiguration("exp.server")) restart();
    }),
  );
  client = await startClient();
  return client;
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate, findExecutable };
