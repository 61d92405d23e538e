//! The spare region of a block device or image file as a `MetaDevice`.

use std::fs::{File, OpenOptions};
use std::io::{self, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::path::Path;

use dm_remap_engine::{IoError, MetaDevice};

/// A spare region starting `offset` sectors into `file`.
pub struct FileDevice {
    file: File,
    offset: u64,
}

fn io_error(error: io::Error) -> IoError {
    IoError {
        errno: error.raw_os_error().unwrap_or(-1),
    }
}

impl FileDevice {
    /// Opens `path` read-only or read-write.
    pub fn open(path: &Path, offset: u64, writable: bool) -> io::Result<FileDevice> {
        let file = OpenOptions::new().read(true).write(writable).open(path)?;
        Ok(FileDevice { file, offset })
    }

    /// Opens `path` for formatting, creating an image file of `sectors`
    /// sectors (plus the offset) if it does not exist or is shorter.
    pub fn create(path: &Path, offset: u64, sectors: u64) -> io::Result<FileDevice> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        let needed = (offset + sectors) * 512;
        let metadata = file.metadata()?;
        if metadata.is_file() && metadata.len() < needed {
            file.set_len(needed)?;
        }
        Ok(FileDevice { file, offset })
    }

    /// Sectors available from the region start to the end of the device.
    pub fn available_sectors(&mut self) -> io::Result<u64> {
        let bytes = self.file.seek(SeekFrom::End(0))?;
        Ok((bytes / 512).saturating_sub(self.offset))
    }

    fn position(&self, sector: u64) -> Result<u64, IoError> {
        self.offset
            .checked_add(sector)
            .and_then(|s| s.checked_mul(512))
            .ok_or(IoError { errno: 22 })
    }
}

impl MetaDevice for FileDevice {
    fn read(&mut self, sector: u64, buf: &mut [u8]) -> Result<(), IoError> {
        let position = self.position(sector)?;
        self.file.read_exact_at(buf, position).map_err(io_error)
    }

    fn write(&mut self, sector: u64, buf: &[u8]) -> Result<(), IoError> {
        let position = self.position(sector)?;
        self.file.write_all_at(buf, position).map_err(io_error)
    }

    fn flush(&mut self) -> Result<(), IoError> {
        self.file.sync_data().map_err(io_error)
    }
}
