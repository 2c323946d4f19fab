// The Node peer for P6: express 5 + @node-idempotency/core with its memory
// storage adapter, around a handler doing the reference server's work for
// `POST /api/qr/sessions` {"table"}: validate the table, create a session in
// memory, answer 201 {"id","table"}. A keyed request is claimed before the
// handler runs and its response stored after (replayed on a repeat with
// `Idempotent-Replayed: true`); the library's errors map to the statuses
// the reference server uses (409 in flight, 422 mismatch, 400 bad key).
//
//   node bench/node-peer.mjs [--port 0]   prints `listening on http://127.0.0.1:PORT`
import { randomUUID } from "node:crypto";
import express from "express";
import { Idempotency, IdempotencyError, IdempotencyErrorCodes } from "@node-idempotency/core";
import { MemoryStorageAdapter } from "@node-idempotency/storage-adapter-memory";

const idempotency = new Idempotency(new MemoryStorageAdapter(), { cacheTTLMS: 24 * 60 * 60 * 1000 });
const sessions = [];

const STATUS_OF = {
  [IdempotencyErrorCodes.REQUEST_IN_PROGRESS]: 409,
  [IdempotencyErrorCodes.IDEMPOTENCY_FINGERPRINT_MISSMATCH]: 422,
  [IdempotencyErrorCodes.IDEMPOTENCY_KEY_LEN_EXEEDED]: 400,
};

/** What @node-idempotency sees of a request. */
const described = (req) => ({ method: req.method, headers: req.headers, body: req.body, path: req.originalUrl });

/** Claims the key (a keyless request passes), or replays, or refuses. */
async function idempotent(req, res, next) {
  try {
    const stored = await idempotency.onRequest(described(req));
    if (stored) {
      res.set("idempotent-replayed", "true").status(stored.additional.status).json(stored.body);
      return;
    }
    next();
  } catch (error) {
    if (!(error instanceof IdempotencyError)) return next(error);
    res.status(STATUS_OF[error.code] ?? 400).json({ title: error.message });
  }
}

/** A table is a non-empty string of at most 100 characters, or an integer. */
function validTable(table) {
  if (typeof table === "string" && table.trim() && table.trim().length <= 100) return table.trim();
  if (Number.isInteger(table)) return table;
  return undefined;
}

async function createSession(req, res) {
  const table = validTable(req.body?.table);
  if (table === undefined) {
    res.status(400).json({ title: "table must be a non-empty string (at most 100 characters) or an integer" });
    return;
  }
  const session = { id: randomUUID(), table, createdAt: Date.now() };
  sessions.push(session);
  const body = { id: session.id, table: session.table };
  await idempotency.onResponse(described(req), { body, additional: { status: 201 } });
  res.status(201).json(body);
}

const app = express();
app.disable("x-powered-by");
app.set("etag", false); // the reference server sends no ETag here either
app.use(express.json({ limit: "64kb" }));
app.post("/api/qr/sessions", idempotent, createSession);
app.get("/api/qr/sessions", (req, res) => res.json(sessions));

const portArg = process.argv.indexOf("--port");
const port = portArg > 0 ? Number(process.argv[portArg + 1]) : 0;
const server = app.listen(port, "127.0.0.1", () => {
  console.log(`listening on http://127.0.0.1:${server.address().port}`);
});
process.on("SIGTERM", () => server.close(() => process.exit(0)));
