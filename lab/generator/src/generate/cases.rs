//! Clinical cases and their states, messages and files.

use super::out::{year_of, Out, Secs};
use super::rng::Planter;
use super::spec::*;
use super::words::*;
use super::world::*;
use std::fmt::Write as _;

type Res = anyhow::Result<()>;

pub fn cases(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("cases");
    let n_pat = w.patient_created.len();
    let n_doc = w.count("doctors") as i64;
    let mut r = w.rng("cases");
    // About one case per patient: a random subset of patients, in patient order.
    let mut sel = Planter::new(w.sub_rng("cases", "patients"), n_pat, n.min(n_pat));
    let mut patients: Vec<usize> = (0..n_pat).filter(|_| sel.next()).collect();
    while patients.len() < n {
        patients.push(r.index(n_pat));
    }
    // How many case_states rows each case has (decided here so current_state can match).
    let n_states = w.count("case_states");
    let state_counts = child_counts(&mut w.sub_rng("case_states", "per_case"), n, n_states, 7);
    let mut created: Vec<Secs> = patients
        .iter()
        .map(|&p| after(&mut r, w.patient_created[p], HOUR, 30 * DAY))
        .collect();
    monotone(&mut created);
    w.case_doctor.reserve(n);
    w.case_last_state.reserve(n);
    for (i, &p) in patients.iter().enumerate() {
        let c = created[i];
        let k = state_counts[i];
        let last_state: u8 = if k == 0 {
            1
        } else if k >= 3 && r.chance(0.03) {
            8
        } else {
            k as u8
        };
        let doctor = if r.chance(0.03) {
            r.range(1, n_doc)
        } else {
            w.patient_doctor[p]
        };
        o.id(i + 1);
        o.id(p + 1);
        o.int(doctor);
        o.fmt(format_args!("C{:02}-{:05}", year_of(c) % 100, i + 1));
        o.int(i64::from(last_state));
        o.opt_text(r.weighted(&[
            (Some("I"), 35),
            (Some("II/1"), 15),
            (Some("II div 1"), 10),
            (Some("Class II"), 10),
            (Some("II/2"), 5),
            (Some("III"), 8),
            (Some("Class III"), 2),
            (None, 15),
        ]));
        if r.chance(0.1) {
            o.null();
        } else {
            o.text(r.pick_str(CASE_COMPLAINTS));
        }
        if r.chance(0.3) {
            o.null();
        } else {
            o.text(r.pick_str(CASE_DIAGNOSES));
        }
        o.bool(r.chance(0.01));
        o.ts(c);
        let closed = if last_state == 7 {
            Some(after(
                &mut r,
                c,
                i64::from(k) * 30 * DAY,
                i64::from(k) * 120 * DAY,
            ))
        } else {
            None
        };
        o.ts(closed.unwrap_or_else(|| later(&mut r, c)));
        o.opt_ts(closed);
        o.end_row()?;
        w.case_doctor.push(doctor);
        w.case_last_state.push(last_state);
    }
    w.case_created = created;
    w.case_state_count = state_counts;
    Ok(())
}

const STATE_REASONS: &[&str] = &[
    "Records complete",
    "Doctor approved plan",
    "Bonded today",
    "Debond, retainers delivered",
    "Patient moved",
    "Waiting on x-rays",
    "Auto-advanced by system",
];

pub fn case_states(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let mut r = w.rng("case_states");
    let mut id = 0;
    for (cs, &k) in w.case_state_count.iter().enumerate() {
        let mut t = w.case_created[cs];
        let mut prev: Option<i64> = None;
        let doctor_profile = w.profile_of_doctor(w.case_doctor[cs]);
        for j in 0..k {
            id += 1;
            let state = if j + 1 == k {
                i64::from(w.case_last_state[cs])
            } else {
                i64::from(j) + 1
            };
            o.id(id);
            o.id(cs + 1);
            o.int(state);
            o.opt_int(prev);
            match r.below(3) {
                0 if doctor_profile.is_some() => o.opt_int(doctor_profile),
                1 => o.opt_int(w.tech_profile(&mut r)),
                _ => o.int(w.staff_profile(&mut r)),
            }
            if r.chance(0.7) {
                o.null();
            } else {
                o.text(r.pick_str(STATE_REASONS));
            }
            o.ts(t);
            o.end_row()?;
            prev = Some(state);
            t = after(&mut r, t, 7 * DAY, 120 * DAY);
        }
    }
    Ok(())
}

pub fn case_messages(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("case_messages");
    let n_case = w.case_created.len();
    let mut r = w.rng("case_messages");
    let counts = child_counts(&mut w.sub_rng("case_messages", "per_case"), n_case, n, 20);
    let mut orphan = w.plant("case_messages", "orphan_case", n, ORPHAN_CASE_MESSAGE_CASE);
    let mut id = 0;
    for (cs, &k) in counts.iter().enumerate() {
        let doctor_profile = w.profile_of_doctor(w.case_doctor[cs]);
        let mut t = w.case_created[cs];
        for _ in 0..k {
            id += 1;
            t = after(&mut r, t, HOUR, 60 * DAY);
            o.id(id);
            if orphan.next() {
                o.int(orphan_id(&mut r, n_case));
            } else {
                o.id(cs + 1);
            }
            match r.weighted(&[(0u8, 45), (1, 35), (2, 12), (3, 8)]) {
                0 if doctor_profile.is_some() => {
                    o.opt_int(doctor_profile);
                    o.text(if r.chance(0.8) { "doctor" } else { "Doctor" });
                }
                1 => {
                    o.opt_int(w.tech_profile(&mut r));
                    o.text(if r.chance(0.7) { "technician" } else { "tech" });
                }
                3 => {
                    o.null();
                    o.text("system");
                }
                _ => {
                    o.int(w.staff_profile(&mut r));
                    o.text("staff");
                }
            }
            o.text(r.pick_str(MESSAGE_BODIES));
            let is_read = r.chance(0.85);
            o.bool(is_read);
            let read_at = if is_read {
                r.chance(0.95)
            } else {
                r.chance(0.02)
            };
            o.opt_ts(if read_at {
                Some(after(&mut r, t, 5 * MINUTE, 3 * DAY))
            } else {
                None
            });
            o.ts(t);
            o.opt_ts(if r.chance(0.015) {
                Some(later(&mut r, t))
            } else {
                None
            });
            o.end_row()?;
        }
    }
    Ok(())
}

pub fn case_files(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("case_files");
    let mut r = w.rng("case_files");
    let counts = child_counts(
        &mut w.sub_rng("case_files", "per_case"),
        w.case_created.len(),
        n,
        12,
    );
    let mut name = String::with_capacity(48);
    let mut id = 0;
    for (cs, &k) in counts.iter().enumerate() {
        let c0 = w.case_created[cs];
        let doctor_profile = w.profile_of_doctor(w.case_doctor[cs]);
        for _ in 0..k {
            id += 1;
            let category = r.weighted(&[
                (1u8, 25),
                (2, 30),
                (3, 12),
                (4, 8),
                (5, 3),
                (6, 12),
                (7, 10),
            ]);
            name.clear();
            let (mime, size) = match category {
                1 | 2 => {
                    write!(name, "IMG_{:04}.JPG", r.below(10_000)).unwrap();
                    ("image/jpeg", r.range(400_000, 8_000_000))
                }
                3 => {
                    name.push_str("panoramic.jpg");
                    ("image/jpeg", r.range(1_000_000, 6_000_000))
                }
                4 => {
                    name.push_str("ceph lateral.jpg");
                    ("image/jpeg", r.range(1_000_000, 6_000_000))
                }
                5 => {
                    name.push_str("cbct.zip");
                    ("application/zip", r.range(50_000_000, 900_000_000))
                }
                6 => {
                    name.push_str(if r.chance(0.5) {
                        "upper.stl"
                    } else {
                        "lower.stl"
                    });
                    ("model/stl", r.range(2_000_000, 60_000_000))
                }
                _ => {
                    name.push_str(if r.chance(0.5) {
                        "consent form.pdf"
                    } else {
                        "referral.pdf"
                    });
                    ("application/pdf", r.range(50_000, 3_000_000))
                }
            };
            o.id(id);
            o.id(cs + 1);
            o.int(i64::from(category));
            o.text(&name);
            o.fmt(format_args!(
                "cases/{}/{:016x}/{}",
                cs + 1,
                r.next_u64(),
                name
            ));
            o.text(mime);
            o.int(size);
            if doctor_profile.is_some() && r.chance(0.5) {
                o.opt_int(doctor_profile);
            } else {
                o.int(w.staff_profile(&mut r));
            }
            o.bool(r.chance(0.02));
            o.ts(after(&mut r, c0, 0, 30 * DAY));
            o.end_row()?;
        }
    }
    Ok(())
}
