// A Loki push API receiver for tests and the soak (bench/soak.mjs). It decodes POST /loki/api/v1/push exactly as Loki
// documents it (https://grafana.com/docs/loki/latest/reference/loki-http-api/#ingest-logs):
// JSON `{"streams":[{"stream":{label:value},"values":[["<unix ns>","<line>"(, {metadata})]]}]}`,
// optionally gzip-compressed (Content-Encoding), or protobuf `logproto.PushRequest` compressed
// with snappy block format (Content-Type application/x-protobuf). It answers 204 like Loki, 400
// with the reason for a body Loki would refuse, and can refuse connections or hang.
import { createServer } from 'node:http';
import { gunzipSync } from 'node:zlib';
import protobuf from 'protobufjs';
import snappy from 'snappy';
// logproto.PushRequest, as in Loki's pkg/push/push.proto (EntryAdapter with structured metadata).
const PROTO = `
syntax = "proto3";
package logproto;
message PushRequest { repeated StreamAdapter streams = 1; }
message StreamAdapter { string labels = 1; repeated EntryAdapter entries = 2; uint64 hash = 3; }
message EntryAdapter { Timestamp timestamp = 1; string line = 2; repeated LabelPairAdapter structuredMetadata = 3; }
message LabelPairAdapter { string name = 1; string value = 2; }
message Timestamp { int64 seconds = 1; int32 nanos = 2; }
`;

const PushRequest = protobuf.parse(PROTO).root.lookupType('logproto.PushRequest');

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

class BadRequest extends Error {}

function check(ok, why) {
  if (!ok)
    throw new BadRequest(why);
}

function stringMap(v, what) {
  check(typeof v === 'object' && v !== null && !Array.isArray(v), `${what} must be an object`);
  for (const [k, val] of Object.entries(v)) {
    check(typeof val === 'string', `${what}.${k} must be a string`);
  }
  return v;
}

/** The JSON body, checked field by field as Loki's JSON push decoder does. */
export function decodeJson(body, contentType) {
  let doc;
  try {
    doc = JSON.parse(body.toString('utf8'));
  } catch (e) {
    throw new BadRequest(`body is not JSON: ${e.message}`);
  }
  check(typeof doc === 'object' && doc !== null && Array.isArray(doc.streams), 'body must be {"streams":[...]}');
  const out = [];
  for (const [i, s] of (doc.streams).entries()) {
    check(typeof s === 'object' && s !== null, `streams[${i}] must be an object`);
    const { stream, values } = s;
    const labels = stringMap(stream, `streams[${i}].stream`);
    check(Object.keys(labels).length > 0, `streams[${i}].stream has no labels`);
    for (const k of Object.keys(labels))
      check(LABEL_NAME.test(k) && !k.startsWith('__'), `invalid label name ${JSON.stringify(k)}`);
    check(Array.isArray(values), `streams[${i}].values must be an array`);
    for (const [j, v] of values.entries()) {
      const where = `streams[${i}].values[${j}]`;
      check(Array.isArray(v) && (v.length === 2 || v.length === 3), `${where} must be [ts, line] or [ts, line, metadata]`);
      const [ts, line, meta] = v;
      check(typeof ts === 'string' && /^[0-9]{1,19}$/.test(ts), `${where}[0] must be a string of Unix nanoseconds, got ${JSON.stringify(ts)}`);
      check(typeof line === 'string', `${where}[1] must be a string`);
      out.push({ labels, ts: BigInt(ts), line: line, contentType, ...(meta !== undefined ? { metadata: stringMap(meta, `${where}[2]`) } : {}) });
    }
  }
  return out;
}

/** A LogQL stream selector `{a="b", c="d"}` as Loki's protobuf streams carry their labels. */
function parseSelector(text) {
  const out = {};
  const re = /\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|\})/gy;
  check(text.startsWith('{'), `stream labels ${JSON.stringify(text)} are not a selector`);
  re.lastIndex = 1;
  let m;
  while ((m = re.exec(text))) {
    out[m[1]] = JSON.parse(`"${m[2]}"`);
    if (m[3] === '}')
      return out;
  }
  throw new BadRequest(`stream labels ${JSON.stringify(text)} are not a selector`);
}

export function decodeProtobuf(body, contentType) {
  let raw;
  try {
    raw = snappy.uncompressSync(body, { asBuffer: true });
  } catch (e) {
    throw new BadRequest(`body is not snappy-compressed: ${e.message}`);
  }
  const req = PushRequest.toObject(PushRequest.decode(raw), { longs: String, defaults: true });
  const out = [];
  for (const s of req.streams) {
    const labels = parseSelector(s.labels);
    for (const e of s.entries) {
      check(e.timestamp, 'entry without timestamp');
      const ts = BigInt(e.timestamp.seconds) * 1000000000n + BigInt(e.timestamp.nanos);
      const metadata = e.structuredMetadata.length ? Object.fromEntries(e.structuredMetadata.map((p) => [p.name, p.value])) : undefined;
      out.push({ labels, ts, line: e.line, contentType, ...(metadata ? { metadata } : {}) });
    }
  }
  return out;
}

function readBody(req) {
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

export async function startLokiReceiver(port = 0) {
  const sockets = new Set();
  const receiver = {
    url: '',
    port: 0,
    entries: [],
    requests: [],
    mode: { kind: 'ok' },
    events(event) {
      return this.entries.filter((e) => e.labels.event === event)
        .map((e) => ({ labels: e.labels, fields: JSON.parse(e.line), ts: e.ts }));
    },
    close: () => new Promise((resolve) => {
      server.close(() => resolve());
      for (const s of sockets)
        s.destroy();
    }),
  };
  const handle = async (req, res) => {
    const mode = receiver.mode;
    if (mode.kind === 'hang')
      return; // the connection stays open, unanswered, until the client gives up
    const answer = (status, error, entries = 0) => {
      receiver.requests.push({ headers: req.headers, entries, status, ...(error ? { error } : {}) });
      res.writeHead(status, { 'Content-Type': 'text/plain' }).end(error ?? '');
    };
    if (req.method !== 'POST' || req.url !== '/loki/api/v1/push')
      return answer(404, `no route ${req.method} ${req.url}`);
    let body = await readBody(req);
    if (mode.kind === 'status')
      return answer(mode.status, mode.body ?? `status ${mode.status}`);
    const contentType = (req.headers['content-type'] ?? '').split(';')[0].trim();
    try {
      if (req.headers['content-encoding'] === 'gzip')
        body = gunzipSync(body);
      else
        check(!req.headers['content-encoding'], `unsupported Content-Encoding ${req.headers['content-encoding']}`);
      let entries;
      if (contentType === 'application/json')
        entries = decodeJson(body, contentType);
      else if (contentType === 'application/x-protobuf' || contentType === '')
        entries = decodeProtobuf(body, contentType);
      else
        return answer(415, `unsupported Content-Type ${contentType}`);
      receiver.entries.push(...entries);
      answer(204, undefined, entries.length);
    } catch (e) {
      if (e instanceof BadRequest)
        return answer(400, e.message);
      throw e;
    }
  };
  const server = createServer((req, res) => {
    handle(req, res).catch((e) => res.writeHead(500).end(e.message));
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise((resolve, reject) => server.listen(port, '127.0.0.1', resolve).once('error', reject));
  receiver.port = server.address().port;
  receiver.url = `http://127.0.0.1:${receiver.port}`;
  return receiver;
}
