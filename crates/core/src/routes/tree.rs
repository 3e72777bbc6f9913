//! Rule numbers filed under a sequence of pieces: path segments from the
//! left, or host labels from the right. A request walks its own pieces down
//! the tree, one hash lookup each, and meets every rule whose key its text
//! starts with (paths) or ends with (hosts): O(pieces), whatever the number
//! of rules.
//!
//! Hand-written because no crate we found answers "every key that is a
//! prefix of this text" in one pass over the text: `radix_trie` finds the
//! longest such key only, `qp-trie` the keys that *start with* a text, and
//! `fst` builds an immutable byte automaton (a crate and a build step for
//! what one hash map per node does here).

use rustc_hash::FxHashMap;

/// One node: the rules whose key ends here, and the pieces below.
#[derive(Debug, Clone, Default)]
struct Node {
    /// The nodes one piece further down.
    children: FxHashMap<Box<[u8]>, u32>,
    /// Rules whose key ends at this node, in ascending order.
    rules: Vec<u32>,
    /// Rules whose key ends with a partial piece after this node (the
    /// `api` of `/v1/api*`): the request's next piece must start with it.
    partial: FxHashMap<Box<[u8]>, Vec<u32>>,
    /// The distinct lengths of the keys in `partial`, ascending: one lookup
    /// each.
    partial_lengths: Vec<usize>,
}

/// Rule numbers filed under sequences of pieces.
#[derive(Debug, Clone)]
pub(super) struct PieceTree {
    nodes: Vec<Node>,
}

impl Default for PieceTree {
    fn default() -> Self {
        Self {
            nodes: vec![Node::default()],
        }
    }
}

impl PieceTree {
    /// Files `rule` under `pieces`, then, if given, a `partial` piece that
    /// the request's next piece must start with. Rules must be filed in
    /// ascending order.
    pub(super) fn insert<'p>(&mut self, pieces: impl IntoIterator<Item = &'p [u8]>, partial: Option<&[u8]>, rule: u32) {
        let mut at = 0usize;
        for piece in pieces {
            let next = u32::try_from(self.nodes.len()).unwrap_or(u32::MAX);
            let Some(node) = self.nodes.get_mut(at) else { return };
            let child = *node.children.entry(piece.into()).or_insert(next);
            if child == next {
                self.nodes.push(Node::default());
            }
            at = child as usize;
        }
        let Some(node) = self.nodes.get_mut(at) else { return };
        match partial {
            None | Some([]) => node.rules.push(rule),
            Some(partial) => {
                node.partial.entry(partial.into()).or_default().push(rule);
                if let Err(at) = node.partial_lengths.binary_search(&partial.len()) {
                    node.partial_lengths.insert(at, partial.len());
                }
            }
        }
    }

    /// Reports whether no rule is filed here.
    pub(super) fn is_empty(&self) -> bool {
        self.nodes.len() == 1
            && self
                .nodes
                .first()
                .is_none_or(|root| root.rules.is_empty() && root.partial.is_empty())
    }

    /// Calls `found` with every list of rules whose key the request's
    /// `pieces` run through: at each node, its own rules, then those whose
    /// partial piece the next piece starts with. A piece marked `false` is
    /// the last, incomplete one (the path's last segment): partial keys may
    /// match it, but the walk does not go below it.
    pub(super) fn walk<'t>(&self, pieces: impl IntoIterator<Item = (&'t [u8], bool)>, mut found: impl FnMut(&[u32])) {
        let Some(mut node) = self.nodes.first() else { return };
        for (piece, complete) in pieces {
            found(&node.rules);
            for &len in &node.partial_lengths {
                match piece.get(..len) {
                    Some(start) => {
                        if let Some(rules) = node.partial.get(start) {
                            found(rules);
                        }
                    }
                    None => break,
                }
            }
            let child = if complete { node.children.get(piece) } else { None };
            match child.and_then(|&i| self.nodes.get(i as usize)) {
                Some(next) => node = next,
                None => return,
            }
        }
        found(&node.rules);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walked(tree: &PieceTree, pieces: &[(&str, bool)]) -> Vec<u32> {
        let mut out = Vec::new();
        tree.walk(pieces.iter().map(|(p, c)| (p.as_bytes(), *c)), |rules| {
            out.extend_from_slice(rules)
        });
        out.sort_unstable();
        out
    }

    #[test]
    fn a_walk_meets_every_key_its_pieces_start_with_and_no_other() {
        let mut tree = PieceTree::default();
        tree.insert([], None, 0); // "/"
        tree.insert([&b"a"[..]], None, 1); // "/a/"
        tree.insert([&b"a"[..], b"b"], None, 2); // "/a/b/"
        tree.insert([&b"a"[..]], Some(b"bc"), 3); // "/a/bc"
        tree.insert([&b"x"[..]], None, 4); // "/x/"
        tree.insert([], Some(b"a"), 5); // "/a"
        assert_eq!(walked(&tree, &[("a", true), ("b", true), ("c", false)]), [0, 1, 2, 5]);
        assert_eq!(walked(&tree, &[("a", true), ("bcd", false)]), [0, 1, 3, 5]);
        assert_eq!(walked(&tree, &[("a", true), ("b", false)]), [0, 1, 5]);
        assert_eq!(walked(&tree, &[("ab", false)]), [0, 5]);
        assert_eq!(walked(&tree, &[("q", true), ("a", true)]), [0]);
        assert!(!tree.is_empty());
        assert!(PieceTree::default().is_empty());
    }
}
