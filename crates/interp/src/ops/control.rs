//! Kernels: the control family — If, Loop, Scan (sub-graphs run through
//! `OpCtx::run_subgraph`), the sequence ops and the optional ops.

use modelc_ir::OnnxOp;

use super::Kernel;

mod branch;
mod common;
mod loop_op;
mod optional;
mod scan;
mod sequence;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::If => branch::if_op,
        OnnxOp::Loop => loop_op::loop_op,
        OnnxOp::Scan => scan::scan,
        OnnxOp::SequenceEmpty => sequence::sequence_empty,
        OnnxOp::SequenceConstruct => sequence::sequence_construct,
        OnnxOp::SequenceAt => sequence::sequence_at,
        OnnxOp::SequenceInsert => sequence::sequence_insert,
        OnnxOp::SequenceErase => sequence::sequence_erase,
        OnnxOp::SequenceLength => sequence::sequence_length,
        OnnxOp::SplitToSequence => sequence::split_to_sequence,
        OnnxOp::ConcatFromSequence => sequence::concat_from_sequence,
        OnnxOp::SequenceMap => sequence::sequence_map,
        OnnxOp::Optional => optional::optional,
        OnnxOp::OptionalHasElement => optional::optional_has_element,
        OnnxOp::OptionalGetElement => optional::optional_get_element,
        _ => return None,
    })
}
