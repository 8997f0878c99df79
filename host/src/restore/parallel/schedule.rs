//! Which item a free connection takes next (pure: the plan and what is running and done
//! in, an item out). An item may start once its dependencies are done and no running item
//! holds one of its tables in a conflicting mode. Among those, the one with the most
//! table data goes first (largest tables first, and a large table's index builds before a
//! small one's), except that COPY data sections are taken in *claim order*: the large ones
//! (at least a quarter of what one connection would load) in dump order, then the others
//! in dump order. Each connection reads the archive's `dump.sql` forwards, so this order
//! costs each of them at most two passes over the compressed entry, where strict
//! largest-first would cost one pass per table (a deflated entry cannot be entered in the
//! middle).
//!
//! The connections' own session settings are [`Session`]'s: before an item, a connection
//! replays the settings in force at the item's place in the dump.

use std::collections::{BTreeMap, HashMap};

use super::plan::{Kind, Mode, Plan, Setting};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Waiting,
    Running,
    Done,
}

/// What is running, done and ready.
#[derive(Debug)]
pub struct Scheduler {
    state: Vec<State>,
    missing: Vec<usize>,
    dependents: Vec<Vec<usize>>,
    ready: Vec<usize>,
    /// Per table: running shared holders, and whether one holds it exclusively.
    locks: HashMap<String, (u32, bool)>,
    /// Rank of each COPY item in claim order.
    rank: HashMap<usize, usize>,
    done: usize,
    running: usize,
}

/// The claim order of the COPY items of `plan` for `jobs` connections.
pub fn claim_order(plan: &Plan, jobs: usize) -> Vec<usize> {
    let copies: Vec<usize> = (0..plan.items.len())
        .filter(|&i| plan.items[i].kind == Kind::TableData)
        .collect();
    let total: u64 = copies.iter().map(|&i| plan.items[i].weight).sum();
    let large = |i: &usize| plan.items[*i].weight * 4 * jobs.max(1) as u64 >= total.max(1);
    let (mut first, rest): (Vec<usize>, Vec<usize>) = copies.into_iter().partition(large);
    first.extend(rest);
    first
}

impl Scheduler {
    /// Nothing started yet.
    pub fn new(plan: &Plan, jobs: usize) -> Self {
        let n = plan.items.len();
        let mut dependents = vec![Vec::new(); n];
        let mut missing = vec![0; n];
        for (i, item) in plan.items.iter().enumerate() {
            missing[i] = item.deps.len();
            for &d in &item.deps {
                dependents[d].push(i);
            }
        }
        let ready = (0..n).filter(|&i| missing[i] == 0).collect();
        let rank = claim_order(plan, jobs)
            .into_iter()
            .enumerate()
            .map(|(r, i)| (i, r))
            .collect();
        Scheduler {
            state: vec![State::Waiting; n],
            missing,
            dependents,
            ready,
            locks: HashMap::new(),
            rank,
            done: 0,
            running: 0,
        }
    }

    /// Whether every item is done.
    pub fn finished(&self) -> bool {
        self.done == self.state.len()
    }

    /// Items running.
    pub fn running(&self) -> usize {
        self.running
    }

    fn free(&self, plan: &Plan, item: usize) -> bool {
        plan.items[item]
            .locks
            .iter()
            .all(|(table, mode)| match (self.locks.get(table), mode) {
                (None, _) => true,
                (Some(&(shared, exclusive)), Mode::Shared) => !exclusive && shared < u32::MAX,
                (Some(&(shared, exclusive)), Mode::Exclusive) => !exclusive && shared == 0,
            })
    }

    /// The item to start now, marked running; `None` when nothing may start. A serial
    /// item is only given when `serial` (to the connection that runs them all).
    pub fn next(&mut self, plan: &Plan, serial: bool) -> Option<usize> {
        let mut best: Option<(usize, usize)> = None;
        let mut best_copy: Option<(usize, usize)> = None;
        for (at, &i) in self.ready.iter().enumerate() {
            if !self.free(plan, i) || (!serial && plan.items[i].kind == Kind::Serial) {
                continue;
            }
            match self.rank.get(&i) {
                Some(&r) => {
                    if best_copy.is_none_or(|(_, b)| r < self.rank[&b]) {
                        best_copy = Some((at, i));
                    }
                }
                None => {
                    let w = plan.items[i].weight;
                    if best.is_none_or(|(_, b)| {
                        let bw = plan.items[b].weight;
                        w > bw || (w == bw && i < b)
                    }) {
                        best = Some((at, i));
                    }
                }
            }
        }
        let pick = match (best, best_copy) {
            (Some(a), Some(c)) => {
                if plan.items[a.1].weight > plan.items[c.1].weight {
                    a
                } else {
                    c
                }
            }
            (a, c) => a.or(c)?,
        };
        let (at, item) = pick;
        self.ready.swap_remove(at);
        self.state[item] = State::Running;
        self.running += 1;
        for (table, mode) in &plan.items[item].locks {
            let entry = self.locks.entry(table.clone()).or_insert((0, false));
            match mode {
                Mode::Shared => entry.0 += 1,
                Mode::Exclusive => entry.1 = true,
            }
        }
        Some(item)
    }

    /// `item` is done: its locks are released and the items waiting for it may start.
    pub fn finish(&mut self, plan: &Plan, item: usize) {
        if self.state[item] != State::Running {
            return;
        }
        self.state[item] = State::Done;
        self.running -= 1;
        self.done += 1;
        for (table, mode) in &plan.items[item].locks {
            if let Some(entry) = self.locks.get_mut(table) {
                match mode {
                    Mode::Shared => entry.0 = entry.0.saturating_sub(1),
                    Mode::Exclusive => entry.1 = false,
                }
                if *entry == (0, false) {
                    self.locks.remove(table);
                }
            }
        }
        for &d in &self.dependents[item] {
            self.missing[d] -= 1;
            if self.missing[d] == 0 {
                self.ready.push(d);
            }
        }
    }
}

/// One connection's session settings: which setting statement is in force for each key.
#[derive(Debug, Default)]
pub struct Session {
    applied: BTreeMap<String, usize>,
}

impl Session {
    /// The statements that give this connection the settings in force before setting
    /// `upto` of the dump (replaying a setting, or `RESET` of one set later in the dump
    /// than the item about to run).
    pub fn catch_up(&mut self, settings: &[Setting], upto: usize) -> Vec<Vec<u8>> {
        let mut wanted: BTreeMap<&str, usize> = BTreeMap::new();
        for (i, s) in settings.iter().enumerate().take(upto) {
            wanted.insert(&s.key, i);
        }
        let mut out = Vec::new();
        let stale: Vec<String> = self
            .applied
            .keys()
            .filter(|k| !wanted.contains_key(k.as_str()))
            .cloned()
            .collect();
        for key in stale {
            out.push(format!("RESET {key};\n").into_bytes());
            self.applied.remove(&key);
        }
        for (key, i) in wanted {
            if self.applied.get(key) != Some(&i) {
                let mut text = settings[i].text.clone();
                text.push(b'\n');
                out.push(text);
                self.applied.insert(key.to_string(), i);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::super::plan::tests::{plan_of, DUMP};
    use super::*;

    /// Runs the plan with `jobs` connections, each finishing its items in start order
    /// after `hold` further picks; returns the items in start order and the most running
    /// at once.
    fn run(plan: &Plan, jobs: usize) -> (Vec<usize>, usize) {
        let mut s = Scheduler::new(plan, jobs);
        let mut order = Vec::new();
        let mut running: Vec<usize> = Vec::new();
        let mut most = 0;
        while !s.finished() {
            while running.len() < jobs {
                match s.next(plan, true) {
                    Some(i) => {
                        // Every dependency is done before an item starts.
                        assert!(plan.items[i]
                            .deps
                            .iter()
                            .all(|d| order.contains(d) && !running.contains(d)));
                        order.push(i);
                        running.push(i);
                    }
                    None => break,
                }
            }
            most = most.max(running.len());
            assert!(!running.is_empty(), "stuck");
            let i = running.remove(0);
            s.finish(plan, i);
        }
        (order, most)
    }

    #[test]
    fn every_item_runs_once_after_its_dependencies_and_never_beside_a_conflicting_one() {
        let plan = plan_of(DUMP);
        for jobs in 1..=4 {
            let (order, most) = run(&plan, jobs);
            let mut sorted = order.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..plan.items.len()).collect::<Vec<_>>());
            assert!(most <= jobs);
        }
        // Pre-data in order, then both COPYs side by side.
        let (order, most) = run(&plan, 2);
        assert_eq!(&order[..4], [0, 1, 2, 3]);
        assert_eq!(most, 2);
    }

    #[test]
    fn conflicting_locks_wait_and_shared_ones_do_not() {
        let plan = plan_of(DUMP);
        let mut s = Scheduler::new(&plan, 4);
        for i in 0..4 {
            assert_eq!(s.next(&plan, true), Some(i));
            assert_eq!(s.next(&plan, true), None);
            s.finish(&plan, i);
        }
        let mut started = Vec::new();
        while let Some(i) = s.next(&plan, true) {
            started.push(i);
        }
        started.sort_unstable();
        assert_eq!(started, [4, 5, 6]);
        // `Odd "T"` loaded: its primary key (exclusive) and its index (shared) are ready,
        // but only one of them may run.
        s.finish(&plan, 4);
        let first = s.next(&plan, true).unwrap();
        assert!(first == 7 || first == 9);
        assert_eq!(s.next(&plan, true), None);
    }

    #[test]
    fn large_copies_are_claimed_first_then_the_rest_in_dump_order() {
        let mut plan = plan_of(DUMP);
        plan.items[4].weight = 10;
        plan.items[5].weight = 1000;
        assert_eq!(claim_order(&plan, 2), [5, 4]);
        plan.items[4].weight = 900;
        assert_eq!(claim_order(&plan, 2), [4, 5]);
    }

    #[test]
    fn a_connection_replays_the_settings_in_force_at_an_items_place() {
        let set = |key: &str, v: &str| Setting {
            key: key.into(),
            text: format!("SET {key} = {v};").into_bytes(),
        };
        let settings = [set("a", "1"), set("b", "1"), set("a", "2"), set("c", "1")];
        let text = |v: Vec<Vec<u8>>| -> Vec<String> {
            v.into_iter()
                .map(|t| String::from_utf8(t).unwrap())
                .collect()
        };
        let mut s = Session::default();
        assert_eq!(
            text(s.catch_up(&settings, 2)),
            ["SET a = 1;\n", "SET b = 1;\n"]
        );
        assert_eq!(text(s.catch_up(&settings, 2)), Vec::<String>::new());
        assert_eq!(
            text(s.catch_up(&settings, 4)),
            ["SET a = 2;\n", "SET c = 1;\n"]
        );
        // Back to an earlier item: `c` was not set yet there.
        assert_eq!(
            text(s.catch_up(&settings, 2)),
            ["RESET c;\n", "SET a = 1;\n"]
        );
    }
}
