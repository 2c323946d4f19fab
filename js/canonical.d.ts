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
 * `fetch` sends `text/plain;charset=UTF-8`, compared as it is). `null` for a body
 * that cannot be read synchronously (a Blob or File, a stream, bytes that are not
 * UTF-8): the caller compares those itself.
 */
export function canonicalPayload(
  body: string | URLSearchParams | FormData | ArrayBuffer | ArrayBufferView | Blob | ReadableStream | null | undefined,
  contentType?: string | null,
): CanonicalPayload | null;

/** Whether two canonical payloads are the same payload. */
export function samePayload(a: CanonicalPayload, b: CanonicalPayload): boolean;
