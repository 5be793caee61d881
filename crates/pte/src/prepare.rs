//! The passes the writer runs on its own copy of the graph before lowering: types and sizes
//! on every value (ExecuTorch plans memory ahead of time), pass-throughs dropped, constant
//! sub-graphs (shape arithmetic) folded, BatchNormalization folded into the convolution
//! before it (as exir's own pipeline leaves it for the portable kernels).

use modelc_ir::Model;

use crate::PteError;

/// Then what the portable kernels have no single op for, rewritten by the `decompose-*`
/// passes (`modelc passes` describes each) into ops they have (an LSTM unrolled over its
/// time steps, as exir's decompositions leave it), and what those made folded.
const LEGALIZE: &str = "infer-shapes,identity,fold,fuse-conv-bn,dce,decompose-legacy-softmax,\
    decompose-batch-norm,decompose-hard-sigmoid,decompose-hard-swish,decompose-lstm,\
    infer-shapes,fold,dce";

pub(crate) fn prepare(m: &mut Model) -> Result<(), PteError> {
    let passes = modelc_passes::registry::pipeline(LEGALIZE)
        .map_err(|e| PteError::Prepare(e.to_string()))?;
    modelc_passes::PassManager::new(passes)
        .run(m)
        .map_err(|e| PteError::Prepare(e.to_string()))?;
    modelc_ir::infer::infer_graph(&mut m.graph, &m.opset_imports);
    Ok(())
}
