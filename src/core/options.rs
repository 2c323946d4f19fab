//! The options table: every option's name, type, range and default.
//!
//! The driver walks the caller's object (own enumerable properties only, each
//! read once) and hands each value to a [`Reader`] as the type it has; the
//! reader decides whether the option exists, whether the type is right and
//! whether the value is in range. Problems come back as a [`Problem`], whose
//! [`Problem::code`] the driver turns into a `TypeError` or `RangeError`
//! naming the option: the messages are written in JavaScript, where they
//! cost no WebAssembly.

use alloc::borrow::ToOwned;
use alloc::string::String;

#[cfg(all(test, not(target_arch = "wasm32")))]
use super::retry::DEFAULT_RETRY_ON;
use super::retry::StatusSet;
use super::state::{OnDuplicate, Settings};

/// The JavaScript type an option takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Type {
    /// A string.
    Text = 0,
    /// A boolean.
    Flag = 1,
    /// A number.
    Number = 2,
    /// A function.
    Function = 3,
    /// An array of numbers.
    Numbers = 4,
}

/// Every option with the type it takes, in the order the messages list them.
pub const OPTIONS: [(&str, Type); 14] = [
    ("headerName", Type::Text),
    ("quoteKey", Type::Flag),
    ("timeoutMs", Type::Number),
    ("retries", Type::Number),
    ("retryOn", Type::Numbers),
    ("backoffMs", Type::Number),
    ("maxBackoffMs", Type::Number),
    ("maxRetryAfterMs", Type::Number),
    ("onDuplicate", Type::Text),
    ("throwHttpErrors", Type::Flag),
    ("fetch", Type::Function),
    ("name", Type::Text),
    ("crossTab", Type::Flag),
    ("persist", Type::Flag),
];

const HEADER_NAME: usize = 0;
const QUOTE_KEY: usize = 1;
const TIMEOUT_MS: usize = 2;
const RETRIES: usize = 3;
#[cfg(all(test, not(target_arch = "wasm32")))]
const RETRY_ON: usize = 4;
const BACKOFF_MS: usize = 5;
const MAX_BACKOFF_MS: usize = 6;
#[cfg(all(test, not(target_arch = "wasm32")))]
const MAX_RETRY_AFTER_MS: usize = 7;
const ON_DUPLICATE: usize = 8;
const THROW_HTTP_ERRORS: usize = 9;
const FETCH: usize = 10;
const NAME: usize = 11;
const CROSS_TAB: usize = 12;
const PERSIST: usize = 13;

/// The largest delay a browser timer takes (2³¹ − 1 ms, about 24.8 days).
pub const MAX_TIMER_MS: u32 = i32::MAX as u32;

/// The most entries `retryOn` may have: there are 500 statuses. A longer
/// array is refused from its length, before any entry is read.
pub const MAX_RETRY_ON: u32 = 500;

/// Validated options: the core settings plus what only the driver uses.
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
    /// Whether a `fetch` function was given.
    pub fetch: bool,
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
            fetch: false,
            name: None,
            cross_tab: false,
            persist: false,
        }
    }
}

/// What is wrong with an option. Unknown names, wrong types and too-long
/// arrays are `TypeError`s; values out of range are `RangeError`s.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Problem {
    /// Not an option; the one differing only in case, if any.
    Unknown {
        /// Index in [`OPTIONS`] of the option meant.
        suggestion: Option<usize>,
    },
    /// A value of another type than the option takes.
    Type {
        /// The type the option takes.
        expected: Type,
    },
    /// Not an integer from 0 to `max`.
    Integer {
        /// The largest value allowed.
        max: u32,
    },
    /// A `retryOn` entry that is not an HTTP status (100–599).
    Status,
    /// A `headerName` that is not a non-empty HTTP token.
    Token,
    /// An `onDuplicate` other than `"share"` or `"reject"`.
    OnDuplicate,
    /// An empty `name`.
    Empty,
    /// `name` is missing but the option at this index needs it.
    Needs {
        /// Index in [`OPTIONS`] of the option that needs `name`.
        by: usize,
    },
    /// An array longer than the option can take.
    TooLong {
        /// The most entries allowed.
        max: u32,
    },
}

impl Problem {
    /// Whether the problem is a `RangeError` (else a `TypeError`).
    pub fn is_range(self) -> bool {
        matches!(
            self,
            Self::Integer { .. } | Self::Status | Self::Token | Self::OnDuplicate | Self::Empty
        )
    }

    /// The problem as one number for the driver: the kind (1–9) in the low
    /// byte, its argument (suggestion + 1, expected type, maximum, or the
    /// needing option) above it.
    pub fn code(self) -> u64 {
        match self {
            Self::Unknown { suggestion } => 1 | (suggestion.map_or(0, |s| s as u64 + 1) << 8),
            Self::Type { expected } => 2 | ((expected as u64) << 8),
            Self::Integer { max } => 3 | (u64::from(max) << 8),
            Self::Status => 4,
            Self::Token => 5,
            Self::OnDuplicate => 6,
            Self::Empty => 7,
            Self::Needs { by } => 8 | ((by as u64) << 8),
            Self::TooLong { max } => 9 | (u64::from(max) << 8),
        }
    }
}

/// Whether `name` is an HTTP field name: a non-empty RFC 9110 token.
pub fn is_token(name: &str) -> bool {
    !name.is_empty()
        && name.bytes().all(|b| {
            b.is_ascii_alphanumeric()
                || matches!(
                    b,
                    b'!' | b'#'
                        | b'$'
                        | b'%'
                        | b'&'
                        | b'\''
                        | b'*'
                        | b'+'
                        | b'-'
                        | b'.'
                        | b'^'
                        | b'_'
                        | b'`'
                        | b'|'
                        | b'~'
                )
        })
}

/// The index of the option called `name`, or why there is none.
pub fn index(name: &str) -> Result<usize, Problem> {
    OPTIONS
        .iter()
        .position(|(option, _)| *option == name)
        .ok_or_else(|| Problem::Unknown {
            suggestion: OPTIONS
                .iter()
                .position(|(option, _)| option.eq_ignore_ascii_case(name)),
        })
}

/// Whether `value` is a whole number from 0 to `max`. (Checked by a round
/// trip through `u32`, which is exact in that range, rather than `% 1.0`,
/// which costs a software `fmod` in WebAssembly.)
fn whole(value: f64, max: u32) -> bool {
    (0.0..=f64::from(max)).contains(&value) && f64::from(value as u32) == value
}

fn integer(value: f64, max: u32) -> Result<u32, Problem> {
    if whole(value, max) {
        // In range and whole, so the conversion is exact.
        Ok(value as u32)
    } else {
        Err(Problem::Integer { max })
    }
}

/// Reads options one value at a time; [`Reader::finish`] checks the ones
/// that depend on each other.
#[derive(Debug, Default)]
pub struct Reader {
    options: Options,
    /// The list being read into `retryOn`, with the entries still expected.
    list: Option<(StatusSet, u32)>,
}

impl Reader {
    /// A reader holding the defaults.
    pub fn new() -> Self {
        Self::default()
    }

    fn expect(ix: usize, ty: Type) -> Result<(), Problem> {
        match OPTIONS.get(ix) {
            Some((_, expected)) if *expected == ty => Ok(()),
            Some((_, expected)) => Err(Problem::Type {
                expected: *expected,
            }),
            None => Err(Problem::Unknown { suggestion: None }),
        }
    }

    /// Option `ix` given a value of a type no option takes (an object, a
    /// symbol, a bigint).
    pub fn other(&self, ix: usize) -> Problem {
        match OPTIONS.get(ix) {
            Some((_, expected)) => Problem::Type {
                expected: *expected,
            },
            None => Problem::Unknown { suggestion: None },
        }
    }

    /// Option `ix` given a string.
    pub fn text(&mut self, ix: usize, value: &str) -> Result<(), Problem> {
        Self::expect(ix, Type::Text)?;
        let o = &mut self.options;
        match ix {
            HEADER_NAME if is_token(value) => o.header_name = value.to_owned(),
            HEADER_NAME => return Err(Problem::Token),
            ON_DUPLICATE => {
                o.settings.on_duplicate = match value {
                    "share" => OnDuplicate::Share,
                    "reject" => OnDuplicate::Reject,
                    _ => return Err(Problem::OnDuplicate),
                }
            }
            NAME if value.is_empty() => return Err(Problem::Empty),
            _ => o.name = Some(value.to_owned()),
        }
        Ok(())
    }

    /// Option `ix` given a boolean.
    pub fn flag(&mut self, ix: usize, value: bool) -> Result<(), Problem> {
        Self::expect(ix, Type::Flag)?;
        let o = &mut self.options;
        match ix {
            QUOTE_KEY => o.quote_key = value,
            THROW_HTTP_ERRORS => o.settings.throw_http_errors = value,
            CROSS_TAB => o.cross_tab = value,
            _ => o.persist = value,
        }
        Ok(())
    }

    /// Option `ix` given a number.
    pub fn number(&mut self, ix: usize, value: f64) -> Result<(), Problem> {
        Self::expect(ix, Type::Number)?;
        let value = integer(value, if ix == RETRIES { 10 } else { MAX_TIMER_MS })?;
        let o = &mut self.options;
        let p = &mut o.settings.policy;
        *match ix {
            TIMEOUT_MS => &mut o.timeout_ms,
            RETRIES => &mut p.retries,
            BACKOFF_MS => &mut p.backoff_ms,
            MAX_BACKOFF_MS => &mut p.max_backoff_ms,
            _ => &mut p.max_retry_after_ms,
        } = value;
        Ok(())
    }

    /// Option `ix` given a function (the driver keeps the function).
    pub fn function(&mut self, ix: usize) -> Result<(), Problem> {
        Self::expect(ix, Type::Function)?;
        self.options.fetch = ix == FETCH;
        Ok(())
    }

    /// Option `ix` given an array of `length` entries (as the array reports
    /// it: nothing is allocated from it). The entries follow through
    /// [`Reader::item`].
    pub fn list(&mut self, ix: usize, length: f64) -> Result<(), Problem> {
        Self::expect(ix, Type::Numbers)?;
        if !whole(length, MAX_RETRY_ON) {
            return Err(Problem::TooLong { max: MAX_RETRY_ON });
        }
        self.list = Some((StatusSet::default(), length as u32));
        Ok(())
    }

    /// The next entry of the array started by [`Reader::list`]: a number, or
    /// `None` for anything else (a hole, a string).
    pub fn item(&mut self, ix: usize, value: Option<f64>) -> Result<(), Problem> {
        Self::expect(ix, Type::Numbers)?;
        let Some((set, left)) = self.list.as_mut().filter(|(_, left)| *left > 0) else {
            return Err(Problem::TooLong { max: MAX_RETRY_ON });
        };
        let Some(status) = value else {
            return Err(Problem::Type {
                expected: Type::Numbers,
            });
        };
        if !whole(status, 599) || status < 100.0 {
            return Err(Problem::Status);
        }
        set.insert(status as u16);
        *left -= 1;
        if *left == 0 {
            self.end_list();
        }
        Ok(())
    }

    fn end_list(&mut self) {
        if let Some((set, _)) = self.list.take() {
            self.options.settings.policy.retry_on = set;
        }
    }

    /// The options, once every value has been read; or the first problem
    /// that involves more than one option, with the option it is about.
    pub fn finish(mut self) -> Result<Options, (usize, Problem)> {
        self.end_list();
        let o = self.options;
        if o.name.is_none() {
            if o.cross_tab {
                return Err((NAME, Problem::Needs { by: CROSS_TAB }));
            }
            if o.persist {
                return Err((NAME, Problem::Needs { by: PERSIST }));
            }
        }
        Ok(o)
    }
}

#[cfg(all(test, not(target_arch = "wasm32")))]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_options_are_the_documented_defaults() {
        let o = Reader::new().finish().unwrap();
        assert_eq!(o, Options::default());
        assert_eq!(o.header_name, "Idempotency-Key");
        assert_eq!(o.timeout_ms, 30_000);
        assert!(!o.quote_key && !o.fetch && !o.cross_tab && !o.persist);
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
        assert_eq!(s.policy.retry_on, DEFAULT_RETRY_ON.into_iter().collect());
        assert_eq!(s.on_duplicate, OnDuplicate::Share);
        assert!(s.throw_http_errors);
    }

    fn ix(name: &str) -> usize {
        index(name).unwrap()
    }

    #[test]
    fn names_are_exact_and_a_case_slip_is_suggested() {
        assert_eq!(index("timeoutMs"), Ok(TIMEOUT_MS));
        assert_eq!(
            index("timeOutMS"),
            Err(Problem::Unknown {
                suggestion: Some(TIMEOUT_MS)
            })
        );
        assert_eq!(index("speed"), Err(Problem::Unknown { suggestion: None }));
        assert_eq!(index(""), Err(Problem::Unknown { suggestion: None }));
        assert_eq!(
            Problem::Unknown {
                suggestion: Some(2)
            }
            .code(),
            1 | (3 << 8)
        );
        assert_eq!(Problem::Unknown { suggestion: None }.code(), 1);
    }

    #[test]
    fn good_values_are_taken() {
        let mut r = Reader::new();
        r.text(ix("headerName"), "X-Request-Id").unwrap();
        r.flag(ix("quoteKey"), true).unwrap();
        r.number(ix("timeoutMs"), 0.0).unwrap();
        r.number(ix("retries"), 10.0).unwrap();
        r.list(ix("retryOn"), 3.0).unwrap();
        for s in [503.0, 100.0, 599.0] {
            r.item(ix("retryOn"), Some(s)).unwrap();
        }
        r.number(ix("backoffMs"), 0.0).unwrap();
        r.number(ix("maxBackoffMs"), 100.0).unwrap();
        r.number(ix("maxRetryAfterMs"), f64::from(MAX_TIMER_MS))
            .unwrap();
        r.text(ix("onDuplicate"), "reject").unwrap();
        r.flag(ix("throwHttpErrors"), false).unwrap();
        r.function(ix("fetch")).unwrap();
        r.text(ix("name"), "signup").unwrap();
        r.flag(ix("crossTab"), true).unwrap();
        r.flag(ix("persist"), true).unwrap();
        let o = r.finish().unwrap();
        assert_eq!(
            (o.header_name.as_str(), o.quote_key, o.timeout_ms, o.fetch),
            ("X-Request-Id", true, 0, true)
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
    fn an_empty_retry_on_retries_no_status() {
        let mut r = Reader::new();
        r.list(ix("retryOn"), 0.0).unwrap();
        let o = r.finish().unwrap();
        assert!(!o.settings.policy.retry_on.contains(503));
    }

    #[test]
    fn every_option_lands_in_its_own_field() {
        let mut seen = Vec::new();
        for (i, (name, ty)) in OPTIONS.iter().enumerate() {
            let mut r = Reader::new();
            match ty {
                Type::Text if *name == "onDuplicate" => r.text(i, "reject").unwrap(),
                Type::Text => r.text(i, "x").unwrap(),
                Type::Flag => r.flag(i, *name != "throwHttpErrors").unwrap(),
                Type::Number => r.number(i, 7.0).unwrap(),
                Type::Function => r.function(i).unwrap(),
                Type::Numbers => {
                    r.list(i, 1.0).unwrap();
                    r.item(i, Some(418.0)).unwrap();
                }
            }
            if *name == "crossTab" || *name == "persist" {
                r.text(ix("name"), "n").unwrap();
            }
            let field = format!("{:?}", r.finish().unwrap());
            assert_ne!(field, format!("{:?}", Options::default()), "{name}");
            assert!(
                !seen.contains(&field),
                "{name} lands in another option's field"
            );
            seen.push(field);
        }
    }

    #[test]
    fn wrong_types_name_the_expected_type() {
        let mut r = Reader::new();
        assert_eq!(
            r.text(ix("retries"), "2"),
            Err(Problem::Type {
                expected: Type::Number
            })
        );
        assert_eq!(
            r.number(ix("quoteKey"), 1.0),
            Err(Problem::Type {
                expected: Type::Flag
            })
        );
        assert_eq!(
            r.flag(ix("fetch"), true),
            Err(Problem::Type {
                expected: Type::Function
            })
        );
        assert_eq!(
            r.other(ix("retryOn")),
            Problem::Type {
                expected: Type::Numbers
            }
        );
        assert_eq!(
            r.function(ix("name")),
            Err(Problem::Type {
                expected: Type::Text
            })
        );
        assert_eq!(r.list(99, 1.0), Err(Problem::Unknown { suggestion: None }));
        assert_eq!(
            Problem::Type {
                expected: Type::Numbers
            }
            .code(),
            2 | (4 << 8)
        );
    }

    #[test]
    fn out_of_range_values_are_range_errors() {
        let r = || Reader::new();
        let cases: Vec<(Result<(), Problem>, Problem)> = vec![
            (r().number(RETRIES, 11.0), Problem::Integer { max: 10 }),
            (r().number(RETRIES, -1.0), Problem::Integer { max: 10 }),
            (r().number(RETRIES, 1.5), Problem::Integer { max: 10 }),
            (
                r().number(TIMEOUT_MS, f64::NAN),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(TIMEOUT_MS, f64::INFINITY),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(TIMEOUT_MS, f64::NEG_INFINITY),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(TIMEOUT_MS, 2_147_483_648.0),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(BACKOFF_MS, -5.0),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(MAX_BACKOFF_MS, 0.1),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (
                r().number(MAX_RETRY_AFTER_MS, -1.0),
                Problem::Integer { max: MAX_TIMER_MS },
            ),
            (r().text(HEADER_NAME, ""), Problem::Token),
            (r().text(HEADER_NAME, "Idem Key"), Problem::Token),
            (r().text(HEADER_NAME, "Schlüssel"), Problem::Token),
            (r().text(ON_DUPLICATE, "queue"), Problem::OnDuplicate),
            (r().text(NAME, ""), Problem::Empty),
        ];
        for (got, want) in cases {
            assert_eq!(got, Err(want));
            assert!(want.is_range(), "{want:?}");
        }
        let mut status = Reader::new();
        status.list(RETRY_ON, 2.0).unwrap();
        status.item(RETRY_ON, Some(503.0)).unwrap();
        for bad in [99.0, 600.0, 503.5, f64::NAN, -0.5] {
            assert_eq!(
                status.item(RETRY_ON, Some(bad)),
                Err(Problem::Status),
                "{bad}"
            );
        }
        assert_eq!(
            status.item(RETRY_ON, None),
            Err(Problem::Type {
                expected: Type::Numbers
            })
        );
    }

    #[test]
    fn arrays_are_refused_from_their_length_before_any_entry() {
        for length in [
            501.0,
            2f64.powi(27),
            2f64.powi(28),
            2f64.powi(32) - 1.0,
            f64::NAN,
            -1.0,
            1.5,
        ] {
            let mut r = Reader::new();
            assert_eq!(
                r.list(RETRY_ON, length),
                Err(Problem::TooLong { max: MAX_RETRY_ON }),
                "{length}"
            );
            assert!(!Problem::TooLong { max: 1 }.is_range());
        }
        // More entries than announced are refused too.
        let mut r = Reader::new();
        r.list(RETRY_ON, 1.0).unwrap();
        r.item(RETRY_ON, Some(500.0)).unwrap();
        assert_eq!(
            r.item(RETRY_ON, Some(501.0)),
            Err(Problem::TooLong { max: MAX_RETRY_ON })
        );
    }

    #[test]
    fn cross_tab_and_persist_need_a_name() {
        for by in [CROSS_TAB, PERSIST] {
            let mut r = Reader::new();
            r.flag(by, true).unwrap();
            assert_eq!(r.finish(), Err((NAME, Problem::Needs { by })));
        }
        let mut off = Reader::new();
        off.flag(CROSS_TAB, false).unwrap();
        off.flag(PERSIST, false).unwrap();
        assert!(off.finish().is_ok());
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

    proptest! {
        /// Whatever is thrown at it, the reader answers (never panics), and
        /// a refused value leaves the defaults in place.
        #[test]
        fn any_value_gets_an_answer(i in 0usize..20, n in proptest::num::f64::ANY, text in "\\PC{0,20}", b in any::<bool>()) {
            let mut r = Reader::new();
            let results = [r.number(i, n), r.text(i, &text), r.flag(i, b), r.list(i, n), r.item(i, Some(n)), r.function(i)];
            for result in results {
                if let Err(problem) = result {
                    prop_assert!(problem.code() & 0xff >= 1 && problem.code() & 0xff <= 9);
                }
            }
            let _ = r.finish();
        }
    }
}
