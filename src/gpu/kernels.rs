//! The table of kernels: each is described once (source, entry point,
//! bindings); its pipeline is built on first use, or when the `Gpu` is made for
//! the kernels it will run. The elementwise kernels are generated, one module
//! per (op, variant), from shaders/map.wgsl and the op's definition
//! (src/unary/); the matmul kernels, one module per variant, from
//! shaders/matmul.wgsl; likewise matvec, dot/l1/l2 and outer; the row ops'
//! stages come from two files with their statistics appended. Every kernel is
//! a value of `Kernel`, and `Kernel::desc` says how to build it.
//!
//! Binding convention, the same in every shader: read-only storage inputs first
//! (bindings 0..reads), then read-write outputs, then the uniform parameter block
//! if the kernel has one. Arguments are passed to `Runtime::dispatch` in that order.

use std::borrow::Cow;
use std::collections::HashMap;

use super::variants::{MapVariant, MatmulVariant, MatvecVariant, RowsVariant};
use crate::backend::RowOp;
use crate::error::{Error, Result};
use crate::unary::Unary;

/// An elementwise op that `map` kernels compute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MapOp {
    Unary(Unary),
    Multiply,
}

impl MapOp {
    /// Every map op: the unary ops, then multiply.
    pub(crate) fn all() -> impl Iterator<Item = MapOp> {
        Unary::ALL
            .iter()
            .map(|&u| MapOp::Unary(u))
            .chain([MapOp::Multiply])
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            MapOp::Unary(u) => u.name(),
            MapOp::Multiply => "multiply",
        }
    }

    fn arity(self) -> u32 {
        match self {
            MapOp::Unary(_) => 1,
            MapOp::Multiply => 2,
        }
    }

    /// The value of out[i], from the inputs x0[i], x1[i], ...
    fn expr(self) -> String {
        match self {
            MapOp::Unary(u) => format!("op_{}(x0[i])", u.name()),
            // f32 multiplication is correctly rounded in WGSL: the CPU's bits.
            MapOp::Multiply => "x0[i] * x1[i]".into(),
        }
    }

    /// WGSL functions the expression calls.
    fn functions(self) -> &'static str {
        match self {
            MapOp::Unary(u) => u.wgsl(),
            MapOp::Multiply => "",
        }
    }
}

/// Every kernel the crate can dispatch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Kernel {
    Map(MapOp, MapVariant),
    /// A matmul variant's entry point.
    Matmul(MatmulVariant, MatmulEntry),
    /// A matvec variant; `merge`: the entry point that adds split rows' partials.
    Matvec(MatvecVariant, bool),
    /// A stage of softmax or normalize_rows, along rows or columns, with
    /// `RowsVariant::per_thread` elements per invocation (the variant's other
    /// knob is the host's).
    Line(RowOp, LineStage, u32),
    /// A dot/l1/l2 variant: pass 1 for one term, or pass 2 (`Partials`).
    Reduce(MapVariant, ReduceKind),
    Outer(MapVariant),
    /// A benchmark's yardstick (src/gpu/yardsticks.rs), not an op.
    Yardstick(Yardstick),
}

/// The entry points of shaders/yardsticks.wgsl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Yardstick {
    /// Reads a buffer once (`read_all`).
    Read,
    /// Multiply-adds only (`fma_chains`).
    Fma,
}

/// The entry points of shaders/matmul.wgsl.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum MatmulEntry {
    /// vec4 loads and stores (k and n multiples of 4).
    Aligned,
    /// Any shape, through scalar loads and stores.
    Unaligned,
    /// Adds the planes of a split k into C.
    Merge,
    /// Copies B K-contiguous for a variant with `pack_b`.
    Pack,
}

/// What a reduce.wgsl pipeline sums: a term of two vectors (`KIND` in the
/// shader), or the partials of pass 1.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ReduceKind {
    Dot,
    L1,
    L2,
    Partials,
}

impl ReduceKind {
    pub(crate) const ALL: [ReduceKind; 4] = [
        ReduceKind::Dot,
        ReduceKind::L1,
        ReduceKind::L2,
        ReduceKind::Partials,
    ];
}

/// The stages of the row ops (shaders/rows.wgsl) and of their column twins
/// (shaders/columns.wgsl); the host (src/gpu/rows.rs) picks them by line length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum LineStage {
    RowsShort,
    RowsFused,
    RowsFused4,
    RowsPartials,
    RowsMerge,
    RowsApply,
    RowsApply4,
    ColsStats,
    ColsChunks,
    ColsMerge,
    ColsApply,
}

impl LineStage {
    pub(crate) const ALL: [LineStage; 11] = [
        LineStage::RowsShort,
        LineStage::RowsFused,
        LineStage::RowsFused4,
        LineStage::RowsPartials,
        LineStage::RowsMerge,
        LineStage::RowsApply,
        LineStage::RowsApply4,
        LineStage::ColsStats,
        LineStage::ColsChunks,
        LineStage::ColsMerge,
        LineStage::ColsApply,
    ];

    fn entry(self) -> &'static str {
        match self {
            LineStage::RowsShort => "rows_short",
            LineStage::RowsFused => "rows_fused",
            LineStage::RowsFused4 => "rows_fused4",
            LineStage::RowsPartials => "rows_partials",
            LineStage::RowsMerge => "rows_merge",
            LineStage::RowsApply => "rows_apply",
            LineStage::RowsApply4 => "rows_apply4",
            LineStage::ColsStats => "cols_stats",
            LineStage::ColsChunks => "cols_chunks",
            LineStage::ColsMerge => "cols_merge",
            LineStage::ColsApply => "cols_apply",
        }
    }

    /// Its file and source: one of two files, each with the statistics
    /// appended (PER_THREAD still to fill in).
    fn module(self) -> (&'static str, &'static str) {
        match self {
            LineStage::RowsShort
            | LineStage::RowsFused
            | LineStage::RowsFused4
            | LineStage::RowsPartials
            | LineStage::RowsMerge
            | LineStage::RowsApply
            | LineStage::RowsApply4 => ("rows.wgsl", ROWS_WGSL),
            _ => ("columns.wgsl", COLUMNS_WGSL),
        }
    }

    /// Inputs: the apply stages read the data and the lines' statistics.
    fn reads(self) -> u32 {
        match self {
            LineStage::RowsApply | LineStage::RowsApply4 | LineStage::ColsApply => 2,
            _ => 1,
        }
    }
}

impl Kernel {
    /// Every kernel: each map op in every variant, each matmul and matvec
    /// variant (both entry points), each row-op stage, each reduce and outer
    /// variant.
    pub(crate) fn all() -> Vec<Kernel> {
        let maps = MapOp::all()
            .flat_map(|op| MapVariant::ALL.into_iter().map(move |v| Kernel::Map(op, v)));
        let matmuls = MatmulVariant::ALL.into_iter().flat_map(|v| {
            [
                MatmulEntry::Aligned,
                MatmulEntry::Unaligned,
                MatmulEntry::Merge,
                MatmulEntry::Pack,
            ]
            .into_iter()
            .filter(move |&e| v.pack_b || e != MatmulEntry::Pack)
            .map(move |e| Kernel::Matmul(v, e))
        });
        let matvecs = MatvecVariant::ALL
            .into_iter()
            .flat_map(|v| [Kernel::Matvec(v, false), Kernel::Matvec(v, true)]);
        let mut per_thread: Vec<u32> = RowsVariant::ALL.iter().map(|v| v.per_thread).collect();
        per_thread.sort_unstable();
        per_thread.dedup();
        let lines = per_thread.into_iter().flat_map(|pt| {
            [RowOp::Softmax, RowOp::Normalize]
                .into_iter()
                .flat_map(move |op| {
                    LineStage::ALL
                        .into_iter()
                        .map(move |s| Kernel::Line(op, s, pt))
                })
        });
        let reduces = MapVariant::ALL.into_iter().flat_map(|v| {
            ReduceKind::ALL
                .into_iter()
                .map(move |kind| Kernel::Reduce(v, kind))
        });
        let outers = MapVariant::ALL.into_iter().map(Kernel::Outer);
        let yardsticks = [Yardstick::Read, Yardstick::Fma].map(Kernel::Yardstick);
        maps.chain(matmuls)
            .chain(matvecs)
            .chain(lines)
            .chain(reduces)
            .chain(outers)
            .chain(yardsticks)
            .collect()
    }

    /// Its source, entry point and layout.
    pub(crate) fn desc(self) -> KernelDesc {
        match self {
            Kernel::Map(op, v) => KernelDesc {
                module: Cow::Owned(format!("map.wgsl ({}, {})", op.name(), v.name())),
                source: Cow::Owned(map_source(op, v)),
                entry: "map",
                reads: op.arity(),
                writes: 1,
                uniform_bytes: 0,
                constants: &[],
            },
            Kernel::Matmul(v, entry) => KernelDesc {
                // The entry points share the module.
                module: Cow::Owned(format!("matmul.wgsl ({})", v.name())),
                source: Cow::Owned(matmul_source(v)),
                entry: match entry {
                    MatmulEntry::Aligned => "matmul",
                    MatmulEntry::Unaligned => "matmul_unaligned",
                    MatmulEntry::Merge => "matmul_merge",
                    MatmulEntry::Pack => "matmul_pack",
                },
                reads: 2,
                writes: 1,
                uniform_bytes: 64,
                constants: &[],
            },
            Kernel::Matvec(v, merge) => KernelDesc {
                module: Cow::Owned(format!("matvec.wgsl ({})", v.name())),
                source: Cow::Owned(matvec_source(v)),
                entry: if merge { "matvec_merge" } else { "matvec" },
                reads: 2,
                writes: 1,
                uniform_bytes: 48,
                constants: &[],
            },
            Kernel::Line(op, stage, per_thread) => {
                let (file, source) = stage.module();
                KernelDesc {
                    module: Cow::Owned(format!("{file} (pt{per_thread})")),
                    source: Cow::Owned(source.replace("/*PER_THREAD*/", &per_thread.to_string())),
                    entry: stage.entry(),
                    reads: stage.reads(),
                    writes: 1,
                    // `Params` in both files (`RowParams`, `ColumnParams` in
                    // src/gpu/rows.rs).
                    uniform_bytes: 32,
                    // `OP` in shaders/shared/row_stats.wgsl.
                    constants: match op {
                        RowOp::Softmax => &[("OP", 0.0)],
                        RowOp::Normalize => &[("OP", 1.0)],
                    },
                }
            }
            Kernel::Reduce(v, kind) => KernelDesc {
                module: Cow::Owned(format!("reduce.wgsl ({})", v.name())),
                source: Cow::Owned(reduce_source(v)),
                entry: match kind {
                    ReduceKind::Partials => "reduce_partials",
                    _ => "pair_sums",
                },
                reads: 2,
                writes: 1,
                uniform_bytes: 16,
                // `KIND` in the shader (pass 2 does not use it).
                constants: match kind {
                    ReduceKind::Dot => &[("KIND", 0.0)],
                    ReduceKind::L1 => &[("KIND", 1.0)],
                    ReduceKind::L2 => &[("KIND", 2.0)],
                    ReduceKind::Partials => &[],
                },
            },
            Kernel::Yardstick(y) => KernelDesc {
                module: Cow::Borrowed("yardsticks.wgsl"),
                source: Cow::Owned(yardsticks_source()),
                entry: match y {
                    Yardstick::Read => "read_all",
                    Yardstick::Fma => "fma_chains",
                },
                reads: 1,
                writes: 1,
                uniform_bytes: 32,
                constants: &[],
            },
            Kernel::Outer(v) => KernelDesc {
                module: Cow::Owned(format!("outer.wgsl ({})", v.name())),
                source: Cow::Owned(outer_source(v)),
                entry: "outer",
                reads: 2,
                writes: 1,
                uniform_bytes: 16,
                constants: &[],
            },
        }
    }
}

const MAP_WGSL: &str = include_str!("../../shaders/map.wgsl");
const ELEMENTWISE_WGSL: &str = include_str!("../../shaders/shared/elementwise.wgsl");

/// A map op's module in one variant: the template with its bindings and its
/// unrolled steps, the shared helpers, and the op's functions.
fn map_source(op: MapOp, v: MapVariant) -> String {
    let mut bindings = String::new();
    for b in 0..op.arity() {
        bindings +=
            &format!("@group(0) @binding({b}) var<storage, read> x{b}: array<vec4<f32>>;\n");
    }
    bindings += &format!(
        "@group(0) @binding({}) var<storage, read_write> out: array<vec4<f32>>;",
        op.arity()
    );
    let mut steps = String::new();
    for k in 0..v.vec4s {
        steps += &format!(
            "    {{\n        let i = base + {k}u * WORKGROUP;\n        if i >= n {{\n            return;\n        }}\n        out[i] = {};\n    }}\n",
            op.expr()
        );
    }
    // n = min(arrayLength(&x0), ..., arrayLength(&out)): every binding's index
    // is checked against that binding's own length.
    let mut length = "arrayLength(&out)".to_string();
    for b in 0..op.arity() {
        length = format!("min(arrayLength(&x{b}), {length})");
    }
    let module = MAP_WGSL
        .replace("/*BINDINGS*/", &bindings)
        .replace("/*LENGTH*/", &length)
        .replace("/*WORKGROUP*/", &v.workgroup.to_string())
        .replace("/*VEC4S*/", &v.vec4s.to_string())
        .replace("/*STEPS*/\n", &steps);
    format!(
        "{module}\n{ELEMENTWISE_WGSL}\n// {}, from src/unary/\n{}",
        op.name(),
        op.functions()
    )
}

/// A matmul variant's module: the template with the variant's tile constants
/// and its k step, staging loads and stores written out.
fn matmul_source(v: MatmulVariant) -> String {
    let tile = format!(
        "const WG_X: u32 = {}u; // invocations along n\n\
         const WG_Y: u32 = {}u; // invocations along m\n\
         const TM: u32 = {}u;   // rows of C per invocation\n\
         const TN: u32 = {}u;   // columns of C per invocation\n\
         const BK: u32 = {}u;   // depth of one k step",
        v.wg_x, v.wg_y, v.tm, v.tn, v.bk
    );
    let threads = v.wg_x * v.wg_y;
    let (tm4, tn4, bm4, bn4) = (v.tm / 4, v.tn / 4, v.bm() / 4, v.bn() / 4);
    // Staging: A's tile is bm/4 x bk/4 blocks of 4 x 4, B's bk x bn/4 vec4s
    // (a packed B's, like A's, bn/4 x bk/4 blocks), shared out over the
    // invocations (a guard where they do not divide evenly).
    let mut stage = String::new();
    let b = if v.pack_b {
        ("stage_bt(r, col0", bn4 * v.bk / 4)
    } else {
        ("stage_b(aligned, r, col0", v.bk * bn4)
    };
    for (call, items) in [("stage_a(aligned, r, row0", bm4 * v.bk / 4), b] {
        for l in 0..items.div_ceil(threads) {
            let call = format!("{call}, k0, t + {}u);", l * threads);
            if (l + 1) * threads <= items {
                stage += &format!("        {call}\n");
            } else {
                stage += &format!(
                    "        if t + {}u < {items}u {{\n            {call}\n        }}\n",
                    l * threads
                );
            }
        }
    }
    // One k step per kk: TN/4 vec4s of B, TM/4 of A, TM x TN/4 vec4 fmas.
    let mut product = String::new();
    for kk in 0..v.bk {
        product += "        {\n";
        for q in 0..tn4 {
            product += &format!(
                "            let b{q} = b_tile[{}u + tx];\n",
                kk * bn4 + q * v.wg_x
            );
        }
        for r4 in 0..tm4 {
            product += &format!("            let a{r4} = a_tile[{}u + ar];\n", kk * bm4 + r4);
        }
        for r in 0..v.tm {
            let lane = ["x", "y", "z", "w"][(r % 4) as usize];
            for q in 0..tn4 {
                let i = r * tn4 + q;
                product += &format!(
                    "            acc[{i}] = fma(vec4<f32>(a{}.{lane}), b{q}, acc[{i}]);\n",
                    r / 4
                );
            }
        }
        product += "        }\n";
    }
    let mut store4 = String::new();
    let mut store1 = String::new();
    for r in 0..v.tm {
        for q in 0..tn4 {
            let at = format!(
                "tile_row(wid, lid.y, {r}u), tile_col(wid, lid.x, {q}u), acc[{}]",
                r * tn4 + q
            );
            store4 += &format!("    store_c4(s, {at});\n");
            store1 += &format!("    store_c1(s, {at});\n");
        }
    }
    MATMUL_WGSL
        .replace("/*TILE*/", &tile)
        .replace("/*STAGE*/\n", &stage)
        .replace("/*PRODUCT*/\n", &product)
        .replace("/*STORE4*/\n", &store4)
        .replace("/*STORE1*/\n", &store1)
}

const YARDSTICKS_WGSL: &str = include_str!("../../shaders/yardsticks.wgsl");

/// The yardsticks' module: `fma_chains`' 16 chains and their step written out.
fn yardsticks_source() -> String {
    let mut chains = String::from("    let m = vec4<f32>(p.mul);\n    let a = vec4<f32>(p.add);\n");
    for j in 0..16 {
        chains += &format!(
            "    var c{j} = fract(vec4<f32>(x0) + vec4<f32>({}.0, {}.0, {}.0, {}.0) / 64.0);\n",
            4 * j,
            4 * j + 1,
            4 * j + 2,
            4 * j + 3
        );
    }
    chains += "    for (var it = 0u; it < p.iters; it++) {\n";
    for j in 0..16 {
        chains += &format!("        c{j} = fma(c{j}, m, a);\n");
    }
    chains += "    }\n    let sum = ";
    chains += &(0..16)
        .map(|j| format!("c{j}"))
        .collect::<Vec<_>>()
        .join(" + ");
    chains += ";\n";
    YARDSTICKS_WGSL.replace("/*CHAINS*/\n", &chains)
}

/// A matvec variant's module: the template with its team size (the team's
/// sum comes from a shared file, appended by `expand`).
fn matvec_source(v: MatvecVariant) -> String {
    MATVEC_WGSL.replace(
        "/*TEAM*/",
        &format!("const LANES: u32 = {}u; // invocations per row", v.lanes),
    )
}

#[derive(Clone)]
pub(crate) struct KernelDesc {
    /// The module's name: its file under shaders/ (for a map kernel, the
    /// template's, the op's and the variant's name), for labels and error
    /// messages; pipelines of one module share its compiled shader.
    pub module: Cow<'static, str>,
    /// The WGSL text before `expand`.
    pub source: Cow<'static, str>,
    pub entry: &'static str,
    pub reads: u32,
    pub writes: u32,
    /// Size of the uniform parameter block in bytes, 0 for none.
    pub uniform_bytes: u64,
    /// Values for the shader's `override` constants (one source, several pipelines).
    pub constants: &'static [(&'static str, f64)],
}

// The row-op files, each with the statistics they share appended.
const ROWS_WGSL: &str = concat!(
    include_str!("../../shaders/rows.wgsl"),
    "\n",
    include_str!("../../shaders/shared/row_stats.wgsl")
);
const COLUMNS_WGSL: &str = concat!(
    include_str!("../../shaders/columns.wgsl"),
    "\n",
    include_str!("../../shaders/shared/row_stats.wgsl")
);

const REDUCE_WGSL: &str = include_str!("../../shaders/reduce.wgsl");
const OUTER_WGSL: &str = include_str!("../../shaders/outer.wgsl");
const MATVEC_WGSL: &str = include_str!("../../shaders/matvec.wgsl");
const MATMUL_WGSL: &str = include_str!("../../shaders/matmul.wgsl");

/// The `MapVariant` shape of a reduce or outer module: its workgroup size
/// and vec4s per invocation as WGSL constants.
fn shape(v: MapVariant) -> String {
    format!(
        "const WG: u32 = {}u; // invocations per workgroup\nconst VEC4S: u32 = {}u; // vec4s per invocation and step",
        v.workgroup, v.vec4s
    )
}

/// A dot/l1/l2 variant's module: VEC4S steps into VEC4S running sums.
fn reduce_source(v: MapVariant) -> String {
    let mut steps = String::new();
    for k in 0..v.vec4s {
        steps += &format!(
            "        {{\n            let i = i0 + {k}u * WG;\n            if i < n4 {{\n                acc[{k}] += masked_term(kind, i);\n            }}\n        }}\n"
        );
    }
    REDUCE_WGSL
        .replace("/*SHAPE*/", &shape(v))
        .replace("/*STEPS*/\n", &steps)
}

/// An outer variant's module: VEC4S vec4 stores per invocation.
fn outer_source(v: MapVariant) -> String {
    let mut steps = String::new();
    for k in 0..v.vec4s {
        steps += &format!("    store_vec4(q0 + {k}u * WG);\n");
    }
    OUTER_WGSL
        .replace("/*SHAPE*/", &shape(v))
        .replace("/*STEPS*/\n", &steps)
}

const REDUCE_WORKGROUP_WGSL: &str = include_str!("../../shaders/shared/reduce_workgroup.wgsl");
const REDUCE_SUBGROUP_WGSL: &str = include_str!("../../shaders/shared/reduce_subgroup.wgsl");

/// Shaders that reduce across a workgroup carry two placeholders in the entry
/// points that call `reduce_segment`; the function itself comes from one of
/// two shared files. With subgroups, the entry points receive the subgroup
/// builtins (which do not compile on devices without the feature, so the plain
/// variant must not mention them at all).
pub(crate) fn expand(source: &str, subgroups: bool) -> String {
    const BUILTINS: &str = "/*SUBGROUP_BUILTINS*/";
    const INIT: &str = "/*SUBGROUP_INIT*/";
    if !source.contains(INIT) {
        return source.to_string();
    }
    if subgroups {
        let s = source
            .replace(
                BUILTINS,
                "@builtin(subgroup_size) sg_size: u32, @builtin(subgroup_invocation_id) sg_lid: u32,",
            )
            .replace(INIT, "");
        s + "\n" + REDUCE_SUBGROUP_WGSL
    } else {
        // The same names, so the call sites are one text; the fallback ignores them.
        source
            .replace(BUILTINS, "")
            .replace(INIT, "let sg_size = 1u; let sg_lid = 0u;")
            + "\n"
            + REDUCE_WORKGROUP_WGSL
    }
}

/// Every module as the device compiles it, each variant named, for the naga
/// validation test: the distinct modules of `kernel_variants`.
pub fn shader_sources() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for k in kernel_variants() {
        if !out.iter().any(|(module, _)| *module == k.module) {
            out.push((k.module, k.source));
        }
    }
    out
}

/// One pipeline as the crate builds it: the module text handed to the device,
/// its entry point and its override constants. Every kernel appears once per
/// subgroup variant of its module, so a second WGSL compiler (Tint, in CI) can
/// build exactly the pipelines a device builds.
pub struct KernelVariant {
    /// The file under shaders/, with " (subgroups)" for the subgroup variant.
    pub module: String,
    /// Whether the module uses subgroup builtins (Tint needs `enable subgroups;`).
    pub subgroups: bool,
    pub source: String,
    pub entry: &'static str,
    pub constants: &'static [(&'static str, f64)],
    /// Bytes of workgroup memory the entry point needs, where that may be more
    /// than WebGPU's guaranteed 16 KiB (the matmul tiles); `None` elsewhere.
    pub workgroup_bytes: Option<u32>,
}

/// Every (module variant, entry point, constants) the crate can build.
pub fn kernel_variants() -> Vec<KernelVariant> {
    let mut out = Vec::new();
    let kernels: Vec<(KernelDesc, Option<u32>)> = Kernel::all()
        .into_iter()
        .map(|k| {
            let bytes = match k {
                Kernel::Matmul(v, MatmulEntry::Aligned | MatmulEntry::Unaligned) => {
                    Some(v.workgroup_bytes())
                }
                _ => None,
            };
            (k.desc(), bytes)
        })
        .collect();
    for subgroups in [false, true] {
        for (k, workgroup_bytes) in &kernels {
            if subgroups && !k.source.contains("/*SUBGROUP_INIT*/") {
                continue;
            }
            out.push(KernelVariant {
                module: if subgroups {
                    format!("{} (subgroups)", k.module)
                } else {
                    k.module.to_string()
                },
                subgroups,
                source: expand(&k.source, subgroups),
                entry: k.entry,
                constants: k.constants,
                workgroup_bytes: *workgroup_bytes,
            });
        }
    }
    out
}

/// The .wgsl files under shaders/ that the kernel table uses.
pub fn shader_files() -> Vec<&'static str> {
    vec![
        "map.wgsl",
        "rows.wgsl",
        "columns.wgsl",
        "matmul.wgsl",
        "matvec.wgsl",
        "shared/row_stats.wgsl",
        "shared/elementwise.wgsl",
        "shared/reduce_workgroup.wgsl",
        "shared/reduce_subgroup.wgsl",
        "reduce.wgsl",
        "outer.wgsl",
        "yardsticks.wgsl",
    ]
}

/// A built kernel, with what `Runtime::dispatch` checks its arguments against.
pub(crate) struct Pipeline {
    pub pipeline: wgpu::ComputePipeline,
    pub layout: wgpu::BindGroupLayout,
    pub entry: &'static str,
    pub reads: u32,
    pub writes: u32,
    pub uniform_bytes: u64,
}

fn storage_entry(binding: u32, read_only: bool) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Storage { read_only },
            has_dynamic_offset: false,
            min_binding_size: None,
        },
        count: None,
    }
}

fn uniform_entry(binding: u32, bytes: u64) -> wgpu::BindGroupLayoutEntry {
    wgpu::BindGroupLayoutEntry {
        binding,
        visibility: wgpu::ShaderStages::COMPUTE,
        ty: wgpu::BindingType::Buffer {
            ty: wgpu::BufferBindingType::Uniform,
            has_dynamic_offset: false,
            min_binding_size: wgpu::BufferSize::new(bytes),
        },
        count: None,
    }
}

/// One of the crate's modules (a `Kernel`'s source, never text from outside the
/// crate), with naga's runtime checks (`checked`) or without them.
fn create_module(
    device: &wgpu::Device,
    desc: wgpu::ShaderModuleDescriptor<'_>,
    checked: bool,
) -> wgpu::ShaderModule {
    if checked {
        return device.create_shader_module(desc);
    }
    // SAFETY: `ShaderRuntimeChecks::unchecked()` drops naga's clamping of array
    // indices, its loop bounding and its guards on integer division by zero
    // (and ray-query and mesh checks, which no kernel uses). The module is one
    // of the crate's own kernels (`Kernel::desc`, never outside text), and
    // docs/trusted-kernels-audit.md shows for every kernel and every dispatch
    // the host makes that (1) every storage, workgroup and private array index
    // is below its array's length, checked in the kernel against `arrayLength`
    // or a parameter the host computes from the sizes it binds; (2) every loop
    // has a constant or uniform bound, a positive step and a counter that
    // cannot wrap; (3) no divisor is zero (no dispatch with an empty
    // dimension). The edges those proofs rest on (partial tiles and teams,
    // windows of whole rows, 2-D grids, split rows, k past one dispatch, empty
    // and one-element inputs) are run in this mode (trusted is the default) by
    // tests/elementwise.rs (every_map_variant, splitting_paths),
    // tests/matmul.rs (every_matmul_variant, matmul_long_k), tests/products.rs
    // (every_matvec_variant, every_outer_variant, splitting_paths),
    // tests/product_edges.rs, tests/reductions.rs (every_reduce_variant),
    // tests/rows.rs (every_rows_variant, columns_in_many_dispatches,
    // rows_small_bindings, rows_larger_than_one_binding) and
    // tests/row_edges.rs, on lavapipe and
    // SwiftShader in CI; tests/gpu_runtime.rs checked_and_trusted_agree wants
    // the same bits from both modes. Buffer robustness that the driver itself
    // provides (Vulkan's robustBufferAccess) is a device feature and stays on.
    // A kernel or host change must keep the audit true (and redo its section
    // there).
    unsafe { device.create_shader_module_trusted(desc, wgpu::ShaderRuntimeChecks::unchecked()) }
}

/// Builds pipelines, sharing each module among the pipelines of its file.
/// Shader and pipeline errors are caught in an error scope and returned, so a
/// driver that rejects a kernel gives an `Err`, never a panic: from `Gpu::new`
/// for the kernels it builds up front, from the first op that needs any other.
pub(crate) struct Builder {
    device: wgpu::Device,
    subgroups: bool,
    /// `GpuOptions::checked_kernels`: modules with naga's runtime checks
    /// (`create_shader_module`), else trusted ones (`create_module`).
    checked: bool,
    modules: HashMap<String, wgpu::ShaderModule>,
}

impl Builder {
    pub(crate) fn new(device: wgpu::Device, subgroups: bool, checked: bool) -> Builder {
        Builder {
            device,
            subgroups,
            checked,
            modules: HashMap::new(),
        }
    }

    pub(crate) fn build(&mut self, op: &'static str, kernel: Kernel) -> Result<Pipeline> {
        let k = kernel.desc();
        let device = &self.device;
        let scope = device.push_error_scope(wgpu::ErrorFilter::Validation);
        let (subgroups, checked) = (self.subgroups, self.checked);
        let module = self
            .modules
            .entry(k.module.to_string())
            .or_insert_with(|| {
                create_module(
                    device,
                    wgpu::ShaderModuleDescriptor {
                        label: Some(&k.module),
                        source: wgpu::ShaderSource::Wgsl(expand(&k.source, subgroups).into()),
                    },
                    checked,
                )
            })
            .clone();
        let mut entries: Vec<_> = (0..k.reads).map(|b| storage_entry(b, true)).collect();
        entries.extend((k.reads..k.reads + k.writes).map(|b| storage_entry(b, false)));
        if k.uniform_bytes > 0 {
            entries.push(uniform_entry(k.reads + k.writes, k.uniform_bytes));
        }
        let layout = device.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some(k.entry),
            entries: &entries,
        });
        let pipeline_layout = device.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some(k.entry),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(k.entry),
            layout: Some(&pipeline_layout),
            module: &module,
            entry_point: Some(k.entry),
            compilation_options: wgpu::PipelineCompilationOptions {
                constants: k.constants,
                // WebGPU zeroes workgroup memory at the start of every dispatch
                // (on Metal and some Vulkan drivers by a loop in the kernel
                // itself). No kernel reads a workgroup element it has not
                // written earlier in the same dispatch (per kernel in
                // docs/trusted-kernels-audit.md), so the zeroing buys nothing.
                // A kernel that changes that must zero its own memory.
                zero_initialize_workgroup_memory: false,
            },
            cache: None,
        });
        if let Some(e) = pollster::block_on(scope.pop()) {
            // A module that failed stays failed; drop it so that the error is
            // reported again, not hidden behind a cached invalid module.
            self.modules.remove(k.module.as_ref());
            return Err(Error::gpu(
                op,
                format!("building kernel {} in shaders/{}: {e}", k.entry, k.module),
            ));
        }
        Ok(Pipeline {
            pipeline,
            layout,
            entry: k.entry,
            reads: k.reads,
            writes: k.writes,
            uniform_bytes: k.uniform_bytes,
        })
    }
}
