//! Money is integer cents. No float ever holds an amount.

use std::fmt;
use std::ops::{Add, AddAssign};

use serde::{Deserialize, Serialize};

#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize,
)]
#[serde(transparent)]
pub struct Cents(pub i64);

impl Cents {
    pub const ZERO: Cents = Cents(0);

    /// The charge for `seconds` at `per_minute`, rounded up to the next cent so
    /// that a rate is never undercharged by truncation.
    pub fn for_seconds(per_minute: Cents, seconds: u64) -> Cents {
        let numerator = per_minute.0 as i128 * seconds as i128;
        Cents(((numerator + 59) / 60) as i64)
    }
}

impl Add for Cents {
    type Output = Cents;
    fn add(self, rhs: Cents) -> Cents {
        Cents(self.0 + rhs.0)
    }
}

impl AddAssign for Cents {
    fn add_assign(&mut self, rhs: Cents) {
        self.0 += rhs.0;
    }
}

impl fmt::Display for Cents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sign = if self.0 < 0 { "-" } else { "" };
        write!(f, "{sign}${}.{:02}", self.0.abs() / 100, self.0.abs() % 100)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_minute_at_twenty_cents_costs_twenty_cents() {
        assert_eq!(Cents::for_seconds(Cents(20), 60), Cents(20));
    }

    #[test]
    fn part_of_a_cent_is_rounded_up() {
        // 61 s at 20 c/min = 20.33 c -> 21 c
        assert_eq!(Cents::for_seconds(Cents(20), 61), Cents(21));
        assert_eq!(Cents::for_seconds(Cents(20), 0), Cents::ZERO);
    }

    #[test]
    fn cents_display_as_dollars() {
        assert_eq!(Cents(200_000).to_string(), "$2000.00");
        assert_eq!(Cents(5).to_string(), "$0.05");
        assert_eq!(Cents(-150).to_string(), "-$1.50");
    }
}
