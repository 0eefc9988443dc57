//! The unary elementwise ops (activations and their derivatives), each defined
//! once: its file under src/unary/ holds its WGSL function, its CPU and naive
//! forms and its float64 reference; the list in `for_each_unary!` below names it
//! and documents it. Everything else is generated from that list or loops over
//! it: the [`Unary`] enum, the `Backend` and `GpuArray` methods, the GPU kernels
//! (one generated module per op, shaders/unary.wgsl), `Op`, the CLI's `apply`
//! and `bench` cases and the test tables.
//!
//! Adding an op: write its file (a unit struct implementing [`UnaryFn`]) and add
//! one entry to the list; the tests' tolerance table (tests/elementwise.rs)
//! then fails to compile until the op's error bound is stated there.
//!
//! The WGSL side is an expression snippet by design: each op is a function
//! `op_<name>(vec4<f32>) -> vec4<f32>` over the helpers of
//! shaders/shared/elementwise.wgsl, so a chain of ops can be generated as one
//! kernel by nesting the calls.

use std::mem::MaybeUninit;

mod relu;
mod sigmoid;
mod tanh;

/// One unary op's definition. The const items and functions are the op; the
/// backends call them through [`Unary`].
pub(crate) trait UnaryFn {
    /// The op's name in the library, the CLI and the kernels' labels.
    const NAME: &'static str;
    /// `fn op_<NAME>(v: vec4<f32>) -> vec4<f32>`: the op on four values, using
    /// only the helpers of shaders/shared/elementwise.wgsl. WGSL lets a device
    /// assume no NaN or inf and flush subnormals, so special values are found
    /// from the bits and never take part in arithmetic.
    const WGSL: &'static str;
    /// Inputs whose results are fixed (infinities, signed zeros, NaN) and those
    /// results: every backend must give them bit for bit (any NaN for NaN).
    const EDGES: &'static [(f32, f32)];
    /// Elements from which the CPU backend splits the op over threads (where a
    /// second thread pays for its ~1 us start on the reference 2-core VM).
    const THREADS_FROM: usize;
    /// The CPU backend's form: branch-free, so that LLVM vectorizes the loop
    /// over a slice; `FMA` says whether a fused multiply-add is fast (see
    /// `cpu::simd`'s `multiversion!`).
    fn cpu<const FMA: bool>(x: f32) -> f32;
    /// The naive backend's form: the textbook formula for one number.
    fn naive(x: f32) -> f32;
    /// The exact value in float64, the tests' oracle.
    fn reference(x: f64) -> f64;
}

/// The list of unary ops: for each, its docs (on the generated `Backend` and
/// `GpuArray` methods), its `Unary` variant, its method and `_into` method
/// names, and the type that defines it. Call it with a macro that takes the
/// entries; `define_unary!` below, `Backend`'s and `GpuArray`'s methods do.
macro_rules! for_each_unary {
    ($m:ident) => {
        $m! {
            /// Elementwise 1 / (1 + e^-x) over any shape. Never overflows:
            /// sigmoid(-1000) = 0, sigmoid(1000) = 1; NaN gives NaN.
            ///
            /// Error against the exact value, for every finite x (tested every
            /// 1/128 from -110 to 110, tests/elementwise.rs): naive 4 ulp, cpu 4.5
            /// ulp, gpu (8 + 2|x|) ulp (WGSL's `exp` is within 3 + 2|x| ulp); on
            /// every backend results below 2^-126 (x < -87.3) may be off by up to
            /// 2^-126 absolutely (a GPU may flush them to 0).
            Sigmoid sigmoid sigmoid_into $crate::unary::sigmoid::Sigmoid;
            /// Elementwise s(1 - s) with s = sigmoid(x), over any shape; 0 at +-inf.
            ///
            /// Error bounds as `sigmoid`'s, except naive: it computes s(1 - s) as
            /// the exercise writes it, and once s is near 1, 1 - s keeps only the
            /// absolute error of s, so its bound is 4 ulp plus 2 ulp of 1.0
            /// (2.4e-7) absolutely (at x = 17 it gives 0 for 4e-8). cpu and gpu
            /// use e^-|x| / (1 + e^-|x|)^2, which has no cancellation.
            SigmoidDerivative sigmoid_derivative sigmoid_derivative_into
                $crate::unary::sigmoid::SigmoidDerivative;
            /// Elementwise hyperbolic tangent: tanh(+-inf) = +-1, tanh(-0) = -0,
            /// NaN gives NaN.
            ///
            /// Error against the exact value: naive (libm's tanhf) 2 ulp; cpu
            /// -m / (2 + m) with m = expm1(-2|x|) (measured within 0.94 ulp), 3 ulp;
            /// gpu an odd Taylor polynomial below |x| = 0.35 (within 1 ulp) and
            /// (1 - e) / (1 + e) with e = e^-2|x| above, within (4 + 2Ew) ulp,
            /// E = 3 + 4|x| (WGSL's bound for exp) and w = e / (1 - e) <= 0.99
            /// shrinking the exp's share as |x| grows.
            Tanh tanh tanh_into $crate::unary::tanh::Tanh;
            /// Elementwise 1 - tanh(x)^2; 0 at +-inf, 1 at 0, NaN gives NaN.
            ///
            /// naive computes 1 - t^2 as written (1 ulp plus 2.5 ulp of 1.0
            /// absolutely: the subtraction cancels once t is near 1); cpu and gpu
            /// compute 4e / (1 + e)^2 with e = e^-2|x|, without cancellation:
            /// cpu within (2 + 2E) ulp (E = 1.01); gpu as (2 e1)^2 / (1 + e1^2)^2
            /// with e1 = e^-|x| (no subnormal intermediate where the result is
            /// normal) within (4.5 + 2E + (4E + 1) e / (1 + e)) ulp, E = 3 + 2|x|.
            /// Results below 2^-126 (|x| > 44.4) may be off by 2^-126 absolutely.
            TanhDerivative tanh_derivative tanh_derivative_into
                $crate::unary::tanh::TanhDerivative;
            /// Elementwise max(x, 0), exact: relu(-0) = +0, relu(-inf) = 0,
            /// relu(+inf) = +inf, NaN gives NaN (as numpy's `np.maximum(x, 0)`,
            /// which would keep -0's sign).
            Relu relu relu_into $crate::unary::relu::Relu;
            /// Elementwise 1 where x > 0, else 0 (at 0 and -0 too), exact; NaN
            /// gives NaN (numpy's `(x > 0) * 1.0` would give 0: a NaN upstream is
            /// kept visible instead).
            ReluDerivative relu_derivative relu_derivative_into
                $crate::unary::relu::ReluDerivative;
        }
    };
}
pub(crate) use for_each_unary;

macro_rules! define_unary {
    ($($(#[$doc:meta])* $variant:ident $method:ident $into:ident $def:path;)*) => {
        /// Every unary elementwise op, by name. Its methods give the op's
        /// definition to the backends, the CLI and the tests.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum Unary {
            $($(#[$doc])* $variant,)*
        }

        impl Unary {
            /// Every unary op, in the list's order.
            pub const ALL: &'static [Unary] = &[$(Unary::$variant),*];

            /// The op's name, as the methods and the CLI spell it.
            pub fn name(self) -> &'static str {
                match self { $(Unary::$variant => <$def as UnaryFn>::NAME,)* }
            }

            /// The name of its `_into` method, for error messages.
            pub fn into_name(self) -> &'static str {
                match self { $(Unary::$variant => stringify!($into),)* }
            }

            /// The op's exact value in float64 (the tests' oracle).
            pub fn reference(self, x: f64) -> f64 {
                match self { $(Unary::$variant => <$def as UnaryFn>::reference(x),)* }
            }

            /// Inputs with fixed results, and those results (any NaN for NaN),
            /// the same on every backend and device.
            pub fn edges(self) -> &'static [(f32, f32)] {
                match self { $(Unary::$variant => <$def as UnaryFn>::EDGES,)* }
            }

            /// The op's WGSL function (see [`UnaryFn::WGSL`]).
            pub(crate) fn wgsl(self) -> &'static str {
                match self { $(Unary::$variant => <$def as UnaryFn>::WGSL,)* }
            }

            pub(crate) fn threads_from(self) -> usize {
                match self { $(Unary::$variant => <$def as UnaryFn>::THREADS_FROM,)* }
            }

            /// The CPU form over a slice. The match is outside the loop, so each
            /// op's loop is compiled (and vectorized) on its own; inlined into
            /// `cpu::simd`'s per-instruction-set copies.
            #[inline(always)]
            pub(crate) fn map_cpu<const FMA: bool>(self, x: &[f32], out: &mut [MaybeUninit<f32>]) {
                // Callers rely on every element of `out` being written.
                assert_eq!(x.len(), out.len());
                match self {
                    $(Unary::$variant => {
                        for (o, &v) in out.iter_mut().zip(x) {
                            o.write(<$def as UnaryFn>::cpu::<FMA>(v));
                        }
                    })*
                }
            }

            /// The naive form, one index at a time.
            pub(crate) fn map_naive(self, x: &[f32], out: &mut [f32]) {
                match self {
                    $(Unary::$variant => {
                        #[allow(clippy::needless_range_loop)]
                        for i in 0..x.len() {
                            out[i] = <$def as UnaryFn>::naive(x[i]);
                        }
                    })*
                }
            }
        }
    };
}
for_each_unary!(define_unary);

impl std::fmt::Display for Unary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

impl Unary {
    /// The op of this name, if there is one.
    pub fn from_name(name: &str) -> Option<Unary> {
        Unary::ALL.iter().copied().find(|u| u.name() == name)
    }
}

/// Float64 helpers shared by the references.
pub(crate) mod reference {
    /// sigmoid without overflow in float64.
    pub fn sigmoid(x: f64) -> f64 {
        let e = (-x.abs()).exp();
        if x.is_nan() {
            x
        } else if x >= 0.0 {
            1.0 / (1.0 + e)
        } else {
            e / (1.0 + e)
        }
    }
}
