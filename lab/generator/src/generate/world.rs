//! What the generator remembers between tables (parents' ids, times and a few attributes, never
//! whole rows), plus the helpers every table uses.

use super::out::{at, Out, Secs};
use super::rng::{planted_count, Planter, Rng};
use super::spec::{CORE_QUARANTINE_SHARE, TABLES};
use super::words::CITIES;

pub const MINUTE: Secs = 60;
pub const HOUR: Secs = 3_600;
pub const DAY: Secs = 86_400;

/// The day the old system's data was imported (the first rows of the oldest tables carry it).
pub const IMPORT_AT: Secs = at(2015, 1, 3) + 2 * HOUR + 17 * MINUTE;
/// Rows created before this instant came from the import (they all count as created together).
pub const IMPORT_END: Secs = at(2015, 1, 5);
/// The last second of the dataset: 2025-06-30 23:59:59. Nothing is generated after it.
pub const END: Secs = at(2025, 7, 1) - 1;

pub struct World {
    pub seed: u64,
    counts: Vec<usize>,

    pub office_created: Vec<Secs>,
    /// Doctors (ids) per office index, for offices that exist.
    pub office_doctors: Vec<Vec<u32>>,
    /// Per office: the lab's migration quarantines it (see `QuarantineBudget`).
    pub office_doomed: Vec<bool>,

    pub profile_created: Vec<Secs>,
    /// Type-1 profile ids handed to doctors, ascending (one per doctor while they last).
    pub doctor_profile_pool: Vec<u32>,
    /// Type-3 profile ids handed to technicians, ascending.
    pub tech_profile_pool: Vec<u32>,
    /// Type-2 profile ids, ascending (patients who have a login).
    pub patient_profile_pool: Vec<u32>,
    /// Type-4/5 profile ids (admins and staff), ascending.
    pub staff_profiles: Vec<u32>,

    pub doctor_created: Vec<Secs>,
    pub doctor_office: Vec<i64>,
    pub doctor_profile: Vec<Option<u32>>,
    pub doctor_doomed: Vec<bool>,

    pub patient_created: Vec<Secs>,
    pub patient_doctor: Vec<i64>,
    pub patient_office: Vec<Option<i64>>,
    pub patient_last: Vec<u16>,
    pub patient_doomed: Vec<bool>,

    pub order_created: Vec<Secs>,
    /// Time of the last status_history entry.
    pub order_done: Vec<Secs>,
    pub order_patient: Vec<i64>,
    pub order_doctor: Vec<i64>,
    pub order_status: Vec<u8>,
    /// When the order reached status 3 (shipped), if it did.
    pub order_shipped: Vec<Option<Secs>>,
    pub order_total_cents: Vec<i64>,

    pub project_order: Vec<u32>,
    pub project_created: Vec<Secs>,
    pub project_status: Vec<u8>,
    pub project_type: Vec<u8>,
    pub project_aligner: Vec<bool>,

    pub plan_created: Vec<Secs>,

    pub case_created: Vec<Secs>,
    pub case_doctor: Vec<i64>,
    pub case_state_count: Vec<u32>,
    pub case_last_state: Vec<u8>,

    pub message_created: Vec<Secs>,
}

impl World {
    pub fn new(seed: u64, scale: f64) -> World {
        World {
            seed,
            counts: TABLES.iter().map(|t| t.rows_at(scale)).collect(),
            office_created: Vec::new(),
            office_doctors: Vec::new(),
            office_doomed: Vec::new(),
            profile_created: Vec::new(),
            doctor_profile_pool: Vec::new(),
            tech_profile_pool: Vec::new(),
            patient_profile_pool: Vec::new(),
            staff_profiles: Vec::new(),
            doctor_created: Vec::new(),
            doctor_office: Vec::new(),
            doctor_profile: Vec::new(),
            doctor_doomed: Vec::new(),
            patient_created: Vec::new(),
            patient_doctor: Vec::new(),
            patient_office: Vec::new(),
            patient_last: Vec::new(),
            patient_doomed: Vec::new(),
            order_created: Vec::new(),
            order_done: Vec::new(),
            order_patient: Vec::new(),
            order_doctor: Vec::new(),
            order_status: Vec::new(),
            order_shipped: Vec::new(),
            order_total_cents: Vec::new(),
            project_order: Vec::new(),
            project_created: Vec::new(),
            project_status: Vec::new(),
            project_type: Vec::new(),
            project_aligner: Vec::new(),
            plan_created: Vec::new(),
            case_created: Vec::new(),
            case_doctor: Vec::new(),
            case_state_count: Vec::new(),
            case_last_state: Vec::new(),
            message_created: Vec::new(),
        }
    }

    /// Rows the table gets at this scale.
    pub fn count(&self, table: &str) -> usize {
        let pos = TABLES
            .iter()
            .position(|t| t.name == table)
            .unwrap_or_else(|| panic!("no table {table}"));
        self.counts[pos]
    }

    /// The table's own PRNG stream.
    pub fn rng(&self, table: &str) -> Rng {
        Rng::stream(self.seed, table)
    }

    /// A named sub-stream of a table (e.g. "cases/states_per_case").
    pub fn sub_rng(&self, table: &str, what: &str) -> Rng {
        Rng::stream(self.seed, &format!("{table}/{what}"))
    }

    /// Chooses the rows of `table` (of `n`) that get the planted anomaly `what` at `rate`.
    pub fn plant(&self, table: &str, what: &str, n: usize, rate: f64) -> Planter {
        self.plant_exactly(table, what, n, planted_count(n, rate))
    }

    /// Chooses `k` rows of `table` (of `n`) for the planted anomaly `what`.
    pub fn plant_exactly(&self, table: &str, what: &str, n: usize, k: usize) -> Planter {
        Planter::new(self.sub_rng(table, &format!("plant:{what}")), n, k)
    }

    /// A profile id for authors: admins and staff (profile 1 at scales too small to have any).
    pub fn staff_profile(&self, r: &mut Rng) -> i64 {
        if self.staff_profiles.is_empty() {
            1
        } else {
            i64::from(*r.pick(&self.staff_profiles))
        }
    }

    /// A technician's profile id.
    pub fn tech_profile(&self, r: &mut Rng) -> Option<i64> {
        if self.tech_profile_pool.is_empty() {
            None
        } else {
            Some(i64::from(*r.pick(&self.tech_profile_pool)))
        }
    }

    /// The login profile of a doctor id (None when the id is an orphan or the doctor has none).
    pub fn profile_of_doctor(&self, doctor_id: i64) -> Option<i64> {
        if doctor_id >= 1 && (doctor_id as usize) <= self.doctor_profile.len() {
            self.doctor_profile[doctor_id as usize - 1].map(i64::from)
        } else {
            None
        }
    }
}

/// Inverse of the cumulative distribution of a business that grows over time: the density of
/// new rows rises linearly from 0.6 to 1.4 times the average between start and end.
fn grow(x: f64) -> f64 {
    const A: f64 = 0.6;
    const B: f64 = 1.0 - A;
    (-A + (A * A + 4.0 * B * x).sqrt()) / (2.0 * B)
}

/// Moves a timestamp into 07:00-19:00 of its day, keeping the order of timestamps.
pub fn work_hours(t: Secs) -> Secs {
    let day = t.div_euclid(DAY);
    day * DAY + 7 * HOUR + t.rem_euclid(DAY) / 2
}

/// Creation times for `n` rows whose ids follow time: the first `imported` fraction carries the
/// import date (a few per second), the rest spread from `start` to `end`, denser later, during
/// working hours. The result is non-decreasing.
pub fn created_series(r: &mut Rng, n: usize, imported: f64, start: Secs, end: Secs) -> Vec<Secs> {
    let k = ((n as f64) * imported).round() as usize;
    let k = if n > 1 { k.min(n - 1) } else { 0 };
    let mut out = Vec::with_capacity(n);
    for i in 0..k {
        out.push(IMPORT_AT + (i / 40) as Secs);
    }
    let m = n - k;
    for i in 0..m {
        let x = (i as f64 + r.f64()) / m as f64;
        let t = start + ((end - start) as f64 * grow(x)) as Secs;
        out.push(work_hours(t));
    }
    out
}

/// Index of a parent created before `t`, leaning towards recent parents when `recent > 1`
/// (the uniform draw is raised to that power). Falls back to the first parent.
pub fn pick_before(r: &mut Rng, created: &[Secs], t: Secs, recent: u32) -> usize {
    // Imported rows were created together: any imported parent fits an imported child.
    let t = if t < IMPORT_END { IMPORT_END } else { t };
    let m = created.partition_point(|&c| c < t);
    if m == 0 {
        return 0;
    }
    let u = r.f64();
    let mut p = u;
    for _ in 1..recent {
        p *= u;
    }
    let back = ((m as f64) * p) as usize;
    m - 1 - back.min(m - 1)
}

/// How many rows of one core table (offices, doctors, patients, orders) the lab's migration
/// may quarantine: `CORE_QUARANTINE_SHARE` of its rows, rounded down. The planted dirt that
/// makes a row fail takes its share first (each kind its usual count while the budget lasts),
/// then the children of parents that fail (an orphan's children are orphans too) take the
/// rest; once it is spent, a child that drew a failing parent draws again.
///
/// At scale 1 the budget is never reached (the dirt is about half of it), so it changes
/// nothing there; at small scales it keeps one rounded-up anomaly, or one dirty parent with
/// many children, from being a far larger share of the table than the rates say.
pub struct QuarantineBudget {
    left: usize,
}

/// Draws of another parent before falling back to the nearest healthy one.
const REDRAWS: usize = 16;

impl QuarantineBudget {
    pub fn new(rows: usize) -> QuarantineBudget {
        QuarantineBudget {
            left: (rows as f64 * CORE_QUARANTINE_SHARE) as usize,
        }
    }

    /// Like `World::plant` for dirt that makes the migration quarantine the row: the usual
    /// count, but no more than the budget has left.
    pub fn plant(&mut self, w: &World, table: &str, what: &str, n: usize, rate: f64) -> Planter {
        let k = planted_count(n, rate).min(self.left);
        self.left -= k;
        w.plant_exactly(table, what, n, k)
    }

    /// `pick_before`, for a child that fails when its parent does (`doomed[parent]`): a
    /// failing parent is kept while the budget lasts; after that the child draws again, and
    /// after `REDRAWS` draws takes the nearest earlier healthy parent (or the first later one).
    pub fn pick_before(
        &mut self,
        r: &mut Rng,
        created: &[Secs],
        doomed: &[bool],
        t: Secs,
        recent: u32,
    ) -> usize {
        let mut p = pick_before(r, created, t, recent);
        if !doomed[p] {
            return p;
        }
        if self.left > 0 {
            self.left -= 1;
            return p;
        }
        for _ in 0..REDRAWS {
            p = pick_before(r, created, t, recent);
            if !doomed[p] {
                return p;
            }
        }
        (0..p)
            .rev()
            .chain(p + 1..doomed.len())
            .find(|&i| !doomed[i])
            .unwrap_or(p)
    }
}

/// An id just past the parent table's last id: a reference to a row that does not exist.
pub fn orphan_id(r: &mut Rng, parents: usize) -> i64 {
    parents as i64 + 1 + r.below(parents as u64 / 5 + 50) as i64
}

/// How many children each parent gets: `children` draws of a uniform parent, no parent above
/// `cap` (raised if it could not fit). The counts sum to exactly `children`.
pub fn child_counts(r: &mut Rng, parents: usize, children: usize, cap: u32) -> Vec<u32> {
    let mut counts = vec![0u32; parents];
    if parents == 0 {
        return counts;
    }
    let cap = cap.max(children.div_ceil(parents) as u32);
    for _ in 0..children {
        loop {
            let p = r.index(parents);
            if counts[p] < cap {
                counts[p] += 1;
                break;
            }
        }
    }
    counts
}

/// Makes a series non-decreasing (running maximum).
pub fn monotone(v: &mut [Secs]) {
    for i in 1..v.len() {
        if v[i] < v[i - 1] {
            v[i] = v[i - 1];
        }
    }
}

/// A random time between `t` and END (t itself when t >= END).
pub fn later(r: &mut Rng, t: Secs) -> Secs {
    if t >= END {
        t
    } else {
        r.range(t, END)
    }
}

/// Lower-case ASCII letters and digits of a name, for e-mail addresses and file names.
pub fn slug_into(out: &mut String, name: &str) {
    for c in name.chars() {
        let c = match c {
            'á' | 'à' | 'â' | 'ä' | 'Á' => 'a',
            'é' | 'è' | 'ê' | 'ë' | 'É' => 'e',
            'í' | 'ì' | 'î' | 'ï' => 'i',
            'ó' | 'ò' | 'ô' | 'ö' | 'Ö' => 'o',
            'ú' | 'ù' | 'û' | 'ü' | 'Ü' => 'u',
            'ñ' => 'n',
            'ř' => 'r',
            c => c,
        };
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        }
    }
}

pub fn slug(name: &str) -> String {
    let mut s = String::with_capacity(name.len());
    slug_into(&mut s, name);
    s
}

/// A phone number as the front desk typed it.
pub fn phone(o: &mut Out<'_, '_>, r: &mut Rng, area: u32) {
    let ex = r.range(201, 989);
    let line = r.range(0, 9999);
    match r.weighted(&[(0u8, 40), (1, 30), (2, 8), (3, 10), (4, 7), (5, 5)]) {
        0 => o.fmt(format_args!("({area}) {ex}-{line:04}")),
        1 => o.fmt(format_args!("{area}-{ex}-{line:04}")),
        2 => o.fmt(format_args!("{area}.{ex}.{line:04}")),
        3 => o.fmt(format_args!("{area}{ex}{line:04}")),
        4 => o.fmt(format_args!("+1 {area} {ex} {line:04}")),
        _ => o.fmt(format_args!("{area}-{ex}-{line:04} ext {}", r.range(1, 40))),
    }
}

pub fn area_code(r: &mut Rng) -> u32 {
    r.pick(CITIES).3
}

/// The order number the lab printed: 'L001234' before 2018, 'ORD-2019-014233' since.
pub fn write_order_number(buf: &mut Vec<u8>, id: usize, created: Secs) {
    use std::io::Write;
    let y = super::out::year_of(created);
    if y < 2018 {
        let _ = write!(buf, "L{id:06}");
    } else {
        let _ = write!(buf, "ORD-{y}-{id:06}");
    }
}

/// 32 lower-case hex digits.
pub fn write_hex32(buf: &mut Vec<u8>, r: &mut Rng) {
    use std::io::Write;
    let _ = write!(buf, "{:016x}{:016x}", r.next_u64(), r.next_u64());
}

/// A time `lo..=hi` seconds after `t`. An offset that would pass END is scaled down into the
/// room left (keeping the shape, so children of recent rows do not pile up on END).
pub fn after(r: &mut Rng, t: Secs, lo: Secs, hi: Secs) -> Secs {
    let off = r.range(lo, hi);
    let room = END - t;
    if room <= 0 {
        t
    } else if off <= room {
        t + off
    } else {
        t + (i128::from(off) * i128::from(room) / i128::from(hi.max(1))) as Secs
    }
}
