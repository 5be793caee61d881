//! Helpers for testing passes, ours and users': parse a graph from the text form, run
//! passes, and get the printed result for `insta::assert_snapshot!`, plus a numeric check
//! through the interpreter.

use modelc_interp::{Array, Data, Interpreter};
use modelc_ir::text::{print_graph, PrintOptions};
use modelc_ir::{Graph, OpsetImport};

use crate::{Pass, PassManager};

/// Parses `text`, runs `passes` to a fixed point (validating after each step), and returns
/// the printed result. Panics with a clear message on a parse or pass error (it is for tests).
pub fn run_passes(text: &str, passes: Vec<Box<dyn Pass>>) -> String {
    let mut g = Graph::parse(text).unwrap_or_else(|e| panic!("test graph does not parse: {e}"));
    let mut pm = PassManager::new(passes);
    pm.validate = true;
    pm.run_graph(&mut g).unwrap_or_else(|e| panic!("{e}"));
    print_graph(&g, &PrintOptions::default())
}

/// Runs `before` and `after` in the interpreter on the same inputs (given by name) and
/// asserts every output agrees within `rtol`.
pub fn assert_same_outputs(before: &Graph, after: &Graph, inputs: &[(&str, Array)], rtol: f64) {
    let opsets = [OpsetImport {
        domain: String::new(),
        version: 21,
    }];
    let run = |g: &Graph| {
        let interp = Interpreter::for_graph(g, &opsets).unwrap_or_else(|e| panic!("{e}"));
        let named = inputs
            .iter()
            .map(|(n, a)| (n.to_string(), Data::Tensor(a.clone())))
            .collect();
        interp.run(named).unwrap_or_else(|e| panic!("{e}"))
    };
    let (a, b) = (run(before), run(after));
    assert_eq!(a.len(), b.len(), "output count changed");
    for ((na, da), (nb, db)) in a.iter().zip(&b) {
        assert_eq!(na, nb, "output names changed");
        let (Data::Tensor(x), Data::Tensor(y)) = (da, db) else {
            assert_eq!(da, db, "output `{na}` changed");
            continue;
        };
        assert_eq!(x.shape(), y.shape(), "output `{na}` changed shape");
        let (xv, yv) = (x.to_f64_vec().unwrap(), y.to_f64_vec().unwrap());
        for (i, (p, q)) in xv.iter().zip(&yv).enumerate() {
            assert!(
                (p - q).abs() <= rtol * p.abs().max(1e-6),
                "output `{na}` element {i}: {p} vs {q}"
            );
        }
    }
}
