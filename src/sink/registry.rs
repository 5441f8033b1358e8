//! The one place that matches a target's kind: [`SinkTarget::backend`].

use super::backend::Backend;
use super::url::SinkTarget;
use super::{mysql, postgres, sqlite};

impl SinkTarget {
    /// The database behind this target.
    pub(crate) fn backend(&self) -> Box<dyn Backend + '_> {
        match self {
            SinkTarget::Sqlite { path } => Box::new(sqlite::Sqlite { path }),
            SinkTarget::Postgres { url } => Box::new(postgres::Postgres { url }),
            SinkTarget::Mysql { url } => Box::new(mysql::Mysql { url }),
        }
    }
}
