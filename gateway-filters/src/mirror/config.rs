//! Configuration of the request mirror.

use serde::Serialize;

/// How many requests are mirrored: `numerator / denominator` (100/100 mirrors all).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct MirrorConfig {
    /// Numerator.
    pub numerator: u32,
    /// Denominator (non-zero).
    pub denominator: u32,
}

impl Default for MirrorConfig {
    fn default() -> Self {
        Self {
            numerator: 100,
            denominator: 100,
        }
    }
}

impl MirrorConfig {
    /// Whether this request is mirrored: true `numerator` times out of `denominator`
    /// (never when either is zero, always when `numerator >= denominator`).
    pub fn sample(&self) -> bool {
        if self.numerator == 0 || self.denominator == 0 {
            return false;
        }
        self.numerator >= self.denominator || fastrand::u32(0..self.denominator) < self.numerator
    }

    /// Checks the fraction: a non-zero denominator and a numerator not above it.
    pub fn validate(&self) -> Result<(), String> {
        if self.denominator == 0 {
            return Err("fraction.denominator: must not be 0".to_owned());
        }
        if self.numerator > self.denominator {
            return Err(format!(
                "fraction.numerator: {} is more than the denominator {}",
                self.numerator, self.denominator
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sampling_follows_the_fraction() {
        let all = MirrorConfig::default();
        assert!((0..100).all(|_| all.sample()));
        let none = MirrorConfig {
            numerator: 0,
            denominator: 100,
        };
        assert!((0..100).all(|_| !none.sample()));
        fastrand::seed(7);
        let fifth = MirrorConfig {
            numerator: 20,
            denominator: 100,
        };
        let hits = (0..10_000).filter(|_| fifth.sample()).count();
        assert!((1_500..2_500).contains(&hits), "{hits} of 10000");
    }

    #[test]
    fn validation() {
        assert!(MirrorConfig::default().validate().is_ok());
        assert!(
            MirrorConfig {
                numerator: 1,
                denominator: 0
            }
            .validate()
            .is_err()
        );
        assert!(
            MirrorConfig {
                numerator: 3,
                denominator: 2
            }
            .validate()
            .is_err()
        );
    }
}
