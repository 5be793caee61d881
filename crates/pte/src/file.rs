//! The `.pte` layout, as exir's `_serialize/_program.py` writes it and the runtime's
//! program loader reads it: the `Program` flatbuffer (identifier `ET12`) with a 32-byte
//! extended header (`eh00`, program size, segment base offset, segment data size) inserted
//! after its first 8 bytes, then, at the next multiple of 128, the constant segment: every
//! constant tensor's bytes at a 16-byte-aligned offset, offset 0 standing for the format's
//! reserved empty buffer 0.

use std::io::{BufWriter, Read, Write};
use std::path::Path;

use bytes::Bytes;
use flatbuffers::{FlatBufferBuilder, WIPOffset};
use modelc_ir::DType;

use crate::fb;
use crate::plan::Arena;
use crate::program::{EValue, Program, Storage};
use crate::PteError;

/// Segments start at multiples of this in the file (exir's default `segment_alignment`).
const SEGMENT_ALIGNMENT: usize = 128;
/// Constant tensors start at multiples of this in the constant segment.
const TENSOR_ALIGNMENT: u64 = 16;
/// The extended header's length (magic, length, three u64s), already a multiple of the
/// schema's largest `force_align` (16), so the flatbuffer's alignment is kept.
const HEADER_LENGTH: usize = 32;

/// The ExecuTorch scalar type of an IR element type.
pub(crate) fn scalar_type(d: DType) -> Result<fb::ScalarType, String> {
    Ok(match d {
        DType::U8 => fb::ScalarType::BYTE,
        DType::I8 => fb::ScalarType::CHAR,
        DType::I16 => fb::ScalarType::SHORT,
        DType::I32 => fb::ScalarType::INT,
        DType::I64 => fb::ScalarType::LONG,
        DType::F16 => fb::ScalarType::HALF,
        DType::F32 => fb::ScalarType::FLOAT,
        DType::F64 => fb::ScalarType::DOUBLE,
        DType::Bool => fb::ScalarType::BOOL,
        DType::BF16 => fb::ScalarType::BFLOAT16,
        DType::U16 => fb::ScalarType::UINT16,
        DType::U32 => fb::ScalarType::UINT32,
        DType::U64 => fb::ScalarType::UINT64,
        other => return Err(format!("{other} tensors have no ExecuTorch scalar type")),
    })
}

fn i32_of(v: usize, what: &str) -> Result<i32, PteError> {
    i32::try_from(v).map_err(|_| PteError::TooLarge(format!("{what} {v} exceeds 32 bits")))
}

/// The file: the program (header and flatbuffer) and, after it, the constants, each at
/// its offset in the file (written from the IR's bytes, not copied into one buffer).
pub(crate) struct PteFile {
    pub program: Vec<u8>,
    pub constants: Vec<(u64, Bytes)>,
}

/// Lays out the file.
pub(crate) fn serialize(p: &Program, arena: &Arena) -> Result<PteFile, PteError> {
    // Each constant's offset in the segment (buffer 0: the format's empty placeholder).
    let mut offsets: Vec<u64> = vec![0];
    let mut segment_len = 0u64;
    for (i, c) in p.constants.iter().enumerate() {
        if i > 0 {
            segment_len = segment_len.next_multiple_of(TENSOR_ALIGNMENT);
        }
        offsets.push(segment_len);
        segment_len += c.len() as u64;
    }
    let fbuf = program_flatbuffer(p, arena, &offsets, segment_len)?;
    let program_size = HEADER_LENGTH + fbuf.len();
    let base = if segment_len == 0 {
        0
    } else {
        program_size.next_multiple_of(SEGMENT_ALIGNMENT)
    };
    let mut program = Vec::with_capacity(base.max(program_size));
    let root = u32::from_le_bytes([fbuf[0], fbuf[1], fbuf[2], fbuf[3]]);
    program.extend_from_slice(&(root + HEADER_LENGTH as u32).to_le_bytes());
    program.extend_from_slice(&fbuf[4..8]);
    program.extend_from_slice(b"eh00");
    program.extend_from_slice(&(HEADER_LENGTH as u32).to_le_bytes());
    program.extend_from_slice(&(program_size as u64).to_le_bytes());
    program.extend_from_slice(&(base as u64).to_le_bytes());
    program.extend_from_slice(&segment_len.to_le_bytes());
    program.extend_from_slice(&fbuf[8..]);
    program.resize(base.max(program_size), 0);
    let constants = p
        .constants
        .iter()
        .zip(&offsets[1..])
        .map(|(c, &o)| (base as u64 + o, c.clone()))
        .collect();
    Ok(PteFile { program, constants })
}

impl PteFile {
    /// The file's bytes in memory.
    pub(crate) fn to_vec(&self) -> Vec<u8> {
        let mut out = self.program.clone();
        for (at, data) in &self.constants {
            // An empty constant has no bytes (and, in an empty segment, an offset before the
            // program's end).
            if data.is_empty() {
                continue;
            }
            out.resize(*at as usize, 0);
            out.extend_from_slice(data);
        }
        out
    }

    /// Writes the file at `path` through a temporary file in the same directory, renamed
    /// when complete.
    pub(crate) fn write(&self, path: &Path) -> Result<(), PteError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d,
            _ => Path::new("."),
        };
        let tmp = tempfile::NamedTempFile::new_in(dir)?;
        {
            let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
            w.write_all(&self.program)?;
            let mut pos = self.program.len() as u64;
            for (at, data) in &self.constants {
                if data.is_empty() {
                    continue;
                }
                // Offsets only grow (a smaller one would be a layout bug, not padding).
                let gap = at.checked_sub(pos).ok_or_else(|| {
                    PteError::Io(std::io::Error::other(format!(
                        "constant at offset {at} before the end of what was written ({pos})"
                    )))
                })?;
                std::io::copy(&mut std::io::repeat(0).take(gap), &mut w)?;
                w.write_all(data)?;
                // Written once: a memory-mapped source's pages need not stay resident.
                modelc_ir::release_resident(data);
                pos = at + data.len() as u64;
            }
            w.flush()?;
        }
        // Temporary files are created private; a model file gets the usual permissions.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(0o644))?;
        }
        tmp.persist(path).map_err(|e| PteError::Io(e.error))?;
        Ok(())
    }
}

fn program_flatbuffer(
    p: &Program,
    arena: &Arena,
    offsets: &[u64],
    segment_len: u64,
) -> Result<Vec<u8>, PteError> {
    let mut b = FlatBufferBuilder::new();
    let mut values = Vec::with_capacity(p.values.len());
    for (i, v) in p.values.iter().enumerate() {
        let (kind, val) = evalue(&mut b, v, arena.offsets[i])?;
        values.push(fb::EValue::create(
            &mut b,
            &fb::EValueArgs {
                val_type: kind,
                val: Some(val),
            },
        ));
    }
    let values = b.create_vector(&values);
    let mut instructions = Vec::with_capacity(p.calls.len());
    for c in &p.calls {
        let args = c
            .args
            .iter()
            .map(|&a| i32_of(a, "value index"))
            .collect::<Result<Vec<_>, _>>()?;
        let args = b.create_vector(&args);
        let call = fb::KernelCall::create(
            &mut b,
            &fb::KernelCallArgs {
                op_index: i32_of(c.op, "operator index")?,
                args: Some(args),
            },
        );
        instructions.push(fb::Instruction::create(
            &mut b,
            &fb::InstructionArgs {
                instr_args_type: fb::InstructionArguments::KernelCall,
                instr_args: Some(call.as_union_value()),
            },
        ));
    }
    let instructions = b.create_vector(&instructions);
    let chain_in = index_list(&mut b, &p.inputs)?;
    let chain_out = index_list(&mut b, &p.outputs)?;
    let chain = fb::Chain::create(
        &mut b,
        &fb::ChainArgs {
            inputs: Some(chain_in),
            outputs: Some(chain_out),
            instructions: Some(instructions),
            stacktrace: None,
        },
    );
    let chains = b.create_vector(&[chain]);
    let operators: Vec<_> = p
        .operators
        .iter()
        .map(|(name, overload)| {
            let name = b.create_string(name);
            let overload = b.create_string(overload);
            fb::Operator::create(
                &mut b,
                &fb::OperatorArgs {
                    name: Some(name),
                    overload: Some(overload),
                },
            )
        })
        .collect();
    let operators = b.create_vector(&operators);
    let delegates: Vec<WIPOffset<fb::BackendDelegate>> = Vec::new();
    let delegates = b.create_vector(&delegates);
    let sizes = b.create_vector(&[0i64, arena.size as i64]);
    let inputs = index_list(&mut b, &p.inputs)?;
    let outputs = index_list(&mut b, &p.outputs)?;
    let meta = container_meta(&mut b, p.inputs.len(), p.outputs.len());
    let name = b.create_string("forward");
    let plan = fb::ExecutionPlan::create(
        &mut b,
        &fb::ExecutionPlanArgs {
            name: Some(name),
            container_meta_type: Some(meta),
            values: Some(values),
            inputs: Some(inputs),
            outputs: Some(outputs),
            chains: Some(chains),
            operators: Some(operators),
            delegates: Some(delegates),
            non_const_buffer_sizes: Some(sizes),
            non_const_buffer_device: None,
        },
    );
    let plans = b.create_vector(&[plan]);
    let no_buffers: Vec<WIPOffset<fb::Buffer>> = Vec::new();
    let constant_buffer = b.create_vector(&no_buffers);
    let no_delegate_data: Vec<WIPOffset<fb::BackendDelegateInlineData>> = Vec::new();
    let delegate_data = b.create_vector(&no_delegate_data);
    let mut segments = Vec::new();
    if segment_len > 0 {
        segments.push(fb::DataSegment::create(
            &mut b,
            &fb::DataSegmentArgs {
                offset: 0,
                size: segment_len,
            },
        ));
    }
    let segments = b.create_vector(&segments);
    let offsets = b.create_vector(offsets);
    let constant_segment = fb::SubsegmentOffsets::create(
        &mut b,
        &fb::SubsegmentOffsetsArgs {
            segment_index: 0,
            offsets: Some(offsets),
        },
    );
    let program = fb::Program::create(
        &mut b,
        &fb::ProgramArgs {
            version: 0,
            execution_plan: Some(plans),
            constant_buffer: Some(constant_buffer),
            backend_delegate_data: Some(delegate_data),
            segments: Some(segments),
            constant_segment: Some(constant_segment),
            mutable_data_segments: None,
            named_data: None,
        },
    );
    fb::finish_program_buffer(&mut b, program);
    Ok(b.finished_data().to_vec())
}

fn index_list<'b>(
    b: &mut FlatBufferBuilder<'b>,
    xs: &[usize],
) -> Result<WIPOffset<flatbuffers::Vector<'b, i32>>, PteError> {
    let xs = xs
        .iter()
        .map(|&x| i32_of(x, "value index"))
        .collect::<Result<Vec<_>, _>>()?;
    Ok(b.create_vector(&xs))
}

/// One EValue's union member.
fn evalue<'b>(
    b: &mut FlatBufferBuilder<'b>,
    v: &EValue,
    offset: Option<u64>,
) -> Result<(fb::KernelTypes, WIPOffset<flatbuffers::UnionWIPOffset>), PteError> {
    Ok(match v {
        EValue::Null => (
            fb::KernelTypes::Null,
            fb::Null::create(b, &fb::NullArgs {}).as_union_value(),
        ),
        EValue::Int(x) => (
            fb::KernelTypes::Int,
            fb::Int::create(b, &fb::IntArgs { int_val: *x }).as_union_value(),
        ),
        EValue::Bool(x) => (
            fb::KernelTypes::Bool,
            fb::Bool::create(b, &fb::BoolArgs { bool_val: *x }).as_union_value(),
        ),
        EValue::Double(x) => (
            fb::KernelTypes::Double,
            fb::Double::create(b, &fb::DoubleArgs { double_val: *x }).as_union_value(),
        ),
        EValue::IntList(xs) => {
            let items = b.create_vector(xs);
            (
                fb::KernelTypes::IntList,
                fb::IntList::create(b, &fb::IntListArgs { items: Some(items) }).as_union_value(),
            )
        }
        EValue::TensorList(xs) => {
            let xs = xs
                .iter()
                .map(|&x| i32_of(x, "value index"))
                .collect::<Result<Vec<_>, _>>()?;
            let items = b.create_vector(&xs);
            (
                fb::KernelTypes::TensorList,
                fb::TensorList::create(b, &fb::TensorListArgs { items: Some(items) })
                    .as_union_value(),
            )
        }
        EValue::Tensor(t) => {
            let sizes = t
                .sizes
                .iter()
                .map(|&d| {
                    i32::try_from(d)
                        .map_err(|_| PteError::TooLarge(format!("dimension {d} exceeds 32 bits")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let rank = u8::try_from(sizes.len())
                .map_err(|_| PteError::TooLarge(format!("rank {}", sizes.len())))?;
            let sizes = b.create_vector(&sizes);
            let order: Vec<u8> = (0..rank).collect();
            let dim_order = b.create_vector(&order);
            let (data_buffer_idx, allocation_info) = match t.storage {
                Storage::Const(i) => (
                    u32::try_from(i + 1)
                        .map_err(|_| PteError::TooLarge("constant count".into()))?,
                    None,
                ),
                Storage::Planned { .. } => {
                    let off = offset.unwrap_or(0);
                    (
                        0,
                        Some(fb::AllocationDetails::create(
                            b,
                            &fb::AllocationDetailsArgs {
                                memory_id: 1,
                                memory_offset_low: off as u32,
                                memory_offset_high: (off >> 32) as u32,
                            },
                        )),
                    )
                }
            };
            let scalar_type = scalar_type(t.dtype).map_err(|e| PteError::Unsupported(vec![e]))?;
            (
                fb::KernelTypes::Tensor,
                fb::Tensor::create(
                    b,
                    &fb::TensorArgs {
                        scalar_type,
                        storage_offset: 0,
                        sizes: Some(sizes),
                        dim_order: Some(dim_order),
                        requires_grad: false,
                        data_buffer_idx,
                        allocation_info,
                        layout: 0,
                        shape_dynamism: fb::TensorShapeDynamism::STATIC,
                        extra_tensor_info: None,
                    },
                )
                .as_union_value(),
            )
        }
    })
}

/// The pytree specs exir records for `forward(*inputs)` returning one tensor or a tuple
/// (runtimes that unflatten outputs read them).
fn container_meta<'b>(
    b: &mut FlatBufferBuilder<'b>,
    inputs: usize,
    outputs: usize,
) -> WIPOffset<fb::ContainerMetadata<'b>> {
    const LEAF: &str = r#"{"type": null, "context": null, "children_spec": []}"#;
    let leaves = |n: usize| vec![LEAF; n].join(", ");
    let inp = format!(
        r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{{"type": "builtins.tuple", "context": "null", "children_spec": [{}]}}, {{"type": "builtins.dict", "context": "[]", "children_spec": []}}]}}]"#,
        leaves(inputs)
    );
    let out = if outputs == 1 {
        format!("[1, {LEAF}]")
    } else {
        format!(
            r#"[1, {{"type": "builtins.tuple", "context": "null", "children_spec": [{}]}}]"#,
            leaves(outputs)
        )
    };
    let inp = b.create_string(&inp);
    let out = b.create_string(&out);
    fb::ContainerMetadata::create(
        b,
        &fb::ContainerMetadataArgs {
            encoded_inp_str: Some(inp),
            encoded_out_str: Some(out),
        },
    )
}
