//! Which batches are committed, across the writers of a run: the low-water mark (every
//! batch before it committed) and the committed batches beyond it. Writers ask it what
//! their next commit record should say, and tell it when a commit is done.

use std::collections::BTreeMap;

use crate::checkpoint::{Range, SavedPosition};
use crate::row::Position;

/// One batch (or part of a batch, when rows are routed by key) as a writer holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BatchMeta {
    pub seq: u64,
    /// Parts the batch was split into (1 unless routed by key).
    pub parts: u32,
    /// Position of the first record.
    pub first: Position,
    /// Position just past the last record.
    pub end: Position,
    /// Input records the part accounts for.
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

#[derive(Debug, Clone)]
struct Done {
    parts_left: u32,
    meta: BatchMeta,
    records: u64,
}

/// The committed state of a run.
#[derive(Debug)]
pub(crate) struct Commits {
    /// Every batch below this sequence number is committed.
    next_seq: u64,
    /// Where the committed prefix ends.
    lwm: SavedPosition,
    lwm_records: u64,
    /// Committed (or partly committed) batches at or beyond `next_seq`.
    beyond: BTreeMap<u64, Done>,
    /// Ranges an earlier run committed beyond its mark (a resumed run skipped them).
    inherited: Vec<Range>,
    /// Batches the reader produced in all, once it has finished.
    total_batches: Option<u64>,
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
        }
    }

    /// The reader has finished: it made `n` batches.
    pub(crate) fn input_done(&mut self, n: u64) {
        self.total_batches = Some(n);
    }

    /// The mark once `mine` (a writer's pending batches) commits too, and the ranges the
    /// writer's record must keep: its batches beyond that mark, and inherited ones still
    /// beyond it.
    pub(crate) fn mark_with(&self, mine: &[BatchMeta]) -> Mark {
        let mut lwm = self.lwm;
        let mut lwm_records = self.lwm_records;
        let mut seq = self.next_seq;
        loop {
            let own: Vec<&BatchMeta> = mine.iter().filter(|m| m.seq == seq).collect();
            // Parts still missing once this commit is in, and what is known of the batch.
            let (left, done_records, meta) = match (self.beyond.get(&seq), own.first()) {
                (Some(d), _) => (
                    d.parts_left.saturating_sub(own.len() as u32),
                    d.records,
                    d.meta,
                ),
                (None, Some(m)) => (m.parts.max(1).saturating_sub(own.len() as u32), 0, **m),
                (None, None) => break,
            };
            if left > 0 {
                break;
            }
            lwm = meta.end.into();
            lwm_records += done_records + own.iter().map(|m| m.records).sum::<u64>();
            seq += 1;
        }
        lwm_records += self.inherited_between(self.lwm, lwm);
        // Every batch committed beyond the mark, this writer's and the others' (a record
        // replaces the writer's previous one, so it must repeat what that one said), and
        // what an earlier run committed beyond it. Whole batches only: a batch split by
        // key across writers counts once every part is in (replaying the rest of it is
        // harmless: it is an upsert).
        let past = (lwm.file, lwm.record);
        let mut ranges: Vec<Range> = mine
            .iter()
            .filter(|m| m.seq >= seq && m.parts <= 1)
            .map(BatchMeta::range)
            .collect();
        ranges.extend(
            self.beyond
                .range(seq..)
                .filter(|(_, d)| d.parts_left == 0 && d.meta.parts <= 1)
                .map(|(_, d)| d.meta.range()),
        );
        ranges.extend(self.inherited.iter().copied().filter(|r| r.first > past));
        ranges.sort_by_key(|r| r.first);
        Mark {
            lwm,
            lwm_records,
            ranges,
            complete: self.total_batches.is_some_and(|n| seq >= n),
        }
    }

    /// `batches` are committed.
    pub(crate) fn committed(&mut self, batches: &[BatchMeta]) {
        for m in batches {
            let d = self.beyond.entry(m.seq).or_insert(Done {
                parts_left: m.parts.max(1),
                meta: *m,
                records: 0,
            });
            d.parts_left = d.parts_left.saturating_sub(1);
            d.records += m.records;
        }
        while let Some(d) = self.beyond.get(&self.next_seq) {
            if d.parts_left > 0 {
                break;
            }
            let end: SavedPosition = d.meta.end.into();
            self.lwm_records += d.records + self.inherited_between(self.lwm, end);
            self.lwm = end;
            self.beyond.remove(&self.next_seq);
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
            parts: 1,
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
        c.input_done(3);
        let m = c.mark_with(&[b2]);
        assert!(m.complete);
        assert_eq!(m.lwm_records, 30);
    }

    #[test]
    fn a_record_repeats_the_writers_earlier_ranges() {
        let mut c = Commits::new(SavedPosition::default(), 0, vec![]);
        // Writer A commits batches 2, then 4; batch 0 (writer B) is still open.
        c.committed(&[batch(2, 21, 30)]);
        let m = c.mark_with(&[batch(4, 41, 50)]);
        assert_eq!(m.lwm_records, 0);
        assert_eq!(
            m.ranges.len(),
            2,
            "batch 2 is still beyond the mark: {:?}",
            m.ranges
        );
    }

    #[test]
    fn routed_batches_count_when_every_part_is_in() {
        let mut c = Commits::new(SavedPosition::default(), 0, vec![]);
        let mut a = batch(0, 1, 10);
        a.parts = 2;
        a.records = 10;
        let mut b = a;
        b.records = 0;
        let m = c.mark_with(&[a]);
        assert_eq!(m.lwm_records, 0, "half a batch is not committed");
        c.committed(&[a]);
        let m = c.mark_with(&[b]);
        assert_eq!(m.lwm_records, 10);
        c.committed(&[b]);
        assert_eq!(c.lwm_records, 10);
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
        c.input_done(2);
        assert!(c.mark_with(&[]).complete);
    }
}
