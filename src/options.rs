//! JavaScript options → validated settings.
//!
//! The options object is read once, in the constructor: unknown names and
//! each option's type are checked on the JavaScript object, then the values
//! are validated here. A wrong type is a `TypeError` and a value out of range
//! a `RangeError`, both naming the option. `undefined` and `null` mean
//! "default". Numbers arrive as JavaScript numbers.

use crate::core::retry::{DEFAULT_RETRY_ON, RetryPolicy, StatusSet};
use crate::core::state::{OnDuplicate, Settings};

/// The options object as JavaScript passes it, before validation.
#[derive(Debug, Default)]
pub struct RawOptions {
    /// `headerName`
    pub header_name: Option<String>,
    /// `quoteKey`
    pub quote_key: Option<bool>,
    /// `timeoutMs`
    pub timeout_ms: Option<f64>,
    /// `retries`
    pub retries: Option<f64>,
    /// `retryOn`
    pub retry_on: Option<Vec<f64>>,
    /// `backoffMs`
    pub backoff_ms: Option<f64>,
    /// `maxBackoffMs`
    pub max_backoff_ms: Option<f64>,
    /// `maxRetryAfterMs`
    pub max_retry_after_ms: Option<f64>,
    /// `onDuplicate`
    pub on_duplicate: Option<String>,
    /// `throwHttpErrors`
    pub throw_http_errors: Option<bool>,
    /// `name`
    pub name: Option<String>,
    /// `crossTab`
    pub cross_tab: Option<bool>,
    /// `persist`
    pub persist: Option<bool>,
}

/// Every option with the JavaScript type it takes, for error messages.
pub const OPTIONS: [(&str, &str); 14] = [
    ("headerName", "a string"),
    ("quoteKey", "a boolean"),
    ("timeoutMs", "a number"),
    ("retries", "a number"),
    ("retryOn", "an array of numbers"),
    ("backoffMs", "a number"),
    ("maxBackoffMs", "a number"),
    ("maxRetryAfterMs", "a number"),
    ("onDuplicate", "a string"),
    ("throwHttpErrors", "a boolean"),
    ("fetch", "a function"),
    ("name", "a string"),
    ("crossTab", "a boolean"),
    ("persist", "a boolean"),
];

/// The largest delay a browser timer takes (2³¹ − 1 ms, about 24.8 days).
pub const MAX_TIMER_MS: u32 = i32::MAX as u32;

/// Validated options: the core settings plus what only the binding uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Options {
    /// Retry policy, duplicate handling and HTTP error handling.
    pub settings: Settings,
    /// The header that carries the key.
    pub header_name: String,
    /// Whether the key is sent as an RFC 8941 sf-string (`"…"`).
    pub quote_key: bool,
    /// Per-attempt timeout in milliseconds; 0 means none.
    pub timeout_ms: u32,
    /// The form's identity across tabs and reloads.
    pub name: Option<String>,
    /// Whether one tab at a time submits this form (Web Locks).
    pub cross_tab: bool,
    /// Whether the pending key survives a reload (`sessionStorage`).
    pub persist: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            settings: Settings::default(),
            header_name: "Idempotency-Key".to_owned(),
            quote_key: false,
            timeout_ms: 30_000,
            name: None,
            cross_tab: false,
            persist: false,
        }
    }
}

/// Which JavaScript error an option problem becomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionErrorKind {
    /// Unknown option, or a value of the wrong type: `TypeError`.
    Type,
    /// A value of the right type but outside what is allowed: `RangeError`.
    Range,
}

/// A problem with the options, naming the option.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("SubmitGuard option `{option}` {problem}")]
pub struct OptionError {
    /// `TypeError` or `RangeError`.
    pub kind: OptionErrorKind,
    /// The option's JavaScript name.
    pub option: String,
    /// What is wrong, e.g. "must be an integer from 0 to 10, got 11".
    pub problem: String,
}

impl OptionError {
    /// A value out of range.
    pub fn range(option: &str, problem: String) -> Self {
        Self {
            kind: OptionErrorKind::Range,
            option: option.to_owned(),
            problem,
        }
    }

    /// A value of the wrong type.
    pub fn wrong_type(option: &str, got: &str) -> Self {
        let expected = OPTIONS
            .iter()
            .find(|(name, _)| *name == option)
            .map_or("something else", |(_, ty)| ty);
        Self {
            kind: OptionErrorKind::Type,
            option: option.to_owned(),
            problem: format!("must be {expected}, got {got}"),
        }
    }

    /// An option that does not exist; suggests the one differing only in case.
    pub fn unknown(option: &str) -> Self {
        let problem = match OPTIONS
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case(option))
        {
            Some((name, _)) => format!("is not an option; did you mean `{name}`?"),
            None => {
                let known: Vec<&str> = OPTIONS.iter().map(|(name, _)| *name).collect();
                format!("is not an option; the options are {}", known.join(", "))
            }
        };
        Self {
            kind: OptionErrorKind::Type,
            option: option.to_owned(),
            problem,
        }
    }

    /// An option that needs another one that is missing.
    pub fn needs(option: &str, needed_by: &str) -> Self {
        Self {
            kind: OptionErrorKind::Type,
            option: option.to_owned(),
            problem: format!(
                "is required when `{needed_by}` is on: it names the form across tabs and reloads"
            ),
        }
    }

    /// The first of `names` that is not an option, as an error.
    pub fn check_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<(), Self> {
        match names
            .into_iter()
            .find(|n| !OPTIONS.iter().any(|(name, _)| name == n))
        {
            Some(unknown) => Err(Self::unknown(unknown)),
            None => Ok(()),
        }
    }
}

/// A number as JavaScript would print it (`NaN`, `Infinity`, `1.5`, `11`).
#[cfg(not(target_arch = "wasm32"))]
fn js_number(v: f64) -> String {
    match v {
        v if v.is_nan() => "NaN".to_owned(),
        f64::INFINITY => "Infinity".to_owned(),
        f64::NEG_INFINITY => "-Infinity".to_owned(),
        v => v.to_string(),
    }
}

/// A number as JavaScript prints it: by JavaScript, which keeps Rust's float
/// formatting (some 15 KB) out of the WebAssembly.
#[cfg(target_arch = "wasm32")]
fn js_number(v: f64) -> String {
    crate::body::js_string(&v.into()).unwrap_or_default()
}

fn integer(option: &str, value: Option<f64>, default: u32, max: u32) -> Result<u32, OptionError> {
    let Some(v) = value else { return Ok(default) };
    if v.fract() == 0.0 && (0.0..=f64::from(max)).contains(&v) {
        // In range and whole, so the conversion is exact.
        Ok(v as u32)
    } else {
        let got = js_number(v);
        Err(OptionError::range(
            option,
            format!("must be an integer from 0 to {max}, got {got}"),
        ))
    }
}

/// Whether `name` is an HTTP field name: a non-empty RFC 9110 token.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// An option's value, read from JavaScript as the type [`OPTIONS`] gives it.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// `a string`
    Text(String),
    /// `a boolean`
    Flag(bool),
    /// `a number`
    Number(f64),
    /// `an array of numbers`
    Numbers(Vec<f64>),
}

impl RawOptions {
    /// Sets the option called `name` (its JavaScript name) to `value`. Returns
    /// whether `name` and the type of `value` were those of an option read
    /// here (`fetch` stays a JavaScript value and is not one of them).
    pub fn set(&mut self, name: &str, value: Value) -> bool {
        use Value::{Flag, Number, Numbers, Text};
        match (name, value) {
            ("headerName", Text(v)) => self.header_name = Some(v),
            ("quoteKey", Flag(v)) => self.quote_key = Some(v),
            ("timeoutMs", Number(v)) => self.timeout_ms = Some(v),
            ("retries", Number(v)) => self.retries = Some(v),
            ("retryOn", Numbers(v)) => self.retry_on = Some(v),
            ("backoffMs", Number(v)) => self.backoff_ms = Some(v),
            ("maxBackoffMs", Number(v)) => self.max_backoff_ms = Some(v),
            ("maxRetryAfterMs", Number(v)) => self.max_retry_after_ms = Some(v),
            ("onDuplicate", Text(v)) => self.on_duplicate = Some(v),
            ("throwHttpErrors", Flag(v)) => self.throw_http_errors = Some(v),
            ("name", Text(v)) => self.name = Some(v),
            ("crossTab", Flag(v)) => self.cross_tab = Some(v),
            ("persist", Flag(v)) => self.persist = Some(v),
            _ => return false,
        }
        true
    }

    /// Checks every value and builds the settings. The first problem found is
    /// returned, naming its option.
    pub fn validate(&self) -> Result<Options, OptionError> {
        let defaults = Options::default();
        let policy_defaults = RetryPolicy::default();
        let header_name = match &self.header_name {
            None => defaults.header_name,
            Some(name) if is_token(name) => name.clone(),
            Some(name) => {
                return Err(OptionError::range(
                    "headerName",
                    format!(
                        "must be a non-empty HTTP token (letters, digits and !#$%&'*+-.^_`|~), got {name:?}"
                    ),
                ));
            }
        };
        let retry_on = match &self.retry_on {
            None => DEFAULT_RETRY_ON.into_iter().collect(),
            Some(list) => {
                let mut set = StatusSet::default();
                for &status in list {
                    if status.fract() != 0.0 || !(100.0..=599.0).contains(&status) {
                        return Err(OptionError::range(
                            "retryOn",
                            format!(
                                "must hold HTTP statuses from 100 to 599, got {}",
                                js_number(status)
                            ),
                        ));
                    }
                    set.insert(status as u16);
                }
                set
            }
        };
        let on_duplicate = match self.on_duplicate.as_deref() {
            None | Some("share") => OnDuplicate::Share,
            Some("reject") => OnDuplicate::Reject,
            Some(other) => {
                return Err(OptionError::range(
                    "onDuplicate",
                    format!("must be \"share\" or \"reject\", got {other:?}"),
                ));
            }
        };
        let policy = RetryPolicy {
            retries: integer("retries", self.retries, policy_defaults.retries, 10)?,
            retry_on,
            backoff_ms: integer(
                "backoffMs",
                self.backoff_ms,
                policy_defaults.backoff_ms,
                MAX_TIMER_MS,
            )?,
            max_backoff_ms: integer(
                "maxBackoffMs",
                self.max_backoff_ms,
                policy_defaults.max_backoff_ms,
                MAX_TIMER_MS,
            )?,
            max_retry_after_ms: integer(
                "maxRetryAfterMs",
                self.max_retry_after_ms,
                policy_defaults.max_retry_after_ms,
                MAX_TIMER_MS,
            )?,
        };
        let name = match &self.name {
            Some(name) if name.is_empty() => {
                return Err(OptionError::range(
                    "name",
                    "must be a non-empty string".to_owned(),
                ));
            }
            name => name.clone(),
        };
        let cross_tab = self.cross_tab.unwrap_or(false);
        let persist = self.persist.unwrap_or(false);
        if name.is_none() {
            if cross_tab {
                return Err(OptionError::needs("name", "crossTab"));
            }
            if persist {
                return Err(OptionError::needs("name", "persist"));
            }
        }
        Ok(Options {
            settings: Settings {
                policy,
                on_duplicate,
                throw_http_errors: self
                    .throw_http_errors
                    .unwrap_or(defaults.settings.throw_http_errors),
            },
            header_name,
            quote_key: self.quote_key.unwrap_or(defaults.quote_key),
            timeout_ms: integer(
                "timeoutMs",
                self.timeout_ms,
                defaults.timeout_ms,
                MAX_TIMER_MS,
            )?,
            name,
            cross_tab,
            persist,
        })
    }
}

#[cfg(target_arch = "wasm32")]
#[wasm_bindgen::prelude::wasm_bindgen(typescript_custom_section)]
const OPTIONS_TS: &str = r#"
/** Options of `new SubmitGuard(options)`; all optional. */
export interface SubmitGuardOptions {
  /** Header that carries the key; an HTTP token. Default `"Idempotency-Key"`. */
  headerName?: string;
  /** Send the key as an RFC 8941 sf-string (`"…"`), as the IETF draft writes it. Default `false`. */
  quoteKey?: boolean;
  /** Per-attempt timeout in milliseconds; `0` for none. Default `30000`. */
  timeoutMs?: number;
  /** Automatic retries of a retryable outcome, 0–10. Default `2`. */
  retries?: number;
  /** Retryable statuses (100–599). Default `[408, 409, 425, 429, 500, 502, 503, 504]`. Network errors and attempt timeouts are always retryable. */
  retryOn?: number[];
  /** Base of the exponential backoff with full jitter, in ms. Default `300`. */
  backoffMs?: number;
  /** Cap of the backoff, in ms. Default `5000`. */
  maxBackoffMs?: number;
  /** The longest `Retry-After` honoured, in ms; a longer one stops the retries. Default `60000`. */
  maxRetryAfterMs?: number;
  /** What a call made while a submission is in flight gets: its result (`"share"`) or a `DUPLICATE` error (`"reject"`). Default `"share"`. */
  onDuplicate?: "share" | "reject";
  /** Reject a final non-2xx with code `HTTP` (`true`) or resolve with the response (`false`). Default `true`. */
  throwHttpErrors?: boolean;
  /** The `fetch` to call, with each attempt's `Request` (key header and abort signal included). Default: the global `fetch` at call time. */
  fetch?: (request: Request) => Promise<Response>;
  /** The form's identity across tabs and reloads; required by `crossTab` and `persist`. */
  name?: string;
  /** One tab at a time submits this form (Web Locks); the others share its result (`"share"`) or reject with `CROSS_TAB` (`"reject"`). Default `false`. */
  crossTab?: boolean;
  /** Keep the pending key in `sessionStorage`, so a resubmit after a reload is replayed, not repeated. Default `false`. */
  persist?: boolean;
}
"#;

/// Reads and validates the options object given to the constructor; returns
/// the options and the `fetch` function, if one was given.
#[cfg(target_arch = "wasm32")]
pub(crate) fn from_js(
    value: &wasm_bindgen::JsValue,
) -> Result<(Options, Option<js_sys::Function>), wasm_bindgen::JsValue> {
    use wasm_bindgen::JsCast;

    use crate::error::{option_error, type_error};

    if value.is_undefined() || value.is_null() {
        return Ok((Options::default(), None));
    }
    if !value.is_object() || value.is_function() || js_sys::Array::is_array(value) {
        let got = describe(value);
        return Err(type_error(&format!(
            "SubmitGuard options must be an object, got {got}"
        )));
    }
    // Unknown names first, then each option read as its type, so the error
    // names the option and what it got.
    let object: &js_sys::Object = value.unchecked_ref();
    let names: Vec<String> = js_sys::Object::keys(object)
        .iter()
        .filter_map(|k| k.as_string())
        .collect();
    OptionError::check_names(names.iter().map(String::as_str)).map_err(|e| option_error(&e))?;
    let mut raw = RawOptions::default();
    let mut fetch = None;
    for (name, expected) in OPTIONS {
        let got = js_sys::Reflect::get(value, &name.into())?;
        if got.is_undefined() || got.is_null() {
            continue;
        }
        match read(expected, got) {
            Ok(Read::Value(value)) => {
                raw.set(name, value);
            }
            Ok(Read::Function(function)) => fetch = Some(function),
            Err(problem) => return Err(option_error(&OptionError::wrong_type(name, &problem))),
        }
    }
    let options = raw.validate().map_err(|e| option_error(&e))?;
    Ok((options, fetch))
}

/// An option's value as read from JavaScript.
#[cfg(target_arch = "wasm32")]
enum Read {
    /// A plain value, for [`RawOptions::set`].
    Value(Value),
    /// The `fetch` option, kept as the JavaScript function.
    Function(js_sys::Function),
}

/// `got` read as the type `expected` names (as written in [`OPTIONS`]), or
/// what is wrong with it.
#[cfg(target_arch = "wasm32")]
fn read(expected: &str, got: wasm_bindgen::JsValue) -> Result<Read, String> {
    use wasm_bindgen::JsCast;

    let value = match expected {
        "a string" => got.as_string().map(Value::Text),
        "a boolean" => got.as_bool().map(Value::Flag),
        "a number" => got.as_f64().map(Value::Number),
        "a function" => {
            return got
                .dyn_into::<js_sys::Function>()
                .map(Read::Function)
                .map_err(|got| describe(&got));
        }
        _ => {
            if !js_sys::Array::is_array(&got) {
                return Err(describe(&got));
            }
            let list: &js_sys::Array = got.unchecked_ref();
            let mut numbers = Vec::with_capacity(list.length() as usize);
            for item in list.iter() {
                let number = item
                    .as_f64()
                    .ok_or_else(|| format!("an array holding {}", describe(&item)))?;
                numbers.push(number);
            }
            Some(Value::Numbers(numbers))
        }
    };
    value.map(Read::Value).ok_or_else(|| describe(&got))
}

/// A short description of a JavaScript value for error messages.
#[cfg(target_arch = "wasm32")]
fn describe(value: &wasm_bindgen::JsValue) -> String {
    if let Some(text) = value.as_string() {
        let shown: String = text.chars().take(40).collect();
        return format!("the string {shown:?}");
    }
    if let Some(n) = value.as_f64() {
        return format!("the number {}", js_number(n));
    }
    if let Some(b) = value.as_bool() {
        return b.to_string();
    }
    if value.is_null() {
        return "null".to_owned();
    }
    if value.is_undefined() {
        return "undefined".to_owned();
    }
    if value.is_function() {
        return "a function".to_owned();
    }
    if js_sys::Array::is_array(value) {
        return "an array".to_owned();
    }
    match value.js_typeof().as_string().as_deref() {
        Some("object") => "an object".to_owned(),
        Some(other) => format!("a {other}"),
        None => "a value".to_owned(),
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;

    #[test]
    fn empty_options_are_the_documented_defaults() {
        let o = RawOptions::default().validate().unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.header_name, "Idempotency-Key");
        assert_eq!(o.timeout_ms, 30_000);
        assert!(!o.quote_key);
        let s = &o.settings;
        assert_eq!(
            (
                s.policy.retries,
                s.policy.backoff_ms,
                s.policy.max_backoff_ms
            ),
            (2, 300, 5_000)
        );
        assert_eq!(s.policy.max_retry_after_ms, 60_000);
        assert_eq!(s.on_duplicate, OnDuplicate::Share);
        assert!(s.throw_http_errors);
    }

    /// A value of the type `expected` names, unlike any default.
    fn sample(expected: &str) -> Value {
        match expected {
            "a string" => Value::Text("x".into()),
            "a boolean" => Value::Flag(true),
            "a number" => Value::Number(7.0),
            _ => Value::Numbers(vec![418.0]),
        }
    }

    #[test]
    fn every_option_is_read_into_its_own_field() {
        let mut seen = Vec::new();
        for (name, expected) in OPTIONS.into_iter().filter(|(n, _)| *n != "fetch") {
            let mut raw = RawOptions::default();
            assert!(raw.set(name, sample(expected)), "{name} is not read");
            let field = format!("{raw:?}");
            assert_ne!(field, format!("{:?}", RawOptions::default()), "{name}");
            assert!(
                !seen.contains(&field),
                "{name} lands in another option's field"
            );
            seen.push(field);
        }
        assert_eq!(seen.len(), OPTIONS.len() - 1);
    }

    #[test]
    fn a_value_of_another_type_or_an_unknown_name_is_not_read() {
        let mut raw = RawOptions::default();
        assert!(!raw.set("retries", Value::Text("2".into())));
        assert!(!raw.set("Retries", Value::Number(2.0)));
        assert!(!raw.set("fetch", Value::Flag(true)));
        assert_eq!(format!("{raw:?}"), format!("{:?}", RawOptions::default()));
    }

    #[test]
    fn good_values_are_taken() {
        let raw = RawOptions {
            header_name: Some("X-Request-Id".into()),
            quote_key: Some(true),
            timeout_ms: Some(0.0),
            retries: Some(10.0),
            retry_on: Some(vec![503.0, 100.0, 599.0]),
            backoff_ms: Some(0.0),
            max_backoff_ms: Some(100.0),
            max_retry_after_ms: Some(f64::from(MAX_TIMER_MS)),
            on_duplicate: Some("reject".into()),
            throw_http_errors: Some(false),
            name: Some("signup".into()),
            cross_tab: Some(true),
            persist: Some(true),
        };
        let o = raw.validate().unwrap();
        assert_eq!(
            (o.header_name.as_str(), o.quote_key, o.timeout_ms),
            ("X-Request-Id", true, 0)
        );
        let p = &o.settings.policy;
        assert_eq!(
            (
                p.retries,
                p.backoff_ms,
                p.max_backoff_ms,
                p.max_retry_after_ms
            ),
            (10, 0, 100, MAX_TIMER_MS)
        );
        assert!(p.retry_on.contains(503) && p.retry_on.contains(100) && p.retry_on.contains(599));
        assert!(!p.retry_on.contains(500));
        assert_eq!(o.settings.on_duplicate, OnDuplicate::Reject);
        assert!(!o.settings.throw_http_errors);
        assert_eq!(
            (o.name.as_deref(), o.cross_tab, o.persist),
            (Some("signup"), true, true)
        );
    }

    #[test]
    fn cross_tab_and_persist_need_a_name() {
        for (raw, needed_by) in [
            (
                RawOptions {
                    cross_tab: Some(true),
                    ..Default::default()
                },
                "crossTab",
            ),
            (
                RawOptions {
                    persist: Some(true),
                    ..Default::default()
                },
                "persist",
            ),
        ] {
            let err = raw.validate().unwrap_err();
            assert_eq!(
                (err.kind, err.option.as_str()),
                (OptionErrorKind::Type, "name")
            );
            assert!(
                err.to_string()
                    .contains(&format!("required when `{needed_by}` is on")),
                "{err}"
            );
        }
        let off = RawOptions {
            cross_tab: Some(false),
            persist: Some(false),
            ..Default::default()
        };
        assert!(off.validate().is_ok());
        let empty = RawOptions {
            name: Some(String::new()),
            ..Default::default()
        };
        assert_eq!(empty.validate().unwrap_err().kind, OptionErrorKind::Range);
    }

    #[test]
    fn out_of_range_values_are_range_errors_naming_the_option() {
        let cases: Vec<(RawOptions, &str, &str)> = vec![
            (
                RawOptions {
                    retries: Some(11.0),
                    ..Default::default()
                },
                "retries",
                "from 0 to 10, got 11",
            ),
            (
                RawOptions {
                    retries: Some(-1.0),
                    ..Default::default()
                },
                "retries",
                "got -1",
            ),
            (
                RawOptions {
                    retries: Some(1.5),
                    ..Default::default()
                },
                "retries",
                "got 1.5",
            ),
            (
                RawOptions {
                    timeout_ms: Some(f64::NAN),
                    ..Default::default()
                },
                "timeoutMs",
                "got NaN",
            ),
            (
                RawOptions {
                    timeout_ms: Some(f64::INFINITY),
                    ..Default::default()
                },
                "timeoutMs",
                "got Infinity",
            ),
            (
                RawOptions {
                    timeout_ms: Some(2_147_483_648.0),
                    ..Default::default()
                },
                "timeoutMs",
                "2147483647",
            ),
            (
                RawOptions {
                    backoff_ms: Some(-5.0),
                    ..Default::default()
                },
                "backoffMs",
                "got -5",
            ),
            (
                RawOptions {
                    max_backoff_ms: Some(0.1),
                    ..Default::default()
                },
                "maxBackoffMs",
                "got 0.1",
            ),
            (
                RawOptions {
                    max_retry_after_ms: Some(-1.0),
                    ..Default::default()
                },
                "maxRetryAfterMs",
                "got -1",
            ),
            (
                RawOptions {
                    retry_on: Some(vec![503.0, 99.0]),
                    ..Default::default()
                },
                "retryOn",
                "got 99",
            ),
            (
                RawOptions {
                    retry_on: Some(vec![600.0]),
                    ..Default::default()
                },
                "retryOn",
                "got 600",
            ),
            (
                RawOptions {
                    retry_on: Some(vec![503.5]),
                    ..Default::default()
                },
                "retryOn",
                "got 503.5",
            ),
            (
                RawOptions {
                    header_name: Some(String::new()),
                    ..Default::default()
                },
                "headerName",
                "got \"\"",
            ),
            (
                RawOptions {
                    header_name: Some("Idem Key".into()),
                    ..Default::default()
                },
                "headerName",
                "\"Idem Key\"",
            ),
            (
                RawOptions {
                    header_name: Some("Schlüssel".into()),
                    ..Default::default()
                },
                "headerName",
                "token",
            ),
            (
                RawOptions {
                    on_duplicate: Some("queue".into()),
                    ..Default::default()
                },
                "onDuplicate",
                "got \"queue\"",
            ),
        ];
        for (raw, option, needle) in cases {
            let err = raw.validate().unwrap_err();
            assert_eq!(err.kind, OptionErrorKind::Range, "{option}");
            assert_eq!(err.option, option);
            let text = err.to_string();
            assert!(
                text.starts_with(&format!("SubmitGuard option `{option}` ")),
                "{text}"
            );
            assert!(text.contains(needle), "{text} should contain {needle}");
        }
    }

    #[test]
    fn type_errors_say_what_was_expected() {
        let e = OptionError::wrong_type("timeoutMs", "string");
        assert_eq!(e.kind, OptionErrorKind::Type);
        assert_eq!(
            e.to_string(),
            "SubmitGuard option `timeoutMs` must be a number, got string"
        );
        let e = OptionError::unknown("timeOutMs");
        assert_eq!(e.kind, OptionErrorKind::Type);
        assert_eq!(
            e.to_string(),
            "SubmitGuard option `timeOutMs` is not an option; did you mean `timeoutMs`?"
        );
        let e = OptionError::unknown("speed");
        assert!(e.to_string().starts_with(
            "SubmitGuard option `speed` is not an option; the options are headerName, quoteKey,"
        ));
        assert_eq!(OptionError::check_names(["retries", "fetch"]), Ok(()));
        assert_eq!(
            OptionError::check_names(["retries", "speed", "x"]),
            Err(OptionError::unknown("speed"))
        );
    }

    #[test]
    fn tokens() {
        for good in ["Idempotency-Key", "x", "X-Key_1.2~", "!#$%&'*+-.^_`|~"] {
            assert!(is_token(good), "{good}");
        }
        for bad in ["", " ", "a b", "a:b", "a\"", "ä", "a\n", "(x)"] {
            assert!(!is_token(bad), "{bad:?}");
        }
    }
}
