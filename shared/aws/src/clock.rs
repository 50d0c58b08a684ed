//! Clocks: the wall clock, and the demo's clock that runs faster. Use
//! cases take `leadline_core::Clock`; these are its adapters.

use jiff::{SignedDuration, Timestamp};
use leadline_core::{Clock, Invalid};

/// The wall clock.
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }
}

/// A clock that runs `scale` times faster than the wall clock from an
/// origin: `make demo` compresses the hours between retries into seconds.
/// Every function of a deployment reads the same settings, so they agree on
/// the time. Adapters that hand an instant to AWS (an SQS delay, a Scheduler
/// `at()`) turn it back into wall-clock time with [`ScaledClock::to_real`].
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ScaledClock {
    real_origin: Timestamp,
    virtual_origin: Timestamp,
    scale: f64,
}

impl ScaledClock {
    /// The wall clock itself.
    pub const REAL: ScaledClock = ScaledClock {
        real_origin: Timestamp::UNIX_EPOCH,
        virtual_origin: Timestamp::UNIX_EPOCH,
        scale: 1.0,
    };

    /// At wall-clock `real_origin` the virtual time is `virtual_origin`, and
    /// from then on it runs `scale` times as fast (a scale below 1 or not
    /// finite is refused).
    pub fn new(
        real_origin: Timestamp,
        virtual_origin: Timestamp,
        scale: f64,
    ) -> Result<Self, Invalid> {
        if !scale.is_finite() || scale < 1.0 {
            return Err(Invalid::new(
                "clock_scale",
                "must be a number of at least 1",
            ));
        }
        Ok(Self {
            real_origin,
            virtual_origin,
            scale,
        })
    }

    pub fn scale(&self) -> f64 {
        self.scale
    }

    /// The virtual instant at wall-clock `real`.
    pub fn to_virtual(&self, real: Timestamp) -> Timestamp {
        self.shift(real, self.real_origin, self.virtual_origin, self.scale)
    }

    /// The wall-clock instant at which the virtual clock reads `at`.
    pub fn to_real(&self, at: Timestamp) -> Timestamp {
        self.shift(at, self.virtual_origin, self.real_origin, 1.0 / self.scale)
    }

    /// A virtual span as wall-clock time.
    pub fn real_span(&self, span: jiff::SignedDuration) -> jiff::SignedDuration {
        if self.scale == 1.0 {
            return span;
        }
        jiff::SignedDuration::from_secs_f64(span.as_secs_f64() / self.scale)
    }

    fn shift(&self, t: Timestamp, from: Timestamp, to: Timestamp, factor: f64) -> Timestamp {
        if self.scale == 1.0 {
            return t;
        }
        let elapsed = t.duration_since(from).as_secs_f64() * factor;
        to.checked_add(jiff::SignedDuration::from_secs_f64(elapsed))
            .unwrap_or(t)
    }
}

impl Default for ScaledClock {
    fn default() -> Self {
        Self::REAL
    }
}

impl Clock for ScaledClock {
    fn now(&self) -> Timestamp {
        self.to_virtual(Timestamp::now())
    }

    fn stretch(&self, span: SignedDuration) -> SignedDuration {
        if self.scale == 1.0 {
            return span;
        }
        SignedDuration::from_secs_f64(span.as_secs_f64() * self.scale)
    }

    fn wall(&self, at: Timestamp) -> Timestamp {
        self.to_real(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ts(s: &str) -> Timestamp {
        s.parse().unwrap()
    }

    #[test]
    fn a_scaled_clock_runs_faster_from_its_origin_and_maps_back_to_wall_time() {
        let clock = ScaledClock::new(
            ts("2026-11-22T10:00:00Z"),
            ts("2026-11-23T08:00:00Z"),
            720.0,
        )
        .unwrap();
        // Five real seconds are an hour of virtual time.
        let later = clock.to_virtual(ts("2026-11-22T10:00:05Z"));
        assert_eq!(later, ts("2026-11-23T09:00:00Z"));
        assert_eq!(clock.to_real(later), ts("2026-11-22T10:00:05Z"));
        assert_eq!(
            clock.real_span(jiff::SignedDuration::from_hours(24)),
            jiff::SignedDuration::from_secs(120)
        );
        assert_eq!(ScaledClock::REAL.to_real(later), later);
        // A 10 s backoff stays 10 s of wall-clock time.
        assert_eq!(
            clock.stretch(jiff::SignedDuration::from_secs(10)),
            jiff::SignedDuration::from_secs(7200)
        );
        assert_eq!(clock.wall(later), ts("2026-11-22T10:00:05Z"));
        assert!(ScaledClock::new(later, later, 0.5).is_err());
        assert!(ScaledClock::new(later, later, f64::NAN).is_err());
    }
}
