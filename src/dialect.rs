//! The SQL dialects ragwatch speaks: SQLite and PostgreSQL for its history, MySQL (or
//! MariaDB) and PostgreSQL for RAGFlow's task table. Each statement is written once, as a
//! function of the dialect, and rendered once per store; only the few spellings that
//! differ between the databases live here.

/// One database's spelling of SQL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite.
    Sqlite,
    /// MySQL or MariaDB.
    Mysql,
    /// PostgreSQL.
    Postgres,
}

impl Dialect {
    /// The `n`-th bind parameter (1-based): `$n` in PostgreSQL and SQLite (which numbers
    /// `$n` too), `?` in MySQL. MySQL binds by position, so a statement it runs names each
    /// parameter once, in order.
    pub fn placeholder(self, n: usize) -> String {
        match self {
            Dialect::Sqlite | Dialect::Postgres => format!("${n}"),
            Dialect::Mysql => "?".to_owned(),
        }
    }

    /// The function giving the larger of two values (SQLite's two-argument `MAX`).
    pub fn greatest(self) -> &'static str {
        match self {
            Dialect::Sqlite => "MAX",
            Dialect::Mysql | Dialect::Postgres => "GREATEST",
        }
    }

    /// The 8-byte floating-point type, as `CAST` names it.
    pub fn double(self) -> &'static str {
        match self {
            Dialect::Sqlite => "REAL",
            Dialect::Mysql => "DOUBLE",
            Dialect::Postgres => "DOUBLE PRECISION",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_dialect_spells_parameters_maximum_and_double_its_way() {
        let cases = [
            (Dialect::Sqlite, "$2", "MAX", "REAL"),
            (Dialect::Mysql, "?", "GREATEST", "DOUBLE"),
            (Dialect::Postgres, "$2", "GREATEST", "DOUBLE PRECISION"),
        ];
        for (dialect, second, greatest, double) in cases {
            assert_eq!(
                (
                    dialect.placeholder(2).as_str(),
                    dialect.greatest(),
                    dialect.double()
                ),
                (second, greatest, double),
                "{dialect:?}"
            );
        }
    }
}
