// Small statistics for the benchmark figures: every figure is the median of
// repeated runs with the min and max beside it.

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs) {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/** The `q` quantile of `xs` by nearest rank (q = 0.99: the p99). */
export function quantile(xs, q) {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))];
}

/** `{ runs, median, min, max, samples }` over one value per run. */
export function summarize(samples) {
  return {
    runs: samples.length,
    median: median(samples),
    min: Math.min(...samples),
    max: Math.max(...samples),
    samples,
  };
}

/** `order` rotated by `i`, so that no variant always runs first. */
export function rotate(order, i) {
  const k = i % order.length;
  return [...order.slice(k), ...order.slice(0, k)];
}

/** `object` with `fn` applied to each value. */
export function mapValues(object, fn) {
  return Object.fromEntries(Object.entries(object).map(([k, v]) => [k, fn(v)]));
}
