//! Dense kernels of the attention vector field: Gram matrices, matrix products, the symmetric
//! attention weights of Q = K = I, the paper's Euler step fused with the attention average
//! (\[GLPR\] (2.6) with x_i <- (x_i + h y_i) / |x_i + h y_i|) on the transposed state X^T, and a
//! branch-free vectorisable exponential.
//!
//! Every reduction runs in a fixed index order, and vectorisation is always across independent
//! outputs (never across a reduction). Products are accumulated with `f64::mul_add`, which is the
//! correctly rounded fused multiply-add on every platform (a hardware FMA instruction, or libm's
//! software `fma` where there is none), so results are bit-identical whatever the instruction set.
//! The hot entry points run through [`crate::simd_dispatch!`] (AVX-512 or AVX2 copies of the same
//! code, with FMA); without those features the portable copy is correct but much slower. The kernels
//! of the fused paper-Euler step have hand-written AVX-512 versions for n a multiple of 8 that
//! perform the same operations in the same order (tested bit for bit against the portable code):
//! [`gram_and_weights`] (the Gram matrix from X^T in 4 x 8T register tiles, half tiles on the
//! diagonal blocks, the exponentials, mirror images and column sums in 8 x 8 register tiles) and
//! [`euler_average_transposed`] (4 coordinates x 32 particles in registers, then the column norms);
//! so do the exponential ([`crate::exp`]) and the transposes (shuffles, pure data movement).
//! [`matmul`] and [`matmul_scaled`] (the products of general heads: X B, the logits (X B) X^T, the
//! average E X, the value product, \[GLPR\] Figure 5) run for q >= 8 in AVX-512 register tiles
//! of 4 rows x 32 columns, the same sums in the same order (tested bit for bit against the
//! portable tiles).

use crate::exp::exp;
use crate::simd_dispatch as dispatch;

/// A resizable f64 buffer whose data starts on a 64-byte boundary (one cache line, one AVX-512
/// register), so that vector loads of its rows do not straddle cache lines (measured: an unaligned
/// state costs about 6 % per step). Dereferences to `[f64]`.
#[derive(Debug, Default, Clone)]
pub struct AlignedBuf {
    lines: Vec<Line>,
    len: usize,
}

/// Eight f64 on a 64-byte boundary (size 64, no padding).
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f64; 8]);

impl AlignedBuf {
    /// A buffer of `len` zeros.
    pub fn zeros(len: usize) -> Self {
        let mut b = Self::default();
        b.resize(len);
        b
    }
    /// A buffer holding a copy of `values`.
    pub fn from_slice(values: &[f64]) -> Self {
        let mut b = Self::zeros(values.len());
        b.copy_from_slice(values);
        b
    }
    /// Sets the length to `len`; new entries are zero, kept entries keep their values.
    pub fn resize(&mut self, len: usize) {
        if len != self.len {
            self.lines.resize(len.div_ceil(8), Line([0.0; 8]));
            let keep = self.len.min(len);
            // entries past the old length (inside the last kept line) must read as zero
            self.as_flat_mut()[keep..].fill(0.0);
            self.len = len;
        }
    }
    fn as_flat_mut(&mut self) -> &mut [f64] {
        // SAFETY: `Line` is `repr(C)` around `[f64; 8]` with size 64 and alignment 64, so the lines
        // are contiguous f64 without padding; the slice covers exactly the allocated lines.
        unsafe {
            std::slice::from_raw_parts_mut(
                self.lines.as_mut_ptr().cast::<f64>(),
                8 * self.lines.len(),
            )
        }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [f64];
    fn deref(&self) -> &[f64] {
        // SAFETY: as in `as_flat_mut`; `len <= 8 * lines.len()`.
        unsafe { std::slice::from_raw_parts(self.lines.as_ptr().cast::<f64>(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [f64] {
        let len = self.len;
        &mut self.as_flat_mut()[..len]
    }
}

/// Which entries of a product to compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Every entry.
    All,
    /// Row i from column [`upper_start`]`(i)` on (a superset of the upper triangle, in whole
    /// tiles); for symmetric products, completed by [`mirror_lower`].
    Upper,
}

/// Rows of an output tile.
const ROWS: usize = 4;
/// Columns of a full-width output tile (two AVX2 registers per row, eight accumulators in all).
const COLS: usize = 8;
/// Products with at least this many output columns run in full-width tiles.
pub const WIDE: usize = COLS;

/// `out = A B` for A (p x r), B (r x q), row-major: `out_ij = sum_l a_il b_lj`, accumulated over l in
/// index order from 0.0 with fused multiply-adds (`acc = fma(a_il, b_lj, acc)`). The one matrix-product
/// kernel of the crate: output tiles of 4 rows x 8 columns (remainders 4, 2 and 1 wide, 1 row high),
/// with AVX-512 and q >= 8 tiles of 4 rows x 32 columns (`product_avx512`), so the accumulators
/// live in vector registers; every output element sees the same sequence of roundings whatever
/// the tile shape or instruction set.
pub fn matmul(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &mut [f64]) {
    check_shapes(a, b, p, r, q, out);
    #[cfg(target_arch = "x86_64")]
    if q >= COLS && avx512() {
        // SAFETY: the features are present (checked just above) and the shapes were checked.
        return unsafe { product_avx512(a, b, p, r, q, out, Scale::None) };
    }
    dispatch!(full_product(a, b, p, r, q, out, Scale::None))
}

/// A diagonal factor applied to a product after the sum (one extra rounding per entry).
#[derive(Debug, Clone, Copy)]
pub enum Scale<'a> {
    None,
    /// `out_ij *= s_i`: `diag(s) A B`.
    Rows(&'a [f64]),
    /// `out_ij *= s_j`: `A B diag(s)`.
    Columns(&'a [f64]),
}

/// As [`matmul`], with the diagonal factor `scale` applied to the result.
pub fn matmul_scaled(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    scale: Scale<'_>,
    out: &mut [f64],
) {
    check_shapes(a, b, p, r, q, out);
    match scale {
        Scale::Rows(s) => assert!(s.len() >= p, "matmul: row scale shorter than the rows"),
        Scale::Columns(s) => assert!(
            s.len() >= q,
            "matmul: column scale shorter than the columns"
        ),
        Scale::None => {}
    }
    #[cfg(target_arch = "x86_64")]
    if q >= COLS && avx512() {
        // SAFETY: the features are present (checked just above) and the shapes were checked.
        return unsafe { product_avx512(a, b, p, r, q, out, scale) };
    }
    dispatch!(full_product(a, b, p, r, q, out, scale))
}

/// Rows of a register tile of [`product_avx512`].
#[cfg(target_arch = "x86_64")]
const PANEL_ROWS: usize = 4;
/// Eight-column blocks of a register tile of [`product_avx512`] (4 x 32: sixteen accumulators).
#[cfg(target_arch = "x86_64")]
const PANEL_BLOCKS: usize = 4;

/// [`matmul_scaled`] with AVX-512 for q >= 8: register tiles of 4 rows x 32 columns (sixteen
/// independent accumulators, [`block_sums`]; narrower at the right edge, one row high at the
/// bottom), column panels outermost so that a panel of B (r x 32) is reused from L1 by every row
/// block; the last q mod 8 columns by the portable tiles. Every entry is the same chain of fused
/// multiply-adds in order of l from zero as in [`tile`], then the same one multiplication by its
/// scale: the same bits as the portable product.
///
/// # Safety
/// AVX-512 F/VL/DQ and FMA must be available; shapes as checked by [`check_shapes`] (and the
/// scale as long as the rows or columns).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn product_avx512(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    let wide = q / COLS * COLS;
    let mut c = 0;
    while c < wide {
        let blocks = ((wide - c) / COLS).min(PANEL_BLOCKS);
        let mut i = 0;
        while i < p {
            let rows = if i + PANEL_ROWS <= p { PANEL_ROWS } else { 1 };
            // SAFETY: rows i..i + rows <= p, columns c..c + 8 blocks <= q; the caller's contract.
            unsafe {
                match (rows, blocks) {
                    (PANEL_ROWS, 1) => wide_tile::<PANEL_ROWS, 1>(a, b, i, r, q, c, out, scale),
                    (PANEL_ROWS, 2) => wide_tile::<PANEL_ROWS, 2>(a, b, i, r, q, c, out, scale),
                    (PANEL_ROWS, 3) => wide_tile::<PANEL_ROWS, 3>(a, b, i, r, q, c, out, scale),
                    (PANEL_ROWS, _) => wide_tile::<PANEL_ROWS, 4>(a, b, i, r, q, c, out, scale),
                    (_, 1) => wide_tile::<1, 1>(a, b, i, r, q, c, out, scale),
                    (_, 2) => wide_tile::<1, 2>(a, b, i, r, q, c, out, scale),
                    (_, 3) => wide_tile::<1, 3>(a, b, i, r, q, c, out, scale),
                    _ => wide_tile::<1, 4>(a, b, i, r, q, c, out, scale),
                }
            }
            i += rows;
        }
        c += COLS * blocks;
    }
    if wide < q {
        let mut i = 0;
        while i < p {
            if i + ROWS <= p {
                tile_row::<ROWS, false>(a, b, p, i, r, q, wide, out, scale);
                i += ROWS;
            } else {
                tile_row::<1, false>(a, b, p, i, r, q, wide, out, scale);
                i += 1;
            }
        }
    }
}

/// Rows i..i+R, columns c..c + 8 T of [`product_avx512`]: the sums of [`block_sums`], times the
/// scale, stored.
///
/// # Safety
/// As [`product_avx512`], with i + R <= p and c + 8 T <= q.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn wide_tile<const R: usize, const T: usize>(
    a: &[f64],
    b: &[f64],
    i: usize,
    r: usize,
    q: usize,
    c: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    use std::arch::x86_64::*;
    let op = out.as_mut_ptr();
    // SAFETY: every index is inside the shapes by the caller's contract.
    unsafe {
        let mut acc = block_sums::<R, T, false>(a, b, 0, i, r, q, c);
        match scale {
            Scale::None => {}
            Scale::Rows(sc) => {
                for (s, row) in acc.iter_mut().enumerate() {
                    let f = _mm512_set1_pd(sc[i + s]);
                    row.iter_mut().for_each(|v| *v = _mm512_mul_pd(*v, f));
                }
            }
            Scale::Columns(sc) => {
                let f: [__m512d; T] =
                    std::array::from_fn(|t| _mm512_loadu_pd(sc.as_ptr().add(c + COLS * t)));
                for row in acc.iter_mut() {
                    for (v, f) in row.iter_mut().zip(&f) {
                        *v = _mm512_mul_pd(*v, *f);
                    }
                }
            }
        }
        for (s, row) in acc.iter().enumerate() {
            for (t, v) in row.iter().enumerate() {
                _mm512_storeu_pd(op.add((i + s) * q + c + COLS * t), *v);
            }
        }
    }
}

/// One step of \[GLPR\]'s scheme for the attention average of V = I on the transposed state
/// X^T (d x n, `xt[k * n + i]` = x_ik), for symmetric weights w (n x n, bitwise symmetric):
///
/// ```text
/// x_i <- y_i / ‖y_i‖,   y_i = x_i + h s_i sum_j w_ij x_j
/// ```
///
/// Y^T = X^T W diag(s) as in [`matmul_scaled`] (`sum_j x_jk w_ji` by fused multiply-adds in order
/// of j: the products and order of the row-major average, since w_ji = w_ij), `y = x + h g`, and
/// ‖y_i‖^2 in the four lanes of [`normalize_rows`] (coordinates k mod 4, in order;
/// (l0 + l1) + (l2 + l3)), vectorised across particles; so the bits are those of
/// `matmul_scaled` with `Scale::Rows(s)` followed by [`euler_normalize_rows`] on the row-major
/// state. `y` (d x n) is workspace. Returns true when every norm was finite and positive.
#[allow(clippy::too_many_arguments)]
pub fn euler_average_transposed(
    w: &[f64],
    s: &[f64],
    h: f64,
    n: usize,
    d: usize,
    xt: &mut [f64],
    y: &mut [f64],
) -> bool {
    assert!(
        w.len() >= n.saturating_mul(n)
            && s.len() >= n
            && xt.len() == n.saturating_mul(d)
            && y.len() == n.saturating_mul(d),
        "euler_average_transposed: slice shorter than its shape"
    );
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(COLS) && avx512() {
        // SAFETY: the features are present (checked just above) and the shapes were asserted.
        return unsafe {
            euler_update_transposed_avx512(w, s, h, n, d, xt, y);
            normalize_columns_avx512(xt, y, n, d)
        };
    }
    matmul_scaled(xt, w, d, n, n, Scale::Columns(s), y);
    dispatch!(update_and_normalize_columns(xt, y, h, n, d))
}

/// `y = x + h (X^T W diag(s))` of [`euler_average_transposed`] for n a multiple of 8: blocks of
/// four coordinates (then single ones) x up to 32 particles in registers ([`block_sums`]).
///
/// # Safety
/// AVX-512 F/VL/DQ and FMA must be available; the slices must have the shapes asserted by
/// [`euler_average_transposed`], with n a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn euler_update_transposed_avx512(
    w: &[f64],
    s: &[f64],
    h: f64,
    n: usize,
    d: usize,
    xt: &[f64],
    y: &mut [f64],
) {
    let mut k = 0;
    while k < d {
        let rows = if k + ROWS <= d { ROWS } else { 1 };
        let mut c = 0;
        while c < n {
            let blocks = ((n - c) / COLS).min(4);
            // SAFETY: coordinates k..k + rows <= d, particles c..c + 8 blocks <= n; the caller's
            // contract for the rest.
            unsafe {
                match (rows, blocks) {
                    (ROWS, 1) => update_block::<ROWS, 1>(w, s, h, n, k, c, xt, y),
                    (ROWS, 2) => update_block::<ROWS, 2>(w, s, h, n, k, c, xt, y),
                    (ROWS, 3) => update_block::<ROWS, 3>(w, s, h, n, k, c, xt, y),
                    (ROWS, _) => update_block::<ROWS, 4>(w, s, h, n, k, c, xt, y),
                    (_, 1) => update_block::<1, 1>(w, s, h, n, k, c, xt, y),
                    (_, 2) => update_block::<1, 2>(w, s, h, n, k, c, xt, y),
                    (_, 3) => update_block::<1, 3>(w, s, h, n, k, c, xt, y),
                    _ => update_block::<1, 4>(w, s, h, n, k, c, xt, y),
                }
            }
            c += COLS * blocks;
        }
        k += rows;
    }
}

/// Coordinates k..k+R of particles c..c + 8 T in [`euler_update_transposed_avx512`]:
/// `acc = sum_j x_jk w_ji` in order of j, then `y = x + h (acc s_i)`.
///
/// # Safety
/// As [`euler_update_transposed_avx512`], with k + R <= d and c + 8 T <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn update_block<const R: usize, const T: usize>(
    w: &[f64],
    s: &[f64],
    h: f64,
    n: usize,
    k: usize,
    c: usize,
    xt: &[f64],
    y: &mut [f64],
) {
    use std::arch::x86_64::*;
    let (xp, yp) = (xt.as_ptr(), y.as_mut_ptr());
    // SAFETY: every index is below d * n (xt, y) or n (s) by the caller's contract.
    unsafe {
        let acc = block_sums::<R, T, false>(xt, w, 0, k, n, n, c);
        let hv = _mm512_set1_pd(h);
        let scale: [__m512d; T] =
            std::array::from_fn(|t| _mm512_loadu_pd(s.as_ptr().add(c + COLS * t)));
        for (r, acc) in acc.iter().enumerate() {
            let row = (k + r) * n + c;
            for (t, acc) in acc.iter().enumerate() {
                let g = _mm512_mul_pd(*acc, scale[t]);
                let v = _mm512_add_pd(
                    _mm512_loadu_pd(xp.add(row + COLS * t)),
                    _mm512_mul_pd(hv, g),
                );
                _mm512_storeu_pd(yp.add(row + COLS * t), v);
            }
        }
    }
}

/// [`normalize_columns`] for n a multiple of 8: up to 32 columns at a time, their lanes, norms and
/// reciprocals in registers. Kept beside the portable code because it is measurably faster: the
/// whole transposed Euler step at n = d = 32 takes 1.33 us with it against 1.42 us with
/// `normalize_columns` through `simd_dispatch!` (and 1.60 us with that one 32 columns wide).
///
/// # Safety
/// AVX-512 F must be available; `xt` and `y` hold d x n, n a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn normalize_columns_avx512(xt: &mut [f64], y: &[f64], n: usize, d: usize) -> bool {
    let mut ok = true;
    let mut c = 0;
    while c < n {
        let blocks = ((n - c) / COLS).min(4);
        // SAFETY: columns c..c + 8 blocks <= n; the caller's contract for the rest.
        ok &= unsafe {
            match blocks {
                1 => normalize_columns_block::<1>(xt, y, n, d, c),
                2 => normalize_columns_block::<2>(xt, y, n, d, c),
                3 => normalize_columns_block::<3>(xt, y, n, d, c),
                _ => normalize_columns_block::<4>(xt, y, n, d, c),
            }
        };
        c += COLS * blocks;
    }
    ok
}

/// Columns c..c + 8 T of [`normalize_columns_avx512`].
///
/// # Safety
/// As [`normalize_columns_avx512`], with c + 8 T <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn normalize_columns_block<const T: usize>(
    xt: &mut [f64],
    y: &[f64],
    n: usize,
    d: usize,
    c: usize,
) -> bool {
    use std::arch::x86_64::*;
    debug_assert!(xt.len() >= d * n && y.len() >= d * n && c + COLS * T <= n);
    let (yp, xp) = (y.as_ptr(), xt.as_mut_ptr());
    let mut lanes = [[_mm512_setzero_pd(); T]; 4];
    // SAFETY: every index is below d * n by the caller's contract.
    unsafe {
        // coordinates k = 4 m + r go to lane r (a constant index, so the lanes stay in registers)
        let whole = d / 4 * 4;
        for k in (0..whole).step_by(4) {
            for (r, lane) in lanes.iter_mut().enumerate() {
                for (t, lane) in lane.iter_mut().enumerate() {
                    let v = _mm512_loadu_pd(yp.add((k + r) * n + c + COLS * t));
                    *lane = _mm512_fmadd_pd(v, v, *lane);
                }
            }
        }
        for (r, lane) in lanes.iter_mut().enumerate().take(d - whole) {
            for (t, lane) in lane.iter_mut().enumerate() {
                let v = _mm512_loadu_pd(yp.add((whole + r) * n + c + COLS * t));
                *lane = _mm512_fmadd_pd(v, v, *lane);
            }
        }
        let mut ok = true;
        let mut inverse = [_mm512_setzero_pd(); T];
        for (t, inverse) in inverse.iter_mut().enumerate() {
            let q = _mm512_add_pd(
                _mm512_add_pd(lanes[0][t], lanes[1][t]),
                _mm512_add_pd(lanes[2][t], lanes[3][t]),
            );
            // the norm is finite and positive exactly when its square is
            let good = _mm512_cmp_pd_mask::<_CMP_GT_OQ>(q, _mm512_setzero_pd())
                & _mm512_cmp_pd_mask::<_CMP_LT_OQ>(q, _mm512_set1_pd(f64::INFINITY));
            ok &= good == 0xff;
            *inverse = _mm512_div_pd(_mm512_set1_pd(1.0), _mm512_sqrt_pd(q));
        }
        for k in 0..d {
            for (t, inverse) in inverse.iter().enumerate() {
                let at = k * n + c + COLS * t;
                _mm512_storeu_pd(
                    xp.add(at),
                    _mm512_mul_pd(_mm512_loadu_pd(yp.add(at)), *inverse),
                );
            }
        }
        ok
    }
}

/// `y <- x + h g` (g given in `y`), then [`normalize_columns`]; see [`euler_average_transposed`].
#[inline(always)]
fn update_and_normalize_columns(xt: &mut [f64], y: &mut [f64], h: f64, n: usize, d: usize) -> bool {
    for (y, &x) in y.iter_mut().zip(xt.iter()) {
        *y = x + h * *y;
    }
    normalize_columns(xt, y, n, d)
}

/// `x_ki = y_ki / ‖y_i‖` for the columns of Y^T (d x n), the norms as in [`normalize_rows`]:
/// four lanes (coordinates k mod 4, each in order of k, by fused multiply-adds), combined as
/// (l0 + l1) + (l2 + l3), times `1 / sqrt`. Eight columns at a time, their lanes in registers.
/// Returns true when every norm was finite and positive.
#[inline(always)]
fn normalize_columns(xt: &mut [f64], y: &[f64], n: usize, d: usize) -> bool {
    let mut ok = true;
    let mut c = 0;
    while c + COLS <= n {
        ok &= normalize_column_block::<COLS>(xt, y, n, d, c);
        c += COLS;
    }
    while c < n {
        ok &= normalize_column_block::<1>(xt, y, n, d, c);
        c += 1;
    }
    ok
}

/// Columns c..c+W of [`normalize_columns`].
#[inline(always)]
fn normalize_column_block<const W: usize>(
    xt: &mut [f64],
    y: &[f64],
    n: usize,
    d: usize,
    c: usize,
) -> bool {
    let block = |k: usize| -> &[f64; W] { y[k * n + c..k * n + c + W].try_into().expect("W") };
    let mut lanes = [[0.0f64; W]; 4];
    let whole = d / 4 * 4;
    for k in (0..whole).step_by(4) {
        for (r, lane) in lanes.iter_mut().enumerate() {
            let v = block(k + r);
            for w in 0..W {
                lane[w] = v[w].mul_add(v[w], lane[w]);
            }
        }
    }
    for (r, lane) in lanes.iter_mut().enumerate().take(d - whole) {
        let v = block(whole + r);
        for w in 0..W {
            lane[w] = v[w].mul_add(v[w], lane[w]);
        }
    }
    let mut ok = true;
    let mut inverse = [0.0f64; W];
    for w in 0..W {
        let q = (lanes[0][w] + lanes[1][w]) + (lanes[2][w] + lanes[3][w]);
        // the norm is finite and positive exactly when its square is (sqrt is correctly rounded)
        ok &= (q > 0.0) & (q < f64::INFINITY);
        inverse[w] = 1.0 / q.sqrt();
    }
    for k in 0..d {
        let v = block(k);
        let x = &mut xt[k * n + c..k * n + c + W];
        for w in 0..W {
            x[w] = v[w] * inverse[w];
        }
    }
    ok
}

fn check_shapes(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &[f64]) {
    assert!(
        a.len() >= p.saturating_mul(r)
            && b.len() >= r.saturating_mul(q)
            && out.len() >= p.saturating_mul(q),
        "matmul: slice shorter than its shape"
    );
}

/// Every entry of `out = A B`, A row-major.
#[inline(always)]
fn full_product(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    product::<false>(a, b, p, r, q, out, Part::All, scale)
}

/// `out = A B` (or its upper part) for A given row-major (p x r) or, with `AT`, transposed
/// (r x p: `a[l * p + i]` is A_il); same sums and bits either way.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn product<const AT: bool>(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    out: &mut [f64],
    part: Part,
    scale: Scale<'_>,
) {
    let mut i = 0;
    while i < p {
        let first = match part {
            Part::All => 0,
            Part::Upper => upper_start(i),
        };
        if i + ROWS <= p {
            tile_row::<ROWS, AT>(a, b, p, i, r, q, first, out, scale);
            i += ROWS;
        } else {
            tile_row::<1, AT>(a, b, p, i, r, q, first, out, scale);
            i += 1;
        }
    }
}

/// Rows i..i+R of the output, columns `first..q`, in tiles of 8, 4, 2 and 1 columns.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile_row<const R: usize, const AT: bool>(
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    first: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    let mut c = first;
    while c + COLS <= q {
        tile::<R, COLS, AT>(a, b, p, i, r, q, c, out, scale);
        c += COLS;
    }
    if c + 4 <= q {
        tile::<R, 4, AT>(a, b, p, i, r, q, c, out, scale);
        c += 4;
    }
    if c + 2 <= q {
        tile::<R, 2, AT>(a, b, p, i, r, q, c, out, scale);
        c += 2;
    }
    if c < q {
        tile::<R, 1, AT>(a, b, p, i, r, q, c, out, scale);
    }
}

/// One R x W output tile at (i, c): `acc[s][w] = sum_l a[i+s][l] b[l][c+w]`.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
fn tile<const R: usize, const W: usize, const AT: bool>(
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    c: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    let rows: [&[f64]; R] = std::array::from_fn(|s| {
        if AT {
            &a[..0]
        } else {
            &a[(i + s) * r..(i + s + 1) * r]
        }
    });
    let mut acc = [[0.0f64; W]; R];
    for (l, brow) in b.chunks_exact(q).take(r).enumerate() {
        let blk: &[f64; W] = brow[c..c + W].try_into().expect("tile of width W");
        let column: &[f64] = if AT {
            &a[l * p + i..l * p + i + R]
        } else {
            &a[..0]
        };
        for s in 0..R {
            let x = if AT { column[s] } else { rows[s][l] };
            for w in 0..W {
                acc[s][w] = x.mul_add(blk[w], acc[s][w]);
            }
        }
    }
    match scale {
        Scale::None => {}
        Scale::Rows(sc) => {
            for (s, row) in acc.iter_mut().enumerate() {
                for v in row.iter_mut() {
                    *v *= sc[i + s];
                }
            }
        }
        Scale::Columns(sc) => {
            let sc: &[f64; W] = sc[c..c + W].try_into().expect("tile of width W");
            for row in acc.iter_mut() {
                for w in 0..W {
                    row[w] *= sc[w];
                }
            }
        }
    }
    for (s, row) in acc.iter().enumerate() {
        out[(i + s) * q + c..(i + s) * q + c + W].copy_from_slice(row);
    }
}

/// True when the AVX-512 kernels may run: allowed by [`crate::simd::set_cap`] and present.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn avx512() -> bool {
    crate::simd::allows(crate::simd::Level::Avx512)
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("fma")
}

/// `acc[s][t] = sum_l a_{i+s, l} b[l][c + 8t .. c + 8t + 8]` (b: rows of length q; a row-major
/// with rows of length r, or with `AT` given transposed, `a[l * p + i + s]`), by fused
/// multiply-adds in order of l from zero (the sums of [`tile`], so the same bits), in R x T
/// AVX-512 registers.
///
/// # Safety
/// AVX-512 F must be available; rows i..i+R of A and columns c..c + 8 T of b's r rows must exist.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
#[allow(clippy::too_many_arguments)]
unsafe fn block_sums<const R: usize, const T: usize, const AT: bool>(
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    c: usize,
) -> [[std::arch::x86_64::__m512d; T]; R] {
    use std::arch::x86_64::*;
    debug_assert!(if AT {
        r == 0 || (r - 1) * p + i + R <= a.len()
    } else {
        (i + R) * r <= a.len()
    });
    debug_assert!(r == 0 || (r - 1) * q + c + COLS * T <= b.len());
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    let mut acc = [[_mm512_setzero_pd(); T]; R];
    // SAFETY: in bounds by the caller's contract.
    unsafe {
        for l in 0..r {
            let mut v = [_mm512_setzero_pd(); T];
            for (t, v) in v.iter_mut().enumerate() {
                *v = _mm512_loadu_pd(bp.add(l * q + c + COLS * t));
            }
            for (s, acc) in acc.iter_mut().enumerate() {
                let entry = if AT { l * p + i + s } else { (i + s) * r + l };
                let x = _mm512_set1_pd(*ap.add(entry));
                for t in 0..T {
                    acc[t] = _mm512_fmadd_pd(x, v[t], acc[t]);
                }
            }
        }
    }
    acc
}

/// `out_ij = sum_k a_ik b_jk` (a: n_a x d, b: n_b x d, out: n_a x n_b), sums over k in index order.
pub fn cross(a: &[f64], b: &[f64], n_a: usize, n_b: usize, d: usize, out: &mut [f64]) {
    let mut bt = vec![0.0; n_b * d];
    transpose(b, n_b, d, &mut bt);
    matmul(a, &bt, n_a, d, n_b, out);
}

/// Gram matrix `G = X X^T` of n points in R^d: the upper triangle by [`matmul`]'s tiles, mirrored
/// into the lower one (so G is bitwise symmetric).
pub fn gram(x: &[f64], n: usize, d: usize, out: &mut [f64]) {
    let mut xt = vec![0.0; n * d];
    transpose(x, n, d, &mut xt);
    gram_from_transposed(&xt, n, d, out);
}

/// As [`gram`], from X^T (d x n: `xt[k * n + i]` = x_ik): `G_ij = sum_k x_ik x_jk` by fused
/// multiply-adds in order of k, the same bits as [`gram`].
pub fn gram_from_transposed(xt: &[f64], n: usize, d: usize, out: &mut [f64]) {
    check_shapes(xt, xt, n, d, n, out);
    dispatch!(gram_impl(xt, n, d, out))
}

#[inline(always)]
fn gram_impl(xt: &[f64], n: usize, d: usize, out: &mut [f64]) {
    product::<true>(xt, xt, n, d, n, out, Part::Upper, Scale::None);
    mirror_lower(out, n);
}

/// First column computed in row i of a symmetric product: i rounded down to a multiple of
/// [`COLS`], so that row tiles (4 rows, inside one 8-block) share it.
#[inline(always)]
fn upper_start(i: usize) -> usize {
    i / COLS * COLS
}

/// Completes a symmetric n x n matrix of which rows i hold columns `upper_start(i)..n`:
/// `m_ij <- m_ji` for j < upper_start(i), by blocks.
#[inline(always)]
fn mirror_lower(m: &mut [f64], n: usize) {
    let mut r0 = COLS;
    while r0 < n {
        let h = COLS.min(n - r0);
        let (top, bottom) = m.split_at_mut(r0 * n);
        // bottom[c][j] = top[j][r0 + c] for rows r0 + c (c < h) and columns j < r0
        transpose_into(&top[r0..], n, bottom, n, r0, h);
        r0 += COLS;
    }
}

/// `dst[c * dst_stride + r] = src[r * src_stride + c]` for r < rows, c < cols: 4 x 4 blocks through
/// vector registers (AVX shuffles where available), then the edges. Pure data movement: the result
/// does not depend on the path taken.
#[inline(always)]
fn transpose_into(
    src: &[f64],
    src_stride: usize,
    dst: &mut [f64],
    dst_stride: usize,
    rows: usize,
    cols: usize,
) {
    const B: usize = 4;
    let (rb, cb) = (rows / B * B, cols / B * B);
    if rows == 0 || cols == 0 {
        return;
    }
    assert!(
        src.len() >= (rows - 1).saturating_mul(src_stride).saturating_add(cols)
            && dst.len() >= (cols - 1).saturating_mul(dst_stride).saturating_add(rows),
        "transpose: slice shorter than its shape"
    );
    #[cfg(target_arch = "x86_64")]
    let avx = crate::simd::allows(crate::simd::Level::Avx2) && std::is_x86_feature_detected!("avx");
    #[cfg(not(target_arch = "x86_64"))]
    let avx = false;
    for r0 in (0..rb).step_by(B) {
        for c0 in (0..cb).step_by(B) {
            let (s, d) = (r0 * src_stride + c0, c0 * dst_stride + r0);
            if avx {
                #[cfg(target_arch = "x86_64")]
                // SAFETY: AVX is available (checked above); the block's rows r0..r0+4 and columns
                // c0..c0+4 lie inside both slices by the assertion above (r0 + 4 <= rows,
                // c0 + 4 <= cols).
                unsafe {
                    transpose_4x4_avx(
                        src[s..].as_ptr(),
                        src_stride,
                        dst[d..].as_mut_ptr(),
                        dst_stride,
                    )
                };
            } else {
                for c in 0..B {
                    for r in 0..B {
                        dst[d + c * dst_stride + r] = src[s + r * src_stride + c];
                    }
                }
            }
        }
    }
    for r in 0..rows {
        let first = if r < rb { cb } else { 0 };
        for c in first..cols {
            dst[c * dst_stride + r] = src[r * src_stride + c];
        }
    }
}

/// One 4 x 4 block: four row loads, eight shuffles, four column stores.
///
/// # Safety
/// AVX must be available; `src + r * src_stride + c` and `dst + c * dst_stride + r` must be valid
/// for r, c < 4.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx")]
unsafe fn transpose_4x4_avx(src: *const f64, src_stride: usize, dst: *mut f64, dst_stride: usize) {
    use std::arch::x86_64::*;
    // SAFETY: in bounds by the caller's contract.
    unsafe {
        let r0 = _mm256_loadu_pd(src);
        let r1 = _mm256_loadu_pd(src.add(src_stride));
        let r2 = _mm256_loadu_pd(src.add(2 * src_stride));
        let r3 = _mm256_loadu_pd(src.add(3 * src_stride));
        let t0 = _mm256_unpacklo_pd(r0, r1);
        let t1 = _mm256_unpackhi_pd(r0, r1);
        let t2 = _mm256_unpacklo_pd(r2, r3);
        let t3 = _mm256_unpackhi_pd(r2, r3);
        _mm256_storeu_pd(dst, _mm256_permute2f128_pd(t0, t2, 0x20));
        _mm256_storeu_pd(dst.add(dst_stride), _mm256_permute2f128_pd(t1, t3, 0x20));
        _mm256_storeu_pd(
            dst.add(2 * dst_stride),
            _mm256_permute2f128_pd(t0, t2, 0x31),
        );
        _mm256_storeu_pd(
            dst.add(3 * dst_stride),
            _mm256_permute2f128_pd(t1, t3, 0x31),
        );
    }
}

/// Largest `beta (c - G_ii)` for which [`symmetric_weights`] is used: the diagonal weight of every row
/// is then at least e^-600, far from underflow.
pub const SYMMETRIC_SHIFT_LIMIT: f64 = 600.0;

/// Attention weights of Q = K = I, \[GLPR\] (2.6), from a bitwise symmetric Gram matrix G (n x n):
///
/// ```text
/// E_ij = exp(beta (G_ij - c)),   c = max_i G_ii,   z_i = sum_j E_ij
/// ```
///
/// One common shift c instead of a maximum per row keeps E symmetric, so only the upper triangle
/// is exponentiated (then mirrored) and the row sums are the column sums (summed over the row
/// index in order, vectorised across columns). Cauchy-Schwarz gives G_ij <= sqrt(G_ii G_jj) <= c,
/// so no exponent is positive beyond round-off and nothing overflows for any beta >= 0; row i
/// contains E_ii = exp(-beta (c - G_ii)), so z_i cannot underflow while
/// beta (c - min_i G_ii) <= [`SYMMETRIC_SHIFT_LIMIT`] (always the case on the sphere, where
/// G_ii = 1 to round-off). Returns `Some(c)`, or `None` without writing anything when that bound
/// fails or the diagonal is not finite: callers then shift each row by its own maximum.
pub fn symmetric_weights(
    gram: &[f64],
    n: usize,
    beta: f64,
    weights: &mut [f64],
    row_sums: &mut [f64],
) -> Option<f64> {
    assert!(
        gram.len() >= n.saturating_mul(n)
            && weights.len() >= n.saturating_mul(n)
            && row_sums.len() >= n,
        "symmetric_weights: slice shorter than its shape"
    );
    let c = symmetric_shift(gram, n, beta)?;
    dispatch!(symmetric_weights_impl(gram, n, beta, c, weights, row_sums));
    Some(c)
}

/// The shift c = max_i G_ii of [`symmetric_weights`], or `None` when the diagonal is not finite
/// or beta (c - min_i G_ii) exceeds [`SYMMETRIC_SHIFT_LIMIT`].
#[inline(always)]
fn symmetric_shift(gram: &[f64], n: usize, beta: f64) -> Option<f64> {
    let (mut c, mut low) = (f64::NEG_INFINITY, f64::INFINITY);
    for i in 0..n {
        let g = gram[i * n + i];
        c = if g > c { g } else { c };
        low = if g < low { g } else { low };
    }
    (c.is_finite() && low.is_finite() && beta * (c - low) <= SYMMETRIC_SHIFT_LIMIT).then_some(c)
}

/// The Gram matrix G = X X^T of the state given transposed (`xt`: X^T, d x n) and the
/// symmetric weights of [`symmetric_weights`] from it: the same bits as [`gram_from_transposed`]
/// followed by [`symmetric_weights`] (with AVX-512 and n a multiple of 8: wide tiles of G from X^T,
/// and an exponential without clamps when the exponents are known to lie in [-708, 709]).
/// Returns `Some(c)`, or `None` (G computed, the weights not) when the symmetric weights do not
/// apply.
pub fn gram_and_weights(
    xt: &[f64],
    n: usize,
    d: usize,
    beta: f64,
    gram: &mut [f64],
    weights: &mut [f64],
    row_sums: &mut [f64],
) -> Option<f64> {
    check_shapes(xt, xt, n, d, n, gram);
    assert!(
        weights.len() >= n.saturating_mul(n) && row_sums.len() >= n,
        "gram_and_weights: slice shorter than its shape"
    );
    #[cfg(target_arch = "x86_64")]
    if n.is_multiple_of(COLS) && avx512() {
        // SAFETY: the features are present (checked just above) and the shapes were asserted.
        return unsafe { gram_and_weights_avx512(xt, n, d, beta, gram, weights, row_sums) };
    }
    gram_from_transposed(xt, n, d, gram);
    symmetric_weights(gram, n, beta, weights, row_sums)
}

/// [`gram_and_weights`] for n a multiple of 8.
///
/// # Safety
/// AVX-512 F/VL/DQ and FMA must be available; the shapes as asserted by [`gram_and_weights`],
/// n a multiple of 8.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn gram_and_weights_avx512(
    xt: &[f64],
    n: usize,
    d: usize,
    beta: f64,
    gram: &mut [f64],
    weights: &mut [f64],
    row_sums: &mut [f64],
) -> Option<f64> {
    use std::arch::x86_64::*;
    for i in (0..n).step_by(ROWS) {
        let mut col = upper_start(i);
        if i % COLS == ROWS {
            // the second four rows of a diagonal 8 x 8 block: columns i..i+4 by a half-width
            // tile (the four to their left are mirrored below)
            // SAFETY: as for the full tiles below.
            unsafe { gram_half_tile(xt, n, d, i, gram) };
            col += COLS;
        }
        while col < n {
            let blocks = ((n - col) / COLS).min(4);
            // SAFETY: rows i..i + 4 <= n and columns col..col + 8 blocks <= n (n is a multiple
            // of 8 and so of 4); AVX-512 by the caller's contract.
            unsafe {
                match blocks {
                    1 => gram_tile::<1>(xt, n, d, i, col, gram),
                    2 => gram_tile::<2>(xt, n, d, i, col, gram),
                    3 => gram_tile::<3>(xt, n, d, i, col, gram),
                    _ => gram_tile::<4>(xt, n, d, i, col, gram),
                }
            }
            col += COLS * blocks;
        }
    }
    mirror_diagonal_quarters(gram, n);
    let Some(c) = symmetric_shift(gram, n, beta) else {
        mirror_lower(gram, n);
        return None;
    };
    // |G_ij| <= sqrt(G_ii G_jj) <= c (to round-off), so every exponent beta (G_ij - c) lies in
    // [-2 |beta| c, |beta| round-off]: inside [-708, 709] the clamps of `exp` change nothing
    let in_range = beta.abs() * c * 2.000_01 <= 700.0;
    let (bv, cv) = (_mm512_set1_pd(beta), _mm512_set1_pd(c));
    let weight = |g: __m512d| {
        // SAFETY: AVX-512 by the caller's contract.
        unsafe {
            let e = _mm512_mul_pd(bv, _mm512_sub_pd(g, cv));
            if in_range {
                crate::exp::exp_in_range_avx512(e)
            } else {
                crate::exp::exp_avx512(e)
            }
        }
    };
    // By blocks of eight rows b (in order), the weights of the upper part in 8 x 8 tiles (eight
    // independent exponentials), each tile right of the diagonal, of G and of E, also stored
    // transposed (the mirror images), and the column sums z_j = sum_i E_ij accumulated in order
    // of i: column block v receives rows 8b..8b+8 from pass b <= v, then the rows below its
    // diagonal block from the transposed tiles of pass v.
    let (gp, wp, zp) = (
        gram.as_mut_ptr(),
        weights.as_mut_ptr(),
        row_sums.as_mut_ptr(),
    );
    row_sums[..n].fill(0.0);
    for b in (0..n).step_by(COLS) {
        // SAFETY: b + 8 <= n, every row and column block below n (a multiple of 8).
        unsafe {
            let mut zb = _mm512_loadu_pd(zp.add(b));
            for (r, row) in diagonal_weights(gp, n, b, weight).iter().enumerate() {
                _mm512_storeu_pd(wp.add((b + r) * n + b), *row);
                zb = _mm512_add_pd(zb, *row);
            }
            for v in (b + COLS..n).step_by(COLS) {
                let e: [__m512d; COLS] =
                    std::array::from_fn(|r| weight(_mm512_loadu_pd(gp.add((b + r) * n + v))));
                let mut zv = _mm512_loadu_pd(zp.add(v));
                for (r, e) in e.iter().enumerate() {
                    _mm512_storeu_pd(wp.add((b + r) * n + v), *e);
                    zv = _mm512_add_pd(zv, *e);
                }
                _mm512_storeu_pd(zp.add(v), zv);
                for (r, t) in transpose_8x8(e).iter().enumerate() {
                    _mm512_storeu_pd(wp.add((v + r) * n + b), *t);
                    zb = _mm512_add_pd(zb, *t);
                }
            }
            _mm512_storeu_pd(zp.add(b), zb);
        }
    }
    // the lower part of G: the mirror images of the tiles right of the diagonal blocks
    for b in (0..n).step_by(COLS) {
        for v in (b + COLS..n).step_by(COLS) {
            // SAFETY: rows and columns b..b + 8, v..v + 8 lie below n.
            unsafe {
                let g = std::array::from_fn(|r| _mm512_loadu_pd(gp.add((b + r) * n + v)));
                for (r, t) in transpose_8x8(g).iter().enumerate() {
                    _mm512_storeu_pd(gp.add((v + r) * n + b), *t);
                }
            }
        }
    }
    Some(c)
}

/// The weights of the diagonal 8 x 8 block (rows and columns b..b+8) of
/// [`gram_and_weights_avx512`], as eight rows: the top four rows by full exponentials, the right
/// halves of the bottom four packed two rows to a register (two exponentials instead of four), and
/// their left halves the mirror image of the top rows' right halves (E is symmetric entry by
/// entry, G bitwise).
///
/// # Safety
/// AVX-512 F must be available; `gram` points to n x n entries, b + 8 <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn diagonal_weights(
    gram: *const f64,
    n: usize,
    b: usize,
    weight: impl Fn(std::arch::x86_64::__m512d) -> std::arch::x86_64::__m512d,
) -> [std::arch::x86_64::__m512d; 8] {
    use std::arch::x86_64::*;
    // SAFETY: rows and columns b..b + 8 lie inside the n x n matrix by the caller's contract.
    let row = |r: usize| unsafe { _mm512_loadu_pd(gram.add((b + r) * n + b)) };
    let top: [__m512d; 4] = std::array::from_fn(|r| weight(row(r)));
    // 0xee: the upper 256 bits of each operand
    let packed = |r: usize| weight(_mm512_shuffle_f64x2::<0xee>(row(r), row(r + 1)));
    let (p45, p67) = (packed(4), packed(6));
    let right = [
        _mm512_castpd512_pd256(p45),
        _mm512_extractf64x4_pd::<1>(p45),
        _mm512_castpd512_pd256(p67),
        _mm512_extractf64x4_pd::<1>(p67),
    ];
    // left[s][t] = top[t][4 + s]: the 4 x 4 transpose of the top rows' right halves
    let [h0, h1, h2, h3] = top.map(|t| _mm512_extractf64x4_pd::<1>(t));
    let (t0, t1) = (_mm256_unpacklo_pd(h0, h1), _mm256_unpackhi_pd(h0, h1));
    let (t2, t3) = (_mm256_unpacklo_pd(h2, h3), _mm256_unpackhi_pd(h2, h3));
    let left = [
        _mm256_permute2f128_pd::<0x20>(t0, t2),
        _mm256_permute2f128_pd::<0x20>(t1, t3),
        _mm256_permute2f128_pd::<0x31>(t0, t2),
        _mm256_permute2f128_pd::<0x31>(t1, t3),
    ];
    let bottom = |s: usize| _mm512_insertf64x4::<1>(_mm512_castpd256_pd512(left[s]), right[s]);
    [
        top[0],
        top[1],
        top[2],
        top[3],
        bottom(0),
        bottom(1),
        bottom(2),
        bottom(3),
    ]
}

/// The transpose of an 8 x 8 block held as eight rows: `out[c][r] = rows[r][c]` (24 shuffles).
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
fn transpose_8x8(rows: [std::arch::x86_64::__m512d; 8]) -> [std::arch::x86_64::__m512d; 8] {
    use std::arch::x86_64::*;
    let [r0, r1, r2, r3, r4, r5, r6, r7] = rows;
    // pairs of rows interleaved: t0 = (r0[0], r1[0], r0[2], r1[2], ...), t1 = (r0[1], r1[1], ...)
    let (t0, t1) = (_mm512_unpacklo_pd(r0, r1), _mm512_unpackhi_pd(r0, r1));
    let (t2, t3) = (_mm512_unpacklo_pd(r2, r3), _mm512_unpackhi_pd(r2, r3));
    let (t4, t5) = (_mm512_unpacklo_pd(r4, r5), _mm512_unpackhi_pd(r4, r5));
    let (t6, t7) = (_mm512_unpacklo_pd(r6, r7), _mm512_unpackhi_pd(r6, r7));
    // 128-bit lanes: 0x88 takes lanes (0, 2) of each operand, 0xdd lanes (1, 3)
    let even = |a, b| _mm512_shuffle_f64x2::<0x88>(a, b);
    let odd = |a, b| _mm512_shuffle_f64x2::<0xdd>(a, b);
    // u0 = (r0[0], r1[0], r0[4], r1[4], r2[0], r3[0], r2[4], r3[4]), ...
    let (u0, u1, u2, u3) = (even(t0, t2), odd(t0, t2), even(t1, t3), odd(t1, t3));
    let (u4, u5, u6, u7) = (even(t4, t6), odd(t4, t6), even(t5, t7), odd(t5, t7));
    [
        even(u0, u4),
        even(u2, u6),
        even(u1, u5),
        even(u3, u7),
        odd(u0, u4),
        odd(u2, u6),
        odd(u1, u5),
        odd(u3, u7),
    ]
}

/// Rows i..i+4, columns i..i+4 of G from X^T (four-wide registers: half the work of a full tile).
///
/// # Safety
/// As [`gram_and_weights_avx512`], with i + 4 <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn gram_half_tile(xt: &[f64], n: usize, d: usize, i: usize, gram: &mut [f64]) {
    use std::arch::x86_64::*;
    debug_assert!(i + ROWS <= n && xt.len() >= d * n && gram.len() >= n * n);
    let xp = xt.as_ptr();
    let mut acc = [_mm256_setzero_pd(); ROWS];
    // SAFETY: every index is below d * n (xt) or n * n (gram) by the caller's contract.
    unsafe {
        for k in 0..d {
            let v = _mm256_loadu_pd(xp.add(k * n + i));
            for (s, acc) in acc.iter_mut().enumerate() {
                *acc = _mm256_fmadd_pd(_mm256_set1_pd(*xp.add(k * n + i + s)), v, *acc);
            }
        }
        for (s, acc) in acc.iter().enumerate() {
            _mm256_storeu_pd(gram.as_mut_ptr().add((i + s) * n + i), *acc);
        }
    }
}

/// In every diagonal 8 x 8 block of G (8b..8b+8): rows 8b+4..8b+8, columns 8b..8b+4 from their
/// mirror image (the half tiles of [`gram_half_tile`] leave them out).
fn mirror_diagonal_quarters(gram: &mut [f64], n: usize) {
    for b in (0..n).step_by(COLS).filter(|b| b + COLS <= n) {
        let (top, bottom) = gram.split_at_mut((b + ROWS) * n);
        transpose_into(&top[b * n + b + ROWS..], n, &mut bottom[b..], n, ROWS, ROWS);
    }
}

/// Rows i..i+4, columns col..col + 8 T of G from X^T.
///
/// # Safety
/// As [`gram_and_weights_avx512`], with i + 4 <= n and col + 8 T <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn gram_tile<const T: usize>(
    xt: &[f64],
    n: usize,
    d: usize,
    i: usize,
    col: usize,
    gram: &mut [f64],
) {
    use std::arch::x86_64::*;
    // SAFETY: every index is below n * n (gram) or d * n (xt) by the caller's contract.
    unsafe {
        let acc = block_sums::<ROWS, T, true>(xt, xt, n, i, d, n, col);
        for (s, acc) in acc.iter().enumerate() {
            for (t, g) in acc.iter().enumerate() {
                _mm512_storeu_pd(gram.as_mut_ptr().add((i + s) * n + col + COLS * t), *g);
            }
        }
    }
}

#[inline(always)]
fn symmetric_weights_impl(
    gram: &[f64],
    n: usize,
    beta: f64,
    c: f64,
    weights: &mut [f64],
    row_sums: &mut [f64],
) {
    #[cfg(target_arch = "x86_64")]
    let vector = avx512();
    #[cfg(not(target_arch = "x86_64"))]
    let vector = false;
    for i in 0..n {
        let first = i * n + upper_start(i);
        let (g, e) = (&gram[first..(i + 1) * n], &mut weights[first..(i + 1) * n]);
        let mut done = 0;
        #[cfg(target_arch = "x86_64")]
        if vector {
            // SAFETY: AVX-512 is present (`avx512()` above).
            done = unsafe { crate::exp::exp_blocks_avx512(e, Some((g, beta, c))) };
        }
        for (e, &g) in e[done..].iter_mut().zip(&g[done..]) {
            *e = exp(beta * (g - c));
        }
    }
    mirror_lower(weights, n);
    column_sums(weights, n, row_sums);
}

/// `z_j = sum_i E_ij` in order of i (the row sums of a bitwise symmetric E): four blocks of
/// [`COLS`] columns at a time in registers (four independent chains of additions).
#[inline(always)]
fn column_sums(weights: &[f64], n: usize, row_sums: &mut [f64]) {
    let mut c = 0;
    while c + 4 * COLS <= n {
        let mut acc = [[0.0f64; COLS]; 4];
        for row in weights[..n * n].chunks_exact(n) {
            for (b, acc) in acc.iter_mut().enumerate() {
                let blk: &[f64; COLS] = row[c + b * COLS..c + (b + 1) * COLS]
                    .try_into()
                    .expect("block of COLS");
                for w in 0..COLS {
                    acc[w] += blk[w];
                }
            }
        }
        for (b, acc) in acc.iter().enumerate() {
            row_sums[c + b * COLS..c + (b + 1) * COLS].copy_from_slice(acc);
        }
        c += 4 * COLS;
    }
    while c + COLS <= n {
        let mut acc = [0.0f64; COLS];
        for row in weights[..n * n].chunks_exact(n) {
            let blk: &[f64; COLS] = row[c..c + COLS].try_into().expect("block of COLS");
            for w in 0..COLS {
                acc[w] += blk[w];
            }
        }
        row_sums[c..c + COLS].copy_from_slice(&acc);
        c += COLS;
    }
    for (j, z) in row_sums.iter_mut().enumerate().take(n).skip(c) {
        *z = weights[j..n * n].iter().step_by(n).sum();
    }
}

/// `v_i <- 1 / v_i` (correctly rounded divisions, vectorised).
pub fn reciprocals(v: &mut [f64]) {
    dispatch!(reciprocals_impl(v))
}

#[inline(always)]
fn reciprocals_impl(v: &mut [f64]) {
    v.iter_mut().for_each(|z| *z = 1.0 / *z);
}

/// `bt` (d x n) = transpose of `b` (n x d).
pub fn transpose(b: &[f64], n: usize, d: usize, bt: &mut [f64]) {
    assert!(
        b.len() >= n.saturating_mul(d) && bt.len() >= n.saturating_mul(d),
        "transpose: slice shorter than its shape"
    );
    dispatch!(transpose_into(b, d, bt, n, n, d))
}

/// As [`cross`], with the second factor given transposed (`bt`: d x n_b).
pub fn cross_with_transposed(
    a: &[f64],
    bt: &[f64],
    n_a: usize,
    n_b: usize,
    d: usize,
    out: &mut [f64],
) {
    matmul(a, bt, n_a, d, n_b, out);
}

/// `out_i = x_i M` for each row x_i of x (n x d) and M (d x d, row-major): `out_ik = sum_l x_il M_lk`.
pub fn rows_times_matrix(x: &[f64], n: usize, d: usize, m: &[f64], out: &mut [f64]) {
    matmul(x, m, n, d, d, out);
}

/// `x_i <- x_i / ‖x_i‖` for every row of x (rows of length d), multiplying by the reciprocal
/// norm. ‖x_i‖^2 is summed with fused multiply-adds in four fixed lanes (coordinates l = 0, 1, 2, 3
/// mod 4, each in index order), combined as (s0 + s1) + (s2 + s3): the same bits on every machine.
/// Returns true when every norm was finite and positive (then every new coordinate is finite).
pub fn normalize_rows(x: &mut [f64], d: usize) -> bool {
    dispatch!(normalize_rows_impl(x, None, d))
}

/// The paper's Euler step and renormalisation in one pass: `x_i <- y_i / ‖y_i‖` with
/// `y_i = x_i + h f_i` (the same operations, hence the same bits, as the update followed by
/// [`normalize_rows`]).
pub fn euler_normalize_rows(x: &mut [f64], f: &[f64], h: f64, d: usize) -> bool {
    assert_eq!(x.len(), f.len(), "euler_normalize_rows: shapes differ");
    dispatch!(normalize_rows_impl(x, Some((f, h)), d))
}

#[inline(always)]
fn normalize_rows_impl(x: &mut [f64], step: Option<(&[f64], f64)>, d: usize) -> bool {
    // eight rows at a time: their (latency-bound) sums overlap
    let mut ok = true;
    let mut blocks = x.chunks_exact_mut(8 * d);
    let mut first = 0;
    for block in blocks.by_ref() {
        ok &= normalize_block::<8>(block, step.map(|(f, h)| (&f[first..first + 8 * d], h)), d);
        first += 8 * d;
    }
    for row in blocks.into_remainder().chunks_exact_mut(d) {
        ok &= normalize_block::<1>(row, step.map(|(f, h)| (&f[first..first + d], h)), d);
        first += d;
    }
    ok
}

/// R consecutive rows of length d (see [`normalize_rows`]).
#[inline(always)]
fn normalize_block<const R: usize>(x: &mut [f64], step: Option<(&[f64], f64)>, d: usize) -> bool {
    if let Some((f, h)) = step {
        for (v, &g) in x.iter_mut().zip(f) {
            *v += h * g;
        }
    }
    // the rows' lanes advance together (R independent chains of fused multiply-adds, each row's
    // four lanes in one vector register)
    let whole = d / 4 * 4;
    let mut lanes = [[0.0f64; 4]; R];
    let mut l = 0;
    while l < whole {
        for (s, lane) in lanes.iter_mut().enumerate() {
            let c: &[f64; 4] = x[s * d + l..s * d + l + 4]
                .try_into()
                .expect("four coordinates");
            for k in 0..4 {
                lane[k] = c[k].mul_add(c[k], lane[k]);
            }
        }
        l += 4;
    }
    for (s, lane) in lanes.iter_mut().enumerate() {
        for k in 0..d - whole {
            let v = x[s * d + whole + k];
            lane[k] = v.mul_add(v, lane[k]);
        }
    }
    let mut ok = true;
    for (row, l) in x.chunks_exact_mut(d).zip(&lanes) {
        let q = (l[0] + l[1]) + (l[2] + l[3]);
        // the norm is finite and positive exactly when its square is (sqrt is correctly rounded)
        ok &= (q > 0.0) & (q < f64::INFINITY);
        let inv = 1.0 / q.sqrt();
        for v in row.iter_mut() {
            *v *= inv;
        }
    }
    ok
}

/// For a bitwise symmetric n x n matrix (every Gram matrix of this crate is): the number of
/// entries above the diagonal (i < j) that are `> threshold`, as (count over all entries - count on
/// the diagonal) / 2, so that the scan is one contiguous, vectorised loop (faster than scanning the
/// upper triangle row by row).
pub fn upper_count_above(m: &[f64], n: usize, threshold: f64) -> u64 {
    assert!(
        m.len() >= n.saturating_mul(n),
        "upper_count_above: slice shorter than its shape"
    );
    debug_assert!((0..n).all(|i| (0..i).all(|j| m[i * n + j].to_bits() == m[j * n + i].to_bits())));
    dispatch!(upper_count_above_impl(m, n, threshold))
}

#[inline(always)]
fn upper_count_above_impl(m: &[f64], n: usize, threshold: f64) -> u64 {
    let mut all = 0u64;
    for &x in &m[..n * n] {
        all += u64::from(x > threshold);
    }
    let mut diagonal = 0u64;
    for i in 0..n {
        diagonal += u64::from(m[i * n + i] > threshold);
    }
    (all - diagonal) / 2
}

/// max_j v_j (NEG_INFINITY for an empty slice; NaN entries are ignored), in four lanes so that the
/// loop vectorises (the maximum is exact, so the lane order does not matter).
pub fn max(v: &[f64]) -> f64 {
    let mut lanes = [f64::NEG_INFINITY; 4];
    let chunks = v.chunks_exact(4);
    let rest = chunks.remainder();
    for c in chunks {
        for k in 0..4 {
            lanes[k] = if c[k] > lanes[k] { c[k] } else { lanes[k] };
        }
    }
    rest.iter()
        .chain(&lanes)
        .fold(f64::NEG_INFINITY, |m, &x| if x > m { x } else { m })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligned_buffers_are_aligned_and_keep_values() {
        let mut b = AlignedBuf::from_slice(&[1.0, 2.0, 3.0]);
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert_eq!(&b[..], &[1.0, 2.0, 3.0]);
        b.resize(11);
        assert_eq!(&b[..4], &[1.0, 2.0, 3.0, 0.0]);
        assert_eq!(b.len(), 11);
        b.resize(2);
        b.resize(5);
        assert_eq!(&b[..], &[1.0, 2.0, 0.0, 0.0, 0.0]);
        assert_eq!(b.as_ptr() as usize % 64, 0);
        assert!(AlignedBuf::zeros(0).is_empty());
    }

    #[test]
    fn gram_is_bitwise_symmetric_and_correct() {
        let (n, d) = (5, 7);
        let x: Vec<f64> = (0..n * d)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 3.0)
            .collect();
        let mut g = vec![0.0; n * n];
        gram(&x, n, d, &mut g);
        for i in 0..n {
            for j in 0..n {
                assert_eq!(g[i * n + j].to_bits(), g[j * n + i].to_bits());
                let direct: f64 = (0..d).map(|k| x[i * d + k] * x[j * d + k]).sum();
                assert!((g[i * n + j] - direct).abs() < 1e-13);
            }
        }
    }

    #[test]
    fn matrix_products_agree_with_naive() {
        let (n, d) = (3, 4);
        let x: Vec<f64> = (0..n * d).map(|i| (i as f64).sin()).collect();
        let m: Vec<f64> = (0..d * d).map(|i| (i as f64 * 0.7).cos()).collect();
        let mut out = vec![0.0; n * d];
        rows_times_matrix(&x, n, d, &m, &mut out);
        for i in 0..n {
            for k in 0..d {
                let direct: f64 = (0..d).map(|l| x[i * d + l] * m[l * d + k]).sum();
                assert!((out[i * d + k] - direct).abs() < 1e-14);
            }
        }
        let w: Vec<f64> = (0..n * n).map(|i| i as f64 * 0.1).collect();
        let (rows, cols) = ([0.5, -2.0, 3.0], [1.5, 0.25, -1.0, 2.0]);
        let mut by_rows = vec![0.0; n * d];
        matmul(&w, &x, n, n, d, &mut out);
        matmul_scaled(&w, &x, n, n, d, Scale::Rows(&rows), &mut by_rows);
        let mut by_cols = vec![0.0; n * d];
        matmul_scaled(&w, &x, n, n, d, Scale::Columns(&cols), &mut by_cols);
        for i in 0..n {
            for k in 0..d {
                let direct: f64 = (0..n).map(|j| w[i * n + j] * x[j * d + k]).sum();
                assert!((out[i * d + k] - direct).abs() < 1e-14);
                assert_eq!(by_rows[i * d + k], out[i * d + k] * rows[i]);
                assert_eq!(by_cols[i * d + k], out[i * d + k] * cols[k]);
            }
        }
    }

    #[test]
    fn register_tiled_products_match_the_portable_tiles_bitwise() {
        // q >= 8 takes the AVX-512 register tiles where available (32-wide panels, narrower right
        // edges, q mod 8 columns by the portable tiles, one-row tiles below p mod 4)
        for (p, r, q) in [
            (32, 128, 128),
            (32, 32, 128),
            (32, 128, 32),
            (7, 5, 8),
            (13, 9, 61),
            (4, 1, 40),
            (1, 3, 17),
            (6, 16, 3),
            (0, 4, 8),
        ] {
            let a: Vec<f64> = (0..p * r).map(|k| (k as f64 * 0.37).sin()).collect();
            let b: Vec<f64> = (0..r * q).map(|k| (k as f64 * 0.61).cos()).collect();
            let rows: Vec<f64> = (0..p).map(|k| 1.0 / (3.0 + k as f64)).collect();
            let cols: Vec<f64> = (0..q).map(|k| (k as f64 * 0.3).exp()).collect();
            for scale in [Scale::None, Scale::Rows(&rows), Scale::Columns(&cols)] {
                let (mut fast, mut portable) = (vec![0.0; p * q], vec![0.0; p * q]);
                matmul_scaled(&a, &b, p, r, q, scale, &mut fast);
                full_product(&a, &b, p, r, q, &mut portable, scale);
                let bits = |v: &[f64]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
                assert_eq!(bits(&fast), bits(&portable), "{p} x {r} x {q}, {scale:?}");
            }
        }
    }

    #[test]
    fn transposed_euler_step_matches_the_row_major_two_pass_step_bitwise() {
        // n a multiple of 8 takes the AVX-512 kernel where available (n = 40: a 32-wide and an
        // 8-wide block); d % 4 != 0 exercises the single-coordinate blocks; n = 13, 7, 1 the
        // portable fallback
        for (n, d) in [
            (32, 32),
            (40, 13),
            (8, 3),
            (16, 1),
            (13, 8),
            (7, 16),
            (1, 32),
        ] {
            let x: Vec<f64> = (0..n * d).map(|i| (i as f64 * 0.37).sin()).collect();
            let mut w: Vec<f64> = (0..n * n).map(|i| (i as f64 * 0.11).cos().exp()).collect();
            for i in 0..n {
                for j in 0..i {
                    w[i * n + j] = w[j * n + i];
                }
            }
            let s: Vec<f64> = (0..n).map(|i| 1.0 / (3.0 + i as f64)).collect();
            let mut xt = vec![0.0; n * d];
            transpose(&x, n, d, &mut xt);
            let mut y = vec![0.0; n * d];
            assert!(euler_average_transposed(&w, &s, 0.1, n, d, &mut xt, &mut y));
            let mut fused = vec![0.0; n * d];
            transpose(&xt, d, n, &mut fused);
            let mut average = vec![0.0; n * d];
            matmul_scaled(&w, &x, n, n, d, Scale::Rows(&s), &mut average);
            let mut two_pass = x.clone();
            assert!(euler_normalize_rows(&mut two_pass, &average, 0.1, d));
            assert_eq!(fused, two_pass, "n = {n}, d = {d}");
        }
        // a zero column (particle) is reported, on both paths
        for n in [8, 5] {
            let d = 4;
            let (mut xt, w, s) = (vec![0.0; n * d], vec![1.0; n * n], vec![1.0; n]);
            let mut y = vec![0.0; n * d];
            assert!(!euler_average_transposed(
                &w, &s, 0.1, n, d, &mut xt, &mut y
            ));
        }
    }

    #[test]
    fn gram_and_weights_match_the_separate_kernels_bitwise() {
        // beta = 2: exponentials without clamps; beta = 400: 2 beta c > 700, the clamped ones
        // (underflow to zero included); n = 12: the portable path
        for (n, d, beta) in [
            (32, 32, 2.0),
            (16, 5, 400.0),
            (40, 3, 9.0),
            (8, 4, 0.5),
            (12, 7, 2.0),
        ] {
            let mut x: Vec<f64> = (0..n * d).map(|i| (i as f64 * 0.73).cos()).collect();
            normalize_rows(&mut x, d);
            let mut xt = vec![0.0; n * d];
            transpose(&x, n, d, &mut xt);
            let (mut g, mut e, mut z) = (vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n]);
            let c = gram_and_weights(&xt, n, d, beta, &mut g, &mut e, &mut z);
            let (mut g2, mut e2, mut z2) = (vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n]);
            gram(&x, n, d, &mut g2);
            let c2 = symmetric_weights(&g2, n, beta, &mut e2, &mut z2);
            assert!(c.is_some());
            assert_eq!((c, &g, &e, &z), (c2, &g2, &e2, &z2), "n = {n}, d = {d}");
            if beta > 100.0 {
                assert!(e.contains(&0.0), "the clamped path is exercised");
            }
        }
        // very different norms: no symmetric weights, the Gram matrix all the same
        let (n, d) = (8, 2);
        let mut xt = vec![0.1; n * d];
        xt[0] = 30.0;
        let (mut g, mut e, mut z) = (vec![0.0; n * n], vec![0.0; n * n], vec![0.0; n]);
        assert_eq!(
            gram_and_weights(&xt, n, d, 10.0, &mut g, &mut e, &mut z),
            None
        );
        let mut x = vec![0.0; n * d];
        transpose(&xt, d, n, &mut x);
        let mut g2 = vec![0.0; n * n];
        gram(&x, n, d, &mut g2);
        assert_eq!(g, g2);
    }

    #[test]
    fn upper_count_agrees_with_a_direct_scan() {
        for n in [1, 2, 8, 9, 17, 32, 40] {
            let m: Vec<f64> = (0..n * n)
                .map(|k| {
                    let (i, j) = (k / n, k % n);
                    ((i.min(j) * 31 + i.max(j)) as f64 * 0.73).sin()
                })
                .collect();
            let upper = (0..n).flat_map(|i| (i + 1..n).map(move |j| (i, j)));
            for t in [0.25, 0.8] {
                let direct = upper.clone().filter(|&(i, j)| m[i * n + j] > t).count() as u64;
                assert_eq!(upper_count_above(&m, n, t), direct, "n = {n}");
            }
        }
    }
}
