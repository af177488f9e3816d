//! WordPiece tokenization with the model's own Hugging Face `tokenizer.json`.
//!
//! The MiniLM `tokenizer.json` has padding and truncation to 128 tokens baked in; both are switched off here
//! so a paragraph is encoded whole (`[CLS] tokens [SEP]`). Lengths are checked against the encoder's
//! position table by [`crate::BertEncoder::forward`].

use std::path::Path;

use crate::error::TransformerError;

/// A loaded tokenizer with padding and truncation disabled.
pub struct WordPieceTokenizer {
    inner: tokenizers::Tokenizer,
}

impl WordPieceTokenizer {
    /// Load `tokenizer.json`; a missing file gives [`TransformerError::ModelMissing`] naming the fetch command.
    pub fn from_file(path: &Path) -> Result<Self, TransformerError> {
        if !path.is_file() {
            return Err(TransformerError::ModelMissing {
                path: path.to_path_buf(),
                hint: crate::bert::FETCH_HINT.to_string(),
            });
        }
        let mut inner = tokenizers::Tokenizer::from_file(path)
            .map_err(|e| TransformerError::Tokenizer(format!("{}: {e}", path.display())))?;
        inner.with_padding(None);
        inner
            .with_truncation(None)
            .map_err(|e| TransformerError::Tokenizer(e.to_string()))?;
        Ok(Self { inner })
    }

    /// Token ids of `text` including the special tokens `[CLS]` ... `[SEP]`.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, TransformerError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TransformerError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_ids().to_vec())
    }

    /// The token strings of `text` (same segmentation as [`Self::encode`]).
    pub fn tokens(&self, text: &str) -> Result<Vec<String>, TransformerError> {
        let encoding = self
            .inner
            .encode(text, true)
            .map_err(|e| TransformerError::Tokenizer(e.to_string()))?;
        Ok(encoding.get_tokens().to_vec())
    }
}
