use super::*;

fn reads(text: &str) -> Vec<(usize, String, Vec<String>)> {
    context_reads(text)
        .unwrap()
        .into_iter()
        .map(|r| (r.line, r.instruction, r.sources))
        .collect()
}

fn strings(list: &[&str]) -> Vec<String> {
    list.iter().map(|s| s.to_string()).collect()
}

#[test]
fn copy_and_add_sources_with_flags_continuations_and_json() {
    let text = "# syntax=docker/dockerfile:1\n\
                ARG BASE=debian\n\
                FROM ${BASE} AS build\n\
                copy --chown=app:app --chmod=644 --link config/app.toml \\\n\
                \x20   config/log.toml /etc/app/\n\
                COPY [\"assets/a b.txt\", \"/srv/\"]\n\
                ADD https://example.com/x.tar.gz /tmp/\n\
                ADD --checksum=sha256:00 vendor.tar /opt/\n\
                COPY --from=build /out/app /app\n\
                COPY --from=docker.io/library/busybox /bin/sh /bin/sh\n\
                RUN --mount=type=cache,target=/root/.cargo \\\n\
                \x20   --mount=type=bind,source=migrations,target=/m \\\n\
                \x20   --mount=type=bind,from=build,source=/out,target=/o true\n";
    assert_eq!(
        reads(text),
        [
            (
                4,
                "COPY".into(),
                strings(&["config/app.toml", "config/log.toml"])
            ),
            (6, "COPY".into(), strings(&["assets/a b.txt"])),
            (8, "ADD".into(), strings(&["vendor.tar"])),
            (11, "RUN --mount".into(), strings(&["migrations"])),
        ]
    );
}

#[test]
fn comments_blank_lines_in_continuations_escape_directive_and_heredocs() {
    let text = "# escape=`\n\
                FROM scratch\n\
                COPY a.txt `\n\
                # a comment inside\n\
                \n\
                \x20 b.txt /x/\n\
                RUN <<EOF\n\
                COPY not/an/instruction /x\n\
                EOF\n\
                COPY <<-END /etc/inline.conf\n\
                \tset x\n\
                \tEND\n\
                COPY c.txt /c\n";
    assert_eq!(
        reads(text),
        [
            (3, "COPY".into(), strings(&["a.txt", "b.txt"])),
            (13, "COPY".into(), strings(&["c.txt"])),
        ]
    );
}

#[test]
fn variables_in_sources_come_from_arg_defaults_and_env() {
    let text = "ARG SERVICE=users\nFROM x\nARG SERVICE\nENV CONF=config DIR=\"etc\"\n\
                ENV OLD some value\n\
                COPY $CONF/${SERVICE}.toml ${MISSING:-defaults}/a ${SERVICE:+x} /${DIR}/\n";
    assert_eq!(
        reads(text),
        [(
            6,
            "COPY".into(),
            strings(&["config/users.toml", "defaults/a", "x"])
        )]
    );
}

#[test]
fn what_cannot_be_read_names_its_line() {
    let e = context_reads("FROM x\nRUN true\nCOPY ${NOPE}/a /a\n").unwrap_err();
    assert_eq!(e.line, 3);
    assert!(e.message.contains("$NOPE has no default value"), "{e}");
    let e = context_reads("FROM x\n\nCOPPY a /a\n").unwrap_err();
    assert_eq!(e.to_string(), "line 3: unknown instruction `COPPY`");
    let e = context_reads("FROM x\nCOPY onlyone\n").unwrap_err();
    assert_eq!(e.line, 2);
    let e = context_reads("FROM x\nRUN <<EOF\necho\n").unwrap_err();
    assert!(e.message.contains("does not end"), "{e}");
}

#[test]
fn sources_match_files_and_the_directories_above_them() {
    let text = "FROM x\nCOPY . .\nCOPY crates ./crates\nCOPY config/*.toml /etc/\n\
                COPY ./static/ /srv/\nCOPY ../outside/x /x\n";
    let ignore = DockerIgnore::parse("static/cache\n").unwrap();
    let s = Sources::new(text, ignore).unwrap();
    let roots = |p: &str| -> Vec<(usize, String)> {
        s.copies(p).into_iter().map(|c| (c.line, c.root)).collect()
    };
    assert_eq!(
        roots("config/app.toml"),
        [(2, String::new()), (4, "config/app.toml".into())]
    );
    assert_eq!(roots("config/sub/app.toml"), [(2, String::new())]);
    assert_eq!(
        roots("crates/db/src/lib.rs"),
        [(2, String::new()), (3, "crates".into())]
    );
    assert_eq!(
        roots("static/css/a.css"),
        [(2, String::new()), (5, "static".into())]
    );
    assert!(roots("static/cache/x").is_empty());
    assert_eq!(
        roots("outside/x"),
        [(2, String::new()), (6, "outside/x".into())]
    );
    assert_eq!(clean("/a/./b/../c/"), "a/c");
    assert_eq!(clean("./"), "");
}

#[test]
fn the_generated_dockerfile_copies_the_whole_context_only() {
    let text = include_str!("../generate/templates/Dockerfile.monoship");
    let reads = reads(text);
    assert_eq!(reads.len(), 2, "{reads:?}");
    assert!(reads.iter().all(|(_, i, s)| i == "COPY" && s == &["."]));
}
