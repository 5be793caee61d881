//! RegexFullMatch (opset 20): for each string of X, whether the whole string matches the
//! `pattern` attribute (RE2 syntax, which the `regex` crate implements closely). The
//! pattern is anchored at both ends; an invalid pattern is an error naming it.

use modelc_ir::Attr;
use ndarray::ArrayD;

use crate::{bail, Array, Data, KernelError, OpCtx};

pub fn regex_full_match(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let pattern = match ctx.attrs().get("pattern") {
        Some(Attr::String(p)) => String::from_utf8_lossy(p).into_owned(),
        Some(_) => bail!("attribute `pattern` must be a string"),
        None => bail!("attribute `pattern` is required"),
    };
    let re = regex::Regex::new(&format!("^(?:{pattern})$"))
        .map_err(|e| KernelError::new(format!("invalid pattern `{pattern}`: {e}")))?;
    let Array::Str(x) = ctx.input(0)? else {
        bail!(
            "input X must be a string tensor, got {}",
            ctx.input(0)?.dtype()
        );
    };
    let y: ArrayD<bool> = x.mapv(|s| re.is_match(&s));
    Ok(vec![Data::Tensor(Array::Bool(y))])
}

#[cfg(test)]
mod tests {
    use crate::ops::test_util::run_op;
    use crate::Array;
    use modelc_ir::{Attr, OnnxOp};
    use ndarray::{ArrayD, IxDyn};

    #[test]
    fn whole_string_must_match() {
        let x = Array::Str(
            ArrayD::from_shape_vec(IxDyn(&[3]), vec!["abc".into(), "xabc".into(), "".into()])
                .unwrap(),
        );
        let out = run_op(
            OnnxOp::RegexFullMatch,
            20,
            vec![("pattern", Attr::String("a.c".into()))],
            &[Some(x)],
            1,
            None,
        )
        .unwrap();
        assert_eq!(
            out[0],
            Array::Bool(ArrayD::from_shape_vec(IxDyn(&[3]), vec![true, false, false]).unwrap())
        );
        let x = Array::Str(ArrayD::from_shape_vec(IxDyn(&[1]), vec!["a".into()]).unwrap());
        let err = run_op(
            OnnxOp::RegexFullMatch,
            20,
            vec![("pattern", Attr::String("(".into()))],
            &[Some(x)],
            1,
            None,
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("invalid pattern `(`"), "{err}");
    }
}
