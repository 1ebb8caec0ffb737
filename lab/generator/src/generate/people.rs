//! Offices, profiles, doctors, patients and the small catalog / staff tables.

use super::out::{at, date_of, Out, Secs};
use super::rng::Rng;
use super::spec::*;
use super::words::*;
use super::world::*;
use std::collections::HashSet;
use std::fmt::Write as _;

type Res = anyhow::Result<()>;

pub fn offices(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("offices");
    let mut r = w.rng("offices");
    let mut budget = QuarantineBudget::new(n);
    let mut null_name = budget.plant(w, "offices", "null_name", n, NULL_OFFICE_NAME);
    let mut deleted = w.plant("offices", "is_deleted", n, DELETED_OFFICES);
    let created = created_series(&mut r, n, 0.30, IMPORT_END, END - 60 * DAY);
    let mut doomed = Vec::with_capacity(n);
    for (i, &c) in created.iter().enumerate() {
        let (city, st, st_name, area, zip3) = *r.pick(CITIES);
        let last = *r.pick(LAST_NAMES);
        o.id(i + 1);
        let no_name = null_name.next();
        if no_name {
            o.null();
        } else {
            match r.below(6) {
                0 => o.fmt(format_args!("{last} Orthodontics")),
                1 => o.fmt(format_args!("{city} Smile Center")),
                2 => o.fmt(format_args!("Bright Smiles of {city}")),
                3 => o.fmt(format_args!(
                    "{last} & {} Orthodontics, PLLC",
                    r.pick(LAST_NAMES)
                )),
                4 => o.fmt(format_args!("{last} Family Dentistry")),
                _ => o.fmt(format_args!("{city} Orthodontic Associates")),
            }
        }
        let num = r.range(100, 9999);
        let street = r.pick(STREETS);
        let suffix = r.pick(STREET_SUFFIXES);
        match r.weighted(&[(0u8, 65), (1, 30), (2, 3), (3, 2)]) {
            0 => o.fmt(format_args!("{num} {street} {suffix}")),
            1 => o.fmt(format_args!(
                "{num} {street} {suffix}, Suite {}",
                r.range(100, 450)
            )),
            2 => o.fmt(format_args!(
                "{num} {street} {suffix}\nSuite {}",
                r.range(100, 450)
            )),
            _ => o.text(""),
        }
        o.text(city);
        match r.weighted(&[(0u8, 85), (1, 8), (2, 4), (3, 3)]) {
            0 => o.text(st),
            1 => o.text(st_name),
            2 => o.fmt(format_args!("{}", st.to_ascii_lowercase())),
            _ => o.null(),
        }
        if zip3 == 0 {
            // Canadian postal code.
            let l = |r: &mut Rng| (b'A' + r.below(26) as u8) as char;
            let (a, b, c2) = (l(&mut r), l(&mut r), l(&mut r));
            o.fmt(format_args!(
                "{a}{}{b} {}{c2}{}",
                r.below(10),
                r.below(10),
                r.below(10)
            ));
        } else {
            match r.weighted(&[(0u8, 85), (1, 10), (2, 5)]) {
                0 => o.fmt(format_args!("{zip3:03}{:02}", r.below(100))),
                1 => o.fmt(format_args!(
                    "{zip3:03}{:02}-{:04}",
                    r.below(100),
                    r.below(10_000)
                )),
                _ => o.null(),
            }
        }
        if r.chance(0.05) {
            o.null();
        } else {
            phone(o, &mut r, area);
        }
        if r.chance(0.3) {
            o.null();
        } else {
            let box_name = *r.pick(&["info", "frontdesk", "office", "admin", "scheduling"]);
            o.fmt(format_args!("{box_name}@{}ortho.com", slug(last)));
        }
        let is_deleted = deleted.next();
        o.bool(is_deleted);
        o.ts(c);
        o.ts(if r.chance(0.6) { later(&mut r, c) } else { c });
        o.end_row()?;
        // A deleted office is skipped, not quarantined (and its doctors with it).
        doomed.push(no_name && !is_deleted);
    }
    w.office_created = created;
    w.office_doomed = doomed;
    Ok(())
}

pub fn categories(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("categories");
    let mut r = w.rng("categories");
    for i in 0..n {
        let name = CATEGORIES[i % CATEGORIES.len()];
        o.id(i + 1);
        o.text(name);
        if r.chance(0.4) {
            o.null();
        } else {
            o.fmt(format_args!("{name} - lab products and services"));
        }
        match r.weighted(&[(0u8, 80), (1, 12), (2, 8)]) {
            0 => o.int((i as i64 + 1) * 10),
            1 => o.int(i as i64 / 4 * 10), // duplicates: sort order was edited by hand
            _ => o.null(),
        }
        o.opt_bool(match r.weighted(&[(0u8, 85), (1, 10), (2, 5)]) {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        });
        o.ts(IMPORT_AT + r.range(0, 3 * 365 * DAY) * (i as i64 / 30));
        o.end_row()?;
    }
    Ok(())
}

/// Writes a random bcrypt-looking hash.
fn bcrypt(buf: &mut String, r: &mut Rng) {
    const ALPHA: &[u8] = b"./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    buf.push_str("$2a$10$");
    for _ in 0..53 {
        buf.push(ALPHA[r.index(ALPHA.len())] as char);
    }
}

pub fn profiles(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("profiles");
    let mut r = w.rng("profiles");
    let n_doc = w.count("doctors");
    let n_tech = w.count("technicians");
    // Types: doctors (a few more than the doctors table), technicians (plus one who left),
    // admins, staff, a handful of unknown codes, the rest patients.
    let plan: [(u8, usize); 5] = [
        (1, n_doc + (n_doc as f64 * 0.04).round() as usize),
        (3, n_tech + 1),
        (4, ((n as f64 * 0.006).round() as usize).max(1)),
        (5, ((n as f64 * 0.015).round() as usize).max(1)),
        (7, (n as f64 * 0.002).round() as usize),
    ];
    let mut types: Vec<u8> = Vec::with_capacity(n);
    for (t, k) in plan {
        types.extend(std::iter::repeat_n(t, k));
    }
    types.truncate(n);
    types.resize(n, 2);
    r.shuffle(&mut types);

    let created = created_series(&mut r, n, 0.20, IMPORT_END, END - 10 * DAY);
    let mut deleted = w.plant("profiles", "deleted_at", n, DELETED_PROFILES);
    let mut bad_settings = w.plant(
        "profiles",
        "malformed_settings",
        n,
        MALFORMED_PROFILE_SETTINGS,
    );
    let mut dup_email = w.plant(
        "profiles",
        "duplicate_email",
        n.saturating_sub(1),
        DUPLICATE_PROFILE_EMAIL,
    );
    let mut emails: Vec<String> = Vec::with_capacity(n);
    let mut taken: HashSet<String> = HashSet::with_capacity(n);
    let mut s = String::new();
    for (i, &t) in created.iter().enumerate() {
        let ty = types[i];
        let first = *r.pick(FIRST_NAMES);
        let last = *r.pick(LAST_NAMES);
        o.id(i + 1);
        // e-mail
        s.clear();
        if i > 0 && dup_email.next() {
            let j = r.index(i);
            let e = &emails[j];
            if r.chance(0.7) {
                s.push_str(e);
            } else if r.chance(0.5) {
                s.push_str(&e.to_ascii_uppercase());
            } else {
                let mut cap = true;
                for ch in e.chars() {
                    s.push(if cap { ch.to_ascii_uppercase() } else { ch });
                    cap = matches!(ch, '.' | '@');
                }
            }
        } else {
            let dom = *r.pick(EMAIL_DOMAINS);
            let (f, l) = (slug(first), slug(last));
            match (ty, r.below(4)) {
                (1, 0) => write!(s, "dr.{l}@{l}ortho.com").unwrap(),
                (1, 1) => write!(s, "dr{l}{}@{dom}", r.range(1, 99)).unwrap(),
                (3..=5, 0) => write!(s, "{f}.{l}@lab-legacy.com").unwrap(),
                (_, 0) => write!(s, "{f}.{l}@{dom}").unwrap(),
                (_, 1) => write!(s, "{f}{l}{}@{dom}", r.range(1, 99)).unwrap(),
                (_, 2) => write!(s, "{}{l}@{dom}", &f[..1.min(f.len())]).unwrap(),
                _ => write!(s, "{f}_{l}{}@{dom}", r.range(60, 99)).unwrap(),
            }
            while taken.contains(&s) {
                let at_pos = s.find('@').unwrap_or(s.len());
                s.insert_str(at_pos, &r.range(1, 9).to_string());
            }
            taken.insert(s.clone());
        }
        o.text(&s);
        emails.push(s.clone());
        o.text(first);
        o.text(last);
        if r.chance(0.12) {
            o.null();
        } else {
            let area = area_code(&mut r);
            phone(o, &mut r, area);
        }
        o.int(i64::from(ty));
        let is_deleted = deleted.next();
        o.opt_bool(if is_deleted {
            Some(r.chance(0.2))
        } else {
            match r.weighted(&[(0u8, 88), (1, 9), (2, 3)]) {
                0 => Some(true),
                1 => Some(false),
                _ => None,
            }
        });
        // password hash: old md5 before 2017, bcrypt since; patients without a login have none.
        s.clear();
        if ty == 2 && r.chance(0.4) {
            o.null();
        } else {
            if t < at(2017, 1, 1) && r.chance(0.7) {
                write!(s, "{:016x}{:016x}", r.next_u64(), r.next_u64()).unwrap();
            } else {
                bcrypt(&mut s, &mut r);
            }
            o.text(&s);
        }
        // settings: JSON text
        if bad_settings.next() {
            o.text(match r.below(5) {
                0 => "{\"notifications\":{\"email\":true,\"sms\":false}",
                1 => "{'locale': 'en-US', 'theme': 'dark'}",
                2 => "{\"locale\":\"en-US\",}",
                3 => "locale=en-US;theme=light",
                _ => "{\"theme\":\"dark\"",
            });
        } else {
            match r.weighted(&[(0u8, 35), (1, 10), (2, 55)]) {
                0 => o.null(),
                1 => o.text("{}"),
                _ => {
                    s.clear();
                    let locale = *r.pick(&["en-US", "en-US", "en-US", "es-US", "en-CA", "fr-CA"]);
                    write!(
                        s,
                        "{{\"locale\":\"{locale}\",\"notifications\":{{\"email\":{},\"sms\":{}}}",
                        r.chance(0.8),
                        r.chance(0.3)
                    )
                    .unwrap();
                    if r.chance(0.4) {
                        write!(
                            s,
                            ",\"theme\":\"{}\"",
                            if r.chance(0.3) { "dark" } else { "light" }
                        )
                        .unwrap();
                    }
                    if r.chance(0.5) {
                        s.push_str(",\"timezone\":\"America/Chicago\"");
                    }
                    s.push('}');
                    o.text(&s);
                }
            }
        }
        o.ts(t);
        o.ts(if r.chance(0.7) { later(&mut r, t) } else { t });
        o.opt_ts(if is_deleted {
            Some(later(&mut r, t + DAY))
        } else {
            None
        });
        o.end_row()?;
    }

    let ids = |want: &[u8]| -> Vec<u32> {
        types
            .iter()
            .enumerate()
            .filter(|(_, t)| want.contains(t))
            .map(|(i, _)| i as u32 + 1)
            .collect()
    };
    let doctors_all = ids(&[1]);
    let techs_all = ids(&[3]);
    // Doctors take type-1 profiles in id (so time) order, skipping a few at random.
    let pick = |all: Vec<u32>, k: usize, what: &str| -> Vec<u32> {
        let mut p =
            super::rng::Planter::new(w.sub_rng("profiles", what), all.len(), k.min(all.len()));
        all.into_iter().filter(|_| p.next()).collect()
    };
    let doctor_pool = pick(doctors_all, n_doc, "doctor_pool");
    let tech_pool = pick(techs_all, n_tech, "tech_pool");
    w.doctor_profile_pool = doctor_pool;
    w.tech_profile_pool = tech_pool;
    w.patient_profile_pool = ids(&[2]);
    w.staff_profiles = ids(&[4, 5]);
    w.profile_created = created;
    Ok(())
}

/// MBT-like prescription (torque, angulation) per tooth 1..7 of an upper / lower quadrant.
const UPPER_RX: [(i64, i64); 7] = [
    (17, 4),
    (10, 8),
    (-7, 8),
    (-7, 0),
    (-7, 0),
    (-14, 0),
    (-14, 0),
];
const LOWER_RX: [(i64, i64); 7] = [
    (-6, 0),
    (-6, 0),
    (-6, 3),
    (-12, 2),
    (-17, 2),
    (-20, 0),
    (-10, 0),
];

pub fn brackets(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("brackets");
    let mut r = w.rng("brackets");
    let created = created_series(&mut r, n, 0.40, IMPORT_END, END - 30 * DAY);
    for (i, &c) in created.iter().enumerate() {
        let (maker, lines) = *r.pick(BRACKET_MAKERS);
        let line = *r.pick(lines);
        o.id(i + 1);
        o.text(maker);
        o.text(line);
        let universal = r.chance(0.05);
        let quadrant = r.range(1, 4);
        let tooth = r.range(1, 7);
        let code: String = line
            .chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .take(3)
            .collect();
        if universal {
            o.fmt(format_args!(
                "{}-U{:03}",
                code.to_ascii_uppercase(),
                r.below(1000)
            ));
        } else {
            o.fmt(format_args!(
                "{}-{quadrant}{tooth}{:02}",
                code.to_ascii_uppercase(),
                r.below(100)
            ));
        }
        if r.chance(0.04) {
            o.null();
        } else {
            o.text(r.weighted(SLOT_SIZES));
        }
        let (torque, ang) = if quadrant <= 2 {
            UPPER_RX[tooth as usize - 1]
        } else {
            LOWER_RX[tooth as usize - 1]
        };
        if universal {
            o.null();
            o.null();
            o.null();
        } else {
            o.int(quadrant * 10 + tooth);
            // degrees, typed with varying scale
            let adj = r.range(-1, 1) * 5; // tenths
            match r.below(3) {
                0 => o.decimal(torque, 0),
                1 => o.decimal(torque * 10 + adj, 1),
                _ => o.decimal(torque * 100 + adj * 10, 2),
            }
            if r.chance(0.5) {
                o.decimal(ang, 0)
            } else {
                o.decimal(ang * 10, 1)
            }
        }
        o.int(r.range(150, 900));
        let discontinued = r.chance(0.15);
        o.opt_bool(if r.chance(0.02) {
            None
        } else {
            Some(!discontinued || r.chance(0.2))
        });
        o.ts(c);
        o.opt_ts(if discontinued {
            Some(later(&mut r, c + 30 * DAY))
        } else {
            None
        });
        o.end_row()?;
    }
    Ok(())
}

pub fn products(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("products");
    let n_cat = w.count("categories");
    let mut r = w.rng("products");
    for i in 0..n {
        let (sku, name, cat, cents, scale) = PRODUCTS[i % PRODUCTS.len()];
        o.id(i + 1);
        o.int((cat % n_cat) as i64 + 1);
        o.text(sku);
        o.text(name);
        if r.chance(0.3) {
            o.null();
        } else {
            o.fmt(format_args!("{name}.\nPrice per case, shipping extra."));
        }
        o.decimal(cents / 10i64.pow(2 - scale), scale);
        o.bool(i != n - 1 || n == 1);
        let c = IMPORT_AT + r.range(0, 200 * DAY) * (i as i64 % 3);
        o.ts(c);
        o.ts(later(&mut r, c));
        o.end_row()?;
    }
    Ok(())
}

pub fn technician_roles(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("technician_roles");
    let mut r = w.rng("technician_roles");
    const PERMS: &[&str] = &[
        "orders.read",
        "orders.write",
        "projects.write",
        "tasks.assign",
        "qa.approve",
        "ship.label",
        "admin",
    ];
    let mut s = String::new();
    for i in 0..n {
        let (code, name, level) = TECHNICIAN_ROLES[i % TECHNICIAN_ROLES.len()];
        o.id(i + 1);
        o.text(code);
        o.text(name);
        if r.chance(0.3) {
            o.null();
        } else {
            o.fmt(format_args!("{name} (level {level})"));
        }
        o.int(level);
        s.clear();
        if r.chance(0.1) {
            o.null();
        } else {
            s.push('[');
            let k = (level as usize + 1).min(PERMS.len());
            for (j, p) in PERMS[..k].iter().enumerate() {
                if j > 0 {
                    s.push(',');
                }
                write!(s, "\"{p}\"").unwrap();
            }
            s.push(']');
            o.text(&s);
        }
        o.bool(!(name.contains("old") || name.contains("Legacy") || code == "TEMP"));
        o.ts(IMPORT_AT + (i as i64 / 20) * r.range(DAY, 900 * DAY));
        o.end_row()?;
    }
    Ok(())
}

pub fn technicians(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("technicians");
    let n_roles = w.count("technician_roles");
    let mut r = w.rng("technicians");
    for i in 0..n {
        let profile = w.tech_profile_pool.get(i).copied();
        let hired = match profile {
            Some(p) => w.profile_created[p as usize - 1] - r.range(0, 20 * DAY),
            None => r.range(IMPORT_AT, END - 90 * DAY),
        };
        o.id(i + 1);
        o.opt_int(profile.map(i64::from));
        o.opt_int(if r.chance(0.1) {
            None
        } else {
            Some(r.range(1, n_roles as i64))
        });
        if r.chance(0.15) {
            o.fmt(format_args!("t-{:04}", i + 1));
        } else {
            o.fmt(format_args!("T-{:04}", i + 1));
        }
        o.int(r.weighted(&[(1i64, 70), (2, 22), (3, 8)]));
        o.int(r.range(18, 45) * 100 + r.weighted(&[(0i64, 6), (50, 3), (25, 1)]));
        let terminated = if r.chance(0.15) {
            Some(later(&mut r, hired + 60 * DAY))
        } else {
            None
        };
        o.bool(terminated.is_none() || r.chance(0.3));
        o.ts(hired);
        o.opt_ts(terminated);
        o.ts(hired.max(IMPORT_AT));
        o.end_row()?;
    }
    Ok(())
}

pub fn doctors(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("doctors");
    let n_off = w.count("offices");
    let mut r = w.rng("doctors");
    let mut budget = QuarantineBudget::new(n);
    let mut orphan = budget.plant(w, "doctors", "orphan_office", n, ORPHAN_DOCTOR_OFFICE);
    let mut no_profile = w.plant("doctors", "null_profile", n, NULL_DOCTOR_PROFILE);
    let mut deleted = w.plant("doctors", "deleted_at", n, DELETED_DOCTORS);
    let mut created: Vec<Secs> = (0..n)
        .map(|i| match w.doctor_profile_pool.get(i) {
            Some(&p) => {
                let pc = w.profile_created[p as usize - 1];
                // Imported profiles came with their doctor rows; later doctors signed up after.
                if pc < IMPORT_END {
                    pc
                } else {
                    after(&mut r, pc, MINUTE, 3 * DAY)
                }
            }
            None => r.range(at(2015, 2, 1), END - 30 * DAY),
        })
        .collect();
    monotone(&mut created);
    let mut offices = Vec::with_capacity(n);
    let mut profiles = Vec::with_capacity(n);
    let mut office_doctors: Vec<Vec<u32>> = vec![Vec::new(); n_off];
    let mut doomed = Vec::with_capacity(n);
    for (i, &c) in created.iter().enumerate() {
        let profile = if no_profile.next() {
            None
        } else {
            w.doctor_profile_pool.get(i).copied()
        };
        let (office, fails) = if orphan.next() {
            (orphan_id(&mut r, n_off), true)
        } else {
            let k = budget.pick_before(&mut r, &w.office_created, &w.office_doomed, c, 1);
            office_doctors[k].push(i as u32 + 1);
            (k as i64 + 1, w.office_doomed[k])
        };
        o.id(i + 1);
        o.opt_int(profile.map(i64::from));
        o.int(office);
        let (_, st, _, _, _) = *r.pick(CITIES);
        match r.weighted(&[(0u8, 80), (1, 10), (2, 3), (3, 7)]) {
            0 => o.fmt(format_args!("{st}-{:05}", r.below(100_000))),
            1 => o.fmt(format_args!("{}", r.range(10_000, 9_999_999))),
            2 => o.fmt(format_args!(
                "{}-{:05}",
                st.to_ascii_lowercase(),
                r.below(100_000)
            )),
            _ => o.null(),
        }
        o.opt_text(r.weighted(SPECIALTIES));
        o.opt_text(r.weighted(DOCTOR_STATUSES));
        o.ts(c);
        o.ts(if r.chance(0.7) { later(&mut r, c) } else { c });
        let is_deleted = deleted.next();
        o.opt_ts(if is_deleted {
            Some(later(&mut r, c + DAY))
        } else {
            None
        });
        o.end_row()?;
        offices.push(office);
        profiles.push(profile);
        doomed.push(fails && !is_deleted);
    }
    w.doctor_created = created;
    w.doctor_office = offices;
    w.doctor_profile = profiles;
    w.office_doctors = office_doctors;
    w.doctor_doomed = doomed;
    Ok(())
}

pub fn doctor_offices(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("doctor_offices");
    let n_doc = w.count("doctors");
    let mut r = w.rng("doctor_offices");
    // Half as many doctors as rows, each with its primary office and then a second one
    // (which can be the same office again: the old admin screen allowed it).
    let k = n.div_ceil(2).min(n_doc).max(1);
    let mut sel = super::rng::Planter::new(w.sub_rng("doctor_offices", "doctors"), n_doc, k);
    let chosen: Vec<usize> = (0..n_doc).filter(|_| sel.next()).collect();
    let mut rows = 0usize;
    let mut round = 0usize;
    while rows < n {
        for &d in &chosen {
            if rows >= n {
                break;
            }
            let (office, primary) = if round == 0 {
                (w.doctor_office[d], true)
            } else {
                let t = w.doctor_created[d] + 400 * DAY;
                (
                    pick_before(&mut r, &w.office_created, t, 1) as i64 + 1,
                    false,
                )
            };
            rows += 1;
            o.id(rows);
            o.id(d + 1);
            o.int(office);
            o.opt_bool(if r.chance(0.05) { None } else { Some(primary) });
            o.ts(after(&mut r, w.doctor_created[d], HOUR, 400 * DAY));
            o.end_row()?;
        }
        round += 1;
    }
    Ok(())
}

/// Writes a valid date of birth in one of the three hand-typed formats.
fn dob_valid(buf: &mut Vec<u8>, r: &mut Rng, born: Secs) {
    use std::io::Write;
    let (y, m, d) = date_of(born);
    let _ = match r.weighted(&[(0u8, 60), (1, 25), (2, 15)]) {
        0 => write!(buf, "{y:04}-{m:02}-{d:02}"),
        1 => write!(buf, "{m:02}/{d:02}/{y:04}"),
        _ => write!(buf, "{d:02}.{m:02}.{y:04}"),
    };
}

pub fn patients(w: &mut World, o: &mut Out<'_, '_>) -> Res {
    let n = w.count("patients");
    let n_doc = w.count("doctors");
    let n_off = w.count("offices");
    let mut r = w.rng("patients");
    let created = created_series(&mut r, n, 0.10, IMPORT_END, END - 5 * DAY);
    let mut budget = QuarantineBudget::new(n);
    let mut orphan = budget.plant(w, "patients", "orphan_doctor", n, ORPHAN_PATIENT_DOCTOR);
    let mut null_last = budget.plant(w, "patients", "null_last_name", n, NULL_PATIENT_LAST_NAME);
    let mut bad_dob = w.plant(
        "patients",
        "malformed_date_of_birth",
        n,
        MALFORMED_DATE_OF_BIRTH,
    );
    let pool_len = w.patient_profile_pool.len();
    let with_profile = ((n as f64 * 0.35).round() as usize).min(pool_len);
    let mut has_profile =
        super::rng::Planter::new(w.sub_rng("patients", "profiles"), n, with_profile);
    // Which type-2 profiles go to patients (in id order).
    let mut pool_sel = super::rng::Planter::new(
        w.sub_rng("patients", "profile_pool"),
        pool_len,
        with_profile,
    );
    let mut pool = w
        .patient_profile_pool
        .iter()
        .copied()
        .filter(|_| pool_sel.next());
    let mut doctors = Vec::with_capacity(n);
    let mut offices = Vec::with_capacity(n);
    let mut lasts = Vec::with_capacity(n);
    let mut doomed = Vec::with_capacity(n);
    for (i, &c) in created.iter().enumerate() {
        let (doctor, mut fails) = if orphan.next() {
            (orphan_id(&mut r, n_doc), true)
        } else {
            let d = budget.pick_before(&mut r, &w.doctor_created, &w.doctor_doomed, c, 1);
            (d as i64 + 1, w.doctor_doomed[d])
        };
        let office = if doctor as usize > n_doc {
            Some(r.range(1, n_off as i64))
        } else {
            match r.weighted(&[(0u8, 88), (1, 9), (2, 3)]) {
                0 => Some(w.doctor_office[doctor as usize - 1]),
                1 => Some(pick_before(&mut r, &w.office_created, c, 1) as i64 + 1),
                _ => None,
            }
        };
        let profile = if has_profile.next() {
            pool.next()
        } else {
            None
        };
        let fi = r.index(FIRST_NAMES.len());
        let li = r.index(LAST_NAMES.len());
        let (first, last) = (FIRST_NAMES[fi], LAST_NAMES[li]);
        o.id(i + 1);
        o.int(doctor);
        o.opt_int(office);
        o.opt_int(profile.map(i64::from));
        o.text(first);
        if null_last.next() {
            o.null();
            fails = true;
        } else {
            o.text(last);
        }
        // date of birth, typed by hand
        if bad_dob.next() {
            let y = r.range(1950, 2012);
            match r.below(8) {
                0 => o.text(""),
                1 => o.text("N/A"),
                2 => o.text("0000-00-00"),
                3 => o.fmt(format_args!("{y}-02-30")),
                4 => o.fmt(format_args!("13/45/{y}")),
                5 => o.text("unknown"),
                6 => o.fmt(format_args!("31.02.{y}")),
                _ => o.text("00/00/0000"),
            }
        } else {
            let age_years = match r.weighted(&[(0u8, 60), (1, 25), (2, 15)]) {
                0 => r.range(9, 17),
                1 => r.range(18, 40),
                _ => r.range(41, 70),
            };
            let born = c - age_years * 365 * DAY - r.range(0, 364) * DAY;
            dob_valid(o.raw(), &mut r, born);
            o.done_field();
        }
        o.opt_text(r.weighted(&[
            (Some("F"), 50),
            (Some("M"), 40),
            (Some("U"), 3),
            (Some("f"), 2),
            (Some("m"), 2),
            (None, 3),
        ]));
        match r.weighted(&[(0u8, 50), (1, 44), (2, 3), (3, 3)]) {
            0 => {
                let mut s = String::with_capacity(32);
                slug_into(&mut s, first);
                slug_into(&mut s, last);
                write!(s, "{}@{}", r.range(1, 99), r.pick(EMAIL_DOMAINS)).unwrap();
                o.text(&s);
            }
            1 => o.null(),
            2 => o.text("none"),
            _ => o.text(""),
        }
        if r.chance(0.3) {
            o.null();
        } else {
            let area = area_code(&mut r);
            phone(o, &mut r, area);
        }
        if r.chance(0.75) {
            o.null();
        } else {
            o.text(r.pick_str(PATIENT_NOTES));
        }
        o.bool(r.chance(0.06));
        o.ts(c);
        o.ts(if r.chance(0.6) { later(&mut r, c) } else { c });
        o.end_row()?;
        doctors.push(doctor);
        offices.push(office);
        lasts.push(li as u16);
        doomed.push(fails);
    }
    w.patient_created = created;
    w.patient_doctor = doctors;
    w.patient_office = offices;
    w.patient_last = lasts;
    w.patient_doomed = doomed;
    Ok(())
}
