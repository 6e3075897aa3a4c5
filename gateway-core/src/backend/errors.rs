//! Classifying upstream failures into [`ProxyError`]s.

use std::error::Error as StdError;

use crate::ProxyError;

/// What a failure chain says happened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Cause {
    /// The upstream's bytes were not HTTP (`UPE`).
    Protocol,
    /// A timer fired (`UT`).
    Timeout,
    /// The connection or stream broke (`UC`).
    Reset,
}

/// The first recognisable cause in `err`'s source chain.
fn cause_of(err: &(dyn StdError + 'static)) -> Cause {
    let mut current: Option<&(dyn StdError + 'static)> = Some(err);
    while let Some(cause) = current {
        if let Some(hyper_err) = cause.downcast_ref::<hyper::Error>() {
            if hyper_err.is_parse() || hyper_err.is_parse_status() || hyper_err.is_parse_too_large()
            {
                return Cause::Protocol;
            }
            if hyper_err.is_timeout() {
                return Cause::Timeout;
            }
            if hyper_err.is_incomplete_message()
                || hyper_err.is_closed()
                || hyper_err.is_canceled()
                || hyper_err.is_body_write_aborted()
            {
                return Cause::Reset;
            }
        }
        if let Some(io_err) = cause.downcast_ref::<std::io::Error>() {
            return match io_err.kind() {
                std::io::ErrorKind::TimedOut => Cause::Timeout,
                _ => Cause::Reset,
            };
        }
        current = cause.source();
    }
    Cause::Reset
}

fn by_cause<E: StdError + Send + Sync + 'static>(err: E) -> ProxyError {
    match cause_of(&err) {
        Cause::Protocol => ProxyError::Protocol(Box::new(err)),
        Cause::Timeout => ProxyError::Timeout,
        Cause::Reset => ProxyError::Reset(Box::new(err)),
    }
}

/// Maps a failure of an upstream exchange (connect failures are classified where they
/// happen, as `UF`).
pub(super) fn from_hyper(err: hyper::Error) -> ProxyError {
    by_cause(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_resets_or_timeouts() {
        let reset = std::io::Error::from(std::io::ErrorKind::ConnectionReset);
        assert_eq!(cause_of(&reset), Cause::Reset);
        let timeout = std::io::Error::from(std::io::ErrorKind::TimedOut);
        assert_eq!(cause_of(&timeout), Cause::Timeout);
        let unknown = std::fmt::Error;
        assert_eq!(cause_of(&unknown), Cause::Reset);
    }
}
