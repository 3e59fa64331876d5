//! Both migration trees have the same migrations and produce the same tables
//! and columns.

use std::collections::BTreeSet;

use diesel::sql_types::Text;
use diesel::{Connection, QueryableByName, RunQueryDsl};
use keygate::config::{Backend, DatabaseSettings};
use keygate::db::Db;

use crate::helpers::PgDatabase;

fn names(tree: &str) -> BTreeSet<String> {
    let dir = format!("{}/migrations/{tree}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect()
}

#[test]
fn both_trees_have_the_same_migrations() {
    let (sqlite, postgres) = (names("sqlite"), names("postgres"));
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, postgres);
    for name in &sqlite {
        for tree in ["sqlite", "postgres"] {
            let dir = format!("{}/migrations/{tree}/{name}", env!("CARGO_MANIFEST_DIR"));
            for file in ["up.sql", "down.sql"] {
                let text = std::fs::read_to_string(format!("{dir}/{file}")).unwrap();
                assert!(!text.trim().is_empty(), "{tree}/{name}/{file} is empty");
            }
        }
    }
}

#[derive(QueryableByName)]
struct Column {
    #[diesel(sql_type = Text)]
    table_name: String,
    #[diesel(sql_type = Text)]
    column_name: String,
}

fn migrate(backend: Backend, target: String) {
    Db::connect(&DatabaseSettings {
        backend,
        target,
        pool_size: 1,
        timeouts: Default::default(),
    })
    .unwrap()
    .migrate()
    .unwrap();
}

fn columns(rows: Vec<Column>) -> BTreeSet<(String, String)> {
    rows.into_iter()
        .filter(|c| c.table_name != "__diesel_schema_migrations")
        .map(|c| (c.table_name, c.column_name))
        .collect()
}

#[test]
fn both_backends_end_with_the_same_tables_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("parity.db").to_string_lossy().into_owned();
    migrate(Backend::Sqlite, path.clone());
    let mut sqlite = diesel::SqliteConnection::establish(&path).unwrap();
    let sqlite_columns = columns(
        diesel::sql_query(
            "SELECT m.name AS table_name, p.name AS column_name FROM sqlite_master m \
             JOIN pragma_table_info(m.name) p WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'",
        )
        .load(&mut sqlite)
        .unwrap(),
    );
    assert!(sqlite_columns.contains(&("api_keys".to_owned(), "key_prefix".to_owned())));

    let Some(pg) = PgDatabase::create() else {
        return;
    };
    migrate(Backend::Postgres, pg.url.clone());
    let mut postgres = diesel::PgConnection::establish(&pg.url).unwrap();
    let postgres_columns = columns(
        diesel::sql_query(
            "SELECT table_name::text AS table_name, column_name::text AS column_name \
             FROM information_schema.columns WHERE table_schema = 'public'",
        )
        .load(&mut postgres)
        .unwrap(),
    );
    drop(postgres);
    assert_eq!(sqlite_columns, postgres_columns);
}
