//! Event times and `--since` values, as microseconds since the Unix epoch (UTC).
//!
//! KubeArmor writes `UpdatedTime` as RFC 3339 (`2023-08-23T18:05:48.301798Z`; some versions leave
//! the offset out, which means UTC) and `Timestamp` as whole seconds; older events have only one.

use crate::event::Event;

/// When `ev` happened: its `UpdatedTime`, else its `Timestamp`, else `None`.
pub fn event_time(ev: &Event<'_>) -> Option<i64> {
    parse_rfc3339(&ev.updated_time).or_else(|| (ev.timestamp > 0).then(|| ev.timestamp.saturating_mul(1_000_000)))
}

/// `YYYY-MM-DD(T| )HH:MM:SS[.fraction][Z|±HH:MM]` to microseconds; no offset means UTC.
pub fn parse_rfc3339(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 19 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    // Digits only (no sign, no blanks), by hand: every event's time goes through here.
    let num = |from: usize, to: usize| -> Option<i64> {
        b.get(from..to)?.iter().try_fold(0i64, |n, &c| c.is_ascii_digit().then(|| n * 10 + i64::from(c - b'0')))
    };
    let (year, month, day) = (num(0, 4)?, num(5, 7)?, num(8, 10)?);
    let (hour, minute, second) = (num(11, 13)?, num(14, 16)?, num(17, 19)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &s[19..];
    let mut micros = 0i64;
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        // Microseconds: the first six digits, right-padded.
        for i in 0..6 {
            micros = micros * 10 + if i < digits { i64::from(frac.as_bytes()[i] - b'0') } else { 0 };
        }
        rest = &frac[digits..];
    }
    let offset_minutes = match rest {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match rest.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let hm = rest.get(1..)?;
            if hm.len() != 5 || hm.as_bytes()[2] != b':' {
                return None;
            }
            let (h, m): (i64, i64) = (hm[..2].parse().ok()?, hm[3..].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            sign * (h * 60 + m)
        }
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
    Some(secs * 1_000_000 + micros)
}

/// Microseconds to `YYYY-MM-DDTHH:MM:SSZ` (whole seconds: what a table needs).
pub fn format_rfc3339(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

/// `90s`, `10m`, `2h`, `1d`, `1h30m` to microseconds.
pub fn parse_duration(s: &str) -> Option<i64> {
    let mut total = 0i64;
    let mut rest = s.trim();
    if rest.is_empty() {
        return None;
    }
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let n: i64 = rest[..digits].parse().ok()?;
        let unit = rest[digits..].chars().next()?;
        let scale = match unit {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(scale)?.checked_mul(1_000_000)?)?;
        rest = &rest[digits + 1..];
    }
    Some(total)
}

/// Now, for `--since DURATION`.
pub fn now_micros() -> i64 {
    let since_epoch = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    i64::try_from(since_epoch.as_micros()).unwrap_or(i64::MAX)
}

fn is_leap(y: i64) -> bool {
    y % 4 == 0 && (y % 100 != 0 || y % 400 == 0)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

// Howard Hinnant's days_from_civil / civil_from_days (proleptic Gregorian calendar).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_round_trips_kubearmor_times() {
        // 1692813948 is the Timestamp KubeArmor wrote beside this UpdatedTime.
        assert_eq!(parse_rfc3339("2023-08-23T18:05:48.301798Z"), Some(1_692_813_948_301_798));
        assert_eq!(parse_rfc3339("2023-08-23T18:05:48Z"), Some(1_692_813_948_000_000));
        // No offset: UTC (kubearmor-events.md's alert table).
        assert_eq!(parse_rfc3339("2023-06-27T12:21:47.932526"), Some(1_687_868_507_932_526));
        assert_eq!(parse_rfc3339("2023-08-23T20:05:48.3+02:00"), Some(1_692_813_948_300_000));
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(format_rfc3339(1_692_813_948_301_798), "2023-08-23T18:05:48Z");
        assert_eq!(format_rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_rfc3339(parse_rfc3339("2024-02-29T23:59:59Z").unwrap()), "2024-02-29T23:59:59Z");
        for bad in [
            "",
            "2023-08-23",
            "2023-13-01T00:00:00Z",
            "2023-02-29T00:00:00Z",
            "2023-08-23T18:05:48.Z",
            "2023-08-23T18:05:48+2",
            "2023-08-23T18:05:48 UTC",
            "２０２3-08-23T18:05:48Z",
        ] {
            assert_eq!(parse_rfc3339(bad), None, "{bad}");
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10m"), Some(600_000_000));
        assert_eq!(parse_duration("1h30m"), Some(5_400_000_000));
        assert_eq!(parse_duration("2d"), Some(172_800_000_000));
        for bad in ["", "10", "m", "10x", "-5m", "99999999999999999999s"] {
            assert_eq!(parse_duration(bad), None, "{bad}");
        }
    }

    #[test]
    fn event_time_prefers_updated_time() {
        let ev = Event { timestamp: 5, updated_time: "1970-01-01T00:00:07Z".into(), ..Event::default() };
        assert_eq!(event_time(&ev), Some(7_000_000));
        let ev = Event { timestamp: 5, updated_time: "garbage".into(), ..Event::default() };
        assert_eq!(event_time(&ev), Some(5_000_000));
        assert_eq!(event_time(&Event::default()), None);
    }
}
