//! Dense kernels of the attention vector field: Gram matrices, matrix products, the symmetric
//! attention weights of Q = K = I, the paper's Euler step fused with the attention average
//! (\[GLPR\] (2.6) with x_i <- (x_i + h y_i) / |x_i + h y_i|) on the transposed state X^T, and a
//! branch-free vectorisable exponential.
//!
//! Every reduction runs in a fixed index order, and vectorisation is always across independent
//! outputs (never across a reduction). Products are accumulated with `f64::mul_add`, which is the
//! correctly rounded fused multiply-add on every platform (a hardware FMA instruction, or libm's
//! software `fma` where there is none), so results are bit-identical whatever the instruction set.
//! The products ([`matmul`], [`matmul_scaled`], [`gram_from_transposed`]: X B, the logits
//! (X B) X^T, the average E X, the value product of \[GLPR\] Figure 5) and the fused Euler update
//! on X^T ([`euler_average_transposed`]) are written once over pulp's `Simd` trait and run through
//! [`crate::simd::dispatch`]: register tiles of 4 rows x C registers (C = 4 where there are 32
//! vector registers: 4 x 32 columns with AVX-512, 4 x 8 with NEON; C = 2 where there are 16:
//! 4 x 8 with AVX2, 4 x 2 scalar), every lane its own chain of fused multiply-adds (pulp's
//! `mul_add_f64s`, fused on every backend), the last columns (fewer than one register) in scalar
//! tiles. Tile shapes change which outputs are computed together, never an output's operations,
//! so the bits are those of the scalar backend (tested: the kernel tests, `tests/simd_paths.rs`).
//! The rest runs through [`crate::simd_dispatch!`] (AVX-512 or AVX2 copies of the same portable
//! code, with FMA). [`gram_and_weights`] keeps a hand-written AVX-512 part for n a multiple of 8
//! (the exponentials, mirror images and column sums in 8 x 8 register tiles; its Gram tiles are
//! the pulp sums on `V4` and `V3`), as do the exponential ([`crate::exp`]) and the transposes
//! (shuffles, pure data movement): pulp 0.22's `Simd` trait has neither 64-bit integer shifts nor
//! lane permutations (the exponential's table lookup, the 8 x 8 transposes).

use crate::simd_dispatch as dispatch;
use pulp::{Simd, WithSimd};

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
/// Columns of an eight-column block (one AVX-512 register; the blocks of the symmetric kernels).
const COLS: usize = 8;
/// Products with at least this many output columns run in full-width tiles.
pub const WIDE: usize = COLS;

/// `out = A B` for A (p x r), B (r x q), row-major: `out_ij = sum_l a_il b_lj`, accumulated over l in
/// index order from 0.0 with fused multiply-adds (`acc = fma(a_il, b_lj, acc)`). The one matrix-product
/// kernel of the crate, written once over pulp ([`crate::simd::dispatch`]): register tiles of 4 rows
/// x C vector registers (4 x 32 columns with AVX-512, 4 x 8 with AVX2, 4 x 8 with NEON, 4 x 2 scalar
/// ones portably), one row high at the bottom, the last q mod (lanes) columns in scalar tiles; every
/// output element sees the same sequence of roundings whatever the tile shape or instruction set.
pub fn matmul(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &mut [f64]) {
    matmul_scaled(a, b, p, r, q, Scale::None, out)
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
    crate::simd::dispatch(Product::<false> {
        a,
        b,
        p,
        r,
        q,
        out,
        part: Part::All,
        scale,
    })
}

/// Calls `$body` with `$t` a constant 1, 2, 3 or 4 (`$k` clamped to that range): the register
/// count of a tile as a const generic.
macro_rules! with_width {
    ($k:expr, $t:ident => $body:expr) => {
        match $k {
            1 => {
                const $t: usize = 1;
                $body
            }
            2 => {
                const $t: usize = 2;
                $body
            }
            3 => {
                const $t: usize = 3;
                $body
            }
            _ => {
                const $t: usize = 4;
                $body
            }
        }
    };
}

/// Vector registers per row of a register tile: four where there are 32 registers (AVX-512,
/// NEON: 16 accumulators, 4 operands, a broadcast), two where there are 16 (AVX2, scalar).
#[inline(always)]
fn tile_registers<S: Simd>() -> usize {
    if S::REGISTER_COUNT >= 32 { 4 } else { 2 }
}

/// Unaligned load of one register (`S::F64_LANES` values) from `p`.
///
/// # Safety
/// `p .. p + S::F64_LANES` must be readable.
#[inline(always)]
unsafe fn load<S: Simd>(p: *const f64) -> S::f64s {
    // SAFETY: by the caller's contract; `S::f64s` is plain old data of that many f64.
    unsafe { p.cast::<S::f64s>().read_unaligned() }
}

/// Unaligned store of one register to `p`.
///
/// # Safety
/// `p .. p + S::F64_LANES` must be writable.
#[inline(always)]
unsafe fn store<S: Simd>(p: *mut f64, v: S::f64s) {
    // SAFETY: by the caller's contract.
    unsafe { p.cast::<S::f64s>().write_unaligned(v) }
}

/// A product for [`crate::simd::dispatch`]: `out = A B` (or its upper part), A row-major or, with
/// `AT`, given transposed (r x p: `a[l * p + i]` is A_il), the scale applied after the sums.
struct Product<'a, const AT: bool> {
    a: &'a [f64],
    b: &'a [f64],
    p: usize,
    r: usize,
    q: usize,
    out: &'a mut [f64],
    part: Part,
    scale: Scale<'a>,
}

impl<const AT: bool> WithSimd for Product<'_, AT> {
    type Output = ();
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        product(simd, self)
    }
}

/// The product of [`Product`] in register tiles of `S`: column panels of C registers outermost
/// (a panel of B, r x C lanes, is reused from L1 by every row block), then blocks of four rows
/// (one-row tiles below p mod 4). Shapes as checked by [`check_shapes`] (and the scale as long as
/// the rows or columns).
#[inline(always)]
fn product<S: Simd, const AT: bool>(simd: S, pr: Product<'_, AT>) {
    let Product {
        a,
        b,
        p,
        r,
        q,
        out,
        part,
        scale,
    } = pr;
    // (A given transposed has r x p entries, row-major p x r: the same count)
    debug_assert!(a.len() >= p * r && b.len() >= r * q && out.len() >= p * q);
    let panel = S::F64_LANES * tile_registers::<S>();
    let op = out.as_mut_ptr();
    let mut c = 0;
    while c < q {
        let end = (c + panel).min(q);
        let mut i = 0;
        while i < p {
            let rows = if i + ROWS <= p { ROWS } else { 1 };
            let from = match part {
                Part::All => c,
                Part::Upper => c.max(upper_start(i)),
            };
            if from < end {
                // SAFETY: rows i..i + rows <= p, columns from..end <= q, inside the shapes.
                unsafe {
                    if rows == ROWS {
                        product_span::<S, ROWS, AT>(simd, a, b, p, i, r, q, from, end, op, scale);
                    } else {
                        product_span::<S, 1, AT>(simd, a, b, p, i, r, q, from, end, op, scale);
                    }
                }
            }
            i += rows;
        }
        c = end;
    }
}

/// Rows i..i+R, columns from..to of a [`Product`]: tiles of up to [`tile_registers`] registers of
/// `S`, then the last columns (fewer than a register) in scalar tiles of up to four.
///
/// # Safety
/// i + R <= p, to <= q, the shapes of [`product`].
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn product_span<S: Simd, const R: usize, const AT: bool>(
    simd: S,
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    from: usize,
    to: usize,
    out: *mut f64,
    scale: Scale<'_>,
) {
    let lanes = S::F64_LANES;
    let mut c = from;
    while c + lanes <= to {
        let blocks = ((to - c) / lanes).min(tile_registers::<S>());
        // SAFETY: columns c..c + lanes blocks <= to; the caller's contract for the rest.
        unsafe {
            with_width!(blocks, T => product_tile::<S, R, T, AT>(simd, a, b, p, i, r, q, c, out, scale))
        };
        c += lanes * blocks;
    }
    while c < to {
        let blocks = (to - c).min(4);
        let scalar = pulp::Scalar::new();
        // SAFETY: as above, one lane per register.
        unsafe {
            with_width!(blocks, T => product_tile::<pulp::Scalar, R, T, AT>(scalar, a, b, p, i, r, q, c, out, scale))
        };
        c += blocks;
    }
}

/// One tile of a [`Product`]: rows i..i+R, columns c..c + T lanes: the sums of [`block_sums`],
/// times the scale, stored.
///
/// # Safety
/// As [`product_span`], with c + T lanes <= q.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn product_tile<S: Simd, const R: usize, const T: usize, const AT: bool>(
    simd: S,
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    c: usize,
    out: *mut f64,
    scale: Scale<'_>,
) {
    let lanes = S::F64_LANES;
    // SAFETY: every index is inside the shapes by the caller's contract.
    unsafe {
        let mut acc = block_sums::<S, R, T, AT>(simd, a, b, p, i, r, q, c);
        match scale {
            Scale::None => {}
            Scale::Rows(sc) => {
                for (s, row) in acc.iter_mut().enumerate() {
                    let f = simd.splat_f64s(sc[i + s]);
                    row.iter_mut().for_each(|v| *v = simd.mul_f64s(*v, f));
                }
            }
            Scale::Columns(sc) => {
                let f: [S::f64s; T] =
                    std::array::from_fn(|t| load::<S>(sc.as_ptr().add(c + lanes * t)));
                for row in acc.iter_mut() {
                    for (v, f) in row.iter_mut().zip(&f) {
                        *v = simd.mul_f64s(*v, *f);
                    }
                }
            }
        }
        for (s, row) in acc.iter().enumerate() {
            for (t, v) in row.iter().enumerate() {
                store::<S>(out.add((i + s) * q + c + lanes * t), *v);
            }
        }
    }
}

/// `acc[s][t] = sum_l a_{i+s, l} b[l][c + t L .. c + (t + 1) L]` (L = `S::F64_LANES`; b: rows of
/// length q; a row-major with rows of length r, or with `AT` given transposed, `a[l * p + i + s]`),
/// by fused multiply-adds in order of l from zero, in R x T registers: every lane is its own chain
/// (a broadcast of a_{i+s, l} times one entry of b), so the bits do not depend on `S`.
///
/// # Safety
/// Rows i..i+R of A and columns c..c + T L of b's r rows must exist.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn block_sums<S: Simd, const R: usize, const T: usize, const AT: bool>(
    simd: S,
    a: &[f64],
    b: &[f64],
    p: usize,
    i: usize,
    r: usize,
    q: usize,
    c: usize,
) -> [[S::f64s; T]; R] {
    let lanes = S::F64_LANES;
    debug_assert!(if AT {
        r == 0 || (r - 1) * p + i + R <= a.len()
    } else {
        (i + R) * r <= a.len()
    });
    debug_assert!(r == 0 || (r - 1) * q + c + lanes * T <= b.len());
    let (ap, bp) = (a.as_ptr(), b.as_ptr());
    let mut acc = [[simd.splat_f64s(0.0); T]; R];
    // SAFETY: in bounds by the caller's contract.
    unsafe {
        for l in 0..r {
            let v: [S::f64s; T] = std::array::from_fn(|t| load::<S>(bp.add(l * q + c + lanes * t)));
            for (s, acc) in acc.iter_mut().enumerate() {
                let entry = if AT { l * p + i + s } else { (i + s) * r + l };
                let x = simd.splat_f64s(*ap.add(entry));
                for t in 0..T {
                    acc[t] = simd.mul_add_f64s(x, v[t], acc[t]);
                }
            }
        }
    }
    acc
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
/// state. Written once over pulp ([`crate::simd::dispatch`]): blocks of four coordinates (then
/// single ones) x up to C registers of particles (32 with AVX-512), the last n mod (lanes)
/// particles in scalar tiles; then the column norms, their lanes and reciprocals in registers.
/// `y` (d x n) is workspace. Returns true when every norm was finite and positive.
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
    crate::simd::dispatch(EulerTransposed {
        w,
        s,
        h,
        n,
        d,
        xt,
        y,
    })
}

/// [`euler_average_transposed`] for [`crate::simd::dispatch`].
struct EulerTransposed<'a> {
    w: &'a [f64],
    s: &'a [f64],
    h: f64,
    n: usize,
    d: usize,
    xt: &'a mut [f64],
    y: &'a mut [f64],
}

impl WithSimd for EulerTransposed<'_> {
    type Output = bool;
    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) -> bool {
        let EulerTransposed {
            w,
            s,
            h,
            n,
            d,
            xt,
            y,
        } = self;
        let lanes = S::F64_LANES;
        let (xp, yp) = (xt.as_mut_ptr(), y.as_mut_ptr());
        let mut k = 0;
        while k < d {
            let rows = if k + ROWS <= d { ROWS } else { 1 };
            let mut c = 0;
            while c + lanes <= n {
                let blocks = ((n - c) / lanes).min(tile_registers::<S>());
                // SAFETY: coordinates k..k + rows <= d, particles c..c + lanes blocks <= n; the
                // shapes were asserted by `euler_average_transposed`.
                unsafe {
                    with_width!(blocks, T => if rows == ROWS {
                        update_tile::<S, ROWS, T>(simd, w, s, h, n, k, c, xp, yp)
                    } else {
                        update_tile::<S, 1, T>(simd, w, s, h, n, k, c, xp, yp)
                    })
                };
                c += lanes * blocks;
            }
            while c < n {
                let blocks = (n - c).min(4);
                let scalar = pulp::Scalar::new();
                // SAFETY: as above, one lane per register.
                unsafe {
                    with_width!(blocks, T => if rows == ROWS {
                        update_tile::<pulp::Scalar, ROWS, T>(scalar, w, s, h, n, k, c, xp, yp)
                    } else {
                        update_tile::<pulp::Scalar, 1, T>(scalar, w, s, h, n, k, c, xp, yp)
                    })
                };
                c += blocks;
            }
            k += rows;
        }
        // SAFETY: the shapes were asserted by `euler_average_transposed`.
        unsafe { normalize_columns(simd, xp, yp, n, d) }
    }
}

/// Coordinates k..k+R of particles c..c + T L of [`euler_average_transposed`]:
/// `acc = sum_j x_jk w_ji` in order of j ([`block_sums`]), then `y = x + h (acc s_i)`.
///
/// # Safety
/// `xt`, `y` point to d x n values, `w` holds n x n and `s` n; k + R <= d and c + T L <= n.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
unsafe fn update_tile<S: Simd, const R: usize, const T: usize>(
    simd: S,
    w: &[f64],
    s: &[f64],
    h: f64,
    n: usize,
    k: usize,
    c: usize,
    xt: *const f64,
    y: *mut f64,
) {
    let lanes = S::F64_LANES;
    debug_assert!(w.len() >= n * n && s.len() >= n && c + lanes * T <= n);
    // SAFETY: every index is below d * n (xt, y), n * n (w) or n (s) by the caller's contract.
    unsafe {
        let x = std::slice::from_raw_parts(xt.add(k * n), R * n);
        let acc = block_sums::<S, R, T, false>(simd, x, w, 0, 0, n, n, c);
        let hv = simd.splat_f64s(h);
        let scale: [S::f64s; T] = std::array::from_fn(|t| load::<S>(s.as_ptr().add(c + lanes * t)));
        for (r, acc) in acc.iter().enumerate() {
            let row = (k + r) * n + c;
            for (t, acc) in acc.iter().enumerate() {
                let g = simd.mul_f64s(*acc, scale[t]);
                let v = simd.add_f64s(load::<S>(xt.add(row + lanes * t)), simd.mul_f64s(hv, g));
                store::<S>(y.add(row + lanes * t), v);
            }
        }
    }
}

/// `x_ki = y_ki / ‖y_i‖` for the columns of Y^T (d x n), the norms as in [`normalize_rows`]:
/// four lanes (coordinates k mod 4, each in order of k, by fused multiply-adds), combined as
/// (l0 + l1) + (l2 + l3), times `1 / sqrt`; up to C registers of columns at a time, their lanes,
/// norms and reciprocals in registers, the last n mod (lanes) columns in scalar tiles. Returns
/// true when every norm was finite and positive.
///
/// # Safety
/// `xt` and `y` point to d x n values.
#[inline(always)]
unsafe fn normalize_columns<S: Simd>(
    simd: S,
    xt: *mut f64,
    y: *const f64,
    n: usize,
    d: usize,
) -> bool {
    let lanes = S::F64_LANES;
    // 1.0 in every lane while every norm so far was finite and positive, else 0.0 there
    let mut good = simd.splat_f64s(1.0);
    let mut c = 0;
    while c + lanes <= n {
        let blocks = ((n - c) / lanes).min(tile_registers::<S>());
        // SAFETY: columns c..c + lanes blocks <= n; the caller's contract for the rest.
        unsafe {
            with_width!(blocks, T => normalize_columns_tile::<S, T>(simd, xt, y, n, d, c, &mut good))
        };
        c += lanes * blocks;
    }
    let mut good_edge = 1.0;
    while c < n {
        let blocks = (n - c).min(4);
        let scalar = pulp::Scalar::new();
        // SAFETY: as above, one lane per register.
        unsafe {
            with_width!(blocks, T => normalize_columns_tile::<pulp::Scalar, T>(scalar, xt, y, n, d, c, &mut good_edge))
        };
        c += blocks;
    }
    // the minimum of values that are 0.0 or 1.0: exact, in any order
    simd.reduce_min_f64s(good) == 1.0 && good_edge == 1.0
}

/// Columns c..c + T L of [`normalize_columns`]; `good` keeps 1.0 in the lanes whose norms were
/// finite and positive.
///
/// # Safety
/// As [`normalize_columns`], with c + T L <= n.
#[inline(always)]
unsafe fn normalize_columns_tile<S: Simd, const T: usize>(
    simd: S,
    xt: *mut f64,
    y: *const f64,
    n: usize,
    d: usize,
    c: usize,
    good: &mut S::f64s,
) {
    let lanes = S::F64_LANES;
    let zero = simd.splat_f64s(0.0);
    let mut sums = [[zero; T]; 4];
    // SAFETY: every index is below d * n by the caller's contract.
    unsafe {
        // coordinates k = 4 m + r go to lane r (a constant index, so the lanes stay in registers)
        let whole = d / 4 * 4;
        for k in (0..whole).step_by(4) {
            for (r, sum) in sums.iter_mut().enumerate() {
                for (t, sum) in sum.iter_mut().enumerate() {
                    let v = load::<S>(y.add((k + r) * n + c + lanes * t));
                    *sum = simd.mul_add_f64s(v, v, *sum);
                }
            }
        }
        for (r, sum) in sums.iter_mut().enumerate().take(d - whole) {
            for (t, sum) in sum.iter_mut().enumerate() {
                let v = load::<S>(y.add((whole + r) * n + c + lanes * t));
                *sum = simd.mul_add_f64s(v, v, *sum);
            }
        }
        let (one, infinity) = (simd.splat_f64s(1.0), simd.splat_f64s(f64::INFINITY));
        let inverse: [S::f64s; T] = std::array::from_fn(|t| {
            let q = simd.add_f64s(
                simd.add_f64s(sums[0][t], sums[1][t]),
                simd.add_f64s(sums[2][t], sums[3][t]),
            );
            // the norm is finite and positive exactly when its square is (sqrt is correctly
            // rounded)
            let fine = simd.and_m64s(
                simd.greater_than_f64s(q, zero),
                simd.less_than_f64s(q, infinity),
            );
            *good = simd.select_f64s(fine, *good, zero);
            simd.div_f64s(one, simd.sqrt_f64s(q))
        });
        for k in 0..d {
            for (t, inverse) in inverse.iter().enumerate() {
                let at = k * n + c + lanes * t;
                store::<S>(xt.add(at), simd.mul_f64s(load::<S>(y.add(at)), *inverse));
            }
        }
    }
}

fn check_shapes(a: &[f64], b: &[f64], p: usize, r: usize, q: usize, out: &[f64]) {
    assert!(
        a.len() >= p.saturating_mul(r)
            && b.len() >= r.saturating_mul(q)
            && out.len() >= p.saturating_mul(q),
        "matmul: slice shorter than its shape"
    );
}

/// Every entry of `out = A B`, A row-major, through pulp's scalar backend (the portable path,
/// whatever the processor has): the reference of the register-tile tests.
#[cfg(test)]
fn full_product(
    a: &[f64],
    b: &[f64],
    p: usize,
    r: usize,
    q: usize,
    out: &mut [f64],
    scale: Scale<'_>,
) {
    check_shapes(a, b, p, r, q, out);
    product(
        pulp::Scalar::new(),
        Product::<false> {
            a,
            b,
            p,
            r,
            q,
            out,
            part: Part::All,
            scale,
        },
    )
}

/// True when the hand-written AVX-512 kernels may run: allowed by [`crate::simd::set_cap`] and
/// present, with every feature of pulp's `V4` (so that they may call the pulp kernels on `V4`,
/// as [`crate::simd::dispatch`] would at this level).
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn avx512() -> bool {
    crate::simd::allows(crate::simd::Level::Avx512)
        && std::is_x86_feature_detected!("avx512f")
        && std::is_x86_feature_detected!("avx512vl")
        && std::is_x86_feature_detected!("avx512dq")
        && std::is_x86_feature_detected!("fma")
        && pulp::x86::V4::is_available()
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
    crate::simd::dispatch(Product::<true> {
        a: xt,
        b: xt,
        p: n,
        r: d,
        q: n,
        out: &mut *out,
        part: Part::Upper,
        scale: Scale::None,
    });
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
    crate::simd::run(SymmetricWeights {
        gram,
        n,
        beta,
        c,
        weights,
        row_sums,
    });
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
/// apply. Why its AVX-512 weights loop is still hand-written (the rest of the crate's hot code is
/// one pulp source): the 8 x 8 register transposes that store each tile's mirror image are lane
/// permutations pulp's portable operations do not offer; measured at n = d = 32 on Zen 4, one
/// thread, this fused version takes 1.13 us against 1.34 us for the generic Gram tiles followed by
/// the generic weights.
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

/// Rows i..i+4, columns i..i+4 of G from X^T: the sums of [`block_sums`] in four-wide registers
/// (pulp's `V3`: half the work of a full tile).
///
/// # Safety
/// As [`gram_and_weights_avx512`], with i + 4 <= n.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512vl,avx512dq,avx2,fma")]
unsafe fn gram_half_tile(xt: &[f64], n: usize, d: usize, i: usize, gram: &mut [f64]) {
    use pulp::x86::V3;
    debug_assert!(i + ROWS <= n && xt.len() >= d * n && gram.len() >= n * n);
    // SAFETY: every index is below d * n (xt) or n * n (gram) by the caller's contract, which
    // includes the features of pulp's `V3` (a subset of `V4`'s, see `avx512()`).
    unsafe {
        let simd = V3::new_unchecked();
        let acc = block_sums::<V3, ROWS, 1, true>(simd, xt, xt, n, i, d, n, i);
        for (s, [acc]) in acc.iter().enumerate() {
            store::<V3>(gram.as_mut_ptr().add((i + s) * n + i), *acc);
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
    use pulp::x86::V4;
    // SAFETY: every index is below n * n (gram) or d * n (xt) by the caller's contract, which
    // includes every feature of pulp's `V4` (`avx512()`; this function enables the ones used).
    unsafe {
        let simd = V4::new_unchecked();
        let acc = block_sums::<V4, ROWS, T, true>(simd, xt, xt, n, i, d, n, col);
        for (s, acc) in acc.iter().enumerate() {
            for (t, g) in acc.iter().enumerate() {
                store::<V4>(gram.as_mut_ptr().add((i + s) * n + col + COLS * t), *g);
            }
        }
    }
}

/// The weights, mirror image and column sums of [`symmetric_weights`] for
/// [`crate::simd::run`]: the upper part row by row, whole registers by the vector exponential
/// ([`crate::exp::ExpBlocks`]).
struct SymmetricWeights<'a> {
    gram: &'a [f64],
    n: usize,
    beta: f64,
    c: f64,
    weights: &'a mut [f64],
    row_sums: &'a mut [f64],
}

impl crate::simd::Kernel for SymmetricWeights<'_> {
    type Output = ();
    #[inline(always)]
    fn run<S: crate::simd::Backend>(self, simd: S) {
        let SymmetricWeights {
            gram,
            n,
            beta,
            c,
            weights,
            row_sums,
        } = self;
        for i in 0..n {
            let (first, end) = (i * n + upper_start(i), (i + 1) * n);
            crate::exp::ExpBlocks {
                out: &mut weights[first..end],
                shifted: Some((&gram[first..end], beta, c)),
            }
            .run(simd);
        }
        mirror_lower(weights, n);
        column_sums(weights, n, row_sums);
    }
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
        // the register tiles of the best backend (with AVX-512: 32-wide panels, narrower right
        // edges, q mod 8 columns by scalar tiles, one-row tiles below p mod 4) against pulp's
        // scalar backend
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
        // n = 40: a 32-wide and an 8-wide register tile with AVX-512; d % 4 != 0 exercises the
        // single-coordinate blocks; n = 13, 7, 1 the scalar edge tiles
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
