// What a TypeScript project sees of the package: compiled with `tsc --strict`
// by tests/e2e/types.test.mjs, "submit-guard" resolved through pkg/'s
// `exports` map. Each `@ts-expect-error` line must be an error: if a type
// loosened (to `any`, say), the directive itself would fail the compile.
import {
  SubmitGuard,
  SubmitGuardError,
  isSubmitGuardError,
  type SubmitGuardOptions,
  type SubmitGuardState,
} from "submit-guard";
import { useGuardedActionState, useSubmitGuard, useSubmitGuardState, type SubmitGuardSnapshot } from "submit-guard/react";

const options: SubmitGuardOptions = {
  headerName: "Idempotency-Key",
  quoteKey: false,
  timeoutMs: 30_000,
  retries: 2,
  retryOn: [409, 503],
  backoffMs: 300,
  maxBackoffMs: 5_000,
  maxRetryAfterMs: 60_000,
  onDuplicate: "share",
  throwHttpErrors: true,
  fetch: (request: Request) => fetch(request),
  name: "signup",
  crossTab: true,
  persist: true,
};

// null means the default, as the README says.
const nulls: SubmitGuardOptions = { timeoutMs: null, retryOn: null, fetch: null, name: null };
new SubmitGuard(null);

// @ts-expect-error: onDuplicate is "share" or "reject"
const badMode: SubmitGuardOptions = { onDuplicate: "queue" };
// @ts-expect-error: retries is a number
const badRetries: SubmitGuardOptions = { retries: "2" };
// @ts-expect-error: there is no such option
const unknown: SubmitGuardOptions = { timeoutMS: 5 };

export async function plain(): Promise<void> {
  const guard = new SubmitGuard(options);
  const key: string = guard.key;
  const pending: boolean = guard.pending;
  const attempts: number = guard.attempts;
  const state: SubmitGuardState = guard.state;
  // @ts-expect-error: the state is one of four strings
  if (guard.state === "done") return;
  const response: Response = await guard.fetch("/api/orgs", { method: "POST", body: "{}" });
  await guard.fetch(new URL("https://example.com/api/orgs"), { method: "POST" });
  await guard.fetch(new Request("/api/orgs", { method: "POST" }));
  const id: number = await guard.run(async ({ key, signal, attempt }) => {
    const k: string = key;
    const s: AbortSignal = signal;
    const n: number = attempt;
    return k.length + n + (s.aborted ? 1 : 0);
  });
  // @ts-expect-error: run's result has the task's type
  const wrong: string = await guard.run(async () => 1);
  guard.abort();
  guard.abort(new Error("cancelled"));
  guard.reset();
  const unsubscribe: () => void = guard.subscribe(() => {});
  unsubscribe();
  const form = document.createElement("form");
  const detach: () => void = guard.attach(form, { headers: { "x-csrf-token": "t" } });
  detach();
  guard.free();
  void [key, pending, attempts, state, response, id, wrong, badMode, badRetries, unknown, nulls];
}

export function handle(error: unknown): string {
  const e = error as SubmitGuardError;
  switch (e.code) {
    case "DUPLICATE":
    case "BUSY":
    case "ATTACHED":
    case "TIMEOUT":
    case "NETWORK":
    case "ABORTED":
    case "CROSS_TAB":
      return e.code;
    case "HTTP":
      return `${e.status ?? 0} ${e.response?.statusText ?? ""}`;
    // @ts-expect-error: not an error code
    case "CONFLICT":
      return "";
  }
  return "";
}

export function recognise(error: unknown): string {
  if (error instanceof SubmitGuardError) return error.code;
  if (isSubmitGuardError(error)) return error.code;
  // @ts-expect-error: unknown until narrowed
  return error.code;
}

export function events(form: HTMLFormElement): void {
  form.addEventListener("submitguard:success", (event) => {
    const status: number = event.detail.response.status;
    void status;
  });
  form.addEventListener("submitguard:error", (event) => {
    const error = event.detail.error;
    const code: string = error instanceof SubmitGuardError ? error.code : error.message;
    void code;
  });
}

export function Component(): string {
  const guard: SubmitGuard = useSubmitGuard({ name: "org" });
  useSubmitGuard();
  // @ts-expect-error: the hook takes the guard's options
  useSubmitGuard({ retries: "2" });
  return guard.state;
}

// Server rendering: the key to render is the snapshot's, null until hydrated.
export function KeyComponent(): string {
  const guard = useSubmitGuard();
  const snapshot: SubmitGuardSnapshot = useSubmitGuardState(guard);
  const { state, pending, key, attempts } = snapshot;
  // @ts-expect-error: the key is null on the server and during hydration
  const unchecked: string = key;
  // @ts-expect-error: the hook takes a guard, not options
  useSubmitGuardState({ name: "org" });
  void unchecked;
  return `${state} ${pending} ${attempts} ${key ?? ""}`;
}

// A React 19 action that throws (the README's example returns an error state
// instead; tests/e2e/types.test.mjs compiles it): the payload is the form's
// FormData without an annotation.
export function ActionComponent(): boolean {
  const [org, action, pending] = useGuardedActionState<{ id: string } | null>(async (_previous, formData, { key }) => {
    const response = await fetch("/api/orgs", { method: "POST", headers: { "idempotency-key": key }, body: formData });
    if (!response.ok) throw new Error(`create failed: ${response.status}`);
    return (await response.json()) as { id: string } | null;
  }, null);
  action(new FormData());
  // @ts-expect-error: dispatch takes the form's FormData
  action("name=Acme");
  return pending && org !== null;
}
