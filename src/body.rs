//! A request's payload, read into a [`Fingerprint`].
//!
//! The payload is captured synchronously when `guard.fetch` is called (so
//! later changes to a `FormData` do not count) and hashed asynchronously,
//! because `Blob` contents can only be read that way. A multipart form is
//! hashed from its fields, never from its serialization, whose boundary is
//! random each time.

use js_sys::{Array, ArrayBuffer, JsString, Reflect, Uint8Array};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::JsFuture;
use web_sys::{Blob, File, FormData, ReadableStream, Request, RequestInit, UrlSearchParams};

use crate::core::key::{Fingerprint, FingerprintBuilder, Part};
use crate::error::type_error;

/// Bytes are copied out of JavaScript this many at a time.
const CHUNK: u32 = 64 * 1024;

/// A snapshot of what a request sends, taken at call time.
pub(crate) enum Payload {
    /// No body.
    Empty,
    /// A string, `URLSearchParams`, or anything else `fetch` would stringify:
    /// the text to hash, and the same text as a JavaScript string to send.
    Text { text: String, value: JsString },
    /// A copy of an `ArrayBuffer` or a view of one.
    Bytes(Uint8Array),
    /// A `Blob`, read when hashing.
    Blob(Blob),
    /// The `[name, value]` entries of a `FormData`.
    Form(Array),
    /// A copy of a `Request` given as the input, read when hashing.
    Request(Request),
}

#[wasm_bindgen]
extern "C" {
    /// JavaScript's `String(value)`, as `fetch` applies to an unknown body.
    #[wasm_bindgen(js_name = String, catch)]
    fn js_string_value(value: &JsValue) -> Result<JsString, JsValue>;
}

/// `String(value)`, as a Rust string.
pub(crate) fn js_string(value: &JsValue) -> Result<String, JsValue> {
    js_string_value(value).map(String::from)
}

impl Payload {
    /// Captures the body `fetch(input, init)` would send. Must run before the
    /// request is built: building it takes the body out of a `Request` input.
    pub(crate) fn capture(input: &JsValue, init: Option<&RequestInit>) -> Result<Self, JsValue> {
        let body = match init {
            Some(init) => crate::js::get(init, &crate::js::BODY)?,
            None => JsValue::UNDEFINED,
        };
        if body.is_undefined() {
            return Ok(match input.dyn_ref::<Request>() {
                Some(request) if request.body().is_some() => {
                    Self::Request(Request::clone(request)?)
                }
                _ => Self::Empty,
            });
        }
        Self::of_body(body)
    }

    fn text(value: JsString) -> Self {
        Self::Text {
            text: value.clone().into(),
            value,
        }
    }

    fn of_body(body: JsValue) -> Result<Self, JsValue> {
        if body.is_null() {
            return Ok(Self::Empty);
        }
        if let Some(text) = body.dyn_ref::<JsString>() {
            return Ok(Self::text(text.clone()));
        }
        if let Some(params) = body.dyn_ref::<UrlSearchParams>() {
            return Ok(Self::text(params.to_string()));
        }
        if let Some(form) = body.dyn_ref::<FormData>() {
            return Ok(Self::Form(Array::from(form)));
        }
        if body.is_instance_of::<Blob>() {
            return Ok(Self::Blob(body.unchecked_into()));
        }
        if let Some(buffer) = body.dyn_ref::<ArrayBuffer>() {
            return Ok(Self::Bytes(
                Uint8Array::new(buffer).slice(0, buffer.byte_length()),
            ));
        }
        if ArrayBuffer::is_view(&body) {
            // The view's own bytes, whatever its element type.
            let number = |name: &str| {
                Reflect::get(&body, &name.into()).map(|v| v.as_f64().unwrap_or(0.0) as u32)
            };
            let buffer = Reflect::get(&body, &"buffer".into())?;
            let (offset, length) = (number("byteOffset")?, number("byteLength")?);
            let view = Uint8Array::new_with_byte_offset_and_length(&buffer, offset, length);
            return Ok(Self::Bytes(view.slice(0, length)));
        }
        if body.is_instance_of::<ReadableStream>() {
            return Err(type_error(
                "submit-guard: a ReadableStream body can be sent only once, so it can be neither retried nor \
                 fingerprinted; pass a string, FormData, URLSearchParams, Blob or ArrayBuffer",
            ));
        }
        Ok(Self::text(js_string_value(&body)?))
    }

    /// The body to send again with each attempt, when it can be rebuilt
    /// byte for byte: `Some(None)` for no body, `None` when the request must
    /// be cloned instead (a form's multipart serialization, a `Request`).
    pub(crate) fn resend_body(&self) -> Option<Option<JsValue>> {
        match self {
            Self::Empty => Some(None),
            Self::Text { value, .. } => Some(Some(value.into())),
            Self::Bytes(bytes) => Some(Some(bytes.into())),
            Self::Blob(blob) => Some(Some(blob.into())),
            Self::Form(_) | Self::Request(_) => None,
        }
    }

    /// The fingerprint of `method`, `url` and this payload.
    pub(crate) async fn fingerprint(self, method: &str, url: &str) -> Result<Fingerprint, JsValue> {
        let mut hash = FingerprintBuilder::new();
        hash.part(Part::Method, method.to_ascii_uppercase().as_bytes());
        hash.part(Part::Url, url.as_bytes());
        match self {
            Self::Empty => {
                hash.part(Part::NoBody, &[]);
            }
            Self::Text { text, .. } => {
                hash.part(Part::Text, text.as_bytes());
            }
            Self::Bytes(bytes) => write_bytes(&mut hash, &bytes),
            Self::Blob(blob) => write_blob(&mut hash, &blob).await?,
            Self::Form(entries) => write_form(&mut hash, &entries).await?,
            Self::Request(request) => {
                let multipart = request
                    .headers()
                    .get("content-type")?
                    .is_some_and(|t| t.to_ascii_lowercase().starts_with("multipart/form-data"));
                if multipart {
                    let form: FormData = JsFuture::from(request.form_data()?).await?.dyn_into()?;
                    write_form(&mut hash, &Array::from(&form)).await?;
                } else {
                    let buffer: ArrayBuffer =
                        JsFuture::from(request.array_buffer()?).await?.dyn_into()?;
                    write_bytes(&mut hash, &Uint8Array::new(&buffer));
                }
            }
        }
        Ok(hash.finish())
    }
}

async fn write_form(hash: &mut FingerprintBuilder, entries: &Array) -> Result<(), JsValue> {
    for entry in entries.iter() {
        let name = Reflect::get_u32(&entry, 0)?;
        let value = Reflect::get_u32(&entry, 1)?;
        hash.part(
            Part::FieldName,
            name.as_string().unwrap_or_default().as_bytes(),
        );
        match value.dyn_ref::<File>() {
            Some(file) => {
                let described = format!("{}\0{}", file.name(), file.type_());
                hash.part(Part::FieldFile, described.as_bytes());
                write_blob(hash, file).await?;
            }
            None => {
                hash.part(
                    Part::FieldText,
                    value.as_string().unwrap_or_default().as_bytes(),
                );
            }
        }
    }
    Ok(())
}

async fn write_blob(hash: &mut FingerprintBuilder, blob: &Blob) -> Result<(), JsValue> {
    let buffer: ArrayBuffer = JsFuture::from(blob.array_buffer()).await?.dyn_into()?;
    write_bytes(hash, &Uint8Array::new(&buffer));
    Ok(())
}

fn write_bytes(hash: &mut FingerprintBuilder, bytes: &Uint8Array) {
    let len = bytes.length();
    hash.begin(Part::Bytes, u64::from(len));
    let mut buffer = vec![0u8; len.min(CHUNK) as usize];
    let mut at = 0;
    while at < len {
        let end = at.saturating_add(CHUNK).min(len);
        if let Some(chunk) = buffer.get_mut(..(end - at) as usize) {
            bytes.subarray(at, end).copy_to(chunk);
            hash.write(chunk);
        }
        at = end;
    }
}
