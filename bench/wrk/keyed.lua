-- wrk script for P6: POST /api/qr/sessions {"table":"bench"} as JSON, every
-- request with its own Idempotency-Key (run id, thread number, counter), so
-- every request is a first request: a claim, the handler, the stored reply.
-- `done` prints one JSON line that bench/server.mjs reads.
--
--   wrk -t2 -c64 -d10s -s bench/wrk/keyed.lua http://127.0.0.1:PORT/api/qr/sessions -- RUN_ID

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("number", #threads)
end

function init(args)
  prefix = (args[1] or "run") .. "-" .. number .. "-"
  counter = 0
  wrk.method = "POST"
  wrk.body = '{"table":"bench"}'
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  counter = counter + 1
  wrk.headers["Idempotency-Key"] = prefix .. counter
  return wrk.format()
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    '{"requests":%d,"duration_us":%d,"bytes":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},' ..
    '"latency_us":{"p50":%d,"p99":%d,"max":%d}}\n',
    summary.requests, summary.duration, summary.bytes, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99), latency.max))
end
