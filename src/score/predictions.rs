//! The stored form of a cell's test predictions: `predictions.csv` (one row
//! per image: `id,label,pred`, readable) beside `probs.safetensors` (one
//! tensor `probs`, f32 `[N, C]`, the model's probabilities bit for bit).
//!
//! Why a binary file: with 6 decimals in a CSV most small probabilities
//! round to 0, ties appear that the model never made, and an AUC recomputed
//! from the file differed from the one computed at scoring time. Every score
//! (scores.json, results.csv, the report) is computed from these same f32s.

use safetensors::tensor::{Dtype, SafeTensors, View};
use std::borrow::Cow;

/// File name of the probabilities, in the cell directory.
pub const PROBS_FILE: &str = "probs.safetensors";
/// Tensor name inside [`PROBS_FILE`].
pub const PROBS_TENSOR: &str = "probs";

/// An f32 tensor (little-endian bytes) for safetensors serialisation: the
/// probabilities here, `exp embed`'s features too.
pub struct F32Tensor {
    shape: Vec<usize>,
    bytes: Vec<u8>,
}

impl F32Tensor {
    pub fn new(values: &[f32], shape: Vec<usize>) -> Self {
        F32Tensor {
            shape,
            bytes: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        }
    }
}

impl View for &F32Tensor {
    fn dtype(&self) -> Dtype {
        Dtype::F32
    }
    fn shape(&self) -> &[usize] {
        &self.shape
    }
    fn data(&self) -> Cow<'_, [u8]> {
        Cow::Borrowed(&self.bytes)
    }
    fn data_len(&self) -> usize {
        self.bytes.len()
    }
}

/// `probs` (row-major `rows × classes`) as safetensors bytes.
pub fn encode(probs: &[f32], rows: usize, classes: usize) -> Result<Vec<u8>, String> {
    if probs.len() != rows * classes {
        return Err(format!(
            "{} probabilities do not form {rows} rows of {classes} classes",
            probs.len()
        ));
    }
    let t = F32Tensor::new(probs, vec![rows, classes]);
    safetensors::tensor::serialize([(PROBS_TENSOR, &t)], None).map_err(|e| e.to_string())
}

/// Probabilities and the number of classes from safetensors bytes.
pub fn decode(bytes: &[u8]) -> Result<(Vec<f32>, usize), String> {
    let st = SafeTensors::deserialize(bytes).map_err(|e| e.to_string())?;
    let t = st
        .tensor(PROBS_TENSOR)
        .map_err(|_| format!("no `{PROBS_TENSOR}` tensor"))?;
    if t.dtype() != Dtype::F32 || t.shape().len() != 2 {
        return Err(format!(
            "`{PROBS_TENSOR}` is {:?} {:?}, not f32 [N, C]",
            t.dtype(),
            t.shape()
        ));
    }
    let probs = t
        .data()
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    Ok((probs, t.shape()[1]))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_is_bit_exact() {
        let p = [
            1e-30f32,
            0.3,
            f32::MIN_POSITIVE,
            1.0 - f32::EPSILON,
            0.5,
            0.25,
        ];
        let (q, c) = decode(&encode(&p, 3, 2).unwrap()).unwrap();
        assert_eq!(c, 2);
        assert_eq!(
            p.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
            q.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
        );
        assert!(encode(&p, 2, 2).is_err());
        assert!(decode(b"not a file").is_err());
    }
}
