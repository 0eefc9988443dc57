//! The variants a kernel family can run as, and which one runs: each variant is
//! correct on every shape the family accepts (tests/elementwise.rs runs every
//! one), so picking one is a matter of speed only. `Choices` holds the picks
//! per op and size class (line class for `rows`): the defaults, or what `gpu-basics tune` measured on this
//! adapter (src/gpu/tune.rs), unless `GpuOptions` pins another.
//!
//! Families: `map` (the elementwise ops: the unary ops and multiply, picked per
//! op), `matmul` (the tiles of shaders/matmul.wgsl), `matvec` (the team per row
//! of shaders/matvec.wgsl), `reduce` (dot, l1, l2) and `outer`, the last two
//! in the `map` shapes (workgroup size, vec4s per invocation), and `rows`
//! (softmax and normalize_rows, along either axis, picked by the length of
//! the line they reduce: `LineClass`).

use std::collections::HashMap;
use std::hash::Hash;

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
/// line together, several lines per subgroup). With `vec4`, the one-pass path
/// reads and writes lines whose length is a multiple of 4 as whole vec4s (each
/// invocation per_thread / 4 of them; a fourth of the loads and stores); other
/// lines, and the other paths, as the scalar twin does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct RowsVariant {
    pub per_thread: u32,
    pub min_seg: u32,
    pub vec4: bool,
}

impl RowsVariant {
    /// What the crate ran before variants.
    pub const DEFAULT: RowsVariant = RowsVariant {
        per_thread: 8,
        min_seg: 1,
        vec4: false,
    };

    /// 8 or 16 elements per invocation, at least 1, 4 or 16 invocations per
    /// line, scalar or vec4 loads; and 32 per invocation (one pass up to
    /// 8,192, 32 registers a line) with at least 1 invocation per line.
    pub const ALL: [RowsVariant; 14] = {
        let mut out = [RowsVariant::DEFAULT; 14];
        let mut i = 0;
        while i < 12 {
            out[i] = RowsVariant {
                per_thread: 8 << (i / 3 % 2),
                min_seg: [1, 4, 16][i % 3],
                vec4: i >= 6,
            };
            i += 1;
        }
        out[12] = RowsVariant {
            per_thread: 32,
            min_seg: 1,
            vec4: false,
        };
        out[13] = RowsVariant {
            per_thread: 32,
            min_seg: 1,
            vec4: true,
        };
        out
    };

    /// `pt<per_thread>s<min_seg>`, then `v4` for vec4 loads: `pt8s1`, `pt16s4v4`.
    pub fn name(self) -> String {
        let v4 = if self.vec4 { "v4" } else { "" };
        format!("pt{}s{}{v4}", self.per_thread, self.min_seg)
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

    /// Whether a line of `len` takes the one-pass path as whole vec4s
    /// (rows_fused4; along columns, that path's order of leaves).
    pub fn fused4(self, len: usize) -> bool {
        self.vec4 && len.is_multiple_of(4) && !self.short(len) && len <= self.chunk()
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

/// The families picked per size class only (one pick for all their ops);
/// `rows` is picked per `LineClass` instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClassFamily {
    Matmul,
    Matvec,
    Reduce,
    Outer,
}

impl ClassFamily {
    pub(crate) fn name(self) -> &'static str {
        match self {
            ClassFamily::Matmul => "matmul",
            ClassFamily::Matvec => "matvec",
            ClassFamily::Reduce => "reduce",
            ClassFamily::Outer => "outer",
        }
    }

    /// The pick's key in the cache and `Gpu::variants`: `<family>/<class>`.
    pub(crate) fn key(self, class: SizeClass) -> String {
        class_key(self.name(), class)
    }
}

/// The `rows` family's name; its picks are per `LineClass`.
const ROWS: &str = "rows";

/// The key of a `rows` pick: `rows/<line class>`.
pub(crate) fn rows_key(class: LineClass) -> String {
    class_key(ROWS, class)
}

/// `<family>/<class>`, the key of a per-class pick.
fn class_key(family: &str, class: impl Class) -> String {
    format!("{family}/{}", class.name())
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
/// array for `map` and `outer`, C (m x n) for `matmul`; for `matvec`, W's
/// (m x k); each input's for `reduce`. (`rows` goes by `LineClass`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeClass {
    /// Under 2^18 elements (a 512 x 512 C: 16 workgroups of 128 x 128 tiles).
    Small,
    Large,
}

impl SizeClass {
    pub const ALL: [SizeClass; 2] = [SizeClass::Small, SizeClass::Large];

    /// Where `Large` starts, in elements.
    pub const SMALL_BELOW: usize = 1 << 18;

    pub fn of(len: usize) -> SizeClass {
        if len < SizeClass::SMALL_BELOW {
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

/// Lengths of the line softmax and normalize_rows reduce (a row's for axis 1,
/// a column's for axis 0) that may want different `rows` variants. What a
/// variant changes depends on the line, not on how many lines there are
/// (RowsVariant::short, seg and chunk; shaders/rows.wgsl, and
/// shaders/columns.wgsl, which takes the same paths down a column):
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineClass {
    /// Up to `SHORT_MAX` (64): `min_seg` decides how a line is read (1: one
    /// invocation per line up to 32; 4 or 16: at least that many neighbouring
    /// invocations, where 8 or 16 elements each would take fewer).
    Short,
    /// Up to `MEDIUM_MAX` (2,048): every variant reduces a line in one pass,
    /// in registers; `per_thread` decides the segment (8: twice the
    /// invocations of 16 per line, half the registers each).
    Medium,
    /// Longer: the `per_thread` 8 variants cut a line into chunks of 2,048
    /// (three passes), the 16 ones take one pass up to 4,096 and the 32 ones
    /// up to 8,192, then chunks of that (fewer stats to merge).
    Long,
}

impl LineClass {
    pub const ALL: [LineClass; 3] = [LineClass::Short, LineClass::Medium, LineClass::Long];

    /// The longest short line: past 64, 8 elements per invocation already
    /// need 16 invocations (the largest `min_seg`), so `min_seg` no longer
    /// changes the per_thread 8 variants (of the 16 ones, only min_seg 16
    /// still widens lines up to 128).
    pub const SHORT_MAX: usize = 64;

    /// The longest medium line: one workgroup of 256 x 8, the shortest
    /// `RowsVariant::chunk` (the longest line every variant reads in one pass).
    pub const MEDIUM_MAX: usize = 2048;

    pub fn of(len: usize) -> LineClass {
        if len <= LineClass::SHORT_MAX {
            LineClass::Short
        } else if len <= LineClass::MEDIUM_MAX {
            LineClass::Medium
        } else {
            LineClass::Long
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            LineClass::Short => "short",
            LineClass::Medium => "medium",
            LineClass::Long => "long",
        }
    }
}

/// The classes a family's picks are kept per: `SizeClass` or `LineClass`.
pub(crate) trait Class: Copy + Eq + Hash + 'static {
    const EVERY: &'static [Self];
    fn name(self) -> &'static str;
}

impl Class for SizeClass {
    const EVERY: &'static [Self] = &SizeClass::ALL;
    fn name(self) -> &'static str {
        SizeClass::name(self)
    }
}

impl Class for LineClass {
    const EVERY: &'static [Self] = &LineClass::ALL;
    fn name(self) -> &'static str {
        LineClass::name(self)
    }
}

/// A family's variant type, parsed from the names the cache and the pins use.
pub(crate) trait Named: Copy {
    fn parse(name: &str) -> Option<Self>;
}

macro_rules! named_by_from_name {
    ($($t:ty),*) => {$(
        impl Named for $t {
            fn parse(name: &str) -> Option<Self> {
                <$t>::from_name(name)
            }
        }
    )*};
}

named_by_from_name!(MapVariant, MatmulVariant, MatvecVariant, RowsVariant);

/// One family's picks, per class `C`, each of the family's own variant type
/// `V`: a pick of another family cannot be stored, so reading one needs no
/// fallback for a wrong type.
#[derive(Debug, Clone)]
struct ClassPicks<C, V> {
    family: &'static str,
    default: V,
    picks: HashMap<C, V>,
}

impl<C: Class, V: Named> ClassPicks<C, V> {
    fn new(family: &'static str, default: V) -> Self {
        ClassPicks {
            family,
            default,
            picks: HashMap::new(),
        }
    }

    fn get(&self, class: C) -> V {
        self.picks.get(&class).copied().unwrap_or(self.default)
    }

    /// Every class's (key, pick), in class order, as a `Variant` by `wrap`.
    fn all(&self, wrap: fn(V) -> Variant) -> impl Iterator<Item = (String, Variant)> + '_ {
        C::EVERY
            .iter()
            .map(move |&c| (class_key(self.family, c), wrap(self.get(c))))
    }

    /// `None` if `key` is no key of this family; else whether `variant` names
    /// one of its variants (and was set).
    fn set(&mut self, key: &str, variant: &str) -> Option<bool> {
        let class = C::EVERY
            .iter()
            .copied()
            .find(|&c| class_key(self.family, c) == key)?;
        let v = V::parse(variant);
        if let Some(v) = v {
            self.picks.insert(class, v);
        }
        Some(v.is_some())
    }
}

/// Which variant each op runs, per size class (per line class for `rows`;
/// the family's default where nothing was picked).
#[derive(Debug, Clone)]
pub(crate) struct Choices {
    map: HashMap<(MapOp, SizeClass), MapVariant>,
    matmul: ClassPicks<SizeClass, MatmulVariant>,
    matvec: ClassPicks<SizeClass, MatvecVariant>,
    reduce: ClassPicks<SizeClass, MapVariant>,
    outer: ClassPicks<SizeClass, MapVariant>,
    rows: ClassPicks<LineClass, RowsVariant>,
}

impl Default for Choices {
    fn default() -> Self {
        Choices {
            map: HashMap::new(),
            matmul: ClassPicks::new(ClassFamily::Matmul.name(), MatmulVariant::DEFAULT),
            matvec: ClassPicks::new(ClassFamily::Matvec.name(), MatvecVariant::DEFAULT),
            reduce: ClassPicks::new(ClassFamily::Reduce.name(), MapVariant::DEFAULT_REDUCE),
            outer: ClassPicks::new(ClassFamily::Outer.name(), MapVariant::DEFAULT),
            rows: ClassPicks::new(ROWS, RowsVariant::DEFAULT),
        }
    }
}

impl Choices {
    pub(crate) fn map_for(&self, op: MapOp, len: usize) -> MapVariant {
        let class = SizeClass::of(len);
        self.map
            .get(&(op, class))
            .copied()
            .unwrap_or(MapVariant::DEFAULT)
    }

    /// The matmul variant for a C of `outputs` elements.
    pub(crate) fn matmul_for(&self, outputs: usize) -> MatmulVariant {
        self.matmul.get(SizeClass::of(outputs))
    }

    /// The matvec variant for a W of `elems` elements (m x k).
    pub(crate) fn matvec_for(&self, elems: usize) -> MatvecVariant {
        self.matvec.get(SizeClass::of(elems))
    }

    /// The dot, l1 and l2 variant for vectors of `len`.
    pub(crate) fn reduce_for(&self, len: usize) -> MapVariant {
        self.reduce.get(SizeClass::of(len))
    }

    /// The outer variant for an output of `outputs` elements.
    pub(crate) fn outer_for(&self, outputs: usize) -> MapVariant {
        self.outer.get(SizeClass::of(outputs))
    }

    /// The softmax and normalize_rows variant for lines of `line` elements
    /// (the length along the reduced axis).
    pub(crate) fn rows_for(&self, line: usize) -> RowsVariant {
        self.rows.get(LineClass::of(line))
    }

    /// Makes every matmul pick fit `bytes` of workgroup memory: a pick that
    /// needs more is `Error::Options` where matmul is pinned (`pinned`), and
    /// otherwise (a cache written on another device, or by hand) replaced by
    /// the default, with a note saying so for each.
    pub(crate) fn fit_workgroup_memory(&mut self, bytes: u32, pinned: bool) -> Result<Vec<String>> {
        let mut notes = Vec::new();
        for (key, v) in self.picks() {
            let Variant::Matmul(m) = v else { continue };
            if m.fits(bytes) {
                continue;
            }
            if pinned {
                return Err(Error::Options {
                    option: "GpuOptions::pin_variants",
                    detail: format!(
                        "matmul variant {} needs {} bytes of workgroup memory; this device \
                         allows {bytes}",
                        m.name(),
                        m.workgroup_bytes()
                    ),
                });
            }
            let set = self.set(&key, &MatmulVariant::DEFAULT.name());
            debug_assert!(set, "{key}");
            notes.push(format!(
                "{key} default ({} needs more workgroup memory than this device has)",
                m.name()
            ));
        }
        Ok(notes)
    }

    /// Every pick, as (key, variant): `map/<op>/<class>` in op and class
    /// order, then `<family>/<class>` for matmul, matvec, reduce, outer and
    /// rows (whose classes are `LineClass`es).
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
        out.extend(self.matmul.all(Variant::Matmul));
        out.extend(self.matvec.all(Variant::Matvec));
        out.extend(self.reduce.all(Variant::Reduce));
        out.extend(self.outer.all(Variant::Outer));
        out.extend(self.rows.all(Variant::Rows));
        out
    }

    /// Sets the pick named `key` (`map/sigmoid/small`, `matmul/large`,
    /// `rows/short`) to the variant named `variant`; false if either name is
    /// unknown (`rows/small`, an older version's key, included).
    pub(crate) fn set(&mut self, key: &str, variant: &str) -> bool {
        let family = self
            .matmul
            .set(key, variant)
            .or_else(|| self.matvec.set(key, variant))
            .or_else(|| self.reduce.set(key, variant))
            .or_else(|| self.outer.set(key, variant))
            .or_else(|| self.rows.set(key, variant));
        if let Some(set) = family {
            return set;
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
    /// every op and class; an unknown family or variant is
    /// `Error::Options`, listing the valid ones.
    pub(crate) fn pin(mut self, pins: &[(String, String)]) -> Result<Choices> {
        for (family, variant) in pins {
            let Some(names) = variant_names(family) else {
                return Err(Error::Options {
                    option: "GpuOptions::pin_variants",
                    detail: format!(
                        "no kernel family {family:?}; families: {}",
                        FAMILIES.join(", ")
                    ),
                });
            };
            if !names.contains(variant) {
                return Err(Error::Options {
                    option: "GpuOptions::pin_variants",
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

#[cfg(test)]
mod tests {
    use super::{LineClass, RowsVariant};

    /// The line classes' bounds are where the kernel's paths change (see
    /// `LineClass`): if a variant list or `seg` changes, so must the bounds.
    #[test]
    fn line_class_bounds_follow_the_kernel() {
        let seg = |pt, s, len| {
            RowsVariant {
                per_thread: pt,
                min_seg: s,
                vec4: false,
            }
            .seg(len)
        };
        let short = LineClass::SHORT_MAX;
        // At SHORT_MAX, min_seg still changes how the variants of each
        // per_thread read a line ...
        for pt in [8, 16] {
            let mut shapes: Vec<(bool, u32)> = [1, 4, 16]
                .map(|s| {
                    let v = RowsVariant {
                        per_thread: pt,
                        min_seg: s,
                        vec4: false,
                    };
                    (v.short(short), v.seg(short))
                })
                .to_vec();
            shapes.dedup();
            assert!(shapes.len() > 1, "{pt}: {shapes:?}");
        }
        // ... just past it, no longer the per_thread 8 ones.
        let past = [1, 4, 16].map(|s| seg(8, s, short + 1));
        assert_eq!(past, [16; 3]);
        assert!(RowsVariant::ALL.iter().all(|v| !v.short(short + 1)));
        // MEDIUM_MAX is the shortest one-pass chunk: every variant reads a
        // medium line in one pass, some not a longer one.
        let min_chunk = RowsVariant::ALL.iter().map(|v| v.chunk()).min();
        assert_eq!(min_chunk, Some(LineClass::MEDIUM_MAX));
        let classes = [1, 64, 65, 2048, 2049, 1 << 24].map(LineClass::of);
        use LineClass::*;
        assert_eq!(classes, [Short, Short, Medium, Medium, Long, Long]);
    }
}
