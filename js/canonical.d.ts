/** The rule that produced a canonical payload. */
export type PayloadForm = "json" | "urlencoded" | "multipart" | "raw";

/** A request body in canonical form: equal `form` and `text` mean the same payload. */
export interface CanonicalPayload {
  form: PayloadForm;
  text: string;
}

/**
 * The canonical form of a request body, as the server (crates/protocol) defines it.
 * Pass the `Content-Type` the request will carry (for a string body without one,
 * `fetch` sends `text/plain;charset=UTF-8`, compared as it is).
 */
export function canonicalPayload(
  body: string | URLSearchParams | FormData | null | undefined,
  contentType?: string | null,
): CanonicalPayload;

/** Whether two canonical payloads are the same payload. */
export function samePayload(a: CanonicalPayload, b: CanonicalPayload): boolean;
