//! A list with the Python semantics Seaquest's update loops depend on.
//!
//! The reference keeps bullets, fish, subs and divers in Python lists of small mutable lists
//! and updates them with `for obj in reversed(lst): ... obj[0] += 1 ... lst.remove(obj)`.
//! That has three consequences a port must keep to stay step-for-step identical:
//!
//! * `reversed` walks by index (from the length at the start, down to 0) and stops early if
//!   the index is past the end, so removing elements mid-loop can skip or repeat one;
//! * `lst.remove(obj)` removes the *first element equal in value* to `obj`, which need not be
//!   `obj` itself when two objects coincide;
//! * `obj` is a reference: mutating it after such a removal still changes the list's copy
//!   when another, equal object was removed instead.
//!
//! So each element carries an identity, mutation goes through [`ObjList::write`] (by
//! identity), removal through [`ObjList::remove_eq`] (by value) and iteration through
//! [`RevCursor`].

use serde::{Deserialize, Serialize};

/// Identity of an element, unique within its list.
pub(crate) type ObjId = u64;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct ObjList<T> {
    items: Vec<(ObjId, T)>,
    next_id: ObjId,
}

impl<T> Default for ObjList<T> {
    fn default() -> Self {
        Self {
            items: Vec::new(),
            next_id: 0,
        }
    }
}

impl<T: Copy + PartialEq> ObjList<T> {
    /// Appends a new object (`lst += [obj]`).
    pub(crate) fn push(&mut self, value: T) {
        self.items.push((self.next_id, value));
        self.next_id += 1;
    }

    /// The values in order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &T> {
        self.items.iter().map(|(_, v)| v)
    }

    /// The first value satisfying `pred` (`for x in lst: if pred(x): ... break`).
    pub(crate) fn find(&self, pred: impl Fn(&T) -> bool) -> Option<T> {
        self.iter().copied().find(|v| pred(v))
    }

    /// Stores `value` into object `id` if it is still in the list (mutating a reference
    /// that may have been detached).
    pub(crate) fn write(&mut self, id: ObjId, value: T) {
        if let Some((_, v)) = self.items.iter_mut().find(|(i, _)| *i == id) {
            *v = value;
        }
    }

    /// `lst.remove(value)`: removes the first element equal to `value`.
    ///
    /// # Panics
    /// If there is none (Python's `ValueError`); the games only remove what they just saw.
    pub(crate) fn remove_eq(&mut self, value: &T) {
        let at = self
            .items
            .iter()
            .position(|(_, v)| v == value)
            .expect("list.remove(x): x not in list");
        self.items.remove(at);
    }
}

/// The state of `reversed(lst)`: the next index to yield.
pub(crate) struct RevCursor(Option<usize>);

impl RevCursor {
    /// `reversed(lst)` as it starts.
    pub(crate) fn new<T>(list: &ObjList<T>) -> Self {
        Self(list.items.len().checked_sub(1))
    }

    /// The next object (identity and current value), or `None` once the index runs below 0
    /// or past the (possibly shrunk) list.
    pub(crate) fn next<T: Copy>(&mut self, list: &ObjList<T>) -> Option<(ObjId, T)> {
        let item = self.0.and_then(|i| list.items.get(i).copied());
        self.0 = match item {
            Some(_) => self.0.and_then(|i| i.checked_sub(1)),
            None => None,
        };
        item
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_takes_the_first_equal_value() {
        let mut l = ObjList::default();
        l.push((1, 'a'));
        l.push((2, 'b'));
        l.push((1, 'a'));
        // Python: l = [A, B, C] with A == C; iterate reversed, remove C (removes A).
        let mut cur = RevCursor::new(&l);
        let (id, v) = cur.next(&l).unwrap();
        assert_eq!(id, 2);
        l.remove_eq(&v);
        // C is still there (now at index 1) and is yielded again.
        let (id2, _) = cur.next(&l).unwrap();
        assert_eq!(id2, 2);
        l.write(id2, (5, 'c'));
        assert_eq!(l.iter().copied().collect::<Vec<_>>(), [(2, 'b'), (5, 'c')]);
        assert_eq!(cur.next(&l).map(|x| x.0), Some(1));
        assert!(cur.next(&l).is_none());
    }

    #[test]
    fn reversed_stops_when_the_index_is_past_the_end() {
        let mut l = ObjList::default();
        for i in 0..3 {
            l.push(i);
        }
        let mut cur = RevCursor::new(&l);
        let (_, v) = cur.next(&l).unwrap();
        assert_eq!(v, 2);
        l.remove_eq(&0);
        l.remove_eq(&1);
        // Index 1 is now past the end: iteration stops although 2 is still there.
        assert!(cur.next(&l).is_none());
        assert!(cur.next(&l).is_none());
    }
}
