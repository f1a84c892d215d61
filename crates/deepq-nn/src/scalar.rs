//! The floating-point element type of networks, gradients and optimizer state.

use std::fmt::{Debug, Display};
use std::ops::{Add, Div, Mul, Neg, Sub};

use serde::Serialize;
use serde::de::DeserializeOwned;

/// A floating-point element type: `f32` (the usual choice) or `f64` (for set-ups that train a
/// float64 network). Everything in this crate is generic over it.
///
/// The trait is sealed: the matrix products and the safetensors encoding need per-type
/// support that only `f32` and `f64` have.
pub trait Scalar:
    sealed::Sealed
    + Copy
    + Default
    + Debug
    + Display
    + PartialOrd
    + Send
    + Sync
    + 'static
    + Add<Output = Self>
    + Sub<Output = Self>
    + Mul<Output = Self>
    + Div<Output = Self>
    + Neg<Output = Self>
    + Serialize
    + DeserializeOwned
{
    /// Additive identity.
    const ZERO: Self;
    /// Multiplicative identity.
    const ONE: Self;
    /// Rounds an `f64` to the nearest value of this type.
    fn from_f64(x: f64) -> Self;
    /// Widens (or copies) the value to `f64`.
    fn to_f64(self) -> f64;
    /// Correctly rounded square root.
    fn sqrt(self) -> Self;
    /// Absolute value.
    fn abs(self) -> Self;
    /// The larger of `self` and `other`; if one is NaN the other is returned.
    fn max(self, other: Self) -> Self;
    /// `self * a + b` with a single rounding (exact on every CPU; one instruction where the
    /// CPU has FMA).
    fn mul_add(self, a: Self, b: Self) -> Self;
    /// `e^self` (the platform's libm, so deterministic on one machine).
    fn exp(self) -> Self;
    /// Natural logarithm (the platform's libm).
    fn ln(self) -> Self;
    /// `eˢᵉˡᶠ − 1`, accurate near 0 (the platform's libm).
    fn exp_m1(self) -> Self;
    /// Hyperbolic tangent (the platform's libm).
    fn tanh(self) -> Self;
    /// The error function (the `libm` crate's).
    fn erf(self) -> Self;
}

macro_rules! impl_scalar {
    ($t:ty, $dtype:ident, $gemm:path, $dense_rows:path, $exp_slice:path, $erf:path) => {
        impl Scalar for $t {
            const ZERO: Self = 0.0;
            const ONE: Self = 1.0;
            #[inline(always)]
            fn from_f64(x: f64) -> Self {
                x as $t
            }
            #[inline(always)]
            fn to_f64(self) -> f64 {
                self as f64
            }
            #[inline(always)]
            fn sqrt(self) -> Self {
                <$t>::sqrt(self)
            }
            #[inline(always)]
            fn abs(self) -> Self {
                <$t>::abs(self)
            }
            #[inline(always)]
            fn max(self, other: Self) -> Self {
                <$t>::max(self, other)
            }
            #[inline(always)]
            fn mul_add(self, a: Self, b: Self) -> Self {
                <$t>::mul_add(self, a, b)
            }
            #[inline(always)]
            fn exp(self) -> Self {
                <$t>::exp(self)
            }
            #[inline(always)]
            fn ln(self) -> Self {
                <$t>::ln(self)
            }
            #[inline(always)]
            fn exp_m1(self) -> Self {
                <$t>::exp_m1(self)
            }
            #[inline(always)]
            fn tanh(self) -> Self {
                <$t>::tanh(self)
            }
            #[inline(always)]
            fn erf(self) -> Self {
                $erf(self)
            }
        }

        impl sealed::Sealed for $t {
            const DTYPE: safetensors::Dtype = safetensors::Dtype::$dtype;

            #[inline(always)]
            unsafe fn gemm(
                m: usize,
                k: usize,
                n: usize,
                a: *const Self,
                rsa: isize,
                csa: isize,
                b: *const Self,
                rsb: isize,
                csb: isize,
                c: *mut Self,
                rsc: isize,
                csc: isize,
            ) {
                // SAFETY: forwarded verbatim; the caller upholds `Sealed::gemm`'s contract,
                // which is matrixmultiply's.
                unsafe { $gemm(m, k, n, 1.0, a, rsa, csa, b, rsb, csb, 0.0, c, rsc, csc) }
            }

            #[inline(always)]
            fn dense_rows(
                w: &[Self],
                bias: &[Self],
                n_in: usize,
                xs: &[Self],
                zs: &mut [Self],
                relu: bool,
            ) {
                $dense_rows(w, bias, n_in, xs, zs, relu)
            }

            #[inline(always)]
            fn exp_slice(xs: &mut [Self]) {
                $exp_slice(xs)
            }

            fn extend_le_bytes(values: &[Self], out: &mut Vec<u8>) {
                out.reserve(values.len() * size_of::<Self>());
                for v in values {
                    out.extend_from_slice(&v.to_le_bytes());
                }
            }

            fn from_le_bytes(bytes: &[u8]) -> Option<Vec<Self>> {
                let chunks = bytes.chunks_exact(size_of::<Self>());
                if !chunks.remainder().is_empty() {
                    return None;
                }
                Some(
                    chunks
                        .map(|c| <$t>::from_le_bytes(c.try_into().expect("exact chunk")))
                        .collect(),
                )
            }
        }
    };
}

impl_scalar!(
    f32,
    F32,
    crate::panels::sgemm,
    crate::dense::dense_rows_f32,
    crate::kernels::exp_f32_slice,
    libm::erff
);
impl_scalar!(
    f64,
    F64,
    matrixmultiply::dgemm,
    crate::dense::dense_rows_portable,
    crate::kernels::exp_f64_slice,
    libm::erf
);

pub(crate) mod sealed {
    /// Per-type plumbing that is not part of the public contract.
    pub trait Sealed: Sized {
        /// The safetensors dtype tag of this type.
        const DTYPE: safetensors::Dtype;

        /// `C ← A·B` (C is overwritten, never read), with A `m × k`, B `k × n`, C `m × n`,
        /// each given by a base pointer and row/column strides in elements.
        ///
        /// # Safety
        /// Every element addressed by the shapes and strides must be in bounds of its
        /// allocation, and C's elements must not alias A's or B's.
        #[allow(clippy::too_many_arguments)]
        unsafe fn gemm(
            m: usize,
            k: usize,
            n: usize,
            a: *const Self,
            rsa: isize,
            csa: isize,
            b: *const Self,
            rsb: isize,
            csb: isize,
            c: *mut Self,
            rsc: isize,
            csc: isize,
        );

        /// The fastest `crate::dense::dense_rows` kernel for this type (shapes already
        /// checked).
        fn dense_rows(
            w: &[Self],
            bias: &[Self],
            n_in: usize,
            xs: &[Self],
            zs: &mut [Self],
            relu: bool,
        );

        /// `x ← eˣ` for every element: a vectorised polynomial for `f32` (within 2 ulp of the
        /// correctly rounded value, the same bits at every SIMD level), libm for `f64`.
        fn exp_slice(xs: &mut [Self]);

        /// Appends the little-endian encoding of `values` to `out`.
        fn extend_le_bytes(values: &[Self], out: &mut Vec<u8>);

        /// Decodes little-endian values; `None` if the length is not a multiple of the size.
        fn from_le_bytes(bytes: &[u8]) -> Option<Vec<Self>>;
    }
}
