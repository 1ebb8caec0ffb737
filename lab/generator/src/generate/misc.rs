//! Communications, offers and discounts, doctor notes, comments and the dispatcher's state.

use super::out::{at, date_of, year_of, Out, Secs};
use super::rng::Rng;
use super::spec::*;
use super::words::*;
use super::world::*;
use std::collections::HashSet;
use std::fmt::Write as _;

type Res = anyhow::Result<()>;

pub fn communications(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("communications");
    let mut r = w.rng("communications");
    let occurred = created_series(&mut r, n, 0.0, at(2016, 3, 1), END - DAY);
    for (i, &t) in occurred.iter().enumerate() {
        let office = pick_before(&mut r, &w.office_created, t, 1);
        let doctors = &w.office_doctors[office];
        o.id(i + 1);
        o.id(office + 1);
        o.opt_int(if !doctors.is_empty() && r.chance(0.6) {
            Some(i64::from(*r.pick(doctors)))
        } else {
            None
        });
        o.int(w.staff_profile(&mut r));
        o.text(r.weighted(&[
            ("phone", 40),
            ("Phone", 10),
            ("email", 25),
            ("E-mail", 5),
            ("fax", 5),
            ("in person", 8),
            ("sms", 7),
        ]));
        o.text(r.weighted(&[("in", 55), ("out", 38), ("IN", 4), ("OUT", 3)]));
        o.text(r.pick_str(COMMUNICATION_SUBJECTS));
        if r.chance(0.1) {
            o.null();
        } else {
            o.fmt(format_args!(
                "{}\nSpoke with {}.",
                r.pick(MESSAGE_BODIES),
                r.pick(FIRST_NAMES)
            ));
        }
        o.opt_ts(if r.chance(0.2) {
            Some(after(&mut r, t, DAY, 14 * DAY))
        } else {
            None
        });
        o.ts(t);
        o.ts(if r.chance(0.2) {
            after(&mut r, t, 12 * HOUR, 2 * DAY)
        } else {
            after(&mut r, t, 0, 600)
        });
        o.end_row()?;
    }
    Ok(())
}

/// A percentage or dollar amount typed with a varying scale.
fn value_any_scale(o: &mut Out<'_, '_>, r: &mut Rng, cents: i64, percent: bool) {
    if percent {
        match r.below(3) {
            0 => o.decimal(cents / 100, 0),
            1 => o.decimal(cents / 10, 1),
            _ => o.decimal(cents, 2),
        }
    } else if r.chance(0.2) {
        o.decimal(cents / 100, 0);
    } else {
        o.decimal(cents, 2);
    }
}

fn value_excess_scale(o: &mut Out<'_, '_>, r: &mut Rng, cents: i64) {
    let sign = if cents < 0 { -1 } else { 1 };
    o.decimal(cents * 100 + sign * r.range(1, 99), 4);
}

pub fn offers(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("offers");
    let n_prod = w.count("products");
    let mut r = w.rng("offers");
    let created = created_series(&mut r, n, 0.0, at(2015, 3, 1), END - 20 * DAY);
    let mut excess_value = w.plant(
        "offers",
        "excess_scale_discount_value",
        n,
        EXCESS_SCALE_AMOUNT,
    );
    let mut excess_min = w.plant(
        "offers",
        "excess_scale_min_order_amount",
        n,
        EXCESS_SCALE_AMOUNT,
    );
    let mut negative = w.plant("offers", "negative_discount_value", n, NEGATIVE_AMOUNT);
    for (i, &c) in created.iter().enumerate() {
        let product = if r.chance(0.3) {
            None
        } else {
            Some(r.range(1, n_prod as i64))
        };
        let percent = r.chance(0.6);
        let y = year_of(c);
        o.id(i + 1);
        o.opt_int(product);
        let pct = r.range(5, 30);
        let pname = product
            .map(|p| PRODUCTS[(p as usize - 1) % PRODUCTS.len()].1)
            .unwrap_or("everything");
        match r.below(5) {
            0 => o.fmt(format_args!(
                "{} {y} promo",
                r.pick(&["Spring", "Summer", "Fall", "Winter", "Holiday"])
            )),
            1 => o.fmt(format_args!("{pct}% off {pname}")),
            2 => o.fmt(format_args!("New doctor welcome {y}")),
            3 => o.fmt(format_args!("Loyalty {y} Q{}", (date_of(c).1 - 1) / 3 + 1)),
            _ => o.fmt(format_args!("AAO {y} show special")),
        }
        if r.chance(0.4) {
            o.null();
        } else {
            o.fmt(format_args!(
                "Applies to {pname}.\nNot combinable with other offers."
            ));
        }
        o.int(if percent { 1 } else { 2 });
        let mut cents = if percent {
            pct * 100 + r.weighted(&[(0, 8), (50, 2)])
        } else {
            r.range(25, 500) * 100
        };
        if negative.next() {
            cents = -cents;
        }
        if excess_value.next() {
            value_excess_scale(o, &mut r, cents);
        } else {
            value_any_scale(o, &mut r, cents, percent);
        }
        // min_order_amount: NULL half the time (a planted row still gets its odd value)
        let min_cents = r.range(100, 2000) * 100;
        let optional = r.chance(0.5);
        if excess_min.next() {
            value_excess_scale(o, &mut r, min_cents);
        } else if optional {
            o.null();
        } else {
            value_any_scale(o, &mut r, min_cents, false);
        }
        let starts = after(&mut r, c, 0, 14 * DAY);
        let ends = if r.chance(0.25) {
            None
        } else {
            Some(after(&mut r, starts, 14 * DAY, 120 * DAY))
        };
        o.ts(starts);
        o.opt_ts(ends);
        o.bool(match ends {
            Some(e) if e < END => r.chance(0.1),
            _ => r.chance(0.8),
        });
        o.ts(c);
        o.end_row()?;
    }
    Ok(())
}

pub fn discounts(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("discounts");
    let n_off = w.count("offers") as i64;
    let n_doc = w.count("doctors") as i64;
    let mut r = w.rng("discounts");
    let created = created_series(&mut r, n, 0.0, at(2015, 4, 1), END - 10 * DAY);
    let mut codes: HashSet<String> = HashSet::with_capacity(n);
    let mut code = String::with_capacity(24);
    for (i, &c) in created.iter().enumerate() {
        o.id(i + 1);
        o.opt_int(if r.chance(0.2) {
            None
        } else {
            Some(r.range(1, n_off))
        });
        o.opt_int(if r.chance(0.3) {
            None
        } else {
            Some(r.range(1, n_doc))
        });
        loop {
            code.clear();
            write!(
                code,
                "{}{:02}-",
                r.pick(&["SPRING", "SUMMER", "FALL", "WELCOME", "LOYAL", "AAO", "VIP"]),
                year_of(c) % 100
            )
            .unwrap();
            const ALNUM: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
            for _ in 0..4 {
                code.push(ALNUM[r.index(ALNUM.len())] as char);
            }
            if codes.insert(code.clone()) {
                break;
            }
        }
        o.text(&code);
        if r.chance(0.5) {
            o.int(r.range(10, 300) * 100);
            o.null();
        } else {
            o.null();
            o.decimal(r.range(5, 30) * 10, 1);
        }
        let max_uses = if r.chance(0.4) {
            None
        } else {
            Some(r.range(1, 50))
        };
        o.opt_int(max_uses);
        o.int(match max_uses {
            Some(m) if r.chance(0.05) => m + r.range(1, 5),
            Some(m) => r.range(0, m),
            None => r.range(0, 80),
        });
        o.opt_ts(if r.chance(0.3) {
            None
        } else {
            Some(after(&mut r, c, 30 * DAY, 365 * DAY))
        });
        o.bool(r.chance(0.03));
        o.ts(c);
        o.end_row()?;
    }
    Ok(())
}

pub fn doctor_notes(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("doctor_notes");
    let mut r = w.rng("doctor_notes");
    let created = created_series(&mut r, n, 0.0, at(2015, 3, 1), END - DAY);
    for (i, &c) in created.iter().enumerate() {
        let d = pick_before(&mut r, &w.doctor_created, c, 1);
        o.id(i + 1);
        o.id(d + 1);
        o.int(w.staff_profile(&mut r));
        o.text(r.pick_str(DOCTOR_NOTES));
        o.bool(r.chance(0.1));
        o.ts(c);
        o.ts(if r.chance(0.3) { later(&mut r, c) } else { c });
        o.opt_ts(if r.chance(0.04) {
            Some(later(&mut r, c))
        } else {
            None
        });
        o.end_row()?;
    }
    Ok(())
}

/// (commentable_type as written, which table it names)
const COMMENTABLE: &[((&str, u8), u32)] = &[
    (("Order", 0), 45),
    (("Case", 1), 18),
    (("Project", 2), 15),
    (("TreatmentPlan", 3), 10),
    (("Patient", 4), 8),
    (("order", 0), 3),
    (("case", 1), 1),
];

pub fn comments(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("comments");
    let mut r = w.rng("comments");
    let mut orphan = w.plant("comments", "orphan_target", n, ORPHAN_COMMENT_TARGET);
    let tables: [&[Secs]; 5] = [
        &w.order_created,
        &w.case_created,
        &w.project_created,
        &w.plan_created,
        &w.patient_created,
    ];
    // (type, target id, created, orphan) of every comment, for replies
    let mut done: Vec<(&str, i64, Secs, bool)> = Vec::with_capacity(n);
    for i in 0..n {
        let is_orphan = orphan.next();
        // A reply shares its parent's target; only rows not planted as orphans reply, and only to
        // parents that are not orphans, so the number of orphans stays exactly the planted count.
        let reply_to = if i > 0 && r.chance(0.15) {
            Some(r.index(i))
        } else {
            None
        };
        let reply_to = reply_to.filter(|&j| !is_orphan && !done[j].3);
        let (ty, target, c, parent) = if let Some(j) = reply_to {
            let (ty, target, pc, _) = done[j];
            (
                ty,
                target,
                after(&mut r, pc, 10 * MINUTE, 5 * DAY),
                Some(j as i64 + 1),
            )
        } else {
            let (ty, table) = r.weighted(COMMENTABLE);
            let times = tables[table as usize];
            let k = r.index(times.len());
            let target = if is_orphan {
                orphan_id(&mut r, times.len())
            } else {
                k as i64 + 1
            };
            (ty, target, after(&mut r, times[k], HOUR, 30 * DAY), None)
        };
        o.id(i + 1);
        o.text(ty);
        o.int(target);
        o.opt_int(parent);
        match r.weighted(&[(0u8, 50), (1, 35), (2, 15)]) {
            0 => o.int(w.staff_profile(&mut r)),
            1 => o.opt_int(w.tech_profile(&mut r)),
            _ => o.opt_int(w.profile_of_doctor(r.range(1, w.doctor_profile.len() as i64))),
        }
        o.text(r.pick_str(COMMENT_BODIES));
        o.bool(r.chance(0.6));
        o.ts(c);
        o.ts(if r.chance(0.2) { later(&mut r, c) } else { c });
        o.opt_ts(if r.chance(0.02) {
            Some(later(&mut r, c))
        } else {
            None
        });
        o.end_row()?;
        done.push((ty, target, c, is_orphan));
    }
    Ok(())
}

pub fn dispatch_state(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("dispatch_state");
    let n_msg = w.message_created.len() as i64;
    let mut r = w.rng("dispatch_state");
    const KINDS: &[&str] = &[
        "dispatch", "tracking", "notify", "reminder", "invoice", "feedback",
    ];
    const REGIONS: &[&str] = &["us-central", "us-east", "us-west", "ca"];
    for i in 0..n {
        let status = r.weighted(&[
            ("idle", 50),
            ("running", 10),
            ("error", 10),
            ("IDLE", 10),
            ("stalled", 5),
        ]);
        let healthy = matches!(status, "idle" | "IDLE" | "running");
        let last_run = if healthy {
            END - r.range(0, 3 * DAY)
        } else {
            END - r.range(5 * DAY, 400 * DAY)
        };
        o.id(i + 1);
        o.fmt(format_args!(
            "{}.{}.{}",
            KINDS[i % KINDS.len()],
            REGIONS[i / KINDS.len() % REGIONS.len()],
            i / 24
        ));
        o.text(status);
        let last_msg = if r.chance(0.1) {
            None
        } else {
            Some(n_msg - r.below(n_msg as u64 / 10 + 1) as i64)
        };
        o.opt_int(last_msg.map(|m| m.max(1)));
        o.ts(last_run);
        o.int(if healthy {
            r.range(0, 3)
        } else {
            r.range(1, 500)
        });
        if healthy {
            o.null();
        } else {
            o.text(r.pick_str(&[
                "connection reset by peer",
                "SMTP 421 try again later",
                "timeout after 30s\ncarrier API did not answer",
                "invalid tracking number",
            ]));
        }
        if status == "running" || (status == "stalled" && r.chance(0.7)) {
            o.fmt(format_args!(
                "disp0{}:{}",
                r.range(1, 3),
                r.range(1000, 65_000)
            ));
        } else {
            o.null();
        }
        o.fmt(format_args!(
            "{{\"cursor\":{},\"batch\":{},\"region\":\"{}\"}}",
            last_msg.unwrap_or(0).max(0),
            r.pick(&[100, 250, 500]),
            REGIONS[i / KINDS.len() % REGIONS.len()]
        ));
        o.ts(after(&mut r, last_run, 0, 60));
        o.end_row()?;
    }
    Ok(())
}
