//! The file the writer makes, read back with the generated schema code: header, segment,
//! execution plan, memory plan; and what it refuses. (That ExecuTorch's runtime loads and
//! runs the files and matches onnxruntime is tests/pte_models.py, `cargo xtask pte`.)

use modelc_ir::{Graph, Model};
use modelc_pte::fb;

fn model(text: &str) -> Model {
    Model::new(Graph::parse(text).unwrap(), 17)
}

fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().unwrap())
}

#[test]
fn add_of_an_input_and_a_constant_is_one_kernel_call_with_the_constant_in_the_segment() {
    let m = model(
        "graph(%x: f32[2,3]) -> (%y) {
          %w = const f32[2,3] [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
          %s = Add(%x, %w)
          %y = Relu(%s)
        }",
    );
    let bytes = modelc_pte::to_bytes(&m).unwrap();
    assert!(modelc_pte::is_pte(&bytes));
    assert_eq!(&bytes[4..8], b"ET12");
    assert_eq!(&bytes[8..12], b"eh00");
    assert_eq!(u32::from_le_bytes(bytes[12..16].try_into().unwrap()), 32);
    let program_size = u64_at(&bytes, 16) as usize;
    let base = u64_at(&bytes, 24) as usize;
    let segment_len = u64_at(&bytes, 32) as usize;
    assert_eq!(base % 128, 0, "segments start at a multiple of 128");
    assert!(base >= program_size);
    assert_eq!(bytes.len(), base + segment_len);

    let p = fb::root_as_program(&bytes[..program_size]).expect("a valid Program flatbuffer");
    let plan = p.execution_plan().unwrap().get(0);
    assert_eq!(plan.name(), Some("forward"));
    let ops: Vec<(String, String)> = plan
        .operators()
        .unwrap()
        .iter()
        .map(|o| (o.name().unwrap().into(), o.overload().unwrap().into()))
        .collect();
    assert_eq!(
        ops,
        [
            ("aten::add".to_string(), "out".to_string()),
            ("aten::relu".to_string(), "out".to_string())
        ]
    );
    let values = plan.values().unwrap();
    let calls: Vec<Vec<i32>> = plan
        .chains()
        .unwrap()
        .get(0)
        .instructions()
        .unwrap()
        .iter()
        .map(|i| {
            i.instr_args_as_kernel_call()
                .unwrap()
                .args()
                .unwrap()
                .iter()
                .collect()
        })
        .collect();
    // add.out(self, other, *, alpha, out) -> out; relu.out(self, *, out) -> out.
    assert_eq!(calls[0].len(), 5);
    assert_eq!(calls[1].len(), 3);
    let alpha = values.get(calls[0][2] as usize);
    assert_eq!(alpha.val_as_int().unwrap().int_val(), 1);
    // The constant: buffer 1 of the constant segment holds its bytes.
    let w = values.get(calls[0][1] as usize).val_as_tensor().unwrap();
    assert_eq!(w.data_buffer_idx(), 1);
    assert!(w.allocation_info().is_none());
    let offsets: Vec<u64> = p
        .constant_segment()
        .unwrap()
        .offsets()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(offsets[0], 0);
    let at = base + offsets[1] as usize;
    let first = f32::from_le_bytes(bytes[at..at + 4].try_into().unwrap());
    assert_eq!(first, 1.0);
    // Memory plan: x, the sum and y planned; the sum dies when y is made but lives while
    // Relu runs, so x (an input, read by Add only) and y may share bytes, the sum may not.
    let offset = |v: i32| {
        let t = values.get(v as usize).val_as_tensor().unwrap();
        t.allocation_info().unwrap().memory_offset_low()
    };
    let (x, s, y) = (calls[0][0], calls[0][3], calls[1][1]);
    assert_ne!(offset(s), offset(y));
    assert_ne!(offset(x), offset(s));
    let sizes: Vec<i64> = plan.non_const_buffer_sizes().unwrap().iter().collect();
    assert_eq!(sizes[0], 0);
    assert!(
        sizes[1] >= 64 && sizes[1] <= 96,
        "arena of {} bytes",
        sizes[1]
    );
    assert_eq!(plan.inputs().unwrap().iter().collect::<Vec<_>>(), [x]);
    assert_eq!(plan.outputs().unwrap().iter().collect::<Vec<_>>(), [y]);
}

#[test]
fn max_pool_returns_its_two_results_as_one_tensor_list() {
    let m = model(
        "graph(%x: f32[1,2,4,4]) -> (%y) {
          %y = MaxPool(%x) {kernel_shape=[2,2], strides=[2,2]}
        }",
    );
    let bytes = modelc_pte::to_bytes(&m).unwrap();
    let size = u64_at(&bytes, 16) as usize;
    let p = fb::root_as_program(&bytes[..size]).unwrap();
    let plan = p.execution_plan().unwrap().get(0);
    let call = plan.chains().unwrap().get(0).instructions().unwrap().get(0);
    let args: Vec<i32> = call
        .instr_args_as_kernel_call()
        .unwrap()
        .args()
        .unwrap()
        .iter()
        .collect();
    // self, kernel, stride, padding, dilation, ceil_mode, out, indices, (out, indices).
    assert_eq!(args.len(), 9);
    let ret = plan.values().unwrap().get(args[8] as usize);
    let list: Vec<i32> = ret
        .val_as_tensor_list()
        .unwrap()
        .items()
        .unwrap()
        .iter()
        .collect();
    assert_eq!(list, [args[6], args[7]]);
    // Int lists hold indices of Int values.
    let kernel = plan.values().unwrap().get(args[1] as usize);
    for i in kernel.val_as_int_list().unwrap().items().unwrap() {
        assert_eq!(
            plan.values()
                .unwrap()
                .get(i as usize)
                .val_as_int()
                .unwrap()
                .int_val(),
            2
        );
    }
}

#[test]
fn nodes_without_a_portable_kernel_and_unknown_sizes_are_refused_together_and_nothing_is_written() {
    let m = model(
        "graph(%x: f32[N,3], %z: f32[2,3]) -> (%y, %v) {
          %a = NonZero(%z)
          %b = Cast(%a) {to=1}
          %y = Relu(%x)
          %v = Add(%b, %b)
        }",
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.pte");
    let err = modelc_pte::write(&m, &path).unwrap_err().to_string();
    assert!(err.contains("2 node(s)"), "{err}");
    assert!(err.contains("NonZero"), "{err}");
    assert!(err.contains("--input-shape"), "{err}");
    // Downstream of a refused node: not listed again.
    assert!(!err.contains("Cast"), "{err}");
    assert!(!path.exists());
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

fn operators(m: &Model) -> Vec<String> {
    let bytes = modelc_pte::to_bytes(m).unwrap();
    let size = u64_at(&bytes, 16) as usize;
    let p = fb::root_as_program(&bytes[..size]).unwrap();
    let plan = p.execution_plan().unwrap().get(0);
    plan.operators()
        .unwrap()
        .iter()
        .map(|o| format!("{}.{}", o.name().unwrap(), o.overload().unwrap()))
        .collect()
}

#[test]
fn qdq_is_written_as_the_quantized_kernels_and_an_int32_bias_as_a_float_constant() {
    let m = model(
        "graph(%x: f32[1,2,3]) -> (%y, %b) {
          %s = const f32[] [0.1]
          %z = const i8[] [3]
          %q = QuantizeLinear(%x, %s, %z)
          %y = DequantizeLinear(%q, %s, %z)
          %bq = const i32[2] [10, -20]
          %bs = const f32[2] [0.5, 0.25]
          %b = DequantizeLinear(%bq, %bs) {axis=0}
        }",
    );
    assert_eq!(
        operators(&m),
        [
            "quantized_decomposed::quantize_per_tensor.out",
            "quantized_decomposed::dequantize_per_tensor.out",
            "aten::clone.out",
        ]
    );
}

#[test]
fn topk_indices_and_upper_trilu_are_refused_with_the_reason() {
    let m = model(
        "graph(%x: f32[4,5]) -> (%v, %i, %u) {
          %k = const i64[1] [2]
          %v, %i = TopK(%x, %k)
          %u = Trilu(%x)
        }",
    );
    let err = modelc_pte::to_bytes(&m).unwrap_err().to_string();
    assert!(err.contains("TopK's indices are read"), "{err}");
    assert!(err.contains("triu"), "{err}");
    // Only the values read: the portable topk.
    let m = model(
        "graph(%x: f32[4,5]) -> (%v) {
          %k = const i64[1] [2]
          %v, %i = TopK(%x, %k)
        }",
    );
    assert_eq!(operators(&m), ["aten::topk.values"]);
}

#[test]
fn a_node_shape_inference_finds_invalid_is_refused_by_name_not_planned_from_declared_sizes() {
    // What torch.onnx.export writes for `x.permute(0, -2, -1, 1)`: a perm ONNX has no form
    // for, and output sizes read out of range (onnxruntime refuses the file).
    let mut m = model(
        "graph(%x: f32[1,2,3,4]) -> (%y) {
          %y = Transpose(%x) {perm=[0, -2, -1, 1]}
        }",
    );
    let y = m.graph.outputs()[0];
    m.graph.value_mut(y).unwrap().ty = Some(
        modelc_ir::ValueType::tensor(modelc_ir::DType::F32, &[1, 48, 94716880394576, 2]).into(),
    );
    let err = modelc_pte::to_bytes(&m).unwrap_err().to_string();
    assert!(
        err.contains("Transpose perm [0, -2, -1, 1] has axis -2"),
        "{err}"
    );
    assert!(!err.contains("32 bits"), "{err}");
}
