//! Orders and everything hanging off them: jaws, projects, treatment plans, tasks, files,
//! messages (the dispatch records), payments and feedback.

use super::out::{at, push_escaped, push_ts, push_u64, year_of, Out, Secs};
use super::rng::Rng;
use super::spec::*;
use super::words::*;
use super::world::*;
use std::fmt::Write as _;
use std::io::Write as _;

type Res = anyhow::Result<()>;

/// A money value written the legacy way: usually two decimals, sometimes fewer (1234.5, 1200).
fn money_any_scale(o: &mut Out<'_, '_>, r: &mut Rng, cents: i64) -> i64 {
    match r.weighted(&[(0u8, 87), (1, 8), (2, 5)]) {
        0 => {
            o.decimal(cents, 2);
            cents
        }
        1 => {
            let dimes = cents / 10;
            o.decimal(dimes, 1);
            dimes * 10
        }
        _ => {
            let dollars = cents / 100;
            o.decimal(dollars, 0);
            dollars * 100
        }
    }
}

/// More than two decimals: 1234.567 or 1234.5675.
fn money_excess_scale(o: &mut Out<'_, '_>, r: &mut Rng, cents: i64) {
    let sign = if cents < 0 { -1 } else { 1 };
    if r.chance(0.7) {
        o.decimal(cents * 10 + sign * r.range(1, 9), 3);
    } else {
        o.decimal(cents * 100 + sign * r.range(1, 99), 4);
    }
}

pub fn orders(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("orders");
    let n_pat = w.count("patients");
    let n_doc = w.count("doctors");
    let mut r = w.rng("orders");
    let created = created_series(&mut r, n, 0.0, at(2015, 2, 1), END - 2 * DAY);
    let mut budget = QuarantineBudget::new(n);
    let mut orphan = budget.plant(w, "orders", "orphan_patient", n, ORPHAN_ORDER_PATIENT);
    let mut bad_json = w.plant(
        "orders",
        "malformed_status_history",
        n,
        MALFORMED_STATUS_HISTORY,
    );
    let mut excess = budget.plant(w, "orders", "excess_scale_total", n, EXCESS_SCALE_AMOUNT);
    let mut negative = budget.plant(w, "orders", "negative_total", n, NEGATIVE_AMOUNT);
    let mut deleted = w.plant("orders", "is_deleted", n, DELETED_ORDERS);
    let mut js = String::with_capacity(256);
    w.order_done.reserve(n);
    w.order_patient.reserve(n);
    w.order_doctor.reserve(n);
    w.order_status.reserve(n);
    w.order_total_cents.reserve(n);
    for (i, &c) in created.iter().enumerate() {
        let (patient, doctor, office) = if orphan.next() {
            let d = pick_before(&mut r, &w.doctor_created, c, 1);
            (
                orphan_id(&mut r, n_pat),
                d as i64 + 1,
                Some(w.doctor_office[d]),
            )
        } else {
            let p = budget.pick_before(&mut r, &w.patient_created, &w.patient_doomed, c, 3);
            let d = w.patient_doctor[p];
            let office = w.patient_office[p].or_else(|| {
                if (1..=n_doc as i64).contains(&d) {
                    Some(w.doctor_office[d as usize - 1])
                } else {
                    None
                }
            });
            (p as i64 + 1, d, office)
        };
        let recent = c > END - 45 * DAY;
        let target: u8 = if recent {
            r.weighted(&[(0u8, 10), (1, 25), (2, 35), (3, 15), (4, 10), (9, 5)])
        } else {
            r.weighted(&[(4u8, 840), (5, 90), (3, 20), (9, 30), (0, 20)])
        };
        // status history: the path to the target status, 1-5 entries, cut where it would pass
        // the end of the dataset (the order is then still at the last status it reached)
        let mut hist: [(u8, Secs); 6] = [(0, 0); 6];
        let mut len = 0;
        let mut t = c;
        let mut push = |s: u8, t: &mut Secs, r: &mut Rng| {
            if *t > END {
                return;
            }
            hist[len] = (s, *t);
            len += 1;
            *t += match s {
                0 => r.range(10 * MINUTE, 3 * DAY),
                1 => r.range(2 * HOUR, 5 * DAY),
                2 => r.range(2 * DAY, 15 * DAY),
                _ => r.range(DAY, 6 * DAY),
            };
        };
        if target == 0 || r.chance(0.3) {
            push(0, &mut t, &mut r);
        }
        match target {
            0 => {}
            1 => push(1, &mut t, &mut r),
            2..=4 => {
                for s in 1..=target {
                    push(s, &mut t, &mut r);
                }
            }
            _ => {
                push(1, &mut t, &mut r);
                if r.chance(0.5) {
                    push(2, &mut t, &mut r);
                }
                push(target, &mut t, &mut r);
            }
        }
        let hist = &hist[..len];
        let (status, done) = hist[len - 1];

        o.id(i + 1);
        o.int(patient);
        o.int(doctor);
        o.opt_int(office);
        write_order_number(o.raw(), i + 1, c);
        o.done_field();
        o.int(i64::from(status));
        // total: dollars 50-5000, mostly two decimals
        let u = r.f64();
        let mut cents = 5_000 + (495_000.0 * u * u) as i64;
        let is_negative = negative.next();
        let is_excess = excess.next();
        if is_negative {
            cents = -r.range(1_000, 20_000);
        }
        if is_excess {
            money_excess_scale(o, &mut r, cents);
        } else {
            cents = money_any_scale(o, &mut r, cents);
        }
        // paid, in cents
        let paid = match status {
            _ if r.chance(0.01) => None,
            _ if cents <= 0 => Some(0),
            4 => Some(r.weighted(&[(0u8, 85), (1, 8), (2, 7)])).map(|k| match k {
                0 => cents,
                1 => cents / 2,
                _ => 0,
            }),
            3 => Some(if r.chance(0.6) { cents } else { 0 }),
            5 => Some(0),
            _ => Some(if r.chance(0.3) { cents * 3 / 10 } else { 0 }),
        };
        o.opt_int(paid);
        o.opt_text(r.weighted(&[(Some("USD"), 970), (Some("usd"), 15), (None, 15)]));
        // status_history JSON text
        let malformed = bad_json.next();
        if c < at(2015, 6, 1) && !malformed {
            o.null(); // the history column was added in June 2015
        } else {
            js.clear();
            let spaced = year_of(c) < 2018 && r.chance(0.3);
            js.push('[');
            for (k, &(s, at_t)) in hist.iter().enumerate() {
                if k > 0 {
                    js.push_str(if spaced { ", " } else { "," });
                }
                let mut ts = Vec::with_capacity(19);
                push_ts(&mut ts, at_t);
                let ts = std::str::from_utf8(&ts).unwrap_or_default();
                if spaced {
                    write!(js, "{{\"status\": {s}, \"at\": \"{ts}\"}}").unwrap();
                } else {
                    write!(js, "{{\"status\":{s},\"at\":\"{ts}\"}}").unwrap();
                }
            }
            js.push(']');
            if malformed {
                match r.below(5) {
                    0 => {
                        let cut = js.len() / 2;
                        js.truncate(cut);
                    }
                    1 => js = js.replace('"', "'"),
                    2 => js.insert(js.len() - 1, ','),
                    3 => {
                        js.clear();
                        write!(js, "status={status}").unwrap();
                    }
                    _ => js.clear(),
                }
            }
            o.text(&js);
        }
        if r.chance(0.85) {
            o.null();
        } else {
            o.text(r.pick_str(ORDER_NOTES));
        }
        o.opt_ts(hist.iter().find(|h| h.0 == 1).map(|h| h.1));
        let shipped = hist.iter().find(|h| h.0 == 3).map(|h| h.1);
        o.opt_ts(shipped);
        o.bool(deleted.next());
        o.ts(c);
        o.ts(done);
        o.end_row()?;
        w.order_done.push(done);
        w.order_patient.push(patient);
        w.order_doctor.push(doctor);
        w.order_status.push(status);
        w.order_shipped.push(shipped);
        w.order_total_cents.push(cents);
    }
    w.order_created = created;
    Ok(())
}

/// Writes the FDI numbers of the treated teeth of one arch.
fn teeth(buf: &mut Vec<u8>, upper: bool, reach: u32, json: bool) {
    let (right, left) = if upper { (10, 20) } else { (40, 30) };
    if json {
        buf.push(b'[');
    }
    let mut first = true;
    let mut put = |buf: &mut Vec<u8>, t: u32| {
        if !first {
            buf.push(b',');
        }
        first = false;
        push_u64(buf, u64::from(t));
    };
    for k in (1..=reach).rev() {
        put(buf, right + k);
    }
    for k in 1..=reach {
        put(buf, left + k);
    }
    if json {
        buf.push(b']');
    }
}

pub fn jaws(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("jaws");
    let n_br = w.count("brackets");
    let mut r = w.rng("jaws");
    let counts = child_counts(
        &mut w.sub_rng("jaws", "per_order"),
        w.order_created.len(),
        n,
        2,
    );
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let c0 = w.order_created[ord];
        let only_lower = r.chance(0.45);
        for j in 0..k {
            id += 1;
            let upper = if k == 2 { j == 0 } else { !only_lower };
            let c = after(&mut r, c0, 5 * MINUTE, 6 * HOUR);
            o.id(id);
            o.id(ord + 1);
            o.int(if upper { 1 } else { 2 });
            o.opt_int(if r.chance(0.15) {
                None
            } else {
                Some(r.range(1, n_br as i64))
            });
            if r.chance(0.01) {
                o.text("");
            } else {
                let reach = *r.pick(&[3u32, 5, 5, 6, 7]);
                teeth(o.raw(), upper, reach, year_of(c) >= 2019);
                o.done_field();
            }
            o.opt_text(r.weighted(&[
                (Some("ovoid"), 40),
                (Some("Ovoid"), 10),
                (Some("tapered"), 20),
                (Some("square"), 15),
                (Some("Square"), 3),
                (None, 12),
            ]));
            o.text(if r.chance(0.9) { "labial" } else { "lingual" });
            o.ts(c);
            o.ts(after(&mut r, c, 0, 30 * DAY));
            o.end_row()?;
        }
    }
    Ok(())
}

const PROJECT_NAMES: [&str; 6] = [
    "",
    "Digital Setup",
    "Bracket Placement",
    "IDB Tray",
    "Aligner Staging",
    "Retainer",
];

pub fn projects(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("projects");
    let n_tech = w.count("technicians");
    let mut r = w.rng("projects");
    let counts = child_counts(
        &mut w.sub_rng("projects", "per_order"),
        w.order_created.len(),
        n,
        8,
    );
    w.project_order.reserve(n);
    w.project_created.reserve(n);
    w.project_status.reserve(n);
    w.project_type.reserve(n);
    w.project_aligner.reserve(n);
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let aligner = r.chance(0.3);
        let seq: [u8; 3] = if aligner { [1, 4, 5] } else { [1, 2, 3] };
        let ost = w.order_status[ord];
        let mut t = w.order_created[ord];
        for j in 0..k as usize {
            id += 1;
            let ty = seq[j % 3];
            let version = j / 3 + 1;
            t = after(&mut r, t, 4 * HOUR, 3 * DAY);
            let last = j + 1 == k as usize;
            let status: u8 = if last {
                match ost {
                    0 => 0,
                    1 | 9 => 1,
                    2 => r.weighted(&[(1u8, 60), (2, 40)]),
                    5 => r.weighted(&[(5u8, 70), (4, 30)]),
                    _ => r.weighted(&[(3u8, 92), (5, 8)]),
                }
            } else {
                r.weighted(&[(3u8, 80), (4, 12), (5, 8)])
            };
            o.id(id);
            o.id(ord + 1);
            o.opt_int(if r.chance(0.08) {
                None
            } else {
                Some(r.range(1, n_tech as i64))
            });
            o.int(i64::from(ty));
            let name = PROJECT_NAMES[ty as usize];
            if version > 1 && r.chance(0.5) {
                o.fmt(format_args!("{name} (redo)"));
            } else {
                o.fmt(format_args!("{name} v{version}"));
            }
            o.int(i64::from(status));
            o.int(version as i64);
            o.bool(r.chance(0.01));
            o.ts(t);
            let completed = if matches!(status, 3 | 4) {
                Some(after(&mut r, t, 2 * HOUR, 5 * DAY))
            } else {
                None
            };
            o.ts(completed.unwrap_or(t));
            o.opt_ts(completed);
            o.end_row()?;
            w.project_order.push(ord as u32);
            w.project_created.push(t);
            w.project_status.push(status);
            w.project_type.push(ty);
            w.project_aligner.push(aligner);
        }
    }
    Ok(())
}

pub fn treatment_plans(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("treatment_plans");
    let mut r = w.rng("treatment_plans");
    let counts = child_counts(
        &mut w.sub_rng("treatment_plans", "per_project"),
        w.project_order.len(),
        n,
        4,
    );
    let mut js = String::with_capacity(200);
    w.plan_created.reserve(n);
    let mut id = 0;
    for (p, &k) in counts.iter().enumerate() {
        let ord = w.project_order[p] as usize;
        let mut t = w.project_created[p];
        let approvable = w.project_status[p] == 3;
        let aligner_steps = w.project_aligner[p] && matches!(w.project_type[p], 1 | 4);
        for rev in 1..=k {
            id += 1;
            let redo = i64::from(rev - 1);
            t = after(&mut r, t, HOUR + redo * DAY, 8 * HOUR + redo * 6 * DAY);
            let approved = approvable && rev == k && r.chance(0.95);
            o.id(id);
            o.id(p + 1);
            o.id(ord + 1);
            o.int(w.order_patient[ord]);
            o.int(i64::from(rev));
            o.opt_bool(if r.chance(0.02) { None } else { Some(approved) });
            let approved_at = if approved {
                Some(after(&mut r, t, HOUR, 7 * DAY))
            } else {
                None
            };
            o.opt_int(approved_at.map(|_| w.order_doctor[ord]));
            o.opt_ts(approved_at);
            let (up, low) = if aligner_steps {
                (r.range(6, 40), r.range(0, 40))
            } else {
                (0, 0)
            };
            o.opt_int(if aligner_steps {
                Some(up.max(low))
            } else {
                None
            });
            if r.chance(0.03) {
                o.null();
            } else {
                js.clear();
                write!(js, "{{\"upper_steps\":{up},\"lower_steps\":{low},\"ipr\":[").unwrap();
                for j in 0..r.below(4) {
                    if j > 0 {
                        js.push(',');
                    }
                    let tooth = 11 + r.below(3) as u32;
                    write!(
                        js,
                        "{{\"teeth\":\"{}-{}\",\"mm\":0.{}}}",
                        tooth + 1,
                        tooth,
                        r.range(1, 5)
                    )
                    .unwrap();
                }
                js.push_str("],\"attachments\":[");
                for j in 0..r.below(5) {
                    if j > 0 {
                        js.push(',');
                    }
                    write!(js, "{}", [13, 23, 33, 43, 14, 24, 34, 44][r.index(8)]).unwrap();
                }
                js.push_str("]}");
                o.text(&js);
            }
            if r.chance(0.9) {
                o.null();
            } else {
                o.text(r.pick_str(MESSAGE_BODIES));
            }
            o.ts(t);
            o.ts(approved_at.unwrap_or(t));
            o.end_row()?;
            w.plan_created.push(t);
        }
    }
    Ok(())
}

const TASK_NOTES: &[&str] = &[
    "Redo: margin lines off",
    "Scan had holes, patched",
    "Printer 3 jammed\nreprinted",
    "Waiting for doctor approval",
    "Checked by supervisor",
];

pub fn tasks(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("tasks");
    let n_ord = w.order_created.len();
    let n_tech = w.count("technicians") as i64;
    let mut r = w.rng("tasks");
    let counts = child_counts(&mut w.sub_rng("tasks", "per_order"), n_ord, n, u32::MAX);
    let mut orphan = w.plant("tasks", "orphan_order", n, ORPHAN_TASK_ORDER);
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let ost = w.order_status[ord];
        let progress = r.f64();
        let mut t = w.order_created[ord];
        for j in 0..k {
            id += 1;
            let ty = 1 + (u64::from(j) * 9 / u64::from(k)) as i64;
            let f = f64::from(j) / f64::from(k);
            let status: i64 = match ost {
                3 | 4 => r.weighted(&[(2, 94), (3, 3), (4, 3)]),
                5 => {
                    if f < progress {
                        2
                    } else {
                        3
                    }
                }
                0 => 0,
                _ => {
                    if f < progress {
                        r.weighted(&[(2, 97), (4, 3)])
                    } else if f < progress + 0.05 {
                        1
                    } else {
                        0
                    }
                }
            };
            t = after(&mut r, t, MINUTE, 2 * HOUR);
            o.id(id);
            if orphan.next() {
                o.int(orphan_id(&mut r, n_ord));
            } else {
                o.id(ord + 1);
            }
            let assigned = status != 0 || r.chance(0.3);
            o.opt_int(if assigned && !r.chance(0.02) {
                Some(r.range(1, n_tech))
            } else {
                None
            });
            o.int(ty);
            o.int(status);
            o.int(r.weighted(&[(3, 60), (2, 15), (4, 12), (1, 8), (5, 5)]));
            let started = if matches!(status, 1 | 2 | 4) {
                Some(after(&mut r, t, 0, 2 * DAY))
            } else {
                None
            };
            let completed = match started {
                Some(s) if status != 1 => Some(after(&mut r, s, 300, 14_400)),
                _ => None,
            };
            let duration = match (started, completed) {
                (Some(s), Some(c)) => Some(c - s),
                _ => None,
            };
            o.opt_ts(started);
            o.opt_ts(completed);
            o.opt_int(if status == 2 { duration } else { None });
            if r.chance(0.985) {
                o.null();
            } else {
                o.text(r.pick_str(TASK_NOTES));
            }
            o.ts(t);
            o.end_row()?;
        }
    }
    Ok(())
}

pub fn messages(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("messages");
    let mut r = w.rng("messages");
    let counts = child_counts(
        &mut w.sub_rng("messages", "per_order"),
        w.order_created.len(),
        n,
        12,
    );
    w.message_created.reserve(n);
    // (type, sent_at) of one order's messages, sorted by time before they are written
    let mut items: Vec<(u8, Secs)> = Vec::with_capacity(16);
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let shipped = w.order_shipped[ord];
        let created = w.order_created[ord];
        let doctor_profile = w.profile_of_doctor(w.order_doctor[ord]);
        // Questions and replies run while the order is in production; the dispatch notice goes
        // out when it ships and tracking updates follow it.
        let production = (w.order_done[ord] - created).max(DAY);
        items.clear();
        for j in 0..k {
            let ty: u8 = match shipped {
                Some(_) if j == 0 => 1,
                Some(_) => r.weighted(&[(2u8, 25), (3, 30), (4, 30), (5, 15)]),
                None => r.weighted(&[(3u8, 40), (4, 35), (5, 25)]),
            };
            let t = match (ty, shipped) {
                (1, Some(s)) => after(&mut r, s, MINUTE, 2 * HOUR),
                (2, Some(s)) => after(&mut r, s, 6 * HOUR, 6 * DAY),
                _ => after(&mut r, created, HOUR, production),
            };
            items.push((ty, t));
        }
        items.sort_unstable_by_key(|&(ty, t)| (t, ty));
        for &(ty, t) in &items {
            id += 1;
            o.id(id);
            o.id(ord + 1);
            // sender
            match ty {
                4 => o.opt_int(doctor_profile),
                3 => {
                    if r.chance(0.5) {
                        o.int(w.staff_profile(&mut r));
                    } else {
                        o.opt_int(w.tech_profile(&mut r));
                    }
                }
                _ => {
                    if r.chance(0.5) {
                        o.null();
                    } else {
                        o.int(w.staff_profile(&mut r));
                    }
                }
            }
            // recipient
            if ty == 4 {
                o.int(w.staff_profile(&mut r));
            } else {
                o.opt_int(doctor_profile);
            }
            o.int(i64::from(ty));
            let buf = o.raw();
            let _ = match ty {
                1 => buf.write_all(b"Order "),
                2 => buf.write_all(b"Tracking update for "),
                3 => buf.write_all(b"Question about "),
                4 => buf.write_all(b"RE: Question about "),
                _ => buf.write_all(b"Status changed: "),
            };
            write_order_number(buf, ord + 1, created);
            if ty == 1 {
                buf.extend_from_slice(b" has shipped");
            }
            o.done_field();
            o.text(r.pick_str(MESSAGE_BODIES));
            if matches!(ty, 1 | 2) {
                let carrier = r.weighted(&[
                    ("UPS", 40),
                    ("ups", 5),
                    ("FedEx", 30),
                    ("Fedex Ground", 8),
                    ("USPS", 15),
                    ("", 2),
                ]);
                o.text(carrier);
                let buf = o.raw();
                let _ = match carrier {
                    "UPS" | "ups" => write!(
                        buf,
                        "1Z{:06X}{:010}",
                        r.below(1 << 24),
                        r.below(10_000_000_000)
                    ),
                    "USPS" => write!(buf, "9400{:018}", r.below(1_000_000_000_000_000_000)),
                    _ => write!(buf, "{:012}", r.below(1_000_000_000_000)),
                };
                o.done_field();
            } else {
                o.null();
                o.null();
            }
            let is_read = r.chance(0.8);
            o.bool(is_read);
            o.ts(t);
            o.opt_ts(if is_read || r.chance(0.02) {
                Some(after(&mut r, t, 5 * MINUTE, 3 * DAY))
            } else {
                None
            });
            o.opt_ts(if r.chance(0.01) {
                Some(later(&mut r, t))
            } else {
                None
            });
            o.end_row()?;
            w.message_created.push(t);
        }
    }
    Ok(())
}

pub fn message_attachments(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("message_attachments");
    let mut r = w.rng("message_attachments");
    let counts = child_counts(
        &mut w.sub_rng("message_attachments", "per_message"),
        w.message_created.len(),
        n,
        4,
    );
    let mut name = String::with_capacity(40);
    let mut id = 0;
    for (m, &k) in counts.iter().enumerate() {
        for j in 0..k {
            id += 1;
            let c = after(&mut r, w.message_created[m], 0, 120);
            name.clear();
            let mime = match r.below(5) {
                0 => {
                    write!(name, "IMG_{:04}.JPG", r.below(10_000)).unwrap();
                    "image/jpeg"
                }
                1 => {
                    write!(name, "photo {}.png", j + 1).unwrap();
                    "image/png"
                }
                2 => {
                    name.push_str("rx.pdf");
                    "application/pdf"
                }
                3 => {
                    write!(name, "scan_upper_{}.stl", j + 1).unwrap();
                    "model/stl"
                }
                _ => {
                    name.push_str("notes.docx");
                    "application/vnd.openxmlformats-officedocument.wordprocessingml.document"
                }
            };
            o.id(id);
            o.id(m + 1);
            o.text(&name);
            o.fmt(format_args!(
                "http://files.lab-legacy.local/attachments/{}/{}",
                m + 1,
                name
            ));
            if r.chance(0.03) {
                o.null();
            } else {
                o.text(mime);
            }
            o.opt_int(if c < at(2016, 1, 1) {
                None
            } else {
                Some(r.range(20_000, 25_000_000))
            });
            o.ts(c);
            o.end_row()?;
        }
    }
    Ok(())
}

pub fn order_files(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("order_files");
    let n_ord = w.order_created.len();
    let mut r = w.rng("order_files");
    let counts = child_counts(
        &mut w.sub_rng("order_files", "per_order"),
        n_ord,
        n,
        u32::MAX,
    );
    let mut orphan = w.plant("order_files", "orphan_order", n, ORPHAN_ORDER_FILE_ORDER);
    let mut name = String::with_capacity(64);
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let c0 = w.order_created[ord];
        let doctor_profile = w.profile_of_doctor(w.order_doctor[ord]);
        let patient = w.order_patient[ord];
        let last = if patient >= 1 && (patient as usize) <= w.patient_last.len() {
            LAST_NAMES[w.patient_last[patient as usize - 1] as usize]
        } else {
            "patient"
        };
        for j in 0..k {
            id += 1;
            let ty: u8 = if j < 3 {
                j as u8 + 1
            } else {
                r.weighted(&[(4u8, 45), (5, 10), (6, 15), (7, 25), (8, 5)])
            };
            name.clear();
            let (mime, size) = match ty {
                1 | 2 => {
                    let arch = if ty == 1 { "Upper" } else { "Lower" };
                    match r.below(3) {
                        0 => write!(name, "{arch} Jaw.stl").unwrap(),
                        1 => write!(name, "{}.stl", arch.to_ascii_lowercase()).unwrap(),
                        _ => {
                            slug_into(&mut name, last);
                            write!(name, "_{}.stl", arch.to_ascii_lowercase()).unwrap()
                        }
                    }
                    ("model/stl", r.range(2_000_000, 60_000_000))
                }
                3 => {
                    name.push_str("bite.stl");
                    ("model/stl", r.range(500_000, 8_000_000))
                }
                4 => {
                    write!(name, "IMG_{:04}.JPG", r.below(10_000)).unwrap();
                    ("image/jpeg", r.range(300_000, 6_000_000))
                }
                5 => {
                    name.push_str(if r.chance(0.5) {
                        "pano.dcm"
                    } else {
                        "ceph.jpg"
                    });
                    ("application/dicom", r.range(1_000_000, 30_000_000))
                }
                6 => {
                    write!(name, "Treatment Plan v{}.pdf", r.range(1, 4)).unwrap();
                    ("application/pdf", r.range(80_000, 4_000_000))
                }
                7 => {
                    write!(name, "print_{j}.3mf").unwrap();
                    ("model/3mf", r.range(5_000_000, 150_000_000))
                }
                _ => {
                    name.push_str(if r.chance(0.5) {
                        "notes.txt"
                    } else {
                        "rx.docx"
                    });
                    ("application/octet-stream", r.range(1_000, 200_000))
                }
            };
            let c = after(&mut r, c0, 0, 20 * DAY);
            o.id(id);
            if orphan.next() {
                o.int(orphan_id(&mut r, n_ord));
            } else {
                o.id(ord + 1);
            }
            o.int(i64::from(ty));
            o.text(&name);
            let buf = o.raw();
            if c < at(2018, 1, 1) {
                let y = year_of(c);
                let _ = write!(buf, "\\\\\\\\fs01\\\\scans\\\\{y}\\\\");
                write_order_number(buf, ord + 1, c0);
                buf.extend_from_slice(b"\\\\");
                push_escaped(buf, &name);
            } else {
                let _ = write!(buf, "orders/{}/{:016x}/", ord + 1, r.next_u64());
                push_escaped(buf, &name);
            }
            o.done_field();
            if r.chance(0.02) {
                o.null();
            } else {
                o.text(mime);
            }
            o.int(size);
            if c < at(2017, 1, 1) {
                o.null();
            } else {
                write_hex32(o.raw(), &mut r);
                o.done_field();
            }
            if doctor_profile.is_some() && r.chance(0.6) {
                o.opt_int(doctor_profile);
            } else {
                o.int(w.staff_profile(&mut r));
            }
            o.bool(r.chance(0.015));
            o.ts(c);
            o.end_row()?;
        }
    }
    Ok(())
}

pub fn purchases(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("purchases");
    let n_ord = w.order_created.len();
    let n_disc = w.count("discounts") as i64;
    let mut r = w.rng("purchases");
    let counts = child_counts(&mut w.sub_rng("purchases", "per_order"), n_ord, n, 3);
    let mut orphan = w.plant("purchases", "orphan_order", n, ORPHAN_PURCHASE_ORDER);
    let mut excess = w.plant("purchases", "excess_scale_amount", n, EXCESS_SCALE_AMOUNT);
    let mut negative = w.plant("purchases", "negative_amount", n, NEGATIVE_AMOUNT);
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let total = w.order_total_cents[ord].max(100);
        let mut t = w.order_created[ord];
        for j in 0..k {
            id += 1;
            let mut cents = if k == 1 {
                total
            } else if j + 1 < k {
                total / i64::from(k)
            } else {
                total - total / i64::from(k) * i64::from(k - 1)
            };
            t = after(&mut r, t, HOUR, 20 * DAY);
            let status: u8 = r.weighted(&[(1u8, 880), (0, 40), (2, 50), (3, 20), (4, 10)]);
            o.id(id);
            if orphan.next() {
                o.int(orphan_id(&mut r, n_ord));
            } else {
                o.id(ord + 1);
            }
            o.int(w.order_doctor[ord]);
            o.opt_int(if r.chance(0.05) {
                Some(r.range(1, n_disc))
            } else {
                None
            });
            if negative.next() {
                cents = -cents.min(50_000);
            }
            if excess.next() {
                money_excess_scale(o, &mut r, cents);
            } else {
                cents = money_any_scale(o, &mut r, cents);
            }
            o.opt_text(r.weighted(&[(Some("USD"), 960), (Some("usd"), 10), (None, 30)]));
            let method = r.weighted(&[
                (Some("card"), 35),
                (Some("Credit Card"), 15),
                (Some("VISA"), 5),
                (Some("check"), 15),
                (Some("Check"), 5),
                (Some("ACH"), 15),
                (Some("wire"), 4),
                (Some("cash"), 2),
                (None, 4),
            ]);
            o.opt_text(method);
            o.int(i64::from(status));
            match method {
                Some("card" | "Credit Card" | "VISA") => {
                    let buf = o.raw();
                    buf.extend_from_slice(b"ch_");
                    const ALNUM: &[u8] =
                        b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
                    for _ in 0..24 {
                        buf.push(ALNUM[r.index(ALNUM.len())]);
                    }
                    o.done_field();
                }
                Some("check" | "Check") => o.fmt(format_args!("CHK-{:05}", r.below(100_000))),
                Some("ACH" | "wire") => o.fmt(format_args!("{:010}", r.below(10_000_000_000))),
                _ => o.null(),
            }
            o.opt_int(match status {
                3 | 4 => Some(cents.abs()),
                _ if r.chance(0.5) => None,
                _ => Some(0),
            });
            o.opt_ts(if matches!(status, 1 | 3 | 4) {
                Some(after(&mut r, t, 0, 2 * DAY))
            } else {
                None
            });
            o.ts(t);
            o.end_row()?;
        }
    }
    Ok(())
}

pub fn customer_feedback(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("customer_feedback");
    let mut r = w.rng("customer_feedback");
    let counts = child_counts(
        &mut w.sub_rng("customer_feedback", "per_order"),
        w.order_created.len(),
        n,
        3,
    );
    let mut id = 0;
    for (ord, &k) in counts.iter().enumerate() {
        let mut t = w.order_done[ord];
        for _ in 0..k {
            id += 1;
            t = after(&mut r, t, DAY, 30 * DAY);
            let rating: Option<i64> = r.weighted(&[
                (Some(5), 45),
                (Some(4), 30),
                (Some(3), 12),
                (Some(2), 5),
                (Some(1), 3),
                (Some(0), 2),
                (None, 3),
            ]);
            o.id(id);
            o.id(ord + 1);
            o.int(w.order_doctor[ord]);
            o.opt_int(rating);
            o.opt_int(if year_of(t) >= 2019 && r.chance(0.9) {
                Some(r.range(0, 10))
            } else {
                None
            });
            o.opt_text(r.weighted(&[
                (Some("Fit"), 25),
                (Some("fit"), 5),
                (Some("Shipping"), 15),
                (Some("Turnaround"), 15),
                (Some("Communication"), 10),
                (Some("Billing"), 8),
                (Some("other"), 7),
                (None, 15),
            ]));
            if r.chance(0.6) {
                o.null();
            } else {
                o.text(r.pick_str(FEEDBACK_COMMENTS));
            }
            let unhappy = rating.is_some_and(|v| v <= 3);
            let resolved = unhappy && r.chance(0.6);
            o.bool(resolved);
            o.opt_ts(if resolved {
                Some(after(&mut r, t, HOUR, 14 * DAY))
            } else {
                None
            });
            o.ts(t);
            o.end_row()?;
        }
    }
    Ok(())
}
