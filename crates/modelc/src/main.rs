//! The `modelc` command line.

mod progress;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use modelc::summary::Summary;
use modelc::{ExternalData, SaveOptions};

/// modelc converts neural-network models between ONNX, TFLite and TorchScript, and shows
/// what is inside them.
///
/// Every command reads the format from the file extension (.onnx, .tflite, .pt). Errors
/// name the file and what is wrong, and exit with status 1; a failed command never leaves
/// a partial output file behind.
#[derive(Parser)]
#[command(name = "modelc", version, about, long_about, propagate_version = true)]
#[command(
    after_help = "Examples:\n  modelc convert model.onnx copy.onnx\n  modelc inspect model.onnx --json\n  modelc dump model.onnx | less"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Convert a model to another file, possibly another format.
    ///
    /// The formats come from the extensions. ONNX → ONNX is supported now: the result keeps
    /// everything the input had (opsets, metadata, doc strings, value_info, local functions,
    /// sparse initializers, sub-graphs, unknown ops and domains). Weights are memory-mapped,
    /// never copied; models over 2 GB are written with external data.
    #[command(
        after_help = "Examples:\n  modelc convert resnet50.onnx resnet50-copy.onnx\n  modelc convert big.onnx out.onnx --external-data always   # writes out.onnx + out.onnx.data"
    )]
    Convert {
        /// The model to read.
        input: PathBuf,
        /// Where to write the result (its extension selects the format).
        output: PathBuf,
        /// Where ONNX tensor data goes: `auto` keeps it in the file unless the model is over
        /// 2 GB, `always` moves tensors of 1 KiB or more to `<output>.data`, `never` keeps
        /// everything inline.
        #[arg(long, value_enum, default_value_t = ExternalArg::Auto)]
        external_data: ExternalArg,
    },
    /// Summarize a model: format, opsets, inputs and outputs, ops, parameters.
    #[command(
        after_help = "Examples:\n  modelc inspect model.onnx\n  modelc inspect model.onnx --json | jq .ops"
    )]
    Inspect {
        /// The model to read.
        input: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
    },
    /// Print a model in modelc's text form (the IR as a small SSA program).
    ///
    /// Constants of more than 16 elements print as a content hash (#0123abcd...); use
    /// --full to print every value.
    #[command(after_help = "Example:\n  modelc dump model.onnx > model.txt")]
    Dump {
        /// The model to read.
        input: PathBuf,
        /// Print every constant's values inline instead of a hash.
        #[arg(long)]
        full: bool,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum ExternalArg {
    Auto,
    Always,
    Never,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli.command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("modelc: error: {}", chain(e.as_ref()));
            ExitCode::FAILURE
        }
    }
}

/// An error and its sources on one line: `a.onnx: not a valid ONNX protobuf (...)`.
/// Control characters (from names in a hostile file) are escaped to keep it one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

fn load(path: &Path) -> Result<modelc::Model, modelc::Error> {
    let _p = progress::Progress::start(format!("reading {}", path.display()));
    modelc::load(path)
}

fn run(command: Command) -> Result<(), Box<dyn std::error::Error>> {
    match command {
        Command::Convert {
            input,
            output,
            external_data,
        } => {
            modelc::check_distinct(&input, &output)?;
            modelc::format_of(&output)?;
            let model = load(&input)?;
            let mut opts = SaveOptions::default();
            opts.onnx.external_data = match external_data {
                ExternalArg::Auto => ExternalData::Auto,
                ExternalArg::Always => ExternalData::Always,
                ExternalArg::Never => ExternalData::Never,
            };
            let _p = progress::Progress::start(format!("writing {}", output.display()));
            modelc::save(&model, &output, &opts)?;
        }
        Command::Inspect { input, json } => {
            let format = modelc::format_of(&input)?;
            let model = load(&input)?;
            let summary = Summary::of(&model, format);
            if json {
                println!("{}", serde_json::to_string_pretty(&summary)?);
            } else {
                print!("{}", summary.render(&input.display().to_string()));
            }
        }
        Command::Dump { input, full } => {
            let model = load(&input)?;
            let opts = modelc::ir::text::PrintOptions {
                inline_limit: if full { usize::MAX } else { 16 },
            };
            print!("{}", modelc::ir::text::print_model(&model, &opts));
        }
    }
    Ok(())
}
