//! `popcornctl status`: every kernel with its role, state, CPUs and memory.

use std::fmt::Write as _;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use popcorn_core::cpulist::CpuSet;

/// Where `popcorn_msg.ko` publishes its state.
pub const DEFAULT_ROOT: &str = "/sys/kernel/popcorn";

/// One kernel as listed under `kernels/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Kernel {
    pub id: u32,
    pub role: String,
    pub state: String,
    pub cpus: CpuSet,
    pub mem_bytes: u64,
}

/// The pool of RAM set aside for secondaries (`pool/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pool {
    pub base: String,
    pub total_bytes: u64,
    pub free_bytes: u64,
}

/// The whole multikernel as one kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    pub version: String,
    /// The kernel whose sysfs was read.
    pub this_kernel: u32,
    /// Sorted by id.
    pub kernels: Vec<Kernel>,
    /// `None` when the primary booted without `popcorn.reserve=`.
    pub pool: Option<Pool>,
}

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("{0} does not exist: is popcorn_msg.ko loaded?")]
    NotLoaded(PathBuf),
    #[error("cannot read {path}: {source}")]
    Read { path: PathBuf, source: io::Error },
    #[error("unexpected contents in {path}: {contents:?}")]
    Malformed { path: PathBuf, contents: String },
}

fn read_value(path: &Path) -> Result<String, StatusError> {
    let text = fs::read_to_string(path).map_err(|source| StatusError::Read {
        path: path.to_owned(),
        source,
    })?;
    Ok(text.trim_end_matches('\n').to_owned())
}

fn parse_value<T: std::str::FromStr>(path: &Path) -> Result<T, StatusError> {
    let text = read_value(path)?;
    text.parse().map_err(|_| StatusError::Malformed {
        path: path.to_owned(),
        contents: text,
    })
}

fn read_kernel(dir: &Path) -> Result<Kernel, StatusError> {
    let cpus_path = dir.join("cpus");
    let cpus_text = read_value(&cpus_path)?;
    // A kernel with no CPU left online prints an empty list.
    let cpus = if cpus_text.is_empty() {
        CpuSet::new()
    } else {
        CpuSet::parse(cpus_text.as_bytes()).map_err(|_| StatusError::Malformed {
            path: cpus_path,
            contents: cpus_text,
        })?
    };
    Ok(Kernel {
        id: parse_value(&dir.join("id"))?,
        role: read_value(&dir.join("role"))?,
        state: read_value(&dir.join("state"))?,
        cpus,
        mem_bytes: parse_value(&dir.join("mem_bytes"))?,
    })
}

/// Reads the tree rooted at `root` (normally [`DEFAULT_ROOT`]).
pub fn read_status(root: &Path) -> Result<Status, StatusError> {
    if !root.is_dir() {
        return Err(StatusError::NotLoaded(root.to_owned()));
    }
    let kernels_dir = root.join("kernels");
    let entries = fs::read_dir(&kernels_dir).map_err(|source| StatusError::Read {
        path: kernels_dir.clone(),
        source,
    })?;
    let mut kernels = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|source| StatusError::Read {
            path: kernels_dir.clone(),
            source,
        })?;
        kernels.push(read_kernel(&entry.path())?);
    }
    kernels.sort_by_key(|k| k.id);
    let pool_dir = root.join("pool");
    let pool = if pool_dir.is_dir() {
        Some(Pool {
            base: read_value(&pool_dir.join("base"))?,
            total_bytes: parse_value(&pool_dir.join("total_bytes"))?,
            free_bytes: parse_value(&pool_dir.join("free_bytes"))?,
        })
    } else {
        None
    };
    Ok(Status {
        version: read_value(&root.join("version"))?,
        this_kernel: parse_value(&root.join("kernel_id"))?,
        kernels,
        pool,
    })
}

/// `1.9 GiB`, `512 MiB`: binary units, as `free -h` prints them.
pub fn human_bytes(bytes: u64) -> String {
    const MIB: u64 = 1 << 20;
    const GIB: u64 = 1 << 30;
    if bytes >= GIB {
        format!("{:.1} GiB", bytes as f64 / GIB as f64)
    } else if bytes >= MIB {
        format!("{} MiB", bytes / MIB)
    } else {
        format!("{} KiB", bytes / 1024)
    }
}

/// The table `popcornctl status` prints. The kernel that was asked is marked
/// with `*` after its id.
pub fn render(status: &Status) -> String {
    let rows: Vec<[String; 5]> = status
        .kernels
        .iter()
        .map(|k| {
            let marker = if k.id == status.this_kernel { "*" } else { "" };
            [
                format!("{}{marker}", k.id),
                k.role.clone(),
                k.state.clone(),
                k.cpus.to_string(),
                human_bytes(k.mem_bytes),
            ]
        })
        .collect();
    let header = ["KERNEL", "ROLE", "STATE", "CPUS", "MEMORY"];
    let mut widths = header.map(str::len);
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.len());
        }
    }
    let mut out = format!(
        "popcorn {}, {} kernel(s), this is kernel {}\n",
        status.version,
        status.kernels.len(),
        status.this_kernel
    );
    for row in std::iter::once(header.map(String::from)).chain(rows) {
        let mut line = String::new();
        for (cell, width) in row.iter().zip(widths) {
            let _ = write!(line, "{cell:<width$}  ");
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    match &status.pool {
        Some(pool) => {
            let _ = writeln!(
                out,
                "pool: {} at {}, {} free",
                human_bytes(pool.total_bytes),
                pool.base,
                human_bytes(pool.free_bytes)
            );
        }
        None => out.push_str("pool: none (boot the primary with popcorn.reserve=)\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fake_tree(kernels: &[(&str, &str, &str, &str, &str)]) -> tempfile::TempDir {
        let root = tempfile::tempdir().unwrap();
        fs::write(root.path().join("version"), "0.1.0\n").unwrap();
        fs::write(root.path().join("kernel_id"), "0\n").unwrap();
        for (id, role, state, cpus, mem) in kernels {
            let dir = root.path().join("kernels").join(id);
            fs::create_dir_all(&dir).unwrap();
            for (name, value) in [
                ("id", id),
                ("role", role),
                ("state", state),
                ("cpus", cpus),
                ("mem_bytes", mem),
            ] {
                fs::write(dir.join(name), format!("{value}\n")).unwrap();
            }
        }
        fs::create_dir_all(root.path().join("kernels")).unwrap();
        root
    }

    #[test]
    fn reads_and_renders_the_primary() {
        let root = fake_tree(&[("0", "primary", "running", "0-3", "2083430400")]);
        let status = read_status(root.path()).unwrap();
        assert_eq!(status.this_kernel, 0);
        assert_eq!(status.kernels.len(), 1);
        assert_eq!(status.kernels[0].cpus.len(), 4);
        let table = render(&status);
        assert_eq!(
            table,
            "popcorn 0.1.0, 1 kernel(s), this is kernel 0\n\
             KERNEL  ROLE     STATE    CPUS  MEMORY\n\
             0*      primary  running  0-3   1.9 GiB\n\
             pool: none (boot the primary with popcorn.reserve=)\n"
        );
    }

    #[test]
    fn shows_the_pool_when_there_is_one() {
        let root = fake_tree(&[("0", "primary", "running", "0-3", "1556480000")]);
        let pool = root.path().join("pool");
        fs::create_dir(&pool).unwrap();
        fs::write(pool.join("base"), "0x40000000\n").unwrap();
        fs::write(pool.join("total_bytes"), "536870912\n").unwrap();
        fs::write(pool.join("free_bytes"), "268435456\n").unwrap();
        let status = read_status(root.path()).unwrap();
        assert_eq!(
            status.pool,
            Some(Pool {
                base: "0x40000000".into(),
                total_bytes: 512 << 20,
                free_bytes: 256 << 20
            })
        );
        assert!(render(&status).ends_with("pool: 512 MiB at 0x40000000, 256 MiB free\n"));
    }

    #[test]
    fn sorts_kernels_numerically() {
        let root = fake_tree(&[
            ("10", "secondary", "running", "6-7", "536870912"),
            ("0", "primary", "running", "0-1", "1073741824"),
            ("2", "secondary", "stopped", "", "536870912"),
        ]);
        let ids: Vec<u32> = read_status(root.path())
            .unwrap()
            .kernels
            .iter()
            .map(|k| k.id)
            .collect();
        assert_eq!(ids, [0, 2, 10]);
    }

    #[test]
    fn missing_tree_says_the_module_is_not_loaded() {
        let err = read_status(Path::new("/nonexistent/popcorn")).unwrap_err();
        assert!(matches!(err, StatusError::NotLoaded(_)));
        assert!(err.to_string().contains("is popcorn_msg.ko loaded?"));
    }

    #[test]
    fn malformed_values_are_reported_with_their_file() {
        let root = fake_tree(&[("0", "primary", "running", "0-3", "lots")]);
        let err = read_status(root.path()).unwrap_err();
        assert!(matches!(err, StatusError::Malformed { .. }));
        assert!(err.to_string().contains("mem_bytes"));

        let root = fake_tree(&[("0", "primary", "running", "3-1", "1")]);
        assert!(read_status(root.path())
            .unwrap_err()
            .to_string()
            .contains("cpus"));
    }

    #[test]
    fn human_bytes_uses_binary_units() {
        assert_eq!(human_bytes(512 << 20), "512 MiB");
        assert_eq!(human_bytes(3 << 30), "3.0 GiB");
        assert_eq!(human_bytes(4096), "4 KiB");
    }
}
