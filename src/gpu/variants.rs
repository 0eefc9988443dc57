//! The variants a kernel family can run as, and which one runs: each variant is
//! correct on every shape the family accepts (tests/elementwise.rs runs every
//! one), so picking one is a matter of speed only. `Choices` holds the picks
//! per size class: the defaults, or what `gpu-basics tune` measured on this
//! adapter (src/gpu/tune.rs), unless `GpuOptions` pins another.
//!
//! Families so far: `map` (the elementwise ops: the unary ops and multiply).

use crate::error::{Error, Result};

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

/// Which variant each family runs, per size class.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Choices {
    map: [MapVariant; 2],
}

impl Default for Choices {
    fn default() -> Self {
        Choices {
            map: [MapVariant::DEFAULT; 2],
        }
    }
}

impl Choices {
    pub(crate) fn map_for(&self, len: usize) -> MapVariant {
        self.map[SizeClass::of(len) as usize]
    }

    /// Every (family, class) pick: `("map/small", variant)`, ...
    pub(crate) fn picks(&self) -> Vec<(String, MapVariant)> {
        SizeClass::ALL
            .iter()
            .map(|&c| (format!("map/{}", c.name()), self.map[c as usize]))
            .collect()
    }

    /// Sets the pick named `key` (`map/small`) to the variant named `variant`;
    /// false if either name is unknown.
    pub(crate) fn set(&mut self, key: &str, variant: &str) -> bool {
        let class = SizeClass::ALL
            .into_iter()
            .find(|c| key == format!("map/{}", c.name()));
        match (class, MapVariant::from_name(variant)) {
            (Some(c), Some(v)) => {
                self.map[c as usize] = v;
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
                    self.map = [v; 2];
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
