//! Typed errors of attnflow-transformer.

use std::path::PathBuf;

/// Everything that can go wrong when loading a checkpoint, tokenizing or running the encoder.
#[derive(Debug, thiserror::Error)]
pub enum TransformerError {
    /// The model directory or one of its files is absent; `hint` says how to obtain it.
    #[error("model files not found at {}: {hint}", path.display())]
    ModelMissing { path: PathBuf, hint: String },
    /// Reading a file failed.
    #[error("cannot read {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The safetensors container is malformed.
    #[error("invalid safetensors data: {0}")]
    SafeTensors(String),
    /// A tensor required by the BERT architecture is absent from the checkpoint.
    #[error("tensor {0:?} missing from the checkpoint")]
    MissingTensor(String),
    /// A tensor has the wrong shape for the configuration.
    #[error("tensor {name:?} has shape {found:?}, expected {expected:?}")]
    TensorShape {
        name: String,
        found: Vec<usize>,
        expected: Vec<usize>,
    },
    /// A tensor is stored in a dtype this loader does not read (F32 and F64 are supported).
    #[error("tensor {name:?} has unsupported dtype {dtype}")]
    TensorDtype { name: String, dtype: String },
    /// A tensor holds NaN or infinite values.
    #[error("tensor {0:?} contains non-finite values")]
    NonFiniteTensor(String),
    /// `config.json` is malformed or describes an unsupported architecture.
    #[error("invalid model configuration: {0}")]
    Config(String),
    /// The tokenizer file could not be loaded or the text could not be encoded.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// Bad input to a function (empty sequence, unknown token id, too long, bad schedule depth, ...).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// A JSON document could not be parsed.
    #[error("invalid JSON in {}: {source}", path.display())]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    /// An eigenvalue solver did not converge.
    #[error("eigenvalue computation failed: {0}")]
    Eigen(String),
}

/// Read a whole file, mapping the error to [`TransformerError::Io`].
pub(crate) fn read_file(path: &std::path::Path) -> Result<Vec<u8>, TransformerError> {
    std::fs::read(path).map_err(|source| TransformerError::Io {
        path: path.to_path_buf(),
        source,
    })
}
