//! Attribute defaults from the ONNX schemas: what an absent attribute means.
//!
//! The generated table keeps each default as a step function of the opset version, because
//! a few changed (Softmax's `axis` went from 1 to -1 at opset 13; Selu's constants were
//! refined at opset 6). A reader that knows the model's opset asks [`OnnxOp::default_at`];
//! one that does not asks [`OnnxOp::default_any_version`], which refuses when the versions
//! disagree instead of picking one.

use super::{AttrSchema, OnnxOp};
use crate::AttrKind;

/// An attribute's default value as the ONNX schema states it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum AttrDefault {
    Float(f32),
    Int(i64),
    String(&'static str),
    Floats(&'static [f32]),
    Ints(&'static [i64]),
    Strings(&'static [&'static str]),
}

/// An absent attribute whose default depends on the opset version, read without one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the default of {op}'s attribute `{name}` changed between opset versions ({versions}): read it at the model's opset")]
pub struct VersionDependentDefault {
    pub op: OnnxOp,
    pub name: String,
    /// The opset versions at which the default changed, e.g. `1, 13`.
    pub versions: String,
}

impl AttrSchema {
    /// The default in effect at opset version `opset`, if any.
    pub fn default_at(&self, opset: i64) -> Option<AttrDefault> {
        self.defaults
            .iter()
            .take_while(|(since, _)| i64::from(*since) <= opset)
            .last()
            .and_then(|(_, d)| *d)
    }
}

impl OnnxOp {
    fn attr_schemas<'a>(
        self,
        name: &'a str,
        kind: AttrKind,
    ) -> impl Iterator<Item = &'static AttrSchema> + 'a {
        self.schema()
            .attrs
            .iter()
            .filter(move |a| a.name == name && a.kind == kind)
    }

    /// The schema default of attribute `name` of `kind` in the operator version in effect
    /// at opset version `opset` of the op's domain; `None` when that version has none. An
    /// opset older than the op reads its first version (graphs built by passes may use an op
    /// newer than the opset they were given, and it has only that meaning).
    pub fn default_at(self, name: &str, kind: AttrKind, opset: i64) -> Option<AttrDefault> {
        let first = self.schema().since_versions.first().copied().unwrap_or(1);
        let opset = opset.max(i64::from(first));
        self.attr_schemas(name, kind)
            .find_map(|a| a.default_at(opset))
    }

    /// The schema default of attribute `name` of `kind` that every opset version defining
    /// one agrees on; `Ok(None)` when no version has a default, an error when they differ.
    pub fn default_any_version(
        self,
        name: &str,
        kind: AttrKind,
    ) -> Result<Option<AttrDefault>, VersionDependentDefault> {
        let steps: Vec<(i32, AttrDefault)> = self
            .attr_schemas(name, kind)
            .flat_map(|a| a.defaults.iter())
            .filter_map(|(since, d)| d.map(|d| (*since, d)))
            .collect();
        match steps.split_first() {
            None => Ok(None),
            Some((first, rest)) if rest.iter().all(|(_, d)| *d == first.1) => Ok(Some(first.1)),
            Some(_) => Err(VersionDependentDefault {
                op: self,
                name: name.to_string(),
                versions: steps
                    .iter()
                    .map(|(since, _)| since.to_string())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_follow_the_schema() {
        use AttrKind::{Float, Int, String};
        assert_eq!(
            OnnxOp::LeakyRelu.default_any_version("alpha", Float),
            Ok(Some(AttrDefault::Float(0.01)))
        );
        assert_eq!(
            OnnxOp::Gelu.default_any_version("approximate", String),
            Ok(Some(AttrDefault::String("none")))
        );
        assert_eq!(OnnxOp::Gemm.default_any_version("alpha", Int), Ok(None));
        assert_eq!(
            OnnxOp::Conv.default_any_version("kernel_shape", AttrKind::Ints),
            Ok(None)
        );
    }

    #[test]
    fn a_default_that_changed_is_read_per_version() {
        assert_eq!(
            OnnxOp::Softmax.default_at("axis", AttrKind::Int, 11),
            Some(AttrDefault::Int(1))
        );
        assert_eq!(
            OnnxOp::Softmax.default_at("axis", AttrKind::Int, 13),
            Some(AttrDefault::Int(-1))
        );
        assert_eq!(
            OnnxOp::Softmax.default_at("axis", AttrKind::Int, 21),
            Some(AttrDefault::Int(-1))
        );
        let e = OnnxOp::Softmax
            .default_any_version("axis", AttrKind::Int)
            .unwrap_err();
        assert_eq!(e.versions, "1, 13");
        // LpPool's `p` was a float in opset 1 and an int from opset 2.
        assert_eq!(
            OnnxOp::LpPool.default_at("p", AttrKind::Float, 1),
            Some(AttrDefault::Float(2.0))
        );
        assert_eq!(OnnxOp::LpPool.default_at("p", AttrKind::Float, 2), None);
        assert_eq!(
            OnnxOp::LpPool.default_at("p", AttrKind::Int, 18),
            Some(AttrDefault::Int(2))
        );
        // An opset before the op existed reads its first version.
        assert_eq!(
            OnnxOp::Gelu.default_at("approximate", AttrKind::String, 18),
            Some(AttrDefault::String("none"))
        );
        // An attribute added later has no default before it existed.
        assert_eq!(
            OnnxOp::LpPool.default_at("ceil_mode", AttrKind::Int, 17),
            None
        );
        assert_eq!(
            OnnxOp::LpPool.default_at("ceil_mode", AttrKind::Int, 18),
            Some(AttrDefault::Int(0))
        );
    }
}
