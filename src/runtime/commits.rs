//! Which batches are committed, across the writers of a run: the low-water mark (every
//! batch before it committed) and the committed batches beyond it. Writers ask it what
//! their next commit record should say, and tell it when a commit is done.

use std::collections::BTreeMap;

use crate::checkpoint::{Range, SavedPosition};
use crate::row::Position;

/// One batch as a writer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub seq: u64,
    /// Position of the first record.
    pub first: Position,
    /// Position just past the last record.
    pub end: Position,
    /// Input records the batch accounts for.
    pub records: u64,
}

impl BatchMeta {
    fn range(&self) -> Range {
        Range {
            first: (self.first.file, self.first.record),
            last: (self.end.file, self.end.record),
            records: self.records,
        }
    }
}

/// The committed state of a run.
#[derive(Debug)]
pub(crate) struct Commits {
    /// Every batch below this sequence number is committed.
    next_seq: u64,
    /// Where the committed prefix ends.
    lwm: SavedPosition,
    lwm_records: u64,
    /// Committed batches beyond `next_seq`.
    beyond: BTreeMap<u64, BatchMeta>,
    /// Ranges an earlier run committed beyond its mark (a resumed run skips them).
    inherited: Vec<Range>,
    /// Batches the reader produced in all, once it has read the whole input.
    total_batches: Option<u64>,
    /// The inputs' content hashes, once the reader has read them all.
    contents: Vec<Option<String>>,
}

/// What a commit record says, given the batches it commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mark {
    pub lwm: SavedPosition,
    pub lwm_records: u64,
    pub ranges: Vec<Range>,
    pub complete: bool,
}

impl Commits {
    /// A run starting at `start` (with `start_records` records before it), with the
    /// ranges an earlier run committed beyond it.
    pub(crate) fn new(start: SavedPosition, start_records: u64, inherited: Vec<Range>) -> Self {
        Commits {
            next_seq: 0,
            lwm: start,
            lwm_records: start_records,
            beyond: BTreeMap::new(),
            inherited,
            total_batches: None,
            contents: Vec::new(),
        }
    }

    /// The reader has read the whole input: it made `n` batches, and the inputs'
    /// contents hash to `contents`.
    pub(crate) fn input_done(&mut self, n: u64, contents: Vec<Option<String>>) {
        self.total_batches = Some(n);
        self.contents = contents;
    }

    /// Every batch of the whole input is committed.
    pub(crate) fn is_complete(&self) -> bool {
        self.total_batches.is_some_and(|n| self.next_seq >= n)
    }

    /// The inputs' content hashes (empty until the whole input is read).
    pub(crate) fn contents(&self) -> &[Option<String>] {
        &self.contents
    }

    /// The mark once `mine` (a writer's pending batches) commits too, and the ranges
    /// beyond it: every committed batch beyond the mark, this writer's and the others'
    /// (a record replaces the writer's previous one, so it must repeat what that one
    /// said), and what an earlier run committed beyond it.
    pub(crate) fn mark_with(&self, mine: &[BatchMeta]) -> Mark {
        let mut lwm = self.lwm;
        let mut lwm_records = self.lwm_records;
        let mut seq = self.next_seq;
        while let Some(b) = self
            .beyond
            .get(&seq)
            .or_else(|| mine.iter().find(|m| m.seq == seq))
        {
            lwm = b.end.into();
            lwm_records += b.records;
            seq += 1;
        }
        lwm_records += self.inherited_between(self.lwm, lwm);
        let past = (lwm.file, lwm.record);
        let mut ranges: Vec<Range> = mine
            .iter()
            .filter(|m| m.seq >= seq)
            .chain(self.beyond.range(seq..).map(|(_, b)| b))
            .map(BatchMeta::range)
            .collect();
        ranges.extend(self.inherited.iter().copied().filter(|r| r.first > past));
        ranges.sort_by_key(|r| r.first);
        Mark {
            lwm,
            lwm_records,
            ranges: merge_adjacent(ranges),
            complete: self.total_batches.is_some_and(|n| seq >= n),
        }
    }

    /// `batches` are committed.
    pub(crate) fn committed(&mut self, batches: &[BatchMeta]) {
        for b in batches {
            self.beyond.insert(b.seq, *b);
        }
        while let Some(b) = self.beyond.remove(&self.next_seq) {
            let end: SavedPosition = b.end.into();
            self.lwm_records += b.records + self.inherited_between(self.lwm, end);
            self.lwm = end;
            self.next_seq += 1;
        }
    }

    /// Records of the inherited ranges that lie between two marks (the reader skipped
    /// them: they count once the mark passes them).
    fn inherited_between(&self, from: SavedPosition, to: SavedPosition) -> u64 {
        let (a, b) = ((from.file, from.record), (to.file, to.record));
        self.inherited
            .iter()
            .filter(|r| r.first > a && r.last <= b)
            .map(|r| r.records)
            .sum()
    }
}

/// Ranges sorted by start, with neighbours in the same file joined (`1..10` and
/// `11..20` are `1..20`), so a record stays small however many batches it covers.
fn merge_adjacent(ranges: Vec<Range>) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::with_capacity(ranges.len());
    for r in ranges {
        match out.last_mut() {
            Some(l) if l.last.0 == r.first.0 && l.last.1 + 1 == r.first.1 => {
                l.last = r.last;
                l.records += r.records;
            }
            Some(l) if l.first == r.first && l.last == r.last => {}
            _ => out.push(r),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pos(record: u64) -> Position {
        Position {
            file: 0,
            record,
            line: record + 1,
            byte: record * 10,
        }
    }

    fn batch(seq: u64, first: u64, last: u64) -> BatchMeta {
        BatchMeta {
            seq,
            first: pos(first),
            end: pos(last),
            records: last - first + 1,
        }
    }

    #[test]
    fn the_mark_is_the_contiguous_prefix() {
        let mut c = Commits::new(SavedPosition::default(), 0, vec![]);
        let b0 = batch(0, 1, 10);
        let b1 = batch(1, 11, 20);
        let b2 = batch(2, 21, 30);
        // Writer A commits batch 1 first: the mark cannot move, batch 1 is a range.
        let m = c.mark_with(&[b1]);
        assert_eq!(m.lwm_records, 0);
        assert_eq!(m.ranges.len(), 1);
        c.committed(&[b1]);
        // Writer B commits batch 0: the mark moves past 0 and 1.
        let m = c.mark_with(&[b0]);
        assert_eq!((m.lwm_records, m.lwm.record), (20, 20));
        assert!(m.ranges.is_empty());
        c.committed(&[b0]);
        c.input_done(3, Vec::new());
        let m = c.mark_with(&[b2]);
        assert!(m.complete);
        assert_eq!(m.lwm_records, 30);
    }

    #[test]
    fn a_record_repeats_the_earlier_ranges_joined() {
        let mut c = Commits::new(SavedPosition::default(), 0, vec![]);
        // Writer A commits batches 2, then 3 and 5; batch 0 (writer B) is still open.
        c.committed(&[batch(2, 21, 30)]);
        let m = c.mark_with(&[batch(3, 31, 40), batch(5, 51, 60)]);
        assert_eq!(m.lwm_records, 0);
        assert_eq!(
            m.ranges,
            vec![
                Range {
                    first: (0, 21),
                    last: (0, 40),
                    records: 20
                },
                Range {
                    first: (0, 51),
                    last: (0, 60),
                    records: 10
                }
            ]
        );
    }

    #[test]
    fn inherited_ranges_stay_until_passed() {
        let inherited = vec![Range {
            first: (0, 21),
            last: (0, 30),
            records: 10,
        }];
        let mut c = Commits::new(SavedPosition::default(), 0, inherited);
        let m = c.mark_with(&[batch(0, 1, 10)]);
        assert_eq!(m.ranges.len(), 1, "21..30 is still beyond the mark");
        c.committed(&[batch(0, 1, 10)]);
        // The resumed run skips 21..30; its next batch covers 11..20 and 31..40 and
        // ends past it: the skipped records count once the mark passes them.
        let mut b = batch(1, 11, 40);
        b.records = 20;
        let m = c.mark_with(&[b]);
        assert!(m.ranges.is_empty());
        assert_eq!(m.lwm_records, 40);
        c.committed(&[b]);
        assert_eq!(c.lwm_records, 40);
        c.input_done(2, Vec::new());
        assert!(c.mark_with(&[]).complete);
    }
}
