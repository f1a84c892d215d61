//! The dueling head's aggregation `V + (A − mean_a A)` per atom, and its gradient.

use crate::kernels;
use crate::scalar::Scalar;

/// The dueling aggregation of rows `[V (atoms) | A (n_actions · atoms)]` into
/// `out[a, z] = (V[z] + A[a, z]) − mean_a A[a, z]` (PyTorch's `v + a - a.mean(1, keepdim=True)`).
pub(crate) fn dueling_combine<T: Scalar>(raw: &[T], atoms: usize, out: &mut [T]) {
    let n_rows = count_rows(raw.len(), out.len(), atoms);
    if n_rows > 0 {
        dueling_combine_kernel(raw, atoms, out, n_rows);
    }
}

/// Atoms per block of the dueling loops (the per-atom means of one block live on the stack).
const DUELING_BLOCK: usize = 64;

kernels::simd_dispatch! {
    /// [`dueling_combine`] on `n_rows` rows: per block of atoms, the sums over actions, then
    /// every action's row, all along contiguous atoms.
    fn dueling_combine_kernel<T: Scalar>(raw: &[T], atoms: usize, out: &mut [T], n_rows: usize) {
        let raw_w = raw.len() / n_rows;
        let out_w = out.len() / n_rows;
        let n_actions = out_w / atoms;
        let count = T::from_f64(n_actions as f64);
        for (r, o) in raw.chunks_exact(raw_w).zip(out.chunks_exact_mut(out_w)) {
            let (v, adv) = r.split_at(atoms);
            for start in (0..atoms).step_by(DUELING_BLOCK) {
                let len = DUELING_BLOCK.min(atoms - start);
                let mut mean = [T::ZERO; DUELING_BLOCK];
                let mean = &mut mean[..len];
                for a in 0..n_actions {
                    let row = &adv[a * atoms + start..][..len];
                    for (m, &x) in mean.iter_mut().zip(row) {
                        *m = *m + x;
                    }
                }
                for m in mean.iter_mut() {
                    *m = *m / count;
                }
                let v = &v[start..start + len];
                for a in 0..n_actions {
                    let row = &adv[a * atoms + start..][..len];
                    let dst = &mut o[a * atoms + start..][..len];
                    for (((d, &x), &vz), &m) in dst.iter_mut().zip(row).zip(v).zip(mean.iter()) {
                        *d = (vz + x) - m;
                    }
                }
            }
        }
    }

    /// [`dueling_backward`] on `n_rows` rows.
    fn dueling_backward_kernel<T: Scalar>(g: &[T], atoms: usize, raw: &mut [T], n_rows: usize) {
        let out_w = g.len() / n_rows;
        let n_actions = out_w / atoms;
        let count = T::from_f64(n_actions as f64);
        for (gr, r) in g.chunks_exact(out_w).zip(raw.chunks_exact_mut(out_w + atoms)) {
            let (v, adv) = r.split_at_mut(atoms);
            v.fill(T::ZERO);
            for a in 0..n_actions {
                for (s, &x) in v.iter_mut().zip(&gr[a * atoms..(a + 1) * atoms]) {
                    *s = *s + x;
                }
            }
            for a in 0..n_actions {
                let src = &gr[a * atoms..(a + 1) * atoms];
                let dst = &mut adv[a * atoms..(a + 1) * atoms];
                for ((d, &x), &s) in dst.iter_mut().zip(src).zip(v.iter()) {
                    *d = x - s / count;
                }
            }
        }
    }
}

/// Rows of a dueling combine: the raw rows are `out_w + atoms` wide where out rows are `out_w`.
fn count_rows(raw_len: usize, out_len: usize, atoms: usize) -> usize {
    // raw_len = rows · (out_w + atoms), out_len = rows · out_w  ⇒  rows = (raw_len − out_len) / atoms.
    (raw_len - out_len) / atoms
}

/// The gradient of [`dueling_combine`]: `d/dV[z] = Σ_a g[a, z]`, `d/dA[a, z] = g[a, z] − Σ_b g[b, z] / n_actions`.
pub(crate) fn dueling_backward<T: Scalar>(g: &[T], atoms: usize, raw: &mut [T]) {
    let n_rows = count_rows(raw.len(), g.len(), atoms);
    if n_rows > 0 {
        dueling_backward_kernel(g, atoms, raw, n_rows);
    }
}
