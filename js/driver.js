// The driver: performs what the core decides. Shipped in the package as the
// snippet the WebAssembly module imports (`#[wasm_bindgen(module = …)]`).
//
// Every decision is the core's (src/core, through the `Flow` a guard hands
// over in `create`): whether to start, share or refuse a submission, which key
// to send, whether to wait, retry, resolve or fail, what to forget, what to
// tell other tabs. This module only does what the browser must do — fetch,
// AbortController, timers, listeners, storage, Web Locks, BroadcastChannel,
// pageshow, attach(form) — and reports each outcome back as an event, a
// method call on the flow that answers with the next decision.
//
// It imports only canonical.js (what "the same payload" is, shared with the
// server): data flows from the class (src/binding.rs) to here, and from here
// into the flow's methods.

import { canonicalPayload } from "./canonical.js";

// The core's decisions (src/binding.rs has the same table).
const START = 1;
const SHARE = 2;
const REFUSE = 3;
const IGNORE = 4;
const WAIT = 5;
const RESOLVE = 6;
const REJECT = 7;
const THROW = 8;
const CLEAR = 16;
const BROADCAST = 32;

// The flow's events (src/binding.rs has the same table): `flow.on(event,
// flight, a, b, c, text)` answers each with the core's decision. Below 16,
// `flow.on(n)` asks for a number: 0 the version, 1 pending, 2 the flight in
// progress, 3 the last wait, 4 the last failure, 5 the timeout, 6 crossTab,
// 7 persist, 8 attempts. `flow.text(n)`: 0 the key, 1 the state, 2 the
// header name, 3 the form's name, 4 the fingerprint sent, 5 the header
// value; 16 + i the name of option i.
const OPTION = 16;
const SET = 17;
const READY = 18;
const RESTORE = 19;
const CARRIES = 20;
const BEGIN = 21;
const REFUSE_ABORTED = 22;
const RECORDED = 23;
const KEY_FOR = 24;
const SEND = 25;
const SETTLE = 26;
const CONCLUDE = 27;
const OTHER_TAB = 28;
const FAIL = 29;
const ABORT_FLIGHT = 30;
const RESET_ALL = 31;

// Failure numbers → stable codes and what they mean.
const CODES = [, "DUPLICATE", "BUSY", "TIMEOUT", "NETWORK", "ABORTED", "HTTP", , "CROSS_TAB"];
const MESSAGES = {
  DUPLICATE: "a submission is already in flight",
  BUSY: "a different submission is in flight; this one was not sent",
  TIMEOUT: "the request timed out",
  NETWORK: "the request failed before a response arrived",
  ABORTED: "the submission was aborted",
  HTTP: "the server answered ",
  CROSS_TAB: "another tab is submitting this form",
  ATTACHED: "this form is already attached to another guard; detach that one first",
};

/** Every failure of a submission rejects with one of these. */
export class SubmitGuardError extends Error {
  constructor(code, message, detail = {}) {
    super(message, "cause" in detail ? { cause: detail.cause } : undefined);
    this.name = "SubmitGuardError";
    this.code = code;
    if (detail.status !== undefined) {
      this.status = detail.status;
      this.response = detail.response;
    }
  }
}

/** Whether `error` is a `SubmitGuardError` (also one from another copy of the package). */
export function isSubmitGuardError(error) {
  return error instanceof SubmitGuardError || (error instanceof Error && error.name === "SubmitGuardError" && typeof error.code === "string");
}

function failure(number, detail = {}) {
  const code = CODES[number] ?? "ABORTED";
  let message = "submit-guard: " + MESSAGES[code] + (code === "HTTP" ? detail.status : "");
  const attempts = detail.attempts;
  if (attempts > 0 && (code === "TIMEOUT" || code === "NETWORK" || code === "HTTP")) {
    message += ` (${attempts} attempt${attempts === 1 ? "" : "s"})`;
  }
  return new SubmitGuardError(code, message, detail);
}

function aborted(flight) {
  return failure(5, flight.reason === undefined ? { attempts: flight.attempts } : { attempts: flight.attempts, cause: flight.reason });
}

// ---------------------------------------------------------------- options

const TYPES = ["a string", "a boolean", "a number", "a function", "an array of numbers"];

/** A short description of a value, for messages. */
function describe(value) {
  const type = typeof value;
  if (type === "string") return "the string " + short(value);
  if (type === "number") return "the number " + value;
  if (type === "object" && value !== null) return Array.isArray(value) ? "an array" : value instanceof Map ? "a Map" : "an object";
  return type === "function" || type === "bigint" ? "a " + type : String(value);
}

function short(text) {
  return JSON.stringify(text.slice(0, 40));
}

/** The TypeError or RangeError for problem `code` (src/core/options.rs) with option `name`. */
function optionError(flow, name, code, value, inArray) {
  const kind = code % 256;
  const arg = Math.floor(code / 256);
  let problem;
  switch (kind) {
    case 1: {
      if (arg > 0) {
        problem = `is not an option; did you mean \`${flow.text(15 + arg)}\`?`;
      } else {
        const names = [];
        for (let i = 0, n; (n = flow.text(16 + i)) !== undefined; i++) names.push(n);
        problem = "is not an option; the options are " + names.join(", ");
      }
      break;
    }
    case 2:
      problem = `must be ${TYPES[arg]}, got ${inArray ? "an array holding " : ""}${describe(value)}`;
      break;
    case 3:
      problem = `must be an integer from 0 to ${arg}, got ${String(value)}`;
      break;
    case 4:
      problem = `must hold HTTP statuses from 100 to 599, got ${String(value)}`;
      break;
    case 5:
      problem = "must be a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~), got " + short(value);
      break;
    case 6:
      problem = `must be "share" or "reject", got ${short(value)}`;
      break;
    case 7:
      problem = "must be a non-empty string";
      break;
    case 8:
      problem = `is required when \`${flow.text(16 + arg)}\` is on: it names the form across tabs and reloads`;
      break;
    default:
      problem = `must be an array of at most ${arg} numbers, got an array of length ${String(value)}`;
  }
  const message = `SubmitGuard option \`${name}\` ${problem}`;
  return kind >= 3 && kind <= 7 ? new RangeError(message) : new TypeError(message);
}

function unreadable(what, cause) {
  return new TypeError(`SubmitGuard ${what} could not be read`, { cause });
}

// The types the core's options reader takes (Flow SET): 0 a string, 1 a
// boolean, 2 a number, 3 a function; 4 an array, 5 and 6 its entries; 7
// anything else.
const TYPE_CODES = { string: 0, boolean: 1, number: 2, function: 3 };

/** Hands one option's value to the core as the type it has; throws for a problem. */
function readOption(flow, name, ix, value) {
  const ty = TYPE_CODES[typeof value];
  const read = (get) => {
    try {
      return get();
    } catch (cause) {
      throw unreadable(`option \`${name}\``, cause);
    }
  };
  let problem;
  if (ty !== undefined) {
    problem = flow.on(SET, ix, ty, ty === 1 || ty === 2 ? +value : 0, 0, ty === 0 ? value : undefined);
  } else if (!Array.isArray(value)) {
    problem = flow.on(SET, ix, 7);
  } else {
    const length = read(() => value.length);
    // The core refuses a length it cannot take before any entry is read.
    problem = flow.on(SET, ix, 4, typeof length === "number" ? length : NaN);
    // Too long: the message gives the length; another option: the array.
    if (problem) throw optionError(flow, name, problem, problem % 256 === 9 ? length : value);
    for (let i = 0; i < length; i++) {
      const item = read(() => value[i]);
      problem = typeof item === "number" ? flow.on(SET, ix, 5, item) : flow.on(SET, ix, 6);
      if (problem) throw optionError(flow, name, problem, item, true);
    }
    return;
  }
  if (problem) throw optionError(flow, name, problem, value);
}

/** Reads the options into `flow` (own enumerable properties, each read once) and makes the guard's driver state. */
export function create(flow, options) {
  let fetch;
  if (options !== undefined && options !== null) {
    // A Map's entries are not its properties: refused rather than ignored.
    if (typeof options !== "object" || Array.isArray(options) || options instanceof Map) {
      throw new TypeError("SubmitGuard options must be an object, got " + describe(options));
    }
    let names;
    try {
      names = Object.keys(options);
    } catch (cause) {
      throw unreadable("options", cause);
    }
    for (const name of names) {
      const ix = flow.on(OPTION, 0, 0, 0, 0, name);
      if (ix < 0) throw optionError(flow, name, -ix);
      let value;
      try {
        value = options[name];
      } catch (cause) {
        throw unreadable(`option \`${name}\``, cause);
      }
      if (value === undefined || value === null) continue;
      readOption(flow, name, ix, value);
      if (typeof value === "function") fetch = value;
    }
  }
  const problem = flow.on(READY);
  if (problem) throw optionError(flow, "name", problem);
  const ctl = { flow, fetch, listeners: new Set(), flight: null, forms: new Map(), restoredFrom: undefined };
  if (flow.on(7)) {
    tabId();
    const saved = readJSON(session(), "submit-guard:" + flow.text(3));
    if (typeof saved?.key === "string" && typeof saved.tab === "string") {
      flow.on(RESTORE, 0, 0, 0, 0, typeof saved.payload === "string" ? saved.key + "\n" + saved.payload : saved.key);
      ctl.restoredFrom = saved.tab;
    }
  }
  watchPageshow();
  return ctl;
}

// The class's methods (src/binding.rs numbers them the same way): fetch,
// run, abort, reset, subscribe, attach, dispose, then the getters key,
// state, pending and attempts.
const ACT = [
  fetch,
  run,
  abort,
  reset,
  subscribe,
  attach,
  dispose,
  (ctl) => read(ctl, 0),
  (ctl) => read(ctl, 1),
  (ctl) => read(ctl, 2),
  (ctl) => read(ctl, 3),
];

/** Performs method `op` of the guard whose driver state is `ctl`. */
export function act(ctl, op, a, b) {
  return ACT[op](ctl, a, b);
}

/** Fills `bytes` with cryptographically random values (for keys). */
export function random(bytes) {
  const crypto = globalThis.crypto;
  if (crypto?.getRandomValues) {
    crypto.getRandomValues(bytes);
  } else {
    // No Web Crypto (a very old runtime): keys must still differ.
    for (let i = 0; i < bytes.length; i++) bytes[i] = Math.floor(Math.random() * 256);
  }
}

// ---------------------------------------------------------------- changes

const pending = new Set();

/** Runs `event` on the flow, then tells listeners and attached forms if anything they can see changed. */
function change(ctl, event) {
  const flow = ctl.flow;
  const before = flow.on(0);
  const decision = event();
  if (ctl.flight && flow.on(2) !== ctl.flight.id) ctl.flight = null;
  if (flow.on(0) !== before) notify(ctl);
  return decision;
}

function notify(ctl) {
  const busy = ctl.flow.on(1);
  if (busy) pending.add(ctl);
  else pending.delete(ctl);
  for (const form of ctl.forms.values()) form.sync(busy);
  // A snapshot: listeners may subscribe or unsubscribe while we call.
  for (const listener of [...ctl.listeners]) {
    try {
      listener();
    } catch (error) {
      // One broken listener must not stop the others or the guard.
      console.error("submit-guard: a listener threw", error);
    }
  }
}

/** The guard's key (0), state (1), pending (2) or attempts (3). */
function read(ctl, what) {
  const flow = ctl.flow;
  return what === 0 ? flow.text(0) : what === 1 ? flow.text(1) : what === 2 ? flow.on(1) === 1 : flow.on(8);
}

function subscribe(ctl, listener) {
  if (typeof listener !== "function") throw new TypeError("SubmitGuard.subscribe: the listener must be a function");
  ctl.listeners.add(listener);
  return () => void ctl.listeners.delete(listener);
}

/** The class was freed or collected: listeners go; a submission in flight and attached forms stay. */
function dispose(ctl) {
  ctl.listeners.clear();
}

function stop(flight, reason) {
  flight.reason = reason;
  flight.stop.abort();
}

function abort(ctl, reason) {
  const flight = ctl.flight;
  const ended = change(ctl, () => ctl.flow.on(ABORT_FLIGHT));
  if (flight && ended === flight.id) stop(flight, reason);
}

function reset(ctl) {
  const flight = ctl.flight;
  const ended = change(ctl, () => ctl.flow.on(RESET_ALL));
  if (ctl.flow.on(7)) forget(session(), "submit-guard:" + ctl.flow.text(3));
  if (flight && ended === flight.id) stop(flight, undefined);
}

let pageshowWatched = false;

/** A page restored from the back/forward cache aborts what was pending before it left: its requests died with it. */
function watchPageshow() {
  if (pageshowWatched || typeof globalThis.addEventListener !== "function") return;
  pageshowWatched = true;
  globalThis.addEventListener("pageshow", (event) => {
    if (!event.persisted) return;
    for (const ctl of [...pending]) {
      abort(ctl, new DOMException("submit-guard: the page was restored from the back/forward cache", "AbortError"));
    }
  });
}

// ---------------------------------------------------------------- waiting

const STOPPED = Symbol("stopped");

/** `promise`, or a rejection with STOPPED as soon as `signal` aborts. */
function until(signal, promise) {
  if (signal.aborted) return Promise.reject(STOPPED);
  return new Promise((resolve, reject) => {
    const onAbort = () => reject(STOPPED);
    signal.addEventListener("abort", onAbort, { once: true });
    promise.then(
      (value) => {
        signal.removeEventListener("abort", onAbort);
        resolve(value);
      },
      (error) => {
        signal.removeEventListener("abort", onAbort);
        reject(error);
      },
    );
  });
}

function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

// ---------------------------------------------------------------- requests

/** The document's base for relative URLs (jsdom, happy-dom and pages alike), if there is a document. */
function resolve(input) {
  if (typeof input !== "string" && !(typeof URL === "function" && input instanceof URL)) return input;
  const base = globalThis.document?.baseURI ?? globalThis.location?.href;
  return base ? new URL(String(input), base).href : String(input);
}

function methodOf(input, init) {
  const method = init?.method;
  if (method !== undefined && method !== null) return String(method).toUpperCase();
  return typeof Request === "function" && input instanceof Request ? input.method : "GET";
}

let requests = 0;

// The payload as the fingerprint reads it: the one place that says what
// "the same payload" is. JSON, URL-encoded forms, FormData and text are put
// in the canonical form the server compares (canonical.js: reordered keys,
// whitespace and reordered pairs are the same payload). Blobs, which that
// cannot read synchronously, count by size, type and name, and with `read`
// (asynchronously) by their contents too.
function payloadOf(body, read, contentType) {
  const canonical = canonicalPayload(body, contentType);
  if (canonical) return canonical.form + ":" + canonical.text;
  if (typeof Blob === "function" && body instanceof Blob) {
    const blob = blobOf(body, read);
    return typeof blob === "string" ? "B" + blob : blob.then((b) => "B" + b);
  }
  if (body instanceof ArrayBuffer) return "A" + binary(new Uint8Array(body));
  if (ArrayBuffer.isView(body)) return "A" + binary(new Uint8Array(body.buffer, body.byteOffset, body.byteLength));
  return "T" + String(body);
}

function blobOf(blob, read) {
  const meta = `${blob.size}:${blob.type}:${blob.name ?? ""}:`;
  return read ? blob.arrayBuffer().then((b) => meta + binary(new Uint8Array(b))) : meta;
}

function binary(bytes) {
  let text = "";
  for (let i = 0; i < bytes.length; i += 8192) text += String.fromCharCode.apply(null, bytes.subarray(i, i + 8192));
  return text;
}

/** What every attempt of a fetch submission is made from; building it checks the arguments as `fetch` would. */
function prepare(input, init) {
  const body = init?.body;
  if (typeof ReadableStream === "function" && body instanceof ReadableStream) {
    throw new TypeError(
      "submit-guard: a ReadableStream body can be read only once, so it cannot be retried or fingerprinted; pass a string, FormData, URLSearchParams, Blob or ArrayBuffer",
    );
  }
  const isRequest = typeof Request === "function" && input instanceof Request;
  // A Request's body is read from a copy made before building takes it.
  const copy = isRequest && body === undefined && input.body ? input.clone() : undefined;
  const template = new Request(resolve(input), init);
  const method = template.method;
  let identity, full;
  if (copy) {
    identity = "R" + ++requests;
    full = requestPayload(copy);
  } else {
    const type = template.headers.get("content-type");
    identity = payloadOf(body, false, type);
    // Only a Blob's contents are read apart (asynchronously); any other body
    // is read once, however large.
    full = typeof Blob === "function" && body instanceof Blob ? payloadOf(body, true, type) : identity;
  }
  const signal = init?.signal ?? (isRequest ? input.signal : undefined);
  // Every engine's fetch refuses a signal that is not an AbortSignal; not
  // every engine's Request constructor does (WebKit's lets it through).
  if (signal !== undefined && !(typeof AbortSignal === "function" && signal instanceof AbortSignal)) {
    throw new TypeError("submit-guard: `signal` must be an AbortSignal");
  }
  // A body every attempt can be built from again without copying the
  // template's body stream (a clone tees it, the most costly step of an
  // attempt): none, or text, which cannot change. Anything else (FormData, a
  // Blob, bytes, a Request's body) is cloned for each attempt.
  const text = copy ? undefined : body == null ? null : typeof body === "string" ? body : body instanceof URLSearchParams ? String(body) : undefined;
  return { template, method, url: template.url, identity, full, signal, text };
}

async function requestPayload(request) {
  const type = request.headers.get("content-type");
  if ((type ?? "").toLowerCase().startsWith("multipart/form-data")) {
    return payloadOf(await request.formData(), true, type);
  }
  return payloadOf(await request.arrayBuffer(), true, type);
}

function fetchOf(ctl) {
  const fetch = ctl.fetch ?? globalThis.fetch;
  if (typeof fetch !== "function") throw new TypeError("submit-guard: there is no global fetch here; pass the `fetch` option");
  return fetch;
}

/** GET, HEAD, OPTIONS and TRACE: sent once, as is, without a key or a lock. */
function passthrough(ctl, input, init) {
  try {
    const fetch = fetchOf(ctl);
    const target = resolve(input);
    return Promise.resolve(init === undefined ? fetch.call(globalThis, target) : fetch.call(globalThis, target, init));
  } catch (error) {
    return Promise.reject(error);
  }
}

function fetch(ctl, input, init) {
  let job;
  try {
    const method = methodOf(input, init);
    if (!ctl.flow.on(CARRIES, 0, 0, 0, 0, method)) return passthrough(ctl, input, init);
    job = prepare(input, init);
  } catch (error) {
    // Anything wrong with the arguments fails here, before the lock is taken.
    return Promise.reject(error);
  }
  return submit(ctl, 0, job);
}

function run(ctl, task) {
  if (typeof task !== "function") return Promise.reject(new TypeError("SubmitGuard.run: the task must be a function"));
  return submit(ctl, 1, { task });
}

function cloneResponse(response) {
  return typeof Response === "function" && response instanceof Response ? response.clone() : response;
}

/** A call wants to submit `job` (`kind` 0 fetch, 1 run, 2 an attached form). Returns its promise, or null when ignored. */
function submit(ctl, kind, job) {
  const flow = ctl.flow;
  if (job.signal?.aborted) {
    change(ctl, () => flow.on(REFUSE_ABORTED));
    const reason = job.signal.reason;
    return Promise.reject(failure(5, reason === undefined ? {} : { cause: reason }));
  }
  const before = flow.on(0);
  const decision = flow.on(BEGIN, 0, kind, 0, 0, job.task ? undefined : `${job.method}\n${job.url}\n${job.identity}`);
  let flight;
  let settle;
  if (decision === START) {
    flight = { id: flow.on(2), stop: new AbortController(), reason: undefined, attempts: 0, flags: 0 };
    // Joinable before listeners hear of it: one of them may join.
    flight.result = new Promise((resolve, reject) => (settle = [resolve, reject]));
    ctl.flight = flight;
  }
  // Listeners hear "pending" once the flight can be joined.
  if (flow.on(0) !== before) notify(ctl);
  switch (decision) {
    case START: {
      life(ctl, flight, job).then(...settle);
      // The first caller gets the response one step after the callers who
      // join: their clones are made before its code can read the body.
      return kind === 1 ? flight.result : flight.result.then((value) => value);
    }
    case SHARE:
      return kind === 1 ? ctl.flight.result : ctl.flight.result.then(cloneResponse);
    case IGNORE:
      return null;
    default:
      return Promise.reject(failure(flow.on(4)));
  }
}

/** One submission's life: across tabs, key, attempts; always ended, so the guard is never left locked. */
async function life(ctl, flight, job) {
  const flow = ctl.flow;
  const onAbort = () => {
    if (ctl.flight === flight) abort(ctl, job.signal.reason);
  };
  let holder = null;
  let outcome;
  try {
    job.signal?.addEventListener("abort", onAbort, { once: true });
    if (flow.on(6)) {
      const entered = await enterTabs(ctl, flight);
      if (entered.shared) return settleShared(ctl, flight, entered.shared);
      holder = entered.holder ?? null;
    }
    const value = await (job.task ? runAll(ctl, flight, job, holder) : sendAll(ctl, flight, job, holder));
    outcome = { ok: true, value };
    return value;
  } catch (error) {
    const thrown = error === STOPPED ? aborted(flight) : error;
    outcome = { ok: false, error: thrown };
    throw thrown;
  } finally {
    job.signal?.removeEventListener("abort", onAbort);
    // Ends the flight if nothing above did (an unexpected error).
    change(ctl, () => flow.on(FAIL, flight.id, 7));
    if (flow.on(7) && flight.flags & CLEAR) forget(session(), "submit-guard:" + flow.text(3));
    if (holder) await holder.finish(flight.flags, outcome);
  }
}

/** Picks the key flight sends with (after the checks that may replace it) and saves it where the options say. */
async function chooseKey(ctl, flight, job, holder) {
  const flow = ctl.flow;
  const signal = flight.stop.signal;
  const payload = job.full === undefined ? undefined : await until(signal, Promise.resolve(job.full));
  let mine;
  let tab;
  if (flow.on(7)) {
    tab = await until(signal, tabId());
    if (ctl.restoredFrom !== undefined) {
      mine = ctl.restoredFrom === tab;
      ctl.restoredFrom = undefined;
    }
  }
  const record = holder?.record;
  // What it sends, when that is not what it began with (a Blob's or a
  // Request's contents, read since): the core has the rest already.
  const what = job.task || payload === job.identity ? undefined : `${job.method}\n${job.url}\n${payload}`;
  if (record) flow.on(RECORDED, 0, 0, 0, 0, `${record.key}\n${record.payload ?? ""}`);
  if (!change(ctl, () => flow.on(KEY_FOR, flight.id, mine === undefined ? -1 : +mine, 0, 0, what))) throw STOPPED;
  holder?.started(flow.text(0), flow.text(4));
  if (flow.on(7)) {
    writeJSON(session(), "submit-guard:" + flow.text(3), { key: flow.text(0), payload: flow.text(4) ?? null, tab });
  }
  return flow.text(5);
}

async function sendAll(ctl, flight, job, holder) {
  const flow = ctl.flow;
  const { template, text } = job;
  if (!template.headers.has(flow.text(2))) {
    template.headers.set(flow.text(2), await chooseKey(ctl, flight, job, holder));
  }
  return attempts(ctl, flight, (signal) => {
    // A null prototype: a polluted Object.prototype (say `.method` or
    // `.body`) must not fill in the members this init leaves out.
    const request = new Request(text === undefined ? template.clone() : template, {
      __proto__: null,
      // Given anew, the template's own body is neither used nor copied.
      body: text ?? undefined,
      signal,
      // A non-empty init resets these (Fetch, "new Request"): hand them back.
      referrer: template.referrer,
      referrerPolicy: template.referrerPolicy,
    });
    let sent;
    try {
      sent = ctl.fetch ? ctl.fetch(request) : fetchOf(ctl).call(globalThis, request);
    } catch (cause) {
      sent = Promise.reject(cause);
    }
    return Promise.resolve(sent).then(
      (response) => {
        if (!(response instanceof Response)) {
          throw new TypeError("submit-guard: fetch resolved with something that is not a Response");
        }
        return { kind: 1, status: response.status, retryAfter: response.headers.get("retry-after") ?? undefined, value: response };
      },
      (cause) => ({ kind: 2, cause }),
    );
  });
}

async function runAll(ctl, flight, job, holder) {
  await chooseKey(ctl, flight, { task: job.task }, holder);
  const key = ctl.flow.text(0);
  return attempts(ctl, flight, (signal, attempt) => {
    let value;
    try {
      value = job.task({ key, signal, attempt });
    } catch (error) {
      return Promise.resolve({ kind: 5, value: error });
    }
    return Promise.resolve(value).then(
      (value) => ({ kind: 4, value }),
      (error) => ({ kind: 5, value: error }),
    );
  });
}

/** The attempt loop: sends until the core says stop. */
async function attempts(ctl, flight, attempt) {
  const flow = ctl.flow;
  const stopped = flight.stop.signal;
  for (;;) {
    const number = change(ctl, () => flow.on(SEND, flight.id));
    if (!number) throw STOPPED;
    flight.attempts = number;
    const controller = new AbortController();
    const onStop = () => controller.abort(flight.reason);
    stopped.addEventListener("abort", onStop, { once: true });
    const timeoutMs = flow.on(5);
    let timer;
    const timedOut = new Promise((resolve) => {
      if (timeoutMs > 0) {
        timer = setTimeout(() => {
          controller.abort(new DOMException(`submit-guard: the attempt took longer than ${timeoutMs} ms`, "TimeoutError"));
          resolve({ kind: 3 });
        }, timeoutMs);
      }
    });
    let ended;
    try {
      ended = await until(stopped, Promise.race([attempt(controller.signal, number), timedOut]));
    } finally {
      clearTimeout(timer);
      stopped.removeEventListener("abort", onStop);
    }
    const decision = change(ctl, () =>
      flow.on(SETTLE, flight.id, ended.kind + 8 * (ended.status ?? 0), Date.now(), Math.random(), ended.retryAfter),
    );
    flight.flags = decision & (CLEAR | BROADCAST);
    switch (decision & 15) {
      case WAIT:
        // A response that will not be used: let it go instead of buffering it.
        ended.value?.body?.cancel?.().catch?.(() => {});
        await until(stopped, sleep(flow.on(3)));
        continue;
      case RESOLVE:
        return ended.value;
      case THROW:
        throw ended.value;
      default: {
        const number = flow.on(4);
        if (number === 5) throw STOPPED;
        const detail = { attempts: flight.attempts };
        if (number === 6) {
          detail.status = ended.status;
          detail.response = ended.value;
        }
        if (ended.cause !== undefined) detail.cause = ended.cause;
        throw failure(number, detail);
      }
    }
  }
}

// ---------------------------------------------------------------- crossTab

function requestLock(locks, name, options) {
  return new Promise((resolve, reject) => {
    locks
      .request(name, options, (lock) => {
        if (!lock) return void resolve(null);
        // Held until this promise settles.
        return new Promise((release) => resolve({ release }));
      })
      .catch(reject);
  });
}

/** Holds the lock while `signal` waits; lets it go if the wait is abandoned. */
async function lockUntil(signal, request) {
  try {
    return await until(signal, request);
  } catch (error) {
    request.then((lock) => lock?.release(), () => {});
    throw error;
  }
}

/** Enters the cross-tab protocol for the flight: `{ holder }` to submit, `{ shared }` to settle with another tab's result, `{}` alone. */
async function enterTabs(ctl, flight) {
  const name = "submit-guard:" + ctl.flow.text(3);
  const locks = globalThis.navigator?.locks;
  if (!locks || typeof BroadcastChannel !== "function") return {};
  const signal = flight.stop.signal;
  const channel = new BroadcastChannel(name);
  let done = null;
  let wake;
  const woken = new Promise((resolve) => (wake = resolve));
  // Listen before asking, so no result falls between the two.
  channel.onmessage = (event) => {
    if (event.data?.t === "done") {
      done = event.data;
      wake();
    }
  };
  const queue = new AbortController();
  try {
    let lock = await lockUntil(signal, requestLock(locks, name, { ifAvailable: true }));
    if (lock) return { holder: new Holder(ctl.flow.text(3), channel, lock) };
    if ((change(ctl, () => ctl.flow.on(OTHER_TAB, flight.id)) & 15) !== WAIT) throw failure(ctl.flow.on(4));
    // Queue for the lock and listen: the holder's result usually comes first.
    const granted = requestLock(locks, name, { signal: queue.signal });
    granted.catch(() => {});
    lock = await lockUntil(signal, Promise.race([woken.then(() => null), granted]));
    if (lock === null) {
      queue.abort();
      granted.then((l) => l?.release(), () => {});
      channel.close();
      return { shared: done };
    }
    // Granted: the holder let go. Its result, posted just before, may still be on its way.
    if (!done) await until(signal, Promise.race([woken, sleep(250)])).catch((e) => (lock.release(), Promise.reject(e)));
    if (done) {
      lock.release();
      channel.close();
      return { shared: done };
    }
    channel.onmessage = null;
    return { holder: new Holder(ctl.flow.text(3), channel, lock) };
  } catch (error) {
    queue.abort();
    channel.close();
    throw error;
  }
}

/** This tab's turn at submitting the form. */
class Holder {
  constructor(name, channel, lock) {
    this.key = `submit-guard:${name}:flight`;
    this.channel = channel;
    this.lock = lock;
    // The key an earlier holder that did not succeed recorded, for the same payload.
    const record = readJSON(local(), this.key);
    this.record = typeof record?.key === "string" ? { key: record.key, payload: record.payload ?? undefined } : undefined;
  }

  started(key, payload) {
    writeJSON(local(), this.key, { key, payload: payload ?? null });
  }

  async finish(flags, outcome) {
    try {
      if (flags & BROADCAST) {
        const message = await doneMessage(outcome);
        if (message) {
          try {
            this.channel.postMessage(message);
          } catch (thrown) {
            // A value that cannot be cloned: waiters get the reason instead.
            this.channel.postMessage({ t: "done", thrown });
          }
        }
      }
      if (flags & CLEAR) forget(local(), this.key);
    } finally {
      this.lock.release();
      this.channel.close();
    }
  }
}

async function serialize(response) {
  try {
    const body = await response.clone().arrayBuffer();
    return { status: response.status, statusText: response.statusText, headers: [...response.headers], body };
  } catch {
    return undefined;
  }
}

function deserialize(data) {
  try {
    const empty = data.status === 204 || data.status === 205 || data.status === 304;
    return new Response(empty ? null : data.body, { status: data.status, statusText: data.statusText, headers: data.headers });
  } catch {
    return undefined;
  }
}

async function doneMessage(outcome) {
  if (!outcome) return undefined;
  if (outcome.ok) {
    const value = outcome.value;
    if (typeof Response === "function" && value instanceof Response) {
      const response = await serialize(value);
      return response && { t: "done", response };
    }
    return { t: "done", value };
  }
  const error = outcome.error;
  if (!isSubmitGuardError(error)) return { t: "done", thrown: error };
  const message = { t: "done", code: error.code };
  if (error.response) message.response = await serialize(error.response);
  return message;
}

const OUTCOMES = { TIMEOUT: 3, NETWORK: 2 };

/** Settles flight with the result another tab's submission of the form reached. */
function settleShared(ctl, flight, done) {
  let kind;
  let status = 0;
  let value;
  if ("thrown" in done) {
    kind = 5;
    value = done.thrown;
  } else if ("value" in done) {
    kind = 4;
    value = done.value;
  } else if (done.response && (done.code === undefined || done.code === "HTTP") && (value = deserialize(done.response))) {
    kind = 1;
    status = done.response.status;
  } else if (OUTCOMES[done.code]) {
    kind = OUTCOMES[done.code];
  } else {
    // Not shareable as a response (an opaque one, say): say so.
    kind = 5;
    value = failure(8);
  }
  const decision = change(ctl, () => ctl.flow.on(CONCLUDE, flight.id, kind, status));
  switch (decision & 15) {
    case RESOLVE:
      return value;
    case THROW:
      throw value;
    default: {
      const number = ctl.flow.on(4);
      throw failure(number, number === 6 ? { status, response: value } : {});
    }
  }
}

// ---------------------------------------------------------------- storage

/** `f()`, or undefined if it throws: storage can be full, unavailable, or throw on access (a sandboxed frame); the server's idempotency still protects. */
function quietly(f) {
  try {
    return f();
  } catch {}
}

const storage = (name) => quietly(() => globalThis[name] ?? undefined);
const session = () => storage("sessionStorage");
const local = () => storage("localStorage");
const readJSON = (store, key) => quietly(() => JSON.parse(store?.getItem(key) || "null") ?? undefined);
const writeJSON = (store, key, value) => quietly(() => store?.setItem(key, JSON.stringify(value)));
const forget = (store, key) => quietly(() => store?.removeItem(key));

// persist: a tab the browser duplicated copies sessionStorage, including the
// original's pending key. Each tab holds a Web Lock on its identity for its
// whole life: a page that finds its stored identity's lock free is the same
// tab reloaded; one that finds it held is a duplicate and takes a new one.
const TAB = "submit-guard:tab";
let tab;

function tabId() {
  return (tab ??= claimIdentity());
}

async function claimIdentity() {
  const store = session();
  const stored = quietly(() => store?.getItem(TAB) ?? undefined);
  const locks = globalThis.navigator?.locks;
  const fresh = () => globalThis.crypto?.randomUUID?.() ?? String(Math.random()).slice(2);
  let id = stored ?? fresh();
  if (locks) {
    const claim = (id) => requestLock(locks, "submit-guard:tab:" + id, { ifAvailable: true }).catch(() => null);
    // The lock is kept (never released) for the page's life.
    if (!stored || !(await claim(id))) {
      id = stored ? fresh() : id;
      await claim(id);
    }
  }
  quietly(() => store?.setItem(TAB, id));
  return id;
}

// ---------------------------------------------------------------- attach

// Each attached form belongs to one guard; the state of its buttons and of
// `aria-busy` is saved once per element and restored once.
const owners = new WeakMap();
const saved = new WeakMap();
// The buttons' state as the page left it, taken before any of the page's own
// submit listeners run (a capture listener on the document), for the submit
// being dispatched.
const snapshots = new WeakMap();
const watchedDocuments = new WeakSet();

function watchSubmits(document) {
  if (watchedDocuments.has(document)) return;
  watchedDocuments.add(document);
  document.addEventListener(
    "submit",
    (event) => {
      const form = event.target;
      if (!owners.has(form)) return;
      snapshots.set(form, { buttons: new Map(submitButtons(form).map((b) => [b, b.disabled])), busy: form.getAttribute("aria-busy") });
    },
    true,
  );
}

function submitButtons(form) {
  return [...form.elements].filter((e) =>
    e instanceof HTMLButtonElement ? e.type === "submit" : e instanceof HTMLInputElement && (e.type === "submit" || e.type === "image"),
  );
}

function attachOptions(options) {
  if (options === undefined || options === null) return undefined;
  if (typeof options !== "object") throw new TypeError("SubmitGuard.attach: options must be an object");
  for (const name of Object.keys(options)) {
    if (name !== "headers") {
      throw new TypeError(`SubmitGuard.attach option \`${name}\` is not an option; the only option is \`headers\``);
    }
  }
  const headers = options.headers;
  if (headers === undefined || headers === null) return undefined;
  try {
    // Checked now, so a bad value fails here and not at the first submit.
    new Headers(headers);
  } catch {
    throw new TypeError("SubmitGuard.attach option `headers` must be a Headers, an object or an array of pairs");
  }
  return headers;
}

function dispatch(form, type, detail) {
  form.dispatchEvent(new CustomEvent(type, { bubbles: true, detail }));
}

function attach(ctl, form, options) {
  if (typeof HTMLFormElement !== "function" || !(form instanceof HTMLFormElement)) {
    throw new TypeError("SubmitGuard.attach: the first argument must be a <form> element");
  }
  const headers = attachOptions(options);
  const existing = ctl.forms.get(form);
  // Attaching the same guard twice is a no-op: the same detach function.
  if (existing) return existing.detach;
  if (owners.has(form)) throw new SubmitGuardError("ATTACHED", "submit-guard: " + MESSAGES.ATTACHED);
  watchSubmits(form.ownerDocument);
  let busy = null;
  let before = null;
  const attachment = {
    sync(pending) {
      if (pending && !busy) {
        busy = submitButtons(form);
        for (const button of busy) {
          if (!saved.has(button)) saved.set(button, before?.buttons.has(button) ? before.buttons.get(button) : button.disabled);
          button.disabled = true;
        }
        if (!saved.has(form)) saved.set(form, before ? before.busy : form.getAttribute("aria-busy"));
        form.setAttribute("aria-busy", "true");
      } else if (!pending && busy) {
        restore();
      }
    },
    detach: () => {
      if (ctl.forms.get(form) !== attachment) return;
      form.removeEventListener("submit", onSubmit);
      ctl.forms.delete(form);
      owners.delete(form);
      restore();
    },
  };
  function restore() {
    for (const button of busy ?? []) {
      if (saved.has(button)) {
        button.disabled = saved.get(button);
        saved.delete(button);
      }
    }
    busy = null;
    if (saved.has(form)) {
      const value = saved.get(form);
      saved.delete(form);
      if (value === null) form.removeAttribute("aria-busy");
      else form.setAttribute("aria-busy", value);
    }
  }
  function onSubmit(event) {
    const submitter = event.submitter ?? null;
    const over = (attribute, property) => (submitter?.hasAttribute(attribute) ? submitter[property] : undefined);
    const method = over("formmethod", "formMethod") ?? form.method;
    if (method.toLowerCase() === "dialog") return; // closes a dialog; not a request
    event.preventDefault();
    before = snapshots.get(form) ?? null;
    snapshots.delete(form);
    let sent;
    try {
      const [url, init] = formRequest(form, submitter, method, over("formaction", "formAction") ?? form.action, over("formenctype", "formEnctype") ?? form.enctype, headers);
      sent = ctl.flow.on(CARRIES, 0, 0, 0, 0, init.method) ? submit(ctl, 2, prepare(url, init)) : passthrough(ctl, url, init);
    } catch (error) {
      sent = Promise.reject(error);
    }
    before = null;
    // null: a submit while one is in flight sends nothing and dispatches nothing.
    sent?.then(
      (response) => dispatch(form, "submitguard:success", { response }),
      (error) => dispatch(form, "submitguard:error", { error }),
    );
  }
  form.addEventListener("submit", onSubmit);
  owners.set(form, ctl);
  ctl.forms.set(form, attachment);
  attachment.sync(ctl.flow.on(1));
  return attachment.detach;
}

/** The URL and init the form would submit with, as HTML builds them. */
function formRequest(form, submitter, method, action, enctype, headers) {
  const data = submitter ? new FormData(form, submitter) : new FormData(form);
  const init = { method: method.toUpperCase() };
  if (headers !== undefined) init.headers = headers;
  if (init.method === "GET") {
    // HTML replaces the action's query with the fields.
    const base = action.split(/[?#]/)[0];
    return [`${base}?${new URLSearchParams(data)}`, init];
  }
  if (enctype === "multipart/form-data") init.body = data;
  else if (enctype === "text/plain") {
    let text = "";
    for (const [name, value] of data) text += `${name}=${typeof value === "string" ? value : value.name}\r\n`;
    init.body = text;
  } else init.body = new URLSearchParams(data);
  return [action, init];
}
