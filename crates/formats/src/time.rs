//! Instants on the wire: the one ISO 8601 parser and formatter (jiff, always UTC) that the client
//! and the emulator share.

use std::borrow::Cow;

use jiff::Timestamp;
use jiff::civil::Time;
use jiff::fmt::temporal::Pieces;
use jiff::tz::Offset;

/// An instant parsed from ISO 8601: whole epoch seconds and nanoseconds.
pub type Instant = (u64, u32);

/// Parses `2021-07-17T14:09:54Z`, `…54.1234567Z`, `…54+02:00` or a bare date `2021-07-17`.
/// Graph sends 0 to 7 fractional digits, so instants are compared, never strings. Instants
/// before 1970 are `None`: they do not fit an [`Instant`].
pub fn parse_iso8601(text: &str) -> Option<Instant> {
    let at = parse_timestamp(text)?;
    Some((
        u64::try_from(at.as_second()).ok()?,
        u32::try_from(at.subsec_nanosecond()).ok()?,
    ))
}

/// The parser behind [`parse_iso8601`], for any year jiff holds (the emulator compares pre-1970
/// instants too): extended-format date, optional time (`T`, `t` or a space before it, seconds
/// optional), optional `Z` or numeric offset; no offset means UTC.
pub fn parse_timestamp(text: &str) -> Option<Timestamp> {
    let text = text.trim();
    // Extended format only: jiff also reads `20210717`, which would turn eight-digit numbers into dates.
    if text.get(4..5) != Some("-") {
        return None;
    }
    let text = at_most_nine_fraction_digits(text);
    let pieces = Pieces::parse(&*text).ok()?;
    // A named zone (`[Europe/Paris]`) would need the time-zone database this build leaves out.
    if pieces.time_zone_annotation().is_some() {
        return None;
    }
    let offset = pieces.offset().map_or(Offset::UTC, |offset| offset.to_numeric_offset());
    let civil = pieces.date().to_datetime(pieces.time().unwrap_or(Time::midnight()));
    offset.to_timestamp(civil).ok()
}

/// Drops fractional-second digits after the ninth: jiff refuses more than nine, and they are
/// below the nanosecond an [`Instant`] keeps anyway.
fn at_most_nine_fraction_digits(text: &str) -> Cow<'_, str> {
    let Some(dot) = text.find('.') else {
        return Cow::Borrowed(text);
    };
    let digits = text[dot + 1..].bytes().take_while(u8::is_ascii_digit).count();
    if digits <= 9 {
        return Cow::Borrowed(text);
    }
    Cow::Owned(format!("{}{}", &text[..dot + 10], &text[dot + 1 + digits..]))
}

/// `instant` as ISO 8601 UTC with `digits` fractional digits (truncated, none for 0). An
/// instant past jiff's last one (9999-12-30T22:00:00Z) is written as that last one.
fn format_utc((seconds, nanos): Instant, digits: usize) -> String {
    let at = i64::try_from(seconds)
        .ok()
        .zip(i32::try_from(nanos).ok())
        .and_then(|(seconds, nanos)| Timestamp::new(seconds, nanos).ok())
        .unwrap_or(Timestamp::MAX);
    format!("{at:.digits$}")
}

/// Epoch seconds as ISO 8601 UTC: `2024-05-01T12:00:00Z`.
pub fn iso8601(epoch: u64) -> String {
    format_utc((epoch, 0), 0)
}

/// An instant as Graph writes it, `2021-07-17T14:09:54.1234567Z`: always UTC and always seven
/// fractional digits (Graph's 100 ns ticks), so one instant has exactly one text.
pub fn iso8601_graph(instant: Instant) -> String {
    format_utc(instant, 7)
}

/// The instant truncated to Graph's precision (100 ns), so that an instant read back from
/// [`iso8601_graph`] compares equal to the one written.
pub fn graph_ticks((seconds, nanos): Instant) -> Instant {
    (seconds, nanos - nanos % 100)
}

/// An instant as `2021-07-17T14:09:54.123456Z` (microseconds, as XSOAR's `occurred`).
pub fn iso8601_micros(instant: Instant) -> String {
    format_utc(instant, 6)
}

#[cfg(test)]
mod parse_tests {
    use super::*;

    #[test]
    fn whole_seconds_round_trip() {
        let cases = [
            (0, "1970-01-01T00:00:00Z"),
            (784_111_777, "1994-11-06T08:49:37Z"),
            (1_709_210_096, "2024-02-29T12:34:56Z"),
            (u64::MAX, "9999-12-30T22:00:00Z"),
        ];
        for (epoch, iso) in cases {
            assert_eq!(iso8601(epoch), iso);
            assert_eq!(
                parse_iso8601(iso).map(|(seconds, _)| seconds),
                Some(epoch.min(253_402_207_200))
            );
        }
    }

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
            ("2021-07-17 14:09:54z", Some((base, 0))),
            ("2021-07-17t14:09:54", Some((base, 0))),
            (" 2021-07-17T14:09:54Z ", Some((base, 0))),
            (
                "2021-07-17T14:09:54.1234567890123+02:00",
                Some((base - 7200, 123_456_789)),
            ),
            ("2021-02-29", None),
            ("20210717", None),
            ("2021-07-17T14:09:54Z[Europe/Paris]", None),
            ("1969-12-31T23:59:59Z", None),
            ("1970-01-01T00:30:00+01:00", None),
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
