//! The export step of the wasm build: keeps only the exports a list names and
//! drops the code that only the others reached.
//!
//! Why: a proxy-wasm host calls only the callbacks a module exports, and the
//! Rust SDK exports all of them. Every exported callback the filter does not
//! implement still costs a VM entry per request (`proxy_on_log`,
//! `proxy_on_response_body`, ...). The list is the shell's contract with the
//! host (`src/exports.txt`); a name on the list that the module does not
//! export is an error, so the list cannot silently drift from the code.
//!
//! ```text
//! wasm-exports keep LIST MODULE [OUT]   # rewrite MODULE (or write OUT)
//! wasm-exports list MODULE              # print the exports, one per line
//! ```

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use walrus::{Module, ModuleConfig};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        ["keep", list, module] => keep(Path::new(list), Path::new(module), Path::new(module)),
        ["keep", list, module, out] => keep(Path::new(list), Path::new(module), Path::new(out)),
        ["list", module] => list(Path::new(module)),
        _ => Err("usage: wasm-exports keep LIST MODULE [OUT] | wasm-exports list MODULE".to_owned()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("wasm-exports: {message}");
            ExitCode::FAILURE
        }
    }
}

/// Reads a list file: one export name per line; `#` starts a comment.
fn read_list(path: &Path) -> Result<BTreeSet<String>, String> {
    let text = fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let names: BTreeSet<String> = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or_default().trim())
        .filter(|name| !name.is_empty())
        .map(str::to_owned)
        .collect();
    if names.is_empty() {
        return Err(format!("{}: lists no export", path.display()));
    }
    Ok(names)
}

fn load(path: &Path) -> Result<Module, String> {
    let mut config = ModuleConfig::new();
    // The release build strips symbols; keep it that way.
    config.generate_name_section(false).generate_producers_section(false);
    config.parse_file(path).map_err(|e| format!("{}: {e}", path.display()))
}

fn keep(list: &Path, module_path: &Path, out: &Path) -> Result<(), String> {
    let wanted = read_list(list)?;
    let mut module = load(module_path)?;
    let present: BTreeSet<String> = module.exports.iter().map(|e| e.name.clone()).collect();
    let missing: Vec<&String> = wanted.difference(&present).collect();
    if !missing.is_empty() {
        return Err(format!(
            "{} does not export {missing:?}, which {} lists",
            module_path.display(),
            list.display()
        ));
    }
    let dropped: Vec<_> = module
        .exports
        .iter()
        .filter(|e| !wanted.contains(&e.name))
        .map(|e| e.id())
        .collect();
    for id in &dropped {
        module.exports.delete(*id);
    }
    walrus::passes::gc::run(&mut module);
    let bytes = module.emit_wasm();
    write_atomically(out, &bytes)?;
    eprintln!(
        "wasm-exports: {}: kept {} exports, dropped {}, {} bytes",
        out.display(),
        wanted.len(),
        dropped.len(),
        bytes.len()
    );
    Ok(())
}

fn list(module_path: &Path) -> Result<(), String> {
    let module = load(module_path)?;
    let names: BTreeSet<&str> = module.exports.iter().map(|e| e.name.as_str()).collect();
    for name in names {
        println!("{name}");
    }
    Ok(())
}

/// Writes through a temporary file and a rename, so a reader (or a running
/// Envoy) never sees a half-written module, and a hard link cargo made to its
/// own copy is replaced rather than written through.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), String> {
    let mut tmp = PathBuf::from(path);
    tmp.as_mut_os_string().push(".tmp");
    fs::write(&tmp, bytes).map_err(|e| format!("{}: {e}", tmp.display()))?;
    fs::rename(&tmp, path).map_err(|e| format!("{}: {e}", path.display()))
}
