//! A model: the main graph plus everything a model file carries around it (opset imports,
//! producer, metadata, model-local functions).

use crate::{Attr, Extra, Graph, Metadata};

/// An operator-set import: `domain` (empty = `ai.onnx`) at `version`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct OpsetImport {
    pub domain: String,
    pub version: i64,
}

/// A model-local function (ONNX `FunctionProto`): a named sub-graph that nodes of
/// `domain`/`name` call. Its body's inputs are the function's formal inputs (untyped unless
/// declared); attribute references in the body are [`Attr::Ref`].
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    pub name: String,
    pub domain: String,
    pub overload: String,
    /// Names of attributes the function accepts without a default.
    pub attributes: Vec<String>,
    /// Attributes with a default value.
    pub attribute_defaults: Vec<(String, Attr)>,
    pub opset_imports: Vec<OpsetImport>,
    pub body: Graph,
    pub doc: String,
    pub meta: Metadata,
}

/// A whole model.
#[derive(Debug, Clone, PartialEq)]
pub struct Model {
    /// The source format's version of its own container (ONNX `ir_version`).
    pub ir_version: i64,
    pub opset_imports: Vec<OpsetImport>,
    pub producer_name: String,
    pub producer_version: String,
    pub domain: String,
    pub model_version: i64,
    pub doc: String,
    pub meta: Metadata,
    pub graph: Graph,
    pub functions: Vec<Function>,
    pub extra: Extra,
}

impl Model {
    /// A model around `graph` importing the default ONNX domain at `opset`.
    pub fn new(graph: Graph, opset: i64) -> Model {
        Model {
            ir_version: 10,
            opset_imports: vec![OpsetImport {
                domain: String::new(),
                version: opset,
            }],
            producer_name: "modelc".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            domain: String::new(),
            model_version: 0,
            doc: String::new(),
            meta: Metadata::new(),
            graph,
            functions: Vec::new(),
            extra: Extra::new(),
        }
    }

    /// The version of `domain` this model imports (`""` and `ai.onnx` are the same).
    pub fn opset(&self, domain: &str) -> Option<i64> {
        let norm = |d: &str| if d == "ai.onnx" { "" } else { d }.to_string();
        let want = norm(domain);
        self.opset_imports
            .iter()
            .find(|o| norm(&o.domain) == want)
            .map(|o| o.version)
    }
}
