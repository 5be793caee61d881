// TEMPORARY debugging helper; delete before handing back.
use modelc_ir::text::{constants, parse_model, print_model, PrintOptions};

#[test]
fn dump() {
    let Ok(path) = std::env::var("FUZZ_FILE") else { return };
    let data = std::fs::read(path).unwrap();
    let model = match modelc_onnx::decode(bytes::Bytes::from(data), None) {
        Ok(m) => m,
        Err(e) => { eprintln!("decode error: {e}"); return; }
    };
    eprintln!("{model:#?}");
    match modelc_onnx::encode(&model) {
        Ok(enc) => {
            let again = modelc_onnx::decode(enc.into(), None);
            match again { Ok(a) => eprintln!("onnx round trip equal: {}", a == model), Err(e) => eprintln!("re-decode error: {e}") }
        }
        Err(e) => eprintln!("encode error: {e}"),
    }
    let text = print_model(&model, &PrintOptions::default());
    eprintln!("----- text -----\n{text}");
    match parse_model(&text, Some(&constants(&model))) {
        Ok(p) => { eprintln!("parsed equal: {}", p == model); if p != model { eprintln!("PARSED:\n{p:#?}"); eprintln!("reprinted:\n{}", print_model(&p, &PrintOptions::default())); } }
        Err(e) => eprintln!("parse error: {e}"),
    }
}
