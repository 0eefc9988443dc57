//! The crate's one error type. Every message names the op (and, for shape
//! problems, the shapes) so a caller can tell what went wrong without a debugger.

/// Errors returned by every backend.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Error {
    /// Inputs whose shapes do not fit the op (mismatched, wrong rank, empty where
    /// the op needs data).
    #[error("{op}: {detail}")]
    Shape { op: &'static str, detail: String },

    /// The input is valid but larger than this device can hold.
    #[error("{op}: {detail}")]
    TooLarge { op: &'static str, detail: String },

    /// No usable GPU adapter (no driver installed, or every adapter refused a device).
    #[error("no GPU adapter: {0}")]
    NoAdapter(String),

    /// Arrays from two different `Gpu` contexts were combined.
    #[error("{op}: arrays belong to different Gpu contexts")]
    ContextMismatch { op: &'static str },

    /// wgpu reported a validation, out-of-memory or device-lost error, or a wait timed out.
    #[error("{op}: GPU error: {detail}")]
    Gpu { op: &'static str, detail: String },

    /// A `GpuOptions` or `TuneOptions` field whose value cannot work, named as
    /// `GpuOptions::max_binding_bytes` or `TuneOptions::row_lengths`.
    #[error("{option}: {detail}")]
    Options {
        option: &'static str,
        detail: String,
    },
}

pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn shape(op: &'static str, detail: impl Into<String>) -> Self {
        Error::Shape {
            op,
            detail: detail.into(),
        }
    }

    pub(crate) fn gpu(op: &'static str, detail: impl std::fmt::Display) -> Self {
        Error::Gpu {
            op,
            detail: detail.to_string(),
        }
    }

    /// This error with `what` (say, "input of shape [2, 3]") in front of its
    /// detail, so the message says which array it concerns.
    pub(crate) fn about(self, what: impl std::fmt::Display) -> Self {
        match self {
            Error::Shape { op, detail } => Error::shape(op, format!("{what}: {detail}")),
            Error::TooLarge { op, detail } => Error::TooLarge {
                op,
                detail: format!("{what}: {detail}"),
            },
            Error::Gpu { op, detail } => Error::gpu(op, format!("{what}: {detail}")),
            e => e,
        }
    }
}
