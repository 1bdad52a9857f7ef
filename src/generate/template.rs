//! A tiny template renderer for the files embedded in the binary.
//!
//! The whole language:
//!
//! - `{{ name }}` is replaced by the value of `name` (spaces inside the braces are optional).
//!   Inside a repetition, the current item's values are looked up first, then the global ones.
//! - `{{ "text" }}` is replaced by `text`, which is how a template writes a literal `{{`
//!   (for example `${{ "{{" }} matrix.service }}` for a GitHub Actions expression).
//! - A line holding nothing but `{{#each list}}` starts a repetition of the lines up to the
//!   matching line holding nothing but `{{/each}}`, once per item of `list`. Repetitions nest.
//!   The two tag lines themselves produce no output.
//!
//! An unknown name, an unterminated `{{`, or an unbalanced `{{#each}}` is an error that names the
//! template and the line; nothing is ever silently left empty.

use std::collections::BTreeMap;

/// The values a template can use.
#[derive(Debug, Default, Clone)]
pub struct Vars {
    values: BTreeMap<String, String>,
    lists: BTreeMap<String, Vec<BTreeMap<String, String>>>,
}

impl Vars {
    pub fn new() -> Vars {
        Vars::default()
    }

    /// Set `{{ name }}`.
    pub fn set(&mut self, name: &str, value: impl Into<String>) -> &mut Vars {
        self.values.insert(name.to_string(), value.into());
        self
    }

    /// Set the items `{{#each name}}` repeats over.
    pub fn list(&mut self, name: &str, items: Vec<BTreeMap<String, String>>) -> &mut Vars {
        self.lists.insert(name.to_string(), items);
        self
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("template {template}, line {line}: {message}")]
pub struct TemplateError {
    pub template: String,
    pub line: usize,
    pub message: String,
}

#[derive(Debug)]
enum Node<'t> {
    /// One line of text (with its line ending), 1-based line number.
    Line(&'t str, usize),
    Each {
        list: &'t str,
        line: usize,
        body: Vec<Node<'t>>,
    },
}

/// Render `template` (called `name` in errors) with `vars`.
pub fn render(name: &str, template: &str, vars: &Vars) -> Result<String, TemplateError> {
    let err = |line: usize, message: String| TemplateError {
        template: name.to_string(),
        line,
        message,
    };
    let nodes = parse(template).map_err(|(line, message)| err(line, message))?;
    let mut out = String::with_capacity(template.len());
    let mut scopes: Vec<&BTreeMap<String, String>> = vec![&vars.values];
    emit(&nodes, vars, &mut scopes, &mut out).map_err(|(line, message)| err(line, message))?;
    Ok(out)
}

type Failure = (usize, String);

fn block_tag(line: &str) -> Option<&str> {
    let t = line.trim();
    let inner = t.strip_prefix("{{")?.strip_suffix("}}")?.trim();
    (inner.starts_with('#') || inner.starts_with('/')).then_some(inner)
}

fn parse(template: &str) -> Result<Vec<Node<'_>>, Failure> {
    // A stack of open repetitions: (list, line, body so far).
    let mut stack: Vec<(&str, usize, Vec<Node<'_>>)> = vec![("", 0, Vec::new())];
    for (i, line) in template.split_inclusive('\n').enumerate() {
        let number = i + 1;
        match block_tag(line) {
            Some(tag) if tag.starts_with('#') => {
                let mut words = tag[1..].split_whitespace();
                match (words.next(), words.next(), words.next()) {
                    (Some("each"), Some(list), None) => stack.push((list, number, Vec::new())),
                    _ => return Err((number, format!("unknown block `{{{{{tag}}}}}`"))),
                }
            }
            Some(tag) => {
                if tag != "/each" {
                    return Err((number, format!("unknown block end `{{{{{tag}}}}}`")));
                }
                if stack.len() == 1 {
                    return Err((number, "`{{/each}}` without `{{#each}}`".into()));
                }
                let (list, line, body) = stack.pop().expect("checked above");
                stack
                    .last_mut()
                    .expect("the root is never popped")
                    .2
                    .push(Node::Each { list, line, body });
            }
            None => stack
                .last_mut()
                .expect("the root is never popped")
                .2
                .push(Node::Line(line, number)),
        }
    }
    if stack.len() > 1 {
        let (list, line, _) = stack.pop().expect("checked above");
        return Err((line, format!("`{{{{#each {list}}}}}` is never closed")));
    }
    Ok(stack.pop().expect("the root").2)
}

fn emit<'v>(
    nodes: &[Node<'_>],
    vars: &'v Vars,
    scopes: &mut Vec<&'v BTreeMap<String, String>>,
    out: &mut String,
) -> Result<(), Failure> {
    for node in nodes {
        match node {
            Node::Line(text, line) => expand(text, *line, scopes, out)?,
            Node::Each { list, line, body } => {
                let items = vars
                    .lists
                    .get(*list)
                    .ok_or_else(|| (*line, format!("unknown list `{list}`")))?;
                for item in items {
                    scopes.push(item);
                    let result = emit(body, vars, scopes, out);
                    scopes.pop();
                    result?;
                }
            }
        }
    }
    Ok(())
}

fn expand(
    mut text: &str,
    line: usize,
    scopes: &[&BTreeMap<String, String>],
    out: &mut String,
) -> Result<(), Failure> {
    while let Some(start) = text.find("{{") {
        out.push_str(&text[..start]);
        let rest = &text[start + 2..];
        let end = rest
            .find("}}")
            .ok_or_else(|| (line, "unterminated `{{`".to_string()))?;
        let expr = rest[..end].trim();
        if let Some(literal) = expr
            .strip_prefix('"')
            .and_then(|e| e.strip_suffix('"'))
            .filter(|_| expr.len() >= 2)
        {
            out.push_str(literal);
        } else {
            let value = scopes
                .iter()
                .rev()
                .find_map(|s| s.get(expr))
                .ok_or_else(|| (line, format!("unknown name `{expr}`")))?;
            out.push_str(value);
        }
        text = &rest[end + 2..];
    }
    out.push_str(text);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn substitutes_names_and_keeps_everything_else() {
        let mut vars = Vars::new();
        vars.set("who", "world").set("n", "2");
        let out = render("t", "hello {{who}}, {{ n }} ${X}\r\nlast", &vars).unwrap();
        assert_eq!(out, "hello world, 2 ${X}\r\nlast");
    }

    #[test]
    fn literal_braces() {
        let out = render("t", "${{ \"{{\" }} matrix.service }}\n", &Vars::new()).unwrap();
        assert_eq!(out, "${{ matrix.service }}\n");
    }

    #[test]
    fn repeats_lines_per_item_with_item_values_first() {
        let mut vars = Vars::new();
        vars.set("name", "global").set("port", "9100").list(
            "services",
            vec![item(&[("name", "users")]), item(&[("name", "orders")])],
        );
        let template =
            "start {{name}}\n  {{#each services}}\n- {{name}}:{{port}}\n{{/each}}\nend\n";
        let out = render("t", template, &vars).unwrap();
        assert_eq!(out, "start global\n- users:9100\n- orders:9100\nend\n");
    }

    #[test]
    fn nested_repetitions() {
        let mut vars = Vars::new();
        vars.list("a", vec![item(&[("x", "1")]), item(&[("x", "2")])])
            .list("b", vec![item(&[("y", "p")]), item(&[("y", "q")])]);
        let template = "{{#each a}}\n{{#each b}}\n{{x}}{{y}}\n{{/each}}\n{{/each}}\n";
        assert_eq!(render("t", template, &vars).unwrap(), "1p\n1q\n2p\n2q\n");
    }

    #[test]
    fn errors_name_the_template_and_line() {
        let vars = Vars::new();
        let e = render("Dockerfile", "a\n{{ nope }}\n", &vars).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template Dockerfile, line 2: unknown name `nope`"
        );
        let e = render("t", "a {{ b\n", &vars).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (1, "unterminated `{{`"));
        let e = render("t", "x\n{{#each s}}\n", &vars).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("never closed"), "{e}");
        let e = render("t", "{{/each}}\n", &vars).unwrap_err();
        assert!(e.message.contains("without"), "{e}");
        let e = render("t", "{{#each s}}\n{{/each}}\n", &vars).unwrap_err();
        assert_eq!(e.message, "unknown list `s`");
        let e = render("t", "{{#if s}}\n", &vars).unwrap_err();
        assert!(e.message.contains("unknown block"), "{e}");
    }
}
