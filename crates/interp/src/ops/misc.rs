//! Kernels: misc family — losses (NegativeLogLikelihoodLoss, SoftmaxCrossEntropyLoss),
//! text ops (TfIdfVectorizer, StringSplit, StringNormalizer, StringConcat), a few
//! `ai.onnx.ml` ops (LabelEncoder, TreeEnsemble, Binarizer, ArrayFeatureExtractor), the
//! `ai.onnx.preview.training` optimizers (Momentum, Adam, Adagrad), MelWeightMatrix and
//! RegexFullMatch.

use modelc_ir::OnnxOp;

use super::Kernel;

mod common;
mod loss;
mod mel;
mod ml;
mod regex_match;
mod strings;
mod tfidf;
mod training;
mod tree_ensemble;

pub fn lookup(op: OnnxOp) -> Option<Kernel> {
    Some(match op {
        OnnxOp::NegativeLogLikelihoodLoss => loss::nll_loss,
        OnnxOp::SoftmaxCrossEntropyLoss => loss::softmax_cross_entropy_loss,
        OnnxOp::StringConcat => strings::string_concat,
        OnnxOp::StringSplit => strings::string_split,
        OnnxOp::StringNormalizer => strings::string_normalizer,
        OnnxOp::TfIdfVectorizer => tfidf::tfidf_vectorizer,
        OnnxOp::MlLabelEncoder => ml::label_encoder,
        OnnxOp::MlBinarizer => ml::binarizer,
        OnnxOp::MlArrayFeatureExtractor => ml::array_feature_extractor,
        OnnxOp::TrainingMomentum => training::momentum,
        OnnxOp::TrainingAdam => training::adam,
        OnnxOp::TrainingAdagrad => training::adagrad,
        OnnxOp::MlTreeEnsemble => tree_ensemble::tree_ensemble,
        OnnxOp::MelWeightMatrix => mel::mel_weight_matrix,
        OnnxOp::RegexFullMatch => regex_match::regex_full_match,
        _ => return None,
    })
}
