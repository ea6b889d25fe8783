//! The Dockerfile: the builder's toolchain builds the locked release, the runtime runs
//! commands ragwatch has, and the build context holds every file the build needs.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value as Json;

use super::{assert_ragwatch_accepts, read, repo, run_ok};

/// One instruction: keyword and its arguments, continuation lines joined.
fn dockerfile() -> Vec<(String, String)> {
    let mut instructions = Vec::new();
    let mut pending = String::new();
    for line in read("Dockerfile").lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('#') || (trimmed.is_empty() && pending.is_empty()) {
            continue;
        }
        if let Some(head) = trimmed.strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(trimmed);
        let (keyword, rest) = pending.split_once(' ').unwrap();
        instructions.push((keyword.to_ascii_uppercase(), rest.trim().to_owned()));
        pending.clear();
    }
    instructions
}

/// A JSON (exec form) argument list.
fn exec_form(args: &str) -> Vec<String> {
    serde_json::from_str(args).unwrap_or_else(|e| panic!("not exec form: {args}: {e}"))
}

pub(super) fn dockerfile_user() -> u64 {
    let instructions = dockerfile();
    let (_, user) = instructions.iter().rfind(|(k, _)| k == "USER").unwrap();
    user.split(':')
        .next()
        .unwrap()
        .parse()
        .expect("a numeric USER")
}

/// `1.89` as `[1, 89, 0]`, comparable with `1.88.1`.
fn version(text: &str) -> [u64; 3] {
    let mut parts = text.split('.').map(|part| part.parse().unwrap());
    [0; 3].map(|_| parts.next().unwrap_or(0))
}

/// Whether a `.dockerignore` pattern (no `**`) excludes this path or one of its parents.
fn ignored(patterns: &[String], path: &Path) -> bool {
    let parts: Vec<String> = path
        .iter()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    let mut excluded = false;
    for pattern in patterns {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(rest) => (true, rest),
            None => (false, pattern.as_str()),
        };
        assert!(
            !pattern.contains("**"),
            "`**` is not handled here: {pattern}"
        );
        let segments: Vec<&str> = pattern.trim_matches('/').split('/').collect();
        let matches =
            segments.len() <= parts.len() && segments.iter().zip(&parts).all(|(s, p)| glob(s, p));
        if matches {
            excluded = !negated;
        }
    }
    excluded
}

/// `*` and `?` within one path component.
fn glob(pattern: &str, name: &str) -> bool {
    match pattern.chars().next() {
        None => name.is_empty(),
        Some('*') => (0..=name.len())
            .filter(|i| name.is_char_boundary(*i))
            .any(|i| glob(&pattern[1..], &name[i..])),
        Some('?') => name
            .chars()
            .next()
            .is_some_and(|c| glob(&pattern[1..], &name[c.len_utf8()..])),
        Some(c) => name.starts_with(c) && glob(&pattern[c.len_utf8()..], &name[c.len_utf8()..]),
    }
}

/// Copies what `COPY <src> <dst>` sends from the build context, minus the ignored.
fn copy_context(src: &Path, dst: &Path, patterns: &[String]) {
    let from = repo(src.to_str().unwrap());
    assert!(
        from.exists(),
        "COPY {}: not in the repository",
        src.display()
    );
    assert!(
        !ignored(patterns, src),
        "COPY {}: excluded by .dockerignore",
        src.display()
    );
    if from.is_dir() {
        std::fs::create_dir_all(dst).unwrap();
        for entry in std::fs::read_dir(&from).unwrap() {
            let name = entry.unwrap().file_name();
            let inner = src.join(&name);
            if !ignored(patterns, &inner) {
                copy_context(&inner, &dst.join(&name), patterns);
            }
        }
    } else {
        std::fs::create_dir_all(dst.parent().unwrap()).unwrap();
        std::fs::copy(&from, dst).unwrap();
    }
}

/// The files `include_str!`/`include_bytes!` name in the Rust sources under `dir`.
fn included_files(dir: &Path, found: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            included_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let source = std::fs::read_to_string(&path).unwrap();
            for macro_name in ["include_str!(\"", "include_bytes!(\""] {
                for (at, _) in source.match_indices(macro_name) {
                    let rest = &source[at + macro_name.len()..];
                    let relative = &rest[..rest.find('"').unwrap()];
                    found.push(path.parent().unwrap().join(relative));
                }
            }
        }
    }
}

#[test]
fn the_dockerfile_builds_the_locked_release_and_runs_commands_that_exist() {
    let instructions = dockerfile();
    let stages: Vec<usize> = instructions
        .iter()
        .enumerate()
        .filter(|(_, (k, _))| k == "FROM")
        .map(|(i, _)| i)
        .collect();
    assert_eq!(stages.len(), 2, "a build stage and a runtime stage");
    let build_stage = &instructions[stages[0]..stages[1]];
    let runtime_stage = &instructions[stages[1]..];
    let from: Vec<&str> = build_stage[0].1.split_whitespace().collect();
    assert_eq!(from.len(), 3, "FROM image AS name: {from:?}");
    let stage_name = from[2];

    // The builder's toolchain is new enough for every locked crate.
    let (image, tag) = from[0].split_once(':').unwrap();
    assert_eq!(image, "rust");
    let (toolchain, builder_debian) = tag.split_once('-').unwrap();
    let metadata: Json = serde_json::from_str(&run_ok(
        Command::new(env!("CARGO"))
            .args(["metadata", "--locked", "--offline", "--format-version", "1"])
            .arg(format!(
                "--filter-platform={}-unknown-{}-gnu",
                std::env::consts::ARCH,
                std::env::consts::OS
            ))
            .current_dir(repo("")),
    ))
    .unwrap();
    let needed = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|p| p["rust_version"].as_str())
        .map(version)
        .max()
        .unwrap();
    assert!(
        version(toolchain) >= needed,
        "rust:{toolchain} is older than {needed:?}"
    );

    // The runtime has the glibc the binary was linked against.
    let runtime_from = &runtime_stage[0].1;
    let (runtime_image, runtime_tag) = runtime_from.split_once(':').unwrap();
    assert_eq!(runtime_image, "debian");
    assert_eq!(runtime_tag.split('-').next().unwrap(), builder_debian);

    let runs: Vec<&str> = build_stage
        .iter()
        .filter(|(k, _)| k == "RUN")
        .map(|(_, v)| v.as_str())
        .collect();
    let build_run = runs
        .iter()
        .find(|r| r.contains("cargo build --release --locked"))
        .expect("cargo build --release --locked");
    assert!(build_run.contains("target/release/ragwatch"));

    // The binary copied from the build stage is the one the build wrote, and the entry
    // point finds it.
    let (_, copy) = runtime_stage
        .iter()
        .find(|(k, v)| k == "COPY" && v.starts_with(&format!("--from={stage_name} ")))
        .expect("COPY --from the build stage");
    let copy: Vec<&str> = copy.split_whitespace().collect();
    assert!(
        build_run.contains(copy[1]),
        "{} is not what the build wrote",
        copy[1]
    );
    let installed = Path::new(copy[2]);
    let entrypoint = exec_form(
        &runtime_stage
            .iter()
            .rfind(|(k, _)| k == "ENTRYPOINT")
            .unwrap()
            .1,
    );
    let cmd = exec_form(&runtime_stage.iter().rfind(|(k, _)| k == "CMD").unwrap().1);
    let on_path = ["/usr/local/bin", "/usr/bin", "/bin"]
        .iter()
        .any(|dir| installed.parent() == Some(Path::new(dir)));
    assert!(
        Path::new(&entrypoint[0]) == installed
            || (on_path && installed.file_name().unwrap() == entrypoint[0].as_str()),
        "ENTRYPOINT {entrypoint:?} does not run {}",
        installed.display()
    );

    // ENTRYPOINT + CMD and the HEALTHCHECK are commands ragwatch has.
    let served: Vec<&str> = entrypoint[1..]
        .iter()
        .chain(&cmd)
        .map(String::as_str)
        .collect();
    assert_eq!(served.first(), Some(&"serve"));
    assert_ragwatch_accepts(&served);
    let (_, healthcheck) = runtime_stage
        .iter()
        .find(|(k, _)| k == "HEALTHCHECK")
        .unwrap();
    let probe = exec_form(healthcheck.split_once("CMD ").unwrap().1);
    assert!(
        Path::new(&probe[0]) == installed || probe[0] == entrypoint[0],
        "{probe:?}"
    );
    assert_eq!(
        probe[1], "healthcheck",
        "ragwatch's own health, not a probe round"
    );
    assert_ragwatch_accepts(&probe[1..].iter().map(String::as_str).collect::<Vec<_>>());

    // The system's certificate store the TLS clients trust is in the image, installed
    // before the user drops root.
    let installs_roots = runtime_stage
        .iter()
        .position(|(k, v)| {
            k == "RUN" && v.contains("apt-get install") && v.contains("ca-certificates")
        })
        .expect("the runtime stage installs ca-certificates");
    let user = runtime_stage
        .iter()
        .rposition(|(k, _)| k == "USER")
        .unwrap();
    assert!(
        installs_roots < user,
        "ca-certificates is installed as root"
    );

    let (_, expose) = runtime_stage.iter().find(|(k, _)| k == "EXPOSE").unwrap();
    let default: std::net::SocketAddr = ragwatch::config::DEFAULT_LISTEN.parse().unwrap();
    assert_eq!(expose.parse::<u16>().unwrap(), default.port());

    // The build context the build stage copies is enough: cargo accepts the manifest and
    // lock file as they are, and every file the sources include is there.
    let patterns: Vec<String> = read(".dockerignore")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_owned)
        .collect();
    let context = tempfile::tempdir().unwrap();
    let (_, workdir) = build_stage.iter().rfind(|(k, _)| k == "WORKDIR").unwrap();
    for (_, args) in build_stage.iter().filter(|(k, _)| k == "COPY") {
        let args: Vec<&str> = args.split_whitespace().collect();
        let (sources, target) = args.split_at(args.len() - 1);
        let target = Path::new(workdir).join(target[0]);
        let target = target.strip_prefix(workdir).unwrap();
        for source in sources {
            let destination = if sources.len() > 1 || target.as_os_str().is_empty() {
                context.path().join(target).join(source)
            } else {
                context.path().join(target)
            };
            copy_context(Path::new(source), &destination, &patterns);
        }
    }
    run_ok(
        Command::new(env!("CARGO"))
            .args(["metadata", "--locked", "--offline", "--format-version", "1"])
            .arg(format!(
                "--filter-platform={}-unknown-{}-gnu",
                std::env::consts::ARCH,
                std::env::consts::OS
            ))
            .current_dir(context.path()),
    );
    let mut included = Vec::new();
    included_files(&context.path().join("src"), &mut included);
    assert!(!included.is_empty());
    for file in included {
        assert!(
            file.exists(),
            "{} is not in the build context",
            file.display()
        );
    }
}
