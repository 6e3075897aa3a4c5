//! `%START_TIME%` and its `strftime`-like argument, in UTC.

use std::{fmt::Write as _, time::Duration};

use super::render::Out;

/// One piece of a time format.
#[derive(Clone, Debug, PartialEq, Eq)]
enum TimePart {
    /// Text copied as is.
    Literal(Box<str>),
    /// `%Y`: four-digit year.
    Year,
    /// `%y`: two-digit year.
    YearOfCentury,
    /// `%m`: month, `01`–`12`.
    Month,
    /// `%d`: day of the month, `01`–`31`.
    Day,
    /// `%e`: day of the month, space-padded.
    DaySpace,
    /// `%j`: day of the year, `001`–`366`.
    DayOfYear,
    /// `%H`: hour, `00`–`23`.
    Hour,
    /// `%M`: minute.
    Minute,
    /// `%S`: second.
    Second,
    /// `%s`: seconds since the epoch.
    Epoch,
    /// `%f` (nine digits) or `%1f`–`%9f`: fractional seconds.
    Fraction(u8),
    /// `%z`: the UTC offset, always `+0000`.
    Offset,
    /// `%Z`: the zone name, always `UTC`.
    Zone,
    /// `%b`: abbreviated month name.
    MonthName,
    /// `%a`: abbreviated weekday name.
    WeekdayName,
}

/// A parsed time format, rendered in UTC.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct TimeFormat {
    parts: Box<[TimePart]>,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
const WEEKDAYS: [&str; 7] = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];

impl TimeFormat {
    /// Envoy's default: ISO 8601 with milliseconds, `2016-04-15T20:17:00.310Z`.
    pub(crate) fn iso8601_millis() -> Self {
        Self {
            parts: Box::new([
                TimePart::Year,
                TimePart::Literal("-".into()),
                TimePart::Month,
                TimePart::Literal("-".into()),
                TimePart::Day,
                TimePart::Literal("T".into()),
                TimePart::Hour,
                TimePart::Literal(":".into()),
                TimePart::Minute,
                TimePart::Literal(":".into()),
                TimePart::Second,
                TimePart::Literal(".".into()),
                TimePart::Fraction(3),
                TimePart::Literal("Z".into()),
            ]),
        }
    }

    /// Parses a `strftime`-like format: `%Y %y %m %d %e %j %H %M %S %s %f %1f…%9f %z %Z
    /// %b %a %T %F %%`; anything else after a `%` is refused.
    pub(crate) fn parse(format: &str) -> Result<Self, String> {
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut chars = format.chars();
        while let Some(c) = chars.next() {
            if c != '%' {
                literal.push(c);
                continue;
            }
            let mut spec = chars.next();
            let mut digits = None;
            if let Some(d) = spec.filter(|d| ('1'..='9').contains(d)) {
                digits = Some(d as u8 - b'0');
                spec = chars.next();
                if spec != Some('f') {
                    return Err(format!(
                        "START_TIME format {format:?}: %{d} must be followed by f"
                    ));
                }
            }
            let expanded: &[TimePart] = match spec {
                Some('%') => {
                    literal.push('%');
                    continue;
                }
                Some('Y') => &[TimePart::Year],
                Some('y') => &[TimePart::YearOfCentury],
                Some('m') => &[TimePart::Month],
                Some('d') => &[TimePart::Day],
                Some('e') => &[TimePart::DaySpace],
                Some('j') => &[TimePart::DayOfYear],
                Some('H') => &[TimePart::Hour],
                Some('M') => &[TimePart::Minute],
                Some('S') => &[TimePart::Second],
                Some('s') => &[TimePart::Epoch],
                Some('f') => &[TimePart::Fraction(digits.unwrap_or(9))],
                Some('z') => &[TimePart::Offset],
                Some('Z') => &[TimePart::Zone],
                Some('b') => &[TimePart::MonthName],
                Some('a') => &[TimePart::WeekdayName],
                Some('T') => &[
                    TimePart::Hour,
                    TimePart::Literal(Box::from(":")),
                    TimePart::Minute,
                    TimePart::Literal(Box::from(":")),
                    TimePart::Second,
                ],
                Some('F') => &[
                    TimePart::Year,
                    TimePart::Literal(Box::from("-")),
                    TimePart::Month,
                    TimePart::Literal(Box::from("-")),
                    TimePart::Day,
                ],
                Some(other) => {
                    return Err(format!(
                        "START_TIME format {format:?}: %{other} is not supported"
                    ));
                }
                None => {
                    return Err(format!("START_TIME format {format:?} ends with a lone %"));
                }
            };
            if !literal.is_empty() {
                parts.push(TimePart::Literal(std::mem::take(&mut literal).into()));
            }
            parts.extend_from_slice(expanded);
        }
        if !literal.is_empty() {
            parts.push(TimePart::Literal(literal.into()));
        }
        Ok(Self {
            parts: parts.into(),
        })
    }

    /// Writes `since_epoch` in this format.
    pub(crate) fn render(&self, since_epoch: Duration, out: &mut impl Out) {
        let secs = since_epoch.as_secs();
        let days = secs / 86_400;
        let of_day = secs % 86_400;
        let (year, month, day) = civil_from_days(days);
        let mut text = Formatter(out);
        for part in self.parts.iter() {
            // Writing into `Out` cannot fail.
            let _ = match part {
                TimePart::Literal(literal) => text.write_str(literal),
                TimePart::Year => write!(text, "{year:04}"),
                TimePart::YearOfCentury => write!(text, "{:02}", year % 100),
                TimePart::Month => write!(text, "{month:02}"),
                TimePart::Day => write!(text, "{day:02}"),
                TimePart::DaySpace => write!(text, "{day:>2}"),
                TimePart::DayOfYear => {
                    let first = days_from_civil(year, 1, 1);
                    write!(text, "{:03}", days - first + 1)
                }
                TimePart::Hour => write!(text, "{:02}", of_day / 3600),
                TimePart::Minute => write!(text, "{:02}", of_day / 60 % 60),
                TimePart::Second => write!(text, "{:02}", of_day % 60),
                TimePart::Epoch => write!(text, "{secs}"),
                TimePart::Fraction(digits) => {
                    let scaled = since_epoch.subsec_nanos() / 10u32.pow(9 - u32::from(*digits));
                    write!(text, "{scaled:0width$}", width = usize::from(*digits))
                }
                TimePart::Offset => text.write_str("+0000"),
                TimePart::Zone => text.write_str("UTC"),
                TimePart::MonthName => text.write_str(MONTHS[(month - 1) as usize % 12]),
                // 1970-01-01 was a Thursday.
                TimePart::WeekdayName => text.write_str(WEEKDAYS[((days + 4) % 7) as usize]),
            };
        }
    }
}

/// `fmt::Write` over an [`Out`].
struct Formatter<'a, O>(&'a mut O);

impl<O: Out> std::fmt::Write for Formatter<'_, O> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.put(s.as_bytes());
        Ok(())
    }
}

/// The proleptic Gregorian date of a day count since 1970-01-01 (Howard Hinnant's
/// `civil_from_days`, for non-negative day counts).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z % 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + u64::from(month <= 2);
    (year, month, day)
}

/// The day count since 1970-01-01 of a date from 1970 on (the inverse of
/// [`civil_from_days`]).
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let yoe = year % 400;
    let mp = if month > 2 { month - 3 } else { month + 9 };
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}
