//! The documents point only at files the repository holds (issue 10: the README, `--help`, the
//! fixtures' README, both schemas and source comments named the host team's contract file, which
//! was never in the repository), and the protocol version reads the same wherever
//! docs/protocol.md says it is stated.
//!
//! Checked in every Markdown file of the repository: each relative link (`[text](path#anchor)`,
//! `[name]: path`) must resolve, from the file that holds it, to a file or folder inside the
//! repository, and its anchor to a heading of the Markdown file it names; each code span that is a
//! path to a `.md`, `.json`, `.yml`, `.py` or `.sh` file must name one, from that file's folder, the
//! repository root or (a bare file name) anywhere in the repository. Fenced blocks are not read
//! here: `tests/examples.rs` runs them.

use crate::util::binary;
use std::collections::{BTreeSet, HashSet};
use std::path::{Path, PathBuf};

const REPOSITORY: &str = env!("CARGO_MANIFEST_DIR");
/// A code span naming a file with one of these extensions is taken as a path in the repository.
const EXTENSIONS: [&str; 5] = ["md", "json", "yml", "py", "sh"];
/// Paths the documents name that a build writes, not the repository.
const GENERATED: [&str; 2] = [
    "out/",          // bash xsoar/build-pack.sh out
    "ReleaseNotes/", // inside the pack build-pack.sh generates
];
/// Folders outside the repository proper: .gitignore's and fuzz/.gitignore's, and git's own.
const NOT_IN_REPOSITORY: [&str; 6] = [".git", "target", "__pycache__", "corpus", "artifacts", "coverage"];
/// Documents that live outside the repository (split so this file does not name them itself).
const OUTSIDE_DOCUMENTS: [&str; 3] = [
    concat!("CONTRACT", ".md"),
    concat!("xsoar-reference", ".md"),
    concat!("rust-stack", ".md"),
];

/// One place a document points at: its line, and the target as written.
#[derive(Debug, PartialEq)]
struct Reference {
    line: usize,
    target: String,
    /// A link (resolved from the document's folder) or a code span (looked up more widely).
    link: bool,
}

/// The repository: its root and every file in it, by path relative to the root.
struct Repository {
    root: PathBuf,
    files: Vec<PathBuf>,
}

impl Repository {
    fn read() -> Repository {
        let root = Path::new(REPOSITORY).canonicalize().expect("the repository folder");
        let mut files = Vec::new();
        walk(&root, &root, &mut files);
        Repository { root, files }
    }

    /// `relative` from the folder `from` (both relative to the root), if it exists inside.
    fn resolve(&self, from: &Path, relative: &str) -> Option<PathBuf> {
        let found = self.root.join(from).join(relative).canonicalize().ok()?;
        found.starts_with(&self.root).then_some(found)
    }

    fn holds_file_named(&self, name: &str) -> bool {
        self.files.iter().any(|f| f.file_name().is_some_and(|n| n == name))
    }
}

fn walk(root: &Path, folder: &Path, files: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(folder).expect("a readable folder");
    for entry in entries.map(|e| e.expect("a folder entry")) {
        let kind = entry.file_type().expect("a file type");
        let name = entry.file_name();
        if kind.is_dir() && !NOT_IN_REPOSITORY.iter().any(|n| name == *n) {
            walk(root, &entry.path(), files);
        } else if kind.is_file() {
            files.push(entry.path().strip_prefix(root).expect("inside").to_path_buf());
        }
    }
}

/// The text outside fenced blocks, one entry per line (fence lines and their content empty).
fn prose_lines(text: &str) -> Vec<&str> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for line in text.lines() {
        let trimmed = line.trim_start();
        let marker = ["```", "~~~"].into_iter().find(|m| trimmed.starts_with(m));
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m && trimmed.trim_end() == m => fence = None,
            _ => {}
        }
        lines.push(if fence.is_some() || marker.is_some() { "" } else { line });
    }
    lines
}

/// The links and code spans of a Markdown text. A code span opens with a run of backticks and
/// closes with a run of the same length, within its paragraph (CommonMark's rule).
fn references(text: &str) -> Vec<Reference> {
    let lines = prose_lines(text);
    let mut found = definitions(&lines);
    let mut start = 0;
    for paragraph in lines.split(|l| l.trim().is_empty()) {
        let joined = paragraph.join("\n");
        let line_of = |offset: usize| start + 1 + joined[..offset].matches('\n').count();
        let mut rest = 0;
        for (open, close, span) in code_spans(&joined) {
            links(&joined[rest..open], rest, &line_of, &mut found);
            found.push(Reference {
                line: line_of(open),
                target: span.trim().to_string(),
                link: false,
            });
            rest = close;
        }
        links(&joined[rest..], rest, &line_of, &mut found);
        start += paragraph.len() + 1;
    }
    found
}

/// Reference-style link definitions, `[name]: target`, one per line.
fn definitions(lines: &[&str]) -> Vec<Reference> {
    let target = |line: &str| {
        let definition = line.trim_start().strip_prefix('[')?.split_once("]:")?.1;
        definition.split_whitespace().next().map(str::to_string)
    };
    let numbered = lines.iter().enumerate();
    numbered
        .filter_map(|(n, line)| {
            target(line).map(|target| Reference {
                line: n + 1,
                target,
                link: true,
            })
        })
        .collect()
}

/// (start, end, content) of each code span.
fn code_spans(text: &str) -> Vec<(usize, usize, &str)> {
    let mut spans = Vec::new();
    let mut at = 0;
    while let Some(open) = text[at..].find('`').map(|i| at + i) {
        let run = text[open..].chars().take_while(|c| *c == '`').count();
        let fence = "`".repeat(run);
        let body = open + run;
        let close = text[body..]
            .match_indices(fence.as_str())
            .map(|(i, _)| body + i)
            .find(|&i| !text[i + run..].starts_with('`') && (i == body || !text[..i].ends_with('`')));
        match close {
            Some(close) => {
                spans.push((open, close + run, &text[body..close]));
                at = close + run;
            }
            None => at = body,
        }
    }
    spans
}

/// Inline links, `[text](target "title")`, in prose.
fn links(text: &str, offset: usize, line_of: &dyn Fn(usize) -> usize, found: &mut Vec<Reference>) {
    for (i, _) in text.match_indices("](") {
        let inner = &text[i + 2..];
        let target = inner[..inner.find(')').unwrap_or(inner.len())]
            .split_whitespace()
            .next();
        if let Some(target) = target {
            found.push(Reference {
                line: line_of(offset + i),
                target: target.to_string(),
                link: true,
            });
        }
    }
}

/// GitHub's anchor for a heading: lower case, spaces to hyphens, other punctuation dropped.
fn slug(heading: &str) -> String {
    let kept = heading.trim().to_lowercase();
    kept.chars()
        .filter(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | ' '))
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a Markdown text's headings (a repeated heading gets `-1`, `-2`, as on GitHub).
fn anchors(text: &str) -> HashSet<String> {
    let mut seen = HashSet::new();
    for line in prose_lines(text) {
        let heading = line.strip_prefix('#').map(|h| h.trim_start_matches('#'));
        let Some(heading) = heading.filter(|h| h.is_empty() || h.starts_with(' ')) else {
            continue;
        };
        let base = slug(heading.trim_end_matches('#'));
        let mut unique = (0..).map(|n| if n == 0 { base.clone() } else { format!("{base}-{n}") });
        let anchor = unique.find(|a| !seen.contains(a)).expect("a free anchor");
        seen.insert(anchor);
    }
    seen
}

/// A code span that names a file of the repository: one plain path with a checked extension.
fn is_repository_path(span: &str) -> bool {
    let plain = span
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/'));
    let extension = Path::new(span).extension().and_then(|e| e.to_str());
    plain && !span.starts_with('-') && extension.is_some_and(|e| EXTENSIONS.contains(&e))
}

/// What is wrong with one reference of `document` (a path relative to the root), if anything.
fn problem(repository: &Repository, document: &Path, text: &str, reference: &Reference) -> Option<String> {
    let folder = document.parent().unwrap_or(Path::new(""));
    let target = reference.target.as_str();
    if !reference.link {
        return missing_path(repository, folder, target).then(|| format!("`{target}` is not in the repository"));
    }
    if target.contains("://") || target.starts_with("mailto:") {
        return None;
    }
    let (path, anchor) = target.split_once('#').unwrap_or((target, ""));
    if path.is_empty() {
        return (!anchors(text).contains(anchor)).then(|| format!("link to {target}: no such heading"));
    }
    let Some(file) = repository.resolve(folder, path) else {
        return Some(format!("link to {path}, which is not in the repository"));
    };
    if anchor.is_empty() || file.extension().is_none_or(|e| e != "md") {
        return None;
    }
    let linked = std::fs::read_to_string(&file).unwrap_or_default();
    (!anchors(&linked).contains(anchor)).then(|| format!("link to {target}: no such heading"))
}

/// True when a code span is a repository path that is neither generated nor found: from the
/// document's folder, from the root, or for a bare file name anywhere.
fn missing_path(repository: &Repository, folder: &Path, span: &str) -> bool {
    if !is_repository_path(span) || GENERATED.iter().any(|g| span.starts_with(g)) {
        return false;
    }
    let found = repository.resolve(folder, span).is_some()
        || repository.resolve(Path::new(""), span).is_some()
        || (!span.contains('/') && repository.holds_file_named(span));
    !found
}

/// Every problem of one document, as `path:line: problem`.
fn problems(repository: &Repository, document: &Path, text: &str) -> Vec<String> {
    let at = |r: &Reference| format!("{}:{}", document.display(), r.line);
    references(text)
        .iter()
        .filter_map(|r| problem(repository, document, text, r).map(|p| format!("{}: {p}", at(r))))
        .collect()
}

#[test]
fn every_link_and_path_in_the_documents_is_in_the_repository() {
    let repository = Repository::read();
    let documents: Vec<&PathBuf> = repository
        .files
        .iter()
        .filter(|f| f.extension().is_some_and(|e| e == "md"))
        .collect();
    for required in ["README.md", "fixtures/README.md", "docs/protocol.md", "BENCHMARKS.md"] {
        assert!(
            documents.iter().any(|d| d.as_path() == Path::new(required)),
            "{required} is checked"
        );
    }
    let mut found = Vec::new();
    for document in documents {
        let text = std::fs::read_to_string(repository.root.join(document)).expect("a UTF-8 document");
        found.extend(problems(&repository, document, &text));
    }
    assert!(
        found.is_empty(),
        "documents point outside the repository:\n{}",
        found.join("\n")
    );
}

/// The bug itself: a code span and a link to files that are not there, in a document at the root.
#[test]
fn a_document_that_is_not_there_is_caught() {
    let repository = Repository::read();
    let contract = OUTSIDE_DOCUMENTS[0];
    let text = format!(
        "# Title\n\nThe contract is `{contract}`; see [it]({contract}), [the parent](..),\n\
         [a heading](README.md#no-such-heading), [here](#title), [there](#nowhere) and\n\
         [the schema](schema/result.schema.json#x).\n\n```sh\ncat {contract}\n```\n\n\
         `out/generated.yml`, `xsoar/build-pack.sh`, `build_pack.py` and `cargo test {contract}` are fine."
    );
    let found = problems(&repository, Path::new("README.md"), &text);
    let expected = [
        format!("README.md:3: `{contract}` is not in the repository"),
        format!("README.md:3: link to {contract}, which is not in the repository"),
        "README.md:3: link to .., which is not in the repository".to_string(),
        "README.md:4: link to README.md#no-such-heading: no such heading".to_string(),
        "README.md:4: link to #nowhere: no such heading".to_string(),
    ];
    assert_eq!(found, expected);
}

#[test]
fn no_file_names_a_document_outside_the_repository() {
    let repository = Repository::read();
    let mut found = BTreeSet::new();
    for file in &repository.files {
        let bytes = std::fs::read(repository.root.join(file)).expect("a readable file");
        for name in OUTSIDE_DOCUMENTS {
            if bytes.windows(name.len()).any(|w| w == name.as_bytes()) {
                found.insert(format!("{} names {name}", file.display()));
            }
        }
    }
    assert!(
        found.is_empty(),
        "point these at docs/protocol.md or drop them: {found:#?}"
    );
}

#[test]
fn references_are_read_from_links_and_code_spans_outside_fences() {
    let link = |line, target: &str| Reference {
        line,
        target: target.into(),
        link: true,
    };
    let span = |line, target: &str| Reference {
        line,
        target: target.into(),
        link: false,
    };
    let cases = [
        ("[a](x.md) and `y.json`", vec![link(1, "x.md"), span(1, "y.json")]),
        (
            "[a](x.md \"title\") `[b](not-a-link.md)`",
            vec![link(1, "x.md"), span(1, "[b](not-a-link.md)")],
        ),
        ("one\n`a\nb.md` two", vec![span(2, "a\nb.md")]),
        ("``a ` b``", vec![span(1, "a ` b")]),
        ("a ` lone backtick", vec![]),
        ("```\n[a](x.md)\n```\n\n`z.sh`", vec![span(5, "z.sh")]),
        ("[name]: docs/x.md", vec![link(1, "docs/x.md")]),
    ];
    for (text, expected) in cases {
        assert_eq!(references(text), expected, "{text:?}");
    }
}

#[test]
fn paths_and_anchors() {
    let paths = [
        ("schema/result.schema.json", true),
        ("docs/not-there.md", true),
        ("bash xsoar/build-pack.sh out", false),
        ("*.json", false),
        ("{base}/x.md", false),
        ("--pretty", false),
        ("src/main.rs", false),
    ];
    for (span, expected) in paths {
        assert_eq!(is_repository_path(span), expected, "{span}");
    }
    let headings = [
        ("1. Invocation and exit status", "1-invocation-and-exit-status"),
        (
            "4. Instance parameters and the engine's environment",
            "4-instance-parameters-and-the-engines-environment",
        ),
        (
            "fetch-incidents: lossless and duplicate-free",
            "fetch-incidents-lossless-and-duplicate-free",
        ),
        (
            "Lists: limit, next_link, filters, tables",
            "lists-limit-next_link-filters-tables",
        ),
        ("`ca_file` — trust", "ca_file--trust"),
    ];
    for (heading, expected) in headings {
        assert_eq!(slug(heading), expected, "{heading}");
    }
    assert_eq!(
        anchors("# A\n## A\n```\n# not a heading\n```"),
        HashSet::from(["a".to_string(), "a-1".to_string()])
    );
}

/// docs/protocol.md's title says the version; `--version`, `--help`, the schemas' `$id` and the
/// README's protocol section say the same.
#[test]
fn the_protocol_version_is_stated_alike_everywhere() {
    let read = |path: &str| std::fs::read_to_string(Path::new(REPOSITORY).join(path)).expect(path);
    let protocol = read("docs/protocol.md");
    let title = protocol.lines().next().unwrap_or_default();
    let version = title
        .strip_prefix("# The host protocol, version ")
        .expect("the title names the version");
    assert!(version.parse::<u32>().is_ok(), "{title}");
    for schema in ["schema/envelope.schema.json", "schema/result.schema.json"] {
        let id: serde_json::Value = serde_json::from_str(&read(schema)).expect(schema);
        let id = id["$id"].as_str().unwrap_or_default().to_string();
        assert!(id.contains(&format!("/schema/v{version}/")), "{schema}: {id}");
    }
    let readme = read("README.md");
    let line = readme
        .lines()
        .find(|l| l.contains("](docs/protocol.md)"))
        .expect("README links the protocol");
    assert!(line.contains(&format!("version {version}")), "{line}");
    for (flag, expected) in [
        ("--version", format!("(protocol {version})")),
        ("--help", format!("protocol {version}")),
    ] {
        let output = binary().arg(flag).output().expect("runs");
        let text = String::from_utf8_lossy(&output.stdout);
        assert!(output.status.success() && text.contains(&expected), "{flag}: {text}");
    }
}

/// The README's command table, as integration.yml defines the commands: each command in the
/// order it declares them, with its description's first sentence. Written between the markers
/// by `UPDATE_README=1 cargo test --test integration docs::the_readme`, so it cannot drift.
fn command_table() -> String {
    let text = include_str!("../integration.yml");
    let yml = yaml_rust2::YamlLoader::load_from_str(text).expect("integration.yml is YAML");
    let commands = yml[0]["script"]["commands"].as_vec().expect("script.commands").clone();
    let mut table = String::from("| command | what it does |\n|---|---|\n");
    for command in commands {
        let name = command["name"].as_str().unwrap_or_default();
        let description = command["description"].as_str().unwrap_or_default();
        let first = match description.find(". ") {
            Some(end) => &description[..=end],
            None => description,
        };
        table.push_str(&format!("| `{name}` | {} |\n", first.trim().replace('|', "\\|")));
    }
    table.push_str("| `fetch-incidents` | Turns new risk detections (and, when asked, risky users and service-principal detections) into incidents; run by XSOAR when *Fetch incidents* is checked. |\n");
    table
}

#[test]
fn the_readme_lists_every_command_of_integration_yml() {
    let (start, end) = ("<!-- commands:start -->\n", "<!-- commands:end -->");
    let readme = std::fs::read_to_string(Path::new(REPOSITORY).join("README.md")).expect("README.md");
    let from = readme.find(start).expect("the README has the commands markers") + start.len();
    let to = readme.find(end).expect("the README has the end marker");
    let expected = command_table();
    if std::env::var_os("UPDATE_README").is_some() {
        let updated = format!("{}{expected}{}", &readme[..from], &readme[to..]);
        std::fs::write(Path::new(REPOSITORY).join("README.md"), updated).expect("write README.md");
        return;
    }
    assert_eq!(
        &readme[from..to],
        expected,
        "README.md's command table is not integration.yml's: run UPDATE_README=1 cargo test --test integration docs::the_readme"
    );
}
