//! The built-in passes by name, and the optimization levels.

use crate::passes::{dce::Dce, identity::IdentityElim};
use crate::{Pass, PassError};

/// Every built-in pass, in the order `modelc passes` lists them.
pub fn all() -> Vec<Box<dyn Pass>> {
    vec![Box::new(IdentityElim), Box::new(Dce)]
}

/// The built-in pass `name`.
pub fn get(name: &str) -> Result<Box<dyn Pass>, PassError> {
    all()
        .into_iter()
        .find(|p| p.name() == name)
        .ok_or_else(|| PassError::UnknownPass(name.to_string()))
}

/// A pipeline from a comma-separated list of pass names (`identity,dce`).
pub fn pipeline(spec: &str) -> Result<Vec<Box<dyn Pass>>, PassError> {
    spec.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(get)
        .collect()
}

/// The pipeline of optimization level `level` (0 to 3). Levels above what exists today
/// run the strongest pipeline there is.
pub fn level(level: u8) -> Vec<Box<dyn Pass>> {
    match level {
        0 => Vec::new(),
        _ => vec![Box::new(IdentityElim), Box::new(Dce)],
    }
}
