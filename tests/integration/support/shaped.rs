//! A workspace shaped like a real repository: services with a shared crate, a service
//! Dockerfile that copies non-Rust files into its image, and files outside every package that
//! no build reads (CI configuration, a Python tool with its lockfile, a web frontend, docs,
//! scripts, tests at the root), plus two that a build could read or nothing recognizes.

use super::fleet::Fleet;
use super::tiny::{self, Crate};

/// `users` and `orders` use `crates/db`; `billing` uses nothing. `apps/users/Dockerfile` is
/// built from the workspace root and copies `config/users.toml` and `assets/users/` into the
/// image (and the workspace's sources for the cargo build); `docker/orders.Dockerfile`, outside
/// every package, copies `config/orders.toml`; nothing recognizes `tools/gen.sh`.
pub fn workspace() -> Fleet {
    let db = "[dependencies]\ndb = { path = \"../../crates/db\" }\n";
    let main = "fn main() { println!(\"{}\", db::NAME); }\n";
    tiny::workspace(
        "",
        &[
            Crate {
                dir: "crates/db",
                bin: false,
                manifest: "",
                source: "pub const NAME: &str = \"db\";\n",
            },
            Crate {
                dir: "apps/users",
                bin: true,
                manifest: db,
                source: main,
            },
            Crate {
                dir: "apps/orders",
                bin: true,
                manifest: db,
                source: main,
            },
            Crate {
                dir: "apps/billing",
                bin: true,
                manifest: "",
                source: "fn main() {}\n",
            },
        ],
        &[
            ("apps/users/Dockerfile", USERS_DOCKERFILE),
            (".dockerignore", "target\n**/*.md\n"),
            ("config/users.toml", "port = 8080\n"),
            ("config/orders.toml", "port = 8081\n"),
            ("docker/orders.Dockerfile", ORDERS_DOCKERFILE),
            ("tools/gen.sh", "#!/bin/sh\n"),
            ("assets/users/logo.svg", "<svg/>\n"),
            ("assets/users/README.md", "not in the image\n"),
            (".circleci/config.yml", "version: 2.1\n"),
            (".gitlab-ci.yml", "test:\n  script: cargo test\n"),
            ("tools/py/pyproject.toml", "[tool.poetry]\nname = \"gen\"\n"),
            ("tools/py/poetry.lock", "# lock\n"),
            ("tools/py/gen/main.py", "print('gen')\n"),
            ("web/package.json", "{\"name\": \"web\"}\n"),
            ("web/package-lock.json", "{}\n"),
            ("web/src/index.js", "console.log('web')\n"),
            ("docs/architecture.txt", "boxes and arrows\n"),
            ("scripts/release.sh", "#!/bin/sh\n"),
            ("tests/smoke.sh", "#!/bin/sh\ncurl localhost\n"),
            ("config/app.toml.example", "port = 0\n"),
        ],
    )
}

/// A Dockerfile outside the service's directory, named after it.
pub const ORDERS_DOCKERFILE: &str = "\
FROM docker.io/library/rust:1.88 AS build
WORKDIR /app
COPY . .
RUN cargo build --release -p orders
FROM gcr.io/distroless/cc-debian12
COPY --from=build /app/target/release/orders /orders
COPY config/orders.toml /etc/orders.toml
";

pub const USERS_DOCKERFILE: &str = "\
# syntax=docker/dockerfile:1
FROM docker.io/library/rust:1.88 AS build
WORKDIR /app
COPY Cargo.toml Cargo.lock ./
COPY apps ./apps
COPY crates ./crates
RUN cargo build --release -p users

FROM gcr.io/distroless/cc-debian12
COPY --from=build /app/target/release/users /usr/local/bin/users
COPY --chown=65532:65532 \\
     config/users.toml /etc/users/users.toml
COPY [\"assets/users/\", \"/srv/users/\"]
ENTRYPOINT [\"/usr/local/bin/users\"]
";
