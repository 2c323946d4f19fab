//! Fuzz targets for the core (feature `fuzz`, native only): each takes
//! arbitrary bytes, feeds them to a reader of untrusted input and checks its
//! invariants, panicking when one fails. The drivers are `fuzz/`
//! (cargo-fuzz, nightly) and `examples/fuzz.rs` (the stable driver,
//! `submit_guard_protocol::fuzz::run_targets`).

// A broken invariant is reported the way fuzzers expect: by a panic.
#![allow(clippy::panic)]

use super::options::{self, MAX_RETRY_ON, MAX_TIMER_MS, OPTIONS, Options, Problem, Reader, Type};
use super::retry::RetryAfter;
use alloc::string::String;

/// A fuzz target: panics when an invariant fails.
pub type Target = fn(&[u8]);

/// Every target, by name (the names of the `fuzz/` targets and corpora).
pub const TARGETS: [(&str, Target); 2] = [
    ("options", options),
    ("client_retry_after", client_retry_after),
];

/// Bytes, consumed from the front; zeros once they run out.
struct Bytes<'a>(&'a [u8]);

impl Bytes<'_> {
    fn byte(&mut self) -> u8 {
        let (first, rest) = self.0.split_first().unwrap_or((&0, &[]));
        self.0 = rest;
        *first
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (head, rest) = self.0.split_at(n.min(self.0.len()));
        self.0 = rest;
        head
    }

    /// Numbers as JavaScript may hand them over, edges first.
    fn number(&mut self) -> f64 {
        let pick = self.byte();
        match pick % 16 {
            0 => f64::NAN,
            1 => f64::INFINITY,
            2 => f64::NEG_INFINITY,
            3 => -0.0,
            4 => f64::MAX,
            5 => f64::from(MAX_TIMER_MS),
            6 => f64::from(MAX_TIMER_MS) + 1.0,
            7 => 2f64.powi(32) - 1.0,
            8 => 2f64.powi(53) + 2.0,
            9 => f64::from(self.byte()) + 0.5,
            10 => -f64::from(self.byte()),
            11 => f64::from_le_bytes(self.take(8).try_into().unwrap_or([0; 8])),
            12 => f64::from(u16::from_le_bytes([self.byte(), self.byte()]) % 700),
            13 => f64::MIN_POSITIVE,
            _ => f64::from(self.byte()),
        }
    }

    fn text(&mut self) -> String {
        let pick = self.byte();
        const WORDS: [&str; 8] = [
            "share",
            "reject",
            "Idempotency-Key",
            "",
            "Idem Key",
            "Schlüssel",
            "X-Key_1.2~",
            "signup",
        ];
        match WORDS.get(usize::from(pick % 12)) {
            Some(word) => (*word).into(),
            None => {
                let n = usize::from(self.byte() % 24);
                String::from_utf8_lossy(self.take(n)).into_owned()
            }
        }
    }

    /// An option name: a real one, a case slip, or any text.
    fn name(&mut self) -> String {
        let pick = self.byte();
        let real = OPTIONS.get(usize::from(pick % 16)).map(|(n, _)| *n);
        match (pick / 16 % 4, real) {
            (0 | 1, Some(name)) => name.into(),
            (2, Some(name)) => name.to_ascii_uppercase(),
            _ => self.text(),
        }
    }
}

/// What the reader must do with one value, from the documented table.
fn expect_number(name: &str, value: f64) -> Result<u32, Problem> {
    let max = if name == "retries" { 10 } else { MAX_TIMER_MS };
    if value.fract() == 0.0 && value >= 0.0 && value <= f64::from(max) {
        Ok(value as u32)
    } else {
        Err(Problem::Integer { max })
    }
}

/// The options reader, driven as `js/driver.js` drives it: each value is an
/// option name (looked up with `options::index`) and a value of some type
/// (string, boolean, number incl. NaN, ±Infinity, -0 and huge, function,
/// array length and its entries, or another type), until the first problem,
/// which the driver would throw.
///
/// Checks: never a panic; an unknown name is refused, with a suggestion
/// only for a case slip; every problem is about the option given, and is
/// exactly the one the documented table calls for; every accepted value
/// lands in its own field within the documented range, so that the
/// finished options equal a model built from the table; `crossTab` and
/// `persist` without `name` are refused naming `name`.
pub fn options(data: &[u8]) {
    let mut bytes = Bytes(data);
    let mut reader = Reader::new();
    let mut model = Options::default();
    let mut list: Option<(super::retry::StatusSet, u32)> = None;
    while !bytes.0.is_empty() {
        let name = bytes.name();
        let ix = match options::index(&name) {
            Ok(ix) => {
                assert_eq!(OPTIONS.get(ix).map(|(n, _)| *n), Some(name.as_str()));
                ix
            }
            Err(problem) => {
                let Problem::Unknown { suggestion } = problem else {
                    panic!("{name:?}: {problem:?}");
                };
                assert!(OPTIONS.iter().all(|(n, _)| *n != name), "{name:?}");
                let slip = OPTIONS
                    .iter()
                    .position(|(n, _)| n.eq_ignore_ascii_case(&name));
                assert_eq!(suggestion, slip, "{name:?}");
                return;
            }
        };
        let Some(&(name, ty)) = OPTIONS.get(ix) else {
            panic!("index {ix} out of the table");
        };
        let kind = bytes.byte() % 8;
        let wrong = Problem::Type { expected: ty };
        let (got, want): (Result<(), Problem>, Result<(), Problem>) = match kind {
            0 => {
                let text = bytes.text();
                let want = match (ty, name) {
                    (Type::Text, "headerName") if options::is_token(&text) => {
                        model.header_name = text.clone();
                        Ok(())
                    }
                    (Type::Text, "headerName") => Err(Problem::Token),
                    (Type::Text, "onDuplicate") => match text.as_str() {
                        "share" => {
                            model.settings.on_duplicate = super::state::OnDuplicate::Share;
                            Ok(())
                        }
                        "reject" => {
                            model.settings.on_duplicate = super::state::OnDuplicate::Reject;
                            Ok(())
                        }
                        _ => Err(Problem::OnDuplicate),
                    },
                    (Type::Text, _) if text.is_empty() => Err(Problem::Empty),
                    (Type::Text, _) => {
                        model.name = Some(text.clone());
                        Ok(())
                    }
                    _ => Err(wrong),
                };
                (reader.text(ix, &text), want)
            }
            1 => {
                let flag = bytes.byte() & 1 == 1;
                let field = match (ty, name) {
                    (Type::Flag, "quoteKey") => Ok(&mut model.quote_key),
                    (Type::Flag, "throwHttpErrors") => Ok(&mut model.settings.throw_http_errors),
                    (Type::Flag, "crossTab") => Ok(&mut model.cross_tab),
                    (Type::Flag, _) => Ok(&mut model.persist),
                    _ => Err(wrong),
                };
                let want = field.map(|field| *field = flag);
                (reader.flag(ix, flag), want)
            }
            2 => {
                let value = bytes.number();
                let want = if ty == Type::Number {
                    expect_number(name, value).map(|n| {
                        let p = &mut model.settings.policy;
                        match name {
                            "timeoutMs" => model.timeout_ms = n,
                            "retries" => p.retries = n,
                            "backoffMs" => p.backoff_ms = n,
                            "maxBackoffMs" => p.max_backoff_ms = n,
                            _ => p.max_retry_after_ms = n,
                        }
                    })
                } else {
                    Err(wrong)
                };
                (reader.number(ix, value), want)
            }
            3 => {
                let want = if ty == Type::Function {
                    model.fetch = true;
                    Ok(())
                } else {
                    Err(wrong)
                };
                (reader.function(ix), want)
            }
            4 => {
                let length = bytes.number();
                let fits =
                    length.fract() == 0.0 && (0.0..=f64::from(MAX_RETRY_ON)).contains(&length);
                let want = match ty {
                    Type::Numbers if fits => {
                        list = Some((Default::default(), length as u32));
                        if length == 0.0 {
                            model.settings.policy.retry_on = Default::default();
                        }
                        Ok(())
                    }
                    Type::Numbers => Err(Problem::TooLong { max: MAX_RETRY_ON }),
                    _ => Err(wrong),
                };
                (reader.list(ix, length), want)
            }
            5 | 6 => {
                let value = (kind == 5).then(|| bytes.number());
                let want = match (ty, list.as_mut(), value) {
                    (Type::Numbers, Some((set, left)), Some(status)) if *left > 0 => {
                        if status.fract() == 0.0 && (100.0..=599.0).contains(&status) {
                            set.insert(status as u16);
                            *left -= 1;
                            if *left == 0 {
                                model.settings.policy.retry_on = set.clone();
                            }
                            Ok(())
                        } else {
                            Err(Problem::Status)
                        }
                    }
                    (Type::Numbers, Some((_, left)), None) if *left > 0 => Err(wrong),
                    (Type::Numbers, _, _) => Err(Problem::TooLong { max: MAX_RETRY_ON }),
                    _ => Err(wrong),
                };
                (reader.item(ix, value), want)
            }
            _ => (Err(reader.other(ix)), Err(wrong)),
        };
        assert_eq!(got, want, "{name} ({kind})");
        if let Err(problem) = got {
            let code = problem.code();
            assert!((1..=9).contains(&(code & 0xff)), "{problem:?}");
            return;
        }
    }
    // An array cut short keeps the entries read.
    if let Some((set, left)) = list {
        if left > 0 {
            model.settings.policy.retry_on = set;
        }
    }
    match reader.finish() {
        Ok(o) => {
            assert_eq!(o, model);
            let p = &o.settings.policy;
            assert!(p.retries <= 10);
            for ms in [
                o.timeout_ms,
                p.backoff_ms,
                p.max_backoff_ms,
                p.max_retry_after_ms,
            ] {
                assert!(ms <= MAX_TIMER_MS);
            }
            assert!(options::is_token(&o.header_name));
            assert!(o.name.as_ref().is_none_or(|n| !n.is_empty()));
            assert!(o.name.is_some() || !(o.cross_tab || o.persist));
        }
        Err((ix, problem)) => {
            assert_eq!(OPTIONS.get(ix).map(|(n, _)| *n), Some("name"));
            let Problem::Needs { by } = problem else {
                panic!("{problem:?}");
            };
            let needed_by = OPTIONS.get(by).map(|(n, _)| *n);
            assert!(model.name.is_none());
            assert!(
                (needed_by == Some("crossTab") && model.cross_tab)
                    || (needed_by == Some("persist") && model.persist && !model.cross_tab),
                "{needed_by:?}"
            );
        }
    }
}

/// The client's `Retry-After` parser (first 8 bytes: `now` in ms, then the
/// value) against the server's, `submit_guard_protocol::parse_retry_after`:
/// no panic; where both accept a value they ask for the same wait; a delay
/// is the same at any `now`, a date one second later is one second nearer.
pub fn client_retry_after(data: &[u8]) {
    let mut bytes = Bytes(data);
    let mut now = [0u8; 8];
    now.copy_from_slice(&{
        let mut head = bytes.take(8).to_vec();
        head.resize(8, 0);
        head
    });
    // Keep `now` within a few millennia so that +1 s cannot overflow.
    let now_ms = u64::from_le_bytes(now) % 200_000_000_000_000;
    let value = String::from_utf8_lossy(bytes.0);
    let ours = RetryAfter::parse(&value, now_ms);
    let theirs = submit_guard_protocol::parse_retry_after(&value, now_ms);
    let Some(parsed) = ours else { return };
    let wait = parsed.delay_ms(now_ms);
    let later = parsed.delay_ms(now_ms + 1000);
    match parsed {
        RetryAfter::Delay(_) => assert_eq!(later, wait),
        RetryAfter::At(_) => assert_eq!(later, wait.saturating_sub(1000)),
    }
    if let Some(theirs) = theirs {
        assert_eq!(wait, theirs, "{value:?} at {now_ms}");
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_target_accepts_anything_small() {
        let samples: &[&[u8]] = &[
            b"",
            b"\x00",
            b"\x00\x00",
            b"\xff\xff\xff",
            b"\x05\x02\x03",
            b"\x04\x04\x0c\x01\x05\x0c\xf5\x01",
        ];
        for (name, target) in super::TARGETS {
            for sample in samples {
                std::eprintln!("{name} {sample:?}");
                target(sample);
            }
        }
    }
}
