//! File steps every persisted file of the engine and the node takes the same way: a bounded
//! read, an atomic and durable replace, and setting a corrupt file aside.

use std::{
    fs,
    io::{Read, Write},
    path::{Path, PathBuf},
};

/// The content of the file at `path`, `None` when there is none. A file over `limit` bytes
/// is refused unread (an error of kind `FileTooLarge` naming the bound).
pub fn read_bounded(path: &Path, limit: u64) -> std::io::Result<Option<Vec<u8>>> {
    let file = match fs::File::open(path) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut bytes = Vec::new();
    // One byte past the limit tells a file at the limit from one over it.
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(std::io::Error::new(
            std::io::ErrorKind::FileTooLarge,
            format!("larger than the {limit}-byte bound of this file"),
        ));
    }
    Ok(Some(bytes))
}

/// Replaces `path` with `bytes`: a temporary file beside it (`<name>.tmp`), fsynced, renamed
/// over it, and the directory fsynced, so a reader sees the old content or the new, even
/// across a power cut. Returns the new file, open for reading and writing. The error says
/// which step failed.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<fs::File> {
    fn step(what: &'static str) -> impl Fn(std::io::Error) -> std::io::Error {
        move |e| std::io::Error::new(e.kind(), format!("cannot {what}: {e}"))
    }
    let dir = path.parent().ok_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::InvalidInput, "the file has no directory")
    })?;
    fs::create_dir_all(dir).map_err(step("create the directory"))?;
    let tmp = with_suffix(path, ".tmp");
    let mut file = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(step("create the temporary file"))?;
    file.write_all(bytes).map_err(step("write the temporary file"))?;
    file.sync_all().map_err(step("fsync the temporary file"))?;
    fs::rename(&tmp, path).map_err(step("rename the temporary file"))?;
    sync_dir(dir).map_err(step("fsync the directory"))?;
    Ok(file)
}

/// Renames `path` to `<name>.corrupt` and returns that name.
pub fn set_aside(path: &Path) -> std::io::Result<PathBuf> {
    let aside = with_suffix(path, ".corrupt");
    fs::rename(path, &aside)?;
    Ok(aside)
}

/// `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

/// Writes all of `bytes` at `offset` of `file`: one `pwrite` on unix (the file's cursor
/// is neither read nor moved), a seek and a write elsewhere.
pub(crate) fn write_at(file: &fs::File, bytes: &[u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::write_all_at(file, bytes, offset)
    }
    #[cfg(not(unix))]
    {
        use std::io::{Seek, SeekFrom, Write};
        let mut file = file;
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(bytes)
    }
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> std::io::Result<()> {
    fs::File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> std::io::Result<()> {
    // Directories cannot be opened for fsync outside unix; the rename is still atomic.
    Ok(())
}
