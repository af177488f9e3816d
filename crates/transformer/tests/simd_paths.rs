//! The vectorised GELU and softmax give the same bits on every instruction-set path of
//! `simd_dispatch!` (AVX-512, AVX2, portable); own test binary, since the cap is process-wide.
//! (faer's matrix products choose their kernels themselves and are not covered.)

use attnflow_dynamics::simd::on_every_available_level;
use attnflow_transformer::special::{gelu_in_place, softmax_in_place};

fn fingerprint() -> Vec<u64> {
    let input: Vec<f64> = (0..1003)
        .map(|i| ((i * 7919) % 2001) as f64 / 100.0 - 10.0)
        .collect();
    let mut g = input.clone();
    gelu_in_place(&mut g);
    let mut s = input.clone();
    softmax_in_place(&mut s);
    g.iter().chain(&s).map(|v| v.to_bits()).collect()
}

#[test]
fn gelu_and_softmax_agree_on_every_instruction_set() {
    let runs = on_every_available_level(fingerprint);
    let (first, bits) = &runs[0];
    for (level, other) in &runs[1..] {
        assert_eq!(bits, other, "{first:?} and {level:?} paths differ");
    }
}
