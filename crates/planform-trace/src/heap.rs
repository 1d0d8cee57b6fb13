//! A replica of CPython's `heapq` (`Modules/_heapqmodule.c`).
//!
//! A* in the reference keeps its open list in a Python list managed by
//! `heappush`, `heappop` and `heapify`, ordered by `AStarState.__lt__`. With the
//! nondeterministic comparator (a coin flip on equal cost) the *layout* of the
//! heap decides which comparisons are made and therefore the distribution of
//! traces, so the sift functions below perform exactly the comparisons CPython
//! performs, in the same order, and `lt` is only ever called as `lt(a, b)` where
//! CPython evaluates `a < b`.
//!
//! `heapify` uses the textbook order (`siftup` on `n/2 - 1 ..= 0`). CPython
//! switches to a cache-friendly traversal above 2,500 items; that traversal
//! runs the same per-subtree `siftup`s (each on a subtree whose children are
//! already heaps) in another order, so with independent coin flips the
//! resulting distribution is identical.

/// `heapq._siftdown`: moves `heap[pos]` up towards `startpos` while it is
/// smaller than its parent.
#[inline]
fn sift_down<E: Copy>(
    heap: &mut [E],
    startpos: usize,
    mut pos: usize,
    lt: &mut impl FnMut(&E, &E) -> bool,
) {
    let newitem = heap[pos];
    while pos > startpos {
        let parentpos = (pos - 1) >> 1;
        let parent = heap[parentpos];
        if lt(&newitem, &parent) {
            heap[pos] = parent;
            pos = parentpos;
            continue;
        }
        break;
    }
    heap[pos] = newitem;
}

/// `heapq._siftup`: bubbles the smaller child up until hitting a leaf, then
/// sifts the original item back down (Floyd's bottom-up variant).
#[inline]
fn sift_up<E: Copy>(heap: &mut [E], mut pos: usize, lt: &mut impl FnMut(&E, &E) -> bool) {
    let endpos = heap.len();
    let startpos = pos;
    let newitem = heap[pos];
    let mut childpos = 2 * pos + 1;
    while childpos < endpos {
        let rightpos = childpos + 1;
        if rightpos < endpos && !lt(&heap[childpos], &heap[rightpos]) {
            childpos = rightpos;
        }
        heap[pos] = heap[childpos];
        pos = childpos;
        childpos = 2 * pos + 1;
    }
    heap[pos] = newitem;
    sift_down(heap, startpos, pos, lt);
}

/// `heapq.heappush`.
#[inline]
pub(crate) fn push<E: Copy>(heap: &mut Vec<E>, item: E, lt: &mut impl FnMut(&E, &E) -> bool) {
    heap.push(item);
    let last = heap.len() - 1;
    sift_down(heap, 0, last, lt);
}

/// `heapq.heappop`; `None` on an empty heap.
#[inline]
pub(crate) fn pop<E: Copy>(heap: &mut Vec<E>, lt: &mut impl FnMut(&E, &E) -> bool) -> Option<E> {
    let last = heap.pop()?;
    if heap.is_empty() {
        return Some(last);
    }
    let ret = heap[0];
    heap[0] = last;
    sift_up(heap, 0, lt);
    Some(ret)
}

/// `heapq.heapify`.
pub(crate) fn heapify<E: Copy>(heap: &mut [E], lt: &mut impl FnMut(&E, &E) -> bool) {
    let n = heap.len();
    for i in (0..n / 2).rev() {
        sift_up(heap, i, lt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sorts_like_a_heap() {
        let mut h = Vec::new();
        let mut lt = |a: &i32, b: &i32| a < b;
        for v in [5, 3, 8, 1, 9, 2, 7] {
            push(&mut h, v, &mut lt);
        }
        let mut out = vec![];
        while let Some(v) = pop(&mut h, &mut lt) {
            out.push(v);
        }
        assert_eq!(out, vec![1, 2, 3, 5, 7, 8, 9]);
    }

    /// Layouts recorded from CPython 3 (`heapq.heappush` of 5,3,8,1,9,2,7 gives
    /// `[1, 3, 2, 5, 9, 8, 7]`; `heapify([5,3,8,1,9,2,7])` gives `[1, 3, 2, 5, 9, 8, 7]`;
    /// one `heappop` of the pushed heap leaves `[2, 3, 7, 5, 9, 8]`).
    #[test]
    fn layouts_match_cpython() {
        let mut lt = |a: &i32, b: &i32| a < b;
        let mut h = Vec::new();
        for v in [5, 3, 8, 1, 9, 2, 7] {
            push(&mut h, v, &mut lt);
        }
        assert_eq!(h, vec![1, 3, 2, 5, 9, 8, 7]);
        let mut g = vec![5, 3, 8, 1, 9, 2, 7];
        heapify(&mut g, &mut lt);
        assert_eq!(g, vec![1, 3, 2, 5, 9, 8, 7]);
        pop(&mut h, &mut lt);
        assert_eq!(h, vec![2, 3, 7, 5, 9, 8]);
    }

    /// The exact sequence of `a < b` comparisons CPython's heapq makes for this
    /// script (recorded with a logging `__lt__`):
    /// push 5,3,8,1,9,2,7,4,6,0; pop 3 times; `list.remove(7)`; heapify; pop all.
    #[test]
    fn comparison_sequence_matches_cpython() {
        let expected: Vec<(i32, i32)> = vec![
            (3, 5),
            (8, 3),
            (1, 5),
            (1, 3),
            (9, 3),
            (2, 8),
            (2, 1),
            (7, 2),
            (4, 5),
            (4, 3),
            (6, 4),
            (0, 9),
            (0, 3),
            (0, 1),
            (1, 2),
            (4, 3),
            (9, 3),
            (3, 2),
            (8, 7),
            (6, 7),
            (6, 2),
            (3, 6),
            (4, 9),
            (5, 4),
            (6, 8),
            (5, 9),
            (4, 5),
            (4, 6),
            (5, 9),
            (3, 5),
            (3, 4),
            (4, 6),
            (5, 9),
            (8, 5),
            (5, 6),
            (9, 8),
            (8, 6),
            (9, 6),
            (9, 8),
        ];
        let mut log = Vec::new();
        let mut lt = |a: &i32, b: &i32| {
            log.push((*a, *b));
            a < b
        };
        let mut h = Vec::new();
        for v in [5, 3, 8, 1, 9, 2, 7, 4, 6, 0] {
            push(&mut h, v, &mut lt);
        }
        for _ in 0..3 {
            pop(&mut h, &mut lt);
        }
        let i = h.iter().position(|&v| v == 7).unwrap();
        h.remove(i);
        heapify(&mut h, &mut lt);
        while pop(&mut h, &mut lt).is_some() {}
        assert_eq!(log, expected);
        let mut g = vec![9, 8, 7, 6, 5, 4, 3, 2, 1, 0];
        heapify(&mut g, &mut |a: &i32, b: &i32| a < b);
        assert_eq!(g, vec![0, 1, 3, 2, 5, 4, 7, 9, 6, 8]);
    }
}
