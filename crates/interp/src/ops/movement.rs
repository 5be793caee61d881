//! Kernels that move data without computing on it: Identity, Reshape, Transpose, Slice,
//! Gather/Scatter, Pad, Concat/Split, and the small shape/index producers (Shape, Range,
//! TopK, ArgMax, NonZero, Unique, NonMaxSuppression, ...). Most of them build flat source
//! offsets (see `common.rs`) and copy elements, so every element type works, including
//! strings and byte-sized packed types.

use modelc_ir::OnnxOp;

use super::Kernel;

mod col2im;
mod common;
mod concat_split;
mod constant;
mod cumsum;
mod gather;
mod identity;
mod nms;
mod pad;
mod scatter;
mod select;
mod shape_ops;
mod slice;
mod sort;
#[cfg(test)]
mod tests;
mod tile;
mod transpose;

/// Data-movement helpers the layout wrapper (`nn/layout.rs`) reuses.
pub(crate) use common::{from_i64_vec, gather_tables, reshape};
pub(crate) use transpose::transpose_array;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::Identity => identity::identity,
        OnnxOp::Reshape => shape_ops::reshape,
        OnnxOp::Flatten => shape_ops::flatten,
        OnnxOp::Squeeze => shape_ops::squeeze,
        OnnxOp::Unsqueeze => shape_ops::unsqueeze,
        OnnxOp::Shape => shape_ops::shape,
        OnnxOp::Size => shape_ops::size,
        OnnxOp::Expand => shape_ops::expand,
        OnnxOp::Transpose => transpose::transpose,
        OnnxOp::DepthToSpace => transpose::depth_to_space,
        OnnxOp::SpaceToDepth => transpose::space_to_depth,
        OnnxOp::Concat => concat_split::concat,
        OnnxOp::Split => concat_split::split,
        OnnxOp::Slice => slice::slice,
        OnnxOp::Gather => gather::gather,
        OnnxOp::GatherElements => gather::gather_elements,
        OnnxOp::GatherND => gather::gather_nd,
        OnnxOp::ScatterElements | OnnxOp::Scatter => scatter::scatter_elements,
        OnnxOp::ScatterND => scatter::scatter_nd,
        OnnxOp::Constant => constant::constant,
        OnnxOp::ConstantOfShape => constant::constant_of_shape,
        OnnxOp::Range => constant::range,
        OnnxOp::EyeLike => constant::eye_like,
        OnnxOp::OneHot => constant::one_hot,
        OnnxOp::Pad => pad::pad,
        OnnxOp::CenterCropPad => pad::center_crop_pad,
        OnnxOp::Tile => tile::tile,
        OnnxOp::Compress => select::compress,
        OnnxOp::Trilu => select::trilu,
        OnnxOp::ReverseSequence => select::reverse_sequence,
        OnnxOp::TopK => sort::top_k,
        OnnxOp::ArgMax => sort::arg_max,
        OnnxOp::ArgMin => sort::arg_min,
        OnnxOp::NonZero => sort::non_zero,
        OnnxOp::Unique => sort::unique,
        OnnxOp::CumSum => cumsum::cumsum,
        OnnxOp::Col2Im => col2im::col2im,
        OnnxOp::CumProd => cumsum::cumprod,
        OnnxOp::TensorScatter => scatter::tensor_scatter,
        OnnxOp::NonMaxSuppression => nms::non_max_suppression,
        _ => return None,
    })
}
