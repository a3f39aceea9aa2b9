//! The spool: the on-disk copy of a [`WriteBehind`](super::WriteBehind) buffer, so that a replica
//! killed during a database outage does not lose the webhooks it already answered.
//!
//! One append-only file of JSON lines per buffer in `SWITCHBOARD_INBOUND__SPOOL_DIR`, each line
//! written and `fdatasync`ed before the webhook is answered, replayed when the replica starts, and
//! emptied once every item in it has been applied. Applying is idempotent by the items' own keys,
//! so replaying a line that was applied just before a crash is harmless. The files hold personal
//! data (numbers, message bodies): they are created `0600` and belong on the replica's own disk.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, Read, Write};
use std::marker::PhantomData;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

/// Why a spool cannot be used; the replica refuses to start rather than lose or skip items.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The directory or file cannot be created, read or written.
    #[error("cannot use the spool {path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: io::Error,
    },
    /// Another process holds the spool (two replicas given one directory).
    #[error("the spool {path} is in use by another process: give each replica its own directory")]
    Locked {
        /// The file.
        path: PathBuf,
    },
    /// A complete line that this version cannot read: kept for an operator to look at.
    #[error("line {line} of the spool {path} cannot be read ({source}); move the file aside to start")]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// The line, from 1.
        line: usize,
        /// The cause.
        source: serde_json::Error,
    },
}

/// An open spool file of `T`s, locked by this process.
#[derive(Debug)]
pub struct Spool<T> {
    file: File,
    /// Lines written since the file was last emptied (replayed ones included).
    lines: usize,
    items: PhantomData<fn(T) -> T>,
}

impl<T: Serialize + DeserializeOwned> Spool<T> {
    /// Opens (creating) the spool `file_name` in `dir` and returns it with the items it holds, in
    /// order. A last line cut short by a crash mid-write was never acknowledged: it is dropped.
    pub fn open(dir: &Path, file_name: &str) -> Result<(Spool<T>, Vec<T>), SpoolError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| SpoolError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let path = dir.join(file_name);
        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .mode(0o600)
            .open(&path)
            .map_err(io(&path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(SpoolError::Locked { path }),
            Err(TryLockError::Error(e)) => return Err(io(&path)(e)),
        }
        let mut content = Vec::new();
        file.read_to_end(&mut content).map_err(io(&path))?;
        let complete = content.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1);
        if complete < content.len() {
            tracing::warn!(
                bytes = content.len() - complete,
                spool = file_name,
                "the spool ends in a torn line: dropped"
            );
            file.set_len(complete as u64).map_err(io(&path))?;
            file.sync_data().map_err(io(&path))?;
        }
        let items = content[..complete]
            .split(|&b| b == b'\n')
            .filter(|line| !line.is_empty())
            .enumerate()
            .map(|(i, line)| {
                serde_json::from_slice(line).map_err(|source| SpoolError::Corrupt {
                    path: path.clone(),
                    line: i + 1,
                    source,
                })
            })
            .collect::<Result<Vec<T>, _>>()?;
        let lines = items.len();
        Ok((Spool { file, lines, items: PhantomData }, items))
    }

    /// Appends one item and waits until it is on disk.
    pub fn append(&mut self, item: &T) -> io::Result<()> {
        let mut line = serde_json::to_vec(item)?;
        line.push(b'\n');
        self.file.write_all(&line)?;
        self.file.sync_data()?;
        self.lines += 1;
        Ok(())
    }

    /// Empties the file: every item in it has been applied (or given up).
    pub fn clear(&mut self) -> io::Result<()> {
        if self.lines > 0 {
            self.file.set_len(0)?;
            self.file.sync_data()?;
            self.lines = 0;
        }
        Ok(())
    }

    /// Lines in the file.
    pub fn lines(&self) -> usize {
        self.lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE_NAME: &str = "test.jsonl";

    /// A spooled item, as a buffer's owner would define one.
    #[derive(Debug, serde::Serialize, serde::Deserialize)]
    enum Item {
        Ringing { sid: String },
    }

    /// A scratch directory, removed when dropped.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new() -> Self {
            Scratch(std::env::temp_dir().join(format!("switchboard-spool-unit-{}", uuid::Uuid::new_v4())))
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            std::fs::remove_dir_all(&self.0).ok();
        }
    }

    fn ringing(n: u32) -> Item {
        Item::Ringing { sid: format!("CA{n:032x}") }
    }

    fn sids(items: &[Item]) -> Vec<String> {
        items.iter().map(|Item::Ringing { sid }| sid.clone()).collect()
    }

    #[test]
    fn effects_come_back_in_order_and_a_torn_last_line_is_dropped() {
        let dir = Scratch::new();
        let (mut spool, replayed) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("open");
        assert!(replayed.is_empty());
        for n in 1..=2 {
            spool.append(&ringing(n)).expect("append");
        }
        drop(spool);
        // A crash in the middle of the third write.
        let path = dir.0.join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(br#"{"Ringing":{"sid":"CA"#).expect("write");
        drop(file);
        let (mut spool, replayed) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("reopen");
        assert_eq!(sids(&replayed), [format!("CA{:032x}", 1), format!("CA{:032x}", 2)]);
        spool.append(&ringing(3)).expect("append after the torn line");
        drop(spool);
        let (_spool, replayed) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("reopen");
        assert_eq!(replayed.len(), 3, "the next line starts cleanly after the cut");
    }

    #[test]
    fn only_the_owner_may_read_the_spool() {
        use std::os::unix::fs::PermissionsExt;
        let dir = Scratch::new();
        let (_spool, _) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("open");
        let mode = std::fs::metadata(dir.0.join(FILE_NAME)).expect("file").permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "callers' numbers and messages: {mode:o}");
    }

    #[test]
    fn a_cleared_spool_replays_nothing() {
        let dir = Scratch::new();
        let (mut spool, _) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("open");
        spool.append(&ringing(1)).expect("append");
        spool.clear().expect("clear");
        spool.append(&ringing(2)).expect("append");
        drop(spool);
        let (_spool, replayed) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("reopen");
        assert_eq!(sids(&replayed), [format!("CA{:032x}", 2)]);
    }

    #[test]
    fn a_damaged_line_refuses_to_start_and_names_it() {
        let dir = Scratch::new();
        let (mut spool, _) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("open");
        spool.append(&ringing(1)).expect("append");
        drop(spool);
        let path = dir.0.join(FILE_NAME);
        let mut file = OpenOptions::new().append(true).open(&path).expect("file");
        file.write_all(b"not json\n").expect("write");
        drop(file);
        let error = Spool::<Item>::open(&dir.0, FILE_NAME).expect_err("refused");
        assert!(matches!(error, SpoolError::Corrupt { line: 2, .. }), "{error}");
    }

    #[test]
    fn two_processes_cannot_share_a_spool() {
        let dir = Scratch::new();
        let (_held, _) = Spool::<Item>::open(&dir.0, FILE_NAME).expect("open");
        let error = Spool::<Item>::open(&dir.0, FILE_NAME).expect_err("refused");
        assert!(matches!(error, SpoolError::Locked { .. }), "{error}");
    }
}
