//! Calendar arithmetic for epoch seconds (no date crate needed for what we format and parse).

/// Days since 1970-01-01 for a proleptic Gregorian date, or `None` for an impossible one or
/// one before 1970.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    u64::try_from(days_since_epoch(year, month, day)).ok()
}

/// Days since 1970-01-01 for any proleptic Gregorian date, negative before 1970; no range
/// checks (Howard Hinnant's algorithm). The one calendar the client and the emulator share.
pub fn days_since_epoch(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of a day count since 1970-01-01 (negative before 1970).
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

/// Epoch seconds as ISO 8601 UTC: `2024-05-01T12:00:00Z`.
pub fn iso8601(epoch: u64) -> String {
    let (y, mo, d) = civil_from_days((epoch / 86_400) as i64);
    let s = epoch % 86_400;
    format!(
        "{y:04}-{mo:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s % 3600 / 60,
        s % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (784_111_777, "1994-11-06T08:49:37Z"),
            (1_709_210_096, "2024-02-29T12:34:56Z"),
        ];
        for (epoch, iso) in cases {
            assert_eq!(iso8601(epoch), iso);
            let days = days_from_civil(
                iso[0..4].parse().unwrap(),
                iso[5..7].parse().unwrap(),
                iso[8..10].parse().unwrap(),
            );
            assert_eq!(days, Some(epoch / 86_400));
        }
        assert_eq!(days_from_civil(2024, 13, 1), None);
    }
}

/// An instant parsed from ISO 8601: whole epoch seconds and nanoseconds.
pub type Instant = (u64, u32);

/// Parses `2021-07-17T14:09:54Z`, `…54.1234567Z`, `…54+02:00` or a bare date `2021-07-17`.
/// Graph sends 0 to 7 fractional digits, so instants are compared, never strings.
pub fn parse_iso8601(text: &str) -> Option<Instant> {
    let text = text.trim();
    let (date, rest) = text.split_at_checked(10)?;
    let mut parts = date.split('-');
    let (y, mo, d) = (
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
        parts.next()?.parse().ok()?,
    );
    let days = days_from_civil(y, mo, d)?;
    if rest.is_empty() {
        return Some((days * 86_400, 0));
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    let (clock, offset) = split_offset(rest)?;
    let (hms, fraction) = clock.split_once('.').unwrap_or((clock, ""));
    let mut fields = hms.split(':').map(|f| f.parse::<u64>().ok());
    let (h, m, s) = (fields.next()??, fields.next()??, fields.next().unwrap_or(Some(0))?);
    if h > 23 || m > 59 || s > 60 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let nanos = format!("{fraction:0<9}").get(..9)?.parse().ok()?;
    let seconds = (days * 86_400 + h * 3600 + m * 60 + s).checked_add_signed(-offset)?;
    Some((seconds, nanos))
}

/// Splits `14:09:54.1Z` / `14:09:54+02:00` into the clock and the offset in seconds.
fn split_offset(rest: &str) -> Option<(&str, i64)> {
    if let Some(clock) = rest.strip_suffix(['Z', 'z']) {
        return Some((clock, 0));
    }
    let Some(at) = rest.rfind(['+', '-']) else {
        return Some((rest, 0));
    };
    let (clock, offset) = rest.split_at(at);
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (oh, om) = offset[1..].split_once(':').unwrap_or((&offset[1..], "0"));
    Some((
        clock,
        sign * (oh.parse::<i64>().ok()? * 3600 + om.parse::<i64>().ok()? * 60),
    ))
}

/// An instant as Graph writes it, `2021-07-17T14:09:54.1234567Z`: always UTC and always seven
/// fractional digits (Graph's 100 ns ticks), so one instant has exactly one text.
pub fn iso8601_graph((seconds, nanos): Instant) -> String {
    let whole = iso8601(seconds);
    format!("{}.{:07}Z", &whole[..19], nanos / 100)
}

/// The instant truncated to Graph's precision (100 ns), so that an instant read back from
/// [`iso8601_graph`] compares equal to the one written.
pub fn graph_ticks((seconds, nanos): Instant) -> Instant {
    (seconds, nanos - nanos % 100)
}

/// An instant as `2021-07-17T14:09:54.123456Z` (microseconds, as XSOAR's `occurred`).
pub fn iso8601_micros((seconds, nanos): Instant) -> String {
    let whole = iso8601(seconds);
    format!("{}.{:06}Z", &whole[..19], nanos / 1000)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn instants() {
        let base = 1_626_530_994; // 2021-07-17T14:09:54Z
        let cases = [
            ("2021-07-17T14:09:54Z", Some((base, 0))),
            ("2021-07-17T14:09:54.1234567Z", Some((base, 123_456_700))),
            ("2021-07-17T14:09:54.5", Some((base, 500_000_000))),
            ("2021-07-17T16:09:54+02:00", Some((base, 0))),
            ("2021-07-17T13:09:54-01:00", Some((base, 0))),
            ("2021-07-17", Some((base - 14 * 3600 - 9 * 60 - 54, 0))),
            ("2021-07-17T14:09Z", Some((base - 54, 0))),
            ("", None),
            ("yesterday", None),
            ("2021-13-01T00:00:00Z", None),
            ("2021-07-17T25:00:00Z", None),
            ("2021-07-17T14:09:54.12a4Z", None),
            ("2021-07-17T14:09:54.1234567890123Z", Some((base, 123_456_789))),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_iso8601(text), expected, "{text}");
        }
        assert_eq!(iso8601_micros((base, 123_456_700)), "2021-07-17T14:09:54.123456Z");
    }

    #[test]
    fn graph_form_has_seven_digits_and_round_trips() {
        let base = 1_626_530_994; // 2021-07-17T14:09:54Z
        let cases = [
            ((base, 0), "2021-07-17T14:09:54.0000000Z"),
            ((base, 123_456_700), "2021-07-17T14:09:54.1234567Z"),
            ((base, 123_456_789), "2021-07-17T14:09:54.1234567Z"),
        ];
        for (instant, text) in cases {
            assert_eq!(iso8601_graph(instant), text);
            assert_eq!(parse_iso8601(text), Some(graph_ticks(instant)), "{text}");
        }
    }
}

/// A point in the past: `12 hours`, `7 days`, `2 weeks`, `3 months` (30 days), `1 year`
/// (optionally followed by `ago`), an ISO 8601 date or time, or epoch seconds.
pub fn parse_since(text: &str, now: u64) -> Option<u64> {
    let text = text.trim();
    if let Some(instant) = parse_iso8601(text) {
        return Some(instant.0);
    }
    if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
        return text.parse().ok();
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    let (count, unit) = match words.as_slice() {
        [count, unit] | [count, unit, "ago"] => (count.parse::<u64>().ok()?, unit.to_ascii_lowercase()),
        _ => return None,
    };
    let seconds = match unit.trim_end_matches('s') {
        "second" | "sec" => 1,
        "minute" | "min" => 60,
        "hour" => 3_600,
        "day" => 86_400,
        "week" => 7 * 86_400,
        "month" => 30 * 86_400,
        "year" => 365 * 86_400,
        _ => return None,
    };
    now.checked_sub(count.checked_mul(seconds)?)
}

#[cfg(test)]
mod since_tests {
    use super::*;

    #[test]
    fn relative_and_absolute() {
        let now = 1_700_000_000;
        let cases = [
            ("12 hours", Some(now - 43_200)),
            ("7 days", Some(now - 604_800)),
            ("1 day", Some(now - 86_400)),
            ("2 Weeks ago", Some(now - 1_209_600)),
            ("3 minutes", Some(now - 180)),
            ("2024-01-01", Some(1_704_067_200)),
            ("2024-01-01T00:00:00.5Z", Some(1_704_067_200)),
            ("1704067200", Some(1_704_067_200)),
            ("tomorrow", None),
            ("5 fortnights", None),
            ("-3 days", None),
            ("", None),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_since(text, now), expected, "{text}");
        }
    }
}
