//! Choosing an algorithm at run time, by name.

use std::fmt;
use std::str::FromStr;

use crate::backend::Backend;
use crate::error::Error;
use crate::select::{
    Algorithm, BoundedLoad, KeyHash, LeastConn, Maglev, NAMES, PeakEwma, PowerOfTwoChoices, Random,
    Rendezvous, Ring, RoundRobin, Selector, SmoothWeightedRoundRobin,
};

/// Any algorithm of this crate, chosen at run time (from a config file or a
/// command line). Builds a boxed selector: one virtual call per pick more than
/// using the algorithm's own type.
///
/// # Examples
///
/// ```
/// use lb_core::Policy;
/// let p: Policy = "maglev".parse().unwrap();
/// assert_eq!(p.name(), "maglev");
/// assert!(p.is_hash());
/// let err = "fastest".parse::<Policy>().unwrap_err();
/// assert!(err.to_string().contains("round-robin"));
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Policy {
    /// `round-robin`
    RoundRobin(RoundRobin),
    /// `weighted-round-robin`
    WeightedRoundRobin(SmoothWeightedRoundRobin),
    /// `random`
    Random(Random),
    /// `least-conn`
    LeastConn(LeastConn),
    /// `p2c`
    PowerOfTwoChoices(PowerOfTwoChoices),
    /// `peak-ewma`
    PeakEwma(PeakEwma),
    /// `hash`
    KeyHash(KeyHash),
    /// `ring`
    Ring(Ring),
    /// `maglev`
    Maglev(Maglev),
    /// `rendezvous`
    Rendezvous(Rendezvous),
    /// `bounded-load`
    BoundedLoad(BoundedLoad),
}

impl Policy {
    /// Every algorithm with its default parameters, in [`NAMES`] order.
    #[must_use]
    pub fn all() -> Vec<Policy> {
        NAMES.iter().filter_map(|name| name.parse().ok()).collect()
    }

    /// The name this policy parses from.
    #[must_use]
    pub fn name(&self) -> &'static str {
        NAMES[self.position()]
    }

    fn position(&self) -> usize {
        match self {
            Self::RoundRobin(_) => 0,
            Self::WeightedRoundRobin(_) => 1,
            Self::Random(_) => 2,
            Self::LeastConn(_) => 3,
            Self::PowerOfTwoChoices(_) => 4,
            Self::PeakEwma(_) => 5,
            Self::KeyHash(_) => 6,
            Self::Ring(_) => 7,
            Self::Maglev(_) => 8,
            Self::Rendezvous(_) => 9,
            Self::BoundedLoad(_) => 10,
        }
    }

    /// Whether the algorithm places requests by their key (same key, same
    /// backend) rather than by turn, chance or load.
    #[must_use]
    pub fn is_hash(&self) -> bool {
        self.position() >= 6
    }

    /// Seeds the algorithm's random source, where it has one (the round
    /// robins have none), for reproducible runs.
    #[must_use]
    pub fn with_seed(self, seed: u64) -> Self {
        match self {
            Self::RoundRobin(_) | Self::WeightedRoundRobin(_) => self,
            Self::Random(a) => Self::Random(a.with_seed(seed)),
            Self::LeastConn(a) => Self::LeastConn(a.with_seed(seed)),
            Self::PowerOfTwoChoices(a) => Self::PowerOfTwoChoices(a.with_seed(seed)),
            Self::PeakEwma(a) => Self::PeakEwma(a.with_seed(seed)),
            Self::KeyHash(a) => Self::KeyHash(a.with_seed(seed)),
            Self::Ring(a) => Self::Ring(a.with_seed(seed)),
            Self::Maglev(a) => Self::Maglev(a.with_seed(seed)),
            Self::Rendezvous(a) => Self::Rendezvous(a.with_seed(seed)),
            Self::BoundedLoad(a) => Self::BoundedLoad(a.with_seed(seed)),
        }
    }
}

impl FromStr for Policy {
    type Err = Error;

    /// Parses one of [`NAMES`], with default parameters.
    ///
    /// # Errors
    ///
    /// [`Error::UnknownAlgorithm`], whose message lists the valid names.
    fn from_str(name: &str) -> Result<Self, Error> {
        Ok(match name {
            "round-robin" => Self::RoundRobin(RoundRobin),
            "weighted-round-robin" => Self::WeightedRoundRobin(SmoothWeightedRoundRobin),
            "random" => Self::Random(Random::default()),
            "least-conn" => Self::LeastConn(LeastConn::default()),
            "p2c" => Self::PowerOfTwoChoices(PowerOfTwoChoices::default()),
            "peak-ewma" => Self::PeakEwma(PeakEwma::default()),
            "hash" => Self::KeyHash(KeyHash::default()),
            "ring" => Self::Ring(Ring::default()),
            "maglev" => Self::Maglev(Maglev::default()),
            "rendezvous" => Self::Rendezvous(Rendezvous::default()),
            "bounded-load" => Self::BoundedLoad(BoundedLoad::default()),
            _ => {
                return Err(Error::UnknownAlgorithm {
                    name: name.to_owned(),
                });
            }
        })
    }
}

macro_rules! from_algorithm {
    ($($variant:ident($ty:ty)),* $(,)?) => {$(
        impl From<$ty> for Policy {
            fn from(algorithm: $ty) -> Self {
                Self::$variant(algorithm)
            }
        }
    )*};
}

from_algorithm!(
    RoundRobin(RoundRobin),
    WeightedRoundRobin(SmoothWeightedRoundRobin),
    Random(Random),
    LeastConn(LeastConn),
    PowerOfTwoChoices(PowerOfTwoChoices),
    PeakEwma(PeakEwma),
    KeyHash(KeyHash),
    Ring(Ring),
    Maglev(Maglev),
    Rendezvous(Rendezvous),
    BoundedLoad(BoundedLoad),
);

impl fmt::Display for Policy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl Algorithm for Policy {
    type Selector = Box<dyn Selector>;

    fn build(&self, backends: &[Backend]) -> Box<dyn Selector> {
        match self {
            Self::RoundRobin(a) => Box::new(a.build(backends)),
            Self::WeightedRoundRobin(a) => Box::new(a.build(backends)),
            Self::Random(a) => Box::new(a.build(backends)),
            Self::LeastConn(a) => Box::new(a.build(backends)),
            Self::PowerOfTwoChoices(a) => Box::new(a.build(backends)),
            Self::PeakEwma(a) => Box::new(a.build(backends)),
            Self::KeyHash(a) => Box::new(a.build(backends)),
            Self::Ring(a) => Box::new(a.build(backends)),
            Self::Maglev(a) => Box::new(a.build(backends)),
            Self::Rendezvous(a) => Box::new(a.build(backends)),
            Self::BoundedLoad(a) => Box::new(a.build(backends)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_name_round_trips() {
        let all = Policy::all();
        assert_eq!(all.len(), NAMES.len());
        for (p, name) in all.iter().zip(NAMES) {
            assert_eq!(p.name(), name);
            assert_eq!(p.to_string(), name);
        }
        assert_eq!(all.iter().filter(|p| p.is_hash()).count(), 5);
    }

    #[test]
    fn unknown_name_lists_valid_ones() {
        let err = "least-connections".parse::<Policy>().unwrap_err();
        assert!(matches!(err, Error::UnknownAlgorithm { .. }));
        for name in NAMES {
            assert!(err.to_string().contains(name));
        }
    }
}
