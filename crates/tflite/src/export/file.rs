//! Finishing the flatbuffer (tensors, subgraph, signature, buffers, model) and writing the
//! file: streamed to a temporary file beside the target and renamed into place, with the
//! external buffers (models over 2 GB) appended after the flatbuffer, 16-byte aligned.

use std::io::{BufWriter, Read, Write};
use std::path::{Path, PathBuf};

use bytes::Bytes;
use modelc_ir::Model;

use super::builder::{aligned_bytes, tensor_type, BufferData, OperatorOut, Records, TensorOut};
use crate::fb;
use crate::hex::unhex;
use crate::import::{EXTRA_METADATA, META_SIGNATURE_KEY};
use crate::TfliteError;

/// The graph's inputs and outputs as tensor indices with their signature names.
pub(crate) struct Io {
    pub inputs: Vec<(String, usize)>,
    pub outputs: Vec<(String, usize)>,
}

/// Builds the model table and returns the builder holding the finished flatbuffer
/// (`finished_data`) with the buffers whose data is appended after it (buffer index, bytes;
/// see [`append_data`]). `data_base` is the file offset where external buffers start (0 when
/// there are none). Of `model` only the name of its graph, its metadata and its doc are read
/// (the caller may have emptied the graph): `provenance` is the graph's
/// [`modelc_ir::provenance::encode`], taken before.
pub(crate) fn finish(
    mut b: Records,
    model: &Model,
    provenance: Option<String>,
    io: &Io,
    data_base: u64,
) -> (flatbuffers::FlatBufferBuilder<'static>, Vec<(usize, Bytes)>) {
    let opcodes = std::mem::take(&mut b.opcodes);
    let fbb = &mut b.fbb;
    // Metadata buffers (kept from a TFLite source) go in as buffers of their own.
    let mut metadata = Vec::new();
    for (key, hex) in &model.meta {
        if let Some(name) = key.strip_prefix(EXTRA_METADATA) {
            let Some(items) = unhex(hex) else { continue };
            let v = aligned_bytes(fbb, &items);
            b.buffers.push(BufferData::Inline(v));
            metadata.push((name.to_string(), (b.buffers.len() - 1) as u32));
        }
    }
    // Which source value each renamed tensor computes (`verify --layers` matches by it).
    if let Some(json) = provenance {
        let v = aligned_bytes(fbb, json.as_bytes());
        b.buffers.push(BufferData::Inline(v));
        let key = modelc_ir::provenance::KEY.to_string();
        metadata.push((key, (b.buffers.len() - 1) as u32));
    }
    if !metadata.iter().any(|(n, _)| n == "min_runtime_version") {
        let mut v = b"1.14.0".to_vec();
        v.resize(16, 0);
        let v = aligned_bytes(fbb, &v);
        b.buffers.push(BufferData::Inline(v));
        metadata.push(("min_runtime_version".into(), (b.buffers.len() - 1) as u32));
    }

    let in_idx: Vec<i32> = io.inputs.iter().map(|(_, t)| *t as i32).collect();
    let out_idx: Vec<i32> = io.outputs.iter().map(|(_, t)| *t as i32).collect();
    let main_name = if model.graph.name.is_empty() {
        "main"
    } else {
        &model.graph.name
    };
    let mut subgraphs = vec![subgraph(
        fbb,
        main_name,
        &b.tensors,
        &b.operators,
        &b.op_io,
        &in_idx,
        &out_idx,
    )];
    // Nested subgraphs (IF branches, WHILE condition and body) follow the main one.
    for sg in &b.subgraphs {
        subgraphs.push(subgraph(
            fbb,
            &sg.name,
            &sg.tensors,
            &sg.operators,
            &sg.op_io,
            &sg.inputs,
            &sg.outputs,
        ));
    }
    let subgraphs = fbb.create_vector(&subgraphs);

    let mut maps = |list: &[(String, usize)]| {
        let items: Vec<_> = list
            .iter()
            .map(|(n, t)| {
                let name = fbb.create_string(n);
                fb::TensorMap::create(
                    fbb,
                    &fb::TensorMapArgs {
                        name: Some(name),
                        tensor_index: *t as u32,
                    },
                )
            })
            .collect();
        fbb.create_vector(&items)
    };
    let sig_in = maps(&io.inputs);
    let sig_out = maps(&io.outputs);
    let key = model
        .meta
        .iter()
        .find(|(k, _)| k == META_SIGNATURE_KEY)
        .map_or("serving_default", |(_, v)| v.as_str());
    let key = fbb.create_string(key);
    let signature = fb::SignatureDef::create(
        fbb,
        &fb::SignatureDefArgs {
            inputs: Some(sig_in),
            outputs: Some(sig_out),
            signature_key: Some(key),
            subgraph_index: 0,
        },
    );
    let signatures = fbb.create_vector(&[signature]);

    let mut codes = Vec::new();
    for (code, custom, version) in &opcodes {
        let custom = custom.as_ref().map(|c| fbb.create_string(c));
        codes.push(fb::OperatorCode::create(
            fbb,
            &fb::OperatorCodeArgs {
                // Readers older than schema 3a look only at the byte-sized code.
                deprecated_builtin_code: code.0.min(127) as i8,
                custom_code: custom,
                version: *version,
                builtin_code: *code,
            },
        ));
    }
    let codes = fbb.create_vector(&codes);

    let mut buffers = Vec::with_capacity(b.buffers.len());
    let mut appended = Vec::new();
    // Every appended buffer's `data` field points here until `append_data` patches it.
    let placeholder = fbb.create_vector::<u8>(&[]);
    for (index, buf) in b.buffers.iter().enumerate() {
        let args = match buf {
            BufferData::Empty => fb::BufferArgs::default(),
            BufferData::Inline(v) => fb::BufferArgs {
                data: Some(*v),
                ..Default::default()
            },
            BufferData::Appended(data) => {
                appended.push((index, data.clone()));
                fb::BufferArgs {
                    data: Some(placeholder),
                    ..Default::default()
                }
            }
            BufferData::External(off, data) => fb::BufferArgs {
                data: None,
                offset: data_base + off,
                size: data.len() as u64,
            },
        };
        buffers.push(fb::Buffer::create(fbb, &args));
    }
    let buffers = fbb.create_vector(&buffers);

    let md: Vec<_> = metadata
        .iter()
        .map(|(n, buf)| {
            let name = fbb.create_string(n);
            fb::Metadata::create(
                fbb,
                &fb::MetadataArgs {
                    name: Some(name),
                    buffer: *buf,
                },
            )
        })
        .collect();
    let md = fbb.create_vector(&md);
    let description = fbb.create_string(if model.doc.is_empty() {
        "modelc"
    } else {
        &model.doc
    });
    let root = fb::Model::create(
        fbb,
        &fb::ModelArgs {
            version: 3,
            operator_codes: Some(codes),
            subgraphs: Some(subgraphs),
            description: Some(description),
            buffers: Some(buffers),
            metadata_buffer: None,
            metadata: Some(md),
            signature_defs: Some(signatures),
        },
    );
    fb::finish_model_buffer(fbb, root);
    (b.fbb, appended)
}

/// One subgraph table: its tensors, operators, inputs and outputs.
fn subgraph<'f>(
    fbb: &mut flatbuffers::FlatBufferBuilder<'f>,
    name: &str,
    tensors_in: &[TensorOut],
    operators_in: &[OperatorOut],
    op_io: &[i32],
    inputs: &[i32],
    outputs: &[i32],
) -> flatbuffers::WIPOffset<fb::SubGraph<'f>> {
    let mut tensors = Vec::with_capacity(tensors_in.len());
    for t in tensors_in {
        // An unknown size (-1, kept in the signature) is written as 1; a size of 0 stays 0.
        let shape = fbb.create_vector(
            &t.shape
                .iter()
                .map(|&d| if d < 0 { 1 } else { d as i32 })
                .collect::<Vec<_>>(),
        );
        let signature = t
            .shape
            .iter()
            .any(|&d| d < 0)
            .then(|| fbb.create_vector(&t.shape.iter().map(|&d| d as i32).collect::<Vec<_>>()));
        let name = fbb.create_string(&t.name);
        let quantization = t.quant.as_ref().map(|q| {
            let scale = fbb.create_vector(&q.scale);
            let mut zp = q.zero_point.clone();
            zp.resize(q.scale.len(), 0);
            let zero_point = fbb.create_vector(&zp);
            fb::QuantizationParameters::create(
                fbb,
                &fb::QuantizationParametersArgs {
                    scale: Some(scale),
                    zero_point: Some(zero_point),
                    quantized_dimension: q.axis as i32,
                    ..Default::default()
                },
            )
        });
        let sparsity = t.sparsity.as_ref().map(|l| super::sparse::write(fbb, l));
        tensors.push(fb::Tensor::create(
            fbb,
            &fb::TensorArgs {
                shape: Some(shape),
                type_: tensor_type(t.dtype),
                buffer: t.buffer,
                name: Some(name),
                quantization,
                is_variable: t.is_variable,
                sparsity,
                shape_signature: signature,
                has_rank: true,
                ..Default::default()
            },
        ));
    }
    let tensors = fbb.create_vector(&tensors);

    let mut operators = Vec::with_capacity(operators_in.len());
    for (k, op) in operators_in.iter().enumerate() {
        let (ins, outs) = op.io(op_io, operators_in.get(k + 1));
        let inputs = fbb.create_vector(ins);
        let outputs = fbb.create_vector(outs);
        let custom_options = op
            .custom_options
            .as_ref()
            .map(|c| fbb.create_vector(&c[..]));
        operators.push(fb::Operator::create(
            fbb,
            &fb::OperatorArgs {
                opcode_index: op.opcode,
                inputs: Some(inputs),
                outputs: Some(outputs),
                builtin_options_type: op.options_type,
                builtin_options: op.options,
                custom_options,
                ..Default::default()
            },
        ));
    }
    let operators = fbb.create_vector(&operators);
    let sg_inputs = fbb.create_vector(inputs);
    let sg_outputs = fbb.create_vector(outputs);
    let sg_name = fbb.create_string(name);
    fb::SubGraph::create(
        fbb,
        &fb::SubGraphArgs {
            tensors: Some(tensors),
            inputs: Some(sg_inputs),
            outputs: Some(sg_outputs),
            operators: Some(operators),
            name: Some(sg_name),
        },
    )
}

/// What goes after the flatbuffer: (file position, bytes), ascending.
pub(crate) type Tail = Vec<(u64, Bytes)>;

/// Places the appended buffers' data after `flatbuffer`: each a `[ubyte]` vector (length,
/// then the bytes 16-byte aligned, as TensorFlow's converter aligns them) whose `data` field
/// in `flatbuffer`, patched in place (a copy would hold the file's tables twice), points
/// forward to it. Returns the pieces to write after it (file position, bytes). A flatbuffer's
/// offsets are relative and forward, so a vector may lie anywhere after the table that
/// refers to it.
pub(crate) fn append_data(
    flatbuffer: &mut [u8],
    appended: &[(usize, Bytes)],
) -> Result<Tail, TfliteError> {
    let too_big = || TfliteError::Unsupported("buffer data past 4 GB in the inline form".into());
    let model = fb::root_as_model(flatbuffer)
        .map_err(|e| TfliteError::Unsupported(format!("built an invalid flatbuffer: {e}")))?;
    let buffers = model.buffers().unwrap_or_default();
    let mut fields = Vec::with_capacity(appended.len());
    for (index, _) in appended {
        let table = buffers.get(*index)._tab;
        fields.push(table.loc() + table.vtable().get(fb::Buffer::VT_DATA) as usize);
    }
    let mut tail = Vec::with_capacity(2 * appended.len());
    let mut pos = flatbuffer.len() as u64;
    for ((_, data), field) in appended.iter().zip(fields) {
        let data_at = (pos + 4).next_multiple_of(16);
        let len_at = data_at - 4;
        let offset = u32::try_from(len_at - field as u64).map_err(|_| too_big())?;
        flatbuffer[field..field + 4].copy_from_slice(&offset.to_le_bytes());
        let len = u32::try_from(data.len()).map_err(|_| too_big())?;
        tail.push((len_at, Bytes::copy_from_slice(&len.to_le_bytes())));
        tail.push((data_at, data.clone()));
        pos = data_at + data.len() as u64;
    }
    Ok(tail)
}

fn write_err(path: &Path) -> impl Fn(std::io::Error) -> TfliteError + '_ {
    move |source| TfliteError::Write {
        path: path.to_path_buf(),
        source,
    }
}

/// Writes the flatbuffer and then the data after it (file position, bytes; zero-filled
/// between) to `path`, via a temporary file in the same directory.
pub(crate) fn write_file(
    path: &Path,
    flatbuffer: &[u8],
    tail: &[(u64, Bytes)],
) -> Result<(), TfliteError> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let err = write_err(path);
    let tmp = tempfile::NamedTempFile::new_in(&dir).map_err(&err)?;
    {
        let mut w = BufWriter::with_capacity(1 << 20, tmp.as_file());
        w.write_all(flatbuffer).map_err(&err)?;
        let mut pos = flatbuffer.len() as u64;
        for (at, data) in tail {
            // Pieces are placed ascending; a position behind the cursor is a writer bug, and an
            // unchecked difference would stream zeros until the disk is full.
            let gap = at.checked_sub(pos).ok_or_else(|| {
                TfliteError::Unsupported(format!(
                    "internal: data placed at byte {at}, behind the {pos} bytes already written"
                ))
            })?;
            std::io::copy(&mut std::io::repeat(0).take(gap), &mut w).map_err(&err)?;
            w.write_all(data).map_err(&err)?;
            // Written once: a memory-mapped source's pages need not stay resident.
            modelc_ir::release_resident(data);
            pos = at + data.len() as u64;
        }
        w.flush().map_err(&err)?;
    }
    // Temporary files are created private; a model file gets the usual permissions.
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))
            .map_err(&err)?;
    }
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A piece placed behind what is already written is refused (an unchecked difference
    /// would stream zeros until the disk is full), and no file is left behind.
    #[test]
    fn data_placed_backwards_is_an_error_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.tflite");
        let tail = vec![(2, Bytes::from_static(b"abcd"))];
        let err = write_file(&path, &[0u8; 8], &tail).unwrap_err();
        assert!(err.to_string().contains("behind"), "{err}");
        assert!(!path.exists());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    }
}
