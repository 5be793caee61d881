//! The classical-ML and text ops: `ai.onnx.ml` LabelEncoder (the input's shape, the type of
//! the values it maps to), ArrayFeatureExtractor (`[..., len(Y)]`), TreeEnsemble (`[N,
//! n_targets]`), and TfIdfVectorizer (`[max(ngram_indexes) + 1]` per row, float) and
//! StringNormalizer (strings; stopword removal may shorten the last dim). Binarizer is a
//! unary elementwise op (see the traits table).

use crate::{Attr, DType, Dim, OnnxOp};

use super::ctx::{InferCtx, InferError, Outputs};
use super::InferFn;

pub fn rule(op: OnnxOp) -> Option<InferFn> {
    use OnnxOp::*;
    Some(match op {
        MlLabelEncoder => label_encoder,
        MlArrayFeatureExtractor => array_feature_extractor,
        MlTreeEnsemble => tree_ensemble,
        TfIdfVectorizer => tfidf,
        StringNormalizer => string_normalizer,
        _ => return None,
    })
}

fn label_encoder(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let dtype = if let Some(Attr::Tensor(t)) = cx.attrs.get("values_tensor") {
        Some(t.dtype)
    } else if cx.attrs.contains("values_strings") {
        Some(DType::Str)
    } else if cx.attrs.contains("values_int64s") {
        Some(DType::I64)
    } else if cx.attrs.contains("values_floats") {
        Some(DType::F32)
    } else {
        None
    };
    out.set(0, dtype, cx.shape(0).map(<[_]>::to_vec));
    Ok(())
}

fn array_feature_extractor(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let shape = cx.shape(0).and_then(|x| {
        let (_, lead) = x.split_last()?;
        let k = match cx.shape(1) {
            Some(y) => y
                .iter()
                .try_fold(1u64, |n, d| match d {
                    Dim::Known(k) => n.checked_mul(*k),
                    _ => None,
                })
                .map_or(Dim::Unknown, Dim::Known),
            None => Dim::Unknown,
        };
        Some([lead, &[k]].concat())
    });
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn tree_ensemble(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let n = cx.shape(0).and_then(|x| x.first().cloned());
    let targets = cx.attr_int("n_targets", 0)?;
    let shape = n.map(|n| {
        let t = if targets > 0 {
            Dim::Known(targets as u64)
        } else {
            Dim::Unknown
        };
        vec![n, t]
    });
    out.set(0, cx.dtype(0), shape);
    Ok(())
}

fn tfidf(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let size = cx
        .attr_ints("ngram_indexes")?
        .and_then(|ix| ix.into_iter().max())
        .filter(|m| *m >= 0)
        .map_or(Dim::Unknown, |m| Dim::Known(m as u64 + 1));
    let shape = cx.shape(0).and_then(|x| match x {
        [_] => Some(vec![size.clone()]),
        [b, _] => Some(vec![b.clone(), size.clone()]),
        _ => None,
    });
    out.set(0, Some(DType::F32), shape);
    Ok(())
}

fn string_normalizer(cx: &InferCtx<'_>, out: &mut Outputs) -> Result<(), InferError> {
    let removes = cx.attrs.contains("stopwords");
    let shape = cx.shape(0).map(|x| {
        let mut s = x.to_vec();
        if let (true, Some(last)) = (removes, s.last_mut()) {
            *last = Dim::Unknown;
        }
        s
    });
    out.set(0, Some(DType::Str), shape);
    Ok(())
}
