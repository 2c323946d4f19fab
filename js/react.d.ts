import type { SubmitGuard, SubmitGuardOptions } from "./submit_guard.js";

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount (left to the
 * garbage collector instead while it is pending or failed, since hiding in
 * `<Activity>` looks like an unmount and its key must survive). The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read on the first render only.
 */
export function useSubmitGuard(options?: SubmitGuardOptions): SubmitGuard;
