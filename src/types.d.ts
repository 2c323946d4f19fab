/** What a guard is doing: see `SubmitGuard.state`. */
export type SubmitGuardState = "idle" | "pending" | "succeeded" | "failed";

/** The stable `code` of a `SubmitGuardError`. */
export type SubmitGuardErrorCode = "DUPLICATE" | "BUSY" | "TIMEOUT" | "NETWORK" | "ABORTED" | "HTTP" | "CROSS_TAB" | "ATTACHED";

/** Every failure of a submission rejects with one of these; test with `instanceof` or `isSubmitGuardError`. */
export declare class SubmitGuardError extends Error {
  name: "SubmitGuardError";
  code: SubmitGuardErrorCode;
  /** The final status, for `code: "HTTP"`. */
  status?: number;
  /** The final response, for `code: "HTTP"`; its body is unread. */
  response?: Response;
  /** The error underneath: the network `TypeError`, or the abort reason. */
  cause?: unknown;
}

/** Whether `error` is a `SubmitGuardError`. */
export declare function isSubmitGuardError(error: unknown): error is SubmitGuardError;

/** Options of `new SubmitGuard(options)`; all optional; `null` means the default. */
export interface SubmitGuardOptions {
  /** Header that carries the key; an HTTP token. Default `"Idempotency-Key"`. */
  headerName?: string | null;
  /** Send the key as an RFC 8941 sf-string (`"…"`), as the IETF draft writes it. Default `false`. */
  quoteKey?: boolean | null;
  /** Per-attempt timeout in milliseconds; `0` for none. Default `30000`. */
  timeoutMs?: number | null;
  /** Automatic retries of a retryable outcome, 0–10. Default `2`. */
  retries?: number | null;
  /** Retryable statuses (100–599, at most 500 entries). Default `[408, 409, 425, 429, 500, 502, 503, 504]`. Network errors and attempt timeouts are always retryable. */
  retryOn?: readonly number[] | null;
  /** Base of the exponential backoff with full jitter, in ms. Default `300`. */
  backoffMs?: number | null;
  /** Cap of the backoff, in ms. Default `5000`. */
  maxBackoffMs?: number | null;
  /** The longest `Retry-After` honoured, in ms; a longer one stops the retries. Default `60000`. */
  maxRetryAfterMs?: number | null;
  /** What a call repeating the submission in flight (same method, URL and payload) gets: its result (`"share"`) or a `DUPLICATE` error (`"reject"`). A different submission is refused with `BUSY` either way. Default `"share"`. */
  onDuplicate?: "share" | "reject" | null;
  /** Reject a final non-2xx with code `HTTP` (`true`) or resolve with the response (`false`). Default `true`. */
  throwHttpErrors?: boolean | null;
  /** The `fetch` to call, with each attempt's `Request` (key header and abort signal included). Default: the global `fetch` at call time. */
  fetch?: ((request: Request) => Promise<Response>) | null;
  /** The form's identity across tabs and reloads; required by `crossTab` and `persist`. */
  name?: string | null;
  /** One tab at a time submits this form (Web Locks); the others share its result (`"share"`) or reject with `CROSS_TAB` (`"reject"`). Default `false`. */
  crossTab?: boolean | null;
  /** Keep the pending key in `sessionStorage`, so a resubmit after a reload is replayed, not repeated. Default `false`. */
  persist?: boolean | null;
}

/** Options of `guard.attach(form, options)`. */
export interface SubmitGuardAttachOptions {
  /** Headers sent with every submission of the form (a CSRF token, say). */
  headers?: HeadersInit;
}

/** What a `run` task is given for each attempt. */
export interface SubmitGuardContext {
  /** The idempotency key to send: the same for every attempt and resubmit. */
  key: string;
  /** Aborted when the attempt times out or the submission is aborted. */
  signal: AbortSignal;
  /** 1 for the first attempt, 2 for the first retry, … */
  attempt: number;
}

/** `detail` of the `submitguard:success` event an attached form dispatches. */
export interface SubmitGuardSuccessDetail {
  response: Response;
}

/** `detail` of the `submitguard:error` event an attached form dispatches. */
export interface SubmitGuardErrorDetail {
  error: SubmitGuardError | TypeError;
}

declare global {
  interface HTMLElementEventMap {
    "submitguard:success": CustomEvent<SubmitGuardSuccessDetail>;
    "submitguard:error": CustomEvent<SubmitGuardErrorDetail>;
  }
}

// The class's methods and getters: the package installs each as a call of
// the driver (scripts/package.mjs); declared here, merged with the class.
export interface SubmitGuard {
  /** The current idempotency key: a UUID v4, 36 characters. */
  readonly key: string;
  /** `"idle"`, `"pending"`, `"succeeded"` or `"failed"`. */
  readonly state: SubmitGuardState;
  /** Whether a submission is in flight. */
  readonly pending: boolean;
  /** Attempts made by the current or last submission. */
  readonly attempts: number;
  /**
   * Sends a request like `fetch`, guarded. POST, PUT, PATCH and DELETE carry
   * the key, are deduplicated and retried; GET, HEAD and OPTIONS pass
   * through once. Every caller can read the body: duplicates each get
   * their own clone of the response.
   */
  fetch(input: RequestInfo | URL, init?: RequestInit): Promise<Response>;
  /**
   * Runs `task` as one guarded submission: at most one runs at a time, it is
   * given the key, an abort signal and the attempt number, it is retried with
   * the same key when it times out, and its own errors pass through unchanged.
   */
  run<T>(task: (ctx: SubmitGuardContext) => T | PromiseLike<T>): Promise<T>;
  /**
   * Cancels the submission in flight: it rejects with `ABORTED`, its
   * request is aborted with `reason`, and the key is kept for the resubmit.
   */
  abort(reason?: unknown): void;
  /** Aborts any submission in flight, replaces the key and returns to `"idle"`. */
  reset(): void;
  /**
   * Calls `listener` on every change of `state`, `key` or `attempts`;
   * returns the function that unsubscribes it. Works as the `subscribe`
   * argument of React's `useSyncExternalStore`.
   */
  subscribe(listener: () => void): () => void;
  /**
   * Guards a plain HTML form: its submit (click or Enter) goes through
   * `fetch` to the form's `action` with its `method` and `enctype`; its
   * submit buttons are disabled and `aria-busy` set while pending;
   * `submitguard:success` and `submitguard:error` are dispatched on it.
   * Returns the function that detaches and restores the form.
   */
  attach(form: HTMLFormElement, options?: SubmitGuardAttachOptions): () => void;
}
