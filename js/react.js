// useSubmitGuard: one SubmitGuard per component instance, for React 18+.
//
// The guard is made on the first render and kept for the component's life.
// StrictMode's simulated unmount and remount keep the same guard (its free is
// deferred and cancelled by the remount), so an effect that submits on mount
// is deduplicated instead of sending twice. The guard is freed after a real
// unmount; a submission still in flight settles normally.
import { useEffect, useRef, useSyncExternalStore } from "react";
import { SubmitGuard } from "./submit_guard.js";

function read(guard) {
  return { state: guard.state, pending: guard.pending, key: guard.key, attempts: guard.attempts };
}

function same(a, b) {
  return a.state === b.state && a.pending === b.pending && a.key === b.key && a.attempts === b.attempts;
}

function create(options) {
  const guard = new SubmitGuard(options);
  const holder = {
    guard,
    freeTimer: undefined,
    snapshot: read(guard),
    subscribe: (onChange) => guard.subscribe(onChange),
    // The same object while nothing changed, as useSyncExternalStore needs.
    getSnapshot: () => {
      const now = read(guard);
      if (!same(now, holder.snapshot)) holder.snapshot = now;
      return holder.snapshot;
    },
  };
  return holder;
}

/**
 * A `SubmitGuard` for this component: created once per component instance,
 * kept across StrictMode's double mount, freed on unmount. The component
 * re-renders whenever the guard's `state`, `pending`, `key` or `attempts`
 * change. `options` are read on the first render only.
 */
export function useSubmitGuard(options) {
  const ref = useRef(null);
  if (ref.current === null) ref.current = create(options);
  const holder = ref.current;

  useEffect(() => {
    clearTimeout(holder.freeTimer);
    holder.freeTimer = undefined;
    return () => {
      // Deferred: StrictMode runs this cleanup and the effect again at once.
      holder.freeTimer = setTimeout(() => holder.guard.free(), 0);
    };
  }, [holder]);

  useSyncExternalStore(holder.subscribe, holder.getSnapshot, holder.getSnapshot);
  return holder.guard;
}
