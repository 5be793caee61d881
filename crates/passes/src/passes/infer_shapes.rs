//! `infer-shapes`: fills in the element type and (possibly symbolic) shape of every node
//! output, in the main graph and in sub-graphs, with [`modelc_ir::infer`]. A declared type is
//! only ever made more precise; where it disagrees with what inference finds, the declared
//! type stays and the disagreement goes to the run's notes. Passes that run later read the
//! types with `Graph::tensor_type` / `shape_of` / `dtype_of` / `known_dims`.

use modelc_ir::{infer, Graph};

use crate::{Changed, Pass, PassContext, PassError};

pub struct InferShapes;

impl Pass for InferShapes {
    fn name(&self) -> &'static str {
        "infer-shapes"
    }

    fn description(&self) -> &'static str {
        "infer every value's element type and shape (symbolic dims kept), refining declared types"
    }

    fn run(&self, g: &mut Graph, cx: &mut PassContext) -> Result<Changed, PassError> {
        let report = infer::infer_graph(g, &cx.opsets);
        for p in report.problems {
            let note = format!("infer-shapes: {p}");
            // The same disagreement is found again on every round; note it once.
            if !cx.notes.contains(&note) {
                cx.notes.push(note);
            }
        }
        Ok(Changed::from_bool(report.refined > 0))
    }
}
