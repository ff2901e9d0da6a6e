//! Fingerprint-range query shards (spec section 13).

use crate::error::{IndexError, Result};

/// A contiguous, inclusive range of fingerprints.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    /// Smallest fingerprint in the shard.
    pub min: u64,
    /// Largest fingerprint in the shard (inclusive).
    pub max: u64,
}

impl Shard {
    /// Power-of-two shard `index` of `of`: the fingerprints whose top
    /// `log2(of)` bits equal `index`.
    pub fn power_of_two(index: u32, of: u32) -> Result<Shard> {
        if of == 0 || !of.is_power_of_two() || index >= of {
            return Err(IndexError::InvalidInput(format!(
                "shard {index}_of_{of}: factor must be a power of two above the index"
            )));
        }
        let bits = of.trailing_zeros();
        if bits == 0 {
            return Ok(Shard::all());
        }
        let width = 64 - bits;
        let min = u64::from(index) << width;
        let max = if index + 1 == of {
            u64::MAX
        } else {
            (u64::from(index + 1) << width) - 1
        };
        Ok(Shard { min, max })
    }

    /// Parses Loki's label form `"<i>_of_<n>"`.
    pub fn parse(s: &str) -> Result<Shard> {
        let bad = || IndexError::InvalidInput(format!("shard {s:?} is not of the form <i>_of_<n>"));
        let (i, n) = s.split_once("_of_").ok_or_else(bad)?;
        let i: u32 = i.parse().map_err(|_| bad())?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        Shard::power_of_two(i, n)
    }

    /// The whole fingerprint space.
    pub fn all() -> Shard {
        Shard {
            min: 0,
            max: u64::MAX,
        }
    }

    /// Is this fingerprint in the shard?
    pub fn contains(&self, fp: u64) -> bool {
        self.min <= fp && fp <= self.max
    }

    /// Exclusive upper bound, `None` when the shard reaches `u64::MAX`.
    pub(crate) fn through(&self) -> Option<u64> {
        self.max.checked_add(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shard_ranges() {
        let s = Shard::parse("1_of_4").unwrap();
        assert_eq!(s.min, 0x4000_0000_0000_0000);
        assert_eq!(s.max, 0x7fff_ffff_ffff_ffff);
        assert_eq!(Shard::parse("3_of_4").unwrap().max, u64::MAX);
        assert_eq!(Shard::parse("0_of_1").unwrap(), Shard::all());
        assert!(Shard::parse("1_of_3").is_err());
        assert!(Shard::parse("4_of_4").is_err());
    }
}
