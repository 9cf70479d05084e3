//! The checks every op wrapper shares (element type, no output aliasing an input) and the integer
//! arithmetic (gcd, lcm) with which wrappers split work into aligned storage bindings. One copy here, so
//! that each error reads the same whichever op raises it.

use crate::error::{Error, Result};
use crate::gpu::{DType, Tensor};

/// `Ok` if `t` holds `dtype` elements, else a shape error naming the tensor, e.g. "labels must be U32".
pub(crate) fn dtype(op: &'static str, name: &str, t: &Tensor, dtype: DType) -> Result<()> {
    if t.dtype() != dtype {
        return Err(Error::shape(op, format!("{name} must be {dtype:?}, got {:?} {:?}", t.dtype(), t.shape())));
    }
    Ok(())
}

/// `Ok` unless the output `out` (named `on`) lies in the buffer of one of the named inputs: a kernel that
/// reads while it writes the same buffer would race (and wgpu rejects a buffer bound both read and write).
pub(crate) fn distinct(op: &'static str, (on, out): (&str, &Tensor), inputs: &[(&str, &Tensor)]) -> Result<()> {
    match inputs.iter().find(|(_, t)| out.same_buffer(t)) {
        Some((name, _)) => Err(Error::shape(op, format!("{on} must not share a buffer with {name}"))),
        None => Ok(()),
    }
}

pub(crate) fn gcd(a: usize, b: usize) -> usize {
    if b == 0 { a } else { gcd(b, a % b) }
}

pub(crate) fn lcm(a: usize, b: usize) -> usize {
    a / gcd(a, b) * b
}

#[cfg(test)]
mod tests {
    use super::{gcd, lcm};

    #[test]
    fn gcd_and_lcm_of_alignments() {
        // Against the definitions: the largest common divisor and the smallest common multiple.
        for a in 1..40usize {
            for b in 0..40usize {
                let g = gcd(a, b);
                let want = (1..=a.max(b)).rev().find(|d| a % d == 0 && b % d == 0).unwrap();
                assert_eq!(g, want, "gcd({a}, {b})");
                if b > 0 {
                    let l = lcm(a, b);
                    assert_eq!(l, (1..=a * b).find(|m| m % a == 0 && m % b == 0).unwrap(), "lcm({a}, {b})");
                }
            }
        }
        assert_eq!(gcd(256, 12), 4);
    }
}
