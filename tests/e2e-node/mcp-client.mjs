// A scripted MCP client on the official Node SDK, used by the gateway's end-to-end tests.
// Usage: node mcp-client.mjs --transport ws|http --url URL [--call tool [JSON]]... [--list] [--timeout MS]
// --timeout MS: each call gives up after MS milliseconds (the SDK cancels it); the failure is recorded in
// that call's result ({name, error, code}) and the remaining calls still run.
// The token comes from the KRUXOS_TEST_TOKEN environment variable, never from argv.
// Notifications: --notifications METHOD collects every server notification with that method (params) into
// "notifications". After the calls the client can stay connected: --ready-file PATH is written once the calls
// are done, then it waits for --until-notifications N collected and/or --until-file PATH to exist, at most
// --max-wait MS (default 20000).
// Prints one JSON line: {connected, tools?, result?, notifications?, error?}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { WebSocketClientTransport } from "@modelcontextprotocol/sdk/client/websocket.js";
import { existsSync, writeFileSync } from "node:fs";

const argv = process.argv.slice(2);
const opt = (name, fallback = undefined) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && i + 1 < argv.length ? argv[i + 1] : fallback;
};
const flag = (name) => argv.includes(`--${name}`);

const transportKind = opt("transport", "ws");
const url = opt("url");
const token = process.env.KRUXOS_TEST_TOKEN ?? "";
const callTimeout = opt("timeout") ? Number(opt("timeout")) : undefined;
const notificationMethod = opt("notifications");
const readyFile = opt("ready-file");
const untilFile = opt("until-file");
const untilNotifications = opt("until-notifications") ? Number(opt("until-notifications")) : 0;
const maxWait = Number(opt("max-wait", "20000"));
const calls = argv.flatMap((a, i) => (a === "--call" ? [{ name: argv[i + 1], args: JSON.parse(argv[i + 2]?.startsWith("{") ? argv[i + 2] : "{}") }] : []));

async function main() {
  let transport;
  if (transportKind === "ws") {
    globalThis.WebSocket = (await import("ws")).default;
    const u = new URL(url);
    if (token) u.searchParams.set("token", token);
    transport = new WebSocketClientTransport(u);
  } else {
    transport = new StreamableHTTPClientTransport(new URL(url), {
      requestInit: { headers: token ? { Authorization: `Bearer ${token}` } : {} },
    });
  }
  const client = new Client({ name: "kruxos-e2e", version: "1.0.0" });
  const out = { connected: false };
  const notifications = [];
  if (notificationMethod) {
    out.notifications = notifications;
    client.fallbackNotificationHandler = async (n) => {
      if (n.method === notificationMethod) notifications.push(n.params ?? {});
    };
  }
  try {
    await client.connect(transport);
    out.connected = true;
    out.server = client.getServerVersion();
    if (flag("list")) {
      const listed = await client.listTools();
      out.tools = listed.tools.map((t) => ({ name: t.name, tier: t._meta?.kruxos?.policy_tier, description: t.description, required: t.inputSchema?.required ?? [] }));
    }
    out.results = [];
    for (const c of calls) {
      let r;
      if (callTimeout !== undefined) {
        try {
          r = await client.callTool({ name: c.name, arguments: c.args }, undefined, { timeout: callTimeout });
        } catch (e) {
          out.results.push({ name: c.name, error: String(e?.message ?? e), code: e?.code });
          continue;
        }
      } else {
        r = await client.callTool({ name: c.name, arguments: c.args });
      }
      const text = r.content?.[0]?.text ?? "";
      let parsed = null;
      try { parsed = JSON.parse(text); } catch { parsed = text; }
      out.results.push({ name: c.name, isError: r.isError === true, body: parsed });
    }
    if (readyFile) writeFileSync(readyFile, "ready\n");
    const deadline = Date.now() + maxWait;
    const waiting = () => (untilFile && !existsSync(untilFile)) || notifications.length < untilNotifications;
    if (untilFile || untilNotifications > 0) {
      while (waiting() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    }
  } catch (e) {
    out.error = String(e?.message ?? e);
    out.code = e?.code;
  } finally {
    try { await client.close(); } catch { /* already closed */ }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(() => process.exit(0), (e) => { process.stdout.write(JSON.stringify({ connected: false, error: String(e) }) + "\n"); process.exit(1); });
