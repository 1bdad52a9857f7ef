//! The instruction lines of a Dockerfile: parser directives (`# escape=`), comments, line
//! continuations, heredoc bodies (skipped), and the context sources of `COPY`, `ADD` and
//! `RUN --mount=type=bind`, with `ARG` defaults and `ENV` values substituted.

use super::{ContextRead, ParseError};
use std::collections::HashMap;

/// The instructions a Dockerfile may hold (an unknown one is an error, as for Docker).
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// One instruction: its first line (1-based), its keyword (upper case) and its arguments.
struct Instruction {
    line: usize,
    keyword: String,
    args: String,
}

/// Every read of the build context in `text`, in order.
pub(super) fn context_reads(text: &str) -> Result<Vec<ContextRead>, ParseError> {
    let mut vars: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for ins in instructions(text)? {
        let err = |message: String| ParseError {
            line: ins.line,
            message,
        };
        match ins.keyword.as_str() {
            "ARG" => {
                for word in ins.args.split_whitespace() {
                    if let Some((k, v)) = word.split_once('=') {
                        vars.insert(k.to_string(), unquote(v).to_string());
                    }
                }
            }
            "ENV" => env(&ins.args, &mut vars),
            "COPY" | "ADD" => {
                if let Some(read) = copy(&ins, &vars).map_err(err)? {
                    out.push(read);
                }
            }
            "RUN" => out.extend(bind_mounts(&ins, &vars).map_err(err)?),
            _ => {}
        }
    }
    Ok(out)
}

/// `ENV k=v k2="v 2"` or the old `ENV k v`.
fn env(args: &str, vars: &mut HashMap<String, String>) {
    let args = args.trim();
    let first = args.split_whitespace().next().unwrap_or("");
    if !first.contains('=') {
        if let Some((k, v)) = args.split_once(char::is_whitespace) {
            vars.insert(k.to_string(), unquote(v.trim()).to_string());
        }
        return;
    }
    for (k, v) in shell_words(args).iter().filter_map(|w| w.split_once('=')) {
        vars.insert(k.to_string(), v.to_string());
    }
}

/// Words split on blanks, double and single quotes grouping (and removed).
fn shell_words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut quote = None;
    let mut any = false;
    for c in s.chars() {
        match (quote, c) {
            (None, '"' | '\'') => {
                quote = Some(c);
                any = true;
            }
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    words.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        words.push(cur);
    }
    words
}

fn unquote(s: &str) -> &str {
    for q in ['"', '\''] {
        if let Some(inner) = s.strip_prefix(q).and_then(|r| r.strip_suffix(q)) {
            return inner;
        }
    }
    s
}

/// Leading `--flag[=value]` words, and the rest.
fn flags(args: &str) -> (Vec<&str>, &str) {
    let mut rest = args.trim_start();
    let mut out = Vec::new();
    while rest.starts_with("--") {
        let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
        out.push(&rest[..end]);
        rest = rest[end..].trim_start();
    }
    (out, rest)
}

/// The context sources of a `COPY` or `ADD`; `None` for a copy from a stage or an image
/// (`--from`), or one whose every source is a URL or a heredoc.
fn copy(ins: &Instruction, vars: &HashMap<String, String>) -> Result<Option<ContextRead>, String> {
    let (flags, rest) = flags(&ins.args);
    if flags.iter().any(|f| f.starts_with("--from")) {
        return Ok(None);
    }
    let words: Vec<String> = match rest.starts_with('[') {
        true => match serde_json::from_str::<Vec<String>>(rest) {
            Ok(list) => list,
            Err(_) => rest.split_whitespace().map(str::to_string).collect(),
        },
        false => rest.split_whitespace().map(str::to_string).collect(),
    };
    if words.len() < 2 {
        return Err(format!("{} needs a source and a destination", ins.keyword));
    }
    let mut sources = Vec::new();
    for word in &words[..words.len() - 1] {
        if word.starts_with("<<") || is_url(word) {
            continue;
        }
        sources.push(expand(word, vars)?);
    }
    if sources.is_empty() {
        return Ok(None);
    }
    Ok(Some(ContextRead {
        line: ins.line,
        instruction: ins.keyword.clone(),
        sources,
    }))
}

fn is_url(s: &str) -> bool {
    ["http://", "https://", "git@", "git://", "ssh://"]
        .iter()
        .any(|p| s.starts_with(p))
}

/// The context sources of `RUN --mount=type=bind,source=…` (a bind mount without `from`; the
/// default type is `bind` and the default source the whole context).
fn bind_mounts(
    ins: &Instruction,
    vars: &HashMap<String, String>,
) -> Result<Vec<ContextRead>, String> {
    let mut out = Vec::new();
    for flag in flags(&ins.args).0 {
        let Some(spec) = flag.strip_prefix("--mount=") else {
            continue;
        };
        let spec = unquote(spec);
        let mut kind = "bind";
        let mut source = ".";
        let mut from = false;
        for (k, v) in spec.split(',').filter_map(|kv| kv.split_once('=')) {
            match k {
                "type" => kind = v,
                "source" | "src" => source = v,
                "from" => from = true,
                _ => {}
            }
        }
        if kind == "bind" && !from {
            out.push(ContextRead {
                line: ins.line,
                instruction: "RUN --mount".into(),
                sources: vec![expand(source, vars)?],
            });
        }
    }
    Ok(out)
}

/// `$NAME`, `${NAME}`, `${NAME:-default}` and `${NAME:+alt}` from the `ARG` defaults and `ENV`
/// values seen so far; `\$` is a dollar. A variable without a value is an error: the source it
/// names is not known.
fn expand(word: &str, vars: &HashMap<String, String>) -> Result<String, String> {
    if !word.contains('$') {
        return Ok(word.to_string());
    }
    let mut out = String::new();
    let mut chars = word.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' && chars.peek() == Some(&'$') {
            out.push('$');
            chars.next();
            continue;
        }
        if c != '$' {
            out.push(c);
            continue;
        }
        let braced = chars.peek() == Some(&'{');
        let mut spec = String::new();
        if braced {
            chars.next();
            for c in chars.by_ref() {
                if c == '}' {
                    break;
                }
                spec.push(c);
            }
        } else {
            while let Some(&c) = chars.peek() {
                if !(c.is_ascii_alphanumeric() || c == '_') {
                    break;
                }
                spec.push(c);
                chars.next();
            }
        }
        let (name, op) = match spec.find(":-").or_else(|| spec.find(":+")) {
            Some(i) => (&spec[..i], Some((&spec[i..i + 2], &spec[i + 2..]))),
            None => (spec.as_str(), None),
        };
        let value = vars.get(name).filter(|v| !v.is_empty());
        match (op, value) {
            (Some((":-", default)), None) => out.push_str(default),
            (Some((":+", _)), None) => {}
            (Some((":+", alt)), Some(_)) => out.push_str(alt),
            (_, Some(v)) => out.push_str(v),
            (_, None) => {
                return Err(format!(
                    "`{word}`: ${name} has no default value here, so the source is not known"
                ));
            }
        }
    }
    Ok(out)
}

/// The escape character of the parser directives at the top (`# escape=`` ` ``), else `\`.
fn escape_char(text: &str) -> char {
    for line in text.lines() {
        let Some(rest) = line.trim().strip_prefix('#') else {
            break;
        };
        let Some((key, value)) = rest.split_once('=') else {
            break;
        };
        let key = key.trim().to_ascii_lowercase();
        if key.contains(char::is_whitespace) {
            break;
        }
        if key == "escape" && value.trim() == "`" {
            return '`';
        }
    }
    '\\'
}

/// The instructions of `text`: continuation lines joined, comments and heredoc bodies left out.
fn instructions(text: &str) -> Result<Vec<Instruction>, ParseError> {
    let escape = escape_char(text);
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate().map(|(i, l)| (i + 1, l));
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut logical = String::new();
        let mut cur = line.trim_end();
        loop {
            match cur.strip_suffix(escape) {
                Some(head) => {
                    logical.push_str(head);
                    logical.push(' ');
                }
                None => {
                    logical.push_str(cur);
                    break;
                }
            }
            // The next line that is no comment or blank (both are allowed in a continuation).
            let next = lines.by_ref().find(|(_, l)| {
                let l = l.trim_start();
                !l.is_empty() && !l.starts_with('#')
            });
            match next {
                Some((_, l)) => cur = l.trim_end(),
                None => break,
            }
        }
        let logical = logical.trim();
        let (word, args) = logical
            .split_once(char::is_whitespace)
            .unwrap_or((logical, ""));
        let keyword = word.to_ascii_uppercase();
        if !INSTRUCTIONS.contains(&keyword.as_str()) {
            return Err(ParseError {
                line: n,
                message: format!("unknown instruction `{word}`"),
            });
        }
        for (strip_tabs, end) in heredocs(&keyword, args) {
            let found = lines.by_ref().any(|(_, l)| {
                let l = if strip_tabs {
                    l.trim_start_matches('\t')
                } else {
                    l
                };
                l == end
            });
            if !found {
                return Err(ParseError {
                    line: n,
                    message: format!("the heredoc `{end}` does not end"),
                });
            }
        }
        out.push(Instruction {
            line: n,
            keyword,
            args: args.to_string(),
        });
    }
    Ok(out)
}

/// The heredocs a `RUN`, `COPY` or `ADD` opens (`<<EOF`, `<<-"EOF"`): whether tabs are
/// stripped, and each terminator.
fn heredocs(keyword: &str, args: &str) -> Vec<(bool, String)> {
    if !matches!(keyword, "RUN" | "COPY" | "ADD") {
        return Vec::new();
    }
    let mut out = Vec::new();
    for word in args.split_whitespace() {
        let Some(rest) = word.strip_prefix("<<") else {
            continue;
        };
        let (tabs, rest) = match rest.strip_prefix('-') {
            Some(r) => (true, r),
            None => (false, rest),
        };
        let name: String = unquote(rest)
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push((tabs, name));
        }
    }
    out
}
