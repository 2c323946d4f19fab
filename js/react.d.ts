import type { SubmitGuard, SubmitGuardContext, SubmitGuardOptions } from "./submit_guard.js";

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount (left to the
 * garbage collector instead while it is pending or failed, since hiding in
 * `<Activity>` looks like an unmount and its key must survive). The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read when the guard is made: on the first render,
 * and again when `name` changes (a new name is a new form, with a new guard).
 * A key rendered on the server differs from the client's: render it on the
 * client only.
 */
export function useSubmitGuard(options?: SubmitGuardOptions): SubmitGuard;

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
