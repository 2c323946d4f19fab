//! The `Retry-After` response header (RFC 9110 §10.2.3).
//!
//! `Retry-After = HTTP-date / delay-seconds`. An HTTP-date is sent as an
//! IMF-fixdate, and recipients must also accept the two obsolete forms
//! (RFC 9110 §5.6.7): RFC 850 dates and ANSI C `asctime()` dates.

/// How long to wait, in milliseconds from `now_ms` (milliseconds since the
/// Unix epoch), before retrying, from a `Retry-After` value; `None` if the
/// value is neither form.
///
/// - `delay-seconds` (`120`): that many seconds. More digits than fit are
///   "very long" (`u64::MAX`), never an error.
/// - An HTTP-date (`Sun, 06 Nov 1994 08:49:37 GMT`, `Sunday, 06-Nov-94
///   08:49:37 GMT` or `Sun Nov  6 08:49:37 1994`): the time until then, `0`
///   if it has passed. The day name must match the date. A two-digit RFC 850
///   year more than 50 years ahead of `now_ms` is read as the latest past
///   year with those digits (RFC 9110 §5.6.7).
///
/// Surrounding spaces and tabs are ignored; names are case-sensitive, as the
/// grammar says.
pub fn parse_retry_after(value: &str, now_ms: u64) -> Option<u64> {
    let value = value.trim_matches([' ', '\t']).as_bytes();
    if !value.is_empty() && value.iter().all(u8::is_ascii_digit) {
        let seconds = value.iter().try_fold(0u64, |n, &d| {
            n.checked_mul(10)?.checked_add(u64::from(d - b'0'))
        });
        return Some(seconds.map_or(u64::MAX, |s| s.saturating_mul(1000)));
    }
    let at_ms = parse_http_date(value, now_ms)?;
    Some(u64::try_from(at_ms).map_or(0, |at| at.saturating_sub(now_ms)))
}

/// Milliseconds since the Unix epoch of an HTTP-date in any of its three
/// forms (negative before 1970).
fn parse_http_date(value: &[u8], now_ms: u64) -> Option<i64> {
    let (weekday, date) = imf_fixdate(value)
        .or_else(|| rfc850_date(value, now_ms))
        .or_else(|| asctime_date(value))?;
    let days = days_from_civil(date.year, date.month, date.day);
    if weekday != (days + 4).rem_euclid(7) {
        return None;
    }
    Some((days * 86_400 + date.seconds) * 1000)
}

/// A calendar date and the seconds into that day.
struct Date {
    year: i64,
    month: u32,
    day: u32,
    seconds: i64,
}

const DAYS: [&[u8]; 7] = [b"Sun", b"Mon", b"Tue", b"Wed", b"Thu", b"Fri", b"Sat"];
const LONG_DAYS: [&[u8]; 7] = [
    b"Sunday",
    b"Monday",
    b"Tuesday",
    b"Wednesday",
    b"Thursday",
    b"Friday",
    b"Saturday",
];
const MONTHS: [&[u8]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];

/// A cursor over the value, consuming exact pieces of the grammar.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn literal(&mut self, text: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(text)?;
        Some(())
    }

    /// The index in `names` of the name that comes next.
    fn one_of(&mut self, names: &[&[u8]]) -> Option<i64> {
        let (index, rest) = names
            .iter()
            .enumerate()
            .find_map(|(i, name)| Some((i, self.0.strip_prefix(*name)?)))?;
        self.0 = rest;
        i64::try_from(index).ok()
    }

    /// Exactly `n` digits.
    fn digits(&mut self, n: usize) -> Option<u32> {
        let head = self.0.get(..n)?;
        if !head.iter().all(u8::is_ascii_digit) {
            return None;
        }
        self.0 = self.0.get(n..)?;
        Some(head.iter().fold(0, |v, &d| v * 10 + u32::from(d - b'0')))
    }

    /// `hour ":" minute ":" second`, as seconds into the day (a leap second
    /// `60` is allowed, as the grammar allows it).
    fn time_of_day(&mut self) -> Option<i64> {
        let hour = self.digits(2)?;
        self.literal(b":")?;
        let minute = self.digits(2)?;
        self.literal(b":")?;
        let second = self.digits(2)?;
        if hour > 23 || minute > 59 || second > 60 {
            return None;
        }
        Some(i64::from(hour * 3600 + minute * 60 + second))
    }

    fn end(&self) -> Option<()> {
        self.0.is_empty().then_some(())
    }
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`
fn imf_fixdate(value: &[u8]) -> Option<(i64, Date)> {
    let mut c = Cursor(value);
    let weekday = c.one_of(&DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b" ")?;
    let month = c.one_of(&MONTHS)?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.literal(b" ")?;
    let seconds = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    Some((weekday, date(i64::from(year), month, day, seconds)?))
}

/// `Sunday, 06-Nov-94 08:49:37 GMT`
fn rfc850_date(value: &[u8], now_ms: u64) -> Option<(i64, Date)> {
    let mut c = Cursor(value);
    let weekday = c.one_of(&LONG_DAYS)?;
    c.literal(b", ")?;
    let day = c.digits(2)?;
    c.literal(b"-")?;
    let month = c.one_of(&MONTHS)?;
    c.literal(b"-")?;
    let yy = i64::from(c.digits(2)?);
    c.literal(b" ")?;
    let seconds = c.time_of_day()?;
    c.literal(b" GMT")?;
    c.end()?;
    let now_year = civil_year(i64::try_from(now_ms / 86_400_000).unwrap_or(i64::MAX / 2));
    let mut year = now_year - now_year.rem_euclid(100) + yy;
    if year > now_year + 50 {
        year -= 100;
    }
    Some((weekday, date(year, month, day, seconds)?))
}

/// `Sun Nov  6 08:49:37 1994` (the day padded with a space, or two digits)
fn asctime_date(value: &[u8]) -> Option<(i64, Date)> {
    let mut c = Cursor(value);
    let weekday = c.one_of(&DAYS)?;
    c.literal(b" ")?;
    let month = c.one_of(&MONTHS)?;
    c.literal(b" ")?;
    let day = if c.literal(b" ").is_some() {
        c.digits(1)?
    } else {
        c.digits(2)?
    };
    c.literal(b" ")?;
    let seconds = c.time_of_day()?;
    c.literal(b" ")?;
    let year = c.digits(4)?;
    c.end()?;
    Some((weekday, date(i64::from(year), month, day, seconds)?))
}

/// A checked date: `month` is 0-based, as [`Cursor::one_of`] returns it.
fn date(year: i64, month: i64, day: u32, seconds: i64) -> Option<Date> {
    let month = u32::try_from(month + 1).ok()?;
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    };
    (1..=days_in_month).contains(&day).then_some(Date {
        year,
        month,
        day,
        seconds,
    })
}

/// Days from 1970-01-01 to the given proleptic Gregorian date (Howard
/// Hinnant's `days_from_civil`).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month = i64::from(month);
    let day_of_year =
        (153 * (if month > 2 { month - 3 } else { month + 9 }) + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

/// The year of the day `days` after 1970-01-01 (Hinnant's `civil_from_days`).
fn civil_year(days: i64) -> i64 {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    year_of_era + era * 400 + i64::from(month_index >= 10)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 1994-11-06T08:49:37Z, the RFC's example, in ms.
    const RFC_EXAMPLE_MS: u64 = 784_111_777_000;
    /// 2026-11-30T12:00:00Z.
    const NOW_2026: u64 = 1_796_040_000_000;

    #[test]
    fn delay_seconds() {
        let cases: &[(&str, Option<u64>)] = &[
            ("0", Some(0)),
            ("1", Some(1000)),
            ("120", Some(120_000)),
            (" 5\t", Some(5000)),
            ("007", Some(7000)),
            ("18446744073709551", Some(18_446_744_073_709_551_000)),
            ("18446744073709552", Some(u64::MAX)),
            ("99999999999999999999999", Some(u64::MAX)),
            ("", None),
            ("-1", None),
            ("+1", None),
            ("1.5", None),
            ("1 2", None),
            ("１", None),
        ];
        for (value, expected) in cases {
            assert_eq!(parse_retry_after(value, NOW_2026), *expected, "{value:?}");
        }
    }

    #[test]
    fn the_three_date_forms_name_the_same_instant() {
        for value in [
            "Sun, 06 Nov 1994 08:49:37 GMT",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun Nov 06 08:49:37 1994",
        ] {
            assert_eq!(
                parse_http_date(value.as_bytes(), NOW_2026),
                Some(RFC_EXAMPLE_MS as i64),
                "{value}"
            );
            assert_eq!(
                parse_retry_after(value, RFC_EXAMPLE_MS - 1500),
                Some(1500),
                "{value}"
            );
            assert_eq!(
                parse_retry_after(value, NOW_2026),
                Some(0),
                "{value}: in the past"
            );
        }
    }

    #[test]
    fn known_dates() {
        let cases: &[(&str, i64)] = &[
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Wed, 31 Dec 1969 23:59:59 GMT", -1000),
            ("Tue, 29 Feb 2000 00:00:00 GMT", 951_782_400_000),
            ("Tue, 29 Feb 2028 12:34:56 GMT", 1_835_440_496_000),
            ("Mon, 30 Nov 2026 12:00:00 GMT", NOW_2026 as i64),
            ("Fri, 31 Dec 9999 23:59:59 GMT", 253_402_300_799_000),
            ("Sat, 01 Jan 0000 00:00:00 GMT", -62_167_219_200_000),
            ("Tue, 19 Jan 2038 03:14:08 GMT", 2_147_483_648_000),
            ("Wed, 31 Dec 2025 23:59:60 GMT", 1_767_225_600_000),
        ];
        for (value, ms) in cases {
            assert_eq!(
                parse_http_date(value.as_bytes(), NOW_2026),
                Some(*ms),
                "{value}"
            );
        }
    }

    #[test]
    fn rfc850_years_are_at_most_50_years_ahead() {
        // In 2026, "76" is 2076 (50 years ahead) but "77" is 1977.
        let year = |value: &str| {
            parse_http_date(value.as_bytes(), NOW_2026)
                .map(|ms| civil_year((ms / 1000).div_euclid(86_400)))
        };
        assert_eq!(year("Wednesday, 01-Jan-76 00:00:00 GMT"), Some(2076));
        assert_eq!(year("Saturday, 01-Jan-77 00:00:00 GMT"), Some(1977));
        assert_eq!(year("Thursday, 01-Jan-26 00:00:00 GMT"), Some(2026));
        assert_eq!(year("Saturday, 01-Jan-00 00:00:00 GMT"), Some(2000));
    }

    #[test]
    fn malformed_dates_are_refused() {
        for value in [
            "Mon, 06 Nov 1994 08:49:37 GMT", // wrong day name
            "sun, 06 Nov 1994 08:49:37 GMT", // names are case-sensitive
            "Sun, 06 nov 1994 08:49:37 GMT",
            "Sun, 6 Nov 1994 08:49:37 GMT", // IMF-fixdate days have two digits
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 06 Nov 1994 08:49:37 GMT x",
            "Sun, 06 Nov 1994 24:00:00 GMT",
            "Sun, 06 Nov 1994 08:60:00 GMT",
            "Sun, 06 Nov 1994 08:49:61 GMT",
            "Sun, 31 Nov 1994 08:49:37 GMT",
            "Sun, 00 Nov 1994 08:49:37 GMT",
            "Thu, 29 Feb 1900 00:00:00 GMT", // 1900 is no leap year
            "Sun, 06 Nov 94 08:49:37 GMT",
            "Sun, 06-Nov-94 08:49:37 GMT", // RFC 850 wants the long name
            "Sunday, 06-Nov-1994 08:49:37 GMT",
            "Sun Nov 6 08:49:37 1994", // asctime pads the day
            "Sun Nov  6 08:49:37 1994 GMT",
            "Sun,  06 Nov 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 8:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37",
            "Sunday",
            "Sun, 06 Nov 1994 08:49:3",
        ] {
            assert_eq!(parse_retry_after(value, NOW_2026), None, "{value:?}");
        }
    }

    #[test]
    fn civil_year_inverts_days_from_civil() {
        for (year, month, day) in [
            (1970, 1, 1),
            (1969, 12, 31),
            (2000, 2, 29),
            (2100, 3, 1),
            (0, 1, 1),
            (9999, 12, 31),
        ] {
            assert_eq!(civil_year(days_from_civil(year, month, day)), year);
        }
    }
}
