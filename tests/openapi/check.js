// tests/openapi/check.js: check responses against the OpenAPI document
// with Stoplight Prism's own router and response validator (the code of
// `prism proxy`, used as a library), for the HTTP pass of make test
// (tests/helper.bash, API.md 8).
//
//   node check.js DOCUMENT.json
//
// Listens on a free loopback port and prints it on a line. Each
// connection sends lines "METHOD<TAB>PATH?QUERY<TAB>HEADERS<TAB>BODY",
// the last two the names of the files curl wrote (-D, -o; a missing body
// file is an empty body), and gets back one line for each: "ok", or the
// violations, "; "-separated, each "location: message". A request the
// document has no operation for (an unrouted path, a 405) is "ok": there
// is nothing to check it against. Stops on SIGTERM.
//
// Rationale: Prism's validating proxy re-serializes each request body
// (JSON.parse, then JSON.stringify: duplicate keys merged, numbers
// rounded) and never answers a request whose JSON body does not parse,
// so it cannot stand between this suite and the server; here the requests
// go to the server untouched and Prism checks only what came back.
'use strict';

const fs = require('fs');
const net = require('net');
const readline = require('readline');
const E = require('fp-ts/Either');
const prism = require('@stoplight/prism-http');
const route = require('@stoplight/prism-http/dist/router').default;
const { validateOutput } = require('@stoplight/prism-http/dist/validator');

function readHeaders(file) {
  // curl -D: one block per response; the last is the answer.
  const blocks = fs.readFileSync(file, 'latin1').split(/\r?\n\r?\n/)
    .filter(b => b.trim() !== '');
  const lines = blocks[blocks.length - 1].split(/\r?\n/);
  const status = parseInt(lines[0].split(' ')[1], 10);
  const headers = {};
  for (const line of lines.slice(1)) {
    const i = line.indexOf(':');
    if (i <= 0) continue;
    const name = line.slice(0, i).trim().toLowerCase();
    const value = line.slice(i + 1).trim();
    headers[name] = name in headers ? headers[name] + ',' + value : value;
  }
  return { status, headers };
}

function check(resources, line) {
  const [method, target, hdrFile, bodyFile] = line.split('\t');
  const url = new URL(target, 'http://localhost');
  const query = {};
  for (const [k, v] of url.searchParams) (query[k] = query[k] || []).push(v);
  const input = {
    method: method.toLowerCase(),
    url: { path: url.pathname, query },
    headers: {},
    body: undefined,
  };
  const r = route({ resources, input });
  if (E.isLeft(r)) return 'ok';
  const { status, headers } = readHeaders(hdrFile);
  let text = '';
  try { text = fs.readFileSync(bodyFile, 'utf8'); } catch (e) { /* 304 */ }
  let body = text;
  const type = headers['content-type'] || '';
  if (status !== 204 && status !== 304 && /^application\/(.+\+)?json/i.test(type)) {
    try {
      body = JSON.parse(text);
    } catch (e) {
      return `response.body: not JSON (${e.message})`;
    }
  }
  const v = validateOutput({
    resource: r.right,
    element: { statusCode: status, headers, body },
  });
  if (E.isRight(v)) return 'ok';
  const errors = v.left.filter(d => d.severity === 0 || d.severity === 'Error');
  if (errors.length === 0) return 'ok';
  // The first five, which say where; a long list repeats itself.
  const more = errors.length > 5 ? `; and ${errors.length - 5} more` : '';
  return (errors.slice(0, 5)
    .map(d => `${['response'].concat(d.path || []).join('.')}: ${d.message}`)
    .join('; ') + more).replace(/[\r\n]+/g, ' ');
}

async function main() {
  const resources = await prism.getHttpOperationsFromSpec(process.argv[2]);
  const server = net.createServer(sock => {
    const rl = readline.createInterface({ input: sock });
    rl.on('line', line => {
      let answer;
      try {
        answer = check(resources, line);
      } catch (e) {
        answer = `checker: ${String(e && e.message).replace(/[\r\n]+/g, ' ')}`;
      }
      sock.write(answer + '\n');
    });
    sock.on('error', () => {});
  });
  server.listen(0, '127.0.0.1', () => {
    process.stdout.write(`${server.address().port}\n`);
  });
  const stop = () => { server.close(); process.exit(0); };
  process.on('SIGTERM', stop);
}

main().catch(e => {
  process.stderr.write(`check.js: ${e && e.stack || e}\n`);
  process.exit(1);
});
