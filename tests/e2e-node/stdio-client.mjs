// A scripted MCP client on the official Node SDK that launches mcp-bridge over stdio, as Claude Code
// and Codex do. Usage: node stdio-client.mjs [--list] [--call tool '{"json":"args"}']...
// The bridge is `dotnet $KRUXOS_TEST_BRIDGE_DLL`; its settings (KRUXOS_ENDPOINT, KRUXOS_AGENT_NAME,
// KRUXOS_AGENT_TOKEN, …) are handed to it in the transport's `env`, never on argv.
// Prints one JSON line: {connected, server?, tools?, results?, error?, exitCode?}.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const argv = process.argv.slice(2);
const flag = (name) => argv.includes(`--${name}`);
const calls = argv.flatMap((a, i) => (a === "--call" ? [{ name: argv[i + 1], args: JSON.parse(argv[i + 2]?.startsWith("{") ? argv[i + 2] : "{}") }] : []));

const dll = process.env.KRUXOS_TEST_BRIDGE_DLL;
const env = {};
for (const [k, v] of Object.entries(process.env)) {
  if ((k.startsWith("KRUXOS_") && !k.startsWith("KRUXOS_TEST_")) || k === "PATH" || k === "HOME" || k.startsWith("DOTNET_")) env[k] = v;
}

async function main() {
  const transport = new StdioClientTransport({ command: "dotnet", args: [dll], env, stderr: "pipe" });
  let stderr = "";
  transport.stderr?.on("data", (d) => { stderr += d.toString(); });
  const client = new Client({ name: "kruxos-e2e-stdio", version: "1.0.0" });
  const out = { connected: false };
  try {
    await client.connect(transport);
    out.connected = true;
    out.server = client.getServerVersion();
    if (flag("list")) {
      const listed = await client.listTools();
      out.tools = listed.tools.map((t) => t.name);
    }
    out.results = [];
    for (const c of calls) {
      const r = await client.callTool({ name: c.name, arguments: c.args });
      const text = r.content?.[0]?.text ?? "";
      let parsed = null;
      try { parsed = JSON.parse(text); } catch { parsed = text; }
      out.results.push({ name: c.name, isError: r.isError === true, body: parsed });
    }
  } catch (e) {
    out.error = String(e?.message ?? e);
    out.stderr = stderr;
  } finally {
    try { await client.close(); } catch { /* already closed */ }
  }
  process.stdout.write(JSON.stringify(out) + "\n");
}

main().then(() => process.exit(0), (e) => { process.stdout.write(JSON.stringify({ connected: false, error: String(e) }) + "\n"); process.exit(1); });
