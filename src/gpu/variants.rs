//! The variants a kernel family can run as, and which one runs: each variant is
//! correct on every shape the family accepts (tests/elementwise.rs runs every
//! one), so picking one is a matter of speed only. `Choices` holds the picks
//! per op and size class: the defaults, or what `gpu-basics tune` measured on this
//! adapter (src/gpu/tune.rs), unless `GpuOptions` pins another.
//!
//! Families so far: `map` (the elementwise ops: the unary ops and multiply).

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

/// The kernel families and their variant names, for `GpuOptions::pin_variants`
/// and `gpu-basics info`.
pub const FAMILIES: &[&str] = &["map"];

/// Sizes that may want different variants: few workgroups (where a wide
/// invocation leaves the device idle) or many (where it saves scheduling).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SizeClass {
    /// Under 2^18 elements.
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
}

impl Choices {
    pub(crate) fn map_for(&self, op: MapOp, len: usize) -> MapVariant {
        let class = SizeClass::of(len);
        self.map
            .get(&(op, class))
            .copied()
            .unwrap_or(MapVariant::DEFAULT)
    }

    /// Every pick, as (`map/<op>/<class>`, variant), in op and class order.
    pub(crate) fn picks(&self) -> Vec<(String, MapVariant)> {
        let mut out = Vec::new();
        for op in MapOp::all() {
            for c in SizeClass::ALL {
                let v = self
                    .map
                    .get(&(op, c))
                    .copied()
                    .unwrap_or(MapVariant::DEFAULT);
                out.push((pick_key(op, c), v));
            }
        }
        out
    }

    /// Sets the pick named `key` (`map/sigmoid/small`) to the variant named
    /// `variant`; false if either name is unknown.
    pub(crate) fn set(&mut self, key: &str, variant: &str) -> bool {
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
    /// every size class; an unknown family or variant is `Error::Options`,
    /// listing the valid ones.
    pub(crate) fn pin(mut self, pins: &[(String, String)]) -> Result<Choices> {
        for (family, variant) in pins {
            match family.as_str() {
                "map" => {
                    let v = MapVariant::from_name(variant).ok_or_else(|| Error::Options {
                        option: "pin_variants",
                        detail: format!(
                            "map has no variant {variant:?}; variants: {}",
                            MapVariant::ALL.map(MapVariant::name).join(", ")
                        ),
                    })?;
                    for op in MapOp::all() {
                        for c in SizeClass::ALL {
                            self.map.insert((op, c), v);
                        }
                    }
                }
                _ => {
                    return Err(Error::Options {
                        option: "pin_variants",
                        detail: format!(
                            "no kernel family {family:?}; families: {}",
                            FAMILIES.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(self)
    }
}
