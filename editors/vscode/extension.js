// VS Code client for the exp language server: starts `exp lsp` on stdio and
// lets vscode-languageclient carry diagnostics, hover, completion, go to
// definition, document symbols and formatting.
"use strict";

const vscode = require("vscode");
const { LanguageClient, TransportKind } = require("vscode-languageclient/node");

/** @type {LanguageClient | undefined} */
let client;

function activate(context) {
  const config = vscode.workspace.getConfiguration("exp");
  const command = config.get("server.path", "exp");
  const extraEnv = config.get("server.extraEnv", {});
  const run = {
    command,
    args: ["lsp"],
    transport: TransportKind.stdio,
    options: { env: { ...process.env, ...extraEnv } },
  };
  client = new LanguageClient(
    "exp",
    "exp language server",
    { run, debug: run },
    {
      documentSelector: [{ scheme: "file", language: "exp" }, { scheme: "untitled", language: "exp" }],
      synchronize: { fileEvents: vscode.workspace.createFileSystemWatcher("**/*.exp") },
    },
  );
  context.subscriptions.push(
    vscode.commands.registerCommand("exp.restartServer", async () => {
      if (client) await client.restart();
    }),
  );
  return client.start();
}

function deactivate() {
  return client ? client.stop() : undefined;
}

module.exports = { activate, deactivate };
