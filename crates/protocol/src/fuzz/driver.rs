//! The stable fuzz driver: no coverage guidance (that needs nightly: see
//! `fuzz/`), but it runs anywhere `cargo` does. Each target replays its seed
//! corpus, then runs on mutations of it (bit flips, a dictionary of each
//! grammar's tokens, splices, repeats) and on inputs generated from its
//! grammar, for a time budget.

#![allow(clippy::indexing_slicing, clippy::unwrap_used, clippy::expect_used)]

use super::Target;
use alloc::boxed::Box;
use alloc::format;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use std::collections::hash_map::DefaultHasher;
use std::hash::{Hash, Hasher};
use std::panic;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime};

/// Runs `targets` (all, or those named on the command line) for
/// `FUZZ_SECONDS` each (default 10) on the seed corpus
/// `<root>/corpus/<name>/` and its mutations, and for the targets named
/// here, inputs generated from their grammar. Stops at the first failing
/// input, saved to `<root>/artifacts/<name>/crash-<hash>`, with status 1.
/// `FUZZ_SEED` (default: the clock) replays a run.
pub fn run_targets(targets: &[(&'static str, Target)], root: &Path) -> ExitCode {
    let seconds: f64 = std::env::var("FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(10.0);
    let seed: u64 = std::env::var("FUZZ_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(1, |d| d.as_nanos() as u64)
        });
    let wanted: Vec<String> = std::env::args().skip(1).collect();
    if let Some(unknown) = wanted.iter().find(|w| !targets.iter().any(|(n, _)| n == w)) {
        let names: Vec<_> = targets.iter().map(|(n, _)| *n).collect();
        std::eprintln!(
            "unknown fuzz target {unknown:?}; targets: {}",
            names.join(", ")
        );
        return ExitCode::from(2);
    }
    // Quiet panics: a failing input is reported below, once.
    panic::set_hook(Box::new(|_| {}));
    for &(name, target) in targets {
        if !wanted.is_empty() && !wanted.iter().any(|w| w == name) {
            continue;
        }
        let corpus = load_corpus(&root.join("corpus").join(name));
        let mut fuzzer = Fuzzer {
            rng: Rng(seed ^ hash(name.as_bytes()) | 1),
            corpus,
            name,
        };
        let started = Instant::now();
        let budget = Duration::from_secs_f64(seconds);
        let mut runs: u64 = 0;
        // Every seed once, then mutations until the budget is spent.
        let seeds = fuzzer.corpus.clone();
        for input in seeds
            .into_iter()
            .chain(std::iter::from_fn(|| Some(fuzzer.next_input())))
        {
            if let Err(message) = run(target, &input) {
                let path = save_crash(root, name, &input);
                std::eprintln!(
                    "fuzz {name}: FAILED after {runs} runs (seed {seed}): {message}\n  input {:?}\n  saved to {}",
                    String::from_utf8_lossy(&input),
                    path.display()
                );
                return ExitCode::FAILURE;
            }
            runs += 1;
            if runs % 256 == 0 && started.elapsed() >= budget {
                break;
            }
        }
        let secs = started.elapsed().as_secs_f64();
        std::println!(
            "fuzz {name}: {runs} runs in {secs:.1} s ({:.0}/s), seed {seed}, no failure",
            runs as f64 / secs
        );
    }
    ExitCode::SUCCESS
}

fn run(target: Target, input: &[u8]) -> Result<(), String> {
    panic::catch_unwind(|| target(input)).map_err(|payload| {
        payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_else(|| "panic".into())
    })
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

fn save_crash(root: &Path, name: &str, input: &[u8]) -> PathBuf {
    let dir = root.join("artifacts").join(name);
    let path = dir.join(format!("crash-{:016x}", hash(input)));
    if let Err(e) = std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, input)) {
        std::eprintln!("could not save {}: {e}", path.display());
    }
    path
}

fn load_corpus(dir: &Path) -> Vec<Vec<u8>> {
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .collect();
    files.sort();
    let mut corpus: Vec<Vec<u8>> = files.iter().filter_map(|p| std::fs::read(p).ok()).collect();
    if corpus.is_empty() {
        corpus.push(Vec::new());
    }
    corpus
}

/// xorshift64*: small, fast, reproducible from the seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    fn token(&mut self, items: &[&'static [u8]]) -> &'static [u8] {
        items[self.below(items.len())]
    }
}

/// Tokens worth inserting: pieces of every grammar the targets parse.
const DICTIONARY: &[&[u8]] = &[
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b":",
    b",",
    b"\\",
    b"\\u",
    b"\\ud83d\\ude00",
    b"\\ud800",
    b"\\u0000",
    b"\\/",
    b"e",
    b"E+",
    b"-",
    b".",
    b"0",
    b"1e400",
    b"9007199254740993",
    b"-0",
    b"1.0",
    b"true",
    b"null",
    b" ",
    b"\t",
    b"\r\n",
    b"\n",
    b"=",
    b"&",
    b"+",
    b"%",
    b"%2",
    b"%41",
    b"%FF",
    b"%C3%A9",
    b"\xc3\xa9",
    b"\xf0\x9f\x98\x80",
    b"\xff",
    b"--XyZ",
    b"\r\n--XyZ",
    b"--XyZ--",
    b"\r\n\r\n",
    b"Content-Disposition: form-data; name=\"",
    b"; filename=\"",
    b"Content-Type: ",
    b"form-data",
    b"name=",
    b"application/json",
    b"application/x-www-form-urlencoded",
    b"multipart/form-data; boundary=",
    b"text/plain",
    b"+json",
    b";",
    b"Sun, 06 Nov 1994 08:49:37 GMT",
    b"Sunday, 06-Nov-94 08:49:37 GMT",
    b"Sun Nov  6 08:49:37 1994",
    b"GMT",
    b"Feb",
    b"29",
    b"60",
    b"99999999999999999999",
    b"POST\n/p\n",
];

struct Fuzzer {
    rng: Rng,
    corpus: Vec<Vec<u8>>,
    name: &'static str,
}

impl Fuzzer {
    fn next_input(&mut self) -> Vec<u8> {
        let mut input = if self.rng.below(4) == 0 {
            self.generate()
        } else {
            self.rng.pick(&self.corpus).clone()
        };
        for _ in 0..=self.rng.below(8) {
            self.mutate(&mut input);
        }
        // Keep an input now and then, so that mutations build on mutations.
        if self.rng.below(64) == 0 && self.corpus.len() < 4096 {
            self.corpus.push(input.clone());
        }
        input
    }

    fn mutate(&mut self, input: &mut Vec<u8>) {
        let len = input.len();
        match self.rng.below(8) {
            0 if len > 0 => {
                let i = self.rng.below(len);
                input[i] ^= 1 << self.rng.below(8);
            }
            1 if len > 0 => {
                let i = self.rng.below(len);
                input[i] = self.rng.next() as u8;
            }
            2 if len > 0 => {
                let start = self.rng.below(len);
                let end = (start + 1 + self.rng.below(16)).min(len);
                input.drain(start..end);
            }
            3 => {
                let at = self.rng.below(len + 1);
                let token = *self.rng.pick(DICTIONARY);
                input.splice(at..at, token.iter().copied());
            }
            4 if len > 0 => {
                // Repeat a slice (deep nesting, long runs).
                let start = self.rng.below(len);
                let end = (start + 1 + self.rng.below(8)).min(len);
                let piece = input[start..end].to_vec();
                for _ in 0..self.rng.below(64) {
                    input.splice(start..start, piece.iter().copied());
                }
            }
            5 => {
                // Splice in part of another corpus entry.
                let other = self.rng.pick(&self.corpus).clone();
                if !other.is_empty() {
                    let start = self.rng.below(other.len());
                    let end = (start + 1 + self.rng.below(64)).min(other.len());
                    let at = self.rng.below(len + 1);
                    input.splice(at..at, other[start..end].iter().copied());
                }
            }
            6 if len > 1 => {
                // Swap two bytes.
                let (a, b) = (self.rng.below(len), self.rng.below(len));
                input.swap(a, b);
            }
            _ => {
                let at = self.rng.below(len + 1);
                let byte = *self
                    .rng
                    .pick(b"0123456789\"\\{}[],:=&%+-\r\n \x00\x7f\xc3\xff");
                input.insert(at, byte);
            }
        }
        input.truncate(1 << 13);
    }

    /// A well-formed input for the target's grammar, to mutate from.
    fn generate(&mut self) -> Vec<u8> {
        match self.name {
            "json" | "fingerprint" => {
                let mut out = Vec::new();
                if self.name == "fingerprint" {
                    out.extend_from_slice(b"POST\n/api/orgs\n");
                }
                self.json_value(&mut out, 0);
                out
            }
            "urlencoded" => {
                let mut out = Vec::new();
                for i in 0..self.rng.below(6) {
                    if i > 0 {
                        out.push(b'&');
                    }
                    out.extend_from_slice(self.rng.token(&[
                        &b"a"[..],
                        b"b",
                        b"%41",
                        b"+",
                        b"n%C3%A9",
                        b"\xff",
                    ]));
                    out.push(b'=');
                    out.extend_from_slice(self.rng.token(&[
                        &b"1"[..],
                        b"x+y",
                        b"%20",
                        b"%zz",
                        b"",
                    ]));
                }
                out
            }
            "multipart" => {
                let mut out = Vec::new();
                for _ in 0..self.rng.below(4) {
                    out.extend_from_slice(b"--XyZ\r\nContent-Disposition: form-data; name=\"");
                    out.extend_from_slice(self.rng.token(&[&b"a"[..], b"b", b"f", b"%22"]));
                    out.push(b'"');
                    if self.rng.below(2) == 0 {
                        out.extend_from_slice(b"; filename=\"x.txt\"\r\nContent-Type: text/plain");
                    }
                    out.extend_from_slice(b"\r\n\r\n");
                    out.extend_from_slice(self.rng.token(&[
                        &b"v"[..],
                        b"",
                        b"\r\n",
                        b"--XyZ",
                        b"\xff\x00",
                    ]));
                    out.extend_from_slice(b"\r\n");
                }
                out.extend_from_slice(b"--XyZ--\r\n");
                out
            }
            "retry_after" => {
                let mut out = (self.rng.next() % 4_000_000_000_000).to_le_bytes().to_vec();
                let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"];
                let months = [
                    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov",
                    "Dec",
                ];
                let value = format!(
                    "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
                    self.rng.pick(&days),
                    1 + self.rng.below(31),
                    self.rng.pick(&months),
                    1900 + self.rng.below(300),
                    self.rng.below(24),
                    self.rng.below(60),
                    self.rng.below(61)
                );
                out.extend_from_slice(value.as_bytes());
                out
            }
            _ => self.rng.pick(&self.corpus).clone(),
        }
    }

    fn json_value(&mut self, out: &mut Vec<u8>, depth: usize) {
        let kinds = if depth > 4 { 4 } else { 6 };
        match self.rng.below(kinds) {
            0 => out.extend_from_slice(self.rng.token(&[&b"null"[..], b"true", b"false"])),
            1 => {
                let n = self.rng.token(&[
                    &b"0"[..],
                    b"-0",
                    b"1.0",
                    b"1e2",
                    b"-1.5E-7",
                    b"123456789012345678901234",
                    b"0.1",
                    b"5e-324",
                ]);
                out.extend_from_slice(n);
            }
            2 | 3 => {
                out.push(b'"');
                out.extend_from_slice(self.rng.token(&[
                    &b"a"[..],
                    b"\\u0041",
                    b"\\/",
                    b"\\n",
                    b"\xc3\xa9",
                    b"\\ud83d\\ude00",
                    b"",
                ]));
                out.push(b'"');
            }
            4 => {
                out.push(b'[');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.json_value(out, depth + 1);
                }
                out.push(b']');
            }
            _ => {
                out.push(b'{');
                for i in 0..self.rng.below(4) {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'"');
                    out.extend_from_slice(self.rng.token(&[
                        &b"a"[..],
                        b"b",
                        b"\\u0061",
                        b"\xef\xbd\xa1",
                        b"\xf0\x9f\x98\x80",
                    ]));
                    out.extend_from_slice(b"\" : ");
                    self.json_value(out, depth + 1);
                }
                out.push(b'}');
            }
        }
    }
}
