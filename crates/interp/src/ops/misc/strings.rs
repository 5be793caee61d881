//! String ops: StringConcat (opset 20: elementwise concatenation with multidirectional
//! broadcasting), StringSplit (opset 20: attributes `delimiter` — absent or empty means
//! runs of whitespace, leading/trailing whitespace ignored — and `maxsplit`; outputs the
//! substrings padded with "" to the longest split, and the per-element counts) and
//! StringNormalizer (opset 10: `stopwords` removal, compared case-insensitively unless
//! `is_case_sensitive`, then `case_change_action` LOWER/UPPER/NONE; `locale` is accepted
//! and Unicode default case mapping is used). Input of StringNormalizer is `[C]` or
//! `[1, C]`; when every element is removed the output is `[""]` (`[1, 1]` for 2-D).

use ndarray::{ArrayD, IxDyn};

use crate::ops::util::{broadcast_shapes, one};
use crate::{bail, Array, Data, KernelError, OpCtx};

use super::common::{broadcast_offsets, strings};

fn str_input<'a>(ctx: &OpCtx<'a>, i: usize) -> Result<&'a ArrayD<String>, KernelError> {
    match ctx.input(i)? {
        Array::Str(a) => Ok(a),
        other => bail!("input {i} must be a string tensor, got {}", other.dtype()),
    }
}

pub fn string_concat(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let a = str_input(ctx, 0)?;
    let b = str_input(ctx, 1)?;
    let shape = broadcast_shapes(a.shape(), b.shape())?;
    let oa = broadcast_offsets(&shape, a.shape());
    let ob = broadcast_offsets(&shape, b.shape());
    let av: Vec<&String> = a.iter().collect();
    let bv: Vec<&String> = b.iter().collect();
    let out: Vec<String> = oa
        .iter()
        .zip(&ob)
        .map(|(&i, &j)| {
            let mut s = String::with_capacity(av[i].len() + bv[j].len());
            s.push_str(av[i]);
            s.push_str(bv[j]);
            s
        })
        .collect();
    one(Array::Str(ArrayD::from_shape_vec(IxDyn(&shape), out)?))
}

/// Python's `str.split(None, maxsplit)`.
fn split_whitespace(s: &str, maxsplit: Option<usize>) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = s.trim_start();
    while !rest.is_empty() {
        if maxsplit.is_some_and(|m| out.len() == m) {
            out.push(rest.to_string());
            break;
        }
        match rest.find(char::is_whitespace) {
            Some(p) => {
                out.push(rest[..p].to_string());
                rest = rest[p..].trim_start();
            }
            None => {
                out.push(rest.to_string());
                break;
            }
        }
    }
    out
}

pub fn string_split(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = str_input(ctx, 0)?;
    let delim = ctx.attrs().string("delimiter", "")?;
    let maxsplit = if ctx.attrs().contains("maxsplit") {
        usize::try_from(ctx.attrs().int("maxsplit", 0)?).ok()
    } else {
        None
    };
    let parts: Vec<Vec<String>> = x
        .iter()
        .map(|s| {
            if delim.is_empty() {
                split_whitespace(s, maxsplit)
            } else {
                let n = maxsplit.map_or(usize::MAX, |m| m.saturating_add(1));
                s.splitn(n, delim.as_str()).map(str::to_string).collect()
            }
        })
        .collect();
    let width = parts.iter().map(Vec::len).max().unwrap_or(0);
    if parts.len().checked_mul(width).is_none_or(|t| t > 1 << 31) {
        bail!("output too large");
    }
    let mut shape = x.shape().to_vec();
    let counts: Vec<i64> = parts.iter().map(|p| p.len() as i64).collect();
    let mut flat = Vec::with_capacity(parts.len() * width);
    for mut p in parts {
        p.resize(width, String::new());
        flat.extend(p);
    }
    let z = ArrayD::from_shape_vec(IxDyn(&shape), counts)?;
    shape.push(width);
    let y = ArrayD::from_shape_vec(IxDyn(&shape), flat)?;
    Ok(vec![
        Data::Tensor(Array::Str(y)),
        Data::Tensor(Array::I64(z)),
    ])
}

pub fn string_normalizer(ctx: &OpCtx<'_>) -> Result<Vec<Data>, KernelError> {
    let x = str_input(ctx, 0)?;
    let two_d = match x.shape() {
        [_] => false,
        [1, _] => true,
        s => bail!("input must have shape [C] or [1, C], got {s:?}"),
    };
    let action = ctx.attrs().string("case_change_action", "NONE")?;
    let sensitive = ctx.attrs().int("is_case_sensitive", 0)? != 0;
    let stops = strings(ctx.attrs(), "stopwords")?.unwrap_or_default();
    let stops: Vec<String> = if sensitive {
        stops
    } else {
        stops.iter().map(|s| s.to_lowercase()).collect()
    };
    let mut out = Vec::new();
    for s in x.iter() {
        let key = if sensitive {
            s.clone()
        } else {
            s.to_lowercase()
        };
        if stops.contains(&key) {
            continue;
        }
        out.push(match action.as_str() {
            "NONE" => s.clone(),
            "LOWER" => s.to_lowercase(),
            "UPPER" => s.to_uppercase(),
            other => bail!("unknown case_change_action `{other}`"),
        });
    }
    if out.is_empty() {
        out.push(String::new());
    }
    let shape = if two_d {
        vec![1, out.len()]
    } else {
        vec![out.len()]
    };
    one(Array::Str(ArrayD::from_shape_vec(IxDyn(&shape), out)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn whitespace_split_matches_python() {
        assert_eq!(
            split_whitespace("  a  b  c  ", Some(1)),
            vec!["a", "b  c  "]
        );
        assert_eq!(split_whitespace("a ", Some(1)), vec!["a"]);
        assert_eq!(split_whitespace("   ", None), Vec::<String>::new());
        assert_eq!(split_whitespace(" x\ty\n", None), vec!["x", "y"]);
    }
}
