//! Calendar arithmetic for epoch seconds (no date crate needed for what we format and parse).

/// Days since 1970-01-01 for a proleptic Gregorian date, or `None` for an impossible one.
pub fn days_from_civil(year: i64, month: u32, day: u32) -> Option<u64> {
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || year < 1970 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (i64::from(month) + 9) % 12;
    let doy = (153 * mp + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    u64::try_from(era * 146_097 + doe - 719_468).ok()
}

/// `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(days: u64) -> (i64, u32, u32) {
    let z = days as i64 + 719_468;
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
    let (y, mo, d) = civil_from_days(epoch / 86_400);
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
