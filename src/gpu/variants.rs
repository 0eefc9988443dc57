//! The variants a kernel family can run as, and which one runs: each variant is
//! correct on every shape the family accepts (tests/elementwise.rs runs every
//! one), so picking one is a matter of speed only. `Choices` holds the picks
//! per op and size class: the defaults, or what `gpu-basics tune` measured on this
//! adapter (src/gpu/tune.rs), unless `GpuOptions` pins another.
//!
//! Families: `map` (the elementwise ops: the unary ops and multiply, picked per
//! op), `matmul` (the tiles of shaders/matmul.wgsl), `matvec` (the team per row
//! of shaders/matvec.wgsl), `reduce` (dot, l1, l2) and `outer`, the last two
//! in the `map` shapes (workgroup size, vec4s per invocation), and `rows`
//! (softmax and normalize_rows, along either axis).

use std::collections::HashMap;

use super::kernels::MapOp;
use crate::error::{Error, Result};

/// The cache's and `Gpu::variants`' name of a pick: `map/<op>/<class>`.
pub(crate) fn pick_key(op: MapOp, class: SizeClass) -> String {
    format!("map/{}/{}", op.name(), class.name())
}

/// How an elementwise kernel covers its array: `workgroup` invocations per
/// workgroup, each handling `vec4s` vec4s a workgroup apart (so every step of
/// the unrolled loop reads one contiguous, coalesced span).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MapVariant {
    pub workgroup: u32,
    pub vec4s: u32,
}

impl MapVariant {
    /// What the crate ran before variants existed, and runs without a pick.
    pub const DEFAULT: MapVariant = MapVariant {
        workgroup: 64,
        vec4s: 1,
    };

    /// What dot, l1 and l2 ran before variants: workgroups of 256, one vec4
    /// per step.
    pub const DEFAULT_REDUCE: MapVariant = MapVariant {
        workgroup: 256,
        vec4s: 1,
    };

    /// Every variant: workgroups of 64, 128 and 256, 1, 2 or 4 vec4s each.
    pub const ALL: [MapVariant; 9] = {
        let mut out = [MapVariant::DEFAULT; 9];
        let mut i = 0;
        while i < 9 {
            out[i] = MapVariant {
                workgroup: 64 << (i / 3),
                vec4s: 1 << (i % 3),
            };
            i += 1;
        }
        out
    };

    /// `wg<workgroup>x<vec4s>`, e.g. `wg256x4`.
    pub fn name(self) -> String {
        format!("wg{}x{}", self.workgroup, self.vec4s)
    }

    pub fn from_name(name: &str) -> Option<MapVariant> {
        MapVariant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// f32 elements one workgroup covers.
    pub fn elems_per_group(self) -> u64 {
        u64::from(self.workgroup) * u64::from(self.vec4s) * 4
    }
}

/// How a matmul kernel tiles C (shaders/matmul.wgsl): `wg_x` x `wg_y`
/// invocations per workgroup, each accumulating `tm` x `tn` values of C, over
/// k steps of `bk`. Each workgroup computes a `wg_y * tm` x `wg_x * tn` tile.
/// With `pack_b`, B is first copied K-contiguous (transposed, n rows of k
/// padded to a multiple of 4) and the kernel reads it along k, as it reads A.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatmulVariant {
    pub wg_x: u32,
    pub wg_y: u32,
    pub tm: u32,
    pub tn: u32,
    pub bk: u32,
    pub pack_b: bool,
}

const fn mm(wg_x: u32, wg_y: u32, tm: u32, tn: u32, bk: u32) -> MatmulVariant {
    MatmulVariant {
        wg_x,
        wg_y,
        tm,
        tn,
        bk,
        pack_b: false,
    }
}

const fn packed(v: MatmulVariant) -> MatmulVariant {
    MatmulVariant { pack_b: true, ..v }
}

impl MatmulVariant {
    /// 64 x 64 tiles, 4 x 4 per invocation, k steps of 16: portable (8 KiB of
    /// workgroup memory, 256 invocations), and what the crate ran before variants.
    pub const DEFAULT: MatmulVariant = mm(16, 16, 4, 4, 16);

    /// Every variant: register blocks of 4 x 4, 4 x 8, 8 x 4 and 8 x 8, tiles of
    /// 32 to 128 on a side, k steps of 8, 16 and 32, B as given or packed
    /// K-contiguous (the `bt` names; on NVIDIA, gpu.cpp's matmul gained 1.5x from
    /// a K-contiguous B: ../shared/kernel-techniques.md). Each runs 256
    /// invocations or fewer (WebGPU guarantees 256); those with k steps of 32 on
    /// tiles over 64 x 64 need more workgroup memory than WebGPU's guaranteed
    /// 16 KiB (24 or 32 KiB; `fits` says whether a device has it).
    pub const ALL: [MatmulVariant; 14] = [
        MatmulVariant::DEFAULT,
        mm(16, 16, 4, 4, 8),
        mm(8, 8, 4, 4, 16),
        mm(16, 16, 4, 8, 16),
        mm(16, 16, 8, 4, 16),
        mm(16, 8, 8, 8, 16),
        mm(16, 16, 8, 8, 8),
        mm(16, 16, 8, 8, 16),
        mm(16, 16, 4, 4, 32),
        mm(16, 16, 4, 8, 32),
        mm(16, 16, 8, 8, 32),
        packed(MatmulVariant::DEFAULT),
        packed(mm(16, 16, 8, 8, 16)),
        packed(mm(16, 16, 8, 8, 32)),
    ];

    /// Rows of C per workgroup.
    pub const fn bm(self) -> u32 {
        self.wg_y * self.tm
    }

    /// Columns of C per workgroup.
    pub const fn bn(self) -> u32 {
        self.wg_x * self.tn
    }

    /// Bytes of workgroup memory: the tiles of A (bm x bk) and B (bk x bn).
    pub const fn workgroup_bytes(self) -> u32 {
        (self.bm() + self.bn()) * self.bk * 4
    }

    /// Whether a device with `workgroup_bytes` of workgroup memory per
    /// workgroup can run it (every variant's invocations fit WebGPU's
    /// guaranteed limits, checked below; its memory may not).
    pub const fn fits(self, workgroup_bytes: u32) -> bool {
        self.workgroup_bytes() <= workgroup_bytes
    }

    /// `<bm>x<bn>r<tm>x<tn>k<bk>`, then `bt` if B is packed: `64x64r4x4k16`,
    /// `128x128r8x8k32bt`.
    pub fn name(self) -> String {
        format!(
            "{}x{}r{}x{}k{}{}",
            self.bm(),
            self.bn(),
            self.tm,
            self.tn,
            self.bk,
            if self.pack_b { "bt" } else { "" }
        )
    }

    pub fn from_name(name: &str) -> Option<MatmulVariant> {
        MatmulVariant::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// WebGPU's guaranteed workgroup memory (maxComputeWorkgroupStorageSize):
/// the default variant must fit it, so that every device runs the default.
pub const WEBGPU_WORKGROUP_BYTES: u32 = 16384;

// Every variant within WebGPU's guaranteed invocations (256 per workgroup, 256
// along x and y), with whole vec4s everywhere; the default within its memory.
const _: () = {
    let mut i = 0;
    while i < MatmulVariant::ALL.len() {
        let v = MatmulVariant::ALL[i];
        assert!(v.wg_x * v.wg_y <= 256);
        assert!(v.tm.is_multiple_of(4) && v.tn.is_multiple_of(4) && v.bk.is_multiple_of(4));
        i += 1;
    }
    assert!(MatmulVariant::DEFAULT.fits(WEBGPU_WORKGROUP_BYTES));
};

/// How the matvec kernel covers W (shaders/matvec.wgsl): a team of `lanes`
/// invocations per row (256 / lanes rows per workgroup). Short rows want small
/// teams (a team of 256 on a row of 64 would idle three quarters of it), long
/// rows big ones (fewer rows in flight, longer coalesced spans).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct MatvecVariant {
    pub lanes: u32,
}

impl MatvecVariant {
    /// Teams of 64: what the crate ran before variants.
    pub const DEFAULT: MatvecVariant = MatvecVariant { lanes: 64 };

    /// Teams of 16 to 256 invocations.
    pub const ALL: [MatvecVariant; 5] = [
        MatvecVariant { lanes: 16 },
        MatvecVariant { lanes: 32 },
        MatvecVariant::DEFAULT,
        MatvecVariant { lanes: 128 },
        MatvecVariant { lanes: 256 },
    ];

    /// Rows per workgroup of 256.
    pub fn rows(self) -> u32 {
        256 / self.lanes
    }

    /// `lanes<lanes>`, e.g. `lanes64`.
    pub fn name(self) -> String {
        format!("lanes{}", self.lanes)
    }

    pub fn from_name(name: &str) -> Option<MatvecVariant> {
        MatvecVariant::ALL.into_iter().find(|v| v.name() == name)
    }
}

/// How softmax and normalize_rows cover a line (shaders/rows.wgsl, and
/// shaders/columns.wgsl, which replays the rows' tree): `per_thread` elements
/// per invocation (so lines up to 256 x per_thread take one pass, the line in
/// registers), and at least `min_seg` invocations per line (1: lines of up to 32
/// take one invocation each; 4 or 16: neighbouring invocations read a short
/// line together, several lines per subgroup).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowsVariant {
    pub per_thread: u32,
    pub min_seg: u32,
}

impl RowsVariant {
    /// What the crate ran before variants.
    pub const DEFAULT: RowsVariant = RowsVariant {
        per_thread: 8,
        min_seg: 1,
    };

    /// 8 or 16 elements per invocation, at least 1, 4 or 16 invocations per line.
    pub const ALL: [RowsVariant; 6] = {
        let mut out = [RowsVariant::DEFAULT; 6];
        let mut i = 0;
        while i < 6 {
            out[i] = RowsVariant {
                per_thread: 8 << (i / 3),
                min_seg: [1, 4, 16][i % 3],
            };
            i += 1;
        }
        out
    };

    /// `pt<per_thread>s<min_seg>`, e.g. `pt8s1`.
    pub fn name(self) -> String {
        format!("pt{}s{}", self.per_thread, self.min_seg)
    }

    pub fn from_name(name: &str) -> Option<RowsVariant> {
        RowsVariant::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The longest line reduced in one pass (a workgroup of 256 x per_thread).
    pub fn chunk(self) -> usize {
        256 * self.per_thread as usize
    }

    /// Whether a line of `len` takes the one-invocation path (rows_short).
    pub fn short(self, len: usize) -> bool {
        self.min_seg == 1 && len <= 32
    }

    /// Invocations per line of `len` in the one-pass path: enough for
    /// per_thread elements each, at least min_seg, a power of two up to 256.
    pub fn seg(self, len: usize) -> u32 {
        let need = len.div_ceil(self.per_thread as usize).next_power_of_two();
        need.max(self.min_seg as usize).min(256) as u32
    }
}

/// One variant of some family.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Variant {
    Map(MapVariant),
    Matmul(MatmulVariant),
    Matvec(MatvecVariant),
    /// dot, l1, l2: the `map` shapes (workgroup, vec4s per step).
    Reduce(MapVariant),
    /// outer: the `map` shapes.
    Outer(MapVariant),
    Rows(RowsVariant),
}

impl Variant {
    pub(crate) fn name(self) -> String {
        match self {
            Variant::Map(v) | Variant::Reduce(v) | Variant::Outer(v) => v.name(),
            Variant::Matmul(v) => v.name(),
            Variant::Matvec(v) => v.name(),
            Variant::Rows(v) => v.name(),
        }
    }
}

/// The families picked per size class only (one pick for all their ops).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClassFamily {
    Matmul,
    Matvec,
    Reduce,
    Outer,
    Rows,
}

impl ClassFamily {
    pub(crate) const ALL: [ClassFamily; 5] = [
        ClassFamily::Matmul,
        ClassFamily::Matvec,
        ClassFamily::Reduce,
        ClassFamily::Outer,
        ClassFamily::Rows,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            ClassFamily::Matmul => "matmul",
            ClassFamily::Matvec => "matvec",
            ClassFamily::Reduce => "reduce",
            ClassFamily::Outer => "outer",
            ClassFamily::Rows => "rows",
        }
    }

    fn default(self) -> Variant {
        match self {
            ClassFamily::Matmul => Variant::Matmul(MatmulVariant::DEFAULT),
            ClassFamily::Matvec => Variant::Matvec(MatvecVariant::DEFAULT),
            ClassFamily::Reduce => Variant::Reduce(MapVariant::DEFAULT_REDUCE),
            ClassFamily::Outer => Variant::Outer(MapVariant::DEFAULT),
            ClassFamily::Rows => Variant::Rows(RowsVariant::DEFAULT),
        }
    }

    /// The family's variant named `name`.
    fn parse(self, name: &str) -> Option<Variant> {
        match self {
            ClassFamily::Matmul => MatmulVariant::from_name(name).map(Variant::Matmul),
            ClassFamily::Matvec => MatvecVariant::from_name(name).map(Variant::Matvec),
            ClassFamily::Reduce => MapVariant::from_name(name).map(Variant::Reduce),
            ClassFamily::Outer => MapVariant::from_name(name).map(Variant::Outer),
            ClassFamily::Rows => RowsVariant::from_name(name).map(Variant::Rows),
        }
    }

    /// The pick's key in the cache and `Gpu::variants`: `<family>/<class>`.
    pub(crate) fn key(self, class: SizeClass) -> String {
        format!("{}/{}", self.name(), class.name())
    }
}

/// The kernel families and their variant names, for `GpuOptions::pin_variants`
/// and `gpu-basics info`.
pub const FAMILIES: &[&str] = &["map", "matmul", "matvec", "reduce", "outer", "rows"];

/// The names of a family's variants.
fn variant_names(family: &str) -> Option<Vec<String>> {
    match family {
        "map" | "reduce" | "outer" => Some(MapVariant::ALL.map(MapVariant::name).to_vec()),
        "matmul" => Some(MatmulVariant::ALL.map(MatmulVariant::name).to_vec()),
        "matvec" => Some(MatvecVariant::ALL.map(MatvecVariant::name).to_vec()),
        "rows" => Some(RowsVariant::ALL.map(RowsVariant::name).to_vec()),
        _ => None,
    }
}

/// Sizes that may want different variants: few workgroups (where a wide
/// invocation or a big tile leaves the device idle) or many (where it saves
/// scheduling and memory traffic). Measured in elements of the output: the
/// array for `map` and `rows`, C (m x n) for `matmul`; for `matvec`, W's (m x k).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeClass {
    /// Under 2^18 elements (a 512 x 512 C: 16 workgroups of 128 x 128 tiles).
    Small,
    Large,
}

impl SizeClass {
    pub const ALL: [SizeClass; 2] = [SizeClass::Small, SizeClass::Large];

    pub fn of(len: usize) -> SizeClass {
        if len < 1 << 18 {
            SizeClass::Small
        } else {
            SizeClass::Large
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            SizeClass::Small => "small",
            SizeClass::Large => "large",
        }
    }
}

/// Which variant each op runs, per size class (the family's default where
/// nothing was picked).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Choices {
    map: HashMap<(MapOp, SizeClass), MapVariant>,
    classes: HashMap<(ClassFamily, SizeClass), Variant>,
}

impl Choices {
    pub(crate) fn map_for(&self, op: MapOp, len: usize) -> MapVariant {
        let class = SizeClass::of(len);
        self.map
            .get(&(op, class))
            .copied()
            .unwrap_or(MapVariant::DEFAULT)
    }

    fn class_pick(&self, family: ClassFamily, len: usize) -> Variant {
        let class = SizeClass::of(len);
        self.classes
            .get(&(family, class))
            .copied()
            .unwrap_or(family.default())
    }

    /// The matmul variant for a C of `outputs` elements.
    pub(crate) fn matmul_for(&self, outputs: usize) -> MatmulVariant {
        match self.class_pick(ClassFamily::Matmul, outputs) {
            Variant::Matmul(v) => v,
            _ => MatmulVariant::DEFAULT,
        }
    }

    /// The matvec variant for a W of `elems` elements (m x k).
    pub(crate) fn matvec_for(&self, elems: usize) -> MatvecVariant {
        match self.class_pick(ClassFamily::Matvec, elems) {
            Variant::Matvec(v) => v,
            _ => MatvecVariant::DEFAULT,
        }
    }

    /// The dot, l1 and l2 variant for vectors of `len`.
    pub(crate) fn reduce_for(&self, len: usize) -> MapVariant {
        match self.class_pick(ClassFamily::Reduce, len) {
            Variant::Reduce(v) => v,
            _ => MapVariant::DEFAULT_REDUCE,
        }
    }

    /// The outer variant for an output of `outputs` elements.
    pub(crate) fn outer_for(&self, outputs: usize) -> MapVariant {
        match self.class_pick(ClassFamily::Outer, outputs) {
            Variant::Outer(v) => v,
            _ => MapVariant::DEFAULT,
        }
    }

    /// The softmax and normalize_rows variant for an array of `elems`.
    pub(crate) fn rows_for(&self, elems: usize) -> RowsVariant {
        match self.class_pick(ClassFamily::Rows, elems) {
            Variant::Rows(v) => v,
            _ => RowsVariant::DEFAULT,
        }
    }

    /// Every pick, as (key, variant): `map/<op>/<class>` in op and class
    /// order, then `<family>/<class>` for the other families.
    pub(crate) fn picks(&self) -> Vec<(String, Variant)> {
        let mut out = Vec::new();
        for op in MapOp::all() {
            for c in SizeClass::ALL {
                let v = self
                    .map
                    .get(&(op, c))
                    .copied()
                    .unwrap_or(MapVariant::DEFAULT);
                out.push((pick_key(op, c), Variant::Map(v)));
            }
        }
        for f in ClassFamily::ALL {
            for c in SizeClass::ALL {
                let v = self.classes.get(&(f, c)).copied().unwrap_or(f.default());
                out.push((f.key(c), v));
            }
        }
        out
    }

    /// Sets the pick named `key` (`map/sigmoid/small`, `matmul/large`) to the
    /// variant named `variant`; false if either name is unknown.
    pub(crate) fn set(&mut self, key: &str, variant: &str) -> bool {
        for f in ClassFamily::ALL {
            for c in SizeClass::ALL {
                if f.key(c) == key {
                    return match f.parse(variant) {
                        Some(v) => {
                            self.classes.insert((f, c), v);
                            true
                        }
                        None => false,
                    };
                }
            }
        }
        let found = MapOp::all()
            .flat_map(|op| SizeClass::ALL.map(|c| (op, c)))
            .find(|&(op, c)| pick_key(op, c) == key);
        match (found, MapVariant::from_name(variant)) {
            (Some(k), Some(v)) => {
                self.map.insert(k, v);
                true
            }
            _ => false,
        }
    }

    /// `pins` ((family, variant name) pairs) applied over these choices, for
    /// every op and size class; an unknown family or variant is
    /// `Error::Options`, listing the valid ones.
    pub(crate) fn pin(mut self, pins: &[(String, String)]) -> Result<Choices> {
        for (family, variant) in pins {
            let Some(names) = variant_names(family) else {
                return Err(Error::Options {
                    option: "pin_variants",
                    detail: format!(
                        "no kernel family {family:?}; families: {}",
                        FAMILIES.join(", ")
                    ),
                });
            };
            if !names.contains(variant) {
                return Err(Error::Options {
                    option: "pin_variants",
                    detail: format!(
                        "{family} has no variant {variant:?}; variants: {}",
                        names.join(", ")
                    ),
                });
            }
            let keys: Vec<String> = self
                .picks()
                .into_iter()
                .map(|(k, _)| k)
                .filter(|k| k.starts_with(&format!("{family}/")))
                .collect();
            for key in keys {
                let set = self.set(&key, variant);
                debug_assert!(set, "{key} = {variant}");
            }
        }
        Ok(self)
    }
}
