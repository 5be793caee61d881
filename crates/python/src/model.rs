//! `modelc.Model`: a model in memory, read-only from Python. Every method that changes a
//! model (`optimize`, `quantize`) returns a new one; the weights are shared, not copied.

use std::path::PathBuf;
use std::sync::Arc;

use modelc::{ExternalData, Format, SaveOptions};
use modelc_ir::{Attr, Dim, Graph, Op, ValueType};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use crate::array::{dtype_name, from_numpy, to_numpy};
use crate::errors::{self, ModelcError, OptionError, RunError};
use crate::options;

/// A model read by modelc: ONNX, TFLite or TorchScript, as modelc's graph IR.
///
/// Get one with ``modelc.load(path_or_bytes)``; ``optimize`` and ``quantize`` return new
/// models, ``save`` writes one in the format its file extension names.
///
/// >>> m = modelc.load("model.onnx")
/// >>> [i["name"] for i in m.inputs]
/// ['x']
/// >>> out = m.run({"x": np.zeros((1, 3, 32, 32), np.float32)})
#[pyclass(module = "modelc", frozen)]
pub struct Model {
    pub model: Arc<modelc::Model>,
    /// The format the model was read from.
    pub format: Format,
}

impl Model {
    pub fn new(model: modelc::Model, format: Format) -> Model {
        Model {
            model: Arc::new(model),
            format,
        }
    }
}

/// A type's element type name and dims (int, symbol name, or None), where known.
fn type_dict<'py>(
    py: Python<'py>,
    name: &str,
    ty: Option<&ValueType>,
) -> PyResult<Bound<'py, PyDict>> {
    let d = PyDict::new(py);
    d.set_item("name", name)?;
    let tt = ty.and_then(|t| t.as_tensor());
    d.set_item("dtype", tt.and_then(|t| t.dtype).map(dtype_name))?;
    let shape = match tt.and_then(|t| t.shape.as_ref()) {
        None => None,
        Some(s) => {
            let dims = PyList::empty(py);
            for dim in &s.0 {
                match dim {
                    Dim::Known(n) => dims.append(n)?,
                    Dim::Sym(s) => dims.append(s)?,
                    Dim::Unknown => dims.append(py.None())?,
                }
            }
            Some(dims)
        }
    };
    d.set_item("shape", shape)?;
    Ok(d)
}

/// An attribute's value for Python: numbers, strings, lists, numpy arrays for tensors, the
/// text form for sub-graphs.
fn attr_value<'py>(py: Python<'py>, a: &Attr, what: &str) -> PyResult<Bound<'py, PyAny>> {
    let text = |b: &[u8]| -> Bound<'py, PyAny> {
        match std::str::from_utf8(b) {
            Ok(s) => s
                .into_pyobject(py)
                .map(Bound::into_any)
                .unwrap_or_else(|e| match e {}),
            Err(_) => PyBytes::new(py, b).into_any(),
        }
    };
    let graph =
        |g: &Graph| modelc_ir::text::print_graph(g, &modelc_ir::text::PrintOptions::default());
    Ok(match a {
        Attr::Float(v) => v.into_pyobject(py)?.into_any(),
        Attr::Int(v) => v.into_pyobject(py)?.into_any(),
        Attr::String(b) => text(b),
        Attr::Tensor(t) => to_numpy(py, t, what)?,
        Attr::Graph(g) => graph(g).into_pyobject(py)?.into_any(),
        Attr::Floats(v) => PyList::new(py, v)?.into_any(),
        Attr::Ints(v) => PyList::new(py, v)?.into_any(),
        Attr::Strings(v) => PyList::new(py, v.iter().map(|b| text(b)))?.into_any(),
        Attr::Tensors(v) => {
            let items = v
                .iter()
                .map(|t| to_numpy(py, t, what))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Attr::Graphs(v) => PyList::new(py, v.iter().map(graph))?.into_any(),
        other => format!("{other:?}").into_pyobject(py)?.into_any(),
    })
}

fn external_data(s: &str) -> PyResult<ExternalData> {
    Ok(match s {
        "auto" => ExternalData::Auto,
        "always" => ExternalData::Always,
        "never" => ExternalData::Never,
        _ => {
            return Err(OptionError::new_err(format!(
                "external_data=`{s}`: expected auto, always or never"
            )))
        }
    })
}

/// Tensors by name from a dict of arrays.
pub fn tensors(
    py: Python<'_>,
    inputs: &Bound<'_, PyDict>,
    what: &str,
) -> PyResult<Vec<(String, modelc_ir::Tensor)>> {
    inputs
        .iter()
        .map(|(k, v)| {
            let name: String = k.extract()?;
            let t = from_numpy(py, &v, &format!("{what} `{name}`"))?;
            Ok((name, t))
        })
        .collect()
}

#[pymethods]
impl Model {
    /// The format the model was read from: "ONNX", "TFLite" or "TorchScript".
    #[getter]
    fn format(&self) -> &'static str {
        self.format.name()
    }

    /// The graph inputs (initializers excluded): a list of dicts with "name", "dtype"
    /// (numpy's name, e.g. "float32") and "shape" (ints, symbol names, None where unknown).
    #[getter]
    fn inputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let list = PyList::empty(py);
        for (name, ty) in modelc::run::declared_inputs(&self.model) {
            list.append(type_dict(py, &name, ty.as_ref())?)?;
        }
        Ok(list)
    }

    /// The graph outputs, as ``inputs`` describes them.
    #[getter]
    fn outputs<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = &self.model.graph;
        let list = PyList::empty(py);
        for v in g.outputs() {
            let value = g
                .value(*v)
                .ok_or_else(|| ModelcError::new_err("an output names no value"))?;
            list.append(type_dict(
                py,
                &value.name,
                value.ty.as_ref().map(|t| &t.ty),
            )?)?;
        }
        Ok(list)
    }

    /// The operations of the main graph in execution order: dicts with "name", "op"
    /// ("Conv", or "domain.Name" for an op modelc does not know), "domain" ("" for the
    /// default ONNX domain), "inputs" and
    /// "outputs" (value names; "" for an omitted optional input), "attrs" (a dict: numbers,
    /// strings, lists, numpy arrays, sub-graphs in text form) and "layout" ("NCHW"/"NHWC"
    /// for layout-sensitive ops, else None). Inputs and constants are not nodes here (see
    /// ``inputs`` and ``constants``).
    #[getter]
    fn nodes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyList>> {
        let g = &self.model.graph;
        let order = g
            .topo_order()
            .map_err(|e| ModelcError::new_err(modelc::error_line(&e)))?;
        let list = PyList::empty(py);
        for id in order {
            let node = g.node(id);
            if node.op.is_structural() {
                continue;
            }
            let d = PyDict::new(py);
            d.set_item("name", &node.name)?;
            d.set_item("op", node.op.display_name())?;
            let domain = match &node.op {
                // The default domain is "" as in ONNX files ("ai.onnx" is its other name).
                Op::Onnx(o) if o.domain() == "ai.onnx" => String::new(),
                Op::Onnx(o) => o.domain().to_string(),
                Op::Custom(c) => c.domain.clone(),
                _ => String::new(),
            };
            d.set_item("domain", domain)?;
            let inputs: Vec<String> = g
                .inputs_of(id)
                .into_iter()
                .map(|v| {
                    v.and_then(|v| g.value(v))
                        .map(|v| v.name.clone())
                        .unwrap_or_default()
                })
                .collect();
            d.set_item("inputs", inputs)?;
            let outputs: Vec<&str> = node.outputs.iter().map(|v| v.name.as_str()).collect();
            d.set_item("outputs", outputs)?;
            let attrs = PyDict::new(py);
            for e in node.attrs.iter() {
                let what = format!("node `{}` attribute `{}`", node.name, e.name);
                attrs.set_item(&e.name, attr_value(py, &e.value, &what)?)?;
            }
            d.set_item("attrs", attrs)?;
            let layout = node.layout.map(|l| match l {
                modelc_ir::Layout::Nchw => "NCHW",
                modelc_ir::Layout::Nhwc => "NHWC",
            });
            d.set_item("layout", layout)?;
            list.append(d)?;
        }
        Ok(list)
    }

    /// The constants (initializers) of the main graph by name, as read-only numpy arrays
    /// that view the model's memory: a memory-mapped weight is not copied.
    #[getter]
    fn constants<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let g = &self.model.graph;
        let d = PyDict::new(py);
        for id in g.node_ids() {
            let node = g.node(id);
            let t = match &node.op {
                Op::Const(t) => t,
                Op::Input { default: Some(t) } => t,
                _ => continue,
            };
            let Some(v) = node.outputs.first() else {
                continue;
            };
            d.set_item(&v.name, to_numpy(py, t, &format!("constant `{}`", v.name))?)?;
        }
        Ok(d)
    }

    /// The model in modelc's text form (what ``modelc dump`` prints). Constants of more than
    /// 16 elements print as a content hash unless ``full=True``.
    #[pyo3(signature = (full=false))]
    fn text(&self, full: bool) -> String {
        let opts = modelc_ir::text::PrintOptions {
            inline_limit: if full { usize::MAX } else { 16 },
        };
        modelc_ir::text::print_model(&self.model, &opts)
    }

    /// What ``modelc inspect --json`` reports, as a dict: format, opsets, inputs and outputs,
    /// an op histogram, parameter count and bytes, MACs/FLOPs (where shapes are known).
    fn inspect<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let mut summary = modelc::summary::Summary::of(&self.model, self.format);
        summary.add_cost(std::borrow::Cow::Borrowed(&self.model));
        crate::json(py, &summary)
    }

    /// The model as a serialized ONNX ``ModelProto`` (``onnx.load_from_string`` reads it;
    /// ``modelc.load`` reads it back).
    fn to_onnx_bytes<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyBytes>> {
        let model = Arc::clone(&self.model);
        let bytes = py
            .detach(move || modelc_onnx::encode(&model))
            .map_err(|e| errors::WriteError::new_err(modelc::error_line(&e)))?;
        Ok(PyBytes::new(py, &bytes))
    }

    /// Writes the model to ``path`` in the format its extension names (.onnx, .tflite,
    /// .pt). The file is written under a temporary name and renamed: a failure leaves
    /// nothing behind.
    ///
    /// keep_io_layout: keep the model's image layout at the inputs and outputs when the
    ///     layout changes (NCHW ONNX to NHWC TFLite and back), with a Transpose at the
    ///     boundary, as ``modelc convert --keep-io-layout``.
    /// external_data: where ONNX tensor data goes: "auto" (inline unless over 2 GB),
    ///     "always" (tensors of 1 KiB or more to ``<path>.data``) or "never".
    ///
    /// >>> model.save("model.tflite")
    /// >>> model.save("big.onnx", external_data="always")
    #[pyo3(signature = (path, *, keep_io_layout=false, external_data="auto"))]
    fn save(
        &self,
        py: Python<'_>,
        path: PathBuf,
        keep_io_layout: bool,
        external_data: &str,
    ) -> PyResult<()> {
        let mut opts = SaveOptions::default();
        opts.onnx.external_data = self::external_data(external_data)?;
        opts.onnx.keep_io_layout = keep_io_layout;
        opts.tflite.keep_io_layout = keep_io_layout;
        let model = Arc::clone(&self.model);
        let at = path.clone();
        py.detach(move || modelc::save(&model, &at, &opts))
            .map_err(|e| errors::from_modelc(&e, Some(&path)))
    }

    /// A new model, optimized as ``modelc optimize`` does: the input shapes fixed first,
    /// then moved to ``opset`` if given, then ``passes`` (a list of pass names or a
    /// comma-separated string; ``modelc passes`` lists them) or the optimization ``level``
    /// (0: nothing, 1: identity + dce, 2: also shape inference and constant folding, 3: all)
    /// run to a fixed point.
    ///
    /// input_shapes: {input name: [dims]}, e.g. {"x": [1, 3, 224, 224]}.
    /// dims: {symbolic dim: size}, e.g. {"batch": 1}.
    ///
    /// >>> opt = model.optimize(level=2, input_shapes={"x": [1, 3, 224, 224]})
    /// >>> len(opt.nodes) <= len(model.nodes)
    /// True
    #[pyo3(signature = (level=2, passes=None, input_shapes=None, dims=None, opset=None))]
    fn optimize(
        &self,
        py: Python<'_>,
        level: u8,
        passes: Option<&Bound<'_, PyAny>>,
        input_shapes: Option<&Bound<'_, PyDict>>,
        dims: Option<&Bound<'_, PyDict>>,
        opset: Option<i64>,
    ) -> PyResult<Model> {
        if level > 3 {
            return Err(OptionError::new_err(format!(
                "level={level}: expected 0 to 3"
            )));
        }
        let passes = match passes {
            None => modelc::Passes::Level(level),
            Some(p) => modelc::Passes::List(options::dims_spec(p)?),
        };
        let opts = modelc::ConvertOptions {
            input_shapes: options::input_shapes(input_shapes, dims)?,
            opset,
            passes,
            ..Default::default()
        };
        let mut model = (*self.model).clone();
        py.detach(|| modelc::transform(&mut model, &opts))
            .map_err(|e| errors::from_modelc(&e, None))?;
        Ok(Model::new(model, self.format))
    }

    /// Quantizes the model as ``modelc quantize`` does; returns ``(quantized_model,
    /// report)``, the report a dict (sizes, calibration, the error against the float
    /// model, the layers kept in float and why).
    ///
    /// mode: "int8" (static, calibrated QDQ), "int8-dynamic", "int8-weight",
    ///     "int4-weight", "fp16" or "bf16".
    /// calibration: an iterable of samples, each a dict {input name: numpy array} (an
    ///     array with one more leading axis than the input is a batch of samples). Static
    ///     int8 needs it (or ``calibration_random=N``).
    /// eval: held-out samples, as ``calibration``, for the error in the report.
    /// max_error: keep the most sensitive layers in float until the error (``metric``:
    ///     "cosine", "max-rel" or "top1") is at most this.
    /// format: the format the result is for: "onnx" or "tflite" (int8 activations, int32
    ///     biases, quantized outputs, as ``modelc quantize m.onnx out.tflite``).
    /// options: every other option of ``modelc quantize`` as a keyword: method="entropy",
    ///     percentile=99.9, activation_type="i8", per_tensor=True, bias="int32",
    ///     quantize_outputs=True, exclude=["Softmax"], exclude_first_last=True,
    ///     block_size=32, metric="top1", calibration_random=8, seed=0, opset=13,
    ///     input_shapes={"x": [1, 3, 224, 224]}, dims={"batch": 1}, and
    ///     target="ethos-u55-128" (or target_file=path) to lower the result for a hardware
    ///     target (``modelc.targets()``; ``modelc.check`` says where each op then runs).
    ///
    /// >>> samples = [{"x": np.random.rand(1, 3, 224, 224).astype(np.float32)} for _ in range(8)]
    /// >>> q, report = model.quantize(mode="int8", calibration=samples)
    /// >>> q.save("model-int8.onnx")
    #[pyo3(signature = (mode="int8", calibration=None, eval=None, max_error=None, format="onnx", **options))]
    #[allow(clippy::too_many_arguments)]
    fn quantize<'py>(
        &self,
        py: Python<'py>,
        mode: &str,
        calibration: Option<&Bound<'py, PyAny>>,
        eval: Option<&Bound<'py, PyAny>>,
        max_error: Option<f64>,
        format: &str,
        options: Option<&Bound<'py, PyDict>>,
    ) -> PyResult<Bound<'py, PyTuple>> {
        let tflite = match format {
            "onnx" => false,
            "tflite" => true,
            _ => {
                return Err(OptionError::new_err(format!(
                    "format=`{format}`: expected onnx or tflite"
                )))
            }
        };
        let mut flags = vec!["--mode".to_string(), mode.to_string()];
        if let Some(e) = max_error {
            flags.push("--max-error".into());
            flags.push(e.to_string());
        }
        flags.extend(options::flags(options)?);
        let args = modelc::quantize::QuantizeArgs::parse_options(&flags).map_err(|e| {
            let text = e.to_string();
            OptionError::new_err(
                text.lines()
                    .next()
                    .unwrap_or_default()
                    .trim_start_matches("error: ")
                    .to_string(),
            )
        })?;
        let cfg = modelc::quantize::config(&args, tflite)
            .map_err(|e| OptionError::new_err(modelc::error_line(e.as_ref())))?;
        let mut model = (*self.model).clone();
        let fixed = args
            .shapes
            .parse()
            .map_err(|e| OptionError::new_err(modelc::error_line(&e)))?;
        fixed
            .apply(&mut model.graph)
            .map_err(|e| OptionError::new_err(modelc::error_line(&e)))?;
        let samples = |what: &str, given: Option<&Bound<'py, PyAny>>| -> PyResult<_> {
            let Some(given) = given else {
                return Ok(None);
            };
            let mut all = Vec::new();
            for (i, sample) in given.try_iter()?.enumerate() {
                let sample = sample?;
                let sample = sample.cast::<PyDict>().map_err(|_| {
                    OptionError::new_err(format!(
                        "{what}[{i}]: expected a dict of input name to numpy array"
                    ))
                })?;
                all.push(tensors(py, sample, &format!("{what}[{i}]"))?);
            }
            modelc::quantize::samples(&model, what, all)
                .map(Some)
                .map_err(|e| OptionError::new_err(modelc::error_line(&e)))
        };
        let calibration = samples("calibration", calibration)?;
        let eval = samples("eval", eval)?.unwrap_or_default();
        let (quantized, report) = py
            .detach(|| {
                modelc::quantize::quantize_model(model, &args, &cfg, calibration, &eval).map_err(
                    |e| match errors::classify(e.as_ref(), None) {
                        // The quantizer's own messages (`static int8 needs calibration
                        // inputs`) are about the options given.
                        (errors::Kind::Base, msg) => (errors::Kind::Option, msg),
                        other => other,
                    },
                )
            })
            .map_err(|(kind, msg)| errors::make(kind, msg))?;
        let report = crate::json(py, &report)?;
        let quantized = Bound::new(py, Model::new(quantized, self.format))?;
        PyTuple::new(py, [quantized.into_any(), report])
    }

    /// Runs the model on modelc's reference interpreter. ``inputs`` maps input names to
    /// numpy arrays (or anything ``numpy.asarray`` takes); returns {output name: array}.
    /// The output arrays view the interpreter's results without a copy and are read-only
    /// (``.copy()`` one to change it).
    ///
    /// >>> out = model.run({"x": np.ones((1, 3, 224, 224), np.float32)})
    /// >>> out["y"].shape
    /// (1, 1000)
    fn run<'py>(
        &self,
        py: Python<'py>,
        inputs: &Bound<'py, PyDict>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let given = tensors(py, inputs, "input")?;
        let model = Arc::clone(&self.model);
        let outputs = py
            .detach(move || modelc::run::run(&model, &given))
            .map_err(|e| RunError::new_err(modelc::error_line(&e)))?;
        let d = PyDict::new(py);
        for (name, t) in &outputs {
            d.set_item(name, to_numpy(py, t, &format!("output `{name}`"))?)?;
        }
        Ok(d)
    }

    fn __repr__(&self) -> String {
        let g = &self.model.graph;
        let nodes = g
            .node_ids()
            .filter(|&id| !g.node(id).op.is_structural())
            .count();
        format!(
            "<modelc.Model {} graph `{}`: {} inputs, {} outputs, {} nodes>",
            self.format,
            g.name,
            modelc::run::declared_inputs(&self.model).len(),
            g.outputs().len(),
            nodes
        )
    }
}
