//! Tests of the Dockerfile lint: the reader first, then one group per rule
//! with passing and failing Dockerfiles.

use super::*;

/// `(line, rule)` of every finding.
fn lint(text: &str) -> Vec<(usize, &'static str)> {
    lint_dockerfile(text)
        .into_iter()
        .map(|f| {
            let line = f.location.strip_prefix("Dockerfile:").unwrap();
            (line.parse().unwrap(), f.rule)
        })
        .collect()
}

/// Rules raised, for a Dockerfile that is otherwise clean: it gets a
/// pinned FROM and a non-root final USER around `body`.
fn rules_of(body: &str) -> Vec<&'static str> {
    let text = format!("FROM debian:12\n{body}\nUSER 1000\n");
    lint(&text).into_iter().map(|(_, r)| r).collect()
}

#[test]
fn demo_dockerfile_is_clean() {
    let demo = "FROM docker.io/library/nginx:1.27-alpine\n\
                COPY site/ /usr/share/nginx/html/\n\
                EXPOSE 8080\n\
                USER 101\n";
    assert_eq!(lint_dockerfile(demo), vec![]);
}

#[test]
fn reader_joins_continuations_and_skips_comments() {
    let text = [
        "# syntax=docker/dockerfile:1",
        "# escape=\\",
        "",
        "# a comment",
        "from alpine:3 \\",
        "  as base",
        "RUN echo a \\",
        "# dropped inside a continuation",
        "",
        "  && echo b",
        "run echo c",
    ]
    .join("\n");
    let parsed = parse(&text);
    let seen: Vec<(usize, &str, &str)> = parsed
        .iter()
        .map(|i| (i.line, i.keyword.as_str(), i.args.as_str()))
        .collect();
    assert_eq!(
        seen,
        vec![
            (5, "FROM", "alpine:3   as base"),
            (7, "RUN", "echo a   && echo b"),
            (11, "RUN", "echo c"),
        ]
    );
}

#[test]
fn reader_honours_the_escape_directive_and_heredocs() {
    let text = "# escape=`\nFROM x:1\nRUN echo a `\n  b\nRUN <<EOF\nFOO bar\nEOF\nUSER 1\n";
    let parsed = parse(text);
    assert_eq!(parsed[1].args, "echo a   b");
    assert_eq!(parsed[2].args, "<<EOF\nFOO bar\n");
    assert_eq!(parsed[3].keyword, "USER");
    assert_eq!(lint(text), vec![]);
    let tabs =
        "FROM x:1\nCOPY <<-'A' <<B /dst/\n\t\tone\n\tA\ntwo\nB\nRUN echo $((1<<2))\nUSER 1\n";
    let parsed = parse(tabs);
    assert_eq!(parsed[1].args, "<<-'A' <<B /dst/\none\n\ntwo\n");
    assert_eq!(parsed[3].keyword, "USER");
    assert_eq!(lint(tabs), vec![]);
}

#[test]
fn reader_splits_words_and_exec_form() {
    assert_eq!(words(r#"a "b c" 'd\e' f\ g"#), ["a", "b c", r"d\e", "f g"]);
    assert_eq!(words(r#"X="" Y"#), ["X=", "Y"]);
    assert_eq!(
        exec_form(r#"["sh", "-c", "echo \"hi\"\u0021"]"#),
        Some(vec!["sh".into(), "-c".into(), "echo \"hi\"!".into()])
    );
    assert_eq!(exec_form("[]"), Some(vec![]));
    assert_eq!(exec_form("[sh, -c]"), None);
    assert_eq!(exec_form("echo [x]"), None);
}

#[test]
fn from_must_come_first() {
    assert_eq!(
        lint("RUN true\nFROM a:1\nUSER 1\n"),
        vec![(1, "DL-from-first")]
    );
    assert_eq!(lint("ARG V=1\nFROM a:${V}\nUSER 1\n"), vec![]);
    assert_eq!(lint("# only a comment\n"), vec![(1, "DL-from-first")]);
}

#[test]
fn unknown_instructions_are_reported() {
    assert_eq!(
        lint("FROM a:1\nCOPPY x /x\nuser 1\n"),
        vec![(2, "DL-unknown-instruction")]
    );
    assert_eq!(
        lint("FORM a:1\nFROM a:1\nUSER 1\n"),
        vec![(1, "DL-unknown-instruction")]
    );
}

#[test]
fn from_images_need_a_pinned_tag() {
    let text = "FROM ubuntu\n\
                FROM ubuntu:latest\n\
                FROM registry:5000/base\n\
                FROM ubuntu:24.04\n\
                FROM ubuntu@sha256:abcd\n\
                FROM scratch\n\
                FROM ${BASE}\n\
                FROM --platform=$BUILDPLATFORM golang:1.22 AS build\n\
                USER 1\n";
    assert_eq!(
        lint(text),
        vec![
            (1, "DL-latest-tag"),
            (2, "DL-latest-tag"),
            (3, "DL-latest-tag")
        ]
    );
}

#[test]
fn stage_names_are_not_images() {
    let text = "FROM golang:1.22 AS Build\n\
                RUN go build -o /app .\n\
                FROM build AS test\n\
                FROM gcr.io/distroless/static:nonroot\n\
                COPY --from=build /app /app\n\
                USER 65532\n";
    assert_eq!(lint(text), vec![]);
}

#[test]
fn final_stage_must_not_run_as_root() {
    assert_eq!(lint("FROM a:1\nRUN true\n"), vec![(1, "DL-root-user")]);
    assert_eq!(
        lint("FROM a:1\nUSER app\nUSER root\n"),
        vec![(3, "DL-root-user")]
    );
    assert_eq!(lint("FROM a:1\nUSER 0:0\n"), vec![(2, "DL-root-user")]);
    assert_eq!(lint("FROM a:1\nUSER root\nRUN x\nUSER 1000:1000\n"), vec![]);
    // Only the final stage counts, and it inherits from the stage it builds on.
    assert_eq!(
        lint("FROM a:1 AS base\nUSER app\nFROM b:1\nUSER root\nFROM base\n"),
        vec![]
    );
    assert_eq!(
        lint("FROM a:1 AS build\nFROM b:1\nUSER 1\nFROM build\n"),
        vec![(4, "DL-root-user")]
    );
}

#[test]
fn add_of_local_files_should_be_copy() {
    assert_eq!(rules_of("ADD app.py /app/"), ["DL-add-instead-of-copy"]);
    assert_eq!(
        rules_of(r#"ADD ["a.txt", "b.tar.gz", "/x/"]"#),
        ["DL-add-instead-of-copy"]
    );
    assert_eq!(
        rules_of("ADD --chown=1:1 . /src"),
        ["DL-add-instead-of-copy"]
    );
    assert!(rules_of("ADD https://example.com/x.bin /x").is_empty());
    assert!(rules_of("ADD rootfs.tar.xz /").is_empty());
    assert!(rules_of("ADD --checksum=sha256:00 https://x/y /y").is_empty());
    assert!(rules_of("ADD git@github.com:a/b.git /b").is_empty());
    assert!(rules_of("ADD <<EOF /etc/motd\nhello.txt\nEOF").is_empty());
    assert!(rules_of("COPY app.py /app/").is_empty());
}

#[test]
fn apt_get_install_is_lean_and_clean() {
    let good = "RUN apt-get update \\\n\
                && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \\\n\
                     ca-certificates curl \\\n\
                && rm -rf /var/lib/apt/lists/*";
    assert!(rules_of(good).is_empty());
    assert_eq!(
        rules_of("RUN apt-get update && apt-get install -y curl && rm -rf /var/lib/apt/lists/*"),
        ["DL-apt-no-clean"]
    );
    assert_eq!(
        rules_of("RUN apt-get update && apt-get install -y --no-install-recommends curl"),
        ["DL-apt-no-clean"]
    );
    assert_eq!(
        rules_of("RUN apt-get install curl"),
        ["DL-apt-no-clean", "DL-apt-no-clean", "DL-apt-y"]
    );
    let cached = "RUN --mount=type=cache,target=/var/lib/apt/lists \\\n\
                  apt-get -qq -o APT::Install-Recommends=false install curl";
    assert!(rules_of(cached).is_empty());
    assert!(rules_of(r#"RUN ["apt-get", "update"]"#).is_empty());
}

#[test]
fn apt_get_install_needs_yes() {
    let clean = "--no-install-recommends curl && rm -rf /var/lib/apt/lists/*";
    for yes in ["-y", "-qy", "-yqq", "--yes", "--assume-yes", "-qq"] {
        assert!(rules_of(&format!("RUN apt-get {yes} install {clean}")).is_empty());
        assert!(rules_of(&format!("RUN apt-get install {yes} {clean}")).is_empty());
    }
    assert_eq!(
        rules_of(&format!("RUN apt-get install {clean}")),
        ["DL-apt-y"]
    );
    assert_eq!(
        rules_of(&format!("RUN apt-get -q install {clean}")),
        ["DL-apt-y"]
    );
    let heredoc = format!("RUN <<EOF\nset -e\napt-get install {clean}\nEOF");
    assert_eq!(rules_of(&heredoc), ["DL-apt-y"]);
}

#[test]
fn cd_in_run_should_be_workdir() {
    assert_eq!(rules_of("RUN cd /src && make"), ["DL-cd-in-run"]);
    assert_eq!(
        rules_of("RUN git clone x \\\n  && cd x; make"),
        ["DL-cd-in-run"]
    );
    assert!(rules_of("RUN make -C /src").is_empty());
    assert!(rules_of("RUN echo cd").is_empty());
}

#[test]
fn workdir_must_be_absolute() {
    assert_eq!(rules_of("WORKDIR app"), ["DL-relative-workdir"]);
    assert_eq!(rules_of("WORKDIR ./app"), ["DL-relative-workdir"]);
    assert!(rules_of("WORKDIR /app").is_empty());
    assert!(rules_of("WORKDIR $HOME/app").is_empty());
    assert!(rules_of(r#"WORKDIR "/srv/my app""#).is_empty());
}

#[test]
fn sudo_is_not_needed_in_run() {
    assert_eq!(rules_of("RUN sudo make install"), ["DL-sudo"]);
    assert_eq!(
        rules_of("RUN make && /usr/bin/sudo make install"),
        ["DL-sudo"]
    );
    assert!(rules_of("RUN echo sudo").is_empty());
}

#[test]
fn secrets_do_not_belong_in_env_or_arg() {
    assert_eq!(rules_of("ENV DB_PASSWORD=hunter2"), ["DL-secret-env"]);
    assert_eq!(rules_of("ENV API_KEY abc def"), ["DL-secret-env"]);
    assert_eq!(rules_of("ENV a=1 github_token=x"), ["DL-secret-env"]);
    assert_eq!(rules_of("ARG NPM_TOKEN=abc"), ["DL-secret-env"]);
    assert_eq!(rules_of("ENV SSH_PRIVATE_KEY=\"k\""), ["DL-secret-env"]);
    assert!(rules_of("ARG NPM_TOKEN").is_empty());
    assert!(rules_of("ENV DB_PASSWORD=\"\"").is_empty());
    assert!(rules_of("ENV DB_PASSWORD_FILE=/run/secrets/db").is_empty());
    assert!(rules_of("ENV TOKEN_URL=https://auth/token").is_empty());
    assert!(rules_of("ENV APP_MODE=prod").is_empty());
}

#[test]
fn only_one_cmd_and_entrypoint_per_stage() {
    let text = "FROM a:1 AS build\n\
                CMD [\"build\"]\n\
                FROM b:1\n\
                CMD [\"a\"]\n\
                ENTRYPOINT [\"x\"]\n\
                CMD [\"b\"]\n\
                ENTRYPOINT [\"y\"]\n\
                USER 1\n";
    assert_eq!(
        lint(text),
        vec![(4, "DL-multiple-cmd"), (5, "DL-multiple-cmd")]
    );
    let found = lint_dockerfile(text);
    assert_eq!(found[0].message, "CMD is overridden by the CMD at line 6");
}

#[test]
fn expose_takes_valid_ports() {
    assert!(rules_of("EXPOSE 80 443/tcp 53/udp 8000-8010 9000-9001/sctp $PORT").is_empty());
    for bad in ["0", "65536", "http", "9000-8000", "80/http", "80-", "-1"] {
        assert_eq!(
            rules_of(&format!("EXPOSE {bad}")),
            ["DL-expose-range"],
            "{bad}"
        );
    }
}

#[test]
fn findings_are_located_and_ordered_by_line() {
    let text = "FROM ubuntu\nWORKDIR app\nRUN cd /x && sudo make\n";
    let shown: Vec<String> = lint_dockerfile(text)
        .iter()
        .map(|f| f.to_string())
        .collect();
    assert_eq!(shown[0], "Dockerfile:1: FROM image ubuntu has no tag or digest, so it pulls whatever `latest` is [DL-latest-tag]");
    let lines: Vec<(usize, &str)> = lint(text);
    assert_eq!(
        lines,
        vec![
            (1, "DL-latest-tag"),
            (1, "DL-root-user"),
            (2, "DL-relative-workdir"),
            (3, "DL-cd-in-run"),
            (3, "DL-sudo"),
        ]
    );
}
