//! The importer's table from value names to the values that define them.
//!
//! A graph's values already hold their names, so the table stores only the [`ValueRef`]
//! and reads the name back from the graph to compare: a map keyed by `String` held every
//! name a second time (with its own allocation) and 40-byte slots, 17 MB of the 100 MB a
//! 200,000-node file took to read. The hasher is seeded per table, so a hostile file
//! cannot choose names that collide.

use std::hash::{BuildHasher, RandomState};

use hashbrown::hash_table::{Entry, HashTable};
use modelc_ir::{Graph, ValueRef};

#[derive(Default)]
pub(crate) struct Names {
    table: HashTable<ValueRef>,
    hasher: RandomState,
}

impl Names {
    /// Room for `extra` more names without rehashing.
    pub(crate) fn reserve(&mut self, g: &Graph, extra: usize) {
        let Names { table, hasher } = self;
        table.reserve(extra, |&v| hasher.hash_one(name_of(g, v)));
    }

    /// The value named `name`, if one was defined.
    pub(crate) fn get(&self, g: &Graph, name: &str) -> Option<ValueRef> {
        let hash = self.hasher.hash_one(name);
        self.table.find(hash, |&v| name_of(g, v) == name).copied()
    }

    /// Defines `name` as `v`, whose name in `g` it must be; false when `name` was already
    /// defined (the table keeps the first).
    pub(crate) fn insert(&mut self, g: &Graph, name: &str, v: ValueRef) -> bool {
        debug_assert_eq!(name_of(g, v), name, "a value is defined under its own name");
        let Names { table, hasher } = self;
        let hash = hasher.hash_one(name);
        match table.entry(
            hash,
            |&x| name_of(g, x) == name,
            |&x| hasher.hash_one(name_of(g, x)),
        ) {
            Entry::Occupied(_) => false,
            Entry::Vacant(e) => {
                e.insert(v);
                true
            }
        }
    }
}

fn name_of(g: &Graph, v: ValueRef) -> &str {
    g.value(v).map_or("", |x| x.name.as_str())
}
