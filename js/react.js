// useSubmitGuard: one SubmitGuard per component instance, for React 18+.
//
// The guard is made on the first render and kept for the component's life.
// StrictMode's simulated unmount and remount keep the same guard (its free is
// deferred and cancelled by the remount), so an effect that submits on mount
// is deduplicated instead of sending twice. The guard is freed after a real
// unmount; a submission still in flight settles normally.
//
// React also runs the cleanup when it hides a component in <Activity
// mode="hidden">, keeping its state for when it is shown again, so a cleanup
// cannot tell hiding from unmounting. Hence: a guard whose key still matters
// (pending, or failed and waiting for a resubmit with the same key) is never
// freed by the hook (the garbage collector frees it once the component is
// gone), and a guard that was freed while hidden is replaced by a new one
// when the component renders or shows again, instead of being used freed.
//
// useSubmitGuardState: what a component renders from a guard, as a
// useSyncExternalStore snapshot. Server rendering and hydration use
// SERVER_SNAPSHOT, a constant with no key (a guard made on the server and the
// one made by hydration have different random keys); React re-renders with
// the guard's own values as soon as hydration is done.
import { startTransition, useActionState, useCallback, useEffect, useReducer, useRef, useSyncExternalStore } from "react";
import { SubmitGuard } from "./submit_guard.js";

/** What server rendering and hydration render: a new guard's values, no key. */
const SERVER_SNAPSHOT = Object.freeze({ state: "idle", pending: false, key: null, attempts: 0 });
const serverSnapshot = () => SERVER_SNAPSHOT;

function read(guard) {
  return { state: guard.state, pending: guard.pending, key: guard.key, attempts: guard.attempts };
}

function same(a, b) {
  return a.state === b.state && a.pending === b.pending && a.key === b.key && a.attempts === b.attempts;
}

/** Each guard's store for useSyncExternalStore: stable functions, one snapshot object per change. */
const stores = new WeakMap();

function storeOf(guard) {
  let store = stores.get(guard);
  if (store === undefined) {
    let snapshot = read(guard);
    store = {
      subscribe: (onChange) => guard.subscribe(onChange),
      // The same object while nothing changed, as useSyncExternalStore needs.
      getSnapshot: () => {
        const now = read(guard);
        if (!same(now, snapshot)) snapshot = now;
        return snapshot;
      },
    };
    stores.set(guard, store);
  }
  return store;
}

/** What a value that should have been a guard was, for an error message. */
function describe(value) {
  if (value === null) return "null";
  if (typeof value !== "object") return typeof value;
  return `an object without subscribe() (${Object.keys(value).slice(0, 3).join(", ") || "no keys"})`;
}

function create(options) {
  const guard = new SubmitGuard(options);
  return { guard, name: options?.name, freed: false, freeTimer: undefined, store: storeOf(guard) };
}

function freeUnlessNeeded(holder) {
  const { guard } = holder;
  if (guard.pending || guard.state === "failed") return;
  holder.freed = true;
  guard.free();
}

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount (left to the
 * garbage collector instead while it is pending or failed, since hiding in
 * `<Activity>` looks like an unmount and its key must survive). The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read when the guard is made: on the first render,
 * and again when `name` changes (a new name is a new form, with a new guard).
 *
 * Server rendering: a guard made on the server has another key than the one
 * made by hydration, so render the key from `useSubmitGuardState(guard)`,
 * which is `null` until hydration is done, never `guard.key` itself.
 */
export function useSubmitGuard(options) {
  const ref = useRef(null);
  const [, renew] = useReducer((n) => n + 1, 0);
  // A new `name` is a new form: a new guard (the old one is left to the
  // garbage collector, as a pending one must be).
  if (ref.current === null || ref.current.freed || ref.current.name !== options?.name) ref.current = create(options);
  const holder = ref.current;

  useEffect(() => {
    if (holder.freed) {
      // Shown again after being hidden long enough to be freed, without a
      // render in between: render, which makes a new guard.
      renew();
      return undefined;
    }
    clearTimeout(holder.freeTimer);
    holder.freeTimer = undefined;
    return () => {
      // Deferred: StrictMode runs this cleanup and the effect again at once.
      holder.freeTimer = setTimeout(() => freeUnlessNeeded(holder), 0);
    };
  }, [holder]);

  const { store } = holder;
  useSyncExternalStore(store.subscribe, store.getSnapshot, store.getSnapshot);
  return holder.guard;
}

/**
 * The values of `guard` to render, `{ state, pending, key, attempts }`,
 * safe with server rendering: on the server and during hydration `key` is
 * `null` (and the rest a new guard's: `"idle"`, `false`, `0`), so the
 * hydrating client renders what the server did; right after hydration React
 * renders again with the guard's own values. Rendered on the client only,
 * they are the guard's values from the first render. The component
 * re-renders when they change; the object is the same while they do not.
 *
 * `guard` is any `SubmitGuard` (from `useSubmitGuard`, `useGuardedActionState`,
 * or made outside the component); `guard.fetch`, `run` and `attach` work from
 * the first client render, hydrating or not, with the guard's real key. A
 * `guard` that is not a guard is a `TypeError` saying what it was.
 */
export function useSubmitGuardState(guard) {
  if (typeof guard?.subscribe !== "function") {
    throw new TypeError(`useSubmitGuardState(guard): guard must be a SubmitGuard (from useSubmitGuard or new SubmitGuard()), not ${describe(guard)}`);
  }
  const store = storeOf(guard);
  return useSyncExternalStore(store.subscribe, store.getSnapshot, serverSnapshot);
}

/**
 * `useActionState` for React 19 actions, guarded: the lock is taken when the
 * action is *dispatched* (a `<form action>` submit, a call of the returned
 * dispatch), not when React gets round to running it, so a burst of
 * submissions in one tick sends one request. The burst's repeats join the
 * submission in flight (a `run`): React still runs each queued action, and
 * each settles with the one result.
 *
 * `action(previousState, payload, { key, signal, attempt })` sends the
 * request itself with `key` in its `Idempotency-Key` header and `signal` as
 * its abort signal. Like any `run` task it is retried with the same key only
 * when an attempt times out (`timeoutMs`), not on an error status: what it
 * returns, an error state included, is a success, after which the key is
 * replaced; what it throws is a failure that keeps the key (and reaches
 * React's nearest error boundary). Returns `[state, dispatch, isPending,
 * guard]`.
 */
export function useGuardedActionState(action, initialState, options) {
  const guard = useSubmitGuard(options);
  const latest = useRef(action);
  latest.current = action;
  const [state, dispatch, isPending] = useActionState(async (previous, { open, result }) => {
    open(previous);
    return result;
  }, initialState);
  const guarded = useCallback(
    (payload) => {
      let open;
      const opened = new Promise((resolve) => (open = resolve));
      // Synchronous: the lock is taken here, in the submit's own tick.
      const result = guard.run((context) => opened.then((previous) => latest.current(previous, payload, context)));
      startTransition(() => dispatch({ open, result }));
    },
    [guard, dispatch],
  );
  return [state, guarded, isPending, guard];
}
