use rand::{Rng, SeedableRng};

use super::*;

/// bf16 rounding by the definition, in `f64`: the nearest value with 8 significant bits,
/// ties to even (normal `f32` inputs whose result stays finite).
fn reference_round(x: f32) -> f32 {
    let (mantissa, exponent) = {
        let e = (x.abs() as f64).log2().floor() as i32;
        (x as f64 / 2f64.powi(e - 7), e)
    };
    let lower = mantissa.floor();
    let rounded = match mantissa - lower {
        d if d > 0.5 => lower + 1.0,
        d if d < 0.5 => lower,
        _ if lower % 2.0 == 0.0 => lower,
        _ => lower + 1.0,
    };
    (rounded * 2f64.powi(exponent - 7)) as f32
}

#[test]
fn rounding_is_to_nearest_even() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(7);
    for _ in 0..100_000 {
        let x = f32::from_bits(rng.random::<u32>());
        if !x.is_normal() || x.abs() > 3.0e38 {
            continue;
        }
        assert_eq!(round_to_bf16(x), reference_round(x), "{x:e}");
    }
    assert_eq!(round_to_bf16(1.0 + 2f32.powi(-8)), 1.0, "tie to even, down");
    assert_eq!(
        round_to_bf16(1.0 + 3.0 * 2f32.powi(-8)),
        1.0 + 2f32.powi(-6),
        "tie, up"
    );
    assert_eq!(round_to_bf16(1e-40).to_bits(), 0, "subnormals become zero");
    assert_eq!(round_to_bf16(-1e-40).to_bits(), 0x8000_0000);
    assert!(round_to_bf16(f32::NAN).is_nan());
    assert_eq!(round_to_bf16(f32::MAX), f32::INFINITY);
    assert_eq!(round_to_bf16(f32::NEG_INFINITY), f32::NEG_INFINITY);
}

/// The scalar rounding is the CPU's conversion instruction, bit for bit, where it has one.
#[cfg(target_arch = "x86_64")]
#[test]
fn rounding_matches_the_conversion_instruction() {
    if !Bf16Kernel::available().contains(&Bf16Kernel::Avx512Bf16) {
        return;
    }
    let mut rng = rand_pcg::Pcg64::seed_from_u64(8);
    let mut x: Vec<f32> = (0..64_000)
        .map(|_| f32::from_bits(rng.random::<u32>()))
        .collect();
    x.extend([
        0.0,
        -0.0,
        1e-40,
        -1e-40,
        f32::MAX,
        f32::INFINITY,
        f32::NAN,
        1.0 + 1.0 / 256.0,
    ]);
    x.truncate(x.len() / 32 * 32);
    let mut pairs = vec![0u32; x.len() / 2];
    // SAFETY: the CPU has AVX-512F and AVX512-BF16 (checked above).
    unsafe { avx512::convert_pairs(&x, &mut pairs) };
    for (p, &v) in pairs.iter().enumerate() {
        assert_eq!(
            v,
            bf16_pair(x[2 * p], x[2 * p + 1]),
            "{:e} {:e}",
            x[2 * p],
            x[2 * p + 1]
        );
    }
}

/// An `rows × cols` operand in the layout a layer hands it over in: row-major, or the
/// transpose of a row-major matrix (`transposed`).
struct Operand {
    data: Vec<f32>,
    rows: usize,
    cols: usize,
    transposed: bool,
}

impl Operand {
    fn random(rows: usize, cols: usize, transposed: bool, rng: &mut impl Rng) -> Self {
        let data = (0..rows * cols)
            .map(|_| rng.random_range(-2.0..2.0))
            .collect();
        Operand {
            data,
            rows,
            cols,
            transposed,
        }
    }

    fn view(&self) -> MatRef<'_, f32> {
        if self.transposed {
            MatRef::row_major(&self.data, self.cols, self.rows).t()
        } else {
            MatRef::row_major(&self.data, self.rows, self.cols)
        }
    }

    fn at(&self, i: usize, j: usize) -> f64 {
        let v = if self.transposed {
            self.data[j * self.rows + i]
        } else {
            self.data[i * self.cols + j]
        };
        f64::from(round_to_bf16(v))
    }
}

/// Every kernel this CPU runs, against `f64` sums of the same bf16-rounded operands: each
/// element within `(k + 1)·2⁻²⁴·Σ|aᵢbᵢ|` (the bound of `k` `f32` additions of exact
/// products), at shapes that leave remainders in every blocking dimension, in the four
/// layouts the layers use (x·Wᵀ, gᵀ·x, g·W, and both transposed).
#[test]
fn every_kernel_matches_an_f64_reference() {
    let shapes = [
        (1, 1, 1),
        (3, 5, 7),
        (8, 2, 32),
        (9, 33, 17),
        (32, 256, 32),
        (17, 513, 45),
        (5, 1100, 3),
        (3, 40, 600),
        (33, 3136, 6),
        (64, 7, 1030),
        // AMX: two strips of 32 rows and a partial one, two inner blocks of 1,024 and a
        // partial one, two column blocks of 256 and partial panels of 32.
        (70, 2100, 300),
    ];
    let mut rng = rand_pcg::Pcg64::seed_from_u64(9);
    for &kernel in Bf16Kernel::available() {
        for &(m, k, n) in &shapes {
            for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
                let a = Operand::random(m, k, ta, &mut rng);
                let b = Operand::random(k, n, tb, &mut rng);
                let mut c = vec![f32::NAN; m * n];
                matmul_with(kernel, a.view().into(), b.view().into(), &mut c);
                let mut again = vec![0.0; m * n];
                matmul_with(kernel, a.view().into(), b.view().into(), &mut again);
                assert_eq!(
                    c.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    again.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    "{kernel:?} repeats its bits"
                );
                for i in 0..m {
                    for j in 0..n {
                        let (mut exact, mut magnitude) = (0.0, 0.0);
                        for p in 0..k {
                            let product = a.at(i, p) * b.at(p, j);
                            exact += product;
                            magnitude += product.abs();
                        }
                        let bound = (k + 1) as f64 * 2f64.powi(-24) * magnitude;
                        let got = f64::from(c[i * n + j]);
                        assert!(
                            (got - exact).abs() <= bound,
                            "{kernel:?} {m}×{k}×{n} (transposed {ta}, {tb}) at ({i}, {j}): \
                             {got} vs {exact} (bound {bound:e})"
                        );
                    }
                }
            }
        }
    }
}

fn as_pairs(data: &[u32], rows: usize, cols: usize) -> super::Operand<'_> {
    super::Operand::Pairs {
        data,
        rows,
        pairs: cols / 2,
    }
}

/// Operands already stored as bf16 pairs (as conv layers keep their im2col matrix; an even
/// number of columns) give the
/// same products as the `f32` operands they were rounded from, on every kernel, as the left
/// operand read in place and as the right one interleaved row by row.
#[test]
fn pair_operands_match_f32_operands() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(10);
    for &kernel in Bf16Kernel::available() {
        for &(m, k, n) in &[
            (3, 4, 6),
            (9, 36, 16),
            (33, 1030, 40),
            (1, 2, 2),
            (8, 600, 64),
            // Whole tiles of rows and pairs (read in place by AMX), across inner blocks.
            (64, 64, 40),
            (48, 2112, 40),
        ] {
            let a = Operand::random(m, k, false, &mut rng);
            let b = Operand::random(k, n, false, &mut rng);
            let pairs = |o: &Operand| {
                let mut out = vec![0u32; o.rows * o.cols / 2];
                for (row, lanes) in o.data.chunks(o.cols).zip(out.chunks_mut(o.cols / 2)) {
                    to_pairs(row, lanes);
                }
                out
            };
            let (pa, pb) = (pairs(&a), pairs(&b));
            let mut want = vec![0.0; m * n];
            matmul_with(kernel, a.view().into(), b.view().into(), &mut want);
            for (left, right) in [
                (as_pairs(&pa, m, k), b.view().into()),
                (a.view().into(), as_pairs(&pb, k, n)),
                (as_pairs(&pa, m, k), as_pairs(&pb, k, n)),
            ] {
                let mut got = vec![f32::NAN; m * n];
                matmul_with(kernel, left, right, &mut got);
                assert_eq!(got, want, "{kernel:?} {m}×{k}×{n}");
            }
        }
    }
}

/// Acting's row-by-row layer, on every kernel: each output within the summation bound of the
/// f64 dot product of the rounded weight row and input row, at widths that leave a partial
/// register and an odd last pair, for several rows and with ReLU.
#[test]
fn rows_kernel_matches_an_f64_reference() {
    let mut rng = rand_pcg::Pcg64::seed_from_u64(11);
    for &kernel in Bf16Kernel::available() {
        for &(rows, n_in, n_out) in &[
            (1, 1, 1),
            (1, 37, 5),
            (3, 64, 16),
            (2, 1025, 7),
            (1, 3136, 9),
            // A tile's worth of rows and more (AMX's product of tiles).
            (16, 36, 16),
            (37, 300, 40),
        ] {
            let w = Operand::random(n_out, n_in, false, &mut rng);
            let x = Operand::random(rows, n_in, false, &mut rng);
            let bias: Vec<f32> = (0..n_out).map(|_| rng.random_range(-1.0..1.0)).collect();
            for relu in [false, true] {
                let mut z = vec![f32::NAN; rows * n_out];
                dense_rows_with(kernel, &w.data, &bias, n_in, &x.data, &mut z, relu);
                for i in 0..rows {
                    for o in 0..n_out {
                        let (mut want, mut magnitude) =
                            (f64::from(bias[o]), f64::from(bias[o]).abs());
                        for k in 0..n_in {
                            let p = w.at(o, k) * x.at(i, k);
                            want += p;
                            magnitude += p.abs();
                        }
                        let bound = (n_in + 2) as f64 * 2f64.powi(-24) * magnitude;
                        let got = f64::from(z[i * n_out + o]);
                        let want = if relu { want.max(0.0) } else { want };
                        assert!(
                            (got - want).abs() <= bound,
                            "{kernel:?} {rows}×{n_in}→{n_out} at ({i}, {o}): {got} vs {want}"
                        );
                    }
                }
            }
        }
    }
}

/// The operands really are rounded: a product that `f32` computes exactly differs in bf16.
#[test]
fn operands_are_rounded_to_bf16() {
    let a = [1.0 + 2f32.powi(-10)];
    let b = [3.0f32];
    for &kernel in Bf16Kernel::available() {
        let mut c = [0.0];
        matmul_with(
            kernel,
            MatRef::row_major(&a, 1, 1).into(),
            MatRef::row_major(&b, 1, 1).into(),
            &mut c,
        );
        assert_eq!(c[0], 3.0, "{kernel:?}");
    }
}

#[test]
fn precision_names_parse_and_unknown_ones_are_refused() {
    for p in Precision::ALL {
        assert_eq!(p.name().parse::<Precision>(), Ok(p));
    }
    let err = "fp16".parse::<Precision>().unwrap_err();
    assert_eq!(
        err,
        "unknown precision \"fp16\": expected \"f32\" or \"bf16\""
    );
    assert_eq!(Precision::F32.matmul_path(), "f32");
    assert!(Precision::Bf16.matmul_path().starts_with("bf16-"));
}
