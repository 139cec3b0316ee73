//! Reading render inputs: one file, or every `*.yaml`/`*.yml` below a folder.
//!
//! Folders are walked in sorted path order so results are deterministic;
//! symlinked folders are not followed; sizes are capped while reading.

use std::path::{Path, PathBuf};

use crate::error::DiffError;
use crate::load::{MAX_FILE_BYTES, MAX_TOTAL_BYTES};

fn io_err(path: &Path, e: impl std::fmt::Display) -> DiffError {
    DiffError::Io {
        path: path.display().to_string(),
        message: e.to_string(),
    }
}

fn collect_files(dir: &Path, out: &mut Vec<PathBuf>) -> Result<(), DiffError> {
    let mut entries = Vec::new();
    for e in std::fs::read_dir(dir).map_err(|e| io_err(dir, e))? {
        entries.push(e.map_err(|e| io_err(dir, e))?.path());
    }
    entries.sort();
    for p in entries {
        // symlink_metadata: a symlinked folder is not followed, so loops are impossible.
        let meta = std::fs::symlink_metadata(&p).map_err(|e| io_err(&p, e))?;
        if meta.is_dir() {
            collect_files(&p, out)?;
        } else if matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml")) {
            out.push(p);
        }
    }
    Ok(())
}

fn read_limited(path: &Path) -> Result<String, DiffError> {
    use std::io::Read;
    let file = std::fs::File::open(path).map_err(|e| io_err(path, e))?;
    // Size hint only (capped), so the buffer is not regrown and copied while reading.
    let hint = file
        .metadata()
        .map_or(0, |m| m.len().min(MAX_FILE_BYTES + 1));
    let mut buf = Vec::with_capacity(usize::try_from(hint).unwrap_or(0));
    // Read one byte past the limit instead of trusting metadata (pipes, growing files).
    file.take(MAX_FILE_BYTES + 1)
        .read_to_end(&mut buf)
        .map_err(|e| io_err(path, e))?;
    if buf.len() as u64 > MAX_FILE_BYTES {
        let message = format!("file larger than {MAX_FILE_BYTES} bytes");
        return Err(DiffError::Limit {
            source: path.display().to_string(),
            line: 0,
            message,
        });
    }
    String::from_utf8(buf).map_err(|_| io_err(path, "file is not valid UTF-8"))
}

pub(crate) fn read_inputs(path: &Path) -> Result<Vec<(String, String)>, DiffError> {
    let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
    let files = if meta.is_dir() {
        let mut files = Vec::new();
        collect_files(path, &mut files)?;
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut total = 0u64;
    let mut out = Vec::with_capacity(files.len());
    for f in files {
        let text = read_limited(&f)?;
        total += text.len() as u64;
        if total > MAX_TOTAL_BYTES {
            let message = format!("inputs larger than {MAX_TOTAL_BYTES} bytes in total");
            return Err(DiffError::Limit {
                source: path.display().to_string(),
                line: 0,
                message,
            });
        }
        out.push((f.display().to_string(), text));
    }
    Ok(out)
}
