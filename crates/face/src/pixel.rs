//! Exact floor and rounding for the per-pixel loops. Built for baseline x86-64 (no SSE4.1),
//! `f32::floor`, `round` and `round_ties_even` are calls into the C library, several per
//! pixel; these give the same results with a conversion and a compare or two, so the loops
//! that use them stay bit for bit what they were.

/// `x.floor()` as an integer, and `x` minus it (the fraction in `[0, 1)`). Exact for every
/// finite `x` inside `i32`'s range; beyond it the integer saturates (far outside any image)
/// and NaN gives 0, as `x.floor() as i64` would for the callers' bounds checks.
#[inline(always)]
pub(crate) fn floor_f32(x: f32) -> (i32, f32) {
    let t = x as i32;
    // Truncation rounds towards zero; below zero a fraction means one less. Where `t` no
    // longer converts back exactly (|x| ≥ 2²⁴), `x` is already a whole number.
    let f = if (t as f32) > x { t - 1 } else { t };
    // `+ 0.0` turns the −0 that −0.0 leaves into the library's +0.
    (f, (x - f as f32) + 0.0)
}

/// `x.floor()` as an integer for f64, exact inside `i64`'s range (saturating beyond it).
#[inline(always)]
pub(crate) fn floor_f64(x: f64) -> i64 {
    let t = x as i64;
    if (t as f64) > x { t - 1 } else { t }
}

/// `v.round_ties_even().clamp(0.0, 255.0) as u8`.
#[inline(always)]
pub(crate) fn round_even_u8(v: f32) -> u8 {
    // 2²³: adding it leaves no fraction bits, so the addition itself rounds half to even.
    const MAGIC: f32 = 8_388_608.0;
    // Without branches, so loops of it run several values to an instruction; NaN stays NaN
    // through both steps and converts to 0.
    let c = v.clamp(0.0, 255.0);
    ((c + MAGIC) - MAGIC) as u8
}

/// `v.round().clamp(0.0, 255.0) as u8` (halves away from zero).
#[inline(always)]
pub(crate) fn round_u8(v: f32) -> u8 {
    let c = v.clamp(0.0, 255.0);
    let t = c as u8;
    // Never saturates (at 255 the fraction is 0); saturating keeps the loop free of checks.
    t.saturating_add(u8::from(c - f32::from(t) >= 0.5))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Values around every whole and half number in the pixel range and beyond, with the
    /// neighbouring floats on either side, plus awkward ones.
    fn samples() -> Vec<f32> {
        let mut v = vec![
            0.0,
            -0.0,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            0.499_999_97,
            0.500_000_06,
            1e9,
            -1e9,
            3.0e9,
            -3.0e9,
            16_777_217.0,
            -16_777_217.0,
            f32::INFINITY,
            f32::NEG_INFINITY,
        ];
        let mut x = -300.0f32;
        while x <= 300.0 {
            for d in [x, x.next_up(), x.next_down(), x + 0.25, x + 0.03125] {
                v.push(d);
            }
            x += 0.5;
        }
        let mut s = 0x1234_5678u32;
        for _ in 0..20_000 {
            s ^= s << 13;
            s ^= s >> 17;
            s ^= s << 5;
            v.push((s as f32 / u32::MAX as f32) * 600.0 - 300.0);
        }
        v
    }

    #[test]
    fn floor_matches_the_library() {
        for x in samples() {
            if x.is_finite() && x.abs() < 2.0e9 {
                let (i, f) = floor_f32(x);
                assert_eq!(i64::from(i), x.floor() as i64, "{x}");
                assert_eq!(f.to_bits(), (x - x.floor()).to_bits(), "{x}");
                let x = f64::from(x) * 1.000_000_1;
                assert_eq!(floor_f64(x), x.floor() as i64, "{x}");
            }
        }
    }

    #[test]
    fn rounding_matches_the_library() {
        for v in samples().into_iter().chain([f32::NAN]) {
            assert_eq!(
                round_even_u8(v),
                v.round_ties_even().clamp(0.0, 255.0) as u8,
                "{v}"
            );
            assert_eq!(round_u8(v), v.round().clamp(0.0, 255.0) as u8, "{v}");
        }
    }
}
