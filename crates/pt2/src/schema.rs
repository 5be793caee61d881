//! The parts of `torch.export`'s serialization schema modelc reads, as typed structs.
//!
//! Written from the pinned torch's `torch/_export/serde/schema.py` (schema 8.20). Unions
//! there (`_Union`: exactly one field set) are JSON objects with one key, which serde's
//! externally tagged enums read; fields modelc does not need are ignored, so additions in a
//! minor schema version still parse. The `.pt2` writer serializes the same structs
//! (`Serialize`), with every field the schema requires.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct ExportedProgram {
    pub graph_module: GraphModule,
    #[serde(default)]
    pub opset_version: BTreeMap<String, i64>,
    #[serde(default)]
    pub range_constraints: BTreeMap<String, RangeConstraint>,
    pub schema_version: SchemaVersion,
    /// The dialects the program's verifier checks (`[]` is the default ATen dialect).
    #[serde(default)]
    pub verifiers: Vec<String>,
    #[serde(default)]
    pub torch_version: String,
}

#[derive(Debug, Serialize, Deserialize, Clone, Copy)]
pub struct SchemaVersion {
    pub major: i64,
    pub minor: i64,
}

#[derive(Debug, Serialize, Deserialize, Clone, Copy)]
pub struct RangeConstraint {
    pub min_val: Option<i64>,
    pub max_val: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GraphModule {
    pub graph: Graph,
    pub signature: GraphSignature,
    #[serde(default)]
    pub module_call_graph: Vec<ModuleCallEntry>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModuleCallEntry {
    pub fqn: String,
    pub signature: Option<ModuleCallSignature>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct ModuleCallSignature {
    #[serde(default)]
    pub inputs: Vec<Argument>,
    #[serde(default)]
    pub outputs: Vec<Argument>,
    /// The calling convention as a pytree spec (JSON text): how `.module()` flattens its
    /// arguments and builds its result.
    #[serde(default)]
    pub in_spec: String,
    #[serde(default)]
    pub out_spec: String,
    #[serde(default)]
    pub forward_arg_names: Option<Vec<String>>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Graph {
    pub inputs: Vec<Argument>,
    pub outputs: Vec<Argument>,
    pub nodes: Vec<Node>,
    pub tensor_values: BTreeMap<String, TensorMeta>,
    #[serde(default)]
    pub sym_int_values: BTreeMap<String, SymInt>,
    #[serde(default)]
    pub sym_bool_values: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub is_single_tensor_return: bool,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Node {
    pub target: String,
    pub inputs: Vec<NamedArgument>,
    pub outputs: Vec<Argument>,
    #[serde(default)]
    pub metadata: BTreeMap<String, String>,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct NamedArgument {
    pub name: String,
    pub arg: Argument,
    /// 1 positional, 2 keyword (`ArgumentKind`); absent in older writers: positional.
    #[serde(default)]
    pub kind: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct TensorMeta {
    pub dtype: i64,
    pub sizes: Vec<SymInt>,
    #[serde(default)]
    pub requires_grad: bool,
    #[serde(default = "Device::cpu")]
    pub device: Device,
    #[serde(default)]
    pub strides: Vec<SymInt>,
    pub storage_offset: Option<SymInt>,
    #[serde(default)]
    pub layout: Option<i64>,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum SymInt {
    AsExpr(SymExpr),
    AsInt(i64),
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct SymExpr {
    pub expr_str: String,
    /// An example value (`{"as_int": 2}`): torch makes a backed symbol of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct TensorArgument {
    pub name: String,
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum SymIntArgument {
    AsName(String),
    AsInt(i64),
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum SymFloatArgument {
    AsName(String),
    AsFloat(Float),
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum SymBoolArgument {
    AsName(String),
    AsBool(bool),
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum OptionalTensorArgument {
    AsTensor(TensorArgument),
    AsNone(bool),
}

#[derive(Debug, Serialize, Deserialize, Clone)]
pub struct Device {
    #[serde(rename = "type")]
    pub kind: String,
    pub index: Option<i64>,
}

impl Device {
    pub fn cpu() -> Device {
        Device {
            kind: "cpu".into(),
            index: None,
        }
    }
}

/// A node argument or output (`Argument` in the schema).
#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum Argument {
    AsNone(bool),
    AsTensor(TensorArgument),
    AsTensors(Vec<TensorArgument>),
    AsInt(i64),
    AsInts(Vec<i64>),
    AsFloat(Float),
    AsFloats(Vec<Float>),
    AsString(String),
    AsStrings(Vec<String>),
    AsSymInt(SymIntArgument),
    AsSymInts(Vec<SymIntArgument>),
    AsScalarType(i64),
    AsMemoryFormat(i64),
    AsLayout(i64),
    AsDevice(Device),
    AsBool(bool),
    AsBools(Vec<bool>),
    AsSymBool(SymBoolArgument),
    AsSymBools(Vec<SymBoolArgument>),
    AsOptionalTensors(Vec<OptionalTensorArgument>),
    AsOptionalTensor(OptionalTensorArgument),
    AsSymFloat(SymFloatArgument),
    AsSymFloats(Vec<SymFloatArgument>),
    AsIntLists(Vec<Vec<i64>>),
    AsFloatLists(Vec<Vec<Float>>),
    /// Graph (higher-order op) arguments, custom objects, operators, complex values and
    /// the rest: kept as JSON so the node that uses one is refused by name.
    #[serde(untagged)]
    Other(serde_json::Value),
}

#[derive(Debug, Serialize, Deserialize)]
pub struct GraphSignature {
    pub input_specs: Vec<InputSpec>,
    pub output_specs: Vec<OutputSpec>,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InputSpec {
    UserInput {
        arg: Argument,
    },
    Parameter {
        arg: TensorArgument,
        parameter_name: String,
    },
    Buffer {
        arg: TensorArgument,
        buffer_name: String,
        #[serde(default = "yes")]
        persistent: bool,
    },
    TensorConstant {
        arg: TensorArgument,
        tensor_constant_name: String,
    },
    ConstantInput {
        name: String,
        value: ConstantValue,
    },
    CustomObj {
        arg: serde_json::Value,
        custom_obj_name: String,
    },
    Token {
        arg: serde_json::Value,
    },
}

#[derive(Debug, Serialize, Deserialize, Clone)]
#[serde(rename_all = "snake_case")]
pub enum ConstantValue {
    AsNone(bool),
    AsInt(i64),
    AsFloat(Float),
    AsString(String),
    AsBool(bool),
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutputSpec {
    UserOutput {
        arg: Argument,
    },
    LossOutput {
        arg: TensorArgument,
    },
    BufferMutation {
        arg: TensorArgument,
        buffer_name: String,
    },
    GradientToParameter {
        arg: TensorArgument,
    },
    GradientToUserInput {
        arg: TensorArgument,
    },
    UserInputMutation {
        arg: TensorArgument,
        user_input_name: String,
    },
    Token {
        arg: serde_json::Value,
    },
    ParameterMutation {
        arg: TensorArgument,
    },
}

/// `data/weights/<model>_weights_config.json` and `data/constants/<model>_constants_config.json`.
#[derive(Debug, Serialize, Deserialize)]
pub struct PayloadConfig {
    pub config: BTreeMap<String, PayloadMeta>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct PayloadMeta {
    pub path_name: String,
    #[serde(default)]
    pub is_param: bool,
    #[serde(default)]
    pub use_pickle: bool,
    pub tensor_meta: Option<TensorMeta>,
}

/// A float as torch's serializer writes it: a JSON number, or (JSON has no non-finite
/// numbers) one of the strings `"Infinity"`, `"-Infinity"`, `"NaN"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Float(pub f64);

impl<'de> Deserialize<'de> for Float {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(f64),
            Text(String),
        }
        match Repr::deserialize(d)? {
            Repr::Number(f) => Ok(Float(f)),
            Repr::Text(t) => match t.as_str() {
                "Infinity" => Ok(Float(f64::INFINITY)),
                "-Infinity" => Ok(Float(f64::NEG_INFINITY)),
                "NaN" => Ok(Float(f64::NAN)),
                other => Err(serde::de::Error::custom(format!(
                    "`{other}` is not a float (a number, \"Infinity\", \"-Infinity\" or \"NaN\")"
                ))),
            },
        }
    }
}

impl Serialize for Float {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            f if f.is_finite() => s.serialize_f64(f),
            f if f.is_nan() => s.serialize_str("NaN"),
            f if f > 0.0 => s.serialize_str("Infinity"),
            _ => s.serialize_str("-Infinity"),
        }
    }
}

fn yes() -> bool {
    true
}
