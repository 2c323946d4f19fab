import type { SubmitGuard, SubmitGuardOptions } from "./submit_guard.js";

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount. The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read on the first render only.
 */
export function useSubmitGuard(options?: SubmitGuardOptions): SubmitGuard;
