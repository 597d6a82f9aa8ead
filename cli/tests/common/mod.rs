//! What the CLI's integration tests share: the binary run from the
//! repository root with a stdin, its exit code and output, no panic, and
//! the checks most tests make on them.
#![allow(dead_code)] // each test file uses a part

use serde_json::Value;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Stdio};

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A file below the repository root, as text.
pub fn read(file: &str) -> String {
    std::fs::read_to_string(root().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"))
}

/// One run of the binary: its arguments, exit code and output.
pub struct Out {
    pub args: Vec<String>,
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// `name(s)`: `field` contains `s` (or lacks it); `what` says otherwise.
macro_rules! checks {
    ($($name:ident: $field:ident $how:ident $what:literal;)*) => {
        $(
            #[track_caller]
            pub fn $name(&self, s: &str) -> &Self {
                self.check(checks!(@ $how self.$field.contains(s)), $what, s)
            }
        )*
    };
    (@ contains $e:expr) => { $e };
    (@ lacks $e:expr) => { !$e };
}

impl Out {
    #[track_caller]
    fn check(&self, ok: bool, what: &str, s: &str) -> &Self {
        assert!(
            ok,
            "{what} {s:?}\nargs: {:?}\nexit: {}\nstdout:\n{}\nstderr:\n{}",
            self.args, self.code, self.stdout, self.stderr
        );
        self
    }
    /// The exit code is `code`.
    #[track_caller]
    pub fn code_is(&self, code: i32) -> &Self {
        self.check(self.code == code, "exit code", &code.to_string())
    }
    checks! {
        stdout_has: stdout contains "stdout lacks";
        stdout_lacks: stdout lacks "stdout has";
        stderr_has: stderr contains "stderr lacks";
        stderr_lacks: stderr lacks "stderr has";
    }
    /// Stdout as one JSON value per line.
    pub fn json(&self) -> Vec<Value> {
        json_lines(&self.stdout)
    }
    /// Stdout as exactly `n` JSON values, one per line.
    #[track_caller]
    pub fn json_n(&self, n: usize) -> Vec<Value> {
        let v = self.json();
        self.check(v.len() == n, "JSON lines on stdout: not", &n.to_string());
        v
    }
}

/// A command line: `cli("decode --arch amd").arg(path).run("")`.
pub struct Cli {
    args: Vec<String>,
    /// The temporary files its arguments name, removed when it is dropped.
    files: Vec<TempFile>,
}

/// The words of `line` (split at whitespace) as the first arguments.
pub fn cli(line: &str) -> Cli {
    Cli {
        args: Vec::new(),
        files: Vec::new(),
    }
    .args(line)
}

impl Cli {
    /// One argument as it is (a path, an empty or spaced string).
    pub fn arg(mut self, a: impl AsRef<str>) -> Self {
        self.args.push(a.as_ref().to_string());
        self
    }
    /// The words of `line`, split at whitespace.
    pub fn args(mut self, line: &str) -> Self {
        self.args
            .extend(line.split_whitespace().map(str::to_string));
        self
    }
    /// The path of a temporary file `name` holding `contents` as the next
    /// argument (`--topology`, `--raw`); the file lives as long as `self`.
    pub fn file(mut self, name: &str, contents: impl AsRef<[u8]>) -> Self {
        let f = TempFile::new(name, contents);
        self.args.push(f.path().to_string());
        self.files.push(f);
        self
    }
    pub fn run(&self, stdin: &str) -> Out {
        run_bytes(&self.args, stdin.as_bytes())
    }
    /// Run with one more argument `a` as it is, and no input.
    pub fn run_arg(self, a: impl AsRef<str>) -> Out {
        self.arg(a).run("")
    }
    pub fn run_bytes(&self, stdin: &[u8]) -> Out {
        run_bytes(&self.args, stdin)
    }
}

pub fn run_bytes<S: AsRef<str>>(args: &[S], stdin: &[u8]) -> Out {
    let args: Vec<String> = args.iter().map(|a| a.as_ref().to_string()).collect();
    let mut child = Command::new(env!("CARGO_BIN_EXE_iommu-inval"))
        .args(&args)
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn iommu-inval");
    let mut sin = child.stdin.take().expect("stdin");
    let data = stdin.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = sin.write_all(&data);
    });
    let out = child.wait_with_output().expect("wait");
    let _ = writer.join();
    let o = Out {
        args,
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    assert!(
        !o.stderr.contains("panicked") && !o.stderr.contains("internal error"),
        "panic for {:?}: {}",
        o.args,
        o.stderr
    );
    o
}

pub fn run<S: AsRef<str>>(args: &[S], stdin: &str) -> Out {
    run_bytes(args, stdin.as_bytes())
}

pub fn json_lines(s: &str) -> Vec<Value> {
    s.lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON: {l}: {e}")))
        .collect()
}

/// The command lines of a stream: comments (`#` to the end of the line)
/// and blank lines left out.
pub fn command_lines(text: &str) -> Vec<String> {
    text.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// A stream's words, little-endian, as a raw queue dump holds them.
pub fn le_bytes(text: &str) -> Vec<u8> {
    let mut bytes = Vec::new();
    for l in command_lines(text) {
        for w in l.split(',') {
            let v = u64::from_str_radix(w.trim().trim_start_matches("0x"), 16)
                .unwrap_or_else(|e| panic!("{l}: {e}"));
            bytes.extend_from_slice(&v.to_le_bytes());
        }
    }
    bytes
}

/// The strings of a JSON array.
pub fn strs(v: &Value) -> Vec<&str> {
    let a = v.as_array().unwrap_or_else(|| panic!("not an array: {v}"));
    a.iter().filter_map(Value::as_str).collect()
}

/// A temporary file, removed (with its directory) on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    /// `dir/name`, in a directory of its own under the system's.
    pub fn new(name: &str, contents: impl AsRef<[u8]>) -> Self {
        let dir = std::env::temp_dir().join(format!("iommu-inval-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temporary directory");
        let p = dir.join(name);
        std::fs::write(&p, contents).expect("write temporary file");
        TempFile(p)
    }
    pub fn path(&self) -> &str {
        self.0.to_str().expect("UTF-8 temporary path")
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if let Some(d) = self.0.parent() {
            let _ = std::fs::remove_dir_all(d);
        }
    }
}
