// Forwards HTTP to an MCP endpoint, adding the X-API-Key header: the official conformance
// suite cannot send custom headers, rampart's /mcp requires one. Host and Origin headers that
// name the proxy itself are rewritten to the appliance's; any other value (e.g. the suite's
// DNS-rebinding probes) is passed through unchanged so the appliance's own checks are tested.
// usage: RAMPART_API_KEY=mk_... node mcp-key-proxy.mjs <listen-port> <target-base-url>
import http from "node:http";

const [port, target] = process.argv.slice(2);
const key = process.env.RAMPART_API_KEY;
if (!port || !target || !key) {
  console.error("usage: RAMPART_API_KEY=... node mcp-key-proxy.mjs <port> <target-base-url>");
  process.exit(2);
}
const base = new URL(target);
http
  .createServer((req, res) => {
    const self = new Set([`127.0.0.1:${port}`, `localhost:${port}`]);
    const headers = { ...req.headers, "x-api-key": key };
    if (self.has(headers.host)) headers.host = base.host;
    if (headers.origin) {
      try {
        const o = new URL(headers.origin);
        if (self.has(o.host)) headers.origin = `${o.protocol}//${base.host}`;
      } catch {
        // malformed Origin: leave it for the appliance to reject
      }
    }
    const up = http.request(
      { host: base.hostname, port: base.port, path: req.url, method: req.method, headers },
      (r) => {
        res.writeHead(r.statusCode ?? 502, r.headers);
        r.pipe(res);
      },
    );
    up.on("error", (e) => {
      res.writeHead(502);
      res.end(String(e));
    });
    req.pipe(up);
  })
  .listen(Number(port), "127.0.0.1", () => console.error(`proxy on ${port} -> ${target}`));
