import type { SubmitGuard, SubmitGuardContext, SubmitGuardOptions, SubmitGuardState } from "./submit_guard.js";

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount (left to the
 * garbage collector instead while it is pending or failed, since hiding in
 * `<Activity>` looks like an unmount and its key must survive). The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read when the guard is made: on the first render,
 * and again when `name` changes (a new name is a new form, with a new guard).
 * With server rendering, render the key from `useSubmitGuardState(guard)`,
 * never `guard.key`: the server's guard and the hydrating client's have
 * different keys.
 */
export function useSubmitGuard(options?: SubmitGuardOptions): SubmitGuard;

/** A guard's values to render, from `useSubmitGuardState`. */
export interface SubmitGuardSnapshot {
  /** The guard's `state`; `"idle"` on the server and during hydration. */
  readonly state: SubmitGuardState;
  /** The guard's `pending`; `false` on the server and during hydration. */
  readonly pending: boolean;
  /**
   * The guard's `key`; `null` on the server and during hydration, whose
   * guards have keys of their own, then the client guard's key.
   */
  readonly key: string | null;
  /** The guard's `attempts`; `0` on the server and during hydration. */
  readonly attempts: number;
}

/**
 * The values of `guard` to render, safe with server rendering: on the server
 * and during hydration a new guard's values with `key: null`, so hydration
 * renders what the server did; right after hydration React renders again
 * with the guard's own values (on a client-only render, from the first
 * render). The component re-renders when they change. `guard.fetch`, `run`
 * and `attach` work from the first client render, with the guard's real key.
 * A `guard` that is not a guard is a `TypeError` saying what it was.
 */
export function useSubmitGuardState(guard: SubmitGuard): SubmitGuardSnapshot;

/**
 * `useActionState` for React 19 actions, with the lock taken when the action
 * is dispatched: a burst of same-tick submissions sends one request, its
 * repeats joining the one in flight. `action` sends with `context.key`.
 * Returns `[state, dispatch, isPending, guard]`. `Payload` defaults to
 * `FormData`, what `<form action={dispatch}>` passes; as with React's own
 * `useActionState`, give `State` when `initialState` alone cannot tell it
 * (`useGuardedActionState<Org | null>(…, null)`).
 */
export function useGuardedActionState<State, Payload = FormData>(
  action: (previousState: Awaited<State>, payload: Payload, context: SubmitGuardContext) => State | Promise<State>,
  initialState: Awaited<State>,
  options?: SubmitGuardOptions,
): [state: Awaited<State>, dispatch: (payload: Payload) => void, isPending: boolean, guard: SubmitGuard];
