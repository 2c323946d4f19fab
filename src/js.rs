//! JavaScript names and bindings used on every submission.
//!
//! A Rust `&str` handed to JavaScript is decoded into a new JavaScript
//! string on each crossing. The property names read and written on every
//! submission are made once per page instead, and the request's URL is
//! handed to `new Request` as the caller's own value, never copied through
//! Rust and back.

use js_sys::JsString;
use wasm_bindgen::prelude::*;
use web_sys::Request;

// rustfmt would drop the statics' initializers, which it cannot parse.
#[rustfmt::skip]
#[wasm_bindgen]
extern "C" {
    /// `"body"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static BODY: JsString = "body";
    /// `"headers"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static HEADERS: JsString = "headers";
    /// `"method"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static METHOD: JsString = "method";
    /// `"signal"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static SIGNAL: JsString = "signal";
    /// `"url"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static URL: JsString = "url";
    /// `"retry-after"`
    #[wasm_bindgen(thread_local_v2, static_string)]
    pub(crate) static RETRY_AFTER: JsString = "retry-after";

    /// `new Request(input, init)`, with `input` as the caller gave it.
    #[wasm_bindgen(js_name = Request, extends = Request)]
    pub(crate) type NewRequest;

    #[wasm_bindgen(constructor, catch, js_class = Request)]
    fn new(input: &JsValue, init: &JsValue) -> Result<NewRequest, JsValue>;

    /// `Headers`, for [`get_header`].
    #[wasm_bindgen(js_name = Headers)]
    type NamedHeaders;

    #[wasm_bindgen(method, catch, js_name = get)]
    fn get(this: &NamedHeaders, name: &JsString) -> Result<Option<String>, JsValue>;
}

/// `headers.get(name)` with a name made once.
pub(crate) fn get_header(
    headers: &web_sys::Headers,
    name: &'static wasm_bindgen::JsThreadLocal<JsString>,
) -> Result<Option<String>, JsValue> {
    name.with(|name| headers.unchecked_ref::<NamedHeaders>().get(name))
}

/// `new Request(input, init)`.
pub(crate) fn new_request(input: &JsValue, init: &JsValue) -> Result<Request, JsValue> {
    NewRequest::new(input, init).map(Into::into)
}

/// `Reflect.get(target, name)` with a name made once.
pub(crate) fn get(
    target: &JsValue,
    name: &'static wasm_bindgen::JsThreadLocal<JsString>,
) -> Result<JsValue, JsValue> {
    name.with(|name| js_sys::Reflect::get(target, name))
}

/// `Reflect.set(target, name, value)` with a name made once.
pub(crate) fn set(
    target: &JsValue,
    name: &'static wasm_bindgen::JsThreadLocal<JsString>,
    value: &JsValue,
) -> Result<(), JsValue> {
    name.with(|name| js_sys::Reflect::set(target, name, value))
        .map(drop)
}
