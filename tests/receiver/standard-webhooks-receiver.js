#!/usr/bin/env node
// The receiver of tests/webhooks_v2.bats: a webhook receiver as a customer
// would write one, verifying every delivery with the npm library
// `standardwebhooks` (the Standard Webhooks reference for JavaScript, which
// nobody here wrote; installed by scripts/test-npm.sh from this directory's
// package-lock.json).
//
//     standard-webhooks-receiver.js PORT_FILE LOG_FILE
//
// Listens on 127.0.0.1 on a port the kernel picks and writes the port to
// PORT_FILE once it listens. Every request is appended to LOG_FILE as one
// JSON line before it is answered: {"method", "path", "headers" (lowercased
// names), "body" (UTF-8 text), "verified": {secret: true, or the library's
// refusal as a string}, "now": the receiver's clock in Unix seconds}.
//
// The path says how to answer:
//   /sw/SECRETS/...        verify with each of the comma-separated secrets
//                          ("raw": the secret's bytes are the HMAC key,
//                          as API.md 4.2 says); 200 when the first one
//                          verifies, else 401. `?skew=N` moves the
//                          receiver's clock N seconds ahead for this
//                          request (a replay seen N seconds later).
//   /status/CODE/...       answer CODE; `?retry_after=V` adds Retry-After: V
//   anything else          404
"use strict";

const fs = require("fs");
const http = require("http");
const { Webhook } = require("standardwebhooks");

// verify(secret, body, headers, skew): true, or why the library refused.
// The library reads the clock with Date.now(); a skew moves it for this
// call only (the server handles one request at a time: no other reads it).
function verify(secret, body, headers, skew) {
  const realNow = Date.now;
  Date.now = () => realNow() + skew * 1000;
  try {
    new Webhook(secret, { format: "raw" }).verify(body, headers);
    return true;
  } catch (e) {
    return String(e && e.message ? e.message : e);
  } finally {
    Date.now = realNow;
  }
}

function main() {
  if (process.argv.length !== 4) {
    process.stderr.write("usage: standard-webhooks-receiver.js PORT_FILE LOG_FILE\n");
    process.exit(2);
  }
  const [portFile, logFile] = process.argv.slice(2);
  fs.closeSync(fs.openSync(logFile, "a"));
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on("data", (c) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks).toString("utf8");
      const url = new URL(req.url, "http://receiver");
      const parts = url.pathname.split("/");
      const mode = parts[1] || "", arg = decodeURIComponent(parts[2] || "");
      const skew = parseInt(url.searchParams.get("skew") || "0", 10) || 0;
      const entry = {
        method: req.method,
        path: url.pathname,
        headers: req.headers,
        body,
        verified: {},
        now: Math.floor(Date.now() / 1000) + skew,
      };
      let status = 404;
      const extra = {};
      if (mode === "sw") {
        for (const secret of arg.split(",")) {
          entry.verified[secret] = verify(secret, body, req.headers, skew);
        }
        status = entry.verified[arg.split(",")[0]] === true ? 200 : 401;
      } else if (mode === "status") {
        status = parseInt(arg, 10) || 500;
        if (url.searchParams.has("retry_after")) {
          extra["Retry-After"] = url.searchParams.get("retry_after");
        }
      }
      fs.appendFileSync(logFile, JSON.stringify(entry) + "\n");
      const payload = JSON.stringify({ ok: status === 200 });
      res.writeHead(status, Object.assign({
        "Content-Type": "application/json",
        "Content-Length": Buffer.byteLength(payload),
      }, extra));
      res.end(payload);
    });
  });
  server.listen(0, "127.0.0.1", () => {
    const tmp = portFile + ".tmp";
    fs.writeFileSync(tmp, server.address().port + "\n");
    fs.renameSync(tmp, portFile); // the file appears whole, or not at all
  });
  process.on("SIGTERM", () => server.close(() => process.exit(0)));
}

main();
